"""The product's readers on what Azure ML really sent (recordings/, the SDK's own e2e test
traffic), not only on the emulator's answers: the backends' parsing (job status and outputs,
a fine-tuning job's registered model, a model's origin, endpoint, deployment and cluster state,
keys and scoring URI) and `amlgen plan`'s normalisation. Both readers: the SDK (the recorded
REST body through the SDK's own `_from_rest_object`, as `ml_client.*.get()` does) and az (what
`az ml ... show -o json` prints: that entity's `_to_dict()`, as JSON)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.backends.base import entity_dict
from generator.backends.readers import (
    endpoint_key,
    enum_value,
    job_info,
    model_info,
    registered_model,
)
from generator.emulator.conformance import locate
from generator.emulator.conformance.recordings import Entry, classify, find, load
from generator.errors import WorkflowError
from generator.normalise import COMPUTE, DEPLOYMENT, ENDPOINT, MODEL, canonical, diff
from generator.preflight import check_cluster

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = locate(Path("../shared/reference/recordings"), ROOT)
pytestmark = pytest.mark.skipif(RECORDINGS is None, reason="no shared recordings folder here")
READERS = ("sdk", "az")


def _entries(operation: str, status: int = 200) -> list[Entry]:
    assert RECORDINGS is not None
    out = []
    for path in find(RECORDINGS):
        for entry in load(path, RECORDINGS).entries:
            if classify(entry).operation == operation and entry.status == status:
                out.append(entry)
    return out


def _entity(kind: str, body: dict[str, Any]) -> Any:
    """What the SDK makes of the answer: its REST model, then the entity's _from_rest_object."""
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from azure.ai.ml._restclient.arm_ml_service import models as rest
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import _deserialize
    from azure.ai.ml.entities import Compute, Job, Model, OnlineDeployment, OnlineEndpoint

    entity_of = {
        "job": (rest.JobBase, Job),
        "model": (rest.ModelVersion, Model),
        "compute": (rest.ComputeResource, Compute),
        "endpoint": (rest.OnlineEndpoint, OnlineEndpoint),
        "deployment": (rest.OnlineDeployment, OnlineDeployment),
    }
    rest_type, entity_type = entity_of[kind]
    return entity_type._from_rest_object(_deserialize(rest_type, body))


def _doc(entity: Any, reader: str) -> dict[str, Any]:
    """The entity as each reader holds it: the sdk backend's entity_dict, az's printed JSON."""
    if reader == "sdk":
        return entity_dict(entity)
    printed: dict[str, Any] = json.loads(json.dumps(entity._to_dict(), default=str))
    return printed


def _query(doc: Any, path: str) -> Any:
    """az's `--query a.b.c` on what it prints."""
    for key in path.split("."):
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


# --- jobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_job_status_link_and_registered_model_from_recorded_jobs(reader: str) -> None:
    jobs = [e.body for e in _entries("job.get") + _entries("job.put", 201)]
    kinds = {b["properties"]["jobType"] for b in jobs}
    assert {"Pipeline", "FineTuning"} <= kinds
    for body in jobs:
        props = body["properties"]
        entity = _entity("job", body)
        if reader == "sdk":
            info = job_info(entity)
            output = (entity.outputs or {}).get("registered_model")
        else:
            doc = _doc(entity, reader)
            link = _query(doc, "services.Studio.endpoint")
            info = job_info({"status": _query(doc, "status")}, studio_url=link or "")
            output = _query(doc, "outputs.registered_model")
        assert info.status == props["status"], (reader, body["name"])
        studio = (props.get("services") or {}).get("Studio") or {}
        if reader == "az" or studio:
            assert info.studio_url == (studio.get("endpoint") or None)
        if props["jobType"] == "FineTuning":
            recorded = props["outputs"]["registered_model"]
            want = (recorded["assetName"], recorded.get("assetVersion") or "1")
            assert registered_model(output) == want


def test_enum_values_read_in_every_spelling_the_sdk_prints() -> None:
    assert enum_value("JobStatus.NOT_STARTED") == "NotStarted"
    assert enum_value("JobStatus.CANCEL_REQUESTED") == "CancelRequested"
    assert enum_value("EndpointProvisioningState.SUCCEEDED") == "Succeeded"
    assert enum_value("Completed") == "Completed" and enum_value(None) == ""


# --- models, endpoints, deployments, clusters, keys ---------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_model_origin_from_recorded_versions(reader: str) -> None:
    bodies = [e.body for e in _entries("model.get") + _entries("model.put", 201)]
    assert bodies
    for body in bodies:
        info = model_info(_doc(_entity("model", body), reader))
        assert info.path.lower() == body["properties"]["modelUri"].lower()
        assert info.job_name == body["properties"].get("jobName")
        assert not info.from_job("some-job")


@pytest.mark.parametrize("reader", READERS)
def test_endpoint_and_deployment_state_and_scoring_uri(reader: str) -> None:
    for kind, operation in (("endpoint", "endpoint.get"), ("deployment", "deployment.get")):
        bodies = [e.body for e in _entries(operation)]
        assert bodies, operation
        for body in bodies:
            doc = _doc(_entity(kind, body), reader)
            assert enum_value(doc["provisioning_state"]) == body["properties"]["provisioningState"]
            if kind == "endpoint":
                assert doc.get("scoring_uri") == body["properties"]["scoringUri"]


def test_a_failed_cluster_is_refused_whatever_the_sdk_prints_for_its_state() -> None:
    """The SDK dumps a cluster's state as `ProvisioningState.FAILED`: read as Failed."""
    body = _entries("compute.get")[0].body
    failed = json.loads(json.dumps(body))
    failed["properties"]["provisioningState"] = "Failed"
    for reader in READERS:
        state = _doc(_entity("compute", failed), reader)["provisioning_state"]
        with pytest.raises(WorkflowError, match="provisioning state is Failed"):
            check_cluster("c", state, "", 0, None)  # type: ignore[arg-type]
        ok = _doc(_entity("compute", body), reader)["provisioning_state"]
        assert enum_value(ok) == body["properties"]["provisioningState"]


def test_endpoint_keys_from_the_recorded_answer() -> None:
    from azure.ai.ml._restclient.arm_ml_service import models as rest
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import _deserialize

    body = _entries("endpoint.listKeys")[0].body
    keys = _deserialize(rest.EndpointAuthKeys, body)
    assert endpoint_key(keys) == body["primaryKey"]  # the SDK's object
    assert endpoint_key(body) == body["primaryKey"]  # az's JSON (REST names)
    assert endpoint_key({"primary_key": "k"}) == "k"  # az's JSON (attribute names)


# --- plan: a committed file equal to what a recording's PUT sent is no change against its GET ---


def _committed(tmp: Path, kind: str, put: Entry, get: Entry) -> str:
    """The YAML a user commits for what the recorded PUT sent (checked below against it)."""
    props = put.request_body.get("properties") or {}
    name = get.body["name"]
    if kind == ENDPOINT:
        doc: dict[str, Any] = {
            "name": name,
            "auth_mode": "key",
            "identity": {"type": "system_assigned"},
        }
    elif kind == DEPLOYMENT:
        endpoint = get.path.split("/onlineEndpoints/")[1].split("/")[0]
        doc = {
            "name": name,
            "endpoint_name": endpoint,
            "description": props["description"],
            "model": f"azureml:{props['model']}",
            "code_configuration": {
                "code": f"azureml:{props['codeConfiguration']['codeId']}",
                "scoring_script": props["codeConfiguration"]["scoringScript"],
            },
            "environment": f"azureml:{props['environmentId']}",
            "instance_type": props["instanceType"],
            "instance_count": put.request_body["sku"]["capacity"],
        }
    elif kind == COMPUTE:
        inner = props["properties"]
        scale = inner["scaleSettings"]
        doc = {
            "name": name,
            "type": "amlcompute",
            "size": inner["vmSize"],
            "min_instances": scale["minNodeCount"],
            "max_instances": scale["maxNodeCount"],
            "idle_time_before_scale_down": 100,  # PT1M40S
            "tier": "dedicated",
            "description": props["description"],
            "location": put.request_body["location"],
            "ssh_public_access_enabled": inner["remoteLoginPortPublicAccess"] == "Enabled",
            "ssh_settings": {
                "admin_username": inner["userAccountCredentials"]["adminUserName"],
                "ssh_key_value": inner["userAccountCredentials"]["adminUserSshPublicKey"],
            },
        }
    else:
        doc = {
            "name": get.path.split("/models/")[1].split("/")[0],
            "version": get.body["name"],
            "type": props["modelType"],
            "description": props["description"],
            "path": props["modelUri"],
            "tags": props["tags"],
        }
    path = tmp / f"{kind}.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


CASES = {
    ENDPOINT: ("endpoint.put", 201, "endpoint.get", "online_endpoint", "endpoint"),
    DEPLOYMENT: ("deployment.put", 201, "deployment.get", "online_deployment", "deployment"),
    COMPUTE: ("compute.put", 201, "compute.get", "compute", "compute"),
    MODEL: ("model.put", 201, "model.get", "model", "model"),
}


def _pair(kind: str) -> tuple[Entry, Entry]:
    """The first recorded PUT of `kind` and the GET of the same resource after it settled."""
    put_op, status, get_op, _loader, _entity_kind = CASES[kind]
    for put in _entries(put_op, status):
        for get in _entries(get_op):
            same = get.path.lower() == put.path.lower()
            settled = get.body["properties"].get("provisioningState") in (None, "Succeeded")
            if same and settled and put.request_body:
                return put, get
    raise AssertionError(f"no recorded PUT and settled GET of a {kind}")


def _sent(entity: Any, kind: str) -> dict[str, Any]:
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import SdkJSONEncoder

    rest = (
        entity._to_rest_object(location="eastus")
        if kind == DEPLOYMENT
        else entity._to_rest_object()
    )
    body = rest.as_dict() if hasattr(rest, "as_dict") else rest
    sent: dict[str, Any] = json.loads(json.dumps(body, cls=SdkJSONEncoder))
    return sent


def _subset(small: Any, big: Any, path: str = "") -> list[str]:
    """Where `small` (what the committed file sends) is not what `big` (the PUT) sent."""
    if isinstance(small, dict) and isinstance(big, dict):
        return [p for k, v in small.items() for p in _subset(v, big.get(k), f"{path}.{k}")]
    same = _plain(small) == _plain(big)
    return [] if same or small in ({}, None) else [path]


def _plain(value: Any) -> Any:
    return value.removeprefix("azureml:").lower() if isinstance(value, str) else value


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", sorted(CASES))
def test_the_recorded_put_plans_as_no_change_against_its_get(
    tmp_path: Path, kind: str, reader: str
) -> None:
    import azure.ai.ml as aml

    put, get = _pair(kind)
    _p, _s, _g, loader, entity_kind = CASES[kind]
    file = _committed(tmp_path, kind, put, get)
    committed = getattr(aml, f"load_{loader}")(source=file)
    if kind != ENDPOINT:  # the file sends what the recording sent (the endpoint's PUT is bare)
        assert _subset(_sent(committed, kind), put.request_body) == []
    live = canonical(kind, _doc(_entity(entity_kind, get.body), reader))
    desired = canonical(kind, entity_dict(committed))
    assert [c.text() for c in diff(live, desired, kind)] == []
    # A field really changed in the file is a change.
    changed = yaml.safe_load(Path(file).read_text())
    changed["tags"] = {**(changed.get("tags") or {}), "owner": "someone-else"}
    Path(file).write_text(yaml.safe_dump(changed))
    edited = canonical(kind, entity_dict(getattr(aml, f"load_{loader}")(source=file)))
    assert [c.path for c in diff(live, edited, kind)] == ["tags[owner]"]


@pytest.mark.parametrize("reader", READERS)
def test_a_failed_pipeline_step_reads_its_status_and_error(reader: str) -> None:
    """A pipeline's step is a Command job, which the SDK loads as a dict subclass (`_AttrDict`):
    its fields are attributes, not items, and the reader must still find them."""
    body = {
        "id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
        "/workspaces/ws/jobs/parent_finetune",
        "name": "parent_finetune",
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "properties": {
            "jobType": "Command",
            "displayName": "finetune",
            "command": "python -m train",
            "environmentId": "azureml://registries/azureml/environments/acft/versions/1",
            "status": "Failed",
            "properties": {"azureml.parentrunid": "parent", "error": "UserError: no rows"},
            "services": {"Studio": {"jobServiceType": "Studio", "endpoint": "https://ml/x"}},
        },
    }
    entity = _entity("job", body)
    if reader == "sdk":
        assert isinstance(entity, dict)  # what made a by-key read find nothing
        info = job_info(entity)
    else:
        doc = _doc(entity, reader)
        # az prints the step as a pipeline node, without its status (the steps' statuses
        # come from `az ml job list --parent-job-name`); its error is there
        assert "status" not in doc
        info = job_info({"status": "Failed", "properties": doc.get("properties")})
    assert (info.status, info.error) == ("Failed", "UserError: no rows")

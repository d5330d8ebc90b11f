"""The normalisation rules of `amlgen plan`, one test per rule.

The documents are what a real round trip produced (azure-ai-ml 1.35 against the emulator): the
desired side is `load_*(<rendered file>)._to_dict()`, the live side what `get()` returned after
`amlgen run --keep-endpoint`. tests/test_plan.py repeats the round trip end to end.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from generator.normalise import (
    COMPUTE,
    DEPLOYMENT,
    ENDPOINT,
    MODEL,
    TRAFFIC,
    canonical,
    diff,
    integer,
    model_ref,
    seconds,
)

ARM = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws"
)
TAGS = {"amlgen.version": "0.1.0", "amlgen.env": "dev", "amlgen.params": "9642ab01a9da"}
MODEL_NAME = "Phi-3-mini-4k-instruct-ultrachat-200k"

DESIRED = {
    COMPUTE: {
        "name": "gpu-a100",
        "type": "amlcompute",
        "tags": TAGS,
        "size": "Standard_NC24ads_A100_v4",
        "tier": "dedicated",
        "min_instances": 0,
        "max_instances": 1,
        "idle_time_before_scale_down": 1800,
        "enable_node_public_ip": True,
    },
    MODEL: {
        "name": MODEL_NAME,
        "type": "mlflow_model",
        "path": "azureml://jobs/serene_dress_2r0twpjfv7/outputs/trained_model",
        "version": "1",
        "description": "fine tuned",
        "properties": {},
        "tags": TAGS,
    },
    ENDPOINT: {
        "name": "ultrachat-completion-dev",
        "description": "Online endpoint",
        "tags": TAGS,
        "properties": {},
        "auth_mode": "key",
        "traffic": {},
        "mirror_traffic": {},
    },
    DEPLOYMENT: {
        "name": "demo",
        "endpoint_name": "ultrachat-completion-dev",
        "tags": TAGS,
        "properties": {},
        "model": f"azureml:{MODEL_NAME}:1",
        "environment_variables": {},
        "app_insights_enabled": False,
        "request_settings": {"request_timeout_ms": 90000},
        "liveness_probe": {"initial_delay": 600},
        "instance_count": 1,
        "type": "managed",
        "instance_type": "Standard_NC24ads_A100_v4",
    },
}

LIVE = {
    COMPUTE: {
        **DESIRED[COMPUTE],
        "id": f"{ARM}/computes/gpu-a100",
        "location": "eastus",
        "provisioning_state": "ProvisioningState.SUCCEEDED",
        "ssh_public_access_enabled": False,
        "network_settings": {},
    },
    MODEL: {
        **DESIRED[MODEL],
        "id": f"azureml:{ARM}/models/{MODEL_NAME}/versions/1",
        "flavors": {"python_function": {"loader_module": "mlflow.transformers"}},
        "creation_context": {"created_at": "2026-12-02T18:27:25.532607+00:00"},
    },
    ENDPOINT: {
        **DESIRED[ENDPOINT],
        "id": f"{ARM}/onlineEndpoints/ultrachat-completion-dev",
        "provisioning_state": "EndpointProvisioningState.SUCCEEDED",
        "properties": {
            "createdBy": "emulator-user",
            "createdAt": "2026-12-02T18:27:25.565744+0000",
            "lastModifiedAt": "2026-12-02T18:27:28.712822+0000",
        },
        "scoring_uri": "http://127.0.0.1:57673/score",
        "location": "eastus",
        "openapi_uri": "http://127.0.0.1:57673/swagger.json",
        "identity": {"type": "system_assigned"},
        "traffic": {"demo": 100},
        "public_network_access": "enabled",
    },
    DEPLOYMENT: {
        **DESIRED[DEPLOYMENT],
        "id": f"{ARM}/onlineEndpoints/ultrachat-completion-dev/deployments/demo",
        "model": f"azureml:{ARM}/models/{MODEL_NAME}/versions/1",
        "scale_settings": {"type": "default"},
        "readiness_probe": {
            "period": 10,
            "initial_delay": 10,
            "timeout": 2,
            "success_threshold": 1,
            "failure_threshold": 30,
        },
        "provisioning_state": "DeploymentProvisioningState.SUCCEEDED",
        "egress_public_network_access": "enabled",
        "creation_context": {"created_at": "2026-12-02T18:27:26.608689+00:00"},
    },
}


def changes(kind: str, live: dict[str, Any] | None, desired: dict[str, Any]) -> list[str]:
    return [c.text() for c in diff(canonical(kind, live), canonical(kind, desired), kind)]


@pytest.mark.parametrize("kind", [COMPUTE, MODEL, ENDPOINT, DEPLOYMENT])
def test_a_round_trip_is_no_change(kind: str) -> None:
    assert changes(kind, LIVE[kind], DESIRED[kind]) == []


def test_system_fields_are_dropped_but_user_fields_are_not() -> None:
    doc = canonical(ENDPOINT, LIVE[ENDPOINT])
    assert doc is not None
    for key in ("id", "provisioning_state", "scoring_uri", "openapi_uri", "location", "traffic"):
        assert key not in doc
    assert doc["description"] == "Online endpoint"
    assert "properties" not in doc  # only system keys were in it
    live = copy.deepcopy(LIVE[ENDPOINT])
    live["properties"]["team"] = "nlp"
    assert changes(ENDPOINT, live, DESIRED[ENDPOINT]) == ["properties[team]: nlp → (none)"]


def test_server_defaults_fill_what_the_yaml_leaves_out() -> None:
    live = copy.deepcopy(LIVE[DEPLOYMENT])
    live["readiness_probe"]["period"] = 20
    live["request_settings"]["max_concurrent_requests_per_instance"] = 4
    assert changes(DEPLOYMENT, live, DESIRED[DEPLOYMENT]) == [
        "readiness_probe.period: 20 → 10",
        "request_settings.max_concurrent_requests_per_instance: 4 → 1",
    ]
    desired = {**DESIRED[DEPLOYMENT], "liveness_probe": {"initial_delay": 600, "period": 10}}
    assert changes(DEPLOYMENT, LIVE[DEPLOYMENT], desired) == []


def test_durations_and_integers() -> None:
    assert seconds("PT1M30S") == 90
    assert seconds("PT10M") == 600
    assert seconds("P1DT1H") == 90000
    assert seconds("PT0.5S") == 0.5
    assert seconds("soon") == "soon"
    assert seconds(1800) == 1800
    assert integer("2") == 2
    assert integer(2.0) == 2
    assert integer(True) is True
    assert integer("two") == "two"
    live = {**LIVE[COMPUTE], "idle_time_before_scale_down": "PT30M", "max_instances": "1"}
    assert changes(COMPUTE, live, DESIRED[COMPUTE]) == []


def test_model_references_in_every_spelling() -> None:
    short = f"azureml:{MODEL_NAME}:1"
    for spelling in (
        short,
        f"azureml:{ARM}/models/{MODEL_NAME}/versions/1",
        f"{ARM}/models/{MODEL_NAME}/versions/1",
    ):
        assert model_ref(spelling) == short
    registry = "azureml://registries/azureml/models/Phi-4/versions/8"
    assert model_ref(registry) == registry
    live = {**LIVE[DEPLOYMENT], "model": f"azureml:{ARM}/models/{MODEL_NAME}/versions/2"}
    assert changes(DEPLOYMENT, live, DESIRED[DEPLOYMENT]) == [
        f"model: azureml:{MODEL_NAME}:2 → azureml:{MODEL_NAME}:1"
    ]


def test_job_output_paths_ignore_the_workspace_scope() -> None:
    live = {
        **LIVE[MODEL],
        "path": "azureml://subscriptions/s/resourcegroups/rg/workspaces/ws/jobs/"
        "serene_dress_2r0twpjfv7/outputs/trained_model/paths/model/",
    }
    assert changes(MODEL, live, DESIRED[MODEL]) == []


def test_casing_of_sizes_and_enums() -> None:
    live = {
        **LIVE[ENDPOINT],
        "auth_mode": "Key",
        "identity": {"type": "SystemAssigned"},
        "public_network_access": "Enabled",
    }
    assert changes(ENDPOINT, live, DESIRED[ENDPOINT]) == []
    live = {**LIVE[DEPLOYMENT], "instance_type": "standard_nc24ads_a100_v4"}
    assert changes(DEPLOYMENT, live, DESIRED[DEPLOYMENT]) == []
    live = {**LIVE[ENDPOINT], "auth_mode": "aml_token"}
    assert changes(ENDPOINT, live, DESIRED[ENDPOINT]) == ["auth_mode: aml_token → key"]
    # Tags and descriptions are not folded: case there is content.
    live = {**LIVE[ENDPOINT], "description": "online endpoint"}
    assert changes(ENDPOINT, live, DESIRED[ENDPOINT]) == [
        "description: online endpoint → Online endpoint"
    ]


def test_tags_are_strings_and_diff_per_key() -> None:
    live = {**LIVE[DEPLOYMENT], "tags": {**TAGS, "owner": "portal", "amlgen.env": "prod"}}
    assert changes(DEPLOYMENT, live, DESIRED[DEPLOYMENT]) == [
        "tags[amlgen.env]: prod → dev",
        "tags[owner]: portal → (none)",
    ]
    assert canonical(DEPLOYMENT, {"tags": {"n": 3, "b": True}})["tags"] == {  # type: ignore[index]
        "n": "3",
        "b": "True",
    }
    no_tags = {k: v for k, v in LIVE[DEPLOYMENT].items() if k != "tags"}
    assert len(changes(DEPLOYMENT, no_tags, DESIRED[DEPLOYMENT])) == len(TAGS)


def test_empty_maps_equal_absent_fields() -> None:
    live = {
        k: v
        for k, v in LIVE[DEPLOYMENT].items()
        if k not in ("properties", "environment_variables")
    }
    assert changes(DEPLOYMENT, live, DESIRED[DEPLOYMENT]) == []
    desired = {**DESIRED[DEPLOYMENT], "environment_variables": {"WORKERS": "2"}}
    assert changes(DEPLOYMENT, live, desired) == ["environment_variables[WORKERS]: (none) → 2"]


def test_a_real_change_shows_old_and_new() -> None:
    desired = {**DESIRED[DEPLOYMENT], "instance_count": 2}
    assert changes(DEPLOYMENT, LIVE[DEPLOYMENT], desired) == ["instance_count: 1 → 2"]
    desired = {**DESIRED[DEPLOYMENT], "request_settings": {"request_timeout_ms": 120000}}
    assert changes(DEPLOYMENT, LIVE[DEPLOYMENT], desired) == [
        "request_settings.request_timeout_ms: 90000 → 120000"
    ]


def test_traffic_missing_means_zero() -> None:
    assert changes(TRAFFIC, {"demo": 100, "blue": 0}, {"demo": 100}) == []
    assert changes(TRAFFIC, {"demo": 0}, {"demo": 100}) == ["traffic[demo]: 0 → 100"]
    assert changes(TRAFFIC, {"blue": 100}, {"demo": 100}) == [
        "traffic[blue]: 100 → 0",
        "traffic[demo]: 0 → 100",
    ]


def test_unknown_kind_and_missing_documents() -> None:
    assert canonical(DEPLOYMENT, None) is None
    with pytest.raises(ValueError, match="unknown resource kind"):
        canonical("batch_endpoint", {})

"""The local Azure ML emulator, driven by the real azure-ai-ml SDK over real HTTP on 127.0.0.1.

One emulator serves the whole module (jobs are 1 s long); fault tests add their rules at run
time. Scoring goes through a real azureml-inference-server-http under gunicorn.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.emulator import (
    Emulator,
    EmulatorError,
    emulator_uploads,
    make_token,
    ml_client,
)
from generator.emulator.command import emulator as emulator_command
from generator.rendering import render_environments

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = ("Completed", "Failed", "Canceled")
ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


# --- no server needed ---------------------------------------------------------------------------


def test_refuses_non_loopback_address() -> None:
    with pytest.raises(EmulatorError, match=r"127\.0\.0\.1 only"):
        Emulator(host="0.0.0.0")


def test_cli_refuses_non_loopback_with_one_error_line() -> None:
    result = CliRunner().invoke(emulator_command, ["--host", "0.0.0.0"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --host 0.0.0.0")


def test_bad_fault_file_names_rule_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "faults.yml"
    bad.write_text("- {fault: throttle, status: 500}\n")
    with pytest.raises(EmulatorError, match=r"faults.yml: rule 1: status: must be 429 or 503"):
        Emulator(faults=bad)
    bad.write_text("- {fault: job_status, status: Failed}\n- {fault: nope}\n")
    with pytest.raises(EmulatorError, match=r"rule 2: fault: 'nope' is not one of"):
        Emulator(faults=bad)


def test_fault_file_rules_get_defaults(tmp_path: Path) -> None:
    rules = tmp_path / "faults.yml"
    rules.write_text(
        "- {fault: job_status, status: Canceled}\n"
        "- {fault: throttle, status: 503, match: /jobs/}\n"
        "- {fault: restart, after_requests: 5}\n"
    )
    emulator = Emulator(faults=rules)
    try:
        assert emulator.faults.pending() == [
            {"fault": "job_status", "status": "Canceled"},
            {"fault": "throttle", "status": 503, "match": "/jobs/", "times": 1, "retry_after": 1},
            {"fault": "restart", "after_requests": 5, "down_seconds": 0.5},
        ]
    finally:
        emulator.stop()


def test_quota_region_and_failure_faults_are_checked(tmp_path: Path) -> None:
    rules = tmp_path / "faults.yml"
    rules.write_text(
        "- {fault: quota, family: standardNCADSA100v4Family}\n"
        "- {fault: region_sizes, drop: [Standard_NC24ads_A100_v4]}\n"
        "- {fault: deployment_fails}\n"
    )
    emulator = Emulator(faults=rules, region="West US 3")
    try:
        assert emulator.region == "westus3"
        assert emulator.faults.pending() == [
            {"fault": "quota", "family": "standardNCADSA100v4Family", "limit": 0, "used": 0},
            {"fault": "region_sizes", "drop": ["Standard_NC24ads_A100_v4"]},
            {"fault": "deployment_fails", "reason": "liveness_probe"},  # the old form still works
        ]
    finally:
        emulator.stop()
    for rule, problem in [
        ("{fault: deployment_fails, reason: gpu_on_fire}", "reason: must be one of liveness_probe"),
        ("{fault: quota, limit: 3}", "family: a quota family name"),
        ("{fault: quota, family: f, used: -1}", "used: must be an integer >= 0"),
        ("{fault: region_sizes, drop: Standard_NC24ads_A100_v4}", "drop: must be a list"),
    ]:
        rules.write_text(f"- {rule}\n")
        with pytest.raises(EmulatorError, match=f"rule 1: {problem}"):
            Emulator(faults=rules)
    with pytest.raises(EmulatorError, match=r"--region east/us: an Azure region's name"):
        Emulator(region="east/us")


# --- one emulator for the module ----------------------------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    logging.disable(logging.WARNING)  # the SDK's experimental-class chatter
    with Emulator(job_seconds=1.0, deploy_seconds=0.5) as emulator:
        yield emulator
    logging.disable(logging.NOTSET)


@pytest.fixture(scope="module")
def ml(emu: Emulator) -> Any:
    return ml_client(emu.url, emu.secret)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered dev project with tiny data files where the job expects them."""
    import shutil

    root = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "params", root / "params")
    render_environments(
        ["dev"],
        root,
        (),
        "azureml",
        check=False,
        all_envs=False,
        log=lambda _m: None,
        validate=None,
    )
    data = root / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for name in ("train_sft.jsonl", "test_sft.jsonl"):
        (data / name).write_text("\n".join(json.dumps(ROW) for _ in range(10)) + "\n")
    return root / "azureml" / "dev"


def _create_compute(ml: Any, assets: Path) -> str:
    from azure.ai.ml import load_compute

    return str(
        ml.compute.begin_create_or_update(load_compute(assets / "compute.yml")).result().name
    )


@pytest.fixture(scope="module")
def compute(ml: Any, assets: Path) -> str:
    return _create_compute(ml, assets)


@pytest.fixture(scope="module")
def standin_model(emu: Emulator, ml: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A workspace model registered from a local folder: its upload goes through the seam."""
    from azure.ai.ml.entities import Model

    folder = tmp_path_factory.mktemp("standin-model")
    (folder / "MLmodel").write_text("flavors: {}\n")
    with emulator_uploads(emu.url, emu.secret):
        model = ml.models.create_or_update(
            Model(name="standin", version="1", type="mlflow_model", path=str(folder))
        )
    uploads = emu.snapshot()["uploads"]
    assert any(k.endswith(f"/{folder.name}/MLmodel") for k in uploads)
    return f"azureml:{model.name}:{model.version}"


def _submit(
    emu: Emulator, ml: Any, assets: Path, overrides: list[dict[str, str]] | None = None
) -> str:
    from azure.ai.ml import load_job

    job = load_job(assets / "pipeline-job.yml", params_override=overrides or [])
    with emulator_uploads(emu.url, emu.secret):
        return str(ml.jobs.create_or_update(job).name)


def _wait(ml: Any, name: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = ml.jobs.get(name)
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        if job.status in TERMINAL:
            job.seen = seen
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {name} still {seen[-1]} after {timeout} s")


def _raw(
    emu: Emulator, method: str, path: str, token: str | None, body: Any = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        emu.url + path.lstrip("/"), data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


WS_PATH = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/amlgen-emulator/"
    "providers/Microsoft.MachineLearningServices/workspaces/emulator-ws"
)


@pytest.mark.slow
def test_every_route_needs_a_bearer_token_signed_for_this_emulator(emu: Emulator) -> None:
    assert _raw(emu, "GET", WS_PATH, None)[0] == 401
    assert (
        _raw(emu, "GET", WS_PATH, make_token(emu.url, "another-secret-of-32-bytes-length!"))[0]
        == 401
    )
    assert _raw(emu, "GET", WS_PATH, make_token("http://127.0.0.1:1/", emu.secret))[0] == 401
    assert _raw(emu, "GET", "/_emulator/state", None)[0] == 401
    status, body = _raw(emu, "GET", WS_PATH, make_token(emu.url, emu.secret))
    assert status == 200 and body["name"] == "emulator-ws"
    status, body = _raw(emu, "GET", WS_PATH + "/nope", make_token(emu.url, emu.secret))
    assert status == 404 and body["error"]["code"] == "NoRoute"


@pytest.mark.slow
def test_registry_serves_the_bundled_catalog(emu: Emulator) -> None:
    reg = ml_client(emu.url, emu.secret, registry_name="azureml")
    comp = reg.components.get("chat_completion_pipeline", "0.0.82")
    assert comp.type == "pipeline"
    assert "finetune_config_path" in comp.inputs  # added in 0.0.82
    assert comp.inputs["num_train_epochs"].type == "integer"
    model = reg.models.get("Phi-3-mini-4k-instruct", "15")
    allow = json.loads(model.tags["finetune_compute_allow_list"])
    assert "Standard_NC24ads_A100_v4" in allow
    assert json.loads(model.tags["model_specific_defaults"])["deepspeed_stage"] == 2
    sizes = {s.name: s.gpus for s in ml_client(emu.url, emu.secret).compute.list_sizes()}
    assert sizes["Standard_NC24ads_A100_v4"] == 1 and sizes["Standard_ND96asr_v4"] == 8
    assert "Standard_NC6s_v3" not in sizes  # retired


@pytest.mark.slow
def test_job_runs_its_lifecycle_and_its_model_registers(
    emu: Emulator, ml: Any, assets: Path, compute: str
) -> None:
    from azure.ai.ml import load_model
    from azure.core.exceptions import HttpResponseError

    name = _submit(emu, ml, assets)
    job = _wait(ml, name)
    assert job.status == "Completed", job.properties
    assert job.seen[-2:] == ["Running", "Completed"]
    snap = emu.snapshot()
    uploaded = {
        k.rsplit("/", 1)[-1]: v
        for k, v in snap["uploads"].items()
        if k.startswith("workspaceblobstore/LocalUpload/")
    }
    train = assets.parents[1] / "data" / "ultrachat_200k" / "train_sft.jsonl"
    assert uploaded["train_sft.jsonl"]["size"] == train.stat().st_size
    put = [b for m, p, b in snap["requests"] if m == "PUT" and p.endswith(f"/jobs/{name}")]
    assert put[0]["properties"]["inputs"]["train_file_path"]["uri"].startswith(
        "azureml://datastores/workspaceblobstore/paths/LocalUpload/"
    )

    model = load_model(
        assets / "model.yml",
        params_override=[{"path": f"azureml://jobs/{name}/outputs/trained_model"}],
    )
    registered = ml.models.create_or_update(model)
    assert (registered.name, registered.version) == ("Phi-4-ultrachat-200k", "1")
    # The service's PUT on an existing version updates it (archive, restore, re-register: 200);
    # only its files are fixed.
    assert ml.models.create_or_update(model).version == "1"
    moved = load_model(
        assets / "model.yml",
        params_override=[{"path": f"azureml://jobs/{name}/outputs/other_output"}],
    )
    with pytest.raises(Exception, match=r"Asset paths cannot be updated|cannot be overwritten"):
        ml.models.create_or_update(moved)
    with pytest.raises(HttpResponseError, match="was not found"):
        bad = load_model(
            assets / "model.yml",
            params_override=[
                {"path": "azureml://jobs/no_such_job/outputs/trained_model"},
                {"version": "2"},
            ],
        )
        ml.models.create_or_update(bad)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"jobs.finetune.inputs.bf16": "true"},
            "'bf16' is not an input of component chat_completion_pipeline:0.0.82",
        ),
        ({"jobs.finetune.inputs.lr_scheduler_type": "cosinus"}, "'cosinus' is not one of"),
        ({"jobs.finetune.inputs.num_train_epochs": "0"}, "less than the minimum 1"),
        ({"jobs.finetune.inputs.per_device_train_batch_size": "three"}, "expected an integer"),
        (
            {
                "inputs.train_file_path.path": "azureml://datastores/workspaceblobstore/paths/none.jsonl"
            },
            "does not exist",
        ),
    ],
)
def test_invalid_job_ends_failed_with_the_service_message(
    emu: Emulator, ml: Any, assets: Path, compute: str, override: dict[str, str], message: str
) -> None:
    job = _wait(ml, _submit(emu, ml, assets, [override]))
    assert job.status == "Failed"
    assert job.properties["error"].startswith("UserError: ")
    assert message in job.properties["error"]


@pytest.mark.slow
def test_endpoint_deployment_traffic_invoke_and_delete(
    emu: Emulator, ml: Any, assets: Path, tmp_path: Path, standin_model: str
) -> None:
    from azure.ai.ml import load_online_deployment, load_online_endpoint
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    endpoint = load_online_endpoint(assets / "endpoint.yml")
    endpoint.name = "emu-invoke-test"
    ep = ml.online_endpoints.begin_create_or_update(endpoint).result()
    assert ep.provisioning_state == "Succeeded"
    deployment = load_online_deployment(assets / "deployment.yml")
    deployment.endpoint_name = ep.name
    deployment.model = standin_model
    dep = ml.online_deployments.begin_create_or_update(deployment).result()
    assert dep.provisioning_state == "Succeeded"
    ops = [o for o in emu.snapshot()["operations"].values() if o["kind"] == "deployment-create"]
    assert ops[-1]["status"] == "Succeeded" and ops[-1]["polls"] >= 1  # the poller really polled

    ep = ml.online_endpoints.get(ep.name)
    ep.traffic = {"demo": 100}
    assert ml.online_endpoints.begin_create_or_update(ep).result().traffic == {"demo": 100}

    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "input_data": {
                    "input_string": [{"role": "user", "content": "What is the capital of France?"}],
                    "parameters": {"temperature": 0.6, "max_new_tokens": 20},
                }
            }
        )
    )
    answer = json.loads(
        ml.online_endpoints.invoke(endpoint_name=ep.name, request_file=str(request))
    )
    assert "not a model" in answer["output"] and "standin:1" in answer["output"]
    assert answer["output"].endswith("You said: What is the capital of France?")

    # The scoring URI is the real inference server; it wants the endpoint key.
    scoring_uri = ml.online_endpoints.get(ep.name).scoring_uri
    key = ml.online_endpoints.get_keys(ep.name).primary_key
    assert scoring_uri.startswith("http://127.0.0.1:") and scoring_uri.endswith("/score")
    health = urllib.request.Request(
        scoring_uri.removesuffix("score"), headers={"Authorization": f"Bearer {key}"}
    )
    assert urllib.request.urlopen(health, timeout=5).status == 200  # every route wants the key
    assert _score(scoring_uri, "wrong-key", {"input_data": {}})[0] == 401
    status, body = _score(scoring_uri, key, {"input_data": {"input_string": "hi"}})
    assert status == 400 and "input_string" in body["error"]["message"]
    status, body = _score(
        scoring_uri,
        key,
        {
            "input_data": {
                "input_string": [{"role": "user", "content": "x"}],
                "parameters": {"temprature": 1},
            }
        },
    )
    assert status == 400 and "temprature" in body["error"]["message"]
    # The fine-tuning notebook's shape: a list holding one conversation.
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
    ]
    status, body = _score(scoring_uri, key, {"input_data": {"input_string": [conversation]}})
    assert status == 200 and body["output"].endswith("You said: Name a prime.")
    status, body = _score(scoring_uri, key, {"input_data": {"input_string": [[{"role": "x"}]]}})
    assert status == 400 and "input_string[0][0].role" in body["error"]["message"]
    request.write_text("{}")
    with pytest.raises(HttpResponseError):
        ml.online_endpoints.invoke(endpoint_name=ep.name, request_file=str(request))
    assert key not in json.dumps(emu.snapshot())
    server_log = emu.workdir / "scoring" / ep.name / "server.log"
    assert key not in server_log.read_text()

    ml.online_endpoints.begin_delete(name=ep.name).result()
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get(ep.name)
    with pytest.raises(OSError):
        urllib.request.urlopen(scoring_uri.removesuffix("score"), timeout=5)


def _score(uri: str, key: str, body: Any) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        uri,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_deployment_needs_its_endpoint(ml: Any, assets: Path) -> None:
    from azure.ai.ml import load_online_deployment
    from azure.core.exceptions import HttpResponseError

    deployment = load_online_deployment(assets / "deployment.yml")
    deployment.endpoint_name = "emu-missing-endpoint"
    with pytest.raises(HttpResponseError):
        ml.online_deployments.begin_create_or_update(deployment).result()


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("status", ["Failed", "Canceled"])
def test_fault_job_status(emu: Emulator, ml: Any, assets: Path, compute: str, status: str) -> None:
    emu.add_fault({"fault": "job_status", "status": status})
    job = _wait(ml, _submit(emu, ml, assets))
    assert job.status == status
    assert "Running" in job.seen  # it ran first, then ended as the fault says
    if status == "Failed":
        # A pipeline fails through a step: the error names the node, the child job says why.
        assert "Failed nodes: /" in job.properties["error"]
        children = list(ml.jobs.list(parent_job_name=job.name))
        failed = [c for c in children if c.status == "Failed"]
        assert len(failed) == 1 and failed[0].display_name
        assert "fault injected" in ml.jobs.get(failed[0].name).properties["error"]


@pytest.mark.slow
def test_fault_deployment_fails(emu: Emulator, ml: Any, assets: Path, standin_model: str) -> None:
    from azure.ai.ml import load_online_deployment, load_online_endpoint
    from azure.core.exceptions import HttpResponseError

    endpoint = load_online_endpoint(assets / "endpoint.yml")
    endpoint.name = "emu-fault-deploy"
    ml.online_endpoints.begin_create_or_update(endpoint).result()
    emu.add_fault({"fault": "deployment_fails"})
    deployment = load_online_deployment(assets / "deployment.yml")
    deployment.endpoint_name = endpoint.name
    deployment.model = standin_model
    with pytest.raises(HttpResponseError, match="ResourceNotReady"):
        ml.online_deployments.begin_create_or_update(deployment).result()
    dep = ml.online_deployments.get(name="demo", endpoint_name=endpoint.name)
    assert dep.provisioning_state == "Failed"
    ml.online_endpoints.begin_delete(name=endpoint.name).result()
    assert "emu-fault-deploy" not in emu.snapshot()["endpoints"]


@pytest.mark.slow
def test_fault_throttle_429_and_503_are_retried_after_retry_after(
    emu: Emulator, ml: Any, compute: str
) -> None:
    emu.add_fault(
        {"fault": "throttle", "status": 429, "times": 1, "retry_after": 1, "match": "/computes"}
    )
    emu.add_fault(
        {"fault": "throttle", "status": 503, "times": 1, "retry_after": 1, "match": "/computes"}
    )
    before = len(emu.snapshot()["faults_fired"])
    assert compute in [c.name for c in ml.compute.list()]  # succeeds despite both answers
    fired = [f[0] for f in emu.snapshot()["faults_fired"][before:]]
    assert fired == ["throttle 429", "throttle 503"]


@pytest.mark.slow
def test_fault_restart_mid_poll_keeps_state(
    emu: Emulator, ml: Any, assets: Path, compute: str
) -> None:
    name = _submit(emu, ml, assets)
    ml.jobs.get(name)
    emu.add_fault({"fault": "restart", "after_requests": 1, "down_seconds": 0.3})
    restarts = emu.restarts
    job = _wait(ml, name)  # its first poll is dropped; the SDK retries and finds the job
    assert job.status == "Completed"
    assert emu.restarts == restarts + 1


@pytest.mark.slow
def test_state_file_survives_a_new_server_on_the_same_port(tmp_path: Path, assets: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(job_seconds=0.2, state_file=state) as first:
        port, secret = first.port, first.secret
        client = ml_client(first.url, first.secret)
        _create_compute(client, assets)
        name = _submit(first, client, assets)
    assert name in json.loads(state.read_text())["jobs"]
    assert secret not in state.read_text()
    with Emulator(port=port, job_seconds=0.2, state_file=state, secret=secret) as second:
        assert _wait(ml_client(second.url, secret), name).status == "Completed"


@pytest.mark.slow
def test_cli_prints_exports_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path / "home")}
    env.pop("AMLGEN_EMULATOR_SECRET", None)
    env.pop("XDG_RUNTIME_DIR", None)  # its connection record goes to the test's HOME, not yours
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.emulator", "--job-seconds", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        url = lines[2].split("=", 1)[1].strip()
        assert lines[2].strip().startswith("export AMLGEN_EMULATOR=http://127.0.0.1:")
        # The key is not printed: it is in the connection file (tests/test_emulator_connection.py).
        record = lines[1].split(" is in ", 1)[1].split(" (yours only)")[0]
        secret = json.loads(Path(record).read_text())["secret"]
        req = urllib.request.Request(
            url + WS_PATH.lstrip("/"),
            headers={"Authorization": f"Bearer {make_token(url, secret)}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["name"] == "emulator-ws"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            # Generous: once, under two busy test workers, the stop took over 20 s (not seen
            # since); a real hang still fails here, with what the process said.
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(
                f"the emulator did not stop on Ctrl-C within 90 s: {out[-500:]} {err[-500:]}"
            )
    assert proc.returncode == 0, err
    assert "stopping" in out and secret not in "".join(lines) + out + err

"""The `type: finetuning` path against the local emulator: the real SDK's fine-tuning job and
serverless endpoint calls over real HTTP on 127.0.0.1, the stand-in `az`, and `amlgen run
--env serverless` end to end with both backends, its faults, resume and teardown."""

from __future__ import annotations

import json
import os
import re
import shlex
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
from _flowkit import (
    MARKETPLACE_MODEL,
    child_env,
    finetune_project,
    make_project,
    marketplace_assets,
    point_flow_at,
)

import generator as workflow
from generator.emulator import Emulator, emulator_uploads, ml_client
from generator.errors import AmlgenError, WorkflowError
from generator.rendering import render_environments

ENV = "serverless"
ENDPOINT = "ultrachat-phi4-serverless"
MODEL = "Phi-4-ultrachat-200k-serverless"
TERMINAL = ("Completed", "Failed", "Canceled")
KEY_LIKE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


serverless_project = finetune_project


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(job_seconds=1.0, deploy_seconds=0.5) as server:
        yield server


def _load_job(proj: Path, **override: str) -> Any:
    """load_job as the flow does it: the data paths resolved (the SDK resolves a fine-tuning
    job's data against the working directory, not the YAML's folder)."""
    from azure.ai.ml import load_job

    data = proj / "data" / "ultrachat_200k"
    overrides = [
        {"training_data.path": str(data / "train_sft.jsonl")},
        {"validation_data.path": str(data / "test_sft.jsonl")},
    ] + [{k.replace("__", "."): v} for k, v in override.items()]
    return load_job(proj / "azureml" / ENV / "finetuning-job.yml", params_override=overrides)


def _finish(ml: Any, name: str) -> Any:
    for _ in range(100):
        job = ml.jobs.get(name)
        if job.status in TERMINAL:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {name} did not end")


def _submit(emu: Emulator, ml: Any, job: Any) -> Any:
    with emulator_uploads(emu.url, emu.secret):
        return ml.jobs.create_or_update(job)


# --- the emulator, through the real SDK -------------------------------------------------------


@pytest.mark.slow
def test_finetuning_job_completes_and_registers_its_output_model(
    emu: Emulator, tmp_path: Path
) -> None:
    proj = serverless_project(tmp_path)
    ml = ml_client(emu.url, emu.secret)
    created = _submit(emu, ml, _load_job(proj))
    assert type(created).__name__ == "CustomModelFineTuningJob"
    done = _finish(ml, created.name)
    assert done.status == "Completed"
    out = done.outputs["registered_model"]
    assert (out.name, out.version) == (MODEL, "1")
    model = ml.models.get(name=MODEL, version="1")
    assert model.job_name == created.name
    body = next(b for m, p, b in emu.snapshot()["requests"] if m == "PUT" and "/jobs/" in p)
    details = body["properties"]["fineTuningDetails"]
    assert details["taskType"] == "chatCompletion"
    assert details["hyperParameters"]["learning_rate"] == "5e-06"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"hyperparameters__warmup_steps": "10"}, "'warmup_steps' is not a supported"),
        ({"hyperparameters__num_train_epochs": "one"}, "'num_train_epochs': expected integer"),
        (
            {"training_data__path": "azureml://datastores/workspaceblobstore/paths/gone.jsonl"},
            "trainingData: the data at",
        ),
    ],
)
def test_finetuning_job_the_service_refuses_ends_failed_with_its_message(
    emu: Emulator, tmp_path: Path, override: dict[str, str], message: str
) -> None:
    proj = serverless_project(tmp_path)
    ml = ml_client(emu.url, emu.secret)
    done = _finish(ml, _submit(emu, ml, _load_job(proj, **override)).name)
    assert done.status == "Failed"
    assert message in done.properties["error"]
    assert done.properties["error"].startswith("UserError: ")
    assert MODEL not in emu.snapshot()["models"]


@pytest.mark.slow
def test_a_model_that_does_not_fine_tune_this_way_is_refused_at_submission(
    emu: Emulator, tmp_path: Path
) -> None:
    """As recorded (recordings/finetuning_job): the service answers the PUT of a serverless
    fine-tuning job on a model it does not fine-tune serverless with 400 UserError, and no job
    exists afterwards (not a job that fails later)."""
    from azure.core.exceptions import HttpResponseError

    proj = serverless_project(tmp_path)
    ml = ml_client(emu.url, emu.secret)
    phi3 = "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/15"
    with pytest.raises(HttpResponseError) as caught:
        _submit(emu, ml, _load_job(proj, model__path=phi3))
    assert caught.value.status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "UserError"
    assert "Phi-3-mini-4k-instruct" in str(caught.value.message)
    assert emu.snapshot()["jobs"] == {}


@pytest.mark.slow
def test_serverless_endpoint_keys_chat_completions_and_delete(
    emu: Emulator, tmp_path: Path
) -> None:
    from azure.ai.ml.entities import ServerlessEndpoint
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    proj = serverless_project(tmp_path)
    ml = ml_client(emu.url, emu.secret)
    _finish(ml, _submit(emu, ml, _load_job(proj)).name)
    ws = ml.workspaces.get(ml.workspace_name)
    wrong = (
        f"azureml://locations/{ws.location}/workspaces/{ws._workspace_id}/models/nope/versions/1"
    )
    with pytest.raises(HttpResponseError, match="nope:1 was not found"):
        ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name=ENDPOINT, model_id=wrong)
        ).result()
    model_id = wrong.replace("/nope/", f"/{MODEL}/")
    ep = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name=ENDPOINT, model_id=model_id)
    ).result()
    assert ep.provisioning_state == "succeeded" and ep.scoring_uri.startswith("http://127.0.0.1:")
    assert ml.serverless_endpoints.get(ENDPOINT).model_id == model_id
    keys = ml.serverless_endpoints.get_keys(ENDPOINT)
    url = ep.scoring_uri + "/chat/completions?api-version=2024-05-01-preview"

    def post(body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        req = urllib.request.Request(
            url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    chat = {"messages": [{"role": "user", "content": "Capital of France?"}], "max_tokens": 50}
    assert post(chat, {})[0] == 401
    assert post(chat, {"Authorization": "Bearer wrong"})[0] == 401
    status, answer = post(chat, {"Authorization": f"Bearer {keys.primary_key}"})
    assert status == 200 and answer["object"] == "chat.completion"
    assert "Capital of France?" in answer["choices"][0]["message"]["content"]
    assert post(chat, {"api-key": keys.secondary_key})[0] == 200
    managed_shape = {"input_data": {"input_string": chat["messages"]}}
    status, err = post(managed_shape, {"api-key": keys.primary_key})
    assert status == 422 and "messages" in err["error"]["message"]
    ml.serverless_endpoints.begin_delete(ENDPOINT).result()
    with pytest.raises(ResourceNotFoundError):
        ml.serverless_endpoints.get(ENDPOINT)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(urllib.request.Request(url, b"{}"), timeout=5)


# --- `amlgen run --env serverless`: both backends -----------------------------------------------


@pytest.fixture
def flow_emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A fresh emulator the flow finds through the environment, and the stand-in az on PATH."""
    with Emulator(job_seconds=1.0, deploy_seconds=0.5) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        yield server


def state_of(proj: Path) -> dict[str, Any]:
    return json.loads((proj / ".amlgen" / ENV / "state.json").read_text())


def serverless_left(emu: Emulator) -> list[str]:
    return sorted(emu.snapshot()["serverless_endpoints"])


def job_puts(emu: Emulator) -> list[str]:
    return [
        p.rsplit("/", 1)[-1]
        for m, p, _ in emu.snapshot()["requests"]
        if m == "PUT" and re.search(r"/jobs/[^/]+$", p)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_run_serverless_end_to_end_leaves_no_endpoint(
    flow_emu: Emulator, tmp_path: Path, backend: str
) -> None:
    proj = serverless_project(tmp_path / "p")
    lines: list[str] = []
    out = workflow.run(env=ENV, project_dir=proj, backend=backend, log=lines.append)
    text = "\n".join(lines)
    job = out.state["job"]["name"]
    assert out.state["job"]["status"] == "Completed"
    assert out.state["model"] == {"name": MODEL, "version": "1", "job": job}
    assert out.state["endpoint"]["status"] == "deleted"
    assert f"model {MODEL}:1: registered by job {job}" in text
    assert f"deleted endpoint {ENDPOINT}" in text
    answer = json.loads(out.response or "{}")
    assert answer["object"] == "chat.completion"
    assert "What is the capital of France?" in answer["choices"][0]["message"]["content"]
    saved = json.loads((proj / ".amlgen" / ENV / "response.json").read_text())
    assert saved["choices"] == answer["choices"]
    assert serverless_left(flow_emu) == []
    # The endpoint served the model the job registered, by its workspace model id.
    body = next(
        b
        for m, p, b in flow_emu.snapshot()["requests"]
        if m == "PUT" and "/serverlessEndpoints/" in p
    )
    model_id = body["properties"]["modelSettings"]["modelId"]
    assert model_id.startswith("azureml://locations/eastus2/workspaces/")
    assert model_id.endswith(f"/models/{MODEL}/versions/1")
    # No key (43 url-safe characters, as the emulator makes them) in what was said or stored.
    stored = "".join(p.read_text() for p in (proj / ".amlgen").rglob("*") if p.is_file())
    assert not KEY_LIKE.search(text + stored + (out.response or ""))
    again = workflow.run(env=ENV, project_dir=proj, backend=backend, log=lines.append)
    assert again.message and "nothing to do" in again.message


def executed_az(log: Path) -> list[list[str]]:
    out: list[list[str]] = []
    for line in log.read_text().splitlines():
        argv = json.loads(line)
        if not out or out[-1] != argv:
            out.append(argv)
    return out


@pytest.mark.slow
def test_cli_dry_run_plan_is_what_runs(flow_emu: Emulator, tmp_path: Path) -> None:
    proj = serverless_project(tmp_path / "p")
    plan = workflow.run(env=ENV, project_dir=proj, backend="cli", dry_run=True).plan
    assert not (proj / ".amlgen" / ENV / "state.json").exists()
    assert serverless_left(flow_emu) == [] and job_puts(flow_emu) == []
    log = tmp_path / "az.log"
    log.unlink(missing_ok=True)
    done = workflow.run(env=ENV, project_dir=proj, backend="cli")
    job = done.state["job"]["name"]
    ran = executed_az(log)
    arm_id = next(a for a in ran if a[:3] == ["az", "resource", "show"])[4]
    model_id = next(a for a in ran if a[2:4] == ["serverless-endpoint", "create"])[7]
    expected = []
    for line in plan:
        if line.startswith("POST "):
            continue  # the chat call is HTTP, not az
        cmd = line.split("  # ")[0]
        cmd = cmd.replace("<job-name>", job).replace("<workspace-arm-id>", arm_id)
        argv = shlex.split(cmd)
        expected.append([model_id if a.startswith("model_id=") else a for a in argv])
    expected = [argv for i, argv in enumerate(expected) if i == 0 or expected[i - 1] != argv]
    model_id = model_id.removeprefix("model_id=")
    assert model_id.endswith(f"/models/{MODEL}/versions/1")
    assert ran == expected


def test_dry_run_plans_name_every_step_for_both_backends(tmp_path: Path) -> None:
    proj = serverless_project(tmp_path / "p")
    cli = "\n".join(workflow.run(env=ENV, project_dir=proj, backend="cli", dry_run=True).plan)
    sdk = "\n".join(workflow.run(env=ENV, project_dir=proj, backend="sdk", dry_run=True).plan)
    assert not (proj / ".amlgen" / ENV / "state.json").exists()
    for needle in (
        "az ml job create -f azureml/serverless/finetuning-job.yml --set "
        "training_data.path=data/ultrachat_200k/train_sft.jsonl",
        "--query outputs.registered_model -o json",
        "az ml serverless-endpoint create -f azureml/serverless/serverless-endpoint.yml --set "
        "'model_id=azureml://locations/<location>/workspaces/<workspace-id>/models/"
        f"{MODEL}/versions/1'",
        f"az ml serverless-endpoint get-credentials -n {ENDPOINT} -o json",
        "POST <scoring_uri>/chat/completions?api-version=2024-05-01-preview",
        f"az ml serverless-endpoint delete -n {ENDPOINT}",
    ):
        assert needle in cli
    for needle in (
        'job = load_job(source="azureml/serverless/finetuning-job.yml", params_override=',
        "ml_client.jobs.create_or_update(job).name",
        'ml_client.jobs.get("<job-name>").outputs["registered_model"]',
        "ml_client.serverless_endpoints.begin_create_or_update(endpoint).result()",
        f'ml_client.serverless_endpoints.get_keys("{ENDPOINT}").primary_key',
        f'ml_client.serverless_endpoints.begin_delete("{ENDPOINT}").result()',
    ):
        assert needle in sdk
    chat = '{"messages": [{"role": "user", "content": "What is the capital of France?"}]'
    assert chat in cli and chat in sdk and "input_data" not in cli + sdk
    # A Microsoft model needs no marketplace subscription: no such step.
    assert "marketplace" not in cli + sdk


def test_a_model_that_needs_a_marketplace_subscription_shows_the_step(tmp_path: Path) -> None:
    from generator.backends import make_backend
    from generator.workspace import resolve_workspace

    proj = serverless_project(tmp_path / "p")
    assets = marketplace_assets(proj)
    llama = MARKETPLACE_MODEL
    ws = resolve_workspace(proj)
    for kind, needle in (
        ("cli", "az ml marketplace-subscription create -f .amlgen/marketplace-subscription.yml"),
        ("sdk", 'MarketplaceSubscription(name="Meta-Llama-3-1-8B-Instruct", model_id='),
    ):
        backend = make_backend(kind, ws, proj, dry_run=True)
        backend.create_marketplace_subscription(assets)
        assert needle in backend.plan[0]
        assert llama in backend.plan[0]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_marketplace_subscription_is_created_read_back_and_planned_unchanged(
    flow_emu: Emulator, tmp_path: Path, backend: str
) -> None:
    from generator import planning
    from generator.backends import make_backend
    from generator.workspace import resolve_workspace

    proj = serverless_project(tmp_path / "p")
    assets = marketplace_assets(proj)
    llama = MARKETPLACE_MODEL
    live = make_backend(backend, resolve_workspace(proj), proj)
    assert live.read("marketplace_subscription", assets.marketplace_name) is None
    live.create_marketplace_subscription(assets)
    found = live.read("marketplace_subscription", assets.marketplace_name)
    assert found is not None and found["model_id"] == llama
    plan = planning.make_plan(ENV, assets, live.read, backend)
    sub = [r for r in plan.resources if r.kind == "marketplace_subscription"]
    assert [(r.name, r.action) for r in sub] == [(assets.marketplace_name, "no-change")]
    # Microsoft's own models have no offer: the service refuses, and the error says why.
    assets.job["model"]["path"] = "azureml://registries/azureml/models/Phi-4/versions/8"
    with pytest.raises(AmlgenError, match="Model 'Phi-4' of registry azureml has no marketplace"):
        live.create_marketplace_subscription(assets)


# --- faults: the same guarantees as the pipeline path -------------------------------------------


@pytest.mark.slow
def test_job_failing_with_a_service_message_stops_then_rerun_submits_anew(
    flow_emu: Emulator, tmp_path: Path
) -> None:
    proj = serverless_project(tmp_path / "p")
    message = "UserError: the training data has 3 rows; at least 10 are needed"
    flow_emu.add_fault({"fault": "job_status", "status": "Failed", "message": message})
    with pytest.raises(WorkflowError) as info:
        workflow.run(env=ENV, project_dir=proj, backend="sdk")
    text = str(info.value)
    assert "ended Failed" in text and message in text and "`amlgen run` submits a new job" in text
    assert "\n" not in text
    state = state_of(proj)
    assert state["job"]["status"] == "Failed"
    assert "model" not in state and "endpoint" not in state
    assert serverless_left(flow_emu) == []
    first = state["job"]["name"]

    done = workflow.run(env=ENV, project_dir=proj, backend="cli")
    assert done.state["job"]["name"] != first and done.state["job"]["status"] == "Completed"
    assert done.state["model"]["job"] == done.state["job"]["name"]
    assert job_puts(flow_emu) == [first, done.state["job"]["name"]]
    assert serverless_left(flow_emu) == []


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_failure_after_the_endpoint_is_created_deletes_it_and_rerun_resumes(
    flow_emu: Emulator, tmp_path: Path, backend: str
) -> None:
    proj = serverless_project(tmp_path / "p")
    flow_emu.add_fault({"fault": "forbidden", "match": "/listKeys", "times": 1})
    lines: list[str] = []
    with pytest.raises(AmlgenError):
        workflow.run(env=ENV, project_dir=proj, backend=backend, log=lines.append)
    assert f"deleted endpoint {ENDPOINT}" in lines
    assert serverless_left(flow_emu) == []
    state = state_of(proj)
    assert state["endpoint"] == {"name": ENDPOINT, "status": "deleted", "kind": "serverless"}
    assert state["job"]["status"] == "Completed" and state["model"]["name"] == MODEL

    before = job_puts(flow_emu)
    other = "sdk" if backend == "cli" else "cli"  # the state is the backends' common ground
    done = workflow.run(env=ENV, project_dir=proj, backend=other)
    assert json.loads(done.response or "{}")["object"] == "chat.completion"
    assert job_puts(flow_emu) == before  # resumed: no new job (and the model is the job's)
    assert serverless_left(flow_emu) == []


@pytest.mark.slow
def test_an_interrupt_while_the_endpoint_is_created_tears_down_and_rerun_finishes(
    flow_emu: Emulator, tmp_path: Path
) -> None:
    proj = serverless_project(tmp_path / "p")
    env = child_env()
    cmd = ["-C", str(proj), "run", "--env", ENV, "--backend", "sdk"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    state_file = proj / ".amlgen" / ENV / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"amlgen run ended early: {proc.communicate()[1]}")
        creating = state_file.exists() and '"creating"' in state_file.read_text()
        if creating and serverless_left(flow_emu):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the endpoint creation never started")
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"deleted endpoint {ENDPOINT}" in err and "interrupted" in err
    assert "Traceback" not in err and flow_emu.secret not in err
    assert serverless_left(flow_emu) == []
    assert state_of(proj)["job"]["status"] == "Completed"

    done = workflow.run(env=ENV, project_dir=proj, backend="sdk")
    assert json.loads(done.response or "{}")["object"] == "chat.completion"
    assert len(job_puts(flow_emu)) == 1
    assert serverless_left(flow_emu) == []


@pytest.mark.slow
def test_keep_endpoint_then_invoke_and_teardown_with_the_other_backend(
    flow_emu: Emulator, tmp_path: Path
) -> None:
    proj = serverless_project(tmp_path / "p")
    workflow.run(env=ENV, project_dir=proj, backend="sdk", keep_endpoint=True)
    assert serverless_left(flow_emu) == [ENDPOINT]
    again = workflow.invoke(env=ENV, project_dir=proj, backend="cli")
    assert json.loads(again.response or "{}")["object"] == "chat.completion"
    plan = workflow.teardown(env=ENV, project_dir=proj, backend="cli", dry_run=True).plan
    assert plan == [f"az ml serverless-endpoint delete -n {ENDPOINT}"]
    workflow.teardown(env=ENV, project_dir=proj, backend="cli")
    assert serverless_left(flow_emu) == []
    assert state_of(proj)["endpoint"]["status"] == "deleted"
    nothing = workflow.teardown(env=ENV, project_dir=proj, backend="sdk")
    assert nothing.message and "nothing to tear down" in nothing.message


@pytest.mark.slow
def test_a_taken_model_version_is_refused_before_the_job_trains(
    flow_emu: Emulator, tmp_path: Path
) -> None:
    # The job registers its model last: a name:version another run registered would fail it
    # after the training is paid for, so the pre-flight refuses it before submitting.
    first = workflow.run(env=ENV, project_dir=serverless_project(tmp_path / "a"), backend="sdk")
    jobs = job_puts(flow_emu)
    assert jobs == [first.state["job"]["name"]]
    other = serverless_project(tmp_path / "b")
    with pytest.raises(WorkflowError) as info:
        workflow.run(env=ENV, project_dir=other, backend="cli")
    text = str(info.value)
    assert f"model {MODEL} version 1 already exists" in text and jobs[0] in text
    assert "bump registered_model.version" in text and "\n" not in text
    assert job_puts(flow_emu) == jobs  # nothing submitted
    assert "job" not in state_of(other)
    bumped = make_project(tmp_path / "c")
    params = bumped / "params" / f"{ENV}.yaml"
    text = params.read_text().replace(f"  name: {MODEL}\n", f'  name: {MODEL}\n  version: "2"\n')
    params.write_text(text)
    render_environments([ENV], bumped, [], all_envs=False)
    done = workflow.run(env=ENV, project_dir=bumped, backend="sdk")
    assert done.state["model"] == {"name": MODEL, "version": "2", "job": done.state["job"]["name"]}
    assert serverless_left(flow_emu) == []


@pytest.mark.slow
def test_throttling_and_a_restart_mid_flow_are_survived(flow_emu: Emulator, tmp_path: Path) -> None:
    proj = serverless_project(tmp_path / "p")
    for status, match, times in ((429, "/jobs/", 2), (503, "/serverlessEndpoints/", 1)):
        flow_emu.add_fault(
            {
                "fault": "throttle",
                "status": status,
                "times": times,
                "retry_after": 1,
                "match": match,
            }
        )
    flow_emu.add_fault({"fault": "restart", "after_requests": 12, "down_seconds": 0.5})
    done = workflow.run(env=ENV, project_dir=proj, backend="sdk")
    assert json.loads(done.response or "{}")["object"] == "chat.completion"
    fired = [f[0] for f in flow_emu.snapshot()["faults_fired"]]
    assert fired.count("throttle 429") == 2 and fired.count("throttle 503") == 1
    assert "restart" in fired and flow_emu.restarts == 1
    assert serverless_left(flow_emu) == []


@pytest.mark.slow
def test_the_steps_one_by_one_across_backends_after_a_wait_timeout(
    flow_emu: Emulator, tmp_path: Path
) -> None:
    # submit -> status --wait (times out: the job keeps running) -> status --wait -> register
    # (records the model the job registered) -> deploy -> invoke -> teardown, mixing backends.
    proj = serverless_project(tmp_path / "p")
    flow_emu.api.job_seconds = 6.0
    job = workflow.submit(env=ENV, project_dir=proj, backend="sdk").state["job"]["name"]
    with pytest.raises(WorkflowError, match=r"still .* after"):
        workflow.status(env=ENV, project_dir=proj, backend="sdk", wait=True, timeout_minutes=0.01)
    assert state_of(proj)["job"]["status"] not in TERMINAL
    done = workflow.status(env=ENV, project_dir=proj, backend="cli", wait=True)
    assert done.job_status == "Completed"
    registered = workflow.register(env=ENV, project_dir=proj, backend="cli")
    assert registered.state["model"] == {"name": MODEL, "version": "1", "job": job}
    workflow.deploy(env=ENV, project_dir=proj, backend="cli")
    assert serverless_left(flow_emu) == [ENDPOINT]
    workflow.deploy(env=ENV, project_dir=proj, backend="cli")  # again: an upsert, as az ml's
    assert serverless_left(flow_emu) == [ENDPOINT]
    answer = workflow.invoke(env=ENV, project_dir=proj, backend="sdk")
    assert json.loads(answer.response or "{}")["object"] == "chat.completion"
    workflow.teardown(env=ENV, project_dir=proj, backend="sdk")
    assert serverless_left(flow_emu) == []
    assert job_puts(flow_emu) == [job]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "compute"),
    [
        ("cli", "compute:\n  kind: cluster\n"),
        (
            "sdk",
            "compute:\n  kind: instance_types\n  instance_types: [Standard_NC24ads_A100_v4]\n",
        ),
    ],
    ids=["cli-cluster", "sdk-instance-types"],
)
def test_managed_compute_fine_tune_is_served_by_an_online_deployment(
    flow_emu: Emulator, tmp_path: Path, backend: str, compute: str
) -> None:
    proj = make_project(tmp_path / "p")
    params = proj / "params" / f"{ENV}.yaml"
    params.write_text(params.read_text().replace("compute:\n  kind: serverless\n", compute))
    render_environments([ENV], proj, [], all_envs=False)
    assert not (proj / "azureml" / ENV / "serverless-endpoint.yml").exists()
    lines: list[str] = []
    done = workflow.run(env=ENV, project_dir=proj, backend=backend, log=lines.append)
    job = done.state["job"]["name"]
    assert done.state["model"] == {"name": MODEL, "version": "1", "job": job}
    assert "not a model" in (done.response or "")  # the online scoring stand-in
    assert f"deleted endpoint {ENDPOINT}" in lines
    snap = flow_emu.snapshot()
    assert snap["endpoints"] == {} and serverless_left(flow_emu) == []
    put = next(b for m, p, b in snap["requests"] if m == "PUT" and p.endswith(f"/jobs/{job}"))
    if "cluster" in compute:
        assert put["properties"]["computeId"].rsplit("/", 1)[-1] == "gpu-a100"
    else:
        assert put["properties"]["resources"]["instanceTypes"] == ["Standard_NC24ads_A100_v4"]

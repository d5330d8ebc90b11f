"""The `type: finetuning` path against the local emulator: the real SDK's fine-tuning job and
serverless endpoint calls over real HTTP on 127.0.0.1, the stand-in `az`, and `amlgen run
--env serverless` end to end with both backends, its faults, resume and teardown."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import make_project

from generator.emulator import Emulator, emulator_uploads, ml_client
from generator.rendering import render_environments

ENV = "serverless"
ENDPOINT = "ultrachat-phi4-serverless"
MODEL = "Phi-4-ultrachat-200k"
TERMINAL = ("Completed", "Failed", "Canceled")


def serverless_project(tmp: Path, overrides: tuple[str, ...] = ()) -> Path:
    proj = make_project(tmp)
    render_environments([ENV], proj, list(overrides), all_envs=False)
    return proj


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
            {
                "model__path": "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/15"
            },
            "not supported for this job",
        ),
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

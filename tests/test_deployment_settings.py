"""#10.3: deployment settings for multi-GB models (probes in full, request settings, environment
variables) and validation_file_path, from params to the SDK's loaders and the service's wire."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import ROOT, chat_rows, point_flow_at, write_data

import generator as workflow
from generator.rendering import render_environments

# What a large-model user writes in params/dev.yaml.
SETTINGS = """\
endpoint:
  name: ultrachat-completion-dev
deployment:
  environment_variables: {WORKER_COUNT: 2, MODEL_LOAD_TIMEOUT: "900"}
  request_settings: {max_concurrent_requests_per_instance: 2}
  liveness_probe: {timeout: 299}
data:
  validation_split: test_gen
"""


def make_project(tmp: Path, overlay: str | None = SETTINGS) -> Path:
    shutil.copytree(ROOT / "params", tmp / "params")
    if overlay is not None:
        (tmp / "params" / "dev.yaml").write_text(overlay, encoding="utf-8")
    render_environments(["dev"], tmp)
    folder = write_data(tmp, "dev")
    (folder / "test_gen.jsonl").write_text(chat_rows(10, "val"), encoding="utf-8")
    return tmp


def test_rendered_settings_load_with_the_sdk(tmp_path: Path) -> None:
    from azure.ai.ml import load_job, load_online_deployment

    proj = make_project(tmp_path / "p")
    dep = load_online_deployment(proj / "azureml/dev/deployment.yml")
    assert dep.liveness_probe is not None and dep.readiness_probe is not None
    live = dep.liveness_probe
    assert (live.initial_delay, live.period, live.timeout) == (600, 120, 299)
    assert (live.failure_threshold, live.success_threshold) == (30, 1)
    ready = dep.readiness_probe
    assert (ready.initial_delay, ready.period, ready.timeout) == (300, 30, 30)
    assert dep.environment_variables == {"MODEL_LOAD_TIMEOUT": "900", "WORKER_COUNT": "2"}
    assert dep.request_settings is not None
    assert dep.request_settings.request_timeout_ms == 90000
    assert dep.request_settings.max_concurrent_requests_per_instance == 2
    job = load_job(proj / "azureml/dev/pipeline-job.yml")
    assert Path(job.inputs["validation_file_path"].path).name == "test_gen.jsonl"
    step = job.jobs["finetune"]
    assert str(step.inputs["validation_file_path"]._data) == (
        "${{parent.inputs.validation_file_path}}"
    )


def test_without_a_validation_split_the_input_is_left_out(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p", overlay=None)
    text = (proj / "azureml/dev/pipeline-job.yml").read_text(encoding="utf-8")
    assert "validation_file_path" not in text


# --- the wire: what the emulator's deployment receives and returns ----------------------------

emulator_mod = pytest.importorskip("generator.emulator", reason="needs the emulator")


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with emulator_mod.Emulator(job_seconds=1.0, deploy_seconds=0.5) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cli", "sdk"])
def test_settings_reach_the_emulators_deployment(emu: Any, tmp_path: Path, backend: str) -> None:
    proj = make_project(tmp_path / "p")
    workflow.run(project_dir=proj, backend=backend, keep_endpoint=True)
    try:
        deployment = emu.snapshot()["deployments"]["ultrachat-completion-dev"]["demo"]
        props = deployment["properties"]
        # The service's own shapes: ISO 8601 durations for the probe times.
        assert props["livenessProbe"] == {
            "initialDelay": "PT10M",
            "period": "PT2M",
            "timeout": "PT4M59S",
            "failureThreshold": 30,
            "successThreshold": 1,
        }
        assert props["readinessProbe"] == {
            "initialDelay": "PT5M",
            "period": "PT30S",
            "timeout": "PT30S",
            "failureThreshold": 30,
            "successThreshold": 1,
        }
        env = dict(props["environmentVariables"])
        # The service adds where it mounted the model once the deployment is provisioned.
        assert env.pop("AZUREML_MODEL_DIR").endswith("/Phi-4-ultrachat-200k/1")
        assert env == {"MODEL_LOAD_TIMEOUT": "900", "WORKER_COUNT": "2"}
        assert props["requestSettings"]["maxConcurrentRequestsPerInstance"] == 2
        assert props["requestSettings"]["requestTimeout"] == "PT1M30S"
        # validation_file_path reached the job as an uploaded file, bound on the step.
        (job,) = emu.snapshot()["jobs"].values()
        body = job["resource"]["properties"]
        assert body["inputs"]["validation_file_path"]["uri"].endswith("test_gen.jsonl")
    finally:
        workflow.teardown(project_dir=proj, backend=backend)
    assert emu.snapshot()["endpoints"] == {}

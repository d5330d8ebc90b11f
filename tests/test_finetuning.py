"""The `type: finetuning` path: params, rendering, and what the real SDK makes of the files."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from generator.errors import ParamsError
from generator.finetuning import spec
from generator.params import load_params
from generator.rendering import render

ROOT = Path(__file__).resolve().parent.parent


def files_of(project: Path, env: str = "serverless", *overrides: str) -> dict[str, dict]:
    rendered = render(load_params(env, project, list(overrides)))
    return {Path(rel).name: yaml.safe_load(text) for rel, text in rendered.items()}


def problems(project: Path, *overrides: str, env: str = "serverless") -> list[str]:
    with pytest.raises(ParamsError) as info:
        load_params(env, project, list(overrides))
    return info.value.problems


def test_serverless_env_renders_a_job_and_a_serverless_endpoint(project: Path) -> None:
    files = files_of(project)
    assert sorted(files) == ["finetuning-job.yml", "serverless-endpoint.yml"]
    job = files["finetuning-job.yml"]
    assert job["type"] == "finetuning" and job["task"] == "chat_completion"
    assert job["model"] == {
        "path": "azureml://registries/azureml/models/Phi-4/versions/8",
        "type": "mlflow_model",
    }
    assert "compute" not in job and "resources" not in job  # serverless: the service picks
    assert "name" not in job  # job names are unique per workspace
    # Only what serverless takes, every value a string the service parses.
    assert job["hyperparameters"] == {
        "learning_rate": "5e-06",
        "num_train_epochs": "1",
        "per_device_train_batch_size": "1",
    }
    r = load_params("serverless", project)
    assert job["outputs"]["registered_model"] == {
        "name": r.registered_model_name,
        "version": "1",
        "type": "mlflow_model",
    }
    # Its own name (a workspace holds one model per name:version; dev registers the rule's).
    assert r.registered_model_name == "Phi-4-ultrachat-200k-serverless"
    assert load_params("dev", project).registered_model_name == "Phi-4-ultrachat-200k"
    assert job["training_data"]["path"].endswith("/train_sft.jsonl")
    assert job["validation_data"]["path"].endswith("/test_sft.jsonl")
    endpoint = files["serverless-endpoint.yml"]
    assert endpoint["name"] == "ultrachat-phi4-serverless"
    assert endpoint["model_id"] == (
        "azureml://locations/WORKSPACE_LOCATION/workspaces/WORKSPACE_ID/models/"
        "Phi-4-ultrachat-200k-serverless/versions/1"
    )


def test_same_hyperparameters_as_strings_on_managed_compute(project: Path) -> None:
    files = files_of(project, "serverless", "compute.kind=cluster", "finetune.apply_ort=false")
    assert sorted(files) == ["compute.yml", "deployment.yml", "endpoint.yml", "finetuning-job.yml"]
    job = files["finetuning-job.yml"]
    assert job["compute"] == "gpu-a100"
    hp = job["hyperparameters"]
    assert all(isinstance(v, str) for v in hp.values())
    assert hp["apply_lora"] == "true" and hp["apply_ort"] == "false"
    assert hp["deepspeed_stage"] == "3"  # Phi-4's model_specific_defaults, as on the pipeline
    assert hp["learning_rate"] == "5e-06" and hp["lr_scheduler_type"] == "cosine"
    deployment = files["deployment.yml"]
    assert deployment["model"] == "azureml:Phi-4-ultrachat-200k-serverless:1"
    job = files_of(
        project,
        "serverless",
        "compute.kind=instance_types",
        "compute.instance_types=[Standard_NC96ads_A100_v4, Standard_NC24ads_A100_v4]",
    )["finetuning-job.yml"]
    assert job["resources"] == {
        "instance_types": ["Standard_NC96ads_A100_v4", "Standard_NC24ads_A100_v4"]
    }
    assert "compute" not in job


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ("finetune.apply_lora=false",),
            "--set: finetune.apply_lora: not a hyper-parameter of serverless fine-tuning jobs",
        ),
        (
            ("model.name=Phi-3-mini-4k-instruct", "model.version=15"),
            "compute.kind: Phi-3-mini-4k-instruct is not a model family that fine-tunes serverless",
        ),
        (
            ("finetuning_job.region=westeurope",),
            "--set: finetuning_job.region: serverless fine-tuning of Phi-4 is offered in eastus2",
        ),
        (("compute.kind=instance_types",), "compute.instance_types: kind instance_types needs"),
        (
            ("method=pipeline", "compute.kind=instance_types", "compute.instance_types=[a]"),
            "compute.kind: 'instance_types' is not a compute kind of method pipeline",
        ),
        (("finetuning_job.task=text_completion",), "finetuning_job.task: Input should be"),
    ],
)
def test_path_and_model_errors(project: Path, overrides: tuple[str, ...], expected: str) -> None:
    found = problems(project, *overrides)
    assert any(expected in line for line in found), found


def test_overlay_hyperparameters_must_be_taken(project: Path) -> None:
    path = project / "params" / "serverless.yaml"
    path.write_text(path.read_text() + "finetune:\n  apply_lora: false\n", encoding="utf-8")
    (line,) = problems(project)
    n = len(path.read_text().splitlines())
    assert line.startswith(f"params/serverless.yaml:{n}: finetune.apply_lora: not a hyper-param")
    # Inherited from base.yaml instead: left out, and said so.
    path.write_text(path.read_text().replace("finetune:\n  apply_lora: false\n", ""))
    base = project / "params" / "base.yaml"
    base.write_text(base.read_text().replace("finetune: {}", "finetune:\n  apply_lora: true"))
    resolved = load_params("serverless", project)
    assert "apply_lora" in resolved.hyperparameters_dropped
    assert "apply_lora" not in resolved.hyperparameters


def test_hyperparameter_strings() -> None:
    assert spec.hyperparameter_string(True) == "true"
    assert spec.hyperparameter_string(2e-05) == "2e-05"
    assert float(spec.hyperparameter_string(0.1)) == 0.1
    assert spec.hyperparameter_string(3) == "3"


def test_chat_request_from_the_prepared_score_file() -> None:
    score = {
        "input_data": {
            "input_string": [[{"role": "user", "content": "hi"}]],
            "parameters": {"temperature": 0.6, "max_new_tokens": 20, "do_sample": True},
        }
    }
    body = spec.chat_request(score, score["input_data"]["parameters"])
    assert body == {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 20,
        "temperature": 0.6,
    }


def test_committed_files_load_as_the_sdks_finetuning_job() -> None:
    from azure.ai.ml import load_job, load_serverless_endpoint
    from azure.ai.ml.entities._job.finetuning.custom_model_finetuning_job import (
        CustomModelFineTuningJob,
    )
    from azure.ai.ml.entities._job.to_rest_functions import to_rest_job_object

    folder = ROOT / "azureml" / "serverless"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job = load_job(folder / "finetuning-job.yml")
        endpoint = load_serverless_endpoint(folder / "serverless-endpoint.yml")
    assert isinstance(job, CustomModelFineTuningJob)
    body = to_rest_job_object(job).as_dict()["properties"]
    assert body["jobType"] == "FineTuning"
    details = body["fineTuningDetails"]
    assert details["taskType"] == "chatCompletion" and details["modelProvider"] == "Custom"
    assert details["hyperParameters"]["num_train_epochs"] == "1"
    assert body["outputs"]["registered_model"] == {
        "assetName": "Phi-4-ultrachat-200k-serverless",
        "assetVersion": "1",
        "jobOutputType": "mlflow_model",
    }
    assert endpoint.name == "ultrachat-phi4-serverless"
    assert endpoint.model_id.endswith("/models/Phi-4-ultrachat-200k-serverless/versions/1")


def test_managed_variants_load_with_the_sdk(project: Path) -> None:
    from azure.ai.ml import load_job
    from azure.ai.ml.entities._job.to_rest_functions import to_rest_job_object

    for kind in ("cluster", "instance_types"):
        sets = ["compute.kind=" + kind, "compute.instance_types=[Standard_NC24ads_A100_v4]"]
        for rel, text in render(load_params("serverless", project, sets)).items():
            if rel.endswith("finetuning-job.yml"):
                path = project / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    body = to_rest_job_object(load_job(path)).as_dict()["properties"]
                if kind == "cluster":
                    assert body["computeId"] == "gpu-a100"
                else:
                    assert body["resources"] == {"instanceTypes": ["Standard_NC24ads_A100_v4"]}


def test_the_flow_drives_the_job_in_a_dry_run(project: Path) -> None:
    from _flowkit import write_data

    from generator import run

    write_data(project, "dev")  # serverless reads the dev data folder

    for rel, text in render(load_params("serverless", project)).items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text, encoding="utf-8")
    plan = run(env="serverless", project_dir=project, dry_run=True, log=lambda line: None).plan
    job = "az ml job create -f azureml/serverless/finetuning-job.yml"
    assert any(line.startswith(job) for line in plan)
    assert any(line.startswith("az ml serverless-endpoint create") for line in plan)

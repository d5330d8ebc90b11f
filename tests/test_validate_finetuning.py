"""Validation of `type: finetuning` jobs and serverless endpoints: one table of realistic
mistakes, each checked against amlgen's rules and against the SDK's own loaders alone."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.params import load_params
from generator.rendering import render
from generator.validation import validate_paths
from generator.yamlio import dump

ROOT = Path(__file__).resolve().parent.parent
JOB = "finetuning-job.yml"
ENDPOINT = "serverless-endpoint.yml"
CHAT_ROW = {
    "prompt": "hi",
    "prompt_id": "1",
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ],
}

Docs = dict[str, dict[str, Any]]


def _hp(key: str, value: Any) -> Callable[[Docs], None]:
    def change(d: Docs) -> None:
        d[JOB]["hyperparameters"][key] = value

    return change


def _set(file: str, *path: str, value: Any = None, delete: bool = False) -> Callable[[Docs], None]:
    def change(d: Docs) -> None:
        node = d[file]
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if delete:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value

    return change


def _managed(d: Docs) -> None:
    d[JOB]["compute"] = "gpu-a100"


def _rows(d: Docs) -> None:
    d["data"] = {"train_sft.jsonl": json.dumps({"prompt": "x", "completion": "y"}) + "\n"}


def _csv(d: Docs) -> None:
    d[JOB]["training_data"]["path"] = "../../data/ultrachat_200k/train.csv"
    d["data"] = {"train.csv": "messages\nx\n"}


# (id, change, expected finding code, severity)
MISTAKES: list[Any] = [
    ("task in camel case", _set(JOB, "task", value="ChatCompletion"), "finetuning.task", "error"),
    ("task in kebab case", _set(JOB, "task", value="chat-completion"), "finetuning.task", "error"),
    pytest.param(
        "task the model does not fine-tune for",
        _set(JOB, "task", value="text_classification"),
        "finetuning.task-unsupported",
        "error",
    ),
    (
        "model without serverless fine-tuning",
        _set(
            JOB,
            "model",
            "path",
            value="azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/15",
        ),
        "finetuning.path",
        "error",
    ),
    (
        "model by label",
        _set(JOB, "model", "path", value="azureml://registries/azureml/models/Phi-4/labels/latest"),
        "finetuning.model-unpinned",
        "warning",
    ),
    ("unknown hyper-parameter", _hp("epochs", "1"), "finetuning.hyperparameter-unknown", "error"),
    (
        "hyper-parameter serverless does not take",
        _hp("apply_lora", "true"),
        "finetuning.hyperparameter-unknown",
        "error",
    ),
    (
        "hyper-parameter as a number",
        _hp("num_train_epochs", 1),
        "finetuning.hyperparameter-type",
        "error",
    ),
    (
        "epochs in words",
        _hp("num_train_epochs", "three"),
        "finetuning.hyperparameter-value",
        "error",
    ),
    (
        "learning rate in words",
        _hp("learning_rate", "fast"),
        "finetuning.hyperparameter-value",
        "error",
    ),
    (
        "batch size 0",
        _hp("per_device_train_batch_size", "0"),
        "finetuning.hyperparameter-value",
        "error",
    ),
    (
        "scheduler not in the enum (managed)",
        lambda d: (_managed(d), _hp("lr_scheduler_type", "cosine_annealing")(d)),
        "finetuning.hyperparameter-value",
        "error",
    ),
    (
        "flag as True (managed)",
        lambda d: (_managed(d), _hp("apply_lora", "True")(d)),
        "finetuning.hyperparameter-value",
        "error",
    ),
    (
        "hyper-parameter typo (managed)",
        lambda d: (_managed(d), _hp("lora_rank", "8")(d)),
        "finetuning.hyperparameter-unknown",
        "error",
    ),
    ("no training data", _set(JOB, "training_data", delete=True), "finetuning.data", "error"),
    (
        "training data that `amlgen data` never writes",
        _set(JOB, "training_data", "path", value="../../data/ultrachat_200k/nope.jsonl"),
        "cross.data-missing",
        "error",
    ),
    ("training data as CSV (serverless)", _csv, "finetuning.data-format", "error"),
    ("training rows without messages", _rows, "cross.data-rows", "error"),
    (
        "no registered model output",
        _set(JOB, "outputs", delete=True),
        "finetuning.registered-model",
        "error",
    ),
    (
        "registered model name with a dot",
        _set(JOB, "outputs", "registered_model", "name", value="Phi-4.ft"),
        "azure.model-name",
        "error",
    ),
    (
        "registered model of the wrong type",
        _set(JOB, "outputs", "registered_model", "type", value="custom_model"),
        "finetuning.registered-model",
        "error",
    ),
    (
        "retired instance type",
        _set(JOB, "resources", "instance_types", value=["Standard_NC6s_v3"]),
        "azure.vm-retired",
        "error",
    ),
    (
        "bad cluster name",
        _set(JOB, "compute", value="gpu_cluster-1"),
        "azure.compute-name",
        "error",
    ),
    (
        "endpoint name over 32 characters",
        _set(ENDPOINT, "name", value="ultrachat-phi4-serverless-endpoint-x"),
        "azure.name",
        "error",
    ),
    (
        "endpoint name with _",
        _set(ENDPOINT, "name", value="phi4_serverless"),
        "azure.name",
        "error",
    ),
    (
        "registry model id with a version",
        _set(ENDPOINT, "model_id", value="azureml://registries/azureml/models/Phi-4/versions/8"),
        "serverless.model-id",
        "error",
    ),
    (
        "model id as a bare name",
        _set(ENDPOINT, "model_id", value="Phi-4-ft"),
        "serverless.model-id",
        "error",
    ),
    (
        "aml_token auth",
        _set(ENDPOINT, "auth_mode", value="aml_token"),
        "serverless.auth-mode",
        "error",
    ),
    (
        "aad auth, which the SDK does not send",
        _set(ENDPOINT, "auth_mode", value="aad"),
        "serverless.auth-not-sent",
        "warning",
    ),
    (
        "endpoint serves another version",
        _set(
            ENDPOINT,
            "model_id",
            value="azureml://locations/eastus2/workspaces/w/models/Phi-4-ultrachat-200k-serverless/versions/2",
        ),
        "cross.served-model",
        "error",
    ),
    ("managed fine-tune on a serverless endpoint", _managed, "cross.serving-path", "error"),
]


def _values(case: Any) -> tuple[Any, ...]:
    return tuple(case.values) if hasattr(case, "marks") else tuple(case)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("ft")
    shutil.copytree(ROOT / "params", project / "params")
    for rel, text in render(load_params("serverless", project)).items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text, encoding="utf-8")
    data = project / "data" / "ultrachat_200k"
    data.mkdir(parents=True)
    for split in ("train_sft", "test_sft"):
        (data / f"{split}.jsonl").write_text(json.dumps(CHAT_ROW) + "\n", encoding="utf-8")
    return project


def _variant(good: Path, tmp: Path, change: Callable[[Docs], None] | None) -> Path:
    project = tmp / "p"
    shutil.copytree(good, project)
    folder = project / "azureml" / "serverless"
    docs: Docs = {n: yaml.safe_load((folder / n).read_text()) for n in (JOB, ENDPOINT)}
    if change:
        change(docs)
    for name in (JOB, ENDPOINT):
        (folder / name).write_text(dump(docs[name]), encoding="utf-8")
    for name, text in docs.get("data", {}).items():
        (project / "data" / "ultrachat_200k" / name).write_text(str(text), encoding="utf-8")
    return folder


def amlgen_findings(folder: Path, sdk: bool = False) -> list[Any]:
    """What `amlgen validate <folder>` reports (the SDK's layer only when asked: it is slow)."""
    return validate_paths([folder], project_dir=folder.parent.parent, sdk=sdk).findings


def sdk_alone(folder: Path) -> bool:
    """True when the SDK's own loaders refuse the files."""
    from azure.ai.ml import load_job, load_serverless_endpoint

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            load_job(folder / JOB)
            load_serverless_endpoint(folder / ENDPOINT)
        except Exception:
            return True
    return False


def test_the_rendered_files_are_clean(good: Path, tmp_path: Path) -> None:
    folder = _variant(good, tmp_path, None)
    assert [f.text() for f in amlgen_findings(folder, sdk=True)] == []
    assert not sdk_alone(folder)


@pytest.mark.parametrize(
    ("name", "change", "code", "severity"),
    MISTAKES,
    ids=[str(_values(m)[0]) for m in MISTAKES],
)
def test_mistake(
    good: Path, tmp_path: Path, name: str, change: Callable[[Docs], None], code: str, severity: str
) -> None:
    folder = _variant(good, tmp_path, change)
    found = amlgen_findings(folder)
    assert any(f.code == code and f.severity == severity for f in found), [f.text() for f in found]


def test_mistake_table_against_the_sdk_alone(good: Path, tmp_path: Path) -> None:
    """The README's figures: how many of the table's mistakes each side catches."""
    caught_by_sdk = []
    for i, case in enumerate(MISTAKES):
        name, change = _values(case)[:2]
        folder = _variant(good, tmp_path / str(i), change)
        if sdk_alone(folder):
            caught_by_sdk.append(name)
    assert sorted(caught_by_sdk) == sorted(
        [
            "task in camel case",
            "task in kebab case",
            "hyper-parameter as a number",
            "registered model name with a dot",
        ]
    )
    assert len(MISTAKES) == 31

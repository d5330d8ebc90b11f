"""Check a submitted `type: finetuning` job the way the service does before it trains.

The SDK sends the job's `fineTuningDetails` as they are written (facts §12): the service, not
the client, refuses a model that does not fine-tune for the task or on serverless compute (at
submission: the PUT answers 400, as recorded), a hyper-parameter the chosen compute does not
take (or a value of the wrong type), and training or validation data that is not there (the job
fails). Messages follow the service's `UserError: ...` style.
"""

from __future__ import annotations

import re
from typing import Any

from .. import catalog
from ..catalog.uri import MODELS, parse_registry_uri
from ..finetuning import spec
from .jobcheck import JobProblem, SubmitProblem, check_data

# The wire's task values (camelCase) back to the YAML's snake case.
_TASKS = {re.sub(r"_(\w)", lambda m: m[1].upper(), t): t for t in spec.TASKS}
COMPONENT = "chat_completion_pipeline"


def _user(msg: str) -> JobProblem:
    return JobProblem("UserError", f"UserError: {msg}")


def compute_kind(props: dict[str, Any]) -> str:
    if props.get("computeId"):
        return "cluster"
    resources = props.get("resources") or {}
    if isinstance(resources, dict) and resources.get("instanceTypes"):
        return "instance_types"
    return "serverless"


def _allowed(kind: str) -> dict[str, str]:
    """Hyper-parameter name -> type for this compute kind."""
    if kind == "serverless":
        return dict(spec.SERVERLESS_HYPERPARAMETERS)
    inputs = catalog.all_component_inputs(COMPONENT)
    return {k: v.type for k, v in inputs.items() if v.is_literal and k != "task_name"}


def _check_value(name: str, kind: str, value: Any) -> None:
    text = str(value)
    try:
        if kind == "integer":
            int(text)
        elif kind == "number":
            float(text)
        elif kind == "boolean" and text.lower() not in ("true", "false"):
            raise ValueError(text)
    except ValueError:
        raise _user(
            f"fine-tuning job hyperparameter '{name}': expected {kind}, got '{text}'"
        ) from None


def check_finetuning_job(
    props: dict[str, Any], uploads: dict[str, Any], computes: dict[str, Any]
) -> None:
    """Raise JobProblem for the first problem the service would report; None when valid."""
    details = props.get("fineTuningDetails")
    if not isinstance(details, dict):
        raise _user("a FineTuning job needs fineTuningDetails")
    task = _TASKS.get(str(details.get("taskType") or ""))
    if task is None:
        raise SubmitProblem(
            "UserError", f"fine-tuning task '{details.get('taskType')}' is not supported"
        )
    model = details.get("model") or {}
    uri = str(model.get("uri") or "") if isinstance(model, dict) else ""
    m = parse_registry_uri(uri, MODELS)
    meta = catalog.model(m.name, m.version) if m and m.version and m.registry == "azureml" else None
    if meta is None:
        raise SubmitProblem("UserError", f"model {uri or '(none)'} was not found")
    kind = compute_kind(props)
    problems = spec.support_problems(meta.name, meta.version, "finetuning_job", kind, task)
    for _path, message in problems:
        raise SubmitProblem(
            "UserError", f"{meta.name} : not supported for this fine-tuning job: {message}"
        )
    if kind == "cluster" and str(props["computeId"]).rsplit("/", 1)[-1] not in computes:
        raise _user(f"compute '{props['computeId']}' was not found in the workspace")
    allowed = _allowed(kind)
    for name, value in (details.get("hyperParameters") or {}).items():
        if name not in allowed:
            raise _user(
                f"'{name}' is not a supported hyperparameter for {kind} fine-tuning of "
                f"{meta.name} (supported: {', '.join(sorted(allowed))})"
            )
        _check_value(name, allowed[name], value)
    training = details.get("trainingData")
    if not isinstance(training, dict) or not training.get("uri"):
        raise _user("training data is required for a fine-tuning job (trainingData)")
    check_data("fine-tuning job trainingData", training, uploads)
    validation = details.get("validationData")
    if isinstance(validation, dict) and validation.get("uri"):
        check_data("fine-tuning job validationData", validation, uploads)
    outputs = props.get("outputs") or {}
    registered = outputs.get("registered_model") if isinstance(outputs, dict) else None
    if not isinstance(registered, dict) or not registered.get("assetName"):
        raise _user("outputs.registered_model with a name is required (the model to register)")

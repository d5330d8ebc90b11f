"""Kind rules for `type: finetuning` jobs and serverless endpoints (hand-written or rendered).

What the SDK's schema lets through and the service rejects: a task the model does not
fine-tune for, a path (managed compute or serverless) the model does not offer, hyper-parameter
names the job does not take and values that do not parse as the input's type, training data
that is missing or not chat JSONL, registered-model and endpoint names Azure refuses, and a
serverless endpoint that does not serve the job's registered model. The rules themselves
(tasks, families, hyper-parameter sets) live in generator.finetuning.spec.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from .. import catalog, reading
from ..catalog.uri import MODELS, parse_registry_uri
from ..finetuning import spec
from ..limits import ASSET_NAME as MODEL_NAME
from ..limits import COMPUTE_NAME
from .assets import Asset
from .cross import CHAT_COMPONENT, check_chat_jsonl, missing_data
from .findings import AZURE, COMPONENT, CROSS, ERROR, INFO, WARNING, Finding, YamlPath, finding
from .rules import check_online_name, check_vm_size

COMPONENT_NAME = CHAT_COMPONENT
WORKSPACE_MODEL = re.compile(
    r"^azureml://locations/(?P<loc>[^/]+)/workspaces/(?P<ws>[^/]+)/models/(?P<name>[^/]+)"
    r"/versions/(?P<ver>[^/]+)$"
)
SERVERLESS_AUTH = ("key", "aad")
_URI = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def is_finetuning_job(asset: Asset) -> bool:
    return isinstance(asset.data, dict) and str(asset.data.get("type", "")).lower() == "finetuning"


def is_serverless_endpoint(asset: Asset) -> bool:
    if not isinstance(asset.data, dict) or "model_id" not in asset.data:
        return False
    schema = str(asset.data.get("$schema", "")).lower()
    return "serverlessendpoint" in schema or set(asset.data) <= {
        "$schema",
        "name",
        "model_id",
        "auth_mode",
        "description",
        "tags",
        "properties",
    }


def compute_kind(asset: Asset) -> str:
    """cluster (`compute:`), instance_types (`resources.instance_types`) or serverless."""
    if asset.get("compute"):
        return "cluster"
    if asset.get("resources", "instance_types"):
        return "instance_types"
    return "serverless"


def _f(asset: Asset, path: YamlPath, sev: str, code: str, msg: str, layer: int) -> Finding:
    return finding(asset, path, sev, code, msg, layer)


# --- the job ---------------------------------------------------------------------------------


def _model(asset: Asset, task: str, kind: str) -> list[Finding]:
    path: YamlPath = ("model", "path")
    raw = asset.get(*path)
    if raw is None and isinstance(asset.get("model"), str):
        path, raw = ("model",), asset.get("model")
    if not isinstance(raw, str):
        return [_f(asset, ("model",), ERROR, "finetuning.model", "model.path is required", AZURE)]
    m = parse_registry_uri(raw, MODELS)
    if not m:
        return []  # a workspace model or a job output: nothing bundled to compare with
    if not m.version:
        return [
            _f(
                asset,
                path,
                WARNING,
                "finetuning.model-unpinned",
                f"{raw}: no version pinned (a label moves): pin /versions/<v> so a reviewed file "
                "decides what runs",
                AZURE,
            )
        ]
    out: list[Finding] = []
    for where, message in spec.support_problems(m.name, m.version, "finetuning_job", kind, task):
        at = ("task",) if where.endswith(".task") else path
        code = "finetuning.task-unsupported" if where.endswith(".task") else "finetuning.path"
        what = "" if where.endswith(".task") else f" (this job runs on {kind} compute)"
        out.append(_f(asset, at, ERROR, code, message + what, CROSS))
    return out


def _value_problem(value: str, input_spec: catalog.InputSpec | None, name: str) -> str | None:
    """Why `value` does not parse as the hyper-parameter's type, or None."""
    expected = input_spec.type if input_spec else spec.SERVERLESS_HYPERPARAMETERS.get(name, "")
    if input_spec is not None and input_spec.enum is not None:
        if value not in input_spec.enum:
            return f"{value!r} is not one of {', '.join(input_spec.enum)}"
        return None
    number: float | None = None
    if expected in ("integer", "number"):
        try:
            number = int(value) if expected == "integer" else float(value)
        except ValueError:
            return f"{value!r} is not {'an integer' if expected == 'integer' else 'a number'}"
    if number is not None and input_spec is not None:
        if input_spec.min is not None and number < input_spec.min:
            return f"{value} is below the minimum {input_spec.min:g}"
        if input_spec.max is not None and number > input_spec.max:
            return f"{value} is above the maximum {input_spec.max:g}"
    return None


def _hyperparameters(asset: Asset, task: str, kind: str) -> list[Finding]:
    hps = asset.get("hyperparameters")
    if hps is None:
        return []
    if not isinstance(hps, dict):
        msg = "hyperparameters must be a mapping of names to strings"
        return [_f(asset, ("hyperparameters",), ERROR, "finetuning.hyperparameter", msg, COMPONENT)]
    if task != "chat_completion":
        msg = f"hyper-parameters are not checked for task {task} (no bundled interface)"
        return [_f(asset, ("hyperparameters",), INFO, "finetuning.unchecked", msg, COMPONENT)]
    inputs = catalog.all_component_inputs(COMPONENT_NAME)
    allowed = spec.allowed_hyperparameters(
        kind, {k: v for k, v in inputs.items() if v.is_literal and k != "task_name"}
    )
    out: list[Finding] = []
    for name, value in hps.items():
        path: YamlPath = ("hyperparameters", str(name))
        if name not in allowed:
            near = difflib.get_close_matches(str(name), allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            out.append(
                _f(
                    asset,
                    path,
                    ERROR,
                    "finetuning.hyperparameter-unknown",
                    f"{name!r} is not a hyper-parameter of {kind} fine-tuning jobs{hint} "
                    f"(allowed: {', '.join(allowed[:8])}{', ...' if len(allowed) > 8 else ''})",
                    COMPONENT,
                )
            )
            continue
        if not isinstance(value, str):
            shown = "true" if value is True else "false" if value is False else value
            out.append(
                _f(
                    asset,
                    path,
                    ERROR,
                    "finetuning.hyperparameter-type",
                    f'the service takes hyper-parameters as strings: write "{shown}" (quoted)',
                    COMPONENT,
                )
            )
            continue
        problem = _value_problem(value, inputs.get(str(name)), str(name))
        if problem:
            out.append(
                _f(
                    asset,
                    path,
                    ERROR,
                    "finetuning.hyperparameter-value",
                    f"{name}: {problem}",
                    COMPONENT,
                )
            )
    return out


def _compute(asset: Asset, kind: str) -> list[Finding]:
    out: list[Finding] = []
    if asset.get("compute") and asset.get("resources", "instance_types"):
        out.append(
            _f(
                asset,
                ("resources", "instance_types"),
                WARNING,
                "finetuning.compute",
                "both `compute` and `resources.instance_types`: the job runs on the cluster and "
                "the instance types are ignored; keep one",
                AZURE,
            )
        )
    if kind == "cluster":
        name = asset.get("compute")
        bare = str(name).removeprefix("azureml:")
        if isinstance(name, str) and not bare.startswith("/") and not COMPUTE_NAME.match(bare):
            out.append(
                _f(
                    asset,
                    ("compute",),
                    ERROR,
                    "azure.compute-name",
                    f"compute name {bare!r}: 3-24 letters, digits and hyphens, starting with a "
                    "letter, not ending in -<digits>",
                    AZURE,
                )
            )
    sizes = asset.get("resources", "instance_types")
    if isinstance(sizes, list):
        for i, size in enumerate(sizes):
            out += check_vm_size(asset, ("resources", "instance_types", i), size, "fine-tuning")
    return out


def _data(asset: Asset, task: str, kind: str) -> list[Finding]:
    out: list[Finding] = []
    for key in ("training_data", "validation_data"):
        raw = asset.get(key)
        path: YamlPath = (key,)
        if isinstance(raw, dict):
            path, raw = (key, "path"), raw.get("path")
        if raw is None:
            if key == "training_data":
                msg = "training_data is required: the job has nothing to fine-tune on"
                out.append(_f(asset, (key,), ERROR, "finetuning.data", msg, CROSS))
            continue
        text = str(raw)
        if _URI.match(text) and not text.lower().startswith("file:"):
            continue  # a data asset or a datastore URI: the service reads it
        # not resolved: a symlink's own name decides the format; reading follows it
        local = Path(os.path.abspath(asset.path.parent / text.removeprefix("file:")))
        if reading.kind_of(local) is None:
            out.append(missing_data(asset, path, local))
            continue
        if local.suffix.lower() != ".jsonl":
            sev = ERROR if kind == "serverless" else WARNING
            out.append(
                _f(
                    asset,
                    path,
                    sev,
                    "finetuning.data-format",
                    f"{text}: the fine-tuning job reads JSONL (one JSON object per line)",
                    CROSS,
                )
            )
            continue
        if task == "chat_completion":
            for sev, msg in check_chat_jsonl(local):
                out.append(_f(asset, path, sev, "cross.data-rows", msg, CROSS))
    return out


def _registered_model(asset: Asset) -> list[Finding]:
    out = asset.get("outputs", "registered_model")
    path: YamlPath = ("outputs", "registered_model")
    if not isinstance(out, dict):
        msg = (
            "outputs.registered_model is missing: the job registers the fine-tuned model "
            "there (name, type: mlflow_model)"
        )
        return [_f(asset, ("outputs",), ERROR, "finetuning.registered-model", msg, AZURE)]
    found: list[Finding] = []
    name = out.get("name")
    if not isinstance(name, str) or not name:
        msg = "outputs.registered_model.name is required"
        found.append(_f(asset, path, ERROR, "finetuning.registered-model", msg, AZURE))
    elif not MODEL_NAME.match(name):
        found.append(
            _f(
                asset,
                (*path, "name"),
                ERROR,
                "azure.model-name",
                f"model name {name!r}: letters, digits, '-' and '_' only, starting with a "
                "letter or digit (no dots or spaces)",
                AZURE,
            )
        )
    if out.get("type") not in (None, "mlflow_model"):
        msg = f"type {out.get('type')!r}: the fine-tuned model is an mlflow_model"
        found.append(_f(asset, (*path, "type"), ERROR, "finetuning.registered-model", msg, AZURE))
    return found


def check_job(asset: Asset) -> list[Finding]:
    task = str(asset.get("task") or "")
    out: list[Finding] = []
    if task not in spec.TASKS:
        near = difflib.get_close_matches(task.replace("-", "_").lower(), spec.TASKS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        out.append(
            _f(
                asset,
                ("task",),
                ERROR,
                "finetuning.task",
                f"task {task!r} is not a fine-tuning task{hint} (snake case: chat_completion, "
                "text_completion, ...)",
                COMPONENT,
            )
        )
        task = near[0] if near else task
    kind = compute_kind(asset)
    out += _model(asset, task, kind)
    out += _hyperparameters(asset, task, kind)
    out += _compute(asset, kind)
    out += _data(asset, task, kind)
    out += _registered_model(asset)
    return out


# --- the serverless endpoint and the set -----------------------------------------------------


def check_serverless_endpoint(asset: Asset) -> list[Finding]:
    out = check_online_name(asset, ("name",), "serverless endpoint")
    model_id = asset.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        msg = "model_id is required (the model the endpoint serves)"
        return [*out, _f(asset, ("model_id",), ERROR, "serverless.model-id", msg, AZURE)]
    m = parse_registry_uri(model_id, MODELS)
    if m and m.version:
        out.append(
            _f(
                asset,
                ("model_id",),
                ERROR,
                "serverless.model-id",
                f"{model_id}: a registry model is served by name, without /versions/<v> (the "
                "service refuses a version)",
                AZURE,
            )
        )
    elif not m and not WORKSPACE_MODEL.match(model_id):
        out.append(
            _f(
                asset,
                ("model_id",),
                ERROR,
                "serverless.model-id",
                f"{model_id!r}: expected azureml://registries/<r>/models/<m> or "
                "azureml://locations/<region>/workspaces/<id>/models/<name>/versions/<v>",
                AZURE,
            )
        )
    auth = asset.get("auth_mode")
    if auth is not None and auth not in SERVERLESS_AUTH:
        msg = f"auth_mode {auth!r}: a serverless endpoint takes key or aad"
        out.append(_f(asset, ("auth_mode",), ERROR, "serverless.auth-mode", msg, AZURE))
    elif auth == "aad":
        msg = (
            "auth_mode aad is not sent: the SDK, and az ml with it, sends a serverless endpoint's "
            "model_id, tags, sku and location only (azure-ai-ml 1.x), so the endpoint gets key "
            "auth; set Microsoft Entra ID auth on the endpoint in the portal or by REST"
        )
        out.append(_f(asset, ("auth_mode",), WARNING, "serverless.auth-not-sent", msg, AZURE))
    return out


def _served_model(asset: Asset) -> tuple[str, str] | None:
    if is_serverless_endpoint(asset):
        m = WORKSPACE_MODEL.match(str(asset.get("model_id") or ""))
        return (m["name"], m["ver"]) if m else None
    ref = str(asset.get("model") or "")
    m2 = re.fullmatch(r"azureml:(?P<name>[^:@/]+):(?P<ver>[^:@/]+)", ref)
    return (m2["name"], m2["ver"]) if m2 else None


def check_set(assets: list[Asset]) -> list[Finding]:
    """Every rule of this kind, file by file and across the set."""
    out: list[Finding] = []
    jobs = [a for a in assets if is_finetuning_job(a)]
    endpoints = [a for a in assets if is_serverless_endpoint(a)]
    for job in jobs:
        out += check_job(job)
    for endpoint in endpoints:
        out += check_serverless_endpoint(endpoint)
    if len(jobs) != 1:
        return out
    job = jobs[0]
    kind = compute_kind(job)
    produced = (
        str(job.get("outputs", "registered_model", "name") or ""),
        str(job.get("outputs", "registered_model", "version") or ""),
    )
    deployments = [a for a in assets if isinstance(a.data, dict) and "endpoint_name" in a.data]
    for server in [*endpoints, *deployments]:
        served = _served_model(server)
        if served is None or served[0] != produced[0]:
            continue
        where: YamlPath = ("model_id",) if server in endpoints else ("model",)
        if produced[1] and served[1] != produced[1]:
            out.append(
                _f(
                    server,
                    where,
                    ERROR,
                    "cross.served-model",
                    f"serves {served[0]} version {served[1]}, but {job.name} registers version "
                    f"{produced[1]}",
                    CROSS,
                )
            )
        wanted = spec.serving_kind("finetuning_job", kind)
        actual = "serverless" if server in endpoints else "managed"
        if wanted != actual:
            how = (
                "a serverless endpoint" if wanted == "serverless" else "a managed online deployment"
            )
            out.append(
                _f(
                    server,
                    where,
                    ERROR,
                    "cross.serving-path",
                    f"{job.name} fine-tunes on {kind} compute: its model is served on {how}",
                    CROSS,
                )
            )
    return out


def data_files(asset: Asset) -> list[Path]:
    """Local files a fine-tuning job uploads, resolved from the YAML's folder."""
    out: list[Path] = []
    for key in ("training_data", "validation_data"):
        raw: Any = asset.get(key)
        if isinstance(raw, dict):
            raw = raw.get("path")
        if isinstance(raw, str) and not (_URI.match(raw) and not raw.startswith("file:")):
            out.append(Path(os.path.realpath(asset.path.parent / raw.removeprefix("file:"))))
    return out

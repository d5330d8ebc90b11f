"""Check a submitted pipeline job the way the service does before it runs anything.

The SDK sends a registry component reference as a plain string and checks none of its inputs
(facts §2), so misspelled inputs, wrong types, enum and min violations, bindings to missing
pipeline inputs and missing data reach the service, which fails the job. This module finds
those problems from the bundled catalog and returns the service-like message.
"""

from __future__ import annotations

import re
from typing import Any

from .. import catalog
from ..catalog.uri import COMPONENTS, MODELS, parse_registry_uri

_DATASTORE = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.+)$",
    re.IGNORECASE,
)
_BINDING = re.compile(
    r"^\$\{\{\s*parent\.(?P<kind>inputs|outputs)\.(?P<name>[A-Za-z0-9_]+)\s*\}\}$"
)
_TRUE_FALSE = {"true", "false"}


class JobProblem(Exception):
    """A job the service would fail: `code` and a message in the service's style."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SubmitProblem(JobProblem):
    """A job the service refuses at submission: its PUT answers 400 with this code and message
    (recordings/: a registry asset the workspace cannot use, a model that does not fine-tune
    that way); every other problem lets the job be created and fail while it runs."""


def _user(msg: str) -> JobProblem:
    return JobProblem("UserError", f"UserError: {msg}")


def _check_literal(step: str, spec: catalog.InputSpec, value: str) -> None:
    where = f"pipeline step '{step}' input '{spec.name}'"
    if spec.type == "integer":
        try:
            number: float = int(value)
        except ValueError:
            raise _user(f"{where}: expected an integer, got '{value}'") from None
    elif spec.type == "number":
        try:
            number = float(value)
        except ValueError:
            raise _user(f"{where}: expected a number, got '{value}'") from None
    elif spec.type == "boolean":
        if value.lower() not in _TRUE_FALSE:
            raise _user(f"{where}: expected a boolean, got '{value}'")
        return
    else:
        if spec.enum is not None and value not in spec.enum:
            allowed = ", ".join(spec.enum)
            raise _user(f"{where}: '{value}' is not one of the allowed values [{allowed}]")
        return
    if spec.min is not None and number < spec.min:
        raise _user(f"{where}: {value} is less than the minimum {spec.min:g}")
    if spec.max is not None and number > spec.max:
        raise _user(f"{where}: {value} is greater than the maximum {spec.max:g}")


def check_pipeline_job(
    props: dict[str, Any],
    uploads: dict[str, Any],
    computes: dict[str, Any],
) -> None:
    """Raise JobProblem for the first problem the service would report; None when valid."""
    if props.get("jobType") != "Pipeline":
        return
    top_inputs: dict[str, Any] = props.get("inputs") or {}
    top_outputs: dict[str, Any] = props.get("outputs") or {}
    nodes: dict[str, Any] = props.get("jobs") or {}
    # The service resolves every step's registry component before it creates the job, so a
    # component it cannot use refuses the whole PUT, whatever else is wrong with the job
    # (recorded: a pipeline whose registry model input is unreachable too answers the
    # component's 400, test_pipeline_job_create_with_registry_model_as_input).
    for node in nodes.values():
        _resolve_component(str(node.get("componentId") or ""))
    for name, inp in top_inputs.items():
        check_data(f"pipeline input '{name}'", inp, uploads)
    for step, node in nodes.items():
        spec = _resolve_component(str(node.get("componentId") or ""))
        if spec is None:
            continue  # only registry components are bundled; anything else runs unchecked
        given: dict[str, Any] = node.get("inputs") or {}
        for name, inp in given.items():
            if name not in spec.inputs:
                raise _user(
                    f"pipeline step '{step}': '{name}' is not an input of component "
                    f"{spec.name}:{spec.version} (check the spelling; inputs are defined by the "
                    "component version)"
                )
            value = inp.get("value") if isinstance(inp, dict) else inp
            if isinstance(value, str):
                b = _BINDING.match(value)
                if b:
                    pool = top_inputs if b["kind"] == "inputs" else top_outputs
                    if b["name"] not in pool:
                        raise _user(
                            f"pipeline step '{step}' input '{name}' binds to "
                            f"parent.{b['kind']}.{b['name']}, which the pipeline does not define"
                        )
                    continue
                if spec.inputs[name].is_literal:
                    _check_literal(step, spec.inputs[name], value)
                if name.startswith("compute_"):
                    _check_compute(step, name, value, computes)
        for name, ispec in spec.inputs.items():
            if not ispec.optional and ispec.default is None and name not in given:
                raise _user(f"pipeline step '{step}': required input '{name}' is missing")
        _check_gpus(step, given, computes)
        for out in node.get("outputs") or {}:
            if out not in spec.outputs:
                raise _user(
                    f"pipeline step '{step}': '{out}' is not an output of component "
                    f"{spec.name}:{spec.version}"
                )


def _resolve_component(comp_id: str) -> catalog.ComponentSpec | None:
    """The bundled spec of a registry component reference; None for a workspace component;
    SubmitProblem when the registry does not hold it (or this workspace may not use it)."""
    m = parse_registry_uri(comp_id, COMPONENTS)
    if not m or not m.version:
        return None
    spec = catalog.component(m.name, m.version)
    if spec is None or m.registry != "azureml":
        raise SubmitProblem(
            "BadRequest",
            f"key: {comp_id}, Message: component {m.name}:{m.version} was not found in "
            f"registry '{m.registry}' (or this workspace may not use it)",
        )
    return spec


def check_data(where: str, inp: dict[str, Any], uploads: dict[str, Any]) -> None:
    uri = str(inp.get("uri") or "")
    kind = inp.get("jobInputType")
    if kind in ("uri_file", "uri_folder"):
        m = _DATASTORE.match(uri)
        if m:
            key = f"{m['ds']}/{m['path']}"
            found = (
                key in uploads
                if kind == "uri_file"
                else any(k.startswith(key.rstrip("/") + "/") for k in uploads)
            )
            if not found:
                raise JobProblem(
                    "UserError",
                    f"UserError: {where}: the data at {uri} does not exist "
                    "(ScriptExecution.StreamAccess.NotFound)",
                )
    elif kind in ("mlflow_model", "custom_model"):
        r = parse_registry_uri(uri, MODELS)
        if (
            r
            and r.version
            and (r.registry != "azureml" or catalog.model(r.name, r.version) is None)
        ):
            raise _user(f"{where}: model {uri} was not found in registry '{r.registry}'")


def _check_compute(step: str, name: str, value: str, computes: dict[str, Any]) -> None:
    if value == "serverless" or value in computes:
        return
    raise _user(
        f"pipeline step '{step}' input '{name}': compute '{value}' was not found in "
        "the workspace (create it first or use 'serverless')"
    )


def _check_gpus(step: str, given: dict[str, Any], computes: dict[str, Any]) -> None:
    """Processes per node cannot exceed the node's GPUs (the fine-tune launcher fails)."""

    def literal(name: str) -> str | None:
        inp = given.get(name)
        value = inp.get("value") if isinstance(inp, dict) else inp
        return value if isinstance(value, str) and not value.startswith("${{") else None

    gpus_wanted = literal("number_of_gpu_to_use_finetuning")
    target = literal("compute_finetune")
    if not gpus_wanted or not gpus_wanted.isdigit() or not target:
        return
    if target == "serverless":
        size = literal("instance_type_finetune")
    else:
        size = (
            (computes.get(target) or {}).get("properties", {}).get("properties", {}).get("vmSize")
        )
    vm = catalog.vm_size(size) if size else None
    if vm is not None and int(gpus_wanted) > vm.gpus:
        raise _user(
            f"pipeline step '{step}': number_of_gpu_to_use_finetuning={gpus_wanted} but "
            f"{vm.name} has {vm.gpus} GPU(s) per node"
        )

"""Layer 5: Azure's naming rules and limits, which the SDK does not check offline (facts §4-5)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from .. import catalog, limits
from .assets import Asset
from .findings import AZURE, ERROR, INFO, WARNING, Finding, YamlPath, finding
from .kinds import BATCH_ENDPOINT, COMPUTE, DEPLOYMENT, ENDPOINT, JOB_KINDS, MODEL, PIPELINE_JOB

_SERVERLESS_SIZE_INPUTS = (
    "instance_type_model_import",
    "instance_type_preprocess",
    "instance_type_finetune",
    "instance_type_model_evaluation",
)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def check_online_name(asset: Asset, path: YamlPath, what: str) -> list[Finding]:
    name = asset.get(*path)
    if not isinstance(name, str):
        return []
    problem = limits.online_name(name, what)  # the params model applies the same rule
    if problem:
        return [finding(asset, path, ERROR, "azure.name", problem, AZURE)]
    if name != name.lower():
        msg = (
            f"{what} name {name!r}: the SDK lower-cases it (Azure's names are case-insensitive), "
            f"so Azure shows {name.lower()!r}; write that to keep files and portal alike"
        )
        return [finding(asset, path, INFO, "azure.name-case", msg, AZURE)]
    return []


def check_vm_size(asset: Asset, path: YamlPath, size: Any, purpose: str) -> list[Finding]:
    """A VM size against the dated catalog: unknown but well-formed is a warning (Azure adds
    sizes; the live `list_sizes` decides), malformed or retired is an error."""
    if not isinstance(size, str) or not size or size.lower() == "serverless":
        return []
    known = catalog.vm_size(size)
    if known is None:
        names = {n.lower(): n for n in catalog.vm_size_names()}
        near = difflib.get_close_matches(size.lower(), list(names), n=1, cutoff=0.8)
        hint = f"; did you mean {names[near[0]]}?" if near else ""
        if not catalog.vm_size_well_formed(size):
            msg = (
                f"{size!r} for {purpose} is not an Azure VM size name (like Standard_E4s_v3){hint}"
            )
            return [finding(asset, path, ERROR, "azure.vm-size", msg, AZURE)]
        msg = (
            f"unknown VM size {size!r} for {purpose}: not in the catalog of "
            f"{catalog.vm_catalog_date()}{hint} (`az ml compute list-sizes` shows what your "
            "region offers)"
        )
        return [finding(asset, path, WARNING, "azure.vm-size", msg, AZURE)]
    if known.retired:
        repl = f"; use {known.replacement}" if known.replacement else ""
        return [
            finding(
                asset,
                path,
                ERROR,
                "azure.vm-retired",
                f"{known.name} ({known.gpu or 'CPU'}) was retired on {known.retired}{repl}",
                AZURE,
            )
        ]
    if known.retiring:
        repl = f"; move to {known.replacement}" if known.replacement else ""
        return [
            finding(
                asset,
                path,
                WARNING,
                "azure.vm-retiring",
                f"{known.name} ({known.gpu or 'CPU'}) is being retired{repl}",
                AZURE,
            )
        ]
    return []


def _endpoint(asset: Asset) -> list[Finding]:
    return check_online_name(asset, ("name",), "endpoint")


def _deployment(asset: Asset) -> list[Finding]:
    out = check_online_name(asset, ("name",), "deployment")
    out += check_online_name(asset, ("endpoint_name",), "endpoint")
    managed = asset.variant != "kubernetes"
    checks: list[tuple[YamlPath, str, limits.Bound]] = [
        (("instance_count",), "azure.instance-count", limits.INSTANCE_COUNT),
        (
            ("request_settings", "request_timeout_ms"),
            "azure.request-timeout",
            limits.REQUEST_TIMEOUT_MS,
        ),
        (
            ("request_settings", "max_concurrent_requests_per_instance"),
            "azure.request-settings",
            limits.MAX_CONCURRENT_REQUESTS,
        ),
    ]
    for path, code, bound in checks:
        if not managed and path[-1] == "request_timeout_ms":
            continue  # Kubernetes deployments allow longer timeouts
        problem = bound.problem(asset.get(*path))
        if problem:
            out.append(finding(asset, path, ERROR, code, f"{path[-1]} {problem}", AZURE))
    for probe in ("liveness_probe", "readiness_probe"):
        for key in limits.PROBE:
            problem = limits.probe(probe, key, asset.get(probe, key))
            if problem:
                msg = f"{probe}.{key} {problem}"
                out.append(finding(asset, (probe, key), ERROR, "azure.probe", msg, AZURE))
    env = asset.get("environment_variables")
    for key in env if isinstance(env, dict) else ():
        problem = limits.env_var_name(str(key))
        if problem:
            path = ("environment_variables", key)
            out.append(finding(asset, path, ERROR, "azure.env-var", problem, AZURE))
    if managed:  # a Kubernetes deployment names an instance type of its cluster, not a VM size
        out += check_vm_size(
            asset, ("instance_type",), asset.get("instance_type"), "the deployment"
        )
    model = asset.get("model")
    if (
        isinstance(model, str)
        and model.startswith("azureml:")
        and not model.startswith("azureml://")
    ):
        ref = model[len("azureml:") :]
        if ":" not in ref and "@" not in ref:
            out.append(
                finding(
                    asset,
                    ("model",),
                    ERROR,
                    "azure.model-version",
                    f"model {model!r} names no version: use azureml:{ref}:<version>",
                    AZURE,
                )
            )
    return out


def _compute(asset: Asset) -> list[Finding]:
    out: list[Finding] = []
    if asset.variant not in (None, "amlcompute", "computeinstance"):
        return out  # attached computes (Kubernetes, VMs, Synapse) have their own names and sizes
    name = asset.get("name")
    problem = limits.compute_name(name) if isinstance(name, str) else None
    if problem:
        out.append(finding(asset, ("name",), ERROR, "azure.name", problem, AZURE))
    lo, hi = _int(asset.get("min_instances")), _int(asset.get("max_instances"))
    if lo is not None and lo < 0:
        out.append(
            finding(
                asset,
                ("min_instances",),
                ERROR,
                "azure.compute-scale",
                f"min_instances must be 0 or more (got {lo})",
                AZURE,
            )
        )
    if hi is not None and hi < 1:
        out.append(
            finding(
                asset,
                ("max_instances",),
                ERROR,
                "azure.compute-scale",
                f"max_instances must be at least 1 (got {hi})",
                AZURE,
            )
        )
    if lo is not None and hi is not None and lo > hi:
        out.append(
            finding(
                asset,
                ("min_instances",),
                ERROR,
                "azure.compute-scale",
                f"min_instances {lo} is greater than max_instances {hi}",
                AZURE,
            )
        )
    out += check_vm_size(asset, ("size",), asset.get("size"), "the compute cluster")
    return out


def _model(asset: Asset) -> list[Finding]:
    out: list[Finding] = []
    name = asset.get("name")
    problem = limits.asset_name(name, "model") if isinstance(name, str) else None
    if problem and limits.registry_only_name(str(name)):
        msg = (
            f"model name {name!r} has a dot: a registry takes it (`az ml model create "
            "--registry-name R`), a workspace refuses it"
        )
        out.append(finding(asset, ("name",), WARNING, "azure.name-registry-only", msg, AZURE))
    elif problem:
        out.append(finding(asset, ("name",), ERROR, "azure.name", problem, AZURE))
    if asset.get("version") is None and "version" not in (asset.data or {}):
        out.append(
            finding(
                asset,
                ("name",),
                INFO,
                "azure.model-autoversion",
                "no version: Azure assigns the next number (deploy it by that number or "
                "@latest); pin one with `version:` or `--version` to name it in advance",
                AZURE,
            )
        )
    return out


def _job(asset: Asset) -> list[Finding]:
    out: list[Finding] = []
    name = asset.get("name")
    if name is not None:
        problem = limits.asset_name(str(name), "job")
        if problem:
            out.append(finding(asset, ("name",), ERROR, "azure.name", problem, AZURE))
        else:
            out.append(
                finding(
                    asset,
                    ("name",),
                    WARNING,
                    "azure.job-name",
                    "job names are unique per workspace: a committed `name` makes the "
                    "second submission fail; leave it out",
                    AZURE,
                )
            )
    if _serverless(asset.get("compute")):
        out += _instance_type(asset, (), "the job")
    texts = [
        (("experiment_name",), limits.experiment_name),
        (("display_name",), limits.display_name),
        (("description",), limits.description),
    ]
    for path, check in texts:
        value = asset.get(*path)
        problem = check(value) if isinstance(value, str) else None
        if problem:
            out.append(finding(asset, path, ERROR, "azure.name", problem, AZURE))
    if asset.kind == PIPELINE_JOB and isinstance(asset.get("jobs"), dict):
        default = asset.get("settings", "default_compute")
        for key, step in asset.get("jobs").items():
            if not isinstance(step, dict):
                continue
            compute = step.get("compute", default)
            if _serverless(compute) or (step.get("type") == "spark" and "compute" not in step):
                out += _instance_type(asset, ("jobs", key), f"step {key!r}")
            inputs = step.get("inputs")
            if not isinstance(inputs, dict):
                continue
            for inp in _SERVERLESS_SIZE_INPUTS:
                if isinstance(inputs.get(inp), str):
                    out += check_vm_size(
                        asset, ("jobs", key, "inputs", inp), inputs[inp], f"step {key!r} ({inp})"
                    )
    return out


def _serverless(compute: Any) -> bool:
    """No compute, or `serverless`: the job's `resources.instance_type` is then a VM size.

    On a named compute it may be a Kubernetes instance type, which is never a VM size.
    """
    return compute is None or (isinstance(compute, str) and compute.lower() == "serverless")


def _instance_type(asset: Asset, base: YamlPath, purpose: str) -> list[Finding]:
    path = (*base, "resources", "instance_type")
    return check_vm_size(asset, path, asset.get(*path), purpose)


def _batch_endpoint(asset: Asset) -> list[Finding]:
    return check_online_name(asset, ("name",), "batch endpoint")


# Per-kind rule sets; a kind without one gets the layers that apply to every file.
RULES: dict[str, Callable[[Asset], list[Finding]]] = {
    ENDPOINT: _endpoint,
    DEPLOYMENT: _deployment,
    BATCH_ENDPOINT: _batch_endpoint,
    COMPUTE: _compute,
    MODEL: _model,
    **dict.fromkeys(JOB_KINDS, _job),
}


def check_asset(asset: Asset) -> list[Finding]:
    rule = RULES.get(str(asset.kind))
    if rule is None or not isinstance(asset.data, dict):
        return []
    return rule(asset)

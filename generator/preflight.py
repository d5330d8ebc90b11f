"""Pre-flight: everything checked before a command spends money, in this one place.

In order: the rendered files match the params, the model is not retired, the offline validation
passes, the data files exist, the run stays within the params' budget (`check_budget`); then,
live through the backend's small read/create primitives (the same for `az ml` and the SDK):
the base model exists in its registry and allows the fine-tuning
size, the model version the run will register is free (a taken one would fail after the
training), Azure ML's quota in the workspace's region covers what the run adds, the region
offers its VM sizes (and, serverless, the model's fine-tuning and deployment) and its endpoint
counts stay under the limits (`generator/capacity.py`), and the cluster exists (created from
compute.yml when missing), is not Failed, has the rendered size and enough GPUs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import catalog, costs, footprint, lifecycle, pricing, reading
from .backends import Assets, Backend, FinetuneAssets
from .backends.readers import enum_value
from .billable import billable
from .capacity import Capacity, assess, context_for
from .catalog import lockfile
from .catalog.allow_lists import finetune_refusal, inference_warning
from .catalog.metadata import as_dict, version_entry
from .errors import WorkflowError
from .params import Resolved
from .rendering import render
from .workspace import Workspace

if TYPE_CHECKING:
    from .costs import Estimate

Warn = Callable[[str], None]


def stale_files(resolved: Resolved, project_dir: Path) -> list[str]:
    """Rendered files that differ from what the params render now (`missing` or `stale`)."""
    stale = []
    for rel, text in sorted(render(resolved).items()):
        current = reading.current_text(project_dir / rel, len(text.encode()), rel)
        if current != text:
            stale.append(f"{rel} ({'missing' if current is None else 'stale'})")
    return stale


def check_fresh(resolved: Resolved, project_dir: Path) -> None:
    """Refuse to act on rendered files that no longer match the params."""
    stale = stale_files(resolved, project_dir)
    if stale:
        raise WorkflowError(
            f"rendered files do not match the params: {', '.join(stale)}: run `make render` "
            "(amlgen render --all), review and commit, then retry"
        )


def check_lifecycle(resolved: Resolved, project_dir: Path, emulated: bool, warn: Warn) -> None:
    """A retired model is rejected by the service: refuse it before anything costs money.
    The local emulator may still rehearse it (it rehearses the flow, not the catalogue)."""
    p = resolved.params
    registry = lockfile.source(project_dir)
    meta = registry.model(p.model.name, p.model.version)
    if meta is None:
        return
    verdict = lifecycle.judge(meta, candidates=registry.candidates())
    why = verdict.refusal()
    if why is None:
        return
    if emulated:
        warn(f"warning: {verdict.message()}; rehearsing on the local emulator only")
        return
    raise WorkflowError(why)


def validate_offline(folder: Path, project_dir: Path) -> None:
    """The offline validation must pass before anything that costs money."""
    from .validation import validate_paths

    report = validate_paths([folder], project_dir=project_dir)
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        lines = [f.text() for f in errors]
        raise WorkflowError(
            "offline validation failed, nothing was submitted:\n" + "\n".join(lines)
        )


def check_data(assets: Assets, env: str, request: bool) -> None:
    """The files the job uploads (and the test request) exist."""
    missing = [p for p in assets.data_files() if not p.is_file()]
    if request and not assets.request_file.is_file():
        missing.append(assets.request_file)
    if missing:
        names = ", ".join(assets.rel(p) for p in missing)
        raise WorkflowError(f"data file(s) missing: {names}: run `amlgen data --env {env}` first")


def check_budget(
    resolved: Resolved,
    backend: Backend,
    ws: Workspace,
    project_dir: Path,
    warn: Warn,
    *,
    job: bool,
    hour: bool,
) -> Estimate | None:
    """The budget guard: refuse before anything is created when the run would exceed
    `budget.max_per_job` (a new job's ceiling) or `budget.max_per_hour` (what stays up), in one
    line with the figures. Prices: the API, else the lock (a dry run: the lock; the region read
    is listed). A price that cannot be known leaves its limit unchecked with one warning: like
    a quota that cannot be read, it does not block the run."""
    b = resolved.params.budget
    budget = b.model_copy(
        update={
            "max_per_job": b.max_per_job if job else None,
            "max_per_hour": b.max_per_hour if hour else None,
        }
    )
    if budget.max_per_job is None and budget.max_per_hour is None:
        return None
    notes: list[str] = []
    region = pricing.live_region(backend, resolved, notes, f"budget guard: {pricing.REGION_NOTE}")
    mode = costs.LOCK if backend.dry_run else costs.LIVE
    book = pricing.make_book(resolved, ws, project_dir, region, mode)
    est = costs.estimate(billable(resolved), book, None, budget)
    for line in [*notes, *book.notes]:
        warn(f"note: {line}")
    for line in book.warnings:
        warn(f"warning: {line}")
    cur = est.currency
    over = [c for c in est.checks() if c.over]
    if over:
        parts = []
        for c in over:
            unit = "/h" if c.limit == "max_per_hour" else ""
            parts.append(
                f"budget.{c.limit} is {costs.money(c.allowed, cur)}{unit}, the run costs "
                f"{costs.money(c.cost or 0, cur)}{unit} ({c.figures})"
            )
        where = f"{est.region}; prices: {'; '.join(est.sources())}"
        raise WorkflowError(
            f"over budget, nothing was created: {'; '.join(parts)} [{where}]: lower the "
            "counts or sizes, or raise the budget in params"
        )
    for c in est.checks():
        if c.cost is None:
            hourly = c.limit == "max_per_hour"
            lines = [ln for ln in est.unpriced if ln.use.stays_up == hourly]
            missing = ", ".join(costs.figure(ln, cur) for ln in lines)
            warn(f"warning: budget.{c.limit} not checked: {missing}")
    return est


# --- live ------------------------------------------------------------------------------------


def check_model_tags(tags: dict[str, Any], model: str, assets: Assets, warn: Warn) -> None:
    """The live registry's allow lists, by the validator's rule: refuse a fine-tuning size the
    model does not allow, warn about an inference size off its list."""
    entry = version_entry(tags)
    size = assets.finetune_size
    if size:
        why = finetune_refusal(size, entry.get("finetune_allow_list", ()), model)
        if why:
            raise WorkflowError(f"{model}: {why}")
    instance = str(assets.deployment.get("instance_type", ""))
    if instance:
        note = inference_warning(instance, entry.get("inference_allow_list", ()), model)
        if note:
            warn(f"warning: {model}: {note}")


def check_cluster(
    name: str, state: str | None, size: str, gpus: int | None, assets: Assets
) -> None:
    """Refuse a failed cluster, a size that is not the rendered one, or too few GPUs."""
    if state and enum_value(state).lower() == "failed":
        raise WorkflowError(f"compute {name}: provisioning state is Failed: fix or delete it")
    wanted = assets.finetune_size
    if wanted and size and size.lower() != wanted.lower():
        raise WorkflowError(
            f"compute {name}: exists with size {size}, but compute.yml asks for {wanted}"
        )
    requested = assets.gpus_requested
    # gpus None: the size's GPUs are unknown (the region check refuses a size it does not offer)
    if requested is not None and gpus is not None and requested > gpus:
        raise WorkflowError(
            f"compute {name}: number_of_gpu_to_use_finetuning is {requested} but {size} "
            f"has {gpus} GPU(s) per node"
        )


def check_model_free(backend: Backend, assets: Assets, job: str | None) -> None:
    """The model version the run will register must be free (or come from `job`, the recorded
    one): a taken one fails the registration after the training is paid for; a fine-tuning job
    registers it as its own last step, so there the job itself would fail."""
    info = backend.model_info(assets.model_name, assets.model_version)  # a dry run records it
    if backend.dry_run or info is None or (job and info.from_job(job)):
        return
    who = "the fine-tuning job would train, then fail to register it"
    if not isinstance(assets, FinetuneAssets):
        who = "the job would train, then its registration would fail"
    raise WorkflowError(
        f"model {assets.model_name} version {assets.model_version} already exists in the "
        f"workspace ({info.job_name or info.path or 'registered by hand'}): {who}; bump "
        "registered_model.version (or name) in params, `make render`, commit, and run again"
    )


PREFLIGHT_NOTE = "pre-flight: quota and regions"


def allowed_sizes(
    assets: Assets, project_dir: Path, tags: dict[str, Any] | None = None
) -> dict[str, tuple[str, ...]]:
    """The base model's allowed fine-tuning and inference sizes (the live registry's tags when
    read, else the lock or bundled catalog): where a shortfall's ways out look for another size."""
    if tags is not None:
        entry = version_entry(tags)
        return {
            "finetune": tuple(entry.get("finetune_allow_list", ())),
            "inference": tuple(entry.get("inference_allow_list", ())),
        }
    base = assets.base_model
    meta = lockfile.source(project_dir).model(base[1], base[2]) if base else None
    if meta is None:
        return {}
    return {"finetune": meta.finetune_allow_list, "inference": meta.inference_allow_list}


def registry_metadata(registry: dict[str, Any] | None) -> dict[str, Any]:
    """The registry model's `system_metadata`: the SDK's entity drops it, some registries echo
    it among the properties (as the online validation reads it)."""
    if not registry:
        return {}
    props = registry.get("properties") or {}
    return as_dict(registry.get("system_metadata")) or as_dict(props.get("system_metadata"))


def check_capacity(
    backend: Backend,
    assets: Assets,
    warn: Warn,
    *,
    new_job: bool = True,
    deploy: bool = True,
    existing: dict[tuple[str, str], dict[str, Any] | None] | None = None,
    registry: dict[str, Any] | None = None,
    known: Capacity | None = None,
) -> Capacity:
    """Quota, the region's VM sizes and serverless regions, and the endpoint counts: refuse,
    one line per shortfall, before anything is created. `known`: what the plan already read."""
    cap = known
    if cap is None:
        resources = footprint.of_documents(assets.documents())
        tags = (registry or {}).get("tags") if registry else None
        ctx = context_for(
            allowed_sizes(assets, assets.project_dir, tags),
            new_job=new_job,
            deploy=deploy,
            registry_meta=registry_metadata(registry),
        )
        ctx.existing.update(existing or {})
        cap = assess(backend.survey, resources, ctx, read=backend.read, note=PREFLIGHT_NOTE)
    for line in cap.warnings:
        warn(line)
    problems = cap.problems()
    if problems and not backend.dry_run:
        raise WorkflowError(
            "Azure would refuse this run, nothing was created:\n" + "\n".join(problems)
        )
    return cap


def check_live(
    backend: Backend,
    assets: Assets,
    warn: Warn,
    job: str | None = None,
    *,
    deploy: bool = True,
    capacity: Capacity | None = None,
) -> Capacity:
    """The registry model, the model version the run will register, quota and regions, then
    the cluster, through the backend's primitives (may create the cluster from compute.yml). In
    a dry run the primitives record their calls and return None. `job`: the recorded job a
    registered model may come from (None when a new job will be submitted); `deploy`: whether
    the run still creates its deployment; `capacity`: the plan's reading of quota, reused."""
    dry = backend.dry_run
    base = assets.base_model
    info = None
    if base:
        registry, name, version = base
        info = backend.read("registry_model", name, version=version, registry=registry)
        if not dry:
            if info is None:
                raise WorkflowError(f"model {name}:{version} not found in registry {registry}")
            check_model_tags(info.get("tags") or {}, f"{name}:{version}", assets, warn)
    check_model_free(backend, assets, job)
    cluster = assets.compute_name
    compute = backend.read("compute", cluster) if cluster else None
    existing = {("compute", cluster): compute} if cluster else {}
    cap = check_capacity(
        backend,
        assets,
        warn,
        new_job=job is None,
        deploy=deploy,
        existing=existing,
        registry=info,
        known=capacity,
    )
    if cluster is None:
        return cap
    if compute is None:
        if assets.compute and assets.compute.get("name") == cluster:
            compute = backend.create_compute(assets)
        elif not dry:
            raise WorkflowError(f"compute {cluster}: not found, and compute.yml does not define it")
    if dry:
        return cap
    compute = compute or {}
    size = str(compute.get("size") or assets.finetune_size or "")
    check_cluster(cluster, compute.get("provisioning_state"), size, gpus_of(size, cap), assets)
    return cap


def gpus_of(size: str, cap: Capacity) -> int | None:
    """GPUs per node: the region's list-sizes, else the VM catalog (when sizes were not read)."""
    live = cap.sizes.get(size.lower())
    if live is not None and live.gpus is not None:
        return live.gpus
    if cap.sizes:
        return None  # listed sizes without this one: the region check has refused it
    vm = catalog.vm_size(size)
    return vm.gpus if vm is not None else None

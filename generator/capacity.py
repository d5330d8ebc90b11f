"""Will Azure refuse? Quota, region and count limits of one run, read before anything is created.

`assess` reads, through a backend's `survey` primitive (the same for `az ml` and the SDK): the
workspace's region, the VM sizes that region offers (`list-sizes`: each size's quota family and
vCPUs) and Azure ML's quota there (`list-usage`: per family dedicated vCPUs, the regional total
shared by clusters, compute instances and online deployments, low priority as one number, the
cluster count), and, when the run adds one, how many endpoints the workspace has and how many
deployments its endpoint has. It compares them with what the rendered files consume
(`generator/footprint.py`). `Capacity.problems()` is one line per refusal, each naming what falls
short, by how much and the ways out; pre-flight raises them, `plan` prints every line.

Only certainties refuse: what an existing cluster or deployment of this environment already holds
may be part of what is in use, so it counts in our favour; a size or family nobody could tell is a
warning naming it; quota that cannot be read (no permission, an old API) is one warning and the
run goes on. What no reading can tell: capacity that is out in a region even with quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from . import footprint as fp
from .backends.base import TransientError
from .catalog import azure_limits
from .errors import AmlgenError
from .quota import OK, SHORT, UNKNOWN, QuotaLine, Sheet, compare, live_sizes, parse_usages

RETRIES = 4


class Survey(Protocol):
    """A backend's reads of the workspace's surroundings (`Backend.survey`)."""

    def __call__(
        self,
        what: str,
        *,
        location: str | None = None,
        endpoint: str | None = None,
        note: str | None = None,
    ) -> Any: ...


Read = Callable[..., "dict[str, Any] | None"]


@dataclass
class Capacity:
    """What `assess` found: the quota lines, region refusals, warnings, and what it read."""

    region: str | None = None
    lines: list[QuotaLine] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None  # why quota was not checked
    sizes: dict[str, fp.SizeInfo] = field(default_factory=dict)  # the region's, lower-cased

    @property
    def short(self) -> list[QuotaLine]:
        return [q for q in self.lines if q.status == SHORT]

    def problems(self) -> list[str]:
        """One line per reason Azure will refuse the run."""
        out = list(self.refusals)
        for q in self.short:
            where = f" in {self.region}" if self.region else ""
            needs = f"; needed by {'; '.join(q.by)}" if q.by else ""
            ways = f": {'; or '.join(q.ways_out)}" if q.ways_out else ""
            out.append(f"quota{where}: {q.text()}{needs}{ways}")
        return out

    def text_lines(self) -> list[str]:
        """The plan's quota section: one line per limit (`=` fits, `!` short, `?` unknown)."""
        if self.skipped and not self.lines:
            return [f"  ? quota: not checked: {self.skipped}"]
        out = [f"  quota in {self.region}:"] if self.lines else []
        sign = {OK: "=", SHORT: "!", UNKNOWN: "?"}
        for q in self.lines:
            out.append(f"    {sign[q.status]} {q.text()}")
            out += [f"        {way}" for way in q.ways_out]
        out += [f"  ! {r}" for r in self.refusals]
        out += [f"  {w}" for w in self.warnings]
        return out

    def markdown_lines(self) -> list[str]:
        if self.skipped and not self.lines:
            return [f"Quota not checked: {self.skipped}."]
        if not (self.lines or self.refusals or self.warnings):
            return []
        out = [f"**Quota in `{self.region}`**", "", "| | quota | needs | free | in use | limit |"]
        out.append("| --- | --- | --- | --- | --- | --- |")
        sign = {OK: "=", SHORT: "!", UNKNOWN: "?"}
        for q in self.lines:
            used = "?" if q.used is None else q.used
            free = "?" if q.free is None else q.free
            out.append(
                f"| {sign[q.status]} | {q.name} | {q.needed} | {free} | {used} | {q.limit} |"
            )
        notes = [f"- {line}" for line in [*self.problems(), *self.warnings]]
        return [*out, "", *notes] if notes else out

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "lines": [q.to_dict() for q in self.lines],
            "refusals": list(self.refusals),
            "warnings": list(self.warnings),
            "skipped": self.skipped,
        }


# --- reading -------------------------------------------------------------------------------------


def _call(survey: Survey, what: str, **where: Any) -> Any:
    """A survey read, retried while the service is busy or restarting."""
    delay = 0.5
    for attempt in range(RETRIES + 1):
        try:
            return survey(what, **where)
        except TransientError:
            if attempt == RETRIES:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
    raise AssertionError("unreachable")


def _why(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- assessing -----------------------------------------------------------------------------------


@dataclass
class Context:
    """What the caller already knows: live resources it read (None: absent; a key left out:
    not read), whether a new job will run, and the model's allowed sizes and serverless regions."""

    existing: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    new_job: bool = True
    deploy: bool = True
    allowed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # finetune, inference
    serverless_regions: tuple[str, ...] | None = None  # the registry's, when it says


def context_for(
    allowed: Mapping[str, tuple[str, ...]] | None = None,
    *,
    new_job: bool = True,
    deploy: bool = True,
    registry_meta: Mapping[str, Any] | None = None,
) -> Context:
    """A Context: the model's allowed sizes (for the ways out) and, when its registry metadata
    lists them (`maasFinetuning.maasFinetuningDeployRegions`), its serverless regions."""
    regions = None
    maas = (registry_meta or {}).get("maasFinetuning")
    listed = maas.get("maasFinetuningDeployRegions") if isinstance(maas, dict) else None
    if isinstance(listed, list) and listed:
        regions = tuple(str(r) for r in listed)
    return Context(
        new_job=new_job, deploy=deploy, allowed=dict(allowed or {}), serverless_regions=regions
    )


def _live(ctx: Context, read: Read | None, kind: str, name: str, **where: str) -> Any:
    key = (kind, name if "endpoint" not in where else f"{where['endpoint']}/{name}")
    if key not in ctx.existing and read is not None:
        ctx.existing[key] = read(kind, name, **where)
    return ctx.existing.get(key)


def _resources(
    resources: list[fp.Resource], ctx: Context, read: Read | None
) -> tuple[list[fp.Resource], dict[str, int | None]]:
    """The resources this run adds, sized from the live cluster when the files do not say,
    and which of them exist with the same size (their nodes or instances may be in use already:
    None for all of the resource, else the live deployment's instance count)."""
    out: list[fp.Resource] = []
    held: dict[str, int | None] = {}
    for res in resources:
        if res.during == fp.JOB and not ctx.new_job:
            continue  # the recorded job runs or ran: what it holds is in use already
        if res.during == fp.SERVING and not ctx.deploy:
            continue
        if res.kind in (fp.CLUSTER, fp.COMPUTE_INSTANCE):
            live = _live(ctx, read, "compute", res.name)
            if live:
                size = str(live.get("size") or "")
                if not res.sizes and size:
                    count = int(live.get("max_instances") or 1)
                    res = replace(res, sizes=(size,), count=count)
                if res.sizes and size.lower() == res.sizes[0].lower():
                    held[res.name] = None
        elif res.kind == fp.ONLINE_DEPLOYMENT:
            endpoint, _, dep = res.name.partition("/")
            live_ep = _live(ctx, read, "online_endpoint", endpoint)
            live = (
                _live(ctx, read, "online_deployment", dep, endpoint=endpoint) if live_ep else None
            )
            if live and str(live.get("instance_type", "")).lower() == res.sizes[0].lower():
                held[res.name] = int(live.get("instance_count") or 1)
        out.append(res)
    return out, held


def assess(
    survey: Survey,
    resources: list[fp.Resource],
    ctx: Context | None = None,
    read: Read | None = None,
    note: str | None = None,
) -> Capacity:
    """Read region, sizes and quota through `survey` and compare them with `resources`.

    In a dry run the survey records its reads and answers None: the result is then skipped.
    """
    ctx = ctx or Context()
    cap = Capacity()
    where = {"note": note} if note else {}
    try:
        region = _call(survey, "region", **where)
    except AmlgenError as exc:
        cap.skipped = f"the workspace's region could not be read ({_why(exc)})"
        cap.warnings.append(f"warning: quota and regions not checked: {cap.skipped}")
        return cap
    cap.region = str(region) if region else None
    location = cap.region or "<region>"
    quota_users = [r for r in resources if r.uses_quota]
    rows_sizes = rows_usage = None
    if quota_users:  # serverless needs neither: the service's capacity, its own regions
        try:
            rows_sizes = _call(survey, "sizes", location=location, **where)
        except AmlgenError as exc:
            cap.warnings.append(
                f"warning: the VM sizes of {location} could not be read ({_why(exc)}): sizes "
                "and vCPUs not checked against the region"
            )
        try:
            rows_usage = _call(survey, "usages", location=location, **where)
        except AmlgenError as exc:
            cap.skipped = f"quota could not be read ({_why(exc)})"
            cap.warnings.append(f"warning: quota not checked: {cap.skipped}; the run goes on")
    if cap.region is None:  # a dry run: the reads are recorded, nothing to compare
        cap.skipped = cap.skipped or "dry run"
        return cap
    if isinstance(rows_sizes, list):
        cap.sizes = live_sizes(rows_sizes, cap.region)
    _regions(cap, resources, ctx)
    todo, held = _resources(resources, ctx, read)
    _offered(cap, todo, ctx)
    if not isinstance(rows_usage, list):
        return cap
    sheet = Sheet(cap.region, cap.sizes, ctx.allowed)
    new_cluster = any(
        r.kind == fp.CLUSTER and ctx.existing.get(("compute", r.name), {}) is None for r in todo
    )
    compare(sheet, todo, held, parse_usages(rows_usage), new_cluster)
    cap.lines += sheet.lines
    cap.warnings += sheet.warnings
    cap.refusals += sheet.refusals
    _counts(cap, todo, survey, ctx, read, where)
    return cap


def _regions(cap: Capacity, resources: list[fp.Resource], ctx: Context) -> None:
    """Serverless fine-tuning and serverless deployment are offered in listed regions only."""
    region = azure_limits.normal_region(cap.region or "")
    tuned = False  # the run fine-tunes serverless here: its deployment's region follows
    for res in resources:
        if res.kind not in (fp.FINETUNE_SERVERLESS, fp.SERVERLESS_ENDPOINT) or not res.model:
            continue
        if not (ctx.new_job if res.during == fp.JOB else ctx.deploy):
            continue
        family = azure_limits.serverless_family(res.model)
        if res.kind == fp.FINETUNE_SERVERLESS:
            regions = ctx.serverless_regions or (family.finetune_regions if family else None)
            what = "serverless fine-tuning"
        else:
            regions = family.deploy_regions if family else None
            what = "serverless deployment of a fine-tuned model"
        if regions is None:
            if not tuned:  # a documented fine-tuning region stands for its deployment
                cap.warnings.append(
                    f"warning: {res.model}: the regions of its {what} are not known to amlgen: "
                    "not checked"
                )
            continue
        if region not in {azure_limits.normal_region(r) for r in regions}:
            source = (
                "the model's registry metadata"
                if ctx.serverless_regions
                else (family.source.text() if family else "")
            )
            cap.refusals.append(
                f"region: {what} of {res.model} is not offered in {cap.region}: use a "
                f"workspace in {', '.join(regions)} ({source})"
            )
            return  # one line: the first path that cannot run here
        tuned = tuned or res.kind == fp.FINETUNE_SERVERLESS


def _offered(cap: Capacity, resources: list[fp.Resource], ctx: Context) -> None:
    """Every VM size the run creates must be offered in the workspace's region."""
    if not cap.sizes:
        return
    for res in resources:
        if not res.uses_quota or not res.sizes:
            continue
        missing = [s for s in res.sizes if s.lower() not in cap.sizes]
        if not missing or len(missing) < len(res.sizes):
            continue
        purpose = "inference" if res.kind == fp.ONLINE_DEPLOYMENT else "finetune"
        here = [s for s in ctx.allowed.get(purpose, ()) if s.lower() in cap.sizes][:3]
        alt = f"an allowed size offered there ({', '.join(here)})" if here else "another size"
        cap.refusals.append(
            f"region: {res.title}: {', '.join(missing)} is not offered in {cap.region} "
            f"(compute.list_sizes): choose {alt}, or a workspace in a region that offers it"
        )


def _counts(
    cap: Capacity,
    todo: list[fp.Resource],
    survey: Survey,
    ctx: Context,
    read: Read | None,
    where: dict[str, Any],
) -> None:
    """The per-region endpoint count and the per-endpoint deployment count."""
    for res in todo:
        if res.kind != fp.ONLINE_DEPLOYMENT:
            continue
        endpoint = res.name.partition("/")[0]
        live_ep = ctx.existing.get(("online_endpoint", endpoint))
        try:
            if live_ep is None:
                names = _call(survey, "endpoints", **where) or []
                limit = azure_limits.ENDPOINTS_PER_REGION
                cap.lines.append(
                    QuotaLine(
                        "endpoints",
                        "online endpoints (counted in this workspace)",
                        1,
                        len(names),
                        limit.value,
                        unit="endpoints",
                    )
                )
            elif ctx.existing.get(("online_deployment", res.name)) is None:
                names = _call(survey, "deployments", endpoint=endpoint, **where) or []
                limit = azure_limits.DEPLOYMENTS_PER_ENDPOINT
                cap.lines.append(
                    QuotaLine(
                        "deployments",
                        f"deployments of endpoint {endpoint}",
                        1,
                        len(names),
                        limit.value,
                        unit="deployments",
                    )
                )
        except AmlgenError as exc:
            cap.warnings.append(f"warning: endpoint counts not checked ({_why(exc)})")
        short = cap.lines[-1] if cap.lines and cap.lines[-1].status == SHORT else None
        if short is not None and short.scope in ("endpoints", "deployments"):
            short.ways_out = [
                "delete endpoints you no longer need"
                if short.scope == "endpoints"
                else f"delete a deployment of {endpoint}, or name another endpoint"
            ]


__all__ = [
    "Capacity",
    "Context",
    "QuotaLine",
    "Survey",
    "assess",
    "context_for",
]

"""Quota arithmetic over what the service said: list-usage rows and list-sizes rows against
what a run adds (`generator/footprint.py`), one `QuotaLine` per limit it draws on.

Pure: `generator/capacity.py` reads the service and calls `compare`. Only certainties are
short: what an existing resource of the same size holds may be part of what is in use, so it
counts for the run (`QuotaLine.held`); a limit or usage the service did not report is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import footprint as fp
from .catalog import azure_limits

OK, SHORT, UNKNOWN = "ok", "short", "unknown"
_TOTAL = "totalclusterdedicatedregionalvcpus"
_LOW = "totalclusterlowpriorityregionalvcpus"
_CLUSTERS = ("clusters", "totalclusters")
# Where a params change fixes a count
_COUNT_KEY = {
    fp.CLUSTER: "compute.max_instances",
    fp.SERVERLESS_STEP: "compute.nodes",
    fp.ONLINE_DEPLOYMENT: "deployment.instance_count",
}


@dataclass
class QuotaLine:
    """One limit the run draws on: what it needs, what is in use, the limit."""

    scope: str  # family | total | low_priority | clusters | endpoints | deployments
    name: str
    needed: int
    used: int | None
    limit: int | None
    held: int = 0  # of `used`, what may already be this environment's own (counts for us)
    by: list[str] = field(default_factory=list)
    ways_out: list[str] = field(default_factory=list)
    unit: str = "vCPUs"

    @property
    def free(self) -> int | None:
        if self.limit is None or self.limit < 0:
            return None
        return self.limit - (self.used or 0)

    @property
    def available(self) -> int | None:
        """What the run may use: free, plus what of the use may be its own."""
        free = self.free
        return None if free is None else free + min(self.used or 0, self.held)

    @property
    def status(self) -> str:
        available = self.available
        if available is None:
            return UNKNOWN
        return SHORT if self.needed > available else OK

    def text(self) -> str:
        """`standardNCADSA100v4Family: needs 24 of 72 free (24 in use, limit 96)`."""
        if self.limit is None:
            return f"{self.name}: needs {self.needed} {self.unit}, no limit reported"
        if self.limit < 0:
            return f"{self.name}: needs {self.needed} {self.unit}, no limit"
        own = (
            f" + up to {min(self.used or 0, self.held)} its own" if self.held and self.used else ""
        )
        if self.used is None:
            return (
                f"{self.name}: needs {self.needed} of {self.limit} {self.unit} "
                "(in use not reported: checked against the limit)"
            )
        return (
            f"{self.name}: needs {self.needed} of {self.free}{own} free {self.unit} "
            f"({self.used} in use, limit {self.limit})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "name": self.name,
            "unit": self.unit,
            "needed": self.needed,
            "in_use": self.used,
            "limit": self.limit,
            "free": self.free,
            "held": self.held,
            "status": self.status,
            "by": list(self.by),
            "ways_out": list(self.ways_out),
        }


def live_sizes(rows: list[dict[str, Any]], region: str) -> dict[str, fp.SizeInfo]:
    """list-sizes rows (`name`, `family`, `cores`, `gpus`) by lower-cased name."""
    out: dict[str, fp.SizeInfo] = {}
    for row in rows:
        name = str(row.get("name") or "")
        if not name:
            continue
        cores, gpus = row.get("cores"), row.get("gpus")
        out[name.lower()] = fp.SizeInfo(
            name,
            str(row["family"]) if row.get("family") else None,
            int(cores) if isinstance(cores, int) and cores > 0 else None,
            int(gpus) if isinstance(gpus, int) else None,
            f"compute.list_sizes in {region}",
        )
    return out


@dataclass
class Usages:
    """list-usage rows: per family dedicated vCPUs, the totals, the cluster count."""

    families: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    total: tuple[int | None, int | None] | None = None
    low_priority: tuple[int | None, int | None] | None = None
    clusters: tuple[int | None, int | None] | None = None
    any_used: bool = False


def parse_usages(rows: list[dict[str, Any]]) -> Usages:
    """The subscription's rows for the region (workspace and per-cluster rows are left out;
    per-family low-priority rows report -1: low priority is limited by its total only)."""
    out = Usages()
    for row in rows:
        name = str(row.get("name") or "")
        rid = str(row.get("id") or "")
        if not name or "/workspaces/" in rid.lower():
            continue
        used = row.get("used")
        limit = row.get("limit")
        pair = (
            int(used) if isinstance(used, int) else None,
            int(limit) if isinstance(limit, int) else None,
        )
        out.any_used |= pair[0] is not None
        flat = "".join(c for c in name.lower() if c.isalnum())
        kind = str(row.get("type") or "").lower()
        if flat == _TOTAL or kind.endswith("/dedicatedcores/usages"):
            out.total = pair
        elif flat == _LOW or kind.endswith("/lowprioritycores/usages"):
            out.low_priority = pair
        elif flat in _CLUSTERS:
            out.clusters = pair
        elif "lowpriority" not in flat:
            out.families[azure_limits.family_key(name)] = pair
    return out


def _held_cores(res: fp.Resource, instances: int | None, per_node: int) -> int:
    if instances is None:
        return fp.cores(res, res.sizes[0], per_node)
    return fp.reserved_instances(res.sizes[0], instances) * per_node


@dataclass
class Sheet:
    """What `compare` found: a line per limit, warnings and refusals, one line each."""

    region: str
    sizes: dict[str, fp.SizeInfo]
    allowed: Mapping[str, tuple[str, ...]]
    lines: list[QuotaLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def compare(
    sheet: Sheet,
    todo: list[fp.Resource],
    held: dict[str, int | None],
    usage: Usages,
    new_cluster: bool = False,
) -> Sheet:
    """Per quota family (dedicated), the regional total, low priority and the cluster count:
    what `todo` needs against what list-usage says. `held`: resources that exist with the same
    size (None: all of it; else the live deployment's instance count), whose use counts for us."""
    cap = sheet
    lookup = fp.sizes_from(cap.sizes)
    todo = _choose(cap, todo, lookup, usage)
    needs = fp.family_needs(todo, lookup)
    cap.warnings += [f"warning: quota not checked for {u}" for u in needs.unknown]
    if not usage.any_used and (usage.families or usage.total):
        cap.warnings.append(
            "warning: the quota reading gave no current usage (`az ml compute list-usage` "
            "prints none with this SDK): checked against the limits only"
        )
    own_total = 0
    for need in needs.needs:
        own = 0
        for res in need.resources:
            info = lookup(res.sizes[0])
            if res.name in held and info is not None and info.cores:
                own += _held_cores(res, held[res.name], info.cores)
        if need.tier == fp.DEDICATED:
            own_total += own
            pair = usage.families.get(azure_limits.family_key(need.family))
            if pair is None:
                cap.warnings.append(
                    f"warning: quota family {need.family} ({'; '.join(need.by)}) is not in "
                    f"list-usage for {cap.region}: not checked"
                )
                continue
            line = QuotaLine("family", need.family, need.cores, pair[0], pair[1], own, need.by)
            cap.lines.append(line)
            if line.status == SHORT:
                line.ways_out = _ways_out(cap, line, need, lookup, usage)
    if needs.dedicated and usage.total:
        used, limit = usage.total
        name = "total regional dedicated vCPUs"
        cap.lines.append(QuotaLine("total", name, needs.dedicated, used, limit, own_total))
        if cap.lines[-1].status == SHORT:
            cap.lines[-1].ways_out = [f"request a higher regional total in {cap.region}"]
    if needs.low_priority:
        if usage.low_priority:
            used, limit = usage.low_priority
            name = "total regional low-priority vCPUs"
            line = QuotaLine("low_priority", name, needs.low_priority, used, limit)
            cap.lines.append(line)
            if line.status == SHORT:
                line.ways_out = ["request low-priority quota", "use tier: dedicated"]
        else:
            cap.warnings.append("warning: list-usage gave no low-priority total: not checked")
    if usage.clusters and new_cluster:
        used, limit = usage.clusters
        cap.lines.append(QuotaLine("clusters", "clusters", 1, used, limit, unit="clusters"))
    return cap


def _choose(
    cap: Sheet, todo: list[fp.Resource], lookup: Callable[[str], Any], usage: Usages
) -> list[fp.Resource]:
    """A resource whose service picks one of several sizes needs quota for one that fits:
    the first with room; none with room is a refusal."""
    out: list[fp.Resource] = []
    for res in todo:
        if len(res.sizes) <= 1:
            out.append(res)
            continue
        fits: list[str] = []
        for size in res.sizes:
            info = lookup(size)
            pair = usage.families.get(azure_limits.family_key(info.family)) if info else None
            if info is None or pair is None or not info.cores:
                continue
            line = QuotaLine("family", str(info.family), fp.cores(res, size, info.cores), *pair)
            if line.status != SHORT:
                fits.append(size)
        if fits:
            out.append(replace(res, sizes=(fits[0],)))
        else:
            cap.refusals.append(
                f"quota in {cap.region}: {res.title}: none of {', '.join(res.sizes)} has the "
                "quota free for it: request more quota for one of their families"
            )
    return out


def _ways_out(
    cap: Sheet,
    line: QuotaLine,
    need: fp.Need,
    lookup: Callable[[str], fp.SizeInfo | None],
    usage: Usages,
) -> list[str]:
    ways = [f"request more {need.family} quota in {cap.region}"]
    available = line.available or 0
    for res in need.resources:
        size = res.sizes[0]
        info = lookup(size)
        if info is None or not info.cores:
            continue
        purpose = "inference" if res.kind == fp.ONLINE_DEPLOYMENT else "finetune"
        for alt in cap.allowed.get(purpose, ()):
            other = lookup(alt)
            if other is None or not other.family or not other.cores or alt.lower() == size.lower():
                continue
            if cap.sizes and alt.lower() not in cap.sizes:
                continue
            key = azure_limits.family_key(other.family)
            if key == azure_limits.family_key(need.family):
                continue
            pair = usage.families.get(key)
            if pair is None or pair[1] is None:
                continue
            room = QuotaLine("family", other.family, fp.cores(res, alt, other.cores), *pair)
            if room.status == OK:
                ways.append(f"{alt} ({other.family}, {room.free} free) for {res.title}")
                break
        param = _COUNT_KEY.get(res.kind)
        if param and res.count > 1:
            rest = need.cores - fp.cores(res, size, info.cores)
            fit = max(
                (
                    k
                    for k in range(1, res.count)
                    if rest + fp.cores(replace(res, count=k), size, info.cores) <= available
                ),
                default=0,
            )
            if fit:
                ways.append(
                    f"{param}: {fit} (fewer {'instances' if purpose == 'inference' else 'nodes'})"
                )
    return ways


__all__ = [
    "OK",
    "SHORT",
    "UNKNOWN",
    "QuotaLine",
    "Sheet",
    "Usages",
    "compare",
    "live_sizes",
    "parse_usages",
]

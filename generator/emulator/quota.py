"""The emulator's quota and its region's VM sizes, as Azure ML answers and enforces them.

`list-usage` (`GET .../locations/{loc}/usages`) answers the subscription's rows in the shape of
the SDK's generated `Usage` model and the REST spec's example (`Usage/list.json`): a `Clusters`
count, `Total Cluster Dedicated Regional vCPUs`, one `<Family> Cluster Dedicated vCPUs` row per
quota family, `Total Cluster LowPriority Regional vCPUs`. No real traffic of these routes is
recorded (see recordings/README.md): the generated models are the reference.

What is in use is what the `quota` faults say plus what the emulator's own online deployments
reserve (their instances, 20 % more on sizes not exempt; catalog.azure_limits). Limits default
to a generous rehearsal subscription; `{fault: quota, family: F, limit: N, used: N}` sets one.
A cluster whose nodes could exceed its family's free vCPUs, or a deployment that would, is
refused with the service's messages; `{fault: region_sizes, drop: [...]}` takes sizes off.
"""

from __future__ import annotations

from typing import Any

from .. import catalog
from ..catalog import azure_limits
from .arm import PROVIDER, ApiError
from .arm import Service as Api

FAMILY_LIMIT = 1000
TOTAL_LIMIT = 2000
LOW_PRIORITY_LIMIT = 1000
CLUSTERS_LIMIT = 200
TOTAL, LOW = "total", "low_priority"
_HOLDING = ("Creating", "Updating", "Succeeded")


def dropped(api: Api) -> set[str]:
    return {s.lower() for rule in api.faults.lasting("region_sizes") for s in rule["drop"]}


def offered(api: Api, size: str) -> bool:
    """Whether the workspace's region offers `size` (a current catalog size not dropped)."""
    vm = catalog.vm_size(size)
    return vm is not None and not vm.retired and size.lower() not in dropped(api)


def size_rows(api: Api) -> list[dict[str, Any]]:
    """What `list_sizes` answers: the region's sizes, with family and vCPUs where the
    published tables (catalog.azure_limits) give them, omitted where they do not."""
    out = []
    gone = dropped(api)
    for name in catalog.vm_size_names():
        vm = catalog.vm_size(name)
        assert vm is not None
        if vm.retired or name.lower() in gone:
            continue
        row: dict[str, Any] = {"name": vm.name, "gpus": vm.gpus}
        known = azure_limits.size(name)
        if known is not None:
            row.update(family=known.family, vCPUs=known.cores)
        row.update(
            lowPriorityCapable=True,
            premiumIO=True,
            supportedComputeTypes=["AmlCompute", "ComputeInstance"],
        )
        out.append(row)
    return out


def _rules(api: Api) -> dict[str, dict[str, Any]]:
    """family key (or total / low_priority) -> its quota rule, the latest winning."""
    out: dict[str, dict[str, Any]] = {}
    for rule in api.faults.lasting("quota"):
        family = str(rule["family"])
        key = family.lower() if family.lower() in (TOTAL, LOW) else azure_limits.family_key(family)
        out[key] = rule
    return out


def _families(api: Api) -> dict[str, str]:
    """family key -> the family's name, for every family the tables or the faults name."""
    names = {azure_limits.family_key(s.family): s.family for s in azure_limits.SIZES.values()}
    for rule in api.faults.lasting("quota"):
        family = str(rule["family"])
        if family.lower() not in (TOTAL, LOW):
            names.setdefault(azure_limits.family_key(family), family)
    return names


def _deployments_use(api: Api) -> dict[str, int]:
    """family key -> vCPUs the emulator's live online deployments reserve."""
    out: dict[str, int] = {}
    for deps in api.data["deployments"].values():
        for dep in deps.values():
            props = dep.get("properties") or {}
            if props.get("provisioningState") not in _HOLDING:
                continue
            size = str(props.get("instanceType") or "")
            known = azure_limits.size(size)
            if known is None:
                continue
            count = int((dep.get("sku") or {}).get("capacity") or 1)
            key = azure_limits.family_key(known.family)
            cores = azure_limits.reserved_instances(size, count) * known.cores
            out[key] = out.get(key, 0) + cores
    return out


def state(api: Api) -> dict[str, tuple[int, int]]:
    """key -> (used, limit) for every family, the dedicated total and low priority."""
    rules = _rules(api)
    deployed = _deployments_use(api)
    out: dict[str, tuple[int, int]] = {}
    for key in _families(api):
        rule = rules.get(key, {})
        used = int(rule.get("used", 0)) + deployed.get(key, 0)
        out[key] = (used, int(rule.get("limit", FAMILY_LIMIT)))
    total = rules.get(TOTAL, {})
    used = int(total.get("used", 0)) + sum(u for u, _ in out.values())
    out[TOTAL] = (used, int(total.get("limit", TOTAL_LIMIT)))
    low = rules.get(LOW, {})
    out[LOW] = (int(low.get("used", 0)), int(low.get("limit", LOW_PRIORITY_LIMIT)))
    return out


def _row(sub: str, region: str, kind: str, name: str, used: int, limit: int) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}/usages/{name.replace(' ', '_')}",
        "amlWorkspaceLocation": region,
        "type": f"{PROVIDER}/{kind}/usages",
        "unit": "Count",
        "currentValue": used,
        "limit": limit,
        "name": {"value": name, "localizedValue": name},
    }


def _display(family: str) -> str:
    """`standardNCADSA100v4Family` -> `Standard NCADSA100v4 Family` (the rows' spelling)."""
    core = family.removeprefix("standard").removesuffix("Family")
    return f"Standard {core} Family"


def usage_rows(api: Api, sub: str, region: str) -> list[dict[str, Any]]:
    """list-usage for `region`: the workspace's region as the faults set it, others default."""
    if region.lower() != api.region:
        numbers: dict[str, tuple[int, int]] = {k: (0, FAMILY_LIMIT) for k in _families(api)}
        numbers[TOTAL], numbers[LOW] = (0, TOTAL_LIMIT), (0, LOW_PRIORITY_LIMIT)
    else:
        numbers = state(api)
    clusters = len(api.data["computes"]) if region.lower() == api.region else 0
    rows = [_row(sub, region, "totalCores", "Clusters", clusters, CLUSTERS_LIMIT)]
    used, limit = numbers[TOTAL]
    rows.append(
        _row(sub, region, "dedicatedCores", "Total Cluster Dedicated Regional vCPUs", used, limit)
    )
    for key, family in sorted(_families(api).items()):
        used, limit = numbers[key]
        label = f"{_display(family)} Cluster Dedicated vCPUs"
        rows.append(_row(sub, region, "vmFamily", label, used, limit))
    used, limit = numbers[LOW]
    label = "Total Cluster LowPriority Regional vCPUs"
    rows.append(_row(sub, region, "lowPriorityCores", label, used, limit))
    return rows


def check_cluster(api: Api, size: str, nodes: int, low_priority: bool) -> None:
    """A cluster whose nodes would exceed the free vCPUs of its family (or the total)."""
    known = azure_limits.size(size)
    if known is None:
        return
    numbers = state(api)
    wanted = nodes * known.cores
    key = LOW if low_priority else azure_limits.family_key(known.family)
    label = (
        "Total Cluster LowPriority Regional vCPUs"
        if low_priority
        else f"{_display(known.family)} Cluster Dedicated vCPUs"
    )
    for k, what in ((key, label), (TOTAL, "Total Cluster Dedicated Regional vCPUs")):
        if low_priority and k == TOTAL:
            continue
        used, limit = numbers[k]
        if used + wanted > limit:
            raise ApiError(
                400,
                "QuotaExceeded",
                f"Operation results in exceeding quota limits of {what}. Maximum allowed: "
                f"{limit}, Current in use: {used}, Additional requested: {wanted}.",
            )


def check_deployment(api: Api, sub: str, size: str, instances: int, had: int = 0) -> None:
    """A deployment whose reservation exceeds its family's free vCPUs (`had`: the instances the
    same deployment holds already, before an update)."""
    known = azure_limits.size(size)
    if known is None:
        return
    numbers = state(api)
    key = azure_limits.family_key(known.family)
    reserve = azure_limits.reserved_instances(size, instances) * known.cores
    held = azure_limits.reserved_instances(size, had) * known.cores if had else 0
    used, limit = numbers[key]
    needed = reserve - held
    if used + needed > limit:
        raise ApiError(
            400,
            "BadArgument",
            f"Not enough quota available for {known.name} in SubscriptionId {sub}. Current "
            f"usage/limit: {used}/{limit}. Additional needed: {needed} Please see troubleshooting "
            "guide, available here: https://aka.ms/oe-tsg#error-outofquota",
        )


def not_offered(api: Api, size: str, what: str) -> ApiError:
    return ApiError(
        400,
        "BadRequest",
        f"The VM size '{size}' is not supported for {what} in region {api.region}.",
    )

"""What an environment consumes (generator/footprint.py), the quota arithmetic over what the
service says (generator/quota.py) and the published numbers they rest on (azure_limits.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import footprint as fp
from generator.catalog import azure_limits
from generator.params import load_params
from generator.quota import SHORT, Sheet, compare, live_sizes, parse_usages
from generator.rendering import render

ROOT = Path(__file__).resolve().parent.parent
A100 = "Standard_NC24ads_A100_v4"
A100_FAMILY = "standardNCADSA100v4Family"


def resources(env: str, overrides: tuple[str, ...] = ()) -> list[fp.Resource]:
    resolved = load_params(env, ROOT, list(overrides))
    return fp.of_rendered(render(resolved), env)


def by_kind(res: list[fp.Resource]) -> dict[str, fp.Resource]:
    return {r.kind: r for r in res}


# --- the published numbers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "instances", "reserved"),
    [
        # facts §14: exempt sizes reserve exactly their instances ...
        (A100, 1, 1),
        (A100, 3, 3),
        ("Standard_ND96isr_H100_v5", 2, 2),
        # ... the others ceil(1.2 x instances): 1 -> 2, 3 -> 4, 5 -> 6 (not 7: no float error)
        ("Standard_DS3_v2", 1, 2),
        ("Standard_DS3_v2", 3, 4),
        ("Standard_DS3_v2", 5, 6),
        ("Standard_DS3_v2", 10, 12),
    ],
)
def test_online_deployments_reserve_what_facts_14_says(
    size: str, instances: int, reserved: int
) -> None:
    assert fp.reserved_instances(size, instances) == reserved
    deployment = fp.Resource(fp.ONLINE_DEPLOYMENT, "ep/d", "deployment.yml", (size,), instances)
    info = fp.table_sizes(size)
    assert info is not None and info.cores
    assert fp.cores(deployment, size, info.cores) == reserved * info.cores


def test_every_published_number_names_its_source() -> None:
    for spec in azure_limits.SIZES.values():
        assert spec.cores > 0 and spec.family and spec.source.doc and spec.source.read
    for family in azure_limits.SERVERLESS:
        assert family.finetune_regions and family.source.read
    assert azure_limits.size("standard_nc24ads_a100_v4") == azure_limits.SIZES[A100.lower()]
    assert azure_limits.exempt("STANDARD_NC24ADS_A100_V4")
    assert not azure_limits.exempt("Standard_DS3_v2")


@pytest.mark.parametrize(
    "spelling",
    [
        "standardNCADSA100v4Family",  # list-sizes' family
        "Standard NCADSA100v4 Family Cluster Dedicated vCPUs",  # list-usage's row name
        "Standard_NCADSA100v4_Family_Cluster_Dedicated_vCPUs",  # the row's id
    ],
)
def test_a_quota_family_has_one_key_however_it_is_spelled(spelling: str) -> None:
    assert azure_limits.family_key(spelling) == azure_limits.family_key(A100_FAMILY)
    assert azure_limits.family_key("NDASv4_A100") == azure_limits.family_key(
        "Standard NDASv4_A100 Family Cluster Dedicated vCPUs"
    )


# --- footprints of the shipped environments -----------------------------------------------------


def test_dev_holds_its_cluster_while_the_job_runs_and_its_deployment_until_deleted() -> None:
    res = by_kind(resources("dev"))
    cluster, deployment = res[fp.CLUSTER], res[fp.ONLINE_DEPLOYMENT]
    assert (cluster.name, cluster.sizes, cluster.count, cluster.tier) == (
        "gpu-a100",
        (A100,),
        1,
        fp.DEDICATED,
    )
    assert cluster.during == fp.JOB and cluster.file == "compute.yml"
    assert (deployment.name, deployment.sizes, deployment.count, deployment.during) == (
        "ultrachat-completion-dev/demo",
        (A100,),
        1,
        fp.SERVING,
    )
    needs = fp.family_needs(list(res.values()))
    assert [(n.family, n.tier, n.cores) for n in needs.needs] == [(A100_FAMILY, fp.DEDICATED, 48)]
    assert needs.dedicated == 48 and needs.low_priority == 0 and not needs.unknown


def test_prod_and_overrides_change_what_is_needed() -> None:
    prod = fp.family_needs(resources("prod")).needs
    # 2 x NC48ads (48 vCPUs) for the cluster, 2 x NC24ads (exempt) for the deployment
    assert [(n.family, n.cores) for n in prod] == [(A100_FAMILY, 2 * 48 + 2 * 24)]
    low = resources("dev", ("compute.tier=low_priority",))
    needs = fp.family_needs(low)
    assert needs.low_priority == 24 and needs.dedicated == 24


def test_serverless_consumes_no_quota_of_ours_but_names_its_model() -> None:
    res = by_kind(resources("serverless"))
    assert set(res) == {fp.FINETUNE_SERVERLESS, fp.SERVERLESS_ENDPOINT}
    assert res[fp.FINETUNE_SERVERLESS].model == "Phi-4"
    assert res[fp.SERVERLESS_ENDPOINT].model == "Phi-4"
    assert not any(r.uses_quota for r in res.values())
    assert fp.family_needs(list(res.values())).needs == []


def test_serverless_pipeline_steps_run_one_after_another() -> None:
    res = resources("dev", ("compute.kind=serverless", "compute.nodes=2"))
    steps = [r for r in res if r.kind == fp.SERVERLESS_STEP]
    assert {r.name for r in steps} == {
        "finetune/model_import",
        "finetune/preprocess",
        "finetune/finetune",
        "finetune/model_evaluation",
    }
    assert {r.sequence for r in steps} == {"finetune"}
    needs = fp.family_needs(res)
    a100 = next(n for n in needs.needs if n.family == A100_FAMILY)
    # the largest A100 step (2 fine-tuning nodes), plus the deployment: not every step summed
    assert a100.cores == 2 * 24 + 24
    # the CPU steps' size is not in the published tables: a warning names it, never a guess
    assert any("Standard_D12_v2" in u for u in needs.unknown)


def test_the_job_timeout_bounds_the_hours() -> None:
    cluster = fp.Resource(fp.CLUSTER, "c", "compute.yml", (A100,), timeout_minutes=90)
    assert cluster.hours == 1.5
    forever = fp.Resource(fp.CLUSTER, "c", "compute.yml", (A100,), timeout_minutes=10**9)
    assert forever.hours == azure_limits.JOB_DAYS.value * 24
    deployment = fp.Resource(fp.ONLINE_DEPLOYMENT, "e/d", "d.yml", (A100,), during=fp.SERVING)
    assert deployment.hours is None


# --- quota against what the service says --------------------------------------------------------


def usage_rows(family_used: int, family_limit: int, total: tuple[int, int] = (0, 100)) -> list:
    """list-usage rows as the backends hand them over (from the REST spec's example shape)."""
    return [
        {"id": "/subscriptions/s/usages", "type": "x/totalCores/usages", "name": "Clusters"}
        | {"used": 1, "limit": 200},
        {
            "id": "/subscriptions/s/usages",
            "type": "Microsoft.MachineLearningServices/dedicatedCores/usages",
            "name": "Total Cluster Dedicated Regional vCPUs",
            "used": total[0],
            "limit": total[1],
        },
        {
            "id": "/subscriptions/s/usages/Standard_NCADSA100v4_Family_Cluster_Dedicated_vCPUs",
            "type": "Microsoft.MachineLearningServices/vmFamily/usages",
            "name": "Standard NCADSA100v4 Family Cluster Dedicated vCPUs",
            "used": family_used,
            "limit": family_limit,
        },
        {  # a workspace's own row: not the subscription's limit
            "id": "/subscriptions/s/resourceGroups/r/providers/p/workspaces/w/usages/x",
            "type": "Microsoft.MachineLearningServices/workspaces/usages",
            "name": "Standard NCADSA100v4 Family Cluster Dedicated vCPUs",
            "used": 0,
            "limit": 1000,
        },
        {
            "id": "/subscriptions/s/usages/Standard_NC_Family_Cluster_LowPriority_vCPUs",
            "type": "Microsoft.MachineLearningServices/vmFamily/usages",
            "name": "Standard NCADSA100v4 Family Cluster LowPriority vCPUs",
            "used": 0,
            "limit": -1,
        },
    ]


def sheet(rows: list, held: dict[str, int | None] | None = None, env: str = "dev") -> Sheet:
    allowed = {"inference": (A100, "Standard_NC40ads_H100_v5")}
    out = Sheet("eastus2", {}, allowed)
    return compare(out, resources(env), held or {}, parse_usages(rows))


def test_zero_a100_quota_is_short_and_says_how_to_get_out() -> None:
    result = sheet(usage_rows(0, 0))
    family = next(q for q in result.lines if q.scope == "family")
    assert (family.name, family.needed, family.used, family.limit) == (A100_FAMILY, 48, 0, 0)
    assert family.status == SHORT
    assert family.text() == f"{A100_FAMILY}: needs 48 of 0 free vCPUs (0 in use, limit 0)"
    assert family.ways_out[0] == f"request more {A100_FAMILY} quota in eastus2"
    total = next(q for q in result.lines if q.scope == "total")
    assert total.status != SHORT and total.needed == 48
    assert not result.warnings


def test_enough_quota_fits_and_the_used_part_an_existing_cluster_may_hold_counts() -> None:
    fits = sheet(usage_rows(24, 96))
    assert all(q.status != SHORT for q in fits.lines)
    assert next(q for q in fits.lines if q.scope == "family").text() == (
        f"{A100_FAMILY}: needs 48 of 72 free vCPUs (24 in use, limit 96)"
    )
    # 24 of 48 free; the cluster exists with its size, so the 24 in use may be its own
    assert sheet(usage_rows(24, 48)).lines[0].status == SHORT
    held = sheet(usage_rows(24, 48), held={"gpu-a100": None})
    assert next(q for q in held.lines if q.scope == "family").status != SHORT


def test_fewer_instances_is_offered_when_they_would_fit() -> None:
    result = sheet(usage_rows(0, 96), env="prod")  # prod: 96 (cluster) + 48 (deployment)
    family = next(q for q in result.lines if q.scope == "family")
    assert family.status == SHORT and family.needed == 144
    assert "compute.max_instances: 1 (fewer nodes)" in family.ways_out


def test_usage_the_reader_dropped_is_checked_against_the_limit_only() -> None:
    rows = usage_rows(0, 0)
    for row in rows:
        row["used"] = None  # what `az ml compute list-usage` prints with the SDK installed here
    result = sheet(rows)
    family = next(q for q in result.lines if q.scope == "family")
    assert family.status == SHORT and family.used is None
    assert "in use not reported" in family.text()
    assert any("gave no current usage" in w for w in result.warnings)


def test_an_unknown_family_is_a_warning_never_a_guess() -> None:
    rows = [r for r in usage_rows(0, 0) if "NCADSA100v4" not in str(r["name"])]
    result = sheet(rows)
    assert not [q for q in result.lines if q.scope == "family"]
    assert any(f"quota family {A100_FAMILY}" in w for w in result.warnings)


def test_live_sizes_win_over_the_tables() -> None:
    live = live_sizes([{"name": A100, "family": "otherFamily", "cores": 30, "gpus": 1}], "x")
    lookup = fp.sizes_from(live)
    found = lookup(A100)
    assert found is not None and (found.family, found.cores) == ("otherFamily", 30)
    # a live row without vCPUs (az's dump drops them) is completed from the tables
    partial = fp.sizes_from(live_sizes([{"name": A100, "family": "f", "gpus": 1}], "x"))(A100)
    assert partial is not None and partial.cores == 24 and partial.family == "f"


def test_the_registry_metadata_s_serverless_regions_win_over_the_table() -> None:
    from generator.capacity import context_for

    meta = {"maasFinetuning": {"maasFinetuningDeployRegions": ["eastus2", "westus3"]}}
    assert context_for(registry_meta=meta).serverless_regions == ("eastus2", "westus3")
    assert context_for(registry_meta={}).serverless_regions is None

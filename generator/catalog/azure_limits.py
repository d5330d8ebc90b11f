"""Every number amlgen takes from Azure's published limits, once, with where and when it was read.

Quota families, cores and GPUs per VM size, the sizes exempt from the online deployments' 20 %
reservation, the per-region endpoint/deployment/instance limits, the job's longest run and the
regions of serverless fine-tuning and deployment per model family. Pre-flight and `plan` read
them through the functions below; the live service wins where it answers (`compute.list_sizes`
names each size's family and vCPUs in the workspace's region), and a size or family these tables
do not know is a warning naming it, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Source:
    """Where a number was read, and when (the tables move: re-read them before relying on one)."""

    doc: str
    read: str  # ISO month or day

    def text(self) -> str:
        return f"{self.doc} (read {self.read})"


QUOTAS = Source(
    "azure-ai-docs articles/machine-learning/how-to-manage-quotas.md; azureml-facts.md §14",
    "2026-12",
)
RESERVATION_DOC = Source(
    "azure-ai-docs includes/quota-allocation-online-deployment.md and "
    "articles/machine-learning/reference-managed-online-endpoints-vm-sku-list.md; "
    "azureml-facts.md §14",
    "2026-12",
)
GPU_SIZES = Source("azureml-facts.md §5 and §14 (Azure's GPU size tables)", "2026-12")
SIZES_EXAMPLE = Source(
    "azure-rest-api-specs machinelearningservices stable/2024-04-01 "
    "examples/VirtualMachineSize/list.json",
    "2026-12",
)
SERVERLESS_DOC = Source(
    "azure-ai-docs articles/ai-foundry/how-to/fine-tune-serverless.md and "
    "includes/region-availability-maas.md; azureml-facts.md §11 and §14",
    "2026-12",
)


@dataclass(frozen=True)
class SizeLimits:
    """A VM size as quota sees it: its quota family (as `list-usage`/`list-sizes` name it),
    vCPUs (what quota counts) and GPUs per node."""

    name: str
    family: str
    cores: int
    gpus: int
    source: Source


def _sizes(family: str, source: Source, *rows: tuple[str, int, int]) -> dict[str, SizeLimits]:
    return {n.lower(): SizeLimits(n, family, c, g, source) for n, c, g in rows}


SIZES: dict[str, SizeLimits] = {
    **_sizes(
        "standardNCADSA100v4Family",
        GPU_SIZES,
        ("Standard_NC24ads_A100_v4", 24, 1),
        ("Standard_NC48ads_A100_v4", 48, 2),
        ("Standard_NC96ads_A100_v4", 96, 4),
    ),
    **_sizes(
        "standardNCADSH100v5Family",
        GPU_SIZES,
        ("Standard_NC40ads_H100_v5", 40, 1),
        ("Standard_NC80adis_H100_v5", 80, 2),
    ),
    **_sizes("standardNDv5H100Family", GPU_SIZES, ("Standard_ND96isr_H100_v5", 96, 8)),
    **_sizes("NDASv4_A100", GPU_SIZES, ("Standard_ND96asr_v4", 96, 8)),
    **_sizes("NDAMSv4_A100", GPU_SIZES, ("Standard_ND96amsr_A100_v4", 96, 8)),
    **_sizes(
        "standardDSv2Family",
        SIZES_EXAMPLE,
        ("Standard_DS1_v2", 1, 0),
        ("Standard_DS2_v2", 2, 0),
        ("Standard_DS3_v2", 4, 0),
        ("Standard_DS4_v2", 8, 0),
        ("Standard_DS5_v2", 16, 0),
        ("Standard_DS11_v2", 2, 0),
        ("Standard_DS12_v2", 4, 0),
        ("Standard_DS13_v2", 8, 0),
        ("Standard_DS14_v2", 16, 0),
    ),
}

# Online deployments reserve ceil((1 + RESERVATION) x instances) x cores, headroom for upgrades,
# except on the sizes the service lists as skipping it.
RESERVATION = 0.2
RESERVATION_EXEMPT: frozenset[str] = frozenset(
    s.lower()
    for s in (
        "Standard_NC24ads_A100_v4",
        "Standard_NC48ads_A100_v4",
        "Standard_NC96ads_A100_v4",
        "Standard_NC40ads_H100_v5",
        "Standard_NC80adis_H100_v5",
        "Standard_ND96asr_v4",
        "Standard_ND96amsr_A100_v4",
        "Standard_ND96isr_H100_v5",
    )
)


@dataclass(frozen=True)
class Limit:
    value: int
    what: str
    source: Source


ENDPOINTS_PER_REGION = Limit(100, "online endpoints per subscription and region", QUOTAS)
DEPLOYMENTS_PER_ENDPOINT = Limit(20, "deployments per online endpoint", QUOTAS)
DEPLOYMENTS_PER_REGION = Limit(500, "online deployments per subscription and region", QUOTAS)
INSTANCES_PER_DEPLOYMENT = Limit(50, "instances per online deployment", QUOTAS)
REQUEST_TIMEOUT_MS = Limit(180_000, "ms, a managed online request's timeout", QUOTAS)
JOB_DAYS = Limit(21, "days a job runs at most (dedicated)", QUOTAS)
LOW_PRIORITY_JOB_DAYS = Limit(7, "days a job runs at most on low priority", QUOTAS)


@dataclass(frozen=True)
class ServerlessFamily:
    """Model names (a regex over the registry name) and the regions offering their serverless
    fine-tuning and serverless deployment (None: not documented, so not checked)."""

    pattern: str
    finetune_regions: tuple[str, ...]
    deploy_regions: tuple[str, ...] | None
    source: Source


_PHI4_FT = ("eastus2", "eastus", "northcentralus", "southcentralus", "westus", "westus3")
SERVERLESS: tuple[ServerlessFamily, ...] = (
    ServerlessFamily(
        r"Phi-4(-mini-instruct)?", _PHI4_FT, (*_PHI4_FT, "swedencentral"), SERVERLESS_DOC
    ),
    ServerlessFamily(r"(Meta-)?Llama-3\.[13]-.*", ("westus3",), None, SERVERLESS_DOC),
    ServerlessFamily(r"Mistral.*|Ministral.*", ("eastus2",), None, SERVERLESS_DOC),
)


def size(name: str) -> SizeLimits | None:
    """The table's entry for a VM size (names are case-insensitive in Azure)."""
    return SIZES.get(name.lower())


def exempt(name: str) -> bool:
    """Whether an online deployment on this size skips the 20 % reservation."""
    return name.lower() in RESERVATION_EXEMPT


def reserved_instances(size: str, instances: int) -> int:
    """Instances an online deployment reserves quota for: ceil((1 + RESERVATION) x instances),
    or exactly `instances` on the sizes exempt from the reservation."""
    if exempt(size):
        return instances
    scaled = Fraction(instances) * (1 + Fraction(str(RESERVATION)))
    return -(-scaled.numerator // scaled.denominator)


def normal_region(region: str) -> str:
    """`East US 2`, `east-us-2` and `eastus2` are one region."""
    return re.sub(r"[\s_-]", "", region).lower()


def serverless_family(model_name: str) -> ServerlessFamily | None:
    for family in SERVERLESS:
        if re.fullmatch(family.pattern, model_name, re.IGNORECASE):
            return family
    return None


_FAMILY_NOISE = re.compile(r"[^a-z0-9]")


def family_key(name: str) -> str:
    """One spelling of a quota family, however the service writes it: `standardNCADSA100v4Family`
    (list-sizes), `Standard NCADSA100v4 Family Cluster Dedicated vCPUs` (list-usage), or
    `NDASv4_A100` all reduce to the family's own letters."""
    key = _FAMILY_NOISE.sub("", name.lower())
    for suffix in ("clusterdedicatedvcpus", "clusterlowpriorityvcpus", "vcpus", "family"):
        key = key.removesuffix(suffix)
    return key.removeprefix("standard")

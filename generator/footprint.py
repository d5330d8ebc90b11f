"""What an environment consumes, read from its rendered files, and the arithmetic of it.

One `Resource` per thing that holds VM capacity (or, serverless, the service's): the job's
cluster, a pipeline step on serverless compute, the fine-tuning job's instance types or its
serverless fine-tuning, the online deployment, the serverless endpoint. Each says its VM size(s),
how many nodes or instances at most, dedicated or low priority, and whether it holds them while
the job runs (bounded by the job's timeout) or until it is deleted. Quota (`generator/capacity.py`)
turns them into vCPUs per quota family; costs can turn them into hours the same way.

Cores, families and the 20 % reservation come from `catalog.azure_limits` (or the live
`compute.list_sizes()`, which a caller passes in as `SizeInfo`s); nothing here reads the service.

Example:
    fp = footprint.of_documents({"compute.yml": compute, "pipeline-job.yml": job, ...})
    for need in footprint.family_needs(fp, footprint.table_sizes).needs: ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import names
from .catalog import azure_limits
from .catalog.uri import MODELS, parse_registry_uri

# kinds
CLUSTER = "cluster"
COMPUTE_INSTANCE = "compute_instance"
SERVERLESS_STEP = "serverless_step"  # a pipeline step on serverless compute (our quota)
FINETUNE_INSTANCE_TYPES = "finetuning_instance_types"  # the service picks one of the sizes
FINETUNE_SERVERLESS = "serverless_finetuning"  # the service's capacity, not our quota
ONLINE_DEPLOYMENT = "online_deployment"
SERVERLESS_ENDPOINT = "serverless_endpoint"
# tiers
DEDICATED = "dedicated"
LOW_PRIORITY = "low_priority"
# when a resource holds its capacity
JOB = "job"  # while the job runs (at most its timeout)
SERVING = "serving"  # until it is deleted

PIPELINE_STEPS = ("model_import", "preprocess", "finetune", "model_evaluation")
_QUOTA_KINDS = (CLUSTER, COMPUTE_INSTANCE, SERVERLESS_STEP, FINETUNE_INSTANCE_TYPES)


@dataclass(frozen=True)
class Resource:
    """One thing that holds capacity. `sizes` has one VM size, several when the service picks
    one of them (instance types), or none (serverless, or a cluster the files do not define)."""

    kind: str
    name: str
    file: str
    sizes: tuple[str, ...] = ()
    count: int = 1  # nodes or instances, at most
    tier: str = DEDICATED
    during: str = JOB
    timeout_minutes: float | None = None  # the job's limit, for resources held while it runs
    sequence: str | None = None  # resources of one sequence run one after another
    model: str | None = None  # serverless: the base model's registry name

    @property
    def title(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.name}"

    @property
    def uses_quota(self) -> bool:
        """Whether it draws on the workspace's Azure ML quota (serverless MaaS does not)."""
        return self.kind in _QUOTA_KINDS or self.kind == ONLINE_DEPLOYMENT

    @property
    def hours(self) -> float | None:
        """How long it may hold its nodes: the job's timeout capped by Azure's longest job;
        None for what holds them until deleted (or no timeout known)."""
        if self.during != JOB:
            return None
        cap = azure_limits.JOB_DAYS.value
        if self.tier == LOW_PRIORITY:
            cap = azure_limits.LOW_PRIORITY_JOB_DAYS.value
        if self.timeout_minutes is None:
            return float(cap * 24)
        return min(self.timeout_minutes / 60, cap * 24)


# --- reading the rendered files -----------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int = 1) -> int:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else default
    except (TypeError, ValueError):
        return default


def _tier(compute: dict[str, Any]) -> str:
    tier = str(compute.get("tier") or DEDICATED).lower().replace("-", "_")
    return LOW_PRIORITY if tier in ("low_priority", "lowpriority") else DEDICATED


def _cluster(
    name: str, compute: dict[str, Any] | None, file: str, timeout: float | None
) -> Resource:
    """A cluster the job runs on; its size and nodes come from compute.yml when it defines it."""
    if compute and compute.get("name") == name:
        kind = COMPUTE_INSTANCE if str(compute.get("type")) == "computeinstance" else CLUSTER
        count = 1 if kind == COMPUTE_INSTANCE else _int(compute.get("max_instances"), 1)
        size = str(compute.get("size") or "")
        return Resource(
            kind,
            name,
            names.COMPUTE_FILE,
            (size,) if size else (),
            count,
            _tier(compute),
            timeout_minutes=timeout,
        )
    return Resource(CLUSTER, name, file, (), 1, timeout_minutes=timeout)


def _pipeline(
    job: dict[str, Any], compute: dict[str, Any] | None, timeout: float | None
) -> list[Resource]:
    out: list[Resource] = []
    clusters: set[str] = set()
    for node, step in _dict(job.get("jobs")).items():
        inputs = _dict(_dict(step).get("inputs"))
        for part in PIPELINE_STEPS:
            target = inputs.get(f"compute_{part}")
            if target is None:
                continue
            if str(target) != "serverless":
                clusters.add(str(target))
                continue
            size = inputs.get(f"instance_type_{part}")
            nodes = _int(inputs.get("num_nodes_finetune"), 1) if part == "finetune" else 1
            out.append(
                Resource(
                    SERVERLESS_STEP,
                    f"{node}/{part}",
                    names.PIPELINE_JOB_FILE,
                    (str(size),) if size else (),
                    nodes,
                    timeout_minutes=timeout,
                    sequence=str(node),
                )
            )
    for name in sorted(clusters):
        out.insert(0, _cluster(name, compute, names.PIPELINE_JOB_FILE, timeout))
    return out


def base_model(job: dict[str, Any]) -> str | None:
    """The registry name of the model a fine-tuning job starts from."""
    model = job.get("model")
    path = _dict(model).get("path") if isinstance(model, dict) else model
    found = parse_registry_uri(str(path or ""), MODELS)
    return found.name if found else None


def _finetuning(
    job: dict[str, Any], compute: dict[str, Any] | None, timeout: float | None
) -> list[Resource]:
    file = names.FINETUNING_JOB_FILE
    if job.get("compute"):
        return [_cluster(str(job["compute"]), compute, file, timeout)]
    res = _dict(job.get("resources"))
    types = res.get("instance_types")
    if isinstance(types, list) and types:
        sizes = tuple(str(t) for t in types)
        count = _int(res.get("instance_count"), 1)
        return [
            Resource(FINETUNE_INSTANCE_TYPES, "job", file, sizes, count, timeout_minutes=timeout)
        ]
    return [
        Resource(FINETUNE_SERVERLESS, "job", file, timeout_minutes=timeout, model=base_model(job))
    ]


def of_documents(
    docs: Mapping[str, Any], job_timeout_minutes: float | None = None
) -> list[Resource]:
    """The resources of one environment's rendered files (file name -> parsed YAML; a missing
    file is absent or None). `job_timeout_minutes` bounds what the job holds (job.timeout_minutes).
    """
    compute = docs.get(names.COMPUTE_FILE)
    compute = compute if isinstance(compute, dict) else None
    out: list[Resource] = []
    finetuning = _dict(docs.get(names.FINETUNING_JOB_FILE))
    if finetuning:
        out += _finetuning(finetuning, compute, job_timeout_minutes)
    else:
        out += _pipeline(_dict(docs.get(names.PIPELINE_JOB_FILE)), compute, job_timeout_minutes)
    deployment = _dict(docs.get(names.DEPLOYMENT_FILE))
    if deployment.get("instance_type"):
        endpoint = str(deployment.get("endpoint_name") or "")
        out.append(
            Resource(
                ONLINE_DEPLOYMENT,
                f"{endpoint}/{deployment.get('name')}",
                names.DEPLOYMENT_FILE,
                (str(deployment["instance_type"]),),
                _int(deployment.get("instance_count"), 1),
                during=SERVING,
            )
        )
    serverless = _dict(docs.get(names.SERVERLESS_ENDPOINT_FILE))
    if serverless.get("name"):
        out.append(
            Resource(
                SERVERLESS_ENDPOINT,
                str(serverless["name"]),
                names.SERVERLESS_ENDPOINT_FILE,
                count=0,
                during=SERVING,
                model=base_model(finetuning) if finetuning else None,
            )
        )
    return out


def of_rendered(files: Mapping[str, str], env: str) -> list[Resource]:
    """The same from `rendering.render()`'s output (`azureml/<env>/<file>` -> YAML text)."""
    import yaml

    prefix = f"{names.OUTPUT_DIR}/{env}/"
    docs = {
        rel.removeprefix(prefix): yaml.safe_load(text)
        for rel, text in files.items()
        if rel.startswith(prefix)
    }
    return of_documents(docs)


# --- sizes and cores ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeInfo:
    """What quota needs to know of a VM size, and where it was read."""

    name: str
    family: str | None
    cores: int | None
    gpus: int | None
    source: str


def table_sizes(name: str) -> SizeInfo | None:
    """A size as Azure's published tables (catalog.azure_limits) give it."""
    found = azure_limits.size(name)
    if found is None:
        return None
    return SizeInfo(found.name, found.family, found.cores, found.gpus, found.source.text())


def sizes_from(live: Mapping[str, SizeInfo]) -> Callable[[str], SizeInfo | None]:
    """Look sizes up in what the service listed (lower-cased names), then in the tables for
    what it leaves out (a family or core count it did not say)."""

    def lookup(name: str) -> SizeInfo | None:
        seen = live.get(name.lower())
        table = table_sizes(name)
        if seen is None:
            return table
        if (seen.family and seen.cores) or table is None:
            return seen
        return SizeInfo(
            seen.name,
            seen.family or table.family,
            seen.cores or table.cores,
            seen.gpus if seen.gpus is not None else table.gpus,
            f"{seen.source}; {table.source}",
        )

    return lookup


reserved_instances = azure_limits.reserved_instances  # Azure's rule, where its numbers are


def cores(resource: Resource, size: str, per_node: int) -> int:
    """The vCPUs `resource` holds on `size` at most (what quota counts)."""
    if resource.kind == ONLINE_DEPLOYMENT:
        return reserved_instances(size, resource.count) * per_node
    return resource.count * per_node


# --- per quota family ----------------------------------------------------------------------------


@dataclass
class Need:
    """The vCPUs one quota family (of one tier) must have free, and which resources need them."""

    family: str
    tier: str
    cores: int
    by: list[str] = field(default_factory=list)  # "cluster gpu-a100: 1 x 24 vCPUs"
    resources: list[Resource] = field(default_factory=list)


@dataclass
class Needs:
    needs: list[Need]
    unknown: list[str]  # one line per size or family the tables and the service did not give
    choices: list[Resource]  # resources whose service picks one of several sizes

    @property
    def dedicated(self) -> int:
        return sum(n.cores for n in self.needs if n.tier == DEDICATED)

    @property
    def low_priority(self) -> int:
        return sum(n.cores for n in self.needs if n.tier == LOW_PRIORITY)


def describe(resource: Resource, size: str, per_node: int) -> str:
    """`online deployment ep/demo: ceil(1.2 x 1) = 2 x 24 vCPUs` and the like."""
    if resource.kind == ONLINE_DEPLOYMENT:
        reserved = reserved_instances(size, resource.count)
        how = (
            f"{resource.count} instance(s), exempt from the 20 % reservation"
            if azure_limits.exempt(size)
            else f"ceil(1.2 x {resource.count}) = {reserved} instance(s) reserved"
        )
        return f"{resource.title} on {size}: {how} x {per_node} vCPUs"
    unit = "instance(s)" if resource.kind == FINETUNE_INSTANCE_TYPES else "node(s)"
    return f"{resource.title} on {size}: {resource.count} {unit} x {per_node} vCPUs"


def family_needs(
    resources: list[Resource], sizes: Callable[[str], SizeInfo | None] = table_sizes
) -> Needs:
    """vCPUs per (quota family, tier). Resources of one sequence run one after another, so a
    family needs the largest of them, not their sum; everything else is summed (a cluster keeps
    its nodes until it scales down, so the job's and the deployment's overlap)."""
    unknown: list[str] = []
    choices: list[Resource] = []
    # (family, tier) -> sequence (or a unique key) -> [(cores, line, resource)]
    table: dict[tuple[str, str], dict[str, list[tuple[int, str, Resource]]]] = {}
    for i, res in enumerate(resources):
        if not res.uses_quota:
            continue
        if len(res.sizes) > 1:
            choices.append(res)
            continue
        if not res.sizes:
            unknown.append(f"{res.title}: its VM size is not in the rendered files")
            continue
        size = res.sizes[0]
        info = sizes(size)
        if info is None or not info.family or not info.cores:
            what = "quota family" if info is not None and info.cores else "vCPUs and quota family"
            unknown.append(f"{res.title}: {size}: its {what} are not known")
            continue
        n = cores(res, size, info.cores)
        slot = table.setdefault((info.family, res.tier), {})
        slot.setdefault(res.sequence or f"#{i}", []).append(
            (n, describe(res, size, info.cores), res)
        )
    needs: list[Need] = []
    for (family, tier), groups in table.items():
        need = Need(family, tier, 0)
        for entries in groups.values():
            top = max(entries, key=lambda e: e[0])
            need.cores += top[0]
            need.by += [e[1] for e in entries]
            need.resources += [e[2] for e in entries]
        needs.append(need)
    return Needs(needs, unknown, choices)


__all__ = [
    "CLUSTER",
    "COMPUTE_INSTANCE",
    "DEDICATED",
    "FINETUNE_INSTANCE_TYPES",
    "FINETUNE_SERVERLESS",
    "JOB",
    "LOW_PRIORITY",
    "ONLINE_DEPLOYMENT",
    "SERVERLESS_ENDPOINT",
    "SERVERLESS_STEP",
    "SERVING",
    "Need",
    "Needs",
    "Resource",
    "SizeInfo",
    "base_model",
    "cores",
    "describe",
    "family_needs",
    "of_documents",
    "of_rendered",
    "reserved_instances",
    "sizes_from",
    "table_sizes",
]

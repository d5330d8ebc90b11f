"""What one environment runs that bills: per resource its VM size(s), how many, how long.

(A minimal module of the cost work, #25. The quota work, #22, describes what an environment
consumes in its own `generator/footprint.py`, from the rendered files and for quota; the two
count the same resources and can be merged into one.)

Derived from the resolved params (the same values the rendered files hold), so `plan`, the
budget guard, `validate` and `amlgen lock` count the same things:

  job                  the fine-tuning job: `compute.nodes` nodes of the job's size for at most
                       `job.timeout_minutes` (the time `run` waits; the service does not stop the
                       job then, only after Azure's longest job, azure_limits.JOB_DAYS), plus
                       the cluster's idle time before it scales down; a
                       fine-tuning job's `instance_types` lists sizes the service picks from
  compute              the cluster's `min_instances` nodes, up while the cluster exists
  online_deployment    `instance_count` instances of `instance_type`, up while it exists
  serverless_endpoint  a serverless deployment, billed per hour while it exists (no VM size)

A serverless fine-tuning job and a serverless endpoint have no VM size: their prices are not
in the Retail Prices API (the portal's "Pricing and terms" shows them).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import catalog, names
from .catalog import azure_limits
from .params import Resolved

JOB = "job"
COMPUTE = "compute"
DEPLOYMENT = "online_deployment"
SERVERLESS = "serverless_endpoint"
TITLES = {
    COMPUTE: "compute",
    DEPLOYMENT: "online deployment",
    SERVERLESS: "serverless endpoint",
}


@dataclass(frozen=True)
class Use:
    """One thing that bills. `hours` is a job's ceiling (None: billed per hour while it is up)."""

    kind: str
    name: str  # as `plan` names the resource (compute name, endpoint/deployment, job file)
    file: str  # the rendered file it comes from, relative to the project
    sizes: tuple[str, ...]  # () when it has no VM size (serverless)
    count: int  # nodes or instances
    hours: float | None = None
    idle_hours: float = 0.0  # part of `hours`: a cluster's idle time before it scales down
    timeout_minutes: int | None = None
    low_priority: bool = False  # priced at pay-as-you-go all the same: an upper bound

    @property
    def title(self) -> str:
        return f"{TITLES[self.kind]} {self.name}" if self.kind in TITLES else f"job {self.name}"

    @property
    def stays_up(self) -> bool:
        return self.hours is None

    def gpus(self, size: str | None = None) -> int | None:
        """GPUs per node of `size` (default: the first), from the VM catalog."""
        name = size or (self.sizes[0] if self.sizes else None)
        vm = catalog.vm_size(name) if name else None
        return vm.gpus if vm else None


@dataclass(frozen=True)
class Billable:
    env: str
    uses: tuple[Use, ...]

    @property
    def sizes(self) -> list[str]:
        """Every VM size, once (catalog spelling when known), in order of appearance."""
        out: dict[str, str] = {}
        for use in self.uses:
            for size in use.sizes:
                out.setdefault(size.lower(), size)
        return list(out.values())

    def get(self, kind: str) -> Use | None:
        return next((u for u in self.uses if u.kind == kind), None)


def canonical_size(size: str) -> str:
    """The catalog's spelling (`Standard_NC24ads_A100_v4`): price filters are case-sensitive."""
    vm = catalog.vm_size(size)
    return vm.name if vm else size


def billable(resolved: Resolved) -> Billable:
    """What `resolved`'s environment runs that bills."""
    p = resolved.params
    out_dir = f"{names.OUTPUT_DIR}/{resolved.env}"
    timeout = p.job.timeout_minutes
    low = p.compute.kind == "cluster" and p.compute.tier == "low_priority"
    # Azure stops a job after 21 days (7 on low priority): no ceiling beyond that.
    days = (azure_limits.LOW_PRIORITY_JOB_DAYS if low else azure_limits.JOB_DAYS).value
    hours = min(timeout / 60, days * 24)
    uses: list[Use] = []
    finetuning_job = p.method == "finetuning_job"
    job_file = (
        f"{out_dir}/{names.FINETUNING_JOB_FILE if finetuning_job else names.PIPELINE_JOB_FILE}"
    )
    size = canonical_size(p.compute.size) if p.compute.size else None
    if p.compute.kind == "cluster" and size:
        idle = p.compute.idle_time_before_scale_down / 3600
        cluster = f"{out_dir}/{names.COMPUTE_FILE}"
        idle_nodes = p.compute.min_instances
        uses.append(Use(COMPUTE, p.compute.name, cluster, (size,), idle_nodes, low_priority=low))
        nodes = p.compute.nodes
        job = Use(JOB, job_file, job_file, (size,), nodes, hours + idle, idle, timeout, low)
    elif finetuning_job and p.compute.kind == "instance_types":
        sizes = tuple(canonical_size(s) for s in p.compute.instance_types)
        job = Use(JOB, job_file, job_file, sizes, 1, hours, 0.0, timeout)
    elif finetuning_job:  # serverless fine-tuning: no VM, billed by the service
        job = Use(JOB, job_file, job_file, (), 1, hours, 0.0, timeout)
    else:  # the pipeline's serverless steps, sized
        job = Use(
            JOB, job_file, job_file, (size,) if size else (), p.compute.nodes, hours, 0.0, timeout
        )
    uses.append(job)
    if resolved.serving == "serverless":
        endpoint = f"{out_dir}/{names.SERVERLESS_ENDPOINT_FILE}"
        uses.append(Use(SERVERLESS, p.endpoint.name.lower(), endpoint, (), 1))
    else:
        d = p.deployment
        name = f"{p.endpoint.name.lower()}/{d.name.lower()}"
        sizes = (canonical_size(d.instance_type),) if d.instance_type else ()
        uses.append(
            Use(DEPLOYMENT, name, f"{out_dir}/{names.DEPLOYMENT_FILE}", sizes, d.instance_count)
        )
    return Billable(resolved.env, tuple(uses))


__all__ = [
    "COMPUTE",
    "DEPLOYMENT",
    "JOB",
    "SERVERLESS",
    "Billable",
    "Use",
    "billable",
    "canonical_size",
]

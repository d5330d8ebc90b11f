"""What the flow needs from a submission backend (the Backend protocol and its results).

Both backends work from the same committed YAML files (the source of truth) and expose the same
operations. In dry-run mode an operation records what it would do in `plan` (exact `az` argument
lists, or SDK calls with their entities) and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from .assets import Assets
from .failures import TransientError, not_allowed, read_title
from .finetune import FinetuneAssets

TERMINAL = ("Completed", "Failed", "Canceled")
DRY_JOB = "<job-name>"
# Read primitives (planning.Reader): kinds a backend's `read` answers.
READ_KINDS = (
    "compute",
    "model",
    "online_endpoint",
    "online_deployment",
    "component",
    "registry_model",
    "serverless_endpoint",
    "marketplace_subscription",
)


__all__ = [
    "DRY_JOB",
    "READ_KINDS",
    "TERMINAL",
    "Assets",
    "Backend",
    "FinetuneAssets",
    "JobInfo",
    "ModelInfo",
    "TransientError",
    "entity_dict",
    "not_allowed",
    "read_title",
]


def entity_dict(entity: Any) -> dict[str, Any]:
    """What `az ml ... show -o json` prints for an entity: `_to_dict()`, or `as_dict()` for the
    generated ones (serverless endpoints, marketplace subscriptions), as the az ml extension
    does; their `as_dict()` needs the service's system data, absent on an unsent entity."""
    if hasattr(entity, "_to_dict"):
        raw = entity._to_dict()
    elif getattr(entity, "system_data", None) is not None:
        raw = entity.as_dict()
    else:
        raw = dict(entity)
    data: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    return data


@dataclass
class JobInfo:
    status: str
    studio_url: str | None = None
    error: str | None = None


@dataclass
class StepInfo:
    """A pipeline job's child job (one step): its name, the step's name, status, Studio link."""

    name: str
    display_name: str | None
    status: str
    studio_url: str | None = None


# What `Backend.survey` reads: the workspace's region, the VM sizes a region offers
# ([{name, family, cores, gpus}]), Azure ML's quota there ([{id, type, name, used, limit}]), the
# workspace's online endpoints and one endpoint's deployments (names).
SURVEYS = ("region", "sizes", "usages", "endpoints", "deployments")
LOG_CONTAINERS = ("inference-server", "storage-initializer")


@dataclass
class ModelInfo:
    """An existing registered model version."""

    path: str
    job_name: str | None = None

    def from_job(self, job: str) -> bool:
        return self.job_name == job or f"/jobs/{job}/" in self.path


class Backend(Protocol):
    """The operations of the flow. Each records its plan instead of acting when dry_run is set."""

    name: str
    dry_run: bool
    plan: list[str]

    def read(
        self,
        kind: str,
        name: str,
        *,
        version: str | None = None,
        endpoint: str | None = None,
        registry: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any] | None: ...
    def create_compute(self, assets: Assets) -> dict[str, Any] | None: ...
    def survey(
        self,
        what: str,
        *,
        location: str | None = None,
        endpoint: str | None = None,
        note: str | None = None,
    ) -> Any: ...  # see SURVEYS; None in a dry run
    def submit(self, assets: Assets) -> str: ...
    def job_status(self, job: str) -> JobInfo: ...
    def stream(self, job: str) -> str | None: ...  # a note when streaming stopped early
    def model_info(self, name: str, version: str) -> ModelInfo | None: ...
    def register(self, assets: Assets, job: str) -> None: ...
    def create_endpoint(self, assets: Assets) -> None: ...
    def create_deployment(self, assets: Assets) -> None: ...
    def set_traffic(self, assets: Assets) -> None: ...
    def invoke(self, assets: Assets) -> str: ...
    def delete_endpoint(self, name: str) -> bool: ...
    # Why something failed: a deployment's container logs, a pipeline job's steps.
    def deployment_logs(
        self, endpoint: str, deployment: str, container: str, lines: int
    ) -> str | None: ...
    def child_jobs(self, job: str) -> list[StepInfo]: ...
    # The fine-tuning job path (method finetuning_job, finetune_flow.py).
    def submit_finetuning(self, assets: FinetuneAssets) -> str: ...
    def job_model(self, job: str) -> tuple[str, str] | None: ...  # its registered_model output
    def workspace_ref(self) -> tuple[str, str]: ...  # (region, workspace id)
    def workspace_region(self, note: str | None = None) -> str | None: ...  # prices, quota
    def create_marketplace_subscription(self, assets: FinetuneAssets) -> None: ...
    def create_serverless_endpoint(self, assets: FinetuneAssets, model_id: str) -> None: ...
    def invoke_serverless(self, assets: FinetuneAssets) -> str: ...  # keys never leave it
    def delete_serverless_endpoint(self, name: str) -> bool: ...

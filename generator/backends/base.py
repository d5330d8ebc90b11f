"""What the flow needs from a submission backend, and the rendered assets both backends read.

Both backends work from the same committed YAML files (the source of truth) and expose the same
operations. In dry-run mode an operation records what it would do in `plan` (exact `az` argument
lists, or SDK calls with their entities) and changes nothing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import names
from ..catalog.uri import MODELS, parse_registry_uri
from ..errors import WorkflowError
from ..rendering import FILE_NAMES
from ..yamlio import read

if TYPE_CHECKING:
    from .finetune import FinetuneAssets

TERMINAL = ("Completed", "Failed", "Canceled")
DRY_JOB = "<job-name>"
_NOT_FOUND = re.compile(
    r"ResourceNotFound|NotFound|not found|could not be found|does not exist", re.IGNORECASE
)


# A resource the caller may not read, and failures worth retrying (az prints these on stderr).
_FORBIDDEN = re.compile(
    r"AuthorizationFailed|Forbidden|\b403\b|does not have (?:authorization|permission)",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"TooManyRequests|ServiceUnavailable|InternalServerError|BadGateway|GatewayTimeout|"
    r"\b(?:429|500|502|503|504)\b|ServiceRequestError|ServiceResponseError|"
    r"Connection(?:Error| refused| reset| aborted)|RemoteDisconnected|timed out",
    re.IGNORECASE,
)
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


def not_found(text: str) -> bool:
    return bool(_NOT_FOUND.search(text))


def forbidden(text: str) -> bool:
    return bool(_FORBIDDEN.search(text))


def transient(text: str) -> bool:
    return bool(_TRANSIENT.search(text))


def read_title(
    kind: str,
    name: str,
    version: str | None = None,
    endpoint: str | None = None,
    registry: str | None = None,
) -> str:
    """How a read names its resource in an error line."""
    label = kind.replace("_", " ")
    if registry:
        return f"registry {registry} {label.replace('registry ', '')} {name}:{version}"
    if endpoint:
        return f"{label} {endpoint}/{name}"
    return f"{label} {name}" + (f":{version}" if version else "")


def not_allowed(what: str) -> WorkflowError:
    """403: one line naming the resource and the fix."""
    return WorkflowError(
        f"{what}: not allowed to read it (403): ask for a role that can read it on the "
        "workspace or registry (e.g. AzureML Data Scientist), or sign in as another identity"
    )


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


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def size_row(raw: dict[str, Any]) -> dict[str, Any]:
    """A VM size as list-sizes gives it (SDK entity or `az` JSON) -> {name, family, cores,
    gpus}. Newer SDKs keep the wire names (`vCPUs`) beside the empty `v_cp_us`, and `az`
    prints neither then: cores missing is left to the published tables."""
    return {
        "name": raw.get("name"),
        "family": raw.get("family"),
        "cores": _count(raw.get("v_cp_us")) or _count(raw.get("vCPUs")),
        "gpus": _count(raw.get("gpus")),
    }


def usage_row(raw: dict[str, Any]) -> dict[str, Any]:
    """A quota row as list-usage gives it -> {id, type, name, used, limit}; `used` is None
    when the reader dropped it (newer SDKs keep only the wire name `currentValue`)."""
    name = raw.get("name")
    if not isinstance(name, dict):
        name = {"value": getattr(name, "value", None)} if name is not None else {}
    used = raw.get("current_value")
    if used is None:
        used = raw.get("currentValue")
    return {
        "id": raw.get("id"),
        "type": raw.get("type"),
        "name": name.get("value") or name.get("localized_value") or name.get("localizedValue"),
        "used": _count(used),
        "limit": _count(raw.get("limit")),
    }


class TransientError(WorkflowError):
    """A call failed in a way worth retrying (connection lost, server restarting)."""


@dataclass
class Assets:
    """One environment's rendered files, and the names the flow needs from them."""

    dir: Path
    project_dir: Path
    job: dict[str, Any]
    model: dict[str, Any]
    endpoint: dict[str, Any]
    deployment: dict[str, Any]
    compute: dict[str, Any] | None
    request_file: Path
    traffic_percent: int = 100

    @classmethod
    def load(
        cls, folder: Path, project_dir: Path, request_file: Path, traffic_percent: int = 100
    ) -> Assets:
        docs: dict[str, Any] = {}
        for name in FILE_NAMES:
            path = folder / name
            if name == names.COMPUTE_FILE and not path.exists():
                docs[name] = None
                continue
            if not path.exists():
                raise WorkflowError(f"{path}: missing: run `amlgen render` first")
            data = read(path).data
            if not isinstance(data, dict):
                raise WorkflowError(f"{path}: expected a YAML mapping")
            docs[name] = data
        return cls(
            dir=folder,
            project_dir=project_dir,
            job=docs[names.PIPELINE_JOB_FILE],
            model=docs[names.MODEL_FILE],
            endpoint=docs[names.ENDPOINT_FILE],
            deployment=docs[names.DEPLOYMENT_FILE],
            compute=docs[names.COMPUTE_FILE],
            request_file=request_file,
            traffic_percent=traffic_percent,
        )

    job_file = names.PIPELINE_JOB_FILE  # the file `submit` sends

    def path(self, name: str) -> Path:
        return self.dir / name

    def rel(self, path: Path | str) -> str:
        """How a file is named on the command line: relative to the project when inside it."""
        p = Path(path)
        if not p.is_absolute():
            p = self.dir / p
        try:
            return Path(os.path.relpath(p.resolve(), self.project_dir.resolve())).as_posix()
        except ValueError:
            return p.as_posix()

    @property
    def endpoint_name(self) -> str:
        return str(self.endpoint["name"])

    @property
    def deployment_name(self) -> str:
        return str(self.deployment["name"])

    @property
    def model_name(self) -> str:
        return str(self.model["name"])

    @property
    def model_version(self) -> str:
        return str(self.model["version"])

    def step(self) -> dict[str, Any]:
        jobs = self.job.get("jobs") or {}
        if not isinstance(jobs, dict) or len(jobs) != 1:
            raise WorkflowError(f"{self.path('pipeline-job.yml')}: jobs: expected one step")
        step = next(iter(jobs.values()))
        return step if isinstance(step, dict) else {}

    def step_inputs(self) -> dict[str, Any]:
        inputs = self.step().get("inputs") or {}
        return inputs if isinstance(inputs, dict) else {}

    @property
    def compute_name(self) -> str | None:
        """The cluster the fine-tune step runs on, or None for serverless."""
        value = self.step_inputs().get("compute_finetune")
        return None if value in (None, "serverless") else str(value)

    @property
    def finetune_size(self) -> str | None:
        inputs = self.step_inputs()
        if self.compute_name is None:
            size = inputs.get("instance_type_finetune")
            return str(size) if size else None
        if self.compute and self.compute.get("name") == self.compute_name:
            return str(self.compute.get("size"))
        return None

    @property
    def gpus_requested(self) -> int | None:
        value = self.step_inputs().get("number_of_gpu_to_use_finetuning")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def base_model(self) -> tuple[str, str, str] | None:
        """(registry, name, version) of the base model input, when it is a registry model."""
        inputs = self.job.get("inputs") or {}
        spec = inputs.get("mlflow_model_path") if isinstance(inputs, dict) else None
        path = spec.get("path") if isinstance(spec, dict) else spec
        m = parse_registry_uri(path, MODELS)
        return (m.registry, m.name, m.version) if m and m.version else None

    def documents(self) -> dict[str, Any]:
        """The rendered files as parsed YAML by file name (what `footprint` reads)."""
        return {
            names.PIPELINE_JOB_FILE: self.job,
            names.COMPUTE_FILE: self.compute,
            names.ENDPOINT_FILE: self.endpoint,
            names.DEPLOYMENT_FILE: self.deployment,
        }

    def data_files(self) -> list[Path]:
        """Local files the job uploads, resolved from the YAML's folder as Azure ML does."""
        out: list[Path] = []
        inputs = self.job.get("inputs") or {}
        for spec in inputs.values() if isinstance(inputs, dict) else []:
            if not isinstance(spec, dict) or spec.get("type") not in ("uri_file", "uri_folder"):
                continue
            path = str(spec.get("path", ""))
            if re.match(r"^[a-z][a-z0-9+.-]*:", path):  # azureml://, https://, azureml:name
                continue
            out.append((self.dir / path).resolve())
        return out


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
    def create_marketplace_subscription(self, assets: FinetuneAssets) -> None: ...
    def create_serverless_endpoint(self, assets: FinetuneAssets, model_id: str) -> None: ...
    def invoke_serverless(self, assets: FinetuneAssets) -> str: ...  # keys never leave it
    def delete_serverless_endpoint(self, name: str) -> bool: ...

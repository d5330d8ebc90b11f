"""One environment's rendered files, as the backends and the flow read them.

Below both `base` (the Backend protocol) and `finetune` (the fine-tuning job's assets, a kind of
Assets), so the imports between them run one way.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import names
from ..catalog.uri import MODELS, parse_registry_uri
from ..errors import WorkflowError
from ..rendering import FILE_NAMES
from ..yamlio import read


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

"""Resolved params (method: finetuning_job) -> the job file and the serverless endpoint file.

Called by generator.rendering, which keeps compute.yml, endpoint.yml and deployment.yml (the
managed-compute variants serve the registered model on a managed online deployment as the
pipeline path does). The job registers the model itself (`outputs.registered_model`), so there
is no model.yml.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import names
from ..params import Resolved
from . import spec

JOB_FILE = names.FINETUNING_JOB_FILE
SERVERLESS_ENDPOINT_FILE = names.SERVERLESS_ENDPOINT_FILE
FILE_NAMES = (JOB_FILE, SERVERLESS_ENDPOINT_FILE)
# No JSON schema is published for `type: finetuning` (facts §12); the endpoint's is in use.
SERVERLESS_ENDPOINT_SCHEMA = (
    "https://azuremlschemas.azureedge.net/latest/serverlessEndpoint.schema.json"
)
REGISTERED_MODEL_OUTPUT = "registered_model"


def _posix_rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def display_name(r: Resolved) -> str:
    p = r.params
    return p.finetuning_job.display_name or f"{p.model.name}-{p.data.tag}-{p.compute.kind}"


def job(r: Resolved, out_dir: Path, tags: dict[str, str], base_model: str) -> dict[str, Any]:
    """The `type: finetuning` job: data by paths relative to the YAML's folder, as the
    pipeline job has them; compute by kind; hyper-parameters as strings."""
    p = r.params
    rel = _posix_rel(r.project_dir / p.data.dir, out_dir)
    doc: dict[str, Any] = {
        "type": "finetuning",
        "task": p.finetuning_job.task,
        "model_provider": "custom",
        "display_name": display_name(r),
        "experiment_name": p.job.experiment_name,
    }
    if p.job.description:
        doc["description"] = p.job.description
    doc["tags"] = {**p.job.tags, **tags}
    doc["model"] = {"path": base_model, "type": "mlflow_model"}
    if p.compute.kind == "cluster":
        doc["compute"] = p.compute.name
    elif p.compute.kind == "instance_types":
        doc["resources"] = {"instance_types": list(p.compute.instance_types)}
    doc["training_data"] = {"path": f"{rel}/{p.data.train_split}.jsonl", "type": "uri_file"}
    doc["validation_data"] = {"path": f"{rel}/{p.data.test_split}.jsonl", "type": "uri_file"}
    doc["hyperparameters"] = dict(r.hyperparameters)
    doc["outputs"] = {
        REGISTERED_MODEL_OUTPUT: {
            "name": r.registered_model_name,
            "version": p.registered_model.version,
            "type": "mlflow_model",
        }
    }
    return doc


def model_id_template(r: Resolved) -> str:
    """The endpoint's model id with the two parts only the workspace knows left as tokens."""
    return spec.workspace_model_id(
        spec.LOCATION_PLACEHOLDER,
        spec.WORKSPACE_ID_PLACEHOLDER,
        r.registered_model_name,
        r.params.registered_model.version,
    )


def serverless_endpoint(r: Resolved, tags: dict[str, str]) -> dict[str, Any]:
    e = r.params.endpoint
    doc: dict[str, Any] = {
        "$schema": SERVERLESS_ENDPOINT_SCHEMA,
        "name": e.name.lower(),
        "model_id": model_id_template(r),
        "auth_mode": e.auth_mode,
    }
    if e.description:
        doc["description"] = e.description
    doc["tags"] = tags
    return doc


def header_notes(name: str) -> list[str]:
    """Extra header lines: what the run completes in these files."""
    if name == SERVERLESS_ENDPOINT_FILE:
        return [
            f"# `model_id` names the job's registered model; {spec.LOCATION_PLACEHOLDER} and "
            f"{spec.WORKSPACE_ID_PLACEHOLDER} are the",
            "# workspace's region and id, completed at creation (`amlgen deploy` does it):",
            "#   az ml serverless-endpoint create -f serverless-endpoint.yml --set model_id=...",
        ]
    if name == JOB_FILE:
        return [
            "# The job registers the fine-tuned model itself (outputs.registered_model).",
        ]
    return []

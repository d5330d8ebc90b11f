"""The rendered files of method finetuning_job, and the chat call of a serverless endpoint.

`FinetuneAssets` is an `Assets` whose job is the `type: finetuning` job file, whose model is the
job's `outputs.registered_model` (the job registers it), and whose endpoint is the serverless
endpoint file, or (managed compute) the endpoint and deployment files as on the pipeline path,
so the pre-flight checks and the managed deployment steps read it as they read the pipeline's.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import names, reading
from ..catalog.uri import MODELS, parse_registry_uri, registry_uri
from ..errors import WorkflowError
from ..finetuning import spec
from ..yamlio import read
from .assets import Assets

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # the emulator's and ARM's JSON body limit

SERVERLESS_DEPLOYMENT = "serverless"  # a serverless endpoint has no deployments: one name
CHAT_PATH = "/chat/completions"
# Model publishers whose models need a marketplace subscription before a serverless endpoint
# (facts §12: non-Microsoft models); Microsoft's own (Phi) need none.
_MARKETPLACE = re.compile(r"^(Meta-)?Llama-|^Mistral|^Ministral|^Cohere-|^AI21-|^Jamba", re.I)


def _doc(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise WorkflowError(f"{path}: missing: run `amlgen render` first")
    data = read(path).data
    if not isinstance(data, dict):
        raise WorkflowError(f"{path}: expected a YAML mapping")
    return data


@dataclass
class FinetuneAssets(Assets):
    serverless: bool = False
    job_file = names.FINETUNING_JOB_FILE

    @classmethod
    def load_job(
        cls, folder: Path, project_dir: Path, request_file: Path, traffic_percent: int = 100
    ) -> FinetuneAssets:
        job = _doc(folder / names.FINETUNING_JOB_FILE)
        out = (job.get("outputs") or {}).get("registered_model") or {}
        if not isinstance(out, dict) or not out.get("name"):
            raise WorkflowError(
                f"{folder / names.FINETUNING_JOB_FILE}: outputs.registered_model.name is missing"
            )
        model = {"name": str(out["name"]), "version": str(out.get("version") or "1")}
        compute_file = folder / names.COMPUTE_FILE
        compute = _doc(compute_file) if compute_file.exists() else None
        serverless_file = folder / names.SERVERLESS_ENDPOINT_FILE
        if serverless_file.exists():
            endpoint = _doc(serverless_file)
            deployment: dict[str, Any] = {"name": SERVERLESS_DEPLOYMENT}
        else:
            endpoint = _doc(folder / names.ENDPOINT_FILE)
            deployment = _doc(folder / names.DEPLOYMENT_FILE)
        return cls(
            dir=folder,
            project_dir=project_dir,
            job=job,
            model=model,
            endpoint=endpoint,
            deployment=deployment,
            compute=compute,
            request_file=request_file,
            traffic_percent=traffic_percent,
            serverless=serverless_file.exists(),
        )

    # --- what the pre-flight reads, from the job's own fields ------------------------------

    def documents(self) -> dict[str, Any]:
        docs: dict[str, Any] = {
            names.FINETUNING_JOB_FILE: self.job,
            names.COMPUTE_FILE: self.compute,
        }
        if self.serverless:
            docs[names.SERVERLESS_ENDPOINT_FILE] = self.endpoint
        else:
            docs[names.ENDPOINT_FILE] = self.endpoint
            docs[names.DEPLOYMENT_FILE] = self.deployment
        return docs

    def step(self) -> dict[str, Any]:
        return {}

    @property
    def compute_name(self) -> str | None:
        value = self.job.get("compute")
        return str(value) if value else None

    @property
    def instance_types(self) -> list[str]:
        res = self.job.get("resources") or {}
        types = res.get("instance_types") if isinstance(res, dict) else None
        return [str(t) for t in types] if isinstance(types, list) else []

    @property
    def finetune_size(self) -> str | None:
        if self.compute_name is None:
            return self.instance_types[0] if self.instance_types else None
        if self.compute and self.compute.get("name") == self.compute_name:
            return str(self.compute.get("size"))
        return None

    @property
    def gpus_requested(self) -> int | None:
        return None  # the job chooses its processes per node itself

    @property
    def base_model(self) -> tuple[str, str, str] | None:
        model = self.job.get("model") or {}
        path = model.get("path") if isinstance(model, dict) else model
        m = parse_registry_uri(path, MODELS)
        return (m.registry, m.name, m.version) if m and m.version else None

    def data_specs(self) -> dict[str, str]:
        """`training_data` / `validation_data` -> their local path as written in the YAML."""
        out: dict[str, str] = {}
        for key in ("training_data", "validation_data"):
            spec_ = self.job.get(key)
            path = spec_.get("path") if isinstance(spec_, dict) else spec_
            if isinstance(path, str) and not re.match(r"^[a-z][a-z0-9+.-]*:", path):
                out[key] = path
        return out

    def data_files(self) -> list[Path]:
        return [(self.dir / p).resolve() for p in self.data_specs().values()]

    def data_overrides(self) -> list[tuple[str, str]]:
        """(`<field>.path`, the file relative to the project): the SDK resolves a fine-tuning
        job's local data against the working directory, not the YAML's folder (azure-ai-ml
        1.35.2), so both backends name the files from the project folder they run in."""
        return [(f"{k}.path", self.rel(self.dir / p)) for k, p in self.data_specs().items()]

    # --- serving ---------------------------------------------------------------------------

    @property
    def base_model_name(self) -> str:
        base = self.base_model
        return base[1] if base else ""

    @property
    def marketplace_needed(self) -> bool:
        return self.serverless and bool(_MARKETPLACE.search(self.base_model_name))

    @property
    def marketplace_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9-]", "-", self.base_model_name)[:50].strip("-")

    @property
    def marketplace_model_id(self) -> str:
        base = self.base_model
        return registry_uri(base[0], MODELS, base[1]) if base else ""

    def model_id(self, location: str, workspace_id: str) -> str:
        return spec.workspace_model_id(location, workspace_id, self.model_name, self.model_version)

    def chat_body(self) -> dict[str, Any]:
        """The request the endpoint expects (Azure AI Model Inference chat completions), from
        the prepared managed-endpoint request `sample_score.json`."""
        try:
            score = json.loads(reading.read_text(self.request_file, MAX_REQUEST_BYTES))
        except reading.ReadRefused as exc:
            raise WorkflowError(f"{self.rel(self.request_file)}: {exc.reason}") from None
        except (ValueError, RecursionError) as exc:
            raise WorkflowError(f"{self.rel(self.request_file)}: {exc}") from None
        data = score.get("input_data") if isinstance(score, dict) else None
        params = data.get("parameters") if isinstance(data, dict) else None
        return spec.chat_request(score, params if isinstance(params, dict) else {})


def chat_url(uri: str) -> str:
    return f"{uri.rstrip('/')}{CHAT_PATH}?api-version={spec.REQUEST_API_VERSION}"


def post_chat(uri: str, key: str, body: dict[str, Any], what: str) -> str:
    """POST the chat request with the key as a bearer token; the key never reaches a message."""
    req = urllib.request.Request(
        chat_url(uri),
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return str(resp.read().decode("utf-8", errors="replace"))
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", errors="replace")
        try:
            message = json.loads(text)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = text.strip()[:200] or exc.reason
        message = str(message).replace(key, "<key>")
        raise WorkflowError(f"{what}: {exc.code}: {message}") from None
    except OSError as exc:
        raise WorkflowError(f"{what}: {str(exc).replace(key, '<key>')}") from None

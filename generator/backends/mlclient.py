"""The sdk backend: `load_*` on the committed YAML, then `MLClient` operations.

`az ml` is this same SDK underneath (facts §1), so both backends send the same request bodies.
Endpoint and deployment use `begin_create_or_update` (an upsert), so no show-first is needed.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .. import names
from ..errors import WorkflowError
from ..finetuning.spec import REQUEST_API_VERSION
from ..quiet import sdk_quiet
from ..rendering import model_path
from ..sdkenv import check_sdk_environment
from ..workspace import Workspace, ml_client, redact
from .base import DRY_JOB, LOG_CONTAINERS, Assets, JobInfo, ModelInfo, StepInfo, entity_dict
from .failures import (
    NOT_FOUND,
    classify_exception,
    exception_detail,
    failure,
    read_title,
)
from .finetune import FinetuneAssets, post_chat
from .readers import endpoint_key, job_info, model_info, registered_model, size_row, usage_row


def _entity_text(entity: Any) -> list[str]:
    """The entity as the SDK sees it, indented under the call that uses it."""
    data = entity_dict(entity)  # plain JSON types: no OrderedDicts or enums
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
    return ["    " + line for line in text.rstrip("\n").splitlines()]


def _read_call(
    kind: str, name: str, version: str | None, endpoint: str | None, registry: str | None
) -> str:
    """The SDK call `read` makes, as the dry-run plan shows it."""
    if registry:
        ops = "components" if kind == "component" else "models"
        return (
            f'MLClient(credential, registry_name="{registry}").{ops}.get('
            f'name="{name}", version="{version}")'
        )
    if kind == "compute":
        return f'ml_client.compute.get("{name}")'
    if kind == "model":
        return f'ml_client.models.get(name="{name}", version="{version}")'
    if kind == "online_endpoint":
        return f'ml_client.online_endpoints.get("{name}")'
    if kind == "serverless_endpoint":
        return f'ml_client.serverless_endpoints.get("{name}")'
    if kind == "marketplace_subscription":
        return f'ml_client.marketplace_subscriptions.get("{name}")'
    return f'ml_client.online_deployments.get(name="{name}", endpoint_name="{endpoint}")'


def _fields(entity: Any) -> dict[str, Any]:
    """An SDK entity's attributes, the wire-named ones too (newer SDKs copy `as_dict()` into
    the entity beside its own, empty, snake-case attributes)."""
    return dict(vars(entity)) if hasattr(entity, "__dict__") else dict(entity)


class SdkBackend:
    """Drives `azure.ai.ml.MLClient` (DefaultAzureCredential, or the emulator)."""

    name = "sdk"

    def __init__(self, ws: Workspace, project_dir: Path, dry_run: bool = False) -> None:
        self.ws = ws
        self.project_dir = project_dir
        self.dry_run = dry_run
        self.plan: list[str] = []
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            check_sdk_environment()  # the SDK's import fails on a stale cloud, emulator or not
            with sdk_quiet():
                self._client = ml_client(self.ws)
        return self._client

    def _say(self, line: str, entity: Any = None) -> None:
        self.plan.append(line)
        if entity is not None:
            self.plan.extend(_entity_text(entity))

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Azure errors become one clear WorkflowError naming the cause and the fix (ids
        masked; failures.py); throttling and lost connections raise TransientError (retried).
        A ResourceNotFoundError reaching here is an error too: reads catch their own."""
        from azure.core.exceptions import AzureError

        try:
            with sdk_quiet():
                yield
        except AzureError as exc:  # credential errors (azure.identity) are AzureErrors too
            raise self._failure(exc, what) from None

    def _failure(self, exc: BaseException, what: str) -> WorkflowError:
        masks = self.ws.masks()
        text = redact(exception_detail(exc), masks)
        return failure(
            classify_exception(exc), redact(what, masks), text, emulated=self.ws.emulated
        )

    def _missing(self, exc: BaseException, what: str) -> bool:
        """True for the resource's own 404; a missing workspace or registry raises instead."""
        if classify_exception(exc) == NOT_FOUND:
            return True
        raise self._failure(exc, what) from None

    def _load(
        self, kind: str, assets: Assets, file: str, overrides: list[dict[str, Any]] | None = None
    ) -> Any:
        import azure.ai.ml as aml

        loader = getattr(aml, f"load_{kind}")
        path = assets.path(file)
        try:
            with sdk_quiet():
                return loader(source=path, params_override=overrides or [])
        except Exception as exc:  # marshmallow ValidationError, ValidationException, ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkflowError(f"{assets.rel(file)}: {first}") from None

    def _not_found(self) -> type[Exception]:
        from azure.core.exceptions import ResourceNotFoundError

        return ResourceNotFoundError

    # --- reads (planning.Reader) -----------------------------------------------------------

    def read(
        self,
        kind: str,
        name: str,
        *,
        version: str | None = None,
        endpoint: str | None = None,
        registry: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any] | None:
        """One resource as the SDK's entity dict (`get()`, then `_to_dict()`); None when absent.
        A throttled or restarting service raises TransientError (the caller retries)."""
        what = read_title(kind, name, version, endpoint, registry)
        if self.dry_run:
            call = _read_call(kind, name, version, endpoint, registry)
            self._say(f"{call}  # {note}" if note else call)
            return None
        if registry:
            _ = self.client  # no workspace configured: say so before any registry call
        with self._guard(what):
            try:
                if registry:
                    client = ml_client(self.ws, registry_name=registry)
                    ops = client.components if kind == "component" else client.models
                    entity = ops.get(name=name, version=version)
                elif kind == "compute":
                    entity = self.client.compute.get(name)
                elif kind == "model":
                    entity = self.client.models.get(name=name, version=version)
                elif kind == "online_endpoint":
                    entity = self.client.online_endpoints.get(name)
                elif kind == "online_deployment":
                    entity = self.client.online_deployments.get(name=name, endpoint_name=endpoint)
                elif kind == "serverless_endpoint":
                    entity = self.client.serverless_endpoints.get(name)
                elif kind == "marketplace_subscription":
                    entity = self.client.marketplace_subscriptions.get(name)
                else:
                    raise WorkflowError(f"cannot read a {kind!r}")
            except self._not_found() as exc:
                if self._missing(exc, what):
                    return None
            return entity_dict(entity)

    # --- operations ------------------------------------------------------------------------

    def create_compute(self, assets: Assets) -> dict[str, Any] | None:
        entity = self._load("compute", assets, names.COMPUTE_FILE)
        self._say(f'compute = load_compute(source="{assets.rel(names.COMPUTE_FILE)}")', entity)
        self._say(
            "ml_client.compute.begin_create_or_update(compute).result()"
            "  # only when the cluster is missing"
        )
        if self.dry_run:
            return None
        with self._guard(f"creating compute {entity.name}"):
            created = self.client.compute.begin_create_or_update(entity).result()
            data = entity_dict(created)
        return data

    def survey(
        self,
        what: str,
        *,
        location: str | None = None,
        endpoint: str | None = None,
        note: str | None = None,
    ) -> Any:
        """The region, sizes, quota and counts the capacity checks read (base.SURVEYS)."""
        where = f'location="{location or "<region>"}"'
        calls = {
            "region": "ml_client.workspaces.get(ml_client.workspace_name).location",
            "sizes": f"ml_client.compute.list_sizes({where})",
            "usages": f"ml_client.compute.list_usage({where})",
            "endpoints": "[e.name for e in ml_client.online_endpoints.list()]",
            "deployments": "[d.name for d in ml_client.online_deployments.list("
            f'endpoint_name="{endpoint}")]',
        }
        if what not in calls:
            raise WorkflowError(f"cannot survey {what!r}")
        self._say(calls[what] + (f"  # {note}" if note else ""))
        if self.dry_run:
            return None
        c = self.client
        with self._guard({"region": "the workspace", "usages": "the quota"}.get(what, what)):
            if what == "region":
                return str(c.workspaces.get(c.workspace_name).location or "") or None
            if what == "sizes":
                return [size_row(_fields(s)) for s in c.compute.list_sizes(location=location)]
            if what == "usages":
                return [usage_row(_fields(u)) for u in c.compute.list_usage(location=location)]
            if what == "endpoints":
                return [str(e.name) for e in c.online_endpoints.list()]
            return [str(d.name) for d in c.online_deployments.list(endpoint_name=endpoint)]

    def submit(self, assets: Assets) -> str:
        job = self._load("job", assets, names.PIPELINE_JOB_FILE)
        self._say(f'job = load_job(source="{assets.rel(names.PIPELINE_JOB_FILE)}")', job)
        self._say("ml_client.jobs.create_or_update(job).name")
        if self.dry_run:
            return DRY_JOB
        with self._guard("submitting the pipeline job"), self._uploads():
            created = self.client.jobs.create_or_update(job)
        return str(created.name)

    @contextlib.contextmanager
    def _uploads(self) -> Iterator[None]:
        if self.ws.emulator_url:
            from ..workspace import emulator_uploads

            with emulator_uploads(self.ws.emulator_url, self.ws.emulator_secret or ""):
                yield
        else:
            yield

    def job_status(self, job: str) -> JobInfo:
        self._say(
            f'ml_client.jobs.get("{job}").status'
            "  # repeated with backoff until Completed, Failed or Canceled"
        )
        if self.dry_run:
            return JobInfo(status="Completed")
        with self._guard(f"job {job}"):
            found = self.client.jobs.get(job)
        return job_info(found)

    def stream(self, job: str) -> str | None:
        self._say(f'ml_client.jobs.stream("{job}")  # logs only; the status decides')
        if self.dry_run:
            return None
        try:
            with sdk_quiet(stdout=sys.stderr):
                self.client.jobs.stream(job)
        except Exception as exc:  # streaming is best effort; the status poll decides
            return f"note: log streaming stopped: {type(exc).__name__}"
        return None

    def model_info(self, name: str, version: str) -> ModelInfo | None:
        self._say(f'ml_client.models.get(name="{name}", version="{version}")')
        if self.dry_run:
            return None
        with self._guard(f"model {name}:{version}"):
            try:
                model = self.client.models.get(name=name, version=version)
            except self._not_found() as exc:
                if self._missing(exc, f"model {name}:{version}"):
                    return None
        return model_info(model)

    def register(self, assets: Assets, job: str) -> None:
        path = model_path(job)
        model = self._load("model", assets, names.MODEL_FILE, [{"path": path}])
        self._say(
            f'model = load_model(source="{assets.rel(names.MODEL_FILE)}", '
            f'params_override=[{{"path": "{path}"}}])',
            model,
        )
        self._say("ml_client.models.create_or_update(model)")
        if self.dry_run:
            return
        with self._guard(f"registering model {assets.model_name}:{assets.model_version}"):
            self.client.models.create_or_update(model)

    def create_endpoint(self, assets: Assets) -> None:
        endpoint = self._load("online_endpoint", assets, names.ENDPOINT_FILE)
        source = assets.rel(names.ENDPOINT_FILE)
        self._say(f'endpoint = load_online_endpoint(source="{source}")', endpoint)
        self._say("ml_client.online_endpoints.begin_create_or_update(endpoint).result()")
        if self.dry_run:
            return
        with self._guard(f"endpoint {assets.endpoint_name}"):
            self.client.online_endpoints.begin_create_or_update(endpoint).result()

    def create_deployment(self, assets: Assets) -> None:
        deployment = self._load("online_deployment", assets, names.DEPLOYMENT_FILE)
        self._say(
            f'deployment = load_online_deployment(source="{assets.rel(names.DEPLOYMENT_FILE)}")',
            deployment,
        )
        self._say("ml_client.online_deployments.begin_create_or_update(deployment).result()")
        if self.dry_run:
            return
        with self._guard(f"deployment {assets.deployment_name}"):
            self.client.online_deployments.begin_create_or_update(deployment).result()

    def set_traffic(self, assets: Assets) -> None:
        traffic = {assets.deployment_name: assets.traffic_percent}
        self._say(f'endpoint = ml_client.online_endpoints.get("{assets.endpoint_name}")')
        self._say(f"endpoint.traffic = {json.dumps(traffic)}")
        self._say("ml_client.online_endpoints.begin_create_or_update(endpoint).result()")
        if self.dry_run:
            return
        with self._guard(f"traffic of endpoint {assets.endpoint_name}"):
            endpoint = self.client.online_endpoints.get(assets.endpoint_name)
            endpoint.traffic = traffic
            self.client.online_endpoints.begin_create_or_update(endpoint).result()

    def invoke(self, assets: Assets) -> str:
        self._say(
            f'ml_client.online_endpoints.invoke(endpoint_name="{assets.endpoint_name}", '
            f'deployment_name="{assets.deployment_name}", '
            f'request_file="{assets.rel(assets.request_file)}")'
        )
        if self.dry_run:
            return ""
        with self._guard(f"invoking endpoint {assets.endpoint_name}"):
            out = self.client.online_endpoints.invoke(
                endpoint_name=assets.endpoint_name,
                deployment_name=assets.deployment_name,
                request_file=str(assets.request_file),
            )
        return out if isinstance(out, str) else json.dumps(out)

    def delete_endpoint(self, name: str) -> bool:
        self._say(f'ml_client.online_endpoints.begin_delete(name="{name}").result()')
        if self.dry_run:
            return True
        with self._guard(f"deleting endpoint {name}"):
            try:
                self.client.online_endpoints.begin_delete(name=name).result()
            except self._not_found() as exc:
                if self._missing(exc, f"deleting endpoint {name}"):
                    return False
        return True

    def deployment_logs(
        self, endpoint: str, deployment: str, container: str, lines: int
    ) -> str | None:
        kind = "" if container == LOG_CONTAINERS[0] else f', container_type="{container}"'
        self._say(
            f'ml_client.online_deployments.get_logs(name="{deployment}", '
            f'endpoint_name="{endpoint}", lines={lines}{kind})'
        )
        if self.dry_run:
            return None
        with self._guard(f"the logs of deployment {deployment}"):
            return str(
                self.client.online_deployments.get_logs(
                    name=deployment,
                    endpoint_name=endpoint,
                    lines=lines,
                    container_type=None if not kind else container,
                )
            )

    def child_jobs(self, job: str) -> list[StepInfo]:
        self._say(f'ml_client.jobs.list(parent_job_name="{job}")')
        if self.dry_run:
            return []
        out: list[StepInfo] = []
        with self._guard(f"the steps of job {job}"):
            for child in self.client.jobs.list(parent_job_name=job):
                if child is None:
                    continue
                status = getattr(child.status, "value", child.status)
                studio = getattr(child, "studio_url", None)
                out.append(StepInfo(str(child.name), child.display_name, str(status), studio))
        return out

    # --- the fine-tuning job path (method finetuning_job) ----------------------------------

    def submit_finetuning(self, assets: FinetuneAssets) -> str:
        shown = [{k: v} for k, v in assets.data_overrides()]
        real = [{k: str((assets.project_dir / v).resolve())} for k, v in assets.data_overrides()]
        job = self._load("job", assets, names.FINETUNING_JOB_FILE, real)
        source = assets.rel(names.FINETUNING_JOB_FILE)
        self._say(
            f'job = load_job(source="{source}", params_override={json.dumps(shown)})'
            "  # data paths resolved from the project folder (the SDK reads them from the cwd)"
        )
        self._say("ml_client.jobs.create_or_update(job).name")
        if self.dry_run:
            return DRY_JOB
        with self._guard("submitting the fine-tuning job"), self._uploads():
            created = self.client.jobs.create_or_update(job)
        return str(created.name)

    def job_model(self, job: str) -> tuple[str, str] | None:
        """(name, version) of the model the job's `registered_model` output names."""
        self._say(f'ml_client.jobs.get("{job}").outputs["registered_model"]  # .name, .version')
        if self.dry_run:
            return None
        with self._guard(f"job {job}"):
            found = self.client.jobs.get(job)
        return registered_model((getattr(found, "outputs", None) or {}).get("registered_model"))

    def workspace_region(self, note: str | None = None) -> str | None:
        """The workspace's region (prices and quota are regional); None in a dry run."""
        if self.dry_run:
            line = "ml_client.workspaces.get(ml_client.workspace_name).location"
            self._say(line + (f"  # {note}" if note else ""))
            return None
        with self._guard("reading the workspace"):
            ws = self.client.workspaces.get(self.client.workspace_name)
        return str(ws.location) if ws.location else None

    def workspace_ref(self) -> tuple[str, str]:
        """(region, workspace id): the parts of a serverless endpoint's model id."""
        self._say(
            "ws = ml_client.workspaces.get(ml_client.workspace_name)  # ws.location, "
            "ws._workspace_id"
        )
        if self.dry_run:
            return "<location>", "<workspace-id>"
        with self._guard("reading the workspace"):
            ws = self.client.workspaces.get(self.client.workspace_name)
        return str(ws.location), str(getattr(ws, "_workspace_id", "") or "")

    def create_marketplace_subscription(self, assets: FinetuneAssets) -> None:
        name, model_id = assets.marketplace_name, assets.marketplace_model_id
        self._say(
            "ml_client.marketplace_subscriptions.begin_create_or_update(MarketplaceSubscription("
            f'name="{name}", model_id="{model_id}")).result()'
        )
        if self.dry_run:
            return
        from azure.ai.ml.entities import MarketplaceSubscription

        with self._guard(f"marketplace subscription {name}"):
            sub = MarketplaceSubscription(name=name, model_id=model_id)
            self.client.marketplace_subscriptions.begin_create_or_update(sub).result()

    def create_serverless_endpoint(self, assets: FinetuneAssets, model_id: str) -> None:
        override = [{"model_id": model_id}]
        endpoint = self._load(
            "serverless_endpoint", assets, names.SERVERLESS_ENDPOINT_FILE, override
        )
        source = assets.rel(names.SERVERLESS_ENDPOINT_FILE)
        self._say(
            f'endpoint = load_serverless_endpoint(source="{source}", '
            f"params_override={json.dumps(override)})"
        )
        self._say("ml_client.serverless_endpoints.begin_create_or_update(endpoint).result()")
        if self.dry_run:
            return
        with self._guard(f"serverless endpoint {assets.endpoint_name}"):
            self.client.serverless_endpoints.begin_create_or_update(endpoint).result()

    def invoke_serverless(self, assets: FinetuneAssets) -> str:
        name, body = assets.endpoint_name, assets.chat_body()
        self._say(f'uri = ml_client.serverless_endpoints.get("{name}").scoring_uri')
        self._say(
            f'key = ml_client.serverless_endpoints.get_keys("{name}").primary_key'
            "  # kept in memory, never printed or stored"
        )
        self._say(
            f"POST {{uri}}/chat/completions?api-version={REQUEST_API_VERSION}  "
            f"Authorization: Bearer {{key}}  {json.dumps(body)}"
        )
        if self.dry_run:
            return ""
        with self._guard(f"serverless endpoint {name}"):
            uri = str(self.client.serverless_endpoints.get(name).scoring_uri or "")
            key = endpoint_key(self.client.serverless_endpoints.get_keys(name))
        if not uri or not key:
            raise WorkflowError(f"serverless endpoint {name}: no scoring URI or key yet")
        return post_chat(uri, key, body, f"invoking serverless endpoint {name}")

    def delete_serverless_endpoint(self, name: str) -> bool:
        self._say(f'ml_client.serverless_endpoints.begin_delete("{name}").result()')
        if self.dry_run:
            return True
        with self._guard(f"deleting serverless endpoint {name}"):
            try:
                self.client.serverless_endpoints.get(name)
            except self._not_found() as exc:
                if self._missing(exc, f"deleting serverless endpoint {name}"):
                    return False
            self.client.serverless_endpoints.begin_delete(name).result()
        return True

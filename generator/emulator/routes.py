"""The Azure ML REST subset the flow uses, as state transitions on the emulator's Store.

Shapes follow the ARM resources the SDK deserialises (id/name/type/properties/systemData).
Long-running operations answer 201/202 with Azure-AsyncOperation + Location + Retry-After
headers, and their status route reports InProgress until the work is done. Time-driven state
(job phases, operations) is advanced lazily by `tick()` at the start of every request.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import catalog
from .faults import Faults
from .jobcheck import JobProblem, check_pipeline_job
from .scoring import ScoringServer, free_port, key_hash
from .state import Store

LOCATION = "eastus"
PROVIDER = "Microsoft.MachineLearningServices"
ARM = rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{PROVIDER}"
WS = ARM + r"/workspaces/(?P<ws>[^/]+)"
# Registry data-plane calls go to the discovered host under /mferp/managementfrontend.
REG = r"(?:/mferp/managementfrontend)?" + ARM + r"/registries/(?P<reg>[^/]+)"
LOC = rf"/subscriptions/(?P<sub>[^/]+)/providers/{PROVIDER}/locations/(?P<loc>[^/]+)"
DATASTORE = "workspaceblobstore"
CONTAINER = "azureml-blobstore-emulator"
REGISTRY = "azureml"
TERMINAL = ("Completed", "Failed", "Canceled")
ENDPOINT_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
COMPUTE_NAME = re.compile(r"^[a-zA-Z](?![a-zA-Z0-9-]*-\d+$)[a-zA-Z0-9\-]{2,23}$")
JOB_OUTPUT = re.compile(r"^azureml://(?:.*/)?jobs/(?P<job>[^/]+)/outputs/(?P<out>[^/]+)/?$")
DATASTORE_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<p>.+)$",
    re.IGNORECASE,
)
WS_MODEL = re.compile(r"/workspaces/[^/]+/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$")
REG_MODEL = re.compile(
    r"^azureml://registries/(?P<reg>[^/]+)/models/(?P<name>[^/]+)"
    r"/versions/(?P<ver>[^/]+)$"
)


# What the service fills in when a managed deployment body leaves them out.
DEPLOYMENT_DEFAULTS: dict[str, Any] = {
    "endpointComputeType": "Managed",
    "scaleSettings": {"scaleType": "Default"},
    "requestSettings": {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1},
    "livenessProbe": {
        "initialDelay": "PT10S",
        "period": "PT10S",
        "timeout": "PT2S",
        "failureThreshold": 30,
        "successThreshold": 1,
    },
    "readinessProbe": {
        "initialDelay": "PT10S",
        "period": "PT10S",
        "timeout": "PT2S",
        "failureThreshold": 30,
        "successThreshold": 1,
    },
    "appInsightsEnabled": False,
    "egressPublicNetworkAccess": "Enabled",
    "properties": {},
}


class ApiError(Exception):
    """An Azure-style error answer: {"error": {"code", "message"}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "ResourceNotFound", f"{kind} '{name}' was not found.")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    raw: bytes
    m: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _system_data(created: str | None = None) -> dict[str, Any]:
    now = _now_iso()
    return {
        "createdAt": created or now,
        "createdBy": "emulator-user",
        "createdByType": "User",
        "lastModifiedAt": now,
        "lastModifiedBy": "emulator-user",
        "lastModifiedByType": "User",
    }


class Api:
    """Route table + handlers. All state lives in `store.data`; this object holds live parts
    (scoring processes, endpoint keys, threads) that are never written to the state file."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        workdir: Path,
        job_seconds: float,
        deploy_seconds: float,
        poll_seconds: int,
    ) -> None:
        self.store = store
        self.faults = faults
        self.workdir = workdir
        self.job_seconds = job_seconds
        self.deploy_seconds = deploy_seconds
        self.poll_seconds = poll_seconds
        self.url = ""
        self.keys: dict[str, tuple[str, str]] = {}  # endpoint -> keys; memory only, never logged
        self.servers: dict[str, ScoringServer] = {}
        self._gates: dict[str, threading.Event] = {}
        self._routes: list[tuple[str, re.Pattern[str], Callable[[Request], Response]]] = []
        self._build_routes()

    # --- routing ------------------------------------------------------------------------------

    def _build_routes(self) -> None:
        r = self._route
        r("GET", WS, self.get_workspace)
        r("GET", WS + r"/jobs", self.list_jobs)
        r("GET", WS + r"/jobs/(?P<name>[^/]+)", self.get_job)
        r("PUT", WS + r"/jobs/(?P<name>[^/]+)", self.put_job)
        r("POST", WS + r"/jobs/(?P<name>[^/]+)/cancel", self.cancel_job)
        r("GET", WS + r"/models", self.list_model_containers)
        r("GET", WS + r"/models/(?P<name>[^/]+)", self.get_model_container)
        r("GET", WS + r"/models/(?P<name>[^/]+)/versions", self.list_models)
        r("GET", WS + r"/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)", self.get_model)
        r("PUT", WS + r"/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)", self.put_model)
        r("GET", WS + r"/computes", self.list_computes)
        r("GET", WS + r"/computes/(?P<name>[^/]+)", self.get_compute)
        r("PUT", WS + r"/computes/(?P<name>[^/]+)", self.put_compute)
        r("DELETE", WS + r"/computes/(?P<name>[^/]+)", self.delete_compute)
        r("GET", LOC + r"/vmSizes", self.list_vm_sizes)
        r("GET", LOC + r"/mfeOperationsStatus/(?P<op>[^/]+)", self.get_operation)
        r("GET", LOC + r"/mfeOperationResults/(?P<op>[^/]+)", self.get_operation_result)
        r("GET", WS + r"/datastores", self.list_datastores)
        r("GET", WS + r"/datastores/(?P<name>[^/]+)", self.get_datastore)
        r("GET", WS + r"/onlineEndpoints", self.list_endpoints)
        r("GET", WS + r"/onlineEndpoints/(?P<ep>[^/]+)", self.get_endpoint)
        r("PUT", WS + r"/onlineEndpoints/(?P<ep>[^/]+)", self.put_endpoint)
        r("PATCH", WS + r"/onlineEndpoints/(?P<ep>[^/]+)", self.put_endpoint)
        r("DELETE", WS + r"/onlineEndpoints/(?P<ep>[^/]+)", self.delete_endpoint)
        r("POST", WS + r"/onlineEndpoints/(?P<ep>[^/]+)/listKeys", self.list_keys)
        r("GET", WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments", self.list_deployments)
        dep = WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)"
        r("GET", dep, self.get_deployment)
        r("PUT", dep, self.put_deployment)
        r("PATCH", dep, self.put_deployment)
        r("DELETE", dep, self.delete_deployment)
        r("POST", dep + r"/getLogs", self.get_logs)
        r(
            "GET",
            r"/registrymanagement/v1\.0/registries/(?P<reg>[^/]+)/discovery",
            self.registry_discovery,
        )
        r("GET", REG + r"/components/(?P<name>[^/]+)", self.get_reg_component_container)
        r("GET", REG + r"/components/(?P<name>[^/]+)/versions", self.list_reg_components)
        r(
            "GET",
            REG + r"/components/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)",
            self.get_reg_component,
        )
        r("GET", REG + r"/models/(?P<name>[^/]+)", self.get_reg_model_container)
        r("GET", REG + r"/models/(?P<name>[^/]+)/versions", self.list_reg_models)
        r("GET", REG + r"/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)", self.get_reg_model)
        r("GET", r"/_emulator/state", self.debug_state)
        r("POST", r"/_emulator/uploads/(?P<container>[^/]+)/(?P<path>.+)", self.upload)
        r("POST", r"/_emulator/faults", self.post_fault)

    def _route(self, method: str, pattern: str, handler: Callable[[Request], Response]) -> None:
        self._routes.append((method, re.compile("^" + pattern + "/?$", re.IGNORECASE), handler))

    def handle(self, req: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            m = pattern.match(req.path)
            if not m:
                continue
            if method != req.method:
                allowed = True
                continue
            req.m = m.groupdict()
            self.tick()
            return handler(req)
        if allowed:
            raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on {req.path}")
        raise ApiError(
            404, "NoRoute", f"The amlgen emulator does not serve {req.method} {req.path}."
        )

    # --- helpers ------------------------------------------------------------------------------

    @property
    def data(self) -> dict[str, Any]:
        return self.store.data

    def _ws_id(self, req: Request) -> str:
        m = req.m
        return (
            f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/{PROVIDER}"
            f"/workspaces/{m['ws']}"
        )

    def _op_headers(self, req: Request, op_id: str) -> dict[str, str]:
        base = f"{self.url}subscriptions/{req.m['sub']}/providers/{PROVIDER}/locations/{LOCATION}"
        q = "?api-version=2024-10-01"
        return {
            "Azure-AsyncOperation": f"{base}/mfeOperationsStatus/{op_id}{q}",
            "Location": f"{base}/mfeOperationResults/{op_id}{q}",
            "Retry-After": str(self.poll_seconds),
        }

    def _start_op(
        self,
        kind: str,
        target: list[str],
        seconds: float,
        outcome: str = "Succeeded",
        error: str | None = None,
        gate: threading.Event | None = None,
    ) -> str:
        op_id = uuid.uuid4().hex
        self.data["operations"][op_id] = {
            "kind": kind,
            "target": target,
            "status": "InProgress",
            "outcome": outcome,
            "error": error,
            "started": time.time(),
            "ready_at": time.time() + seconds,
        }
        if gate is not None:
            self._gates[op_id] = gate
        return op_id

    def tick(self) -> None:
        """Advance time-driven state: finish operations whose work is done, move jobs along."""
        now = time.time()
        changed = False
        stop: list[ScoringServer] = []
        with self.store.lock:
            for op_id, op in self.data["operations"].items():
                if op["status"] != "InProgress" or now < op["ready_at"]:
                    continue
                gate = self._gates.get(op_id)
                if gate is not None and not gate.is_set():
                    continue
                self._gates.pop(op_id, None)
                op["status"] = op["outcome"]
                op["ended"] = now
                server = self._finish(op)
                if server is not None:
                    stop.append(server)
                changed = True
            for job in self.data["jobs"].values():
                changed |= self._advance_job(job, now)
        for server in stop:
            threading.Thread(target=server.stop, daemon=True).start()
        if changed:
            self.store.save()

    def _finish(self, op: dict[str, Any]) -> ScoringServer | None:
        kind, target, outcome = op["kind"], op["target"], op["outcome"]
        if kind == "endpoint-create":
            ep = self.data["endpoints"].get(target[0])
            if ep:
                ep["properties"]["provisioningState"] = outcome
        elif kind == "endpoint-delete":
            self.data["endpoints"].pop(target[0], None)
            self.data["deployments"].pop(target[0], None)
            self.keys.pop(target[0], None)
            return self.servers.pop(target[0], None)
        elif kind == "deployment-create":
            dep = self.data["deployments"].get(target[0], {}).get(target[1])
            if dep:
                dep["properties"]["provisioningState"] = outcome
                self._write_routes(target[0])
        elif kind == "deployment-delete":
            self.data["deployments"].get(target[0], {}).pop(target[1], None)
            ep = self.data["endpoints"].get(target[0])
            if ep:
                ep["properties"]["traffic"].pop(target[1], None)
            self._write_routes(target[0])
        elif kind == "compute-create":
            comp = self.data["computes"].get(target[0])
            if comp:
                comp["properties"]["provisioningState"] = outcome
        elif kind == "compute-delete":
            self.data["computes"].pop(target[0], None)
        return None

    # --- workspace, datastores, sizes, operations ---------------------------------------------

    def get_workspace(self, req: Request) -> Response:
        ws_id = self._ws_id(req)
        return Response(
            200,
            {
                "id": ws_id,
                "name": req.m["ws"],
                "type": f"{PROVIDER}/workspaces",
                "location": LOCATION,
                "kind": "Default",
                "tags": {},
                "identity": {"type": "SystemAssigned"},
                "sku": {"name": "Basic", "tier": "Basic"},
                "properties": {
                    "friendlyName": req.m["ws"],
                    "description": "amlgen local emulator",
                    "discoveryUrl": f"{self.url}discovery",
                    "workspaceId": str(uuid.UUID(int=1)),
                    "storageAccount": f"{_storage_prefix(req)}/storageAccounts/emulatorstore",
                    "mlFlowTrackingUri": f"azureml://{LOCATION}.api.azureml.ms/mlflow/v1.0{ws_id}",
                    "provisioningState": "Succeeded",
                    "publicNetworkAccess": "Enabled",
                    "hbiWorkspace": False,
                    "v1LegacyMode": False,
                },
                "systemData": _system_data(),
            },
        )

    def _datastore(self, req: Request) -> dict[str, Any]:
        return {
            "id": f"{self._ws_id(req)}/datastores/{DATASTORE}",
            "name": DATASTORE,
            "type": f"{PROVIDER}/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": "emulatorstore",
                "containerName": CONTAINER,
                "endpoint": "emulator.invalid",
                "protocol": "https",
                "credentials": {"credentialsType": "None"},
                "isDefault": True,
                "description": "uploads land in the emulator (see generator/emulator/uploads.py)",
            },
            "systemData": _system_data(),
        }

    def list_datastores(self, req: Request) -> Response:
        return Response(200, {"value": [self._datastore(req)]})

    def get_datastore(self, req: Request) -> Response:
        if req.m["name"] != DATASTORE:
            raise not_found("Datastore", req.m["name"])
        return Response(200, self._datastore(req))

    def list_vm_sizes(self, req: Request) -> Response:
        sizes = []
        for name in catalog.vm_size_names():
            vm = catalog.vm_size(name)
            assert vm is not None
            if vm.retired:
                continue  # retired sizes are no longer offered in the region
            sizes.append(
                {
                    "name": vm.name,
                    "family": "standardNCADSA100v4Family" if vm.gpus else "standardDFamily",
                    "vCPUs": max(2, 24 * vm.gpus),
                    "gpus": vm.gpus,
                    "osVhdSizeMB": 1047552,
                    "maxResourceVolumeMB": 65536,
                    "memoryGB": float(max(14, 220 * vm.gpus)),
                    "lowPriorityCapable": True,
                    "premiumIO": True,
                    "supportedComputeTypes": ["AmlCompute", "ComputeInstance"],
                }
            )
        return Response(200, {"value": sizes})

    def get_operation(self, req: Request) -> Response:
        op = self.data["operations"].get(req.m["op"])
        if op is None:
            raise not_found("Operation", req.m["op"])
        op["polls"] = op.get("polls", 0) + 1
        body: dict[str, Any] = {
            "id": req.path,
            "name": req.m["op"],
            "status": op["status"],
            "startTime": datetime.fromtimestamp(op["started"], timezone.utc).isoformat(),
        }
        if op["status"] == "Failed":
            body["error"] = {
                "code": "DeploymentFailed" if "deployment" in op["kind"] else "OperationFailed",
                "message": op.get("error") or "failed",
            }
        headers = {"Retry-After": str(self.poll_seconds)} if op["status"] == "InProgress" else {}
        return Response(200, body, headers)

    def get_operation_result(self, req: Request) -> Response:
        op = self.data["operations"].get(req.m["op"])
        if op is None:
            raise not_found("Operation", req.m["op"])
        if op["status"] == "InProgress":
            return Response(
                202,
                None,
                {
                    "Retry-After": str(self.poll_seconds),
                    "Location": self.url + req.path.lstrip("/"),
                },
            )
        if op["status"] == "Failed":
            raise ApiError(400, "OperationFailed", op.get("error") or "failed")
        return Response(204)

    # --- jobs -----------------------------------------------------------------------------------

    def _job_view(self, job: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(job["resource"])

    def list_jobs(self, req: Request) -> Response:
        jobs = [self._job_view(j) for j in self.data["jobs"].values()]
        return Response(200, {"value": jobs})

    def get_job(self, req: Request) -> Response:
        job = self.data["jobs"].get(req.m["name"])
        if job is None:
            raise not_found("Job", req.m["name"])
        return Response(200, self._job_view(job))

    def put_job(self, req: Request) -> Response:
        name = req.m["name"]
        body = req.body if isinstance(req.body, dict) else {}
        props = body.get("properties")
        if not isinstance(props, dict):
            raise ApiError(400, "UserError", "The job body must have a `properties` object.")
        with self.store.lock:
            existing = self.data["jobs"].get(name)
            if existing is not None:  # mutable fields only, like the service
                res = existing["resource"]
                for key in ("displayName", "description", "tags"):
                    if key in props:
                        res["properties"][key] = props[key]
                self.store.save()
                return Response(200, self._job_view(existing))
            meta: dict[str, Any] = {"created": time.time(), "final": "Completed"}
            try:
                check_pipeline_job(props, self.data["uploads"], self.data["computes"])
            except JobProblem as problem:
                meta.update(final="Failed", error=problem.message, code=problem.code)
            fault = self.faults.take_job_status()
            if fault:
                self.data["faults_fired"].append(
                    [f"job_status {fault['status']}", req.method, req.path]
                )
            if fault and meta["final"] == "Completed":
                meta["final"] = fault["status"]
                if fault["status"] == "Failed":
                    meta["error"] = fault.get("message") or (
                        "SystemError: the fine-tuning step failed (fault injected by the "
                        "amlgen emulator)"
                    )
                    meta["code"] = "SystemError"
            res = copy.deepcopy(body)
            res["id"] = f"{self._ws_id(req)}/jobs/{name}"
            res["name"] = name
            res["type"] = f"{PROVIDER}/workspaces/jobs"
            res["systemData"] = _system_data()
            p = res["properties"]
            p["status"] = "NotStarted"
            p.setdefault("properties", {})
            p["services"] = {
                "Studio": {
                    "jobServiceType": "Studio",
                    "endpoint": f"{self.url}portal/runs/{name}?wsid={self._ws_id(req)}",
                }
            }
            self.data["jobs"][name] = {"resource": res, "meta": meta}
            self.store.save()
        return Response(201, self._job_view(self.data["jobs"][name]))

    def _advance_job(self, job: dict[str, Any], now: float) -> bool:
        meta, props = job["meta"], job["resource"]["properties"]
        old = props["status"]
        if old in TERMINAL:
            return False
        if "cancel_at" in meta:
            new = "Canceled" if now >= meta["cancel_at"] else "CancelRequested"
        else:
            frac = (now - meta["created"]) / max(self.job_seconds, 1e-6)
            if meta["final"] == "Failed" and meta.get("code") == "UserError" and frac >= 0.25:
                new = "Failed"  # the service rejects a bad job while preparing it
            elif frac < 0.1:
                new = "NotStarted"
            elif frac < 0.25:
                new = "Queued"
            elif frac < 1.0:
                new = "Running"
            else:
                new = meta["final"]
        if new == old:
            return False
        props["status"] = new
        if new == "Failed":
            props["properties"]["error"] = meta.get("error", "Failed")
            props["properties"]["error.code"] = meta.get("code", "SystemError")
        elif new == "Completed":
            self._job_outputs(job)
        return True

    def _job_outputs(self, job: dict[str, Any]) -> None:
        """A completed job's outputs point at the datastore; the model folder 'exists' there."""
        res = job["resource"]
        for out_name, out in (res["properties"].get("outputs") or {}).items():
            if not isinstance(out, dict):
                continue
            path = f"azureml/{res['name']}/{out_name}/"
            out.setdefault("uri", f"azureml://datastores/{DATASTORE}/paths/{path}")
            out.setdefault("mode", "ReadWriteMount")
            self.data["uploads"][f"{DATASTORE}/{path}MLmodel"] = {
                "size": 0,
                "generated_by_job": res["name"],
            }

    def cancel_job(self, req: Request) -> Response:
        job = self.data["jobs"].get(req.m["name"])
        if job is None:
            raise not_found("Job", req.m["name"])
        with self.store.lock:
            if job["resource"]["properties"]["status"] not in TERMINAL:
                job["meta"]["cancel_at"] = time.time() + min(0.5, 0.1 * self.job_seconds)
                job["resource"]["properties"]["status"] = "CancelRequested"
            op = self._start_op("job-cancel", [req.m["name"]], min(0.5, 0.1 * self.job_seconds))
            self.store.save()
        return Response(202, None, self._op_headers(req, op))

    # --- models ---------------------------------------------------------------------------------

    def _versions(self, name: str) -> dict[str, Any]:
        return self.data["models"].get(name, {})

    def list_model_containers(self, req: Request) -> Response:
        return Response(200, {"value": [self._container(req, n) for n in self.data["models"]]})

    def _container(self, req: Request, name: str) -> dict[str, Any]:
        versions = self._versions(name)
        latest = max(versions, key=catalog.version_key) if versions else None
        nxt = str(int(latest) + 1) if latest and latest.isdigit() else "1"
        return {
            "id": f"{self._ws_id(req)}/models/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/models",
            "properties": {
                "latestVersion": latest,
                "nextVersion": nxt,
                "isArchived": False,
                "tags": {},
                "properties": {},
            },
            "systemData": _system_data(),
        }

    def get_model_container(self, req: Request) -> Response:
        if req.m["name"] not in self.data["models"]:
            raise not_found("Model container", req.m["name"])
        return Response(200, self._container(req, req.m["name"]))

    def list_models(self, req: Request) -> Response:
        versions = list(self._versions(req.m["name"]).values())
        order = req.query.get("$orderBy", "").lower()
        if order.startswith("createdtime"):
            versions.sort(
                key=lambda v: v["systemData"]["createdAt"], reverse=order.endswith("desc")
            )
        top = req.query.get("$top")
        if top and top.isdigit():
            versions = versions[: int(top)]
        return Response(200, {"value": copy.deepcopy(versions)})

    def get_model(self, req: Request) -> Response:
        model = self._versions(req.m["name"]).get(req.m["ver"])
        if model is None:
            raise not_found("Model", f"{req.m['name']}:{req.m['ver']}")
        return Response(200, copy.deepcopy(model))

    def put_model(self, req: Request) -> Response:
        name, ver = req.m["name"], req.m["ver"]
        body = req.body if isinstance(req.body, dict) else {}
        props = body.get("properties") or {}
        uri = str(props.get("modelUri") or "")
        with self.store.lock:
            if ver in self._versions(name):
                raise ApiError(
                    409,
                    "UserError",
                    f"Model {name}:{ver} already exists and model versions are "
                    "immutable: register a new version.",
                )
            self._check_model_uri(uri)
            res = copy.deepcopy(body)
            res.update(
                id=f"{self._ws_id(req)}/models/{name}/versions/{ver}",
                name=ver,
                type=f"{PROVIDER}/workspaces/models/versions",
                systemData=_system_data(),
            )
            res["properties"]["provisioningState"] = "Succeeded"
            res["properties"].setdefault("flavors", {})
            if (
                res["properties"].get("modelType") == "mlflow_model"
                and not res["properties"]["flavors"]
            ):
                res["properties"]["flavors"] = {
                    "python_function": {"data": {"loader_module": "mlflow.transformers"}}
                }
            self.data["models"].setdefault(name, {})[ver] = res
            self.store.save()
        return Response(201, copy.deepcopy(res))

    def _check_model_uri(self, uri: str) -> None:
        m = JOB_OUTPUT.match(uri)
        if m:
            job = self.data["jobs"].get(m["job"])
            if job is None:
                raise ApiError(400, "UserError", f"Job '{m['job']}' in {uri} was not found.")
            status = job["resource"]["properties"]["status"]
            if status != "Completed":
                raise ApiError(
                    400,
                    "UserError",
                    f"Job '{m['job']}' is {status}; only a Completed job's outputs "
                    "can be registered.",
                )
            if m["out"] not in (job["resource"]["properties"].get("outputs") or {}):
                raise ApiError(400, "UserError", f"Job '{m['job']}' has no output '{m['out']}'.")
            return
        d = DATASTORE_URI.match(uri)
        if d:
            key = f"{d['ds']}/{d['p']}"
            if not any(
                k == key or k.startswith(key.rstrip("/") + "/") for k in self.data["uploads"]
            ):
                raise ApiError(400, "UserError", f"The model path {uri} does not exist.")

    # --- computes -------------------------------------------------------------------------------

    def list_computes(self, req: Request) -> Response:
        return Response(200, {"value": copy.deepcopy(list(self.data["computes"].values()))})

    def get_compute(self, req: Request) -> Response:
        comp = self.data["computes"].get(req.m["name"])
        if comp is None:
            raise not_found("Compute", req.m["name"])
        return Response(200, copy.deepcopy(comp))

    def put_compute(self, req: Request) -> Response:
        name = req.m["name"]
        body = req.body if isinstance(req.body, dict) else {}
        if not COMPUTE_NAME.match(name):
            raise ApiError(
                400,
                "BadRequest",
                f"Compute name '{name}' is invalid: 3-24 characters, starting with a "
                "letter, letters, digits and hyphens, not ending in -<digits>.",
            )
        inner = (body.get("properties") or {}).get("properties") or {}
        size = inner.get("vmSize")
        if size and catalog.vm_size(str(size)) is None:
            raise ApiError(
                400, "BadRequest", f"The VM size '{size}' is not supported in region {LOCATION}."
            )
        vm = catalog.vm_size(str(size)) if size else None
        if vm is not None and vm.retired:
            raise ApiError(
                400, "BadRequest", f"The VM size '{vm.name}' was retired on {vm.retired}."
            )
        with self.store.lock:
            existing = self.data["computes"].get(name)
            res = copy.deepcopy(body)
            res.update(
                id=f"{self._ws_id(req)}/computes/{name}",
                name=name,
                type=f"{PROVIDER}/workspaces/computes",
                systemData=_system_data(),
            )
            res.setdefault("location", LOCATION)
            p = res.setdefault("properties", {})
            p["provisioningState"] = "Updating" if existing else "Creating"
            p.setdefault("properties", {}).update(
                allocationState="Steady",
                currentNodeCount=0,
                targetNodeCount=0,
                nodeStateCounts={
                    "idleNodeCount": 0,
                    "runningNodeCount": 0,
                    "preparingNodeCount": 0,
                    "unusableNodeCount": 0,
                    "leavingNodeCount": 0,
                    "preemptedNodeCount": 0,
                },
            )
            self.data["computes"][name] = res
            op = self._start_op("compute-create", [name], 0.2)
            self.store.save()
        return Response(200 if existing else 201, copy.deepcopy(res), self._op_headers(req, op))

    def delete_compute(self, req: Request) -> Response:
        name = req.m["name"]
        with self.store.lock:
            comp = self.data["computes"].get(name)
            if comp is None:
                return Response(204)
            comp["properties"]["provisioningState"] = "Deleting"
            op = self._start_op("compute-delete", [name], 0.2)
            self.store.save()
        return Response(202, None, self._op_headers(req, op))

    # --- online endpoints -----------------------------------------------------------------------

    def list_endpoints(self, req: Request) -> Response:
        return Response(200, {"value": [self._public(e) for e in self.data["endpoints"].values()]})

    def _endpoint(self, name: str) -> dict[str, Any]:
        ep = self.data["endpoints"].get(name)
        if ep is None:
            raise not_found("Online endpoint", name)
        return ep

    def get_endpoint(self, req: Request) -> Response:
        return Response(200, self._public(self._endpoint(req.m["ep"])))

    def _check_traffic(self, ep_name: str, traffic: dict[str, Any]) -> None:
        deployments = self.data["deployments"].get(ep_name, {})
        total = 0
        for dep, pct in traffic.items():
            if dep not in deployments:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"Traffic is set for deployment '{dep}', which does not exist on "
                    f"endpoint '{ep_name}'.",
                )
            if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
                raise ApiError(400, "BadRequest", f"Traffic for '{dep}' must be 0..100.")
            if pct and deployments[dep]["properties"]["provisioningState"] != "Succeeded":
                raise ApiError(
                    400, "BadRequest", f"Deployment '{dep}' is not ready and cannot take traffic."
                )
            total += pct
        if total not in (0, 100):
            raise ApiError(
                400, "BadRequest", f"Traffic values must add up to 0 or 100, not {total}."
            )

    def put_endpoint(self, req: Request) -> Response:
        name = req.m["ep"]
        body = req.body if isinstance(req.body, dict) else {}
        if not (3 <= len(name) <= 32 and ENDPOINT_NAME.match(name)):
            raise ApiError(
                400,
                "BadRequest",
                f"Endpoint name '{name}' is invalid: 3-32 characters, starting with a "
                "letter, letters, digits and hyphens, ending alphanumeric.",
            )
        props = body.get("properties") or {}
        with self.store.lock:
            existing = self.data["endpoints"].get(name)
            if existing is None and req.method == "PATCH":
                raise not_found("Online endpoint", name)
            if existing and existing["properties"]["provisioningState"] in ("Creating", "Deleting"):
                raise ApiError(
                    409,
                    "Conflict",
                    f"Endpoint '{name}' is {existing['properties']['provisioningState']}"
                    "; wait for the operation to finish.",
                )
            traffic = props.get("traffic")
            if traffic is not None:
                if not isinstance(traffic, dict):
                    raise ApiError(400, "BadRequest", "properties.traffic must be an object.")
                self._check_traffic(name, traffic)
            if existing is None:
                res = copy.deepcopy(body)
                port = free_port()
                self.keys[name] = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
                res.update(
                    id=f"{self._ws_id(req)}/onlineEndpoints/{name}",
                    name=name,
                    type=f"{PROVIDER}/workspaces/onlineEndpoints",
                    systemData=_system_data(),
                )
                res.setdefault("location", LOCATION)
                res.setdefault("identity", {"type": "SystemAssigned"})
                p = res.setdefault("properties", {})
                p.setdefault("authMode", "Key")
                p.update(
                    provisioningState="Creating",
                    traffic=dict(traffic or {}),
                    mirrorTraffic={},
                    publicNetworkAccess="Enabled",
                    scoringUri=f"http://127.0.0.1:{port}/score",
                    swaggerUri=f"http://127.0.0.1:{port}/swagger.json",
                )
                res["_port"] = port
                self.data["endpoints"][name] = res
                op = self._start_op("endpoint-create", [name], 0.3)
                status = 201
            else:
                res = existing
                for key in ("tags", "description"):
                    if key in body:
                        res[key] = body[key]
                if "description" in props:
                    res["properties"]["description"] = props["description"]
                if traffic is not None:
                    res["properties"]["traffic"] = dict(traffic)
                res["properties"]["provisioningState"] = "Updating"
                res["systemData"] = _system_data(res["systemData"]["createdAt"])
                self._write_routes(name)
                op = self._start_op("endpoint-create", [name], 0.2)
                status = 200
            self.store.save()
            view = self._public(res)
        return Response(status, view, self._op_headers(req, op))

    @staticmethod
    def _public(res: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in res.items() if not k.startswith("_")}

    def delete_endpoint(self, req: Request) -> Response:
        name = req.m["ep"]
        with self.store.lock:
            ep = self.data["endpoints"].get(name)
            if ep is None:
                return Response(204)
            ep["properties"]["provisioningState"] = "Deleting"
            for dep in self.data["deployments"].get(name, {}).values():
                dep["properties"]["provisioningState"] = "Deleting"
            op = self._start_op("endpoint-delete", [name], 0.3)
            self.store.save()
        return Response(202, None, self._op_headers(req, op))

    def list_keys(self, req: Request) -> Response:
        ep = self._endpoint(req.m["ep"])
        if ep["properties"].get("authMode", "Key").lower() != "key":
            raise ApiError(400, "BadRequest", "listKeys needs an endpoint with auth_mode key.")
        keys = self._keys(req.m["ep"])
        return Response(200, {"primaryKey": keys[0], "secondaryKey": keys[1]})

    def _keys(self, ep: str) -> tuple[str, str]:
        if ep not in self.keys:  # a new process after a restart from the state file
            self.keys[ep] = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        return self.keys[ep]

    # --- deployments ----------------------------------------------------------------------------

    def list_deployments(self, req: Request) -> Response:
        self._endpoint(req.m["ep"])
        deps = self.data["deployments"].get(req.m["ep"], {}).values()
        return Response(200, {"value": copy.deepcopy(list(deps))})

    def get_deployment(self, req: Request) -> Response:
        self._endpoint(req.m["ep"])
        dep = self.data["deployments"].get(req.m["ep"], {}).get(req.m["dep"])
        if dep is None:
            raise not_found("Deployment", req.m["dep"])
        return Response(200, copy.deepcopy(dep))

    def _check_deployment(self, ep: str, name: str, props: dict[str, Any]) -> None:
        if not (3 <= len(name) <= 32 and ENDPOINT_NAME.match(name)):
            raise ApiError(
                400,
                "BadRequest",
                f"Deployment name '{name}' is invalid: 3-32 characters, starting with "
                "a letter, letters, digits and hyphens, ending alphanumeric.",
            )
        size = props.get("instanceType")
        if size:
            vm = catalog.vm_size(str(size))
            if vm is None or vm.retired:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"Instance type '{size}' is not supported for managed online "
                    f"deployments in {LOCATION}.",
                )
        model = str(props.get("model") or "")
        m = WS_MODEL.search(model)
        if m and m["ver"] not in self._versions(m["name"]):
            raise ApiError(400, "BadArgument", f"Model {m['name']}:{m['ver']} was not found.")
        r = REG_MODEL.match(model)
        if r and (r["reg"] != REGISTRY or catalog.model(r["name"], r["ver"]) is None):
            raise ApiError(400, "BadArgument", f"Model {model} was not found.")

    def put_deployment(self, req: Request) -> Response:
        ep_name, name = req.m["ep"], req.m["dep"]
        body = req.body if isinstance(req.body, dict) else {}
        props = body.get("properties") or {}
        with self.store.lock:
            ep = self._endpoint(ep_name)
            if ep["properties"]["provisioningState"] == "Deleting":
                raise ApiError(409, "Conflict", f"Endpoint '{ep_name}' is being deleted.")
            deps = self.data["deployments"].setdefault(ep_name, {})
            existing = deps.get(name)
            if existing is None and req.method == "PATCH":
                raise not_found("Deployment", name)
            if existing and existing["properties"]["provisioningState"] in (
                "Creating",
                "Updating",
                "Deleting",
            ):
                raise ApiError(
                    409,
                    "Conflict",
                    f"Deployment '{name}' is "
                    f"{existing['properties']['provisioningState']}; wait for the "
                    "operation to finish.",
                )
            if existing is None:
                self._check_deployment(ep_name, name, props)
                res = copy.deepcopy(body)
                res.update(
                    id=f"{ep['id']}/deployments/{name}",
                    name=name,
                    type=f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
                    systemData=_system_data(),
                )
                res.setdefault("location", LOCATION)
                res.setdefault("sku", {"name": "Default", "capacity": 1})
                p = res.setdefault("properties", {})
                for key, value in DEPLOYMENT_DEFAULTS.items():
                    p.setdefault(key, copy.deepcopy(value))
                p["provisioningState"] = "Creating"
                status = 201
            else:
                res = existing
                merged = {**existing["properties"], **props}
                self._check_deployment(ep_name, name, merged)
                res["properties"] = merged
                for key in ("tags", "sku"):
                    if key in body:
                        res[key] = body[key]
                res["properties"]["provisioningState"] = "Updating"
                status = 200
            deps[name] = res
            fault = self.faults.take_deployment_fails()
            gate = threading.Event()
            if fault:
                self.data["faults_fired"].append(["deployment_fails", req.method, req.path])
                message = fault.get("message") or (
                    "ResourceNotReady: User container has crashed or terminated: Liveness probe "
                    "failed (fault injected by the amlgen emulator)."
                )
                op = self._start_op(
                    "deployment-create",
                    [ep_name, name],
                    self.deploy_seconds,
                    outcome="Failed",
                    error=message,
                )
            else:
                op = self._start_op(
                    "deployment-create", [ep_name, name], self.deploy_seconds, gate=gate
                )
                threading.Thread(
                    target=self._provision, args=(ep_name, op, gate), daemon=True
                ).start()
            self.store.save()
            view = copy.deepcopy(res)
        return Response(status, view, self._op_headers(req, op))

    def _server(self, ep_name: str) -> ScoringServer:
        with self.store.lock:
            server = self.servers.get(ep_name)
            if server is None:
                port = int(self.data["endpoints"][ep_name]["_port"])
                server = ScoringServer(ep_name, port, self.workdir)
                self.servers[ep_name] = server
            return server

    def _provision(self, ep_name: str, op_id: str, gate: threading.Event) -> None:
        """Start (or reuse) the endpoint's real inference server; the LRO waits for this."""
        try:
            server = self._server(ep_name)
            with self.store.lock:
                self._write_routes(ep_name)
            server.start()
        except Exception as exc:  # reported through the operation, as the service would
            with self.store.lock:
                op = self.data["operations"].get(op_id)
                if op is not None:
                    op["outcome"] = "Failed"
                    op["error"] = f"ResourceNotReady: the scoring container did not start: {exc}"
        finally:
            gate.set()

    def resume_scoring(self) -> None:
        """After a restart from a state file, bring back servers for ready deployments."""
        for ep_name, deps in list(self.data["deployments"].items()):
            if ep_name in self.data["endpoints"] and any(
                d["properties"]["provisioningState"] == "Succeeded" for d in deps.values()
            ):
                gate = threading.Event()
                threading.Thread(
                    target=self._provision, args=(ep_name, "", gate), daemon=True
                ).start()

    def _write_routes(self, ep_name: str) -> None:
        server = self.servers.get(ep_name)
        ep = self.data["endpoints"].get(ep_name)
        if server is None or ep is None:
            return
        traffic = ep["properties"].get("traffic") or {}
        deployments = {
            name: {
                "model": _model_label(str(d["properties"].get("model", "?"))),
                "traffic": traffic.get(name, 0),
            }
            for name, d in self.data["deployments"].get(ep_name, {}).items()
            if d["properties"]["provisioningState"] in ("Succeeded", "Updating", "Creating")
        }
        server.write_routes([key_hash(k) for k in self._keys(ep_name)], deployments)

    def delete_deployment(self, req: Request) -> Response:
        ep_name, name = req.m["ep"], req.m["dep"]
        with self.store.lock:
            self._endpoint(ep_name)
            dep = self.data["deployments"].get(ep_name, {}).get(name)
            if dep is None:
                return Response(204)
            traffic = self.data["endpoints"][ep_name]["properties"].get("traffic") or {}
            if traffic.get(name):
                raise ApiError(
                    400,
                    "BadRequest",
                    f"Deployment '{name}' still receives {traffic[name]}% of the "
                    "traffic; set it to 0 before deleting it.",
                )
            dep["properties"]["provisioningState"] = "Deleting"
            op = self._start_op("deployment-delete", [ep_name, name], 0.2)
            self.store.save()
        return Response(202, None, self._op_headers(req, op))

    def get_logs(self, req: Request) -> Response:
        self._endpoint(req.m["ep"])
        if req.m["dep"] not in self.data["deployments"].get(req.m["ep"], {}):
            raise not_found("Deployment", req.m["dep"])
        return Response(
            200, {"content": "amlgen emulator: the stand-in scoring container has no model logs.\n"}
        )

    # --- registry -------------------------------------------------------------------------------

    def registry_discovery(self, req: Request) -> Response:
        if req.m["reg"] != REGISTRY:
            raise not_found("Registry", req.m["reg"])
        return Response(
            200,
            {
                "registryName": REGISTRY,
                "primaryRegion": LOCATION,
                "regions": [LOCATION],
                "subscriptionId": "00000000-0000-0000-0000-0000000000aa",
                "resourceGroup": "registry-azureml",
                "primaryRegionResourceProviderUri": self.url,
                "registryFqdns": {LOCATION: {"primary": self.url}},
            },
        )

    def _reg_base(self, req: Request) -> str:
        m = req.m
        return (
            f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/{PROVIDER}"
            f"/registries/{m['reg']}"
        )

    def _reg_component(self, req: Request, name: str, ver: str) -> dict[str, Any]:
        raw = catalog._load("components.json").get(name, {}).get(ver)
        if raw is None or req.m["reg"] != REGISTRY:
            raise not_found("Component", f"{name}:{ver}")
        spec = {
            "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json",
            "name": name,
            "version": ver,
            "type": raw.get("type", "pipeline"),
            "display_name": name,
            "is_deterministic": True,
            "inputs": copy.deepcopy(raw["inputs"]),
            "outputs": copy.deepcopy(raw["outputs"]),
        }
        return {
            "id": f"{self._reg_base(req)}/components/{name}/versions/{ver}",
            "name": ver,
            "type": f"{PROVIDER}/registries/components/versions",
            "properties": {
                "componentSpec": spec,
                "description": f"{name} (bundled catalog)",
                "isArchived": False,
                "isAnonymous": False,
                "tags": {},
                "properties": {},
                "provisioningState": "Succeeded",
            },
            "systemData": _system_data(),
        }

    def get_reg_component(self, req: Request) -> Response:
        return Response(200, self._reg_component(req, req.m["name"], req.m["ver"]))

    def list_reg_components(self, req: Request) -> Response:
        versions = catalog.component_versions(req.m["name"])
        return Response(
            200, {"value": [self._reg_component(req, req.m["name"], v) for v in reversed(versions)]}
        )

    def get_reg_component_container(self, req: Request) -> Response:
        versions = catalog.component_versions(req.m["name"])
        if not versions or req.m["reg"] != REGISTRY:
            raise not_found("Component", req.m["name"])
        return Response(
            200,
            {
                "id": f"{self._reg_base(req)}/components/{req.m['name']}",
                "name": req.m["name"],
                "properties": {"latestVersion": versions[-1], "isArchived": False},
                "systemData": _system_data(),
            },
        )

    def _reg_model(self, req: Request, name: str, ver: str) -> dict[str, Any]:
        import json

        mv = catalog.model(name, ver)
        if mv is None or req.m["reg"] != REGISTRY:
            raise not_found("Model", f"{name}:{ver}")
        # The registry stores lists and dicts in tags as strings (the notebook literal_evals them).
        tags = {
            "finetune_compute_allow_list": json.dumps(list(mv.finetune_allow_list)),
            "inference_compute_allow_list": json.dumps(list(mv.inference_allow_list)),
            "model_specific_defaults": json.dumps(mv.model_specific_defaults),
            "task": "chat-completion",
            "author": "Microsoft",
        }
        names = {
            "finetune_deprecation": "FinetuneDeprecationDate",
            "finetune_retirement": "FinetuneRetirementDate",
            "inference_deprecation": "InferenceDeprecationDate",
            "inference_retirement": "InferenceRetirementDate",
        }
        for key, value in mv.lifecycle.items():
            tags[names.get(key, key)] = value
        return {
            "id": f"azureml://registries/{REGISTRY}/models/{name}/versions/{ver}",
            "name": ver,
            "type": f"{PROVIDER}/registries/models/versions",
            "properties": {
                "modelType": "mlflow_model",
                "isArchived": mv.archived,
                "isAnonymous": False,
                "modelUri": f"azureml://registries/{REGISTRY}/models/{name}/versions/{ver}",
                "description": f"{name} (bundled catalog)",
                "tags": tags,
                "properties": {
                    "finetune-recommended-sku": ", ".join(mv.finetune_allow_list),
                    "inference-recommended-sku": ", ".join(mv.inference_allow_list),
                    "finetuning-tasks": "chat-completion",
                },
                "flavors": {"hftransformersv2": {"data": {"task": "chat-completion"}}},
                "provisioningState": "Succeeded",
            },
            "systemData": _system_data(),
        }

    def get_reg_model(self, req: Request) -> Response:
        return Response(200, self._reg_model(req, req.m["name"], req.m["ver"]))

    def list_reg_models(self, req: Request) -> Response:
        versions = catalog.model_versions(req.m["name"])
        return Response(
            200, {"value": [self._reg_model(req, req.m["name"], v) for v in reversed(versions)]}
        )

    def get_reg_model_container(self, req: Request) -> Response:
        versions = catalog.model_versions(req.m["name"])
        if not versions or req.m["reg"] != REGISTRY:
            raise not_found("Model", req.m["name"])
        return Response(
            200,
            {
                "id": f"{self._reg_base(req)}/models/{req.m['name']}",
                "name": req.m["name"],
                "properties": {"latestVersion": versions[-1], "isArchived": False},
                "systemData": _system_data(),
            },
        )

    # --- emulator-only routes -------------------------------------------------------------------

    def debug_state(self, req: Request) -> Response:
        snap = self.store.snapshot()
        for ep in snap["endpoints"].values():
            ep.pop("_port", None)
        snap["faults_pending"] = self.faults.pending()
        return Response(200, snap)

    def upload(self, req: Request) -> Response:
        """The upload seam's server side: files land under workdir/uploads/<datastore>/."""
        container, path = req.m["container"], req.m["path"]
        if container != CONTAINER:
            raise ApiError(404, "ContainerNotFound", f"Container '{container}' does not exist.")
        parts = Path(path).parts
        if not parts or ".." in parts or Path(path).is_absolute():
            raise ApiError(400, "InvalidPath", f"Invalid upload path '{path}'.")
        target = self.workdir / "uploads" / DATASTORE / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(req.raw)
        with self.store.lock:
            self.data["uploads"][f"{DATASTORE}/{path}"] = {
                "size": len(req.raw),
                "file": str(target),
            }
            self.store.save()
        return Response(201, {"datastore": DATASTORE, "path": path, "size": len(req.raw)})

    def post_fault(self, req: Request) -> Response:
        self.faults.add(req.body if isinstance(req.body, dict) else {})
        return Response(201, {"pending": self.faults.pending()})


def _storage_prefix(req: Request) -> str:
    return f"/subscriptions/{req.m['sub']}/resourceGroups/{req.m['rg']}/providers/Microsoft.Storage"


def _model_label(model_id: str) -> str:
    """`name:version` for an ARM or registry model id (what the stand-in's answer names)."""
    m = WS_MODEL.search(model_id) or REG_MODEL.match(model_id)
    return f"{m['name']}:{m['ver']}" if m else model_id

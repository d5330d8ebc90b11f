"""Endpoints family: managed online endpoints and deployments, traffic, keys, logs.

A ready deployment is served by its endpoint's real azureml-inference-server-http (scoring.py);
the emulator rewrites that server's routing file whenever deployments, traffic or keys change.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

from ... import catalog
from ...catalog.uri import MODELS, parse_registry_uri
from .. import containers, quota
from ..arm import (
    PROVIDER,
    REGISTRY,
    SYSTEM_DATA_ENDPOINT,
    WS,
    ZERO_ID,
    ApiError,
    Family,
    Request,
    Response,
    Route,
    body_dict,
    not_found,
    public,
    system_data,
    ws_id,
)
from ..arm import Service as Api
from ..scoring import ScoringServer, free_port, key_hash

ENDPOINT_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
WS_MODEL = re.compile(r"/workspaces/[^/]+/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$")
BUSY = ("Creating", "Updating", "Deleting")

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


def _model_label(model_id: str) -> str:
    """`name:version` for an ARM or registry model id (what the stand-in's answer names)."""
    m = WS_MODEL.search(model_id)
    if m:
        return f"{m['name']}:{m['ver']}"
    r = parse_registry_uri(model_id, MODELS)
    return f"{r.name}:{r.version}" if r and r.version else model_id


# --- endpoints ------------------------------------------------------------------------------------


def _endpoint(api: Api, name: str) -> dict[str, Any]:
    ep = api.data["endpoints"].get(name)
    if ep is None:
        raise not_found("Online endpoint", name)
    return ep


def _keys(api: Api, ep: str) -> tuple[str, str]:
    if ep not in api.keys:  # a new process after a restart from the state file
        api.keys[ep] = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    return api.keys[ep]


def list_endpoints(api: Api, req: Request) -> Response:
    return Response(200, {"value": [public(e) for e in api.data["endpoints"].values()]})


def get_endpoint(api: Api, req: Request) -> Response:
    return Response(200, public(_endpoint(api, req.m["ep"])))


def _check_traffic(api: Api, ep_name: str, traffic: dict[str, Any]) -> None:
    deployments = api.data["deployments"].get(ep_name, {})
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
        raise ApiError(400, "BadRequest", f"Traffic values must add up to 0 or 100, not {total}.")


def put_endpoint(api: Api, req: Request) -> Response:
    name = req.m["ep"]
    body = body_dict(req)
    if not (3 <= len(name) <= 32 and ENDPOINT_NAME.match(name)):
        raise ApiError(
            400,
            "BadRequest",
            f"Endpoint name '{name}' is invalid: 3-32 characters, starting with a "
            "letter, letters, digits and hyphens, ending alphanumeric.",
        )
    props = body.get("properties") or {}
    with api.store.lock:
        existing = api.data["endpoints"].get(name)
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
            _check_traffic(api, name, traffic)
        if existing is None:
            res = copy.deepcopy(body)
            port = free_port()
            api.keys[name] = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
            op = api.start_op("endpoint-create", [name], 0.3, running="Updating")
            headers = api.op_headers(req, op, location="resource")
            res.update(
                id=f"{ws_id(req)}/onlineEndpoints/{name}",
                name=name,
                type=f"{PROVIDER}/workspaces/onlineEndpoints",
                kind="Managed",
                systemData=system_data(keys=SYSTEM_DATA_ENDPOINT),
            )
            res.setdefault("location", api.region)
            identity = res.setdefault("identity", {"type": "SystemAssigned"})
            if isinstance(identity, dict):
                identity.setdefault("principalId", ZERO_ID)
                identity.setdefault("tenantId", ZERO_ID)
            p = res.setdefault("properties", {})
            p.setdefault("authMode", "Key")
            p.setdefault("description", None)
            p["properties"] = {
                **(p.get("properties") or {}),
                "azureml.onlineendpointid": res["id"].lower(),
                "AzureAsyncOperationUri": headers["Azure-AsyncOperation"],
            }
            # The scoring URI exists once the endpoint does (set when the operation ends).
            p.update(
                provisioningState="Creating",
                traffic=dict(traffic or {}),
                mirrorTraffic={},
                publicNetworkAccess="Enabled",
                scoringUri=None,
                swaggerUri=None,
                compute=None,
            )
            res["_port"] = port
            api.data["endpoints"][name] = res
            view = public(res)
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
            res["systemData"] = system_data(res["systemData"]["createdAt"], SYSTEM_DATA_ENDPOINT)
            _write_routes(api, name)
            op = api.start_op("endpoint-create", [name], 0.2, running="Updating")
            headers = api.op_headers(req, op, location="resource")
            view = _update_answer(res, headers)
        api.store.save()
    # The service answers an update with 201 too (recordings/: a traffic change).
    return Response(201, view, headers)


def _update_answer(res: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """What the service sends back for a PUT on an existing endpoint (recorded): the accepted
    request's view, without location and identity, still saying Creating, no scoring URI."""
    p = res["properties"]
    return {
        "id": res["id"],
        "name": res["name"],
        "type": res["type"],
        "properties": {
            "description": p.get("description"),
            "properties": {"AzureAsyncOperationUri": headers["Azure-AsyncOperation"]},
            "scoringUri": None,
            "swaggerUri": None,
            "authMode": p.get("authMode"),
            "provisioningState": "Creating",
            "compute": None,
            "traffic": copy.deepcopy(p.get("traffic") or {}),
            "mirrorTraffic": copy.deepcopy(p.get("mirrorTraffic") or {}),
            "publicNetworkAccess": p.get("publicNetworkAccess"),
        },
        "systemData": {"lastModifiedAt": res["systemData"]["lastModifiedAt"]},
        "tags": copy.deepcopy(res.get("tags") or {}),
        "kind": res.get("kind", "Managed"),
    }


def delete_endpoint(api: Api, req: Request) -> Response:
    name = req.m["ep"]
    with api.store.lock:
        ep = api.data["endpoints"].get(name)
        if ep is None:
            return Response(204)
        ep["properties"]["provisioningState"] = "Deleting"
        for dep in api.data["deployments"].get(name, {}).values():
            dep["properties"]["provisioningState"] = "Deleting"
        # The deletion ends only once the scoring server is down (its URI answers no more).
        gate = threading.Event()
        op = api.start_op("endpoint-delete", [name], 0.3, gate=gate, running="Updating")
        threading.Thread(target=_stop, args=(api.servers.get(name), gate), daemon=True).start()
        api.store.save()
    return Response(202, None, api.op_headers(req, op))


def _stop(server: ScoringServer | None, gate: threading.Event) -> None:
    try:
        if server is not None:
            server.stop()
    finally:
        gate.set()


def list_keys(api: Api, req: Request) -> Response:
    ep = _endpoint(api, req.m["ep"])
    if ep["properties"].get("authMode", "Key").lower() != "key":
        raise ApiError(400, "BadRequest", "listKeys needs an endpoint with auth_mode key.")
    keys = _keys(api, req.m["ep"])
    return Response(200, {"primaryKey": keys[0], "secondaryKey": keys[1]})


# --- deployments ----------------------------------------------------------------------------------


def list_deployments(api: Api, req: Request) -> Response:
    _endpoint(api, req.m["ep"])
    deps = api.data["deployments"].get(req.m["ep"], {}).values()
    return Response(200, {"value": [public(d) for d in deps]})


def get_deployment(api: Api, req: Request) -> Response:
    _endpoint(api, req.m["ep"])
    dep = api.data["deployments"].get(req.m["ep"], {}).get(req.m["dep"])
    if dep is None:
        raise not_found("Deployment", req.m["dep"])
    return Response(200, public(dep))


def _check_deployment(api: Api, name: str, props: dict[str, Any]) -> None:
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
        if vm is None or vm.retired or not quota.offered(api, str(size)):
            raise ApiError(
                400,
                "BadRequest",
                f"Instance type '{size}' is not supported for managed online "
                f"deployments in {api.region}.",
            )
    model = str(props.get("model") or "")
    m = WS_MODEL.search(model)
    if m and m["ver"] not in api.data["models"].get(m["name"], {}):
        raise ApiError(400, "BadArgument", f"Model {m['name']}:{m['ver']} was not found.")
    r = parse_registry_uri(model, MODELS)
    if r and r.version and (r.registry != REGISTRY or catalog.model(r.name, r.version) is None):
        raise ApiError(400, "BadArgument", f"Model {model} was not found.")


def put_deployment(api: Api, req: Request) -> Response:
    ep_name, name = req.m["ep"], req.m["dep"]
    body = body_dict(req)
    props = body.get("properties") or {}
    with api.store.lock:
        ep = _endpoint(api, ep_name)
        if ep["properties"]["provisioningState"] == "Deleting":
            raise ApiError(409, "Conflict", f"Endpoint '{ep_name}' is being deleted.")
        deps = api.data["deployments"].setdefault(ep_name, {})
        existing = deps.get(name)
        if existing is None and req.method == "PATCH":
            raise not_found("Deployment", name)
        if existing and existing["properties"]["provisioningState"] in BUSY:
            raise ApiError(
                409,
                "Conflict",
                f"Deployment '{name}' is "
                f"{existing['properties']['provisioningState']}; wait for the "
                "operation to finish.",
            )
        capacity = int((body.get("sku") or {}).get("capacity") or 1)
        size = str(props.get("instanceType") or "")
        if existing is None:
            _check_deployment(api, name, props)
            quota.check_deployment(api, req.m["sub"], size, capacity)
            res = copy.deepcopy(body)
            res.update(
                id=f"{ep['id']}/deployments/{name}",
                name=name,
                type=f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
                kind="Managed",
                systemData=system_data(keys=SYSTEM_DATA_ENDPOINT),
            )
            res.setdefault("location", api.region)
            sku = res.setdefault("sku", {"name": "Default", "capacity": 1})
            if isinstance(sku, dict):
                sku.setdefault("tier", "Standard")
            p = res.setdefault("properties", {})
            for key, value in DEPLOYMENT_DEFAULTS.items():
                p.setdefault(key, copy.deepcopy(value))
            if isinstance(p.get("requestSettings"), dict):
                p["requestSettings"].setdefault("maxQueueWait", "PT0S")
            p["provisioningState"] = "Creating"
            status = 201
        else:
            res = existing
            merged = {**existing["properties"], **props}
            _check_deployment(api, name, merged)
            same = str(existing["properties"].get("instanceType", "")).lower() == size.lower()
            had = int((existing.get("sku") or {}).get("capacity") or 1) if same else 0
            quota.check_deployment(api, req.m["sub"], size, capacity, had)
            res["properties"] = merged
            for key in ("tags", "sku"):
                if key in body:
                    res[key] = body[key]
            res["properties"]["provisioningState"] = "Updating"
            status = 200
        deps[name] = res
        fault = api.faults.take_deployment_fails()
        gate = threading.Event()
        model = _model_label(str(res["properties"].get("model", "")))
        reason = fault["reason"] if fault else None
        res["_logs"] = containers.logs(model, reason)
        if fault:
            api.data["faults_fired"].append(["deployment_fails", req.method, req.path])
            message = fault.get("message") or containers.MESSAGES[fault["reason"]]
            op = api.start_op(
                "deployment-create",
                [ep_name, name],
                api.deploy_seconds,
                outcome="Failed",
                error=message,
                running="Updating",
            )
        else:
            op = api.start_op(
                "deployment-create",
                [ep_name, name],
                api.deploy_seconds,
                gate=gate,
                running="Updating",
            )
            threading.Thread(target=_provision, args=(api, ep_name, op, gate), daemon=True).start()
        headers = api.op_headers(req, op, location="resource")
        res["properties"]["properties"] = {
            **(res["properties"].get("properties") or {}),
            "AzureAsyncOperationUri": headers["Azure-AsyncOperation"],
        }
        api.store.save()
        view = public(res)
    return Response(status, view, headers)


def delete_deployment(api: Api, req: Request) -> Response:
    ep_name, name = req.m["ep"], req.m["dep"]
    with api.store.lock:
        _endpoint(api, ep_name)
        dep = api.data["deployments"].get(ep_name, {}).get(name)
        if dep is None:
            return Response(204)
        traffic = api.data["endpoints"][ep_name]["properties"].get("traffic") or {}
        if traffic.get(name):
            raise ApiError(
                400,
                "BadRequest",
                f"Deployment '{name}' still receives {traffic[name]}% of the "
                "traffic; set it to 0 before deleting it.",
            )
        dep["properties"]["provisioningState"] = "Deleting"
        op = api.start_op("deployment-delete", [ep_name, name], 0.2, running="Updating")
        api.store.save()
    return Response(202, None, api.op_headers(req, op))


def get_logs(api: Api, req: Request) -> Response:
    _endpoint(api, req.m["ep"])
    dep = api.data["deployments"].get(req.m["ep"], {}).get(req.m["dep"])
    if dep is None:
        raise not_found("Deployment", req.m["dep"])
    body = body_dict(req)
    kind = str(body.get("containerType") or containers.SERVER)
    if kind not in containers.CONTAINERS:
        allowed = ", ".join(containers.CONTAINERS)
        raise ApiError(400, "BadRequest", f"containerType '{kind}': allowed: {allowed}.")
    text = (dep.get("_logs") or {}).get(kind) or ""
    tail = body.get("tail")
    return Response(
        200, {"content": containers.tail(text, tail if isinstance(tail, int) else None)}
    )


# --- the real scoring servers ---------------------------------------------------------------------


def _server(api: Api, ep_name: str) -> ScoringServer:
    with api.store.lock:
        server = api.servers.get(ep_name)
        if server is None:
            port = int(api.data["endpoints"][ep_name]["_port"])
            server = ScoringServer(ep_name, port, api.workdir)
            api.servers[ep_name] = server
        return server


def _provision(api: Api, ep_name: str, op_id: str, gate: threading.Event) -> None:
    """Start (or reuse) the endpoint's real inference server; the LRO waits for this."""
    try:
        server = _server(api, ep_name)
        with api.store.lock:
            _write_routes(api, ep_name)
        server.start()
    except Exception as exc:  # reported through the operation, as the service would
        with api.store.lock:
            op = api.data["operations"].get(op_id)
            if op is not None:
                op["outcome"] = "Failed"
                op["error"] = f"ResourceNotReady: the scoring container did not start: {exc}"
    finally:
        gate.set()


def resume(api: Api) -> None:
    """After a restart from a state file, bring back servers for ready deployments."""
    for ep_name, deps in list(api.data["deployments"].items()):
        if ep_name in api.data["endpoints"] and any(
            d["properties"]["provisioningState"] == "Succeeded" for d in deps.values()
        ):
            gate = threading.Event()
            threading.Thread(target=_provision, args=(api, ep_name, "", gate), daemon=True).start()


def _write_routes(api: Api, ep_name: str) -> None:
    server = api.servers.get(ep_name)
    ep = api.data["endpoints"].get(ep_name)
    if server is None or ep is None:
        return
    traffic = ep["properties"].get("traffic") or {}
    deployments = {
        name: {
            "model": _model_label(str(d["properties"].get("model", "?"))),
            "traffic": traffic.get(name, 0),
        }
        for name, d in api.data["deployments"].get(ep_name, {}).items()
        if d["properties"]["provisioningState"] in ("Succeeded", "Updating", "Creating")
    }
    server.write_routes([key_hash(k) for k in _keys(api, ep_name)], deployments)


def _service_variables(p: dict[str, Any]) -> None:
    """The environment variables the service adds to a deployment it provisioned (recorded):
    where the model is mounted and, with a scoring script, where the code is."""
    env = p.get("environmentVariables")
    env = env if isinstance(env, dict) else {}
    label = _model_label(str(p.get("model") or "")).replace(":", "/")
    env.setdefault("AZUREML_MODEL_DIR", f"/var/azureml-app/azureml-models/{label}")
    code = p.get("codeConfiguration")
    if isinstance(code, dict) and code.get("scoringScript"):
        env.setdefault("AZUREML_ENTRY_SCRIPT", str(code["scoringScript"]))
        env.setdefault("AML_APP_ROOT", "/var/azureml-app/onlinescoring")
    p["environmentVariables"] = env


write_routes = _write_routes  # the out-of-band family rewrites routing after a traffic change


# --- long-running operations ----------------------------------------------------------------------


def _endpoint_created(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    ep = api.data["endpoints"].get(op["target"][0])
    if ep:
        p = ep["properties"]
        p["provisioningState"] = op["outcome"]
        if op["outcome"] == "Succeeded" and not p.get("scoringUri"):
            port = ep["_port"]
            p["scoringUri"] = f"http://127.0.0.1:{port}/score"
            p["swaggerUri"] = f"http://127.0.0.1:{port}/swagger.json"
    return None


def _endpoint_deleted(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    name = op["target"][0]
    api.data["endpoints"].pop(name, None)
    api.data["deployments"].pop(name, None)
    api.keys.pop(name, None)
    server = api.servers.pop(name, None)
    return server.stop if server is not None else None  # stopped already; a no-op then


def _deployment_created(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    ep_name, name = op["target"]
    dep = api.data["deployments"].get(ep_name, {}).get(name)
    if dep:
        dep["properties"]["provisioningState"] = op["outcome"]
        if op["outcome"] == "Succeeded":
            _service_variables(dep["properties"])
        _write_routes(api, ep_name)
    return None


def _deployment_deleted(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    ep_name, name = op["target"]
    api.data["deployments"].get(ep_name, {}).pop(name, None)
    ep = api.data["endpoints"].get(ep_name)
    if ep:
        ep["properties"]["traffic"].pop(name, None)
    _write_routes(api, ep_name)
    return None


ENDPOINT = WS + r"/onlineEndpoints/(?P<ep>[^/]+)"
DEPLOYMENT = ENDPOINT + r"/deployments/(?P<dep>[^/]+)"
FAMILY = Family(
    "endpoints",
    (
        Route("GET", WS + r"/onlineEndpoints", list_endpoints),
        Route("GET", ENDPOINT, get_endpoint),
        Route("PUT", ENDPOINT, put_endpoint),
        Route("PATCH", ENDPOINT, put_endpoint),
        Route("DELETE", ENDPOINT, delete_endpoint),
        Route("POST", ENDPOINT + r"/listKeys", list_keys),
        Route("GET", ENDPOINT + r"/deployments", list_deployments),
        Route("GET", DEPLOYMENT, get_deployment),
        Route("PUT", DEPLOYMENT, put_deployment),
        Route("PATCH", DEPLOYMENT, put_deployment),
        Route("DELETE", DEPLOYMENT, delete_deployment),
        Route("POST", DEPLOYMENT + r"/getLogs", get_logs),
    ),
    sections=("endpoints", "deployments"),
    finish={
        "endpoint-create": _endpoint_created,
        "endpoint-delete": _endpoint_deleted,
        "deployment-create": _deployment_created,
        "deployment-delete": _deployment_deleted,
    },
    resume=resume,
)

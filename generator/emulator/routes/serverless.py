"""Serverless endpoints family: `/serverlessEndpoints/{name}` as ARM long-running operations.

Shapes follow the SDK's generated REST models (arm_ml_service, API 2025-12-01):
ServerlessEndpoint {location, sku, properties: ServerlessEndpointProperties {authMode,
modelSettings.modelId, inferenceEndpoint.uri (read only), provisioningState, endpointState}},
listKeys -> EndpointAuthKeys {primaryKey, secondaryKey}. The inference URI is served by the
same real inference server stand-in as online endpoints, behind the same key gate, and speaks
the chat-completions shape (`POST <uri>/chat/completions`, facts §12).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

from ... import catalog
from ...catalog.uri import MODELS, parse_registry_uri
from ..arm import (
    PROVIDER,
    WS,
    ApiError,
    Family,
    Request,
    Response,
    Route,
    body_dict,
    not_found,
    public,
    system_data,
)
from ..arm import Service as Api
from ..scoring import ScoringServer, free_port, key_hash

NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{1,50}[a-zA-Z0-9]$")
WS_MODEL_ID = re.compile(
    r"^azureml://locations/(?P<loc>[^/]+)/workspaces/(?P<wsid>[^/]+)/models/(?P<name>[^/]+)"
    r"/versions/(?P<ver>[^/]+)$"
)
SECTION = "serverless_endpoints"
WORKSPACE_ID = "00000000-0000-0000-0000-000000000001"  # the workspace family's workspaceId


def _server_key(name: str) -> str:
    return f"serverless/{name}"


def _get(api: Api, name: str) -> dict[str, Any]:
    ep = api.data[SECTION].get(name)
    if ep is None:
        raise not_found("Serverless endpoint", name)
    return ep


def _check_model(api: Api, model_id: str) -> str:
    """The `name:version` the endpoint serves; a 400 like the service's for a bad model id."""
    m = WS_MODEL_ID.match(model_id)
    if m:
        if m["loc"].lower() != api.region or m["wsid"] != WORKSPACE_ID:
            raise ApiError(
                400,
                "BadRequest",
                f"Model id '{model_id}' names workspace {m['wsid']} in {m['loc']}; this "
                f"workspace is {WORKSPACE_ID} in {api.region}.",
            )
        if m["ver"] not in api.data["models"].get(m["name"], {}):
            raise ApiError(
                400, "BadRequest", f"Model {m['name']}:{m['ver']} was not found in the workspace."
            )
        return f"{m['name']}:{m['ver']}"
    r = parse_registry_uri(model_id, MODELS)
    if r and r.registry == "azureml" and catalog.model(r.name) is not None:
        return r.name
    raise ApiError(
        400,
        "BadRequest",
        f"Model id '{model_id}' is not a model this workspace can deploy serverless "
        "(azureml://locations/<region>/workspaces/<workspace-id>/models/<name>/versions/<v>).",
    )


def list_endpoints(api: Api, req: Request) -> Response:
    return Response(200, {"value": [public(e) for e in api.data[SECTION].values()]})


def get_endpoint(api: Api, req: Request) -> Response:
    return Response(200, public(_get(api, req.m["name"])))


def put_endpoint(api: Api, req: Request) -> Response:
    name = req.m["name"]
    if not NAME.match(name):
        raise ApiError(
            400,
            "BadRequest",
            f"Serverless endpoint name '{name}' is invalid: 3-52 characters, starting with a "
            "letter, letters, digits and hyphens, ending alphanumeric.",
        )
    body = body_dict(req)
    raw = body.get("properties")
    props: dict[str, Any] = raw if isinstance(raw, dict) else {}
    settings = props.get("modelSettings") or {}
    model_id = str(settings.get("modelId") or "") if isinstance(settings, dict) else ""
    with api.store.lock:
        existing = api.data[SECTION].get(name)
        if existing and existing["properties"]["provisioningState"] in ("Creating", "Deleting"):
            raise ApiError(
                409,
                "Conflict",
                f"Serverless endpoint '{name}' is {existing['properties']['provisioningState']}; "
                "wait for the operation to finish.",
            )
        if existing is not None:
            if model_id and model_id != existing["properties"]["modelSettings"]["modelId"]:
                raise ApiError(
                    400, "BadRequest", "The model of a serverless endpoint cannot be changed."
                )
            for key in ("tags",):
                if key in body:
                    existing[key] = body[key]
            api.store.save()
            return Response(200, public(existing))
        label = _check_model(api, model_id)
        port = free_port()
        api.keys[_server_key(name)] = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        ws = req.path.split("/serverlessEndpoints/")[0]
        res: dict[str, Any] = {
            "id": f"{ws}/serverlessEndpoints/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/serverlessEndpoints",
            "location": body.get("location") or api.region,
            "tags": body.get("tags") or {},
            "sku": body.get("sku") or {"name": "Consumption"},
            "systemData": system_data(),
            "properties": {
                "authMode": props.get("authMode") or "Key",
                "modelSettings": {"modelId": model_id},
                "inferenceEndpoint": {"uri": f"http://127.0.0.1:{port}", "headers": {}},
                "provisioningState": "Creating",
                "endpointState": "Creating",
            },
            "_port": port,
            "_model": label,
        }
        api.data[SECTION][name] = res
        gate = threading.Event()
        op = api.start_op("serverless-create", [name], 0.3, gate=gate)
        threading.Thread(target=_provision, args=(api, name, op, gate), daemon=True).start()
        api.store.save()
        view = public(res)
    return Response(201, view, api.op_headers(req, op))


def delete_endpoint(api: Api, req: Request) -> Response:
    name = req.m["name"]
    with api.store.lock:
        ep = api.data[SECTION].get(name)
        if ep is None:
            return Response(204)
        ep["properties"]["provisioningState"] = "Deleting"
        ep["properties"]["endpointState"] = "Deleting"
        gate = threading.Event()
        op = api.start_op("serverless-delete", [name], 0.3, gate=gate)
        server = api.servers.get(_server_key(name))
        threading.Thread(target=_stop, args=(server, gate), daemon=True).start()
        api.store.save()
    return Response(202, None, api.op_headers(req, op))


def list_keys(api: Api, req: Request) -> Response:
    ep = _get(api, req.m["name"])
    if str(ep["properties"].get("authMode", "Key")).lower() != "key":
        raise ApiError(400, "BadRequest", "listKeys needs a serverless endpoint with key auth.")
    keys = _keys(api, req.m["name"])
    return Response(200, {"primaryKey": keys[0], "secondaryKey": keys[1]})


def _keys(api: Api, name: str) -> tuple[str, str]:
    key = _server_key(name)
    if key not in api.keys:  # a new process after a restart from the state file
        api.keys[key] = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    return api.keys[key]


# --- the scoring server -----------------------------------------------------------------------


def _write_routes(api: Api, name: str, server: ScoringServer) -> None:
    ep = api.data[SECTION][name]
    server.write_routes(
        [key_hash(k) for k in _keys(api, name)],
        {"serverless": {"model": ep.get("_model", "?"), "traffic": 100}},
        api="chat-completions",
    )


def _provision(api: Api, name: str, op_id: str, gate: threading.Event) -> None:
    try:
        with api.store.lock:
            key = _server_key(name)
            server = api.servers.get(key)
            if server is None:
                port = int(api.data[SECTION][name]["_port"])
                server = ScoringServer(f"serverless-{name}", port, api.workdir)
                api.servers[key] = server
            _write_routes(api, name, server)
        server.start()
    except Exception as exc:  # reported through the operation, as the service would
        with api.store.lock:
            op = api.data["operations"].get(op_id)
            if op is not None:
                op["outcome"] = "Failed"
                op["error"] = f"ResourceNotReady: the inference endpoint did not start: {exc}"
    finally:
        gate.set()


def _stop(server: ScoringServer | None, gate: threading.Event) -> None:
    try:
        if server is not None:
            server.stop()
    finally:
        gate.set()


def resume(api: Api) -> None:
    """After a restart from a state file, bring back the servers of ready endpoints."""
    for name, ep in list(api.data[SECTION].items()):
        if ep["properties"]["provisioningState"] == "Succeeded":
            gate = threading.Event()
            threading.Thread(target=_provision, args=(api, name, "", gate), daemon=True).start()


def _created(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    ep = api.data[SECTION].get(op["target"][0])
    if ep:
        ep["properties"]["provisioningState"] = op["outcome"]
        ep["properties"]["endpointState"] = "Online" if op["outcome"] == "Succeeded" else "Failed"
    return None


def _deleted(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    name = op["target"][0]
    api.data[SECTION].pop(name, None)
    api.keys.pop(_server_key(name), None)
    server = api.servers.pop(_server_key(name), None)
    return server.stop if server is not None else None


ENDPOINT = WS + r"/serverlessEndpoints/(?P<name>[^/]+)"
FAMILY = Family(
    "serverless",
    (
        Route("GET", WS + r"/serverlessEndpoints", list_endpoints),
        Route("GET", ENDPOINT, get_endpoint),
        Route("PUT", ENDPOINT, put_endpoint),
        Route("DELETE", ENDPOINT, delete_endpoint),
        Route("POST", ENDPOINT + r"/listKeys", list_keys),
    ),
    sections=(SECTION,),
    finish={"serverless-create": _created, "serverless-delete": _deleted},
    resume=resume,
)

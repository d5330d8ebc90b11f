"""Workspace family: the workspace itself, its datastore, VM sizes, operation status routes."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import quota
from ..arm import (
    CONTAINER,
    DATASTORE,
    LOC,
    PROVIDER,
    WS,
    ApiError,
    Family,
    Request,
    Response,
    Route,
    not_found,
    system_data,
    ws_id,
)

if TYPE_CHECKING:
    from ..api import Api


def _storage_prefix(req: Request) -> str:
    return f"/subscriptions/{req.m['sub']}/resourceGroups/{req.m['rg']}/providers/Microsoft.Storage"


def get_workspace(api: Api, req: Request) -> Response:
    wid = ws_id(req)
    return Response(
        200,
        {
            "id": wid,
            "name": req.m["ws"],
            "type": f"{PROVIDER}/workspaces",
            "location": api.region,
            "kind": "Default",
            "tags": {},
            "identity": {"type": "SystemAssigned"},
            "sku": {"name": "Basic", "tier": "Basic"},
            "properties": {
                "friendlyName": req.m["ws"],
                "description": "amlgen local emulator",
                "discoveryUrl": f"{api.url}discovery",
                "workspaceId": str(uuid.UUID(int=1)),
                "storageAccount": f"{_storage_prefix(req)}/storageAccounts/emulatorstore",
                "mlFlowTrackingUri": f"azureml://{api.region}.api.azureml.ms/mlflow/v1.0{wid}",
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled",
                "hbiWorkspace": False,
                "v1LegacyMode": False,
            },
            "systemData": system_data(),
        },
    )


def _datastore(req: Request) -> dict[str, Any]:
    return {
        "id": f"{ws_id(req)}/datastores/{DATASTORE}",
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
            "description": "uploads land in the emulator (see generator/workspace/uploads.py)",
        },
        "systemData": system_data(),
    }


def list_datastores(api: Api, req: Request) -> Response:
    return Response(200, {"value": [_datastore(req)]})


def get_datastore(api: Api, req: Request) -> Response:
    if req.m["name"] != DATASTORE:
        raise not_found("Datastore", req.m["name"])
    return Response(200, _datastore(req))


def list_vm_sizes(api: Api, req: Request) -> Response:
    return Response(200, {"value": quota.size_rows(api)})


def list_usages(api: Api, req: Request) -> Response:
    return Response(200, {"value": quota.usage_rows(api, req.m["sub"], req.m["loc"])})


def discovery(api: Api, req: Request) -> Response:
    """The workspace's service hosts (its `discoveryUrl`): every one is the emulator."""
    host = api.url.rstrip("/")
    keys = ("api", "catalog", "experimentation", "gallery", "history", "hyperdrive")
    return Response(200, {k: host for k in (*keys, "labeling", "modelmanagement", "pipelines")})


def get_operation(api: Api, req: Request) -> Response:
    op = api.data["operations"].get(req.m["op"])
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
    headers = {"Retry-After": str(api.poll_seconds)} if op["status"] == "InProgress" else {}
    return Response(200, body, headers)


def get_operation_result(api: Api, req: Request) -> Response:
    op = api.data["operations"].get(req.m["op"])
    if op is None:
        raise not_found("Operation", req.m["op"])
    if op["status"] == "InProgress":
        return Response(
            202,
            None,
            {
                "Retry-After": str(api.poll_seconds),
                "Location": api.url + req.path.lstrip("/"),
            },
        )
    if op["status"] == "Failed":
        raise ApiError(400, "OperationFailed", op.get("error") or "failed")
    return Response(204)


FAMILY = Family(
    "workspace",
    (
        Route("GET", WS, get_workspace),
        Route("GET", LOC + r"/vmSizes", list_vm_sizes),
        Route("GET", LOC + r"/usages", list_usages),
        Route("GET", r"/discovery", discovery),
        Route("GET", LOC + r"/mfeOperationsStatus/(?P<op>[^/]+)", get_operation),
        Route("GET", LOC + r"/mfeOperationResults/(?P<op>[^/]+)", get_operation_result),
        Route("GET", WS + r"/datastores", list_datastores),
        Route("GET", WS + r"/datastores/(?P<name>[^/]+)", get_datastore),
    ),
)

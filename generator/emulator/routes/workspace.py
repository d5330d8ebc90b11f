"""Workspace family: the workspace itself, its datastore, VM sizes, operation status routes."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from .. import quota
from ..arm import (
    CONTAINER,
    DATASTORE,
    LOC,
    PROVIDER,
    WS,
    ZERO_ID,
    ApiError,
    Family,
    Request,
    Response,
    Route,
    not_found,
    system_data,
    ws_id,
)
from ..arm import Service as Api


def _storage_prefix(req: Request) -> str:
    return f"/subscriptions/{req.m['sub']}/resourceGroups/{req.m['rg']}/providers/Microsoft.Storage"


def get_workspace(api: Api, req: Request) -> Response:
    wid = ws_id(req)
    prefix = f"/subscriptions/{req.m['sub']}/resourceGroups/{req.m['rg']}/providers"
    workspace_id = str(uuid.UUID(int=1))
    return Response(
        200,
        {
            "id": wid,
            "name": req.m["ws"],
            "type": f"{PROVIDER}/workspaces",
            "location": api.region,
            "tags": {},
            "etag": None,
            "kind": "Default",
            "identity": {"type": "SystemAssigned", "principalId": ZERO_ID, "tenantId": ZERO_ID},
            "sku": {"name": "Basic", "tier": "Basic"},
            "properties": {
                "friendlyName": req.m["ws"],
                "description": "amlgen local emulator",
                "storageAccount": f"{_storage_prefix(req)}/storageAccounts/emulatorstore",
                "keyVault": f"{prefix}/Microsoft.Keyvault/vaults/emulatorvault",
                "applicationInsights": f"{prefix}/Microsoft.insights/components/emulatorinsights",
                "containerRegistry": (
                    f"{prefix}/Microsoft.ContainerRegistry/registries/emulatorregistry"
                ),
                "hbiWorkspace": False,
                "tenantId": ZERO_ID,
                "provisioningState": "Succeeded",
                "managedNetwork": {
                    "changeableIsolationModes": [
                        "AllowInternetOutbound",
                        "AllowOnlyApprovedOutbound",
                    ],
                    "isolationMode": "Disabled",
                },
                "allowRoleAssignmentOnRG": True,
                "v1LegacyMode": False,
                "softDeleteEnabled": False,
                "creationTime": "2025-01-01T00:00:00.0000000Z",
                "notebookInfo": {
                    "resourceId": uuid.UUID(int=2).hex,
                    "fqdn": (
                        f"ml-emulator-{api.region}-{workspace_id}.{api.region}.notebooks.invalid"
                    ),
                    "isPrivateLinkEnabled": False,
                    "notebookPreparationError": None,
                },
                "storageHnsEnabled": False,
                "workspaceId": workspace_id,
                "privateLinkCount": 0,
                "publicNetworkAccess": "Enabled",
                "ipAllowlist": [],
                "networkAcls": {
                    "defaultAction": "Allow",
                    "bypass": "",
                    "ipRules": [],
                    "resourceAccessRules": [],
                },
                "discoveryUrl": f"{api.url}discovery",
                "mlFlowTrackingUri": f"azureml://{api.region}.api.azureml.ms/mlflow/v1.0{wid}",
                "EnableSoftwareBillOfMaterials": False,
                "sdkTelemetryAppInsightsKey": str(uuid.UUID(int=3)),
                "sasGetterUri": "",
                "enableDataIsolation": False,
                "systemDatastoresAuthMode": "identity",
                "enableServiceSideCMKEncryption": False,
            },
            "systemData": system_data(),
        },
    )


def _datastore(req: Request) -> dict[str, Any]:
    sd = system_data(keys=("createdAt", "lastModifiedAt", "lastModifiedBy", "lastModifiedByType"))
    sd.update(lastModifiedBy=str(uuid.UUID(int=4)), lastModifiedByType="Application")
    return {
        "id": f"{ws_id(req)}/datastores/{DATASTORE}",
        "name": DATASTORE,
        "type": f"{PROVIDER}/workspaces/datastores",
        "properties": {
            "description": None,
            "isDefault": True,
            "credentials": {"credentialsType": "AccountKey"},
            "subscriptionId": req.m["sub"],
            "resourceGroup": req.m["rg"],
            "datastoreType": "AzureBlob",
            "accountName": "emulatorstore",
            "containerName": CONTAINER,
            "endpoint": "emulator.invalid",  # uploads land in the emulator (workspace/uploads.py)
            "protocol": "https",
            "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
        },
        "systemData": sd,
    }


def list_datastores(api: Api, req: Request) -> Response:
    return Response(200, {"value": [_datastore(req)]})


def get_datastore(api: Api, req: Request) -> Response:
    if req.m["name"] != DATASTORE:
        raise not_found("Datastore", req.m["name"])
    return Response(200, _datastore(req))


def list_secrets(api: Api, req: Request) -> Response:
    """The SAS the SDK asks for before an upload; the emulator's upload route ignores it."""
    if req.m["name"] != DATASTORE:
        raise not_found("Datastore", req.m["name"])
    return Response(
        200, {"secretsType": "Sas", "sasToken": "?sv=emulator&sig=emulator&srt=co&sp=rcuwdl"}
    )


def list_vm_sizes(api: Api, req: Request) -> Response:
    return Response(200, {"value": quota.size_rows(api)})


def list_usages(api: Api, req: Request) -> Response:
    return Response(200, {"value": quota.usage_rows(api, req.m["sub"], req.m["loc"])})


def discovery(api: Api, req: Request) -> Response:
    """The workspace's service hosts (its `discoveryUrl`): every one is the emulator."""
    host = api.url.rstrip("/")
    keys = ("api", "catalog", "experimentation", "gallery", "history", "hyperdrive")
    return Response(200, {k: host for k in (*keys, "labeling", "modelmanagement", "pipelines")})


def _operation(api: Api, req: Request) -> dict[str, Any]:
    op = api.data["operations"].get(req.m["op"])
    if op is None:
        raise not_found("Operation", req.m["op"])
    op["polls"] = op.get("polls", 0) + 1
    return op


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _error(op: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": "DeploymentFailed" if "deployment" in op["kind"] else "OperationFailed",
        "message": op.get("error") or "failed",
    }


def get_operation(api: Api, req: Request) -> Response:
    """An online endpoint's (or deployment's, ...) operation status, as the service words it:
    Updating while it runs, endTime 0001-01-01 until it ends."""
    op = _operation(api, req)
    running = op["status"] == "InProgress"
    body: dict[str, Any] = {
        "id": req.path,
        "name": req.m["op"],
        "status": op.get("running", "InProgress") if running else op["status"],
        "startTime": _iso(op["started"]),
        "endTime": "0001-01-01T00:00:00+00:00" if running else _iso(op.get("ended", op["started"])),
        "percentComplete": 0.0,
    }
    if op["status"] == "Failed":
        body["error"] = _error(op)
    headers = {"Retry-After": str(api.poll_seconds)} if running else {}
    return Response(200, body, headers)


def get_compute_operation(api: Api, req: Request) -> Response:
    """A cluster operation's status: the compute service's shorter answer."""
    op = _operation(api, req)
    if op["status"] == "InProgress":
        return Response(200, {"status": "InProgress"}, {"Retry-After": str(api.poll_seconds)})
    body: dict[str, Any] = {"status": op["status"], "percentComplete": 100.0}
    if op["status"] == "Failed":
        body["error"] = _error(op)
    return Response(200, body)


def get_operation_result(api: Api, req: Request) -> Response:
    op = _operation(api, req)
    if op["status"] == "InProgress":
        return Response(
            202,
            {},
            {
                "Retry-After": str(api.poll_seconds),
                "Location": api.url + req.path.lstrip("/"),
            },
        )
    if op["status"] == "Failed":
        raise ApiError(400, "OperationFailed", op.get("error") or "failed")
    return Response(200)


FAMILY = Family(
    "workspace",
    (
        Route("GET", WS, get_workspace),
        Route("GET", LOC + r"/vmSizes", list_vm_sizes),
        Route("GET", LOC + r"/usages", list_usages),
        Route("GET", r"/discovery", discovery),
        Route("GET", LOC + r"/mfeOperationsStatus/(?P<op>[^/]+)", get_operation),
        Route("GET", LOC + r"/mfeOperationResults/(?P<op>[^/]+)", get_operation_result),
        Route("GET", LOC + r"/computeOperationsStatus/(?P<op>[^/]+)", get_compute_operation),
        Route("GET", WS + r"/datastores", list_datastores),
        Route("GET", WS + r"/datastores/(?P<name>[^/]+)", get_datastore),
        Route("POST", WS + r"/datastores/(?P<name>[^/]+)/listSecrets", list_secrets),
    ),
)

"""Computes family: AmlCompute clusters, sizes checked against the bundled VM-size catalog."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from ... import catalog
from .. import quota
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
    now_iso,
    ws_id,
)
from ..arm import Service as Api

COMPUTE_NAME = re.compile(r"^[a-zA-Z](?![a-zA-Z0-9-]*-\d+$)[a-zA-Z0-9\-]{2,23}$")


def list_computes(api: Api, req: Request) -> Response:
    return Response(200, {"value": copy.deepcopy(list(api.data["computes"].values()))})


def get_compute(api: Api, req: Request) -> Response:
    comp = api.data["computes"].get(req.m["name"])
    if comp is None:
        raise not_found("Compute", req.m["name"])
    return Response(200, copy.deepcopy(comp))


def put_compute(api: Api, req: Request) -> Response:
    name = req.m["name"]
    body = body_dict(req)
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
            400, "BadRequest", f"The VM size '{size}' is not supported in region {api.region}."
        )
    vm = catalog.vm_size(str(size)) if size else None
    if vm is not None and vm.retired:
        raise ApiError(400, "BadRequest", f"The VM size '{vm.name}' was retired on {vm.retired}.")
    if vm is not None and not quota.offered(api, vm.name):
        raise quota.not_offered(api, vm.name, "compute clusters")
    with api.store.lock:
        existing = api.data["computes"].get(name)
        if existing is None and vm is not None:
            nodes = int((inner.get("scaleSettings") or {}).get("maxNodeCount") or 1)
            low = str(inner.get("vmPriority") or "").lower() == "lowpriority"
            quota.check_cluster(api, vm.name, nodes, low)
        now = now_iso()
        props = body.get("properties") or {}
        inner = dict(props.get("properties") or {})
        creds = inner.get("userAccountCredentials")
        if isinstance(creds, dict):  # the service never returns the password
            inner["userAccountCredentials"] = {**creds, "adminUserPassword": None}
        inner.update(
            vmPriority=inner.get("vmPriority") or "Dedicated",
            subnet=inner.get("subnet"),
            currentNodeCount=0,
            targetNodeCount=0,
            nodeStateCounts={
                "preparingNodeCount": 0,
                "runningNodeCount": 0,
                "idleNodeCount": 0,
                "unusableNodeCount": 0,
                "leavingNodeCount": 0,
                "preemptedNodeCount": 0,
            },
            allocationState="Steady",
            allocationStateTransitionTime=now,
            errors=None,
            remoteLoginPortPublicAccess=inner.get("remoteLoginPortPublicAccess") or "Disabled",
            osType=inner.get("osType") or "Linux",
            virtualMachineImage=None,
            isolatedNetwork=False,
            enableNodePublicIp=inner.get("enableNodePublicIp", True),
            enableBatchPrivateLink=False,
            propertyBag={},
        )
        location = body.get("location") or api.region
        res = copy.deepcopy(body)  # what the SDK sent, then what the service adds
        res.update(
            id=f"{ws_id(req)}/computes/{name}",
            name=name,
            type=f"{PROVIDER}/workspaces/computes",
            location=location,
            tags=body.get("tags") or {},
        )
        res["properties"] = {
            **copy.deepcopy(props),
            **{
                "createdOn": existing["properties"]["createdOn"] if existing else now,
                "modifiedOn": now,
                "disableLocalAuth": bool(props.get("disableLocalAuth", False)),
                "description": props.get("description"),
                "resourceId": None,
                "computeType": props.get("computeType") or "AmlCompute",
                # The service answers every PUT, an update too, with 201 and Creating.
                "provisioningState": "Creating",
                "provisioningErrors": None,
                "provisioningWarnings": None,
                "isAttachedCompute": False,
                "properties": inner,
            },
        }
        if existing:  # an update answers with what the created cluster shows, and more
            res["properties"]["computeLocation"] = location
        api.data["computes"][name] = res
        op = api.start_op("compute-create", [name], 0.2)
        api.store.save()
        view = copy.deepcopy(res)
        if existing:
            batch = f"{ws_id(req).split('/providers/')[0]}/providers/Microsoft.BatchAI"
            view["properties"]["resourceId"] = f"{batch}/workspaces/{req.m['ws']}/clusters/{name}"
    headers = api.op_headers(req, op, status="computeOperationsStatus", location=None)
    return Response(201, view, headers)


def delete_compute(api: Api, req: Request) -> Response:
    name = req.m["name"]
    with api.store.lock:
        comp = api.data["computes"].get(name)
        if comp is None:
            return Response(204)
        comp["properties"]["provisioningState"] = "Deleting"
        op = api.start_op("compute-delete", [name], 0.2)
        api.store.save()
    headers = api.op_headers(req, op, status="computeOperationsStatus", location=None)
    return Response(202, None, headers)


def _created(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    comp = api.data["computes"].get(op["target"][0])
    if comp:
        comp["properties"]["provisioningState"] = op["outcome"]
        comp["properties"]["provisioningWarnings"] = {}
        comp["properties"]["computeLocation"] = comp.get("location") or api.region
    return None


def _deleted(api: Api, op: dict[str, Any]) -> Callable[[], None] | None:
    api.data["computes"].pop(op["target"][0], None)
    return None


COMPUTE = WS + r"/computes/(?P<name>[^/]+)"
FAMILY = Family(
    "computes",
    (
        Route("GET", WS + r"/computes", list_computes),
        Route("GET", COMPUTE, get_compute),
        Route("PUT", COMPUTE, put_compute),
        Route("DELETE", COMPUTE, delete_compute),
    ),
    sections=("computes",),
    finish={"compute-create": _created, "compute-delete": _deleted},
)

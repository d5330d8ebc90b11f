"""Models family: workspace model containers and versions (registered from jobs; a version's
files never change, its description, tags and archive flag may)."""

from __future__ import annotations

import copy
import re
import urllib.parse
from typing import Any

from ... import catalog
from ..arm import (
    PROVIDER,
    WS,
    ApiError,
    Family,
    Request,
    Response,
    Route,
    body_dict,
    model_not_found,
    page,
    system_data,
    ws_id,
)
from ..arm import Service as Api

JOB_OUTPUT = re.compile(r"^azureml://(?:.*/)?jobs/(?P<job>[^/]+)/outputs/(?P<out>[^/]+)/?$")
DATASTORE_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<p>.+)$",
    re.IGNORECASE,
)


def _versions(api: Api, name: str) -> dict[str, Any]:
    return api.data["models"].get(name, {})


def _container(api: Api, req: Request, name: str) -> dict[str, Any]:
    versions = _versions(api, name)
    latest = max(versions, key=catalog.version_key) if versions else None
    nxt = str(int(latest) + 1) if latest and latest.isdigit() else "1"
    return {
        "id": f"{ws_id(req)}/models/{name}",
        "name": name,
        "type": f"{PROVIDER}/workspaces/models",
        "properties": {
            "latestVersion": latest,
            "nextVersion": nxt,
            "description": None,
            "isArchived": False,
            "tags": {},
            "properties": {},
            "provisioningState": "Succeeded",
        },
        "systemData": system_data(),
    }


def list_model_containers(api: Api, req: Request) -> Response:
    return Response(200, {"value": [_container(api, req, n) for n in api.data["models"]]})


def get_model_container(api: Api, req: Request) -> Response:
    if req.m["name"] not in api.data["models"]:
        raise model_not_found(req.m["name"])
    return Response(200, _container(api, req, req.m["name"]))


def list_models(api: Api, req: Request) -> Response:
    if req.m["name"] not in api.data["models"]:
        raise model_not_found(req.m["name"])  # the service: 404, not an empty list
    versions = list(_versions(api, req.m["name"]).values())
    view = req.query.get("listViewType", "All")
    if view in ("ActiveOnly", "ArchivedOnly"):  # the SDK's models.list() asks ActiveOnly
        archived = view == "ArchivedOnly"
        versions = [v for v in versions if bool(v["properties"].get("isArchived")) == archived]
    stage = req.query.get("stage")  # models.list(name, stage=...)
    if stage:
        versions = [v for v in versions if v["properties"].get("stage") == stage]
    order = req.query.get("$orderBy", "").lower()
    if order.startswith("createdtime"):
        versions.sort(key=lambda v: v["systemData"]["createdAt"], reverse=order.endswith("desc"))
    return Response(200, page(api, req, copy.deepcopy(versions)))


def get_model(api: Api, req: Request) -> Response:
    model = _versions(api, req.m["name"]).get(req.m["ver"])
    if model is None:
        raise model_not_found(req.m["name"], req.m["ver"])
    return Response(200, copy.deepcopy(model))


def put_model(api: Api, req: Request) -> Response:
    name, ver = req.m["name"], req.m["ver"]
    body = body_dict(req)
    props = body.get("properties") or {}
    uri = str(props.get("modelUri") or "")
    with api.store.lock:
        existing = _versions(api, name).get(ver)
        if existing is not None:
            return _update_model(api, existing, props)
        _check_model_uri(api, uri)
        res = copy.deepcopy(body)
        res.update(
            id=f"{ws_id(req)}/models/{name}/versions/{ver}",
            name=ver,
            type=f"{PROVIDER}/workspaces/models/versions",
            systemData=system_data(),
        )
        res["properties"]["provisioningState"] = "Succeeded"
        res["properties"].setdefault("stage", "Development")
        res["properties"].setdefault("flavors", {})
        if (
            res["properties"].get("modelType") == "mlflow_model"
            and not res["properties"]["flavors"]
        ):
            res["properties"]["flavors"] = {
                "python_function": {"data": {"loader_module": "mlflow.transformers"}}
            }
        api.data["models"].setdefault(name, {})[ver] = res
        api.store.save()
    location = api.url + urllib.parse.quote(req.path.lstrip("/"))
    return Response(201, copy.deepcopy(res), {"Location": location})


def _update_model(api: Api, res: dict[str, Any], props: dict[str, Any]) -> Response:
    """A PUT on an existing version (the SDK's archive, restore and re-register; recorded in
    test_model.py::test_model_archive_restore_version): 200 with the mutable fields changed, the
    stage following the archive flag. Its files are the version's for good: another path is
    the service's `(UserError) Asset paths cannot be updated.` (the SDK's ASSET_PATH_ERROR)."""
    old = res["properties"]
    uri = str(props.get("modelUri") or old.get("modelUri") or "")
    if uri.lower() != str(old.get("modelUri") or "").lower():
        raise ApiError(400, "UserError", "Asset paths cannot be updated.")
    for key in ("description", "tags", "properties", "isArchived"):
        if key in props:
            old[key] = copy.deepcopy(props[key])
    if old.get("isArchived"):
        old["stage"] = "Archived"
    elif props.get("stage"):
        old["stage"] = props["stage"]
    elif old.get("stage") == "Archived":
        old["stage"] = "Development"
    created = res["systemData"]["createdAt"]
    res["systemData"] = system_data(created)
    api.store.save()
    return Response(200, copy.deepcopy(res))


def _check_model_uri(api: Api, uri: str) -> None:
    m = JOB_OUTPUT.match(uri)
    if m:
        job = api.data["jobs"].get(m["job"])
        if job is None:
            raise ApiError(400, "UserError", f"Job '{m['job']}' in {uri} was not found.")
        status = job["resource"]["properties"]["status"]
        if status != "Completed":
            raise ApiError(
                400,
                "UserError",
                f"Job '{m['job']}' is {status}; only a Completed job's outputs can be registered.",
            )
        if m["out"] not in (job["resource"]["properties"].get("outputs") or {}):
            raise ApiError(400, "UserError", f"Job '{m['job']}' has no output '{m['out']}'.")
        return
    d = DATASTORE_URI.match(uri)
    if d:
        key = f"{d['ds']}/{d['p']}"
        if not any(k == key or k.startswith(key.rstrip("/") + "/") for k in api.data["uploads"]):
            raise ApiError(400, "UserError", f"The model path {uri} does not exist.")


MODEL = WS + r"/models/(?P<name>[^/]+)"
FAMILY = Family(
    "models",
    (
        Route("GET", WS + r"/models", list_model_containers),
        Route("GET", MODEL, get_model_container),
        Route("GET", MODEL + r"/versions", list_models),
        Route("GET", MODEL + r"/versions/(?P<ver>[^/]+)", get_model),
        Route("PUT", MODEL + r"/versions/(?P<ver>[^/]+)", put_model),
    ),
    sections=("models",),
)

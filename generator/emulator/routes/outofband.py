"""Out-of-band family (emulator only): change a resource the way the portal would, for drift tests.

`POST /_emulator/change` edits a stored resource behind the client's back (no ARM PUT, nothing in
the request log), as someone in Azure ML studio would: traffic moved, instances scaled, tags
edited. `amlgen plan` must then show the update back to the committed state, marked as drift.

Body (one resource per call; the fields apply in this order):
  resource: endpoint | deployment | compute | model
  name:     the resource's name (`endpoint` names a deployment's endpoint, `version` a model's)
  traffic:  {deployment: percent}  an endpoint's traffic, replacing the old split
  instance_count: N                a deployment's instance count (its sku capacity)
  tags:     {key: value}           merged into the tags; a null value removes the tag
  set:      {"properties.x.y": value}  any field of the stored REST body, by dotted path
Answers 200 with the changed resource's REST body; 404 for an unknown resource.
"""

from __future__ import annotations

import copy
from typing import Any

from ..arm import (
    SYSTEM_DATA_ALL,
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
from .endpoints import write_routes

RESOURCES = ("endpoint", "deployment", "compute", "model")
KEYS = {"resource", "name", "endpoint", "version", "traffic", "instance_count", "tags", "set"}


def _target(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    kind, name = body.get("resource"), str(body.get("name") or "")
    if kind not in RESOURCES:
        raise ApiError(400, "BadRequest", f"resource: must be one of {', '.join(RESOURCES)}")
    found: Any = None
    if kind == "endpoint":
        found = api.data["endpoints"].get(name)
    elif kind == "deployment":
        found = api.data["deployments"].get(str(body.get("endpoint") or ""), {}).get(name)
    elif kind == "compute":
        found = api.data["computes"].get(name)
    else:
        found = api.data["models"].get(name, {}).get(str(body.get("version") or ""))
    if found is None:
        raise not_found(str(kind).capitalize(), name)
    result: dict[str, Any] = found
    return result


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = copy.deepcopy(value)


def change(api: Api, req: Request) -> Response:
    body = body_dict(req)
    unknown = sorted(set(body) - KEYS)
    if unknown:
        raise ApiError(400, "BadRequest", f"{unknown[0]}: unknown key (allowed: {sorted(KEYS)})")
    with api.store.lock:
        res = _target(api, body)
        kind = body["resource"]
        if "traffic" in body:
            if kind != "endpoint" or not isinstance(body["traffic"], dict):
                raise ApiError(400, "BadRequest", "traffic: an endpoint's {deployment: percent}")
            res["properties"]["traffic"] = {k: int(v) for k, v in body["traffic"].items()}
        if "instance_count" in body:
            if kind != "deployment":
                raise ApiError(400, "BadRequest", "instance_count: a deployment's field")
            res.setdefault("sku", {"name": "Default"})["capacity"] = int(body["instance_count"])
        if "tags" in body:
            old = res.get("tags")
            tags: dict[str, Any] = old if isinstance(old, dict) else {}
            for key, value in (body["tags"] or {}).items():
                if value is None:
                    tags.pop(key, None)
                else:
                    tags[key] = str(value)
            res["tags"] = tags
        for path, value in (body.get("set") or {}).items():
            _set_path(res, str(path), value)
        created = (res.get("systemData") or {}).get("createdAt")
        keys = tuple(res.get("systemData") or {}) or SYSTEM_DATA_ALL  # the resource's own keys
        res["systemData"] = system_data(created, keys)
        api.data["faults_fired"].append(["out_of_band", "POST", f"{kind} {body.get('name')}"])
        if kind in ("endpoint", "deployment"):
            write_routes(api, str(body.get("endpoint") or body.get("name")))
        api.store.save()
        view = public(res)
    return Response(200, view)


FAMILY = Family("outofband", (Route("POST", r"/_emulator/change", change),))

"""The vocabulary every route family shares: ARM paths, requests, answers, errors, families.

Shapes follow the ARM resources the SDK deserialises (id/name/type/properties/systemData).
"""

from __future__ import annotations

import copy
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from .faults import Faults
from .scoring import ScoringServer
from .state import Store

LOCATION = "eastus"  # the `azureml` registry's region
# The workspace's region unless `--region` says otherwise: one where every path amlgen supports
# is offered (Phi-4 serverless fine-tuning and deployment among them).
DEFAULT_REGION = "eastus2"
PROVIDER = "Microsoft.MachineLearningServices"
ARM = rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{PROVIDER}"
WS = ARM + r"/workspaces/(?P<ws>[^/]+)"
# Registry data-plane calls go to the discovered host under /mferp/managementfrontend.
REG = r"(?:/mferp/managementfrontend)?" + ARM + r"/registries/(?P<reg>[^/]+)"
LOC = rf"/subscriptions/(?P<sub>[^/]+)/providers/{PROVIDER}/locations/(?P<loc>[^/]+)"
DATASTORE = "workspaceblobstore"
CONTAINER = "azureml-blobstore-emulator"
REGISTRY = "azureml"


ZERO_ID = "00000000-0000-0000-0000-000000000000"  # principal and tenant ids the emulator shows


class ApiError(Exception):
    """An Azure-style error answer with an HTTP status: {"error": {"code", "message", "details",
    "additionalInfo"}}, as Azure ML's management front end sends them (recordings/)."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [
                    {"details": [], "additionalInfo": [], **detail} for detail in self.details
                ],
                "additionalInfo": [{"type": "ComponentName", "info": {"value": "emulator"}}],
            }
        }


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "ResourceNotFound", f"{kind} '{name}' was not found.")


def model_not_found(name: str, version: str | None = None) -> ApiError:
    """A workspace model (container or version) that is not there, worded as the service
    words it (recorded: 404 UserError, detail ModelNotFound naming the container)."""
    what = f"Model container with name: {name}" + (f" version: {version}" if version else "")
    return ApiError(
        404,
        "UserError",
        "The specified resource was not found.",
        [{"code": "ModelNotFound", "message": f"{what} not found."}],
    )


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


class Service(Protocol):
    """What route handlers use of the emulator's machinery; `api.Api` is the one there is.
    Defined here, below the routes and the Api, so imports run api -> routes -> arm."""

    url: str
    region: str  # the workspace's region (`--region`)
    workdir: Path
    job_seconds: float
    deploy_seconds: float
    poll_seconds: int
    hold: bool
    store: Store
    faults: Faults
    keys: dict[str, tuple[str, str]]
    servers: dict[str, ScoringServer]

    @property
    def data(self) -> dict[str, Any]: ...

    def op_headers(
        self,
        req: Request,
        op_id: str,
        *,
        status: str | None = ...,
        location: str | None = ...,
    ) -> dict[str, str]: ...

    def start_op(
        self,
        kind: str,
        target: list[str],
        seconds: float,
        outcome: str = ...,
        error: str | None = ...,
        gate: Any = ...,
        running: str = ...,
    ) -> str: ...


Handler = Callable[[Service, Request], Response]
# Called under the store lock when a long-running operation of its kind ends; may return work
# to run afterwards outside the lock (e.g. stopping a scoring server).
Finisher = Callable[[Service, dict[str, Any]], Callable[[], None] | None]


@dataclass(frozen=True)
class Route:
    """`pattern` is a regex over the unquoted path (anchored, optional trailing slash, no case)."""

    method: str
    pattern: str
    handler: Handler


@dataclass(frozen=True)
class Family:
    """One resource family: its routes and the hooks the shared machinery calls.

    sections: top-level state sections it keeps (dicts in `api.data`, saved to the state file).
    finish:   long-running operation kind (the `kind` given to `api.start_op`) -> its finisher.
    advance:  time-driven state, called under the store lock by every request's `tick()`;
              returns True when it changed something (then the state is saved).
    resume:   called after the server starts (also from a state file written by another run).
    """

    name: str
    routes: tuple[Route, ...]
    sections: tuple[str, ...] = ()
    finish: Mapping[str, Finisher] = field(default_factory=dict)
    advance: Callable[[Service, float], bool] | None = None
    resume: Callable[[Service], None] | None = None


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The systemData keys each kind of resource carries (recordings/: they differ by resource).
SYSTEM_DATA_ALL = (
    "createdAt",
    "createdBy",
    "createdByType",
    "lastModifiedAt",
    "lastModifiedBy",
    "lastModifiedByType",
)
SYSTEM_DATA_ENDPOINT = ("createdAt", "createdBy", "lastModifiedAt")  # endpoints, deployments
SYSTEM_DATA_JOB = ("createdAt", "createdBy", "createdByType")


def system_data(
    created: str | None = None, keys: tuple[str, ...] = SYSTEM_DATA_ALL
) -> dict[str, Any]:
    now = now_iso()
    full = {
        "createdAt": created or now,
        "createdBy": "emulator-user",
        "createdByType": "User",
        "lastModifiedAt": now,
        "lastModifiedBy": "emulator-user",
        "lastModifiedByType": "User",
    }
    return {k: full[k] for k in keys}


def ws_id(req: Request) -> str:
    """The ARM id of the workspace a WS route names."""
    m = req.m
    return (
        f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/{PROVIDER}"
        f"/workspaces/{m['ws']}"
    )


def public(res: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without the emulator's own `_` keys (e.g. an endpoint's reserved port)."""
    return {k: copy.deepcopy(v) for k, v in res.items() if not k.startswith("_")}


def body_dict(req: Request) -> dict[str, Any]:
    return req.body if isinstance(req.body, dict) else {}


def page(api: Service, req: Request, items: list[Any]) -> dict[str, Any]:
    """An ARM list answer as the service pages it: with `$top`, that many items from
    `$skipToken` on and a `nextLink` to the rest while any is left (a model's versions with
    `$orderBy=createdtime desc&$top=1`, recorded); the SDK's pager follows `nextLink`, its
    latest-version lookup reads the first page only. Without `$top`, everything at once."""
    skip = req.query.get("$skipToken", "")
    start = int(skip) if skip.isdigit() else 0
    top = req.query.get("$top", "")
    if not (top.isdigit() and int(top) > 0):
        return {"value": items[start:]}
    end = start + int(top)
    answer: dict[str, Any] = {"value": items[start:end]}
    if end < len(items):
        query = urllib.parse.urlencode({**req.query, "$skipToken": str(end)}, safe="$")
        answer["nextLink"] = f"{api.url}{urllib.parse.quote(req.path.lstrip('/'))}?{query}"
    return answer

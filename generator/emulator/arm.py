"""The vocabulary every route family shares: ARM paths, requests, answers, errors, families.

Shapes follow the ARM resources the SDK deserialises (id/name/type/properties/systemData).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Api

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


Handler = Callable[["Api", Request], Response]
# Called under the store lock when a long-running operation of its kind ends; may return work
# to run afterwards outside the lock (e.g. stopping a scoring server).
Finisher = Callable[["Api", dict[str, Any]], Callable[[], None] | None]


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
    advance: Callable[[Api, float], bool] | None = None
    resume: Callable[[Api], None] | None = None


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def system_data(created: str | None = None) -> dict[str, Any]:
    now = now_iso()
    return {
        "createdAt": created or now,
        "createdBy": "emulator-user",
        "createdByType": "User",
        "lastModifiedAt": now,
        "lastModifiedBy": "emulator-user",
        "lastModifiedByType": "User",
    }


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

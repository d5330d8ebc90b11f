"""Compare the emulator's answer with the recorded one: status, polling headers, body shape.

Shapes, not values: recordings span api-versions and are sanitized, so a body matches when it
has the same keys at every level, values of the same JSON type, strings of the same form (a
date-time, a duration, an ARM id, a URL, a UUID) and the same enum values (provisioningState,
job status, ...). A key the service sends as null (or as an empty object or list) is the same as
a key it leaves out: the SDK's deserializer (and so `az ml`, which prints the SDK's entities)
reads them alike. Keys of
free-form maps (tags, user properties, environment variables, a job's inputs...) are data, not
schema: only the entries both sides have are compared.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

# Keys whose string values are enums: the value itself must match.
ENUM_KEYS = frozenset(
    {
        "provisioningState",
        "status",
        "jobType",
        "computeType",
        "authMode",
        "endpointComputeType",
        "scaleType",
        "allocationState",
        "datastoreType",
        "credentialsType",
        "secretsType",
        "jobServiceType",
        "jobInputType",
        "jobOutputType",
        "mode",
        "modelType",
        "publicNetworkAccess",
        "egressPublicNetworkAccess",
        "osType",
        "vmPriority",
        "code",
    }
)
TOP_ENUM_KEYS = frozenset({"type", "kind"})  # the ARM resource's own type and kind
# Maps whose keys are data: compared entry by entry for the keys both sides have.
FREE_FORM = frozenset(
    {
        "tags",
        "properties.tags",
        "properties.properties",
        "properties.environmentVariables",
        "properties.traffic",
        "properties.mirrorTraffic",
        "properties.inputs",
        "properties.outputs",
        "properties.jobs",
        "properties.settings",
        "properties.flavors",
        "properties.fineTuningDetails.hyperParameters",
        "properties.componentSpec",
        "registryFqdns",
        "value[].tags",
        "value[].properties.tags",
        "value[].properties.properties",
        "value[].properties.environmentVariables",
        "value[].properties.traffic",
        "value[].properties.mirrorTraffic",
        "value[].properties.flavors",
    }
)
POLLING_HEADERS = ("Azure-AsyncOperation", "Location", "Retry-After")

_FORMS = (
    ("date-time", re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$")),
    ("duration", re.compile(r"^P(\d+[YMWD])*(T(\d+(\.\d+)?[HMS])+)?$")),
    ("ARM id", re.compile(r"^/subscriptions/", re.IGNORECASE)),
    ("URL", re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)),
    ("UUID", re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)),
)
_SANITIZED = re.compile(r"sanitized", re.IGNORECASE)


@dataclass(frozen=True)
class Difference:
    """One way the emulator's answer is not the service's. `path` is `status`,
    `headers.<Name>` or `body.<a.b[].c>`; `recorded` is the service's value or form."""

    path: str
    message: str
    recorded: Any = None

    def text(self) -> str:
        return f"{self.path}: {self.message}"


def form(value: str) -> str | None:
    """The recognised form of a string (None: plain text, or sanitized beyond recognition)."""
    if _SANITIZED.search(value) and not value.startswith(("/", "http")):
        return None
    for name, pattern in _FORMS:
        if pattern.match(value):
            return name
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def compare_body(recorded: Any, emulated: Any) -> list[Difference]:
    """Every difference in shape between two JSON bodies."""
    out: list[Difference] = []
    if recorded is None and emulated is None:
        return out
    if recorded is None or emulated is None:
        what = "a body" if recorded is not None else "no body"
        got = "none" if emulated is None else f"a {_kind(emulated)}"
        out.append(Difference("body", f"the service sent {what}, the emulator {got}"))
        return out
    _walk(recorded, emulated, "", out)
    return out


def _walk(rec: Any, emu: Any, path: str, out: list[Difference]) -> None:
    where = "body" + (f".{path}" if path else "")
    rk, ek = _kind(rec), _kind(emu)
    if rk != ek:
        out.append(Difference(where, f"a {ek} where the service sends a {rk}", rk))
        return
    if rk == "object":
        _walk_object(rec, emu, path, out)
    elif rk == "array":
        _walk_array(rec, emu, path, out)
    elif rk == "string":
        key = path.rsplit(".", 1)[-1]
        top = "." not in path and "[" not in path
        if key in ENUM_KEYS or (top and key in TOP_ENUM_KEYS):
            if rec != emu:
                out.append(Difference(where, f"{_show(emu)} where the service sends {rec!r}", rec))
            return
        want = form(rec)
        if want is not None and form(emu) != want:
            out.append(
                Difference(where, f"{_show(emu)} is not a {want} as the service sends", want)
            )


def _walk_object(
    rec: dict[str, Any], emu: dict[str, Any], path: str, out: list[Difference]
) -> None:
    free = path in FREE_FORM
    for key in sorted(rec.keys() | emu.keys()):
        sub = f"{path}.{key}" if path else key
        rv, ev = rec.get(key), emu.get(key)
        if _empty(rv) and _empty(ev):
            continue
        if sub in FREE_FORM and (_empty(rv) or _empty(ev)):
            continue  # a free-form map that is empty on one side: nothing to compare
        if _empty(rv) or _empty(ev):
            if free:
                continue
            if _empty(ev):
                out.append(Difference(f"body.{sub}", "missing (the service sends it)", _kind(rv)))
            else:
                out.append(Difference(f"body.{sub}", "sent by the emulator, not by the service"))
            continue
        _walk(rv, ev, sub, out)


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def _walk_array(rec: list[Any], emu: list[Any], path: str, out: list[Difference]) -> None:
    sub = f"{path}[]"
    if path == "value":  # an ARM list: the same resources by name, else any against the first
        names = {r.get("name"): r for r in rec if isinstance(r, dict)}
        for item in emu:
            match = names.get(item.get("name")) if isinstance(item, dict) else None
            if match is None and rec:
                match = rec[0]
            if match is not None:
                _walk(match, item, sub, out)
        return
    for r, e in zip(rec, emu, strict=False):
        _walk(r, e, sub, out)


def _url_kind(value: str, request_path: str) -> str:
    path = urllib.parse.unquote(urllib.parse.urlsplit(value).path)
    path = re.sub(r"^/mferp/managementfrontend", "", path, flags=re.IGNORECASE)
    m = re.search(r"/(\w+?)(OperationsStatus|OperationResults)/", path)
    if m:
        return f"{m[1]}{m[2]} URL"
    if path.rstrip("/").lower() == request_path.rstrip("/").lower():
        return "the resource's own URL"
    return "another URL"


def compare_headers(
    recorded: dict[str, str], emulated: dict[str, str], request_path: str
) -> list[Difference]:
    """Presence and form of the headers that drive polling (names are case-insensitive)."""
    out: list[Difference] = []
    rec = {k.lower(): v for k, v in recorded.items()}
    emu = {k.lower(): v for k, v in emulated.items()}
    for name in POLLING_HEADERS:
        rv, ev = rec.get(name.lower()), emu.get(name.lower())
        where = f"headers.{name}"
        if rv is None and ev is None:
            continue
        if ev is None:
            out.append(Difference(where, "missing (the service sends it)"))
        elif rv is None:
            out.append(Difference(where, "sent by the emulator, not by the service"))
        elif name == "Retry-After":
            if not rv.strip().isdigit() or not ev.strip().isdigit():
                out.append(Difference(where, f"{ev!r} where the service sends {rv!r}"))
        else:
            want, got = _url_kind(rv, request_path), _url_kind(ev, request_path)
            if want != got:
                out.append(Difference(where, f"{got} where the service sends {want}", want))
    return out

"""Recorded Azure ML traffic (the Azure SDK test proxy's format), read and classified.

A recording is `{"Entries": [{"RequestUri", "RequestMethod", "RequestBody", "StatusCode",
"ResponseHeaders", "ResponseBody", ...}], ...}`, entries in the order they happened. Hosts are
sanitized, so an entry is known by its path alone: `operation()` maps method + path to the name
of an operation amlgen uses, or to the reason it is skipped. A file or an entry that is not in
this format is reported as `Malformed` (file, entry, why) and skipped, never a crash.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Registry data-plane calls go to a discovered host under this prefix (so do some ARM calls).
MFE_PREFIX = "/mferp/managementfrontend"
DEFAULT_DATASTORE = "workspaceblobstore"
_ENTRY_KEYS = {
    "RequestUri": str,
    "RequestMethod": str,
    "StatusCode": int,
    "ResponseHeaders": dict,
}


@dataclass(frozen=True)
class Malformed:
    """A recording (entry None) or one of its entries that cannot be read."""

    file: str
    entry: int | None
    reason: str

    def text(self) -> str:
        where = self.file if self.entry is None else f"{self.file}#{self.entry}"
        return f"{where}: malformed recording: {self.reason}"


@dataclass
class Entry:
    index: int
    method: str
    uri: str
    host: str
    path: str  # unquoted, without the MFE prefix
    query: str
    request_body: Any
    status: int
    headers: dict[str, str]  # response headers, names lower-cased
    body: Any  # response body; the proxy's "null" / "" strings become None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Recording:
    file: str  # relative to the folder it was found in
    entries: list[Entry] = field(default_factory=list)
    problems: list[Malformed] = field(default_factory=list)


def _none(value: Any) -> Any:
    return None if value in ("null", "") else value


def _entry(file: str, index: int, raw: Any) -> Entry | Malformed:
    if not isinstance(raw, dict):
        return Malformed(file, index, f"an entry must be an object, found {type(raw).__name__}")
    for key, kind in _ENTRY_KEYS.items():
        if not isinstance(raw.get(key), kind) or isinstance(raw.get(key), bool):
            found = type(raw.get(key)).__name__ if key in raw else "nothing"
            return Malformed(file, index, f"{key}: expected {kind.__name__}, found {found}")
    try:
        parts = urllib.parse.urlsplit(raw["RequestUri"])
    except ValueError as exc:
        return Malformed(file, index, f"RequestUri: {exc}")
    if not parts.scheme or not parts.path:
        return Malformed(file, index, f"RequestUri: not a URL: {raw['RequestUri'][:80]!r}")
    path = urllib.parse.unquote(parts.path)
    if path.lower().startswith(MFE_PREFIX):
        path = path[len(MFE_PREFIX) :]
    headers = {str(k).lower(): str(v) for k, v in raw["ResponseHeaders"].items()}
    return Entry(
        index=index,
        method=raw["RequestMethod"].upper(),
        uri=raw["RequestUri"],
        host=parts.hostname or "",
        path=path,
        query=parts.query,
        request_body=_none(raw.get("RequestBody")),
        status=raw["StatusCode"],
        headers=headers,
        body=_none(raw.get("ResponseBody")),
    )


def load(path: Path, root: Path | None = None) -> Recording:
    """One recording file; what cannot be read lands in `problems`, never an exception."""
    name = path.relative_to(root).as_posix() if root is not None else path.name
    rec = Recording(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        rec.problems.append(Malformed(name, None, f"cannot read it: {exc}"))
        return rec
    except ValueError as exc:
        rec.problems.append(Malformed(name, None, f"not JSON: {exc}"))
        return rec
    entries = data.get("Entries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        rec.problems.append(Malformed(name, None, "no `Entries` list (not a test-proxy recording)"))
        return rec
    for index, raw in enumerate(entries):
        item = _entry(name, index, raw)
        if isinstance(item, Malformed):
            rec.problems.append(item)
        else:
            rec.entries.append(item)
    return rec


def find(folder: Path) -> list[Path]:
    """Every recording under `folder`, in a stable order."""
    return sorted(p for p in folder.rglob("*.json") if p.is_file())


# --- which operation an entry is ----------------------------------------------------------------

_PROVIDER = "/providers/Microsoft.MachineLearningServices"
_WS = r"/subscriptions/[^/]+/resourceGroups/[^/]+" + _PROVIDER + r"/workspaces/[^/]+"
_LOC = r"/subscriptions/[^/]+" + _PROVIDER + r"/locations/[^/]+"
_REG = r"/subscriptions/[^/]+/resourceGroups/[^/]+" + _PROVIDER + r"/registries/(?P<reg>[^/]+)"
_EP = _WS + r"/onlineEndpoints/(?P<ep>[^/]+)"
_DISCOVERY = r"/registrymanagement/v1\.0/registries/(?P<reg>[^/]+)/discovery"
_NOT_USED = "not an operation amlgen uses"

# (method, path regex, operation name or None, why skipped when None). First match wins.
_TABLE: tuple[tuple[str, str, str | None, str], ...] = (
    ("GET", _WS, "workspace.get", ""),
    ("GET", _WS + r"/datastores", "datastore.list", ""),
    ("GET", _WS + r"/datastores/(?P<ds>[^/]+)", "datastore.get", ""),
    ("POST", _WS + r"/datastores/(?P<ds>[^/]+)/listSecrets", "datastore.listSecrets", ""),
    ("PUT", _WS + r"/datastores/[^/]+", None, "amlgen creates no datastores"),
    ("PUT", _WS + r"/jobs/(?P<job>[^/]+)", "job.put", ""),
    ("GET", _WS + r"/jobs/(?P<job>[^/]+)", "job.get", ""),
    ("POST", _WS + r"/jobs/(?P<job>[^/]+)/cancel", "job.cancel", ""),
    ("GET", _LOC + r"/mfeOperationsStatus/(?P<op>[^/]+)", "operation.status", ""),
    ("GET", _LOC + r"/mfeOperationResults/(?P<op>[^/]+)", "operation.result", ""),
    ("GET", _LOC + r"/computeOperationsStatus/(?P<op>[^/]+)", "compute.operation.status", ""),
    ("GET", _WS + r"/models", "model.list", ""),
    ("GET", _WS + r"/models/(?P<model>[^/]+)/versions", "model.versions.list", ""),
    ("GET", _WS + r"/models/(?P<model>[^/]+)/versions/(?P<ver>[^/]+)", "model.get", ""),
    ("PUT", _WS + r"/models/(?P<model>[^/]+)/versions/(?P<ver>[^/]+)", "model.put", ""),
    ("GET", _WS + r"/onlineEndpoints", "endpoint.list", ""),
    ("PUT", _EP, "endpoint.put", ""),
    ("GET", _EP, "endpoint.get", ""),
    ("DELETE", _EP, "endpoint.delete", ""),
    ("POST", _EP + r"/listKeys", "endpoint.listKeys", ""),
    ("POST", _EP + r"/token", None, "aml_token auth: amlgen's endpoints use key auth"),
    ("GET", _EP + r"/deployments", "deployment.list", ""),
    ("PUT", _EP + r"/deployments/(?P<dep>[^/]+)", "deployment.put", ""),
    ("GET", _EP + r"/deployments/(?P<dep>[^/]+)", "deployment.get", ""),
    ("DELETE", _EP + r"/deployments/(?P<dep>[^/]+)", "deployment.delete", ""),
    ("POST", _EP + r"/deployments/(?P<dep>[^/]+)/getLogs", "deployment.getLogs", ""),
    ("PUT", _WS + r"/computes/(?P<compute>[^/]+)", "compute.put", ""),
    ("GET", _WS + r"/computes/(?P<compute>[^/]+)", "compute.get", ""),
    ("DELETE", _WS + r"/computes/(?P<compute>[^/]+)", "compute.delete", ""),
    ("GET", _DISCOVERY, "registry.discovery", ""),
    ("GET", _REG + r"/components/[^/]+/versions/[^/]+", "registry.component.get", ""),
    ("GET", _REG + r"/models/[^/]+/versions/[^/]+", "registry.model.get", ""),
    ("GET", _REG + r"/(?:components|models)/[^/]+(?:/versions)?", "registry.asset.list", ""),
    ("*", _REG, None, "registry management: amlgen reads registries, never creates them"),
    ("GET", _LOC + r"/registryOperationsStatus/[^/]+", None, "registry management operations"),
    ("*", _WS + r"/(?:codes|environments|components)(?:/.*)?", None,
     "amlgen registers no code, environment or workspace component assets"),
    ("*", _WS + r"/diagnose", None, "amlgen does not diagnose workspaces"),
    ("GET", _LOC + r"/workspaceOperationsStatus/[^/]+", None, "workspace diagnosis operations"),
)  # fmt: skip
_COMPILED = [(m, re.compile("^" + p + "/?$", re.IGNORECASE), n, w) for m, p, n, w in _TABLE]
_BLOB = re.compile(r"\.blob\.core\.windows\.net$|^sanitized\.blob", re.IGNORECASE)
BLOB_SKIP = (
    "Azure Blob Storage data plane: the emulator takes the SDK's uploads through its own "
    "route (generator/workspace/uploads.py); recorded uploads seed its datastore"
)


@dataclass(frozen=True)
class Classified:
    operation: str | None  # None: skipped
    reason: str  # why skipped
    groups: dict[str, str]


def classify(entry: Entry) -> Classified:
    """The operation amlgen uses that this entry is, or why it is skipped."""
    if _BLOB.search(entry.host):
        return Classified(None, BLOB_SKIP, {})
    for method, pattern, name, why in _COMPILED:
        if method not in ("*", entry.method):
            continue
        m = pattern.match(entry.path)
        if m:
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            if name is None:
                return Classified(None, why, groups)
            return Classified(name, "", groups)
    return Classified(None, _NOT_USED, {})

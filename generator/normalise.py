"""What the service stores, as a comparable document: the rules that keep `plan` honest.

Both sides of a plan go through the same rules. The desired side is a committed YAML file as
the SDK loads it (`load_*`, then the entity's dict); the live side is what `az ml ... show -o json`
prints, or the SDK's `get()` entity as a dict, which is the same shape (the az ml extension is
the SDK). Each rule was read off a real round trip (YAML -> REST body -> what the emulator
stores and returns -> the SDK's entity) and is pinned by tests/test_normalise.py; the end-to-end
tests prove that right after a run both sides are equal for both backends.

Rules, in the order `canonical` applies them:
  1. SYSTEM: fields only the service writes (ids, states, timestamps, URIs, location, the
     identity's principal and tenant ids) are dropped.
  2. SEPARATE: the endpoint's traffic is its own resource (set after the deployment exists).
  3. DEFAULTS: a field the YAML leaves out is compared with what the service fills in.
  4. DURATIONS / INTEGERS: ISO 8601 durations become seconds, numeric strings numbers.
  5. MODEL REFERENCES: `azureml:name:v`, an ARM id or an `azureml:`-prefixed ARM id are one model;
     so is a serverless endpoint's `azureml://locations/<region>/workspaces/<id>/models/...` id.
     A deployment's code and environment ARM ids are the same with or without `azureml:`, and a
     datastore path's segment names are compared without case (the service answers a model's
     `.../resourcegroups/...` path as `.../resourceGroups/...`; recordings/).
  6. TAGS: tag values are strings (Azure stores strings).
  7. SYSTEM PROPERTIES: keys the service adds to `properties` (createdBy, azureml.*) are dropped;
     so are the environment variables it adds to a deployment it provisioned (recorded:
     AZUREML_MODEL_DIR, and AZUREML_ENTRY_SCRIPT / AML_APP_ROOT with a scoring script).
  8. EMPTY: an empty mapping or null equals an absent field.
  9. FOLDED (at comparison): VM sizes are case-insensitive, enum values are compared without
     case, `_` or `-` (`Key` = `key`, `SystemAssigned` = `system_assigned`).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

COMPUTE = "compute"
MODEL = "model"
ENDPOINT = "online_endpoint"
DEPLOYMENT = "online_deployment"
TRAFFIC = "traffic"
SERVERLESS = "serverless_endpoint"
MARKETPLACE = "marketplace_subscription"
KINDS = (COMPUTE, MODEL, ENDPOINT, DEPLOYMENT, TRAFFIC, SERVERLESS, MARKETPLACE)

# 1. Written only by the service (or by the SDK from the service's answer).
SYSTEM: dict[str, frozenset[str]] = {
    "*": frozenset(
        {"$schema", "id", "provisioning_state", "creation_context", "location", "status"}
    ),
    COMPUTE: frozenset({"created_on", "resource_id"}),
    MODEL: frozenset({"flavors", "job_name", "stage", "datastore"}),
    ENDPOINT: frozenset({"scoring_uri", "openapi_uri", "kind"}),
    DEPLOYMENT: frozenset({"data_collector"}),
    TRAFFIC: frozenset(),
    # `description` too: the SDK (and so az ml) sends a serverless endpoint's model_id, tags,
    # sku and location only (azure-ai-ml 1.x ServerlessEndpoint._to_rest_object).
    SERVERLESS: frozenset({"scoring_uri", "headers", "system_data", "description"}),
    MARKETPLACE: frozenset({"marketplace_plan", "system_data"}),
}

# ... and nested: a managed identity's ids are assigned by the service (recordings/: every
# endpoint and workspace answer carries them, no request sends them).
SYSTEM_NESTED = frozenset({"identity.principal_id", "identity.tenant_id"})

# 2. Not part of the endpoint resource: `plan` reads them as the traffic resource.
SEPARATE: dict[str, frozenset[str]] = {ENDPOINT: frozenset({"traffic", "mirror_traffic"})}

_PROBE = {
    "initial_delay": 10,
    "period": 10,
    "timeout": 2,
    "failure_threshold": 30,
    "success_threshold": 1,
}
# 3. What the service fills in when the body leaves a field out (facts §4; the emulator's answers).
# A nested mapping is merged key by key into what the YAML gives.
DEFAULTS: dict[str, dict[str, Any]] = {
    COMPUTE: {
        "tier": "dedicated",
        "min_instances": 0,
        "enable_node_public_ip": True,
        "ssh_public_access_enabled": False,
    },
    MODEL: {"type": "custom_model"},
    ENDPOINT: {
        "auth_mode": "key",
        "identity": {"type": "system_assigned"},
        "public_network_access": "enabled",
    },
    DEPLOYMENT: {
        "type": "managed",
        "instance_count": 1,
        "scale_settings": {"type": "default"},
        "request_settings": {"request_timeout_ms": 5000, "max_concurrent_requests_per_instance": 1},
        "liveness_probe": _PROBE,
        "readiness_probe": _PROBE,
        "app_insights_enabled": False,
        "egress_public_network_access": "enabled",
    },
    TRAFFIC: {},
    SERVERLESS: {"auth_mode": "key"},
    MARKETPLACE: {},
}

# 4. Durations (seconds) and integers, wherever they appear (dotted paths).
DURATIONS = frozenset(
    {
        "idle_time_before_scale_down",
        *(f"{probe}.{key}" for probe in ("liveness_probe", "readiness_probe") for key in _PROBE),
    }
)
INTEGERS = frozenset(
    {
        "min_instances",
        "max_instances",
        "instance_count",
        "request_settings.request_timeout_ms",
        "request_settings.max_concurrent_requests_per_instance",
        "request_settings.max_queue_wait_ms",
        *DURATIONS,
    }
)

# 6. Free-form string maps; shown as `tags[key]` in a diff.
MAPS = frozenset({"tags", "properties", "environment_variables", "traffic"})

# 7. Keys the service (or SDK) adds to a resource's `properties` map.
SYSTEM_PROPERTY_KEYS = frozenset(
    {"createdBy", "createdAt", "lastModifiedAt", "AzureAsyncOperationUri"}
)
SYSTEM_PROPERTY_PREFIXES = ("azureml.", "mlflow.", "_azureml.")
SYSTEM_ENV_VARS = frozenset({"AZUREML_MODEL_DIR", "AZUREML_ENTRY_SCRIPT", "AML_APP_ROOT"})

# 9. Compared without case; ENUMS also without `_` and `-`.
CASELESS = frozenset({"size", "instance_type"})
ENUMS = frozenset(
    {
        "type",
        "tier",
        "auth_mode",
        "identity.type",
        "scale_settings.type",
        "public_network_access",
        "egress_public_network_access",
    }
)

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_ARM_MODEL = re.compile(
    r"^(?:azureml:)?/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/[^/]+/models/(?P<name>[^/]+)"
    r"/versions/(?P<ver>[^/]+)$",
    re.IGNORECASE,
)
_SHORT_MODEL = re.compile(r"^azureml:(?P<name>[^:/]+):(?P<ver>[^:/]+)$")
# A serverless endpoint's model id: the workspace's region and id, which the committed file
# leaves as placeholders (creation fills them in), do not make it another model.
_WS_MODEL = re.compile(
    r"^azureml://locations/[^/]+/workspaces/[^/]+/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$",
    re.IGNORECASE,
)
_JOB_OUTPUT = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?"
    r"jobs/(?P<job>[^/]+)/outputs/(?P<out>[^/]+)(?:/.*)?$",
    re.IGNORECASE,
)


_SCOPE_SEGMENT = re.compile(r"/(resourcegroups|workspaces|datastores|paths)/", re.IGNORECASE)


def seconds(value: Any) -> Any:
    """An ISO 8601 duration (`PT1M30S`) as seconds; anything else unchanged."""
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and any(m.groupdict().values()):
            parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
            total = parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
            return int(total) if total == int(total) else total
    return value


def integer(value: Any) -> Any:
    """`"2"` and `2.0` as 2 (az `--set` and some answers carry numbers as strings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, float) and value == int(value):
        return int(value)
    return value


def model_ref(value: Any) -> Any:
    """One spelling of a workspace model reference: `azureml:<name>:<version>`.

    The YAML says `azureml:name:1`; the SDK sends, and the service returns, the ARM id, which the
    SDK's entity shows prefixed with `azureml:`. Registry URIs (`azureml://registries/...`) are
    already canonical.
    """
    if not isinstance(value, str):
        return value
    m = _ARM_MODEL.match(value) or _SHORT_MODEL.match(value) or _WS_MODEL.match(value)
    return f"azureml:{m['name']}:{m['ver']}" if m else value


def arm_ref(value: Any) -> Any:
    """An ARM id as the service returns it: without the `azureml:` prefix YAML names it with."""
    if isinstance(value, str) and value.lower().startswith("azureml:/subscriptions/"):
        return value[len("azureml:") :]
    return value


def datastore_path(value: Any) -> Any:
    """A workspace-scoped datastore URI with its scope's segment names in one case."""
    if not isinstance(value, str) or not value.lower().startswith("azureml://subscriptions/"):
        return value
    return _SCOPE_SEGMENT.sub(lambda m: f"/{m[1].lower()}/", value)


def job_output(value: Any) -> Any:
    """A job output path without the workspace scope or a trailing sub-path."""
    if not isinstance(value, str):
        return value
    m = _JOB_OUTPUT.match(value)
    return f"azureml://jobs/{m['job']}/outputs/{m['out']}" if m else value


def _merge_defaults(doc: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, default in defaults.items():
        if isinstance(default, dict):
            given = doc.get(key)
            if given is None:
                doc[key] = copy.deepcopy(default)
            elif isinstance(given, dict):
                doc[key] = {**default, **{k: v for k, v in given.items() if v is not None}}
        elif doc.get(key) is None:
            doc[key] = default


def _apply(doc: dict[str, Any], paths: frozenset[str], fn: Any) -> None:
    for path in paths:
        *parents, leaf = path.split(".")
        node: Any = doc
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node[leaf] = fn(node[leaf])


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {}}
    return value


def canonical(kind: str, doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The document as the service would store it, in the YAML's field names (None stays None)."""
    if doc is None:
        return None
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    out: dict[str, Any] = json.loads(json.dumps(doc, default=str))
    dropped = SYSTEM["*"] | SYSTEM[kind] | SEPARATE.get(kind, frozenset())
    for key in dropped:
        out.pop(key, None)
    _apply(out, SYSTEM_NESTED, lambda _value: None)
    _merge_defaults(out, DEFAULTS[kind])
    _apply(out, DURATIONS, seconds)
    _apply(out, INTEGERS, integer)
    if kind == DEPLOYMENT:
        _apply(out, frozenset({"model"}), model_ref)
        _apply(out, frozenset({"code_configuration.code", "environment"}), arm_ref)
    if kind == SERVERLESS:
        _apply(out, frozenset({"model_id"}), model_ref)
    if kind == MODEL:
        _apply(out, frozenset({"path"}), lambda v: datastore_path(job_output(v)))
    if isinstance(out.get("tags"), dict):
        out["tags"] = {str(k): v if isinstance(v, str) else str(v) for k, v in out["tags"].items()}
    if kind == TRAFFIC:
        out = {k: integer(v) for k, v in out.items() if integer(v) != 0}
    props = out.get("properties")
    if isinstance(props, dict):
        out["properties"] = {
            k: v
            for k, v in props.items()
            if k not in SYSTEM_PROPERTY_KEYS and not k.startswith(SYSTEM_PROPERTY_PREFIXES)
        }
    env = out.get("environment_variables")
    if isinstance(env, dict):
        out["environment_variables"] = {k: v for k, v in env.items() if k not in SYSTEM_ENV_VARS}
    pruned: dict[str, Any] = _prune(out)
    return pruned


def folded(path: str, value: Any) -> Any:
    """The value as the service compares it (rule 9)."""
    if not isinstance(value, str):
        return value
    if path in CASELESS:
        return value.lower()
    if path in ENUMS:
        return re.sub(r"[_\-\s]", "", value).lower()
    return value


@dataclass(frozen=True)
class Change:
    """One field that differs: `old` is live (None: absent), `new` is what applying sets."""

    path: str
    old: Any
    new: Any

    def text(self) -> str:
        return f"{self.path}: {show(self.old)} → {show(self.new)}"


def show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value if value and value.strip() == value else json.dumps(value)
    return json.dumps(value, sort_keys=True)


def diff(
    live: dict[str, Any] | None, desired: dict[str, Any] | None, kind: str = ""
) -> list[Change]:
    """Field-level differences between two canonical documents, sorted by path.

    Mappings recurse as `a.b`; free-form maps (tags, traffic, ...) as `tags[key]`; lists and
    scalars compare whole. For traffic a missing deployment means 0 %.
    """
    out: list[Change] = []
    if kind == TRAFFIC:
        _diff(live or {}, desired or {}, "traffic", out, 0, in_map=True)
    else:
        _diff(live or {}, desired or {}, "", out, None)
    return sorted(out, key=lambda c: c.path)


def _diff(
    old: dict[str, Any],
    new: dict[str, Any],
    prefix: str,
    out: list[Change],
    missing: Any,
    in_map: bool = False,
) -> None:
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}[{key}]" if in_map else (f"{prefix}.{key}" if prefix else key)
        a, b = old.get(key, missing), new.get(key, missing)
        nested = isinstance(a, dict) or isinstance(b, dict)
        if nested and isinstance(a, dict | None) and isinstance(b, dict | None):
            _diff(a or {}, b or {}, path, out, None, in_map=not in_map and key in MAPS)
            continue
        if folded(path, a) != folded(path, b):
            out.append(Change(path, a, b))

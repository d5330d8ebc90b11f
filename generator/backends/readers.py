"""Reading the service's answers, once for both backends: what a job's status, outputs and a
model's origin are, from the SDK's entities or from what `az ml ... show -o json` prints.

Both readers see the same entity: `az ml` prints the SDK entity's `_to_dict()`. Its enum fields
are dumped as the enum's `str()`, which for azure-ai-ml 1.35 on Python 3.11+ is
`JobStatus.RUNNING`, not `Running` (tests/test_recorded_readers.py, on recorded answers):
`enum_value` reads both spellings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import JobInfo, ModelInfo

_ENUM_TEXT = re.compile(r"^[A-Z][A-Za-z]*\.([A-Z][A-Z0-9_]*)$")


def enum_value(value: Any) -> str:
    """`Running` for `JobStatus.RUNNING`, `JobStatus.RUNNING` (its str()) or `Running`;
    `NotStarted` for `NOT_STARTED` (the service's values are the member names in CamelCase)."""
    if value is None:
        return ""
    raw = getattr(value, "value", value)
    text = str(raw)
    m = _ENUM_TEXT.match(text)
    if m:
        return "".join(part.capitalize() for part in m[1].split("_"))
    return text


def _get(source: Any, key: str) -> Any:
    """A field of az's JSON (a plain dict) or of an SDK entity. Some entities are dicts too (a
    pipeline step's `Command` is an `_AttrDict`) whose items are not their fields, so only a
    plain dict is read by key first."""
    if type(source) is dict:
        return source.get(key)
    value = getattr(source, key, None)
    if value is None and isinstance(source, Mapping):
        return source.get(key)
    return value


def job_info(job: Any, studio_url: str | None = None) -> JobInfo:
    """A job's status, Studio link and failure message, from the SDK's Job entity or az's
    `job show` dict. `studio_url`: the link when read separately (az's --query)."""
    error = None
    props = _get(job, "properties")
    if isinstance(props, Mapping):
        error = props.get("error") or None
    link = studio_url if studio_url is not None else _get(job, "studio_url")
    status = enum_value(_get(job, "status")) or "Unknown"
    return JobInfo(status=status, studio_url=link or None, error=str(error) if error else None)


def registered_model(output: Any) -> tuple[str, str] | None:
    """(name, version) of a fine-tuning job's `registered_model` output (the SDK's output entity
    or az's dict); the version defaults to 1, as the service registers it."""
    name = _get(output, "name")
    if not name:
        return None
    return str(name), str(_get(output, "version") or "1")


def model_info(model: Any) -> ModelInfo:
    """Where a registered model version came from (the SDK's Model or az's `model show`)."""
    return ModelInfo(path=str(_get(model, "path") or ""), job_name=_get(model, "job_name") or None)


def endpoint_key(keys: Any) -> str:
    """The primary key of an endpoint's keys (the SDK's object, or az's JSON in either the
    REST or the SDK's attribute spelling)."""
    for name in ("primary_key", "primaryKey"):
        value = _get(keys, name)
        if value:
            return str(value)
    return ""


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def size_row(raw: dict[str, Any]) -> dict[str, Any]:
    """A VM size as list-sizes gives it (SDK entity or `az` JSON) -> {name, family, cores,
    gpus}. Newer SDKs keep the wire names (`vCPUs`) beside the empty `v_cp_us`, and `az`
    prints neither then: cores missing is left to the published tables."""
    return {
        "name": raw.get("name"),
        "family": raw.get("family"),
        "cores": _count(raw.get("v_cp_us")) or _count(raw.get("vCPUs")),
        "gpus": _count(raw.get("gpus")),
    }


def usage_row(raw: dict[str, Any]) -> dict[str, Any]:
    """A quota row as list-usage gives it -> {id, type, name, used, limit}; `used` is None
    when the reader dropped it (newer SDKs keep only the wire name `currentValue`)."""
    name = raw.get("name")
    if not isinstance(name, dict):
        name = {"value": getattr(name, "value", None)} if name is not None else {}
    used = raw.get("current_value")
    if used is None:
        used = raw.get("currentValue")
    return {
        "id": raw.get("id"),
        "type": raw.get("type"),
        "name": name.get("value") or name.get("localized_value") or name.get("localizedValue"),
        "used": _count(used),
        "limit": _count(raw.get("limit")),
    }

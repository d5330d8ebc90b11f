"""Registry model metadata in both layouts -> one catalog-shaped entry.

The registry has two ways of saying the same thing: the old layout keeps everything in `tags`
(`finetune_compute_allow_list`, `FinetuneRetirementDate`, ... often as strings), the new one in
`system_metadata` (`SKU.finetuneRecommendedSkus`, `deprecation.finetuneRetirementDate`, ...).
This is the one place that reads them; the catalog builder, the registry lock and the online
validation all go through `version_entry`.
"""

from __future__ import annotations

import ast
import json
from typing import Any

# (entry key, old tag, new system_metadata.deprecation key)
LIFECYCLE_KEYS = (
    ("finetune_deprecation", "FinetuneDeprecationDate", "finetuneDeprecationDate"),
    ("finetune_retirement", "FinetuneRetirementDate", "finetuneRetirementDate"),
    ("inference_deprecation", "InferenceDeprecationDate", "inferenceDeprecationDate"),
    ("inference_retirement", "InferenceRetirementDate", "inferenceRetirementDate"),
)


def as_list(value: Any) -> list[str]:
    """A list, or the registry's string forms of one ("[a, b]", "a, b", a JSON list)."""
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str) and value.strip():
        text = value.strip()
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(text)
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, list | tuple):
                return [str(v).strip() for v in parsed]
        return [p.strip() for p in text.strip("[]").split(",") if p.strip()]
    return []


def as_dict(value: Any) -> dict[str, Any]:
    """A mapping, or a JSON / Python-literal string of one (tags are strings in REST)."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, dict):
                return parsed
    return {}


def _date(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:10] if text else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [], {})), None)


def layouts(tags: dict[str, Any], system_metadata: dict[str, Any]) -> list[str]:
    """Which metadata layouts a registry entry carries."""
    old_keys = ["finetune_compute_allow_list", "inference_compute_allow_list"]
    old_keys += [tag for _, tag, _ in LIFECYCLE_KEYS]
    out = ["system_metadata"] if system_metadata else []
    if any(k in tags for k in old_keys):
        out.append("tags")
    return out


def version_entry(
    tags: dict[str, Any] | None,
    system_metadata: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    archived: bool = False,
) -> dict[str, Any]:
    """Everything rendering and validation use of one model version, from either layout.

    Lists keep the registry's order (it is the order of recommendation); dates are ISO days.
    """
    tags = dict(tags or {})
    meta = dict(system_metadata or {})
    props = dict(properties or {})
    sku = as_dict(meta.get("SKU"))
    computes = as_dict(meta.get("supportedComputes"))
    dep = as_dict(meta.get("deprecation"))
    tasks = as_dict(meta.get("tasks"))
    entry: dict[str, Any] = {}
    finetune = as_list(
        _first(
            tags.get("finetune_compute_allow_list"),
            sku.get("finetuneRecommendedSkus"),
            computes.get("finetuneComputes"),
            props.get("finetune-recommended-sku"),
        )
    )
    inference = as_list(
        _first(
            tags.get("inference_compute_allow_list"),
            sku.get("inferenceRecommendedSkus"),
            computes.get("inferenceComputes"),
            props.get("inference-recommended-sku"),
        )
    )
    if finetune:
        entry["finetune_allow_list"] = finetune
    if inference:
        entry["inference_allow_list"] = inference
    defaults = as_dict(tags.get("model_specific_defaults"))
    if defaults:
        entry["model_specific_defaults"] = defaults
    life = {
        key: _date(_first(tags.get(old), dep.get(new)))
        for key, old, new in LIFECYCLE_KEYS
        if _first(tags.get(old), dep.get(new))
    }
    if life:
        entry["lifecycle"] = life
    if archived:
        entry["archived"] = True
    ft_tasks = as_list(
        _first(
            tasks.get("fineTuningTasks"),
            tags.get("finetuning-tasks"),
            props.get("finetuning-tasks"),
        )
    )
    if ft_tasks:
        entry["finetuning_tasks"] = ft_tasks
    inf_tasks = as_list(_first(tasks.get("inferenceTasks"), tags.get("task")))
    if inf_tasks:
        entry["inference_tasks"] = inf_tasks
    options = as_list(_first(meta.get("deploymentOptions"), tags.get("deploymentOptions")))
    if options:
        entry["deployment_options"] = options
    window = _int(_first(meta.get("textContextWindow"), tags.get("textContextWindow")))
    if window:
        entry["context_window"] = window
    for key, new, old in (
        ("finetune_min_sku_spec", "finetuneMinSkuSpec", "finetune-min-sku-spec"),
        ("inference_min_sku_spec", "inferenceMinSkuSpec", "inference-min-sku-spec"),
    ):
        value = _first(sku.get(new), props.get(old))
        if value:
            entry[key] = str(value)
    return entry


def merge_entries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two readings of one version (e.g. both layouts): lists united in first-seen order."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, list) and isinstance(out[key], list):
            out[key] = out[key] + [v for v in value if v not in out[key]]
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = {**value, **out[key]}
    return out


def read_registry_model(ops: Any, name: str, version: str) -> dict[str, Any]:
    """One registry model version in both layouts, as an entry (see version_entry).

    `ops` is an SDK registry client's `models`. Its Model entity drops `system_metadata`, so the
    REST resource is read before deserialisation into the entity (SDK-internal `_get`, with the
    public `get` as fallback when that changes).
    """
    try:
        props = dict(ops._get(name, version).properties)
    except (AttributeError, TypeError):
        entity = ops.get(name=name, version=version)
        props = {"tags": entity.tags, "properties": entity.properties, "stage": entity.stage}
    system = props.get("systemMetadata") or props.get("system_metadata") or {}
    archived = bool(props.get("isArchived")) or props.get("stage") == "Archived"
    return version_entry(
        _plain(props.get("tags")), _plain(system), _plain(props.get("properties")), archived
    )


def _plain(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in dict(value or {}).items()}

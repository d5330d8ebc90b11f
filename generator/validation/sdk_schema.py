"""Layer 2: the azure-ai-ml SDK's own schema checks, quietly, with Azure's severity.

The SDK prints "experimental class" notices and logs on stderr; that noise is captured here and
never reaches the user. `validate_job` reports unknown keys as warnings, but the service rejects
them: those are promoted to errors. The SDK is imported only when this layer runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from ..quiet import quiet
from .assets import Asset
from .findings import ERROR, SDK, WARNING, Finding, YamlPath, finding
from .kinds import CREATE_FLAGS, KINDS, VARIANT_LOADERS, label

_LOCATION_LINE = re.compile(r"#line (\d+)")
FIELD_FROM_COMMAND = "sdk.field-from-command"
SCHEMA = "sdk.schema"


def loader(name: str) -> Callable[..., Any] | None:
    """An SDK reader by name: `validate_job`/`validate_component` or a `load_*` function."""
    with quiet():
        if name in ("validate_job", "validate_component"):
            from azure.ai.ml.entities import _validate_funcs

            return getattr(_validate_funcs, name, None)
        import azure.ai.ml
        from azure.ai.ml.entities import _load_functions

        return getattr(azure.ai.ml, name, None) or getattr(_load_functions, name, None)


def _path_of(text: str) -> YamlPath:
    if not text or text == "*":
        return ()
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def _from_validate_job(asset: Asset, result: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for severity, entries in (
        (ERROR, result.get("errors", [])),
        (WARNING, result.get("warnings", [])),
    ):
        for entry in entries or []:
            path = _path_of(str(entry.get("path", "")))
            message = str(entry.get("message", "")).strip()
            code = SCHEMA
            if message.startswith("Unknown field") and severity == WARNING:
                severity_here = ERROR
                code = "sdk.unknown-key"
                message = "unknown key: the SDK only warns, but Azure ML rejects it"
            else:
                severity_here = severity
            supplied = _supplied(asset, path, message)
            if supplied is not None:
                out.append(supplied)
                continue
            match = _LOCATION_LINE.search(str(entry.get("location", "")))
            line = int(match.group(1)) if match else asset.line(path)
            unknown = _inline_unknown_keys(asset, path, message)
            if unknown:
                out += unknown
                continue
            out.append(finding(asset, path, severity_here, code, message, SDK, line=line))
    return out


def _supplied(asset: Asset, path: YamlPath, message: str) -> Finding | None:
    """A required field the create command supplies from a flag: a warning naming the flag,
    not the SDK's error (the documented command line runs the file)."""
    if len(path) != 1 or not message.startswith("Missing data for required field"):
        return None
    flag = CREATE_FLAGS.get(str(asset.kind), {}).get(str(path[0]))
    if flag is None:
        return None
    msg = (
        f"`{path[0]}` is not in the file: the {label(asset.kind)} is created only when the "
        f"command line gives it ({flag})"
    )
    return finding(asset, (path[0],), WARNING, FIELD_FROM_COMMAND, msg, SDK)


# Inline step types -> (module, the strict inline-job schema, the component node schema).
_INLINE_SCHEMAS = {
    "command": ("pipeline_command_job", "PipelineCommandJobSchema", "CommandSchema"),
    "parallel": ("pipeline_parallel_job", "PipelineParallelJobSchema", "ParallelSchema"),
    "spark": ("pipeline_spark_job", "PipelineSparkJobSchema", "SparkSchema"),
    "import": ("pipeline_import_job", "PipelineImportJobSchema", "ImportSchema"),
}


def _schema_keys(module: str, name: str) -> set[str]:
    import importlib

    schema = getattr(importlib.import_module(f"azure.ai.ml._schema.pipeline.{module}"), name)
    fields = schema(context={"base_path": "."}).fields
    return {f.data_key or k for k, f in fields.items()}


def _inline_unknown_keys(asset: Asset, path: YamlPath, message: str) -> list[Finding]:
    """The SDK reads an inline step with a mistyped key as a component node missing its
    `component` ("Missing data for required field"); name the keys its node schemas lack."""
    if len(path) != 3 or path[0] != "jobs" or path[2] != "component":
        return []
    step = asset.get(*path[:2])
    if not isinstance(step, dict) or "component" in step or not message.startswith("Missing"):
        return []
    where = _INLINE_SCHEMAS.get(str(step.get("type") or "command"))  # the SDK's default
    if where is None:
        return []
    with quiet():
        from azure.ai.ml._schema.pipeline import component_job

        allowed = _schema_keys(where[0], where[1])
        node = getattr(component_job, where[2])(context={"base_path": "."}).fields
        allowed |= {f.data_key or k for k, f in node.items()}
    msg = "unknown key: Azure ML rejects it (the SDK reports it as a missing `component`)"
    return [
        finding(asset, (*path[:2], key), ERROR, "sdk.unknown-key", msg, SDK)
        for key in step
        if key not in allowed
    ]


def _flatten(messages: Any, path: YamlPath = ()) -> Iterator[tuple[YamlPath, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            part: str | int = int(key) if isinstance(key, str) and key.isdigit() else key
            yield from _flatten(value, (*path, part))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            for m in messages:
                yield path, m
        else:
            # A union's branches: those whose `type` matched say what is wrong; the others only
            # that the type is not theirs.
            typed = [m for m in messages if not (isinstance(m, dict) and "type" in m)]
            for m in typed if 0 < len(typed) < len(messages) else messages:
                yield from _flatten(m, path)
    else:
        yield path, str(messages)


def _first_json(text: str) -> Any:
    start = text.find("{")
    if start >= 0:
        with contextlib.suppress(ValueError):
            return json.JSONDecoder().raw_decode(text, start)[0]
    return None


def _from_exception(asset: Asset, exc: Exception) -> list[Finding]:
    chained = exc.__cause__ or exc.__context__
    if not str(exc).strip() and isinstance(chained, Exception) and str(chained).strip():
        # load_schedule falls back to a monitor schedule and raises a bare NotImplementedError
        # while handling the schema error that says why: report that one.
        return _from_exception(asset, chained)
    text = str(exc)
    parsed = _first_json(text)
    # Some loaders (load_schedule) wrap the schema messages in {"errors": {"message": "..."}}.
    wrapped = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(wrapped, list) and wrapped:
        wrapped = wrapped[0]
    if isinstance(wrapped, dict) and isinstance(wrapped.get("message"), str):
        inner = _first_json(wrapped["message"])
        parsed = inner if isinstance(inner, dict) else parsed
    if not isinstance(parsed, dict):
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
        return [finding(asset, (), ERROR, "sdk.load", first, SDK)]
    out = []
    for path, message in _flatten(parsed):
        supplied = _supplied(asset, path, message)
        if supplied is not None:
            out.append(supplied)
            continue
        code = "sdk.unknown-key" if message.startswith("Unknown field") else SCHEMA
        if code == "sdk.unknown-key":
            message = "unknown key: Azure ML rejects it"
        out.append(finding(asset, path, ERROR, code, message, SDK))
    return out


def check_assets(assets: list[Asset]) -> list[Finding]:
    """Run each parsed asset's own SDK reader; many files pay for one SDK import."""
    todo = [a for a in assets if a.kind in KINDS and isinstance(a.data, dict) and a.path.is_file()]
    out: list[Finding] = []
    readers: dict[str, Callable[..., Any] | None] = {}
    # quiet() once for the set: silencing costs a pass over every logger (the SDK has many)
    with quiet(), _one_schema_per_entity() as next_entity:
        for asset in todo:
            next_entity()
            kind = KINDS[str(asset.kind)]
            name = VARIANT_LOADERS.get((str(asset.kind), asset.variant), kind.loader)
            if name and name not in readers:
                readers[name] = loader(name)
            reader = readers.get(name) if name else None
            if reader is None:
                continue
            try:
                if name in ("validate_job", "validate_component"):
                    # by path: validate_job also takes the path as the origin of relative paths
                    out += _from_validate_job(asset, reader(str(asset.path))._to_dict())
                else:
                    reader(_source(asset), relative_origin=str(asset.path))
            except Exception as exc:  # the SDK raises many types; each is a finding here
                out += _from_exception(asset, exc)
    return out


@contextlib.contextmanager
def _one_schema_per_entity() -> Iterator[Callable[[], None]]:
    """`validate_job` builds the entity's marshmallow schema twice (to dump it, then to validate
    the dump): two thirds of a command job's validation time. Within one call the two are the
    same schema (same class, same context), so it is built once; never shared across entities
    (the SDK's schemas keep state from one load, e.g. a base path). The caller calls the yielded
    function before each file. Without the SDK attribute (another SDK version) nothing changes."""
    try:
        from azure.ai.ml.entities._validation.schema import SchemaValidatableMixin

        original = SchemaValidatableMixin.__dict__["_schema_for_validation"]
    except (ImportError, KeyError):
        yield lambda: None
        return
    built: dict[int, tuple[Any, Any]] = {}  # id(entity) -> (entity, schema): ids stay taken

    def shared(entity: Any) -> Any:
        if id(entity) not in built:
            built[id(entity)] = (entity, original.fget(entity))
        return built[id(entity)][1]

    SchemaValidatableMixin._schema_for_validation = property(shared)  # type: ignore[assignment,method-assign]
    try:
        yield built.clear
    finally:
        SchemaValidatableMixin._schema_for_validation = original  # type: ignore[method-assign]


def _source(asset: Asset) -> Any:
    """The text amlgen already read (bounded, a regular file), for the SDK to parse: it is not
    opened a second time, so it cannot have become a FIFO or grown in between. Named as the
    file, which is what the SDK resolves relative paths from."""
    stream = io.StringIO(asset.text)
    stream.name = str(asset.path)
    return stream

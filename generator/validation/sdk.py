"""Layer 2: the azure-ai-ml SDK's own schema checks, quietly, with Azure's severity.

The SDK prints "experimental class" notices and logs on stderr; that noise is captured here and
never reaches the user. `validate_job` reports unknown keys as warnings, but the service rejects
them: those are promoted to errors. The SDK is imported only when this layer runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from .assets import (
    COMPUTE,
    DEPLOYMENT,
    ENDPOINT,
    JOB_KINDS,
    MODEL,
    Asset,
)
from .findings import ERROR, SDK, WARNING, Finding, YamlPath, finding

_LOCATION_LINE = re.compile(r"#line (\d+)")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the SDK: logging, Python warnings and anything written to stderr/stdout."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    sink = io.StringIO()
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stderr(sink),
            contextlib.redirect_stdout(sink),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _loaders() -> dict[str, Callable[..., Any]]:
    with quiet():
        from azure.ai.ml import (
            load_compute,
            load_model,
            load_online_deployment,
            load_online_endpoint,
        )
    return {
        MODEL: load_model,
        ENDPOINT: load_online_endpoint,
        DEPLOYMENT: load_online_deployment,
        COMPUTE: load_compute,
    }


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
            code = "sdk.schema"
            if message.startswith("Unknown field") and severity == WARNING:
                severity_here = ERROR
                code = "sdk.unknown-key"
                message = "unknown key: the SDK only warns, but Azure ML rejects it"
            else:
                severity_here = severity
            match = _LOCATION_LINE.search(str(entry.get("location", "")))
            line = int(match.group(1)) if match else asset.line(path)
            out.append(finding(asset, path, severity_here, code, message, SDK, line=line))
    return out


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
            for m in messages:
                yield from _flatten(m, path)
    else:
        yield path, str(messages)


def _from_exception(asset: Asset, exc: Exception) -> list[Finding]:
    text = str(exc)
    start = text.find("{")
    parsed: Any = None
    if start >= 0:
        with contextlib.suppress(ValueError):
            parsed, _ = json.JSONDecoder().raw_decode(text, start)
    if not isinstance(parsed, dict):
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
        return [finding(asset, (), ERROR, "sdk.load", first, SDK)]
    out = []
    for path, message in _flatten(parsed):
        code = "sdk.unknown-key" if message.startswith("Unknown field") else "sdk.schema"
        if code == "sdk.unknown-key":
            message = "unknown key: Azure ML rejects it"
        out.append(finding(asset, path, ERROR, code, message, SDK))
    return out


def check_assets(assets: list[Asset]) -> list[Finding]:
    """Run the SDK loader (or `validate_job`) for every parsed asset of a known kind."""
    todo = [a for a in assets if a.kind and isinstance(a.data, dict) and a.path.is_file()]
    if not todo:
        return []
    loaders = _loaders()
    with quiet():
        from azure.ai.ml.entities._validate_funcs import validate_job
    out: list[Finding] = []
    for asset in todo:
        with quiet():
            try:
                if asset.kind in JOB_KINDS:
                    result = validate_job(str(asset.path))
                    out += _from_validate_job(asset, result._to_dict())
                elif asset.kind in loaders:
                    loaders[asset.kind](str(asset.path))
            except Exception as exc:  # the SDK raises many types; each is a finding here
                out += _from_exception(asset, exc)
    return out

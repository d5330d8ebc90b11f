"""Azure ML YAML files as assets of a kind, plus layer 1: YAML hygiene.

Azure ML reads YAML with PyYAML's YAML 1.1 `safe_load`: duplicate keys silently keep the last
value, `no`/`on` are booleans and `5e-6` is a string. The project's one reader
(`generator.yamlio`, which also refuses hostile files) parses each file once; this layer reports
those traps with line numbers and keeps the last-wins data so later layers see what Azure sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .. import yamlio
from . import kinds
from .findings import ERROR, HYGIENE, INFO, WARNING, Finding, YamlPath, finding


@dataclass
class Asset:
    """One YAML file: its text, Azure's view of its data, line numbers and detected kind."""

    path: Path  # absolute (or as given) location; relative data paths resolve from its folder
    name: str  # how findings name the file
    text: str
    data: Any = None
    lines: dict[YamlPath, int] = field(default_factory=dict)
    kind: str | None = None  # a kinds.* id
    variant: str | None = None  # e.g. "kubernetes" for a Kubernetes online deployment
    parsed: bool = False

    def line(self, path: YamlPath) -> int | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return 1 if self.parsed else None

    def get(self, *path: str | int) -> Any:
        node = self.data
        for part in path:
            if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
                continue
            if not (isinstance(node, dict) and part in node):
                return None
            node = node[part]
        return node


# --- layer 1 -----------------------------------------------------------------------------------

_EXP_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_BOOL_TRUE = {"y", "yes", "on"}
_VERSION_KEYS = {"version"}


def _scalar_traps(asset: Asset, root: yaml.Node) -> list[Finding]:
    """YAML 1.1 readings people do not expect, for every plain scalar (each node once)."""
    out: list[Finding] = []
    stack: list[tuple[yaml.Node, YamlPath]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, (*path, i)) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.ScalarNode) and node.style is None:
            trap = _scalar_trap(node, path)
            if trap:
                code, msg = trap
                line = node.start_mark.line + 1
                if code == "yaml.number-as-string":
                    if _cast_or_text(asset, path):
                        continue
                    severity = INFO  # passed on as text, which parses as the number it reads as
                else:
                    severity = WARNING
                out.append(finding(asset, path, severity, code, msg, HYGIENE, line=line))
    return out


def _cast_or_text(asset: Asset, path: YamlPath) -> bool:
    """Where `1e-8` read as a string changes nothing: a typed number input's default/min/max
    (the SDK casts it to a float) or a tag (Azure keeps tags as text anyway)."""
    if "tags" in path[:-1]:
        return True
    parent = asset.get(*path[:-1]) if path else None
    return (
        len(path) >= 3
        and path[-1] in ("default", "min", "max")
        and isinstance(parent, dict)
        and parent.get("type") in ("number", "integer")
    )


def _scalar_trap(node: yaml.ScalarNode, path: YamlPath) -> tuple[str, str] | None:
    text = node.value
    tag = node.tag.rsplit(":", 1)[-1]
    if tag == "bool" and text.lower() not in ("true", "false"):
        value = text.lower() in _BOOL_TRUE
        return "yaml.bool-word", (
            f"`{text}` is read as the boolean {str(value).lower()} by YAML 1.1 "
            f'(Azure ML\'s reader); quote it ("{text}") if you mean the word'
        )
    if tag == "str" and _EXP_NUMBER.match(text):
        return "yaml.number-as-string", (
            f"`{text}` is read as the STRING {text!r} by YAML 1.1 (a float needs a dot); Azure ML "
            f"passes it on as text, which parses as the number; write {yaml11_float(float(text))} "
            "so every reader sees a number"
        )
    if tag == "float" and path and path[-1] in _VERSION_KEYS:
        return "yaml.version-as-number", (
            f'`{text}` is read as the number {float(text)!r}; quote versions ("{text}")'
        )
    if tag == "timestamp":
        return "yaml.date", f"`{text}` is read as a date by YAML 1.1; quote it if it is text"
    return None


def yaml11_float(value: float) -> str:
    """How to write a float so YAML 1.1 reads a float (5e-06 would be a string)."""
    text = repr(value)
    if "e" in text and "." not in text.split("e")[0]:
        mant, exp = text.split("e")
        text = f"{mant}.0e{exp}"
    return text


def _tabs(asset: Asset) -> list[Finding]:
    out = []
    for i, line in enumerate(asset.text.splitlines(), 1):
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in lead and line.strip() and not line.lstrip().startswith("#"):
            msg = "tab in indentation: YAML allows spaces only"
            out.append(finding(asset.name, (), ERROR, "yaml.tab", msg, HYGIENE, line=i))
    return out


_OPENCV = re.compile(r"\A(?:\ufeff)?%YAML:\d")


def load_asset(path: Path, name: str, text: str | None = None) -> tuple[Asset, list[Finding]]:
    """Parse one file; never raises for bad content (that is what the findings are for)."""
    if text is None:
        try:
            text = yamlio.read_text(path, name)
        except yamlio.YamlReadError as exc:
            return Asset(path, name, ""), [
                finding(name, (), ERROR, exc.code, exc.message, HYGIENE, line=exc.line)
            ]
    asset = Asset(path, name, text)
    if _OPENCV.match(text):
        # OpenCV's FileStorage format (DeepStream tracker configs beside data): no YAML 1.1
        # reader takes its `%YAML:1.0` header, Azure ML's included, so it is no asset.
        msg = "an OpenCV FileStorage file (`%YAML:1.0`), not an Azure ML asset: not checked"
        return asset, [finding(name, (), INFO, "yaml.unknown-kind", msg, HYGIENE, line=1)]
    findings = _tabs(asset)
    try:
        doc = yamlio.parse(text, name, duplicates="report")
    except yamlio.YamlReadError as exc:
        if not any(t.line == exc.line for t in findings) or exc.code == "yaml.limit":
            findings.append(finding(name, (), ERROR, exc.code, exc.message, HYGIENE, line=exc.line))
        return asset, findings
    asset.parsed = True
    asset.lines = doc.lines
    asset.data = doc.data
    for dup in doc.duplicates:
        key = dup.path[-1]
        msg = (
            f"duplicate key {key!r} (first at line {dup.first_line}): Azure ML's YAML "
            "reader silently keeps only the last one"
        )
        findings.append(
            finding(asset, dup.path, ERROR, "yaml.duplicate-key", msg, HYGIENE, dup.line)
        )
    if doc.node is not None:
        findings += _scalar_traps(asset, doc.node)
    if not isinstance(asset.data, dict):
        data = asset.data
        what = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        msg = f"the file is {what}: an Azure ML asset is a mapping"
        # Plain text is no Azure ML asset at all (a Dockerfile saved as .yml): `az ml` would
        # refuse it, but nothing says it is meant for `az ml`. Empty or a list: a broken asset.
        severity = ERROR if data is None or isinstance(data, (list, dict)) else WARNING
        findings.append(finding(name, (), severity, "yaml.not-mapping", msg, HYGIENE, line=1))
        return asset, findings
    detected = kinds.detect(asset.data)
    if detected is None:
        findings.append(_unknown_kind(asset))
        if "$schema" not in asset.data and not isinstance(asset.data.get("type"), str):
            findings = [_not_read_by_azure_ml(f) for f in findings]
        return asset, findings
    asset.kind, asset.variant = detected
    if asset.kind in kinds.NOT_JUDGED:
        msg = f"{kinds.NOT_JUDGED[asset.kind]}: only YAML hygiene was checked"
        findings.append(finding(asset, (), INFO, "yaml.not-judged", msg, HYGIENE))
    declared = kinds.schema_mismatch(asset.data, detected)
    if declared is not None:
        msg = (
            f"$schema names a {kinds.label(declared)} but the content is a "
            f"{kinds.label(asset.kind)} (its `type` and keys): Azure ML reads the content, so it "
            f"is checked as a {kinds.label(asset.kind)}; fix the $schema for editor help"
        )
        findings.append(finding(asset, ("$schema",), WARNING, "yaml.schema-mismatch", msg, HYGIENE))
    return asset, findings


def _not_read_by_azure_ml(f: Finding) -> Finding:
    """A duplicate key in a file with no `$schema` and no `type` (a sample's own config, a CI
    definition): Azure ML never reads it, so its reader's last-one-wins is a warning."""
    if f.code != "yaml.duplicate-key" or f.severity != ERROR:
        return f
    why = "; no `$schema` or `type` says Azure ML reads this file"
    return replace(f, severity=WARNING, message=f.message + why)


def _unknown_kind(asset: Asset) -> Finding:
    """A note, never an error: Azure ML may know kinds this tool does not."""
    schema, kind = asset.get("$schema"), asset.get("type")
    only = "only YAML hygiene was checked"
    other = kinds.foreign(asset.data) if isinstance(asset.data, dict) else None
    if other:
        path: YamlPath = ()
        msg = f"{other}, not an Azure ML asset: not checked"
    elif kinds.schema_stem(schema):
        path = ("$schema",)
        msg = f"$schema {kinds.schema_stem(schema)!r} is not a kind amlgen knows: {only}"
    elif isinstance(kind, str):
        path = ("type",)
        msg = f"type {kind!r} with these keys is not a kind amlgen knows: {only}"
    else:
        path = ()
        msg = f"cannot tell which Azure ML kind this is (no `$schema`, no `type`): {only}"
    return finding(asset, path, INFO, "yaml.unknown-kind", msg, HYGIENE)

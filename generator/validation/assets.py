"""Reading Azure ML YAML the way Azure ML does, plus layer 1: YAML hygiene.

Azure ML reads YAML with PyYAML's YAML 1.1 `safe_load`: duplicate keys silently keep the last
value, `no`/`on` are booleans and `5e-6` is a string. We parse the node tree once, report those
traps with line numbers, and keep the last-wins data so later layers see what Azure would see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .findings import ERROR, HYGIENE, WARNING, Finding

YamlPath = tuple[str | int, ...]

PIPELINE_JOB = "pipeline_job"
COMMAND_JOB = "command_job"
OTHER_JOB = "job"
MODEL = "model"
ENDPOINT = "online_endpoint"
DEPLOYMENT = "online_deployment"
COMPUTE = "compute"
JOB_KINDS = (PIPELINE_JOB, COMMAND_JOB, OTHER_JOB)

# `$schema` file stems (lower case) -> kind.
_SCHEMA_KINDS = {
    "pipelinejob": PIPELINE_JOB,
    "commandjob": COMMAND_JOB,
    "sweepjob": OTHER_JOB,
    "sparkjob": OTHER_JOB,
    "model": MODEL,
    "managedonlineendpoint": ENDPOINT,
    "kubernetesonlineendpoint": ENDPOINT,
    "managedonlinedeployment": DEPLOYMENT,
    "kubernetesonlinedeployment": DEPLOYMENT,
    "amlcompute": COMPUTE,
    "computeinstance": COMPUTE,
}
_TYPE_KINDS = {
    "pipeline": PIPELINE_JOB,
    "command": COMMAND_JOB,
    "sweep": OTHER_JOB,
    "spark": OTHER_JOB,
    "amlcompute": COMPUTE,
    "computeinstance": COMPUTE,
    "mlflow_model": MODEL,
    "custom_model": MODEL,
    "triton_model": MODEL,
}
KIND_LABELS = {
    PIPELINE_JOB: "pipeline job",
    COMMAND_JOB: "command job",
    OTHER_JOB: "job",
    MODEL: "model",
    ENDPOINT: "online endpoint",
    DEPLOYMENT: "online deployment",
    COMPUTE: "compute",
}


@dataclass
class Asset:
    """One YAML file: its text, Azure's view of its data, line numbers and detected kind."""

    path: Path  # absolute (or as given) location; relative data paths resolve from its folder
    name: str  # how findings name the file
    text: str
    data: Any = None
    lines: dict[YamlPath, int] = field(default_factory=dict)
    kind: str | None = None
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


def dotted(path: YamlPath) -> str:
    return ".".join(str(p) for p in path)


def finding(
    asset: Asset, path: YamlPath, severity: str, code: str, message: str, layer: int
) -> Finding:
    return Finding(severity, asset.name, asset.line(path), dotted(path), message, code, layer)


# --- layer 1 -----------------------------------------------------------------------------------

_EXP_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_BOOL_TRUE = {"y", "yes", "on"}
_VERSION_KEYS = {"version"}


def _yaml_error(asset: Asset, exc: yaml.YAMLError) -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    msg = f"malformed YAML: {context + ', ' if context else ''}{problem}"
    return Finding(ERROR, asset.name, line, "", msg, "yaml.malformed", HYGIENE)


def _walk(asset: Asset, node: yaml.Node, path: YamlPath, out: list[Finding]) -> None:
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if key in first:
                out.append(
                    Finding(
                        ERROR,
                        asset.name,
                        line,
                        dotted(child),
                        f"duplicate key {key!r} (first at line {first[key]}): Azure ML's YAML "
                        "reader silently keeps only the last one",
                        "yaml.duplicate-key",
                        HYGIENE,
                    )
                )
            else:
                first[key] = line
            asset.lines[child] = line  # last wins, like the data
            _walk(asset, value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            asset.lines.setdefault((*path, i), item.start_mark.line + 1)
            _walk(asset, item, (*path, i), out)
    elif isinstance(node, yaml.ScalarNode) and node.style is None:
        _scalar_trap(asset, node, path, out)


def _scalar_trap(asset: Asset, node: yaml.ScalarNode, path: YamlPath, out: list[Finding]) -> None:
    text = node.value
    line = node.start_mark.line + 1
    tag = node.tag.rsplit(":", 1)[-1]
    msg = None
    code = ""
    if tag == "bool" and text.lower() not in ("true", "false"):
        value = text.lower() in _BOOL_TRUE
        msg = (
            f"`{text}` is read as the boolean {str(value).lower()} by YAML 1.1 "
            "(Azure ML's reader); "
            f'quote it ("{text}") if you mean the word'
        )
        code = "yaml.bool-word"
    elif tag == "str" and _EXP_NUMBER.match(text):
        msg = (
            f"`{text}` is read as the STRING {text!r} by YAML 1.1 (a float needs a dot); "
            f"write {yaml11_float(float(text))} for a number"
        )
        code = "yaml.number-as-string"
    elif tag == "float" and path and path[-1] in _VERSION_KEYS:
        msg = f'`{text}` is read as the number {float(text)!r}; quote versions ("{text}")'
        code = "yaml.version-as-number"
    elif tag == "timestamp":
        msg = f"`{text}` is read as a date by YAML 1.1; quote it if it is text"
        code = "yaml.date"
    if msg:
        out.append(Finding(WARNING, asset.name, line, dotted(path), msg, code, HYGIENE))


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
            out.append(
                Finding(
                    ERROR,
                    asset.name,
                    i,
                    "",
                    "tab in indentation: YAML allows spaces only",
                    "yaml.tab",
                    HYGIENE,
                )
            )
    return out


def detect_kind(data: dict[str, Any]) -> str | None:
    """Kind from `$schema`, then `type`, then telltale keys (hand-written files omit both)."""
    schema = data.get("$schema")
    if isinstance(schema, str):
        stem = schema.rstrip("/").rsplit("/", 1)[-1].lower().replace(".schema.json", "")
        stem = stem.replace(".json", "")
        if stem in _SCHEMA_KINDS:
            return _SCHEMA_KINDS[stem]
    kind = data.get("type")
    if isinstance(kind, str) and kind.lower() in _TYPE_KINDS:
        return _TYPE_KINDS[kind.lower()]
    if "jobs" in data:
        return PIPELINE_JOB
    if "endpoint_name" in data:
        return DEPLOYMENT
    if "auth_mode" in data:
        return ENDPOINT
    if "command" in data:
        return COMMAND_JOB
    if "size" in data or "min_instances" in data or "max_instances" in data:
        return COMPUTE
    if "path" in data and "name" in data:
        return MODEL
    return None


def load_asset(path: Path, name: str, text: str | None = None) -> tuple[Asset, list[Finding]]:
    """Parse one file; never raises for bad content (that is what the findings are for)."""
    findings: list[Finding] = []
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            asset = Asset(path, name, "")
            return asset, [
                Finding(ERROR, name, None, "", "file not found", "yaml.missing", HYGIENE)
            ]
        except (OSError, UnicodeDecodeError) as exc:
            asset = Asset(path, name, "")
            msg = f"cannot read: {exc}"
            return asset, [Finding(ERROR, name, None, "", msg, "yaml.unreadable", HYGIENE)]
    asset = Asset(path, name, text)
    tabs = _tabs(asset)
    findings += tabs
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if node is not None else None
    except yaml.YAMLError as exc:
        err = _yaml_error(asset, exc)
        if not any(t.line == err.line for t in tabs):
            findings.append(err)
        return asset, findings
    asset.parsed = True
    if node is not None:
        _walk(asset, node, (), findings)
    asset.data = data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        findings.append(
            Finding(
                ERROR,
                name,
                1,
                "",
                f"the file is {what}: an Azure ML asset is a mapping",
                "yaml.not-mapping",
                HYGIENE,
            )
        )
        return asset, findings
    asset.kind = detect_kind(data)
    if asset.kind is None:
        findings.append(
            Finding(
                WARNING,
                name,
                1,
                "",
                "cannot tell which Azure ML asset this is: add `$schema` or `type`",
                "yaml.unknown-kind",
                HYGIENE,
            )
        )
    return asset, findings

"""A pipeline's steps as the service sees them: every kind of step, its interface, its bindings.

Steps come as registry or workspace component references, local component files, inline
component definitions, or inline jobs (`command`, `spark`, `parallel`, `sweep`, `automl`, ...)
that the SDK turns into nodes. Whatever the form, every `${{parent.inputs.*}}`,
`${{parent.outputs.*}}` and `${{parent.jobs.<step>.outputs.<out>}}` binding must name something
that exists: the step, and its output whenever the step's interface is known. `settings:` keys
are checked too, since the SDK passes typos through and the service ignores them.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import yamlio
from ..catalog.uri import COMPONENTS, parse_registry_uri
from .assets import Asset
from .component import (
    INLINE_TYPES,
    SpecLookup,
    is_local,
    lookup_bundled,
    mapping,
    step_type,
)
from .findings import COMPONENT, ERROR, WARNING, Finding, YamlPath, finding
from .kinds import BATCH_DEPLOYMENT, PIPELINE_COMPONENT, PIPELINE_JOB, SWEEP_JOB

BINDING = re.compile(
    r"\$\{\{\s*parent\.(?:(?P<scope>inputs|outputs)\.(?P<name>[A-Za-z0-9_]+)"
    r"|jobs\.(?P<step>[A-Za-z0-9_-]+)\.outputs\.(?P<output>[A-Za-z0-9_]+))\s*\}\}"
)
# PipelineJobSettingsSchema of azure-ai-ml (on_init/on_finalize are behind its preview flag).
SETTINGS = (
    "default_compute",
    "default_datastore",
    "continue_on_step_failure",
    "force_rerun",
    "on_init",
    "on_finalize",
)
# Outputs a node has without declaring them (AutoML's best model).
IMPLICIT_OUTPUTS = {"automl": {"best_model"}}


@dataclass
class Step:
    """What a pipeline knows of one step: its form and, when known, its output names."""

    key: str
    form: str  # "registry", "workspace", "file", "inline-component", "inline", "missing"
    outputs: set[str] | None  # None: not known offline
    component_file: Path | None = None


def _did_you_mean(word: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def _file_outputs(path: Path) -> set[str] | None:
    try:
        doc = yamlio.read(path, duplicates="report")
    except yamlio.YamlReadError:
        return None  # its own validation reports it
    data = mapping(doc.data)
    return set(mapping(data.get("outputs"))) if data else None


def component_file(asset: Asset, ref: str) -> Path | None:
    """The local component file a step names (`./train.yml` or `file:./train.yml`), if any."""
    text = ref[len("file:") :] if ref.startswith("file:") else ref
    if not is_local(text) or not text.endswith((".yml", ".yaml")):
        return None
    return asset.path.parent / text


def step_of(asset: Asset, key: str, lookup: SpecLookup = lookup_bundled) -> Step:
    step = mapping(asset.get("jobs", key))
    kind = step_type(step)
    declared = set(mapping(step.get("outputs")))
    ref = step.get("component")
    if kind == "sweep":
        ref = step.get("trial")
    if isinstance(ref, dict):
        return Step(key, "inline-component", set(mapping(ref.get("outputs"))) | declared)
    if isinstance(ref, str):
        m = parse_registry_uri(ref, COMPONENTS)
        if m and (m.version or m.label):
            spec = lookup(m.name, m.version) if m.version else None
            return Step(key, "registry", set(spec.outputs) if spec else None)
        local = component_file(asset, ref)
        if local is not None:
            outputs = _file_outputs(local) if local.is_file() else None
            return Step(key, "file", outputs | declared if outputs is not None else None, local)
        return Step(key, "workspace", None)
    if kind in INLINE_TYPES:
        return Step(key, "inline", declared | IMPLICIT_OUTPUTS.get(str(kind), set()))
    return Step(key, "missing", None)


def steps(asset: Asset, lookup: SpecLookup = lookup_bundled) -> dict[str, Step]:
    if asset.kind not in (PIPELINE_JOB, PIPELINE_COMPONENT):
        return {}
    return {str(k): step_of(asset, str(k), lookup) for k in mapping(asset.get("jobs"))}


def component_files(asset: Asset) -> list[Path]:
    """The local component files a pipeline's steps, a sweep job's trial or a pipeline-component
    batch deployment use inline (the SDK loads each as an anonymous component)."""
    out = [s.component_file for s in steps(asset).values() if s.component_file is not None]
    ref = asset.get("trial") if asset.kind == SWEEP_JOB else None
    if asset.kind == BATCH_DEPLOYMENT:
        ref = asset.get("component")
    if isinstance(ref, str) and (local := component_file(asset, ref)) is not None:
        out.append(local)
    return out


def _strings(value: Any, path: YamlPath) -> list[tuple[YamlPath, str]]:
    """Every string under `value` with its path, skipping inline component definitions."""
    out: list[tuple[YamlPath, str]] = []
    stack: list[tuple[Any, YamlPath]] = [(value, path)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, str):
            out.append((at, node))
        elif isinstance(node, dict):
            for k, v in node.items():
                if not (k in ("component", "trial") and isinstance(v, dict)):
                    stack.append((v, (*at, k)))
        elif isinstance(node, list):
            stack += [(v, (*at, i)) for i, v in enumerate(node)]
    return sorted(out, key=lambda item: [str(p) for p in item[0]])


def _check_binding(
    asset: Asset, at: YamlPath, m: re.Match[str], all_steps: dict[str, Step]
) -> Finding | None:
    if m["scope"]:
        scope, name = m["scope"], m["name"]
        declared = mapping(asset.get(scope))
        if name in declared:
            return None
        known = ", ".join(declared) or "none"
        under = "" if scope == "inputs" else " under `outputs`"
        msg = (
            f"binds to pipeline {scope[:-1]} {name!r}, which the pipeline does not declare"
            f"{under} ({scope}: {known}){_did_you_mean(name, list(declared))}"
        )
        severity = ERROR
        if scope == "inputs":
            msg = msg.replace("pipeline input", "parent input", 1)
            if asset.kind == PIPELINE_COMPONENT and at[2:3] == ("resources",):
                # The registry takes it (azureml-assets has published such components for
                # years); only a run finds the setting unresolved.
                severity = WARNING
                msg += ": registering the component succeeds; a run has no such input to resolve"
        return finding(asset, at, severity, "component.binding", msg, COMPONENT)
    src, out = m["step"], m["output"]
    other = all_steps.get(src)
    if other is None:
        msg = (
            f"binds to step {src!r}, which does not exist (steps: {', '.join(all_steps)})"
            f"{_did_you_mean(src, list(all_steps))}"
        )
        return finding(asset, at, ERROR, "component.binding", msg, COMPONENT)
    if other.outputs is not None and out not in other.outputs:
        outs = ", ".join(sorted(other.outputs)) or "none declared"
        msg = (
            f"step {src!r} has no output {out!r} (outputs: {outs})"
            f"{_did_you_mean(out, sorted(other.outputs))}"
        )
        return finding(asset, at, ERROR, "component.binding", msg, COMPONENT)
    return None


def check_pipeline(asset: Asset, lookup: SpecLookup = lookup_bundled) -> list[Finding]:
    """Bindings of every step, local component files, and `settings:` keys."""
    if asset.kind not in (PIPELINE_JOB, PIPELINE_COMPONENT) or not isinstance(asset.data, dict):
        return []
    out: list[Finding] = []
    all_steps = steps(asset, lookup)
    for key, step in all_steps.items():
        base: YamlPath = ("jobs", key)
        if step.component_file is not None and not step.component_file.is_file():
            msg = f"component file {step.component_file.name} does not exist (relative to the YAML)"
            out.append(
                finding(asset, (*base, "component"), ERROR, "component.file", msg, COMPONENT)
            )
        for at, text in _strings(mapping(asset.get(*base)), base):
            for m in BINDING.finditer(text):
                problem = _check_binding(asset, at, m, all_steps)
                if problem is not None:
                    out.append(problem)
    settings = asset.get("settings")
    if isinstance(settings, dict):
        for key in settings:
            if key not in SETTINGS:
                msg = (
                    f"unknown setting {key!r}: the SDK sends it and Azure ML ignores it"
                    f"{_did_you_mean(str(key), list(SETTINGS))} (settings: {', '.join(SETTINGS)})"
                )
                out.append(
                    finding(asset, ("settings", key), WARNING, "pipeline.setting", msg, COMPONENT)
                )
    return out

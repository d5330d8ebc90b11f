"""Layer 3: a pipeline job's registry component steps against the component's interface.

Offline, the SDK keeps a registry component reference as a plain string and checks none of its
inputs; Azure finds the mistakes hours later. The bundled catalog (derived from the registry
specs) knows every input's type, enum, minimum and the outputs, per version.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import catalog, limits
from ..catalog.uri import COMPONENTS, parse_registry_uri
from .assets import Asset
from .findings import COMPONENT, ERROR, INFO, RUNTIME, WARNING, Finding, YamlPath, finding
from .kinds import PIPELINE_JOB

SpecLookup = Callable[[str, str], "catalog.ComponentSpec | None"]

WORKSPACE_COMPONENT = re.compile(
    r"^azureml:(?P<name>[A-Za-z0-9_.-]+)(?::(?P<version>[^@]+)|@(?P<label>.+))?$"
)
PARENT_INPUT = re.compile(r"^\$\{\{\s*parent\.inputs\.([A-Za-z0-9_]+)\s*\}\}$")
PARENT_OUTPUT = re.compile(r"^\$\{\{\s*parent\.outputs\.([A-Za-z0-9_]+)\s*\}\}$")
JOB_OUTPUT = re.compile(
    r"^\$\{\{\s*parent\.jobs\.([A-Za-z0-9_]+)\.outputs\.([A-Za-z0-9_]+)\s*\}\}$"
)
# Steps whose body is the job itself (no `component:`), by `type`.
INLINE_TYPES = {"command", "spark", "parallel", "sweep", "automl", "data_transfer", "import"}
NODE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
ASSET_TYPES = {"uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model"}

# Inputs people reach for that chat_completion_pipeline never had (facts §7), with what to use.
NEVER_EXISTED = {
    "messages_key": "the chat column is always `messages`",
    "chat_key": "the chat column is always `messages`",
    "text_key": "the chat column is always `messages`",
    "bf16": 'use precision: "16" (bf16 where the GPU supports it)',
    "fp16": 'use precision: "16"',
    "gradient_checkpointing": "the component does not expose it",
    "save_strategy": "checkpoints follow evaluation_strategy; see save_total_limit",
    "warmup_ratio": "use warmup_steps",
    "lora_target_modules": "the component picks the LoRA modules itself",
    "system_properties": "not a component input",
}
_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "sixteen": 16,
    "twenty": 20,
    "thirty": 30,
    "thirty-two": 32,
    "sixty-four": 64,
    "hundred": 100,
}


def step_type(step: dict[str, Any]) -> Any:
    """A step's `type`; without one the SDK makes an inline job or a component node a command
    step (the MLOps templates write inline command steps that way)."""
    kind = step.get("type")
    if kind is None and ("command" in step or isinstance(step.get("component"), str | dict)):
        return "command"
    return kind


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else empty (bad shapes are reported by other checks)."""
    return value if isinstance(value, dict) else {}


def lookup_bundled(name: str, version: str) -> catalog.ComponentSpec | None:
    return catalog.component(name, version)


@dataclass
class Node:
    """One step of a pipeline job, with its component interface when we know it."""

    key: str
    ref: str | None
    name: str | None = None
    version: str | None = None
    label: str | None = None
    spec: catalog.ComponentSpec | None = None
    literals: dict[str, Any] = field(default_factory=dict)  # input -> literal value given
    bound_inputs: dict[str, str] = field(default_factory=dict)  # input -> parent input name
    local_paths: dict[str, Path] = field(default_factory=dict)  # input -> local file it gets

    def effective(self, name: str) -> Any:
        """The value the step runs with: what the job gives, else the component default."""
        if name in self.literals:
            value = self.literals[name]
            if isinstance(value, bool):
                return "true" if value else "false"
            return value
        if self.spec and name in self.spec.inputs:
            return self.spec.inputs[name].default
        return None


def is_local(path: str) -> bool:
    """A path Azure ML resolves from the YAML's folder (no scheme such as azureml: or https:).

    A binding (`${{parent.jobs.prep.outputs.data}}`) is never a local path.
    """
    if "${{" in path:
        return False
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", path)


def parent_input_type(decl: Any) -> str | None:
    if isinstance(decl, dict):
        kind = decl.get("type")
        if kind is None and "path" in decl:
            return "uri_folder"  # the SDK's default for an input with a path
        return str(kind) if kind is not None else None
    if isinstance(decl, bool):
        return "boolean"
    if isinstance(decl, int):
        return "integer"
    if isinstance(decl, float):
        return "number"
    if isinstance(decl, str):
        return "string"
    return None


def parent_literal(decl: Any) -> tuple[bool, Any]:
    """(has a literal, value) of a pipeline-level input declaration."""
    if isinstance(decl, dict):
        if parent_input_type(decl) in ASSET_TYPES:
            return False, None
        for key in ("default", "value"):
            if key in decl:
                return True, decl[key]
        return False, None
    if decl is None:
        return False, None
    return True, decl


def resolve_node(asset: Asset, key: str, lookup: SpecLookup = lookup_bundled) -> Node:
    raw = asset.get("jobs", key)
    step = mapping(raw)
    ref = step.get("component")
    node = Node(key=key, ref=ref if isinstance(ref, str) else None)
    if isinstance(ref, str):
        reg = parse_registry_uri(ref, COMPONENTS)
        if reg and (reg.version or reg.label):
            node.name, node.version, node.label = reg.name, reg.version, reg.label
            if node.version:
                node.spec = lookup(node.name, node.version)
        elif m := WORKSPACE_COMPONENT.match(ref):
            node.name, node.version, node.label = (
                m.group("name"),
                m.group("version"),
                m.group("label"),
            )
            if node.version:
                node.spec = lookup(node.name, node.version)
    parent_inputs = mapping(asset.get("inputs"))
    inputs = mapping(step.get("inputs"))
    folder = asset.path.parent
    for name, value in inputs.items():
        if isinstance(value, str) and (m := PARENT_INPUT.match(value)):
            node.bound_inputs[name] = m.group(1)
            decl = parent_inputs.get(m.group(1))
            has, literal = parent_literal(decl)
            if has:
                node.literals[name] = literal
            elif (
                isinstance(decl, dict)
                and isinstance(decl.get("path"), str)
                and is_local(decl["path"])
            ):
                node.local_paths[name] = folder / decl["path"]
        elif isinstance(value, dict):
            if isinstance(value.get("path"), str) and is_local(value["path"]):
                node.local_paths[name] = folder / value["path"]
        elif not (isinstance(value, str) and value.startswith("${{")):
            node.literals[name] = value
    return node


def pipeline_nodes(asset: Asset, lookup: SpecLookup = lookup_bundled) -> list[Node]:
    jobs = asset.get("jobs")
    if asset.kind != PIPELINE_JOB or not isinstance(jobs, dict):
        return []
    return [resolve_node(asset, str(k), lookup) for k in jobs]


# --- layer 3 -----------------------------------------------------------------------------------


def _versions_with(name: str, predicate: Callable[[catalog.ComponentSpec], bool]) -> list[str]:
    out = []
    for v in catalog.component_versions(name):
        spec = catalog.component(name, v)
        if spec is not None and predicate(spec):
            out.append(v)
    return out


def _has_output(name: str) -> Callable[[catalog.ComponentSpec], bool]:
    return lambda spec: name in spec.outputs


def _did_you_mean(word: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def check_literal(
    spec: catalog.InputSpec, value: Any, component: str, version: str
) -> list[tuple[str, str, str]]:
    """Problems of one literal input value: (severity, code, message)."""
    out: list[tuple[str, str, str]] = []
    if value is None:
        return out
    if spec.enum is not None:
        if isinstance(value, bool):
            word = "true" if value else "false"
            out.append(
                (
                    ERROR,
                    "component.yaml-boolean",
                    f'YAML boolean {word} is sent as "{word.title()}", not in the '
                    f'string enum {list(spec.enum)}: quote it ("{word}")',
                )
            )
            return out
        text = str(value)
        if text not in spec.enum:
            other = _versions_with(
                component,
                lambda s: spec.name in s.inputs and text in (s.inputs[spec.name].enum or ()),
            )
            hint = f" ({text!r} is allowed only in version {', '.join(other)})" if other else ""
            near = _did_you_mean(text, list(spec.enum)) if not other else ""
            out.append(
                (
                    ERROR,
                    "component.enum",
                    f"{text!r} is not allowed in {component} {version}: one of "
                    f"{', '.join(spec.enum)}{hint}{near}",
                )
            )
        return out
    if spec.type in ("integer", "number"):
        what = "an integer" if spec.type == "integer" else "a number"
        num = number(value)
        if isinstance(value, bool):
            out.append(
                (ERROR, "component.type", f"YAML boolean {value!r} given where {what} is expected")
            )
            return out
        if num is None:
            word = str(value).strip().lower()
            if word in _WORDS:
                out.append(
                    (
                        ERROR,
                        "component.number-word",
                        f"{value!r} is a word, not {what}: write {_WORDS[word]}",
                    )
                )
            else:
                out.append((ERROR, "component.type", f"{value!r} is not {what}"))
            return out
        if spec.type == "integer" and not num.is_integer():
            out.append((ERROR, "component.type", f"{value!r} is not an integer"))
            return out
        if spec.type == "integer" and isinstance(value, float):
            out.append(
                (
                    ERROR,
                    "component.type",
                    f'{value!r} is sent as "{value}", which does not parse as an integer: '
                    f"write {int(num)}",
                )
            )
            return out
        if spec.min is not None and num < spec.min:
            out.append((ERROR, "component.min", f"{value!r} is below the minimum {spec.min:g}"))
        if spec.max is not None and num > spec.max:
            out.append((ERROR, "component.max", f"{value!r} is above the maximum {spec.max:g}"))
        # The params model applies the same limits; learning_rate's is a runtime rule below.
        problem = limits.finetune_input(spec.name, num) if spec.name != "learning_rate" else None
        if problem and not out:
            out.append((ERROR, "component.bound", f"{spec.name} {problem}"))
        return out
    if spec.type == "boolean" and not isinstance(value, bool):
        out.append((ERROR, "component.type", f"{value!r} is not a boolean"))
    elif spec.type == "string" and isinstance(value, bool):
        out.append(
            (
                WARNING,
                "component.yaml-boolean",
                f'YAML boolean {value!r} is sent as the string "{value}"; quote it if '
                "you mean a word",
            )
        )
    return out


def _unknown_input(node: Node, spec: catalog.ComponentSpec, name: str) -> tuple[str, str, int]:
    if name in NEVER_EXISTED:
        return (
            f"{name!r} is not an input of {spec.name} (it never was): {NEVER_EXISTED[name]}",
            "runtime.nonexistent-input",
            RUNTIME,
        )
    elsewhere = _versions_with(spec.name, lambda s: name in s.inputs)
    if elsewhere:
        return (
            f"{name!r} is not an input of {spec.name} {spec.version} "
            f"(it exists in version {', '.join(elsewhere)})",
            "component.unknown-input",
            COMPONENT,
        )
    return (
        f"{name!r} is not an input of {spec.name} {spec.version}"
        f"{_did_you_mean(name, sorted(spec.inputs))}",
        "component.unknown-input",
        COMPONENT,
    )


def _check_node(asset: Asset, node: Node, nodes: dict[str, Node]) -> list[Finding]:
    out: list[Finding] = []
    base: YamlPath = ("jobs", node.key)
    step = asset.get(*base)
    add = lambda path, sev, code, msg, layer=COMPONENT: out.append(  # noqa: E731
        finding(asset, path, sev, code, msg, layer)
    )
    problem = limits.node_key(node.key)
    if problem:
        add(base, ERROR, "component.node-name", problem)
    if not isinstance(step, dict):
        add(base, ERROR, "component.step", "a step must be a mapping with `type` and `component`")
        return out
    if node.ref is None:
        inline = step_type(step) in INLINE_TYPES or isinstance(step.get("component"), dict)
        if step.get("component") is None and not inline:
            add(
                base,
                ERROR,
                "component.missing",
                "the step names no `component` and is no inline job (`type: command`, "
                "`spark`, `parallel`, `sweep`, `automl`, ...)",
            )
        return out
    if node.label is not None:
        add(
            (*base, "component"),
            WARNING,
            "component.unpinned",
            f"{node.name} label {node.label!r} cannot be checked and is not reproducible: "
            "pin a version",
        )
    elif node.name and node.spec is None:
        bundled = catalog.component_versions(node.name)
        if bundled:
            add(
                (*base, "component"),
                INFO,
                "component.unknown-version",
                f"{node.name} version {node.version} is not in the bundled catalog "
                f"({', '.join(bundled)}): its inputs cannot be checked offline "
                "(`amlgen validate --online` checks the registry)",
            )
        else:
            add(
                (*base, "component"),
                INFO,
                "component.not-bundled",
                f"{node.name} is not in the bundled catalog: its inputs are not checked",
            )
    spec = node.spec
    is_pipeline = spec is not None or bool(node.name and catalog.component_versions(node.name))
    kind = step.get("type")
    if is_pipeline and kind is None:
        add(
            base,
            ERROR,
            "component.step-type",
            "the step has no `type: pipeline`: the SDK silently makes it a command node and "
            "the pipeline component fails at submission",
        )
    elif is_pipeline and kind != "pipeline":
        add(
            (*base, "type"),
            ERROR,
            "component.step-type",
            f"type {kind!r} for a pipeline component: use `type: pipeline`",
        )
    if spec is None:
        return out
    parent_inputs = mapping(asset.get("inputs"))
    parent_outputs = mapping(asset.get("outputs"))
    inputs = mapping(step.get("inputs"))
    for name, value in inputs.items():
        path = (*base, "inputs", name)
        if name not in spec.inputs:
            msg, code, layer = _unknown_input(node, spec, str(name))
            add(path, ERROR, code, msg, layer)
            continue
        ispec = spec.inputs[name]
        if isinstance(value, str) and (m := PARENT_INPUT.match(value)):
            pname = m.group(1)
            if pname not in parent_inputs:
                continue  # pipeline.py reports bindings to nothing, for every kind of step
            decl = parent_inputs[pname]
            ptype = parent_input_type(decl)
            if ispec.type in ASSET_TYPES and ptype != ispec.type:
                add(
                    ("inputs", pname, "type") if isinstance(decl, dict) else ("inputs", pname),
                    ERROR,
                    "component.input-type",
                    f"pipeline input {pname!r} is {ptype or 'untyped'} but {spec.name} input "
                    f"{name!r} takes {ispec.type}",
                )
                continue
            has, literal = parent_literal(decl)
            if has:
                for sev, code, msg in check_literal(ispec, literal, spec.name, spec.version):
                    add(("inputs", pname), sev, code, f"(bound to {name}) {msg}")
            continue
        if isinstance(value, str) and JOB_OUTPUT.match(value):
            continue  # pipeline.py checks step-to-step bindings
        if isinstance(value, str) and value.startswith("${{"):
            continue
        if isinstance(value, dict):
            vtype = parent_input_type(value)
            if ispec.type in ASSET_TYPES and vtype != ispec.type:
                add(
                    (*path, "type"),
                    ERROR,
                    "component.input-type",
                    f"input is {vtype or 'untyped'} but {spec.name} input {name!r} takes "
                    f"{ispec.type}",
                )
            continue
        for sev, code, msg in check_literal(ispec, value, spec.name, spec.version):
            add(path, sev, code, msg)
    for name, ispec in spec.inputs.items():
        if not ispec.optional and ispec.default is None and name not in inputs:
            add(
                (*base, "inputs"),
                ERROR,
                "component.required",
                f"required input {name!r} is missing",
            )
    outputs = mapping(step.get("outputs"))
    for name, value in outputs.items():
        path = (*base, "outputs", name)
        if name not in spec.outputs:
            elsewhere = _versions_with(spec.name, _has_output(str(name)))
            hint = (
                f" (it exists only in version {', '.join(elsewhere)})"
                if elsewhere
                else _did_you_mean(str(name), list(spec.outputs))
            )
            add(
                path,
                ERROR,
                "component.unknown-output",
                f"{spec.name} {spec.version} has no output {name!r}{hint}; outputs: "
                f"{', '.join(spec.outputs)}",
            )
            continue
        if isinstance(value, str) and (m := PARENT_OUTPUT.match(value)):
            pname = m.group(1)
            if pname not in parent_outputs:
                continue
            decl = parent_outputs[pname]
            ptype = decl.get("type") if isinstance(decl, dict) else None
            if ptype is not None and ptype != spec.outputs[name]:
                add(
                    ("outputs", pname, "type"),
                    ERROR,
                    "component.output-type",
                    f"pipeline output {pname!r} is {ptype} but {spec.name} output {name!r} is "
                    f"{spec.outputs[name]}",
                )
    return out


def check_pipeline(asset: Asset, lookup: SpecLookup = lookup_bundled) -> list[Finding]:
    """Layer 3 for one pipeline job."""
    if asset.kind != PIPELINE_JOB or not isinstance(asset.data, dict):
        return []
    out: list[Finding] = []
    outputs = asset.get("outputs")
    if isinstance(outputs, dict):
        for name, value in outputs.items():
            if isinstance(value, str) and JOB_OUTPUT.match(value):
                out.append(
                    finding(
                        asset,
                        ("outputs", name),
                        ERROR,
                        "component.output-binding",
                        "a pipeline output cannot bind to a step's output here; bind on "
                        f"the step: jobs.<step>.outputs.<output>: "
                        f"${{{{parent.outputs.{name}}}}}",
                        COMPONENT,
                    )
                )
    nodes = {n.key: n for n in pipeline_nodes(asset, lookup)}
    for node in nodes.values():
        out += _check_node(asset, node, nodes)
    return out

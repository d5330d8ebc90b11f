"""Layer 4: the fine-tune step's runtime rules (facts §7), which otherwise fail hours into a run.

They apply only to a step whose component has the fine-tune inputs (a `learning_rate`), so any
other pipeline, and every other kind, never sees them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import limits, reading
from .assets import Asset
from .component import Node, number
from .findings import ERROR, RUNTIME, WARNING, Finding, YamlPath, finding

MAX_CONFIG_BYTES = 1024 * 1024  # a DeepSpeed config is a few KB


def check_runtime(asset: Asset, node: Node) -> list[Finding]:
    """The fine-tune step's own checks (facts §7), which otherwise fail hours into a run."""
    spec = node.spec
    if spec is None or "learning_rate" not in spec.inputs:
        return []
    out: list[Finding] = []
    base: YamlPath = ("jobs", node.key, "inputs")

    def at(name: str) -> YamlPath:
        return (*base, name) if name in node.literals else base

    def add(name: str, sev: str, code: str, msg: str) -> None:
        out.append(finding(asset, at(name), sev, code, msg, RUNTIME))

    lr = number(node.effective("learning_rate"))
    problem = limits.finetune_input("learning_rate", lr)  # the params model's rule
    if problem:
        add("learning_rate", ERROR, "runtime.learning-rate", f"learning_rate {problem}")
    if node.effective("apply_early_stopping") == "true":
        strategy = node.effective("evaluation_strategy")
        if strategy not in ("epoch", "steps"):
            add(
                "evaluation_strategy",
                ERROR,
                "runtime.early-stopping",
                f"apply_early_stopping needs evaluation_strategy epoch or steps (got {strategy!r})",
            )
    deepspeed = node.effective("apply_deepspeed") == "true"
    stage = str(node.effective("deepspeed_stage"))
    if deepspeed and stage == "3" and node.effective("apply_ort") == "true":
        add(
            "apply_ort",
            ERROR,
            "runtime.deepspeed-ort",
            'DeepSpeed stage 3 rejects apply_ort "true": set apply_ort "false" or stage "2"',
        )
    if deepspeed and stage == "3" and node.effective("auto_find_batch_size") == "true":
        add(
            "auto_find_batch_size",
            WARNING,
            "runtime.auto-batch",
            "DeepSpeed stage 3 forces auto_find_batch_size off",
        )
    config = node.local_paths.get("deepspeed")
    if config is not None:
        out += _deepspeed_config(asset, node, config, deepspeed)
    return out


def _deepspeed_config(asset: Asset, node: Node, config: Path, enabled: bool) -> list[Finding]:
    path: YamlPath = ("jobs", node.key, "inputs", "deepspeed")
    if node.key and "deepspeed" in node.bound_inputs:
        path = ("inputs", node.bound_inputs["deepspeed"], "path")
    out: list[Finding] = []

    def add(sev: str, code: str, msg: str) -> None:
        out.append(finding(asset, path, sev, code, msg, RUNTIME))

    try:
        data = json.loads(reading.read_text(config, MAX_CONFIG_BYTES, config.name))
    except reading.ReadRefused as exc:
        if exc.code == "missing":
            add(ERROR, "runtime.deepspeed-config", f"DeepSpeed config {config.name} does not exist")
        else:
            add(ERROR, "runtime.deepspeed-config", f"DeepSpeed config {exc}")
        return out
    except (ValueError, RecursionError) as exc:
        add(ERROR, "runtime.deepspeed-config", f"DeepSpeed config {config.name} is not JSON: {exc}")
        return out
    stage = data.get("zero_optimization", {}).get("stage") if isinstance(data, dict) else None
    if isinstance(data, dict) and not isinstance(data.get("zero_optimization"), dict):
        stage = None
    if not isinstance(stage, int) or isinstance(stage, bool):
        add(
            ERROR,
            "runtime.deepspeed-config",
            f"DeepSpeed config {config.name} needs an integer zero_optimization.stage "
            f"(got {stage!r})",
        )
    if not enabled:
        add(
            WARNING,
            "runtime.deepspeed-config",
            'a DeepSpeed config is ignored unless apply_deepspeed is "true"',
        )
    return out

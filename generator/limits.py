"""Azure ML's names and numeric limits, each rule once.

The params model applies them at `render` (one line naming file, line and path) and the
validator applies the same functions to any Azure ML YAML, so the two cannot disagree.
Sources: Azure ML's naming rules and service limits (facts §4), the managed online deployment
schema (probes, request settings), and amlgen's realistic upper bounds for fine-tune inputs
(a value past them is a typo, not a plan: `num_train_epochs: 100000000` would bill for years).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .catalog import azure_limits
from .reading import clip

# --- names -------------------------------------------------------------------------------------

ONLINE_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]*[a-zA-Z0-9]$")  # endpoint, deployment
ONLINE_NAME_LEN = (3, 32)
COMPUTE_NAME = re.compile(r"^[a-zA-Z](?![a-zA-Z0-9-]*-\d+$)[a-zA-Z0-9\-]{2,23}$")
ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")  # job, workspace model
# Registry assets may also have dots: the azureml registry's Phi-3.5-mini-instruct.
REGISTRY_ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}$")
EXPERIMENT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,255}$")
NODE_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DISPLAY_NAME_MAX = 256
DESCRIPTION_MAX = 5000
TAGS_MAX = 50
TAG_KEY_MAX = 100
TAG_VALUE_MAX = 1000


def online_name(name: str, what: str) -> str | None:
    """Endpoint and deployment names: 3-32 characters, a letter first, letters, digits and
    single hyphens, a letter or digit last (case is checked by the caller: the CLI lower-cases)."""
    lo, hi = ONLINE_NAME_LEN
    if not lo <= len(name) <= hi:
        return f"{what} name {clip(name)} has {len(name)} characters; allowed: {lo} to {hi}"
    if not ONLINE_NAME.match(name):
        return (
            f"{what} name {clip(name)}: start with a letter, then letters, digits and single "
            "hyphens, end with a letter or digit"
        )
    return None


def compute_name(name: str) -> str | None:
    if COMPUTE_NAME.match(name):
        return None
    return (
        f"compute name {clip(name)}: 3-24 letters, digits and hyphens, starting with a letter and "
        "not ending in -<digits>"
    )


def asset_name(name: str, what: str) -> str | None:
    """Job and workspace model names."""
    if ASSET_NAME.match(name):
        return None
    return (
        f"{what} name {clip(name)}: 1-255 letters, digits, '-' and '_' (no dots or spaces), "
        "starting with a letter or digit"
    )


def registry_only_name(name: str) -> bool:
    """A name a registry takes for an asset and a workspace refuses (it has dots)."""
    return not ASSET_NAME.match(name) and bool(REGISTRY_ASSET_NAME.match(name))


def experiment_name(name: str) -> str | None:
    if EXPERIMENT_NAME.match(name):
        return None
    return (
        f"experiment name {clip(name)}: 1-256 letters, digits, '-' and '_' (no spaces, dots or "
        "slashes), starting with a letter or digit"
    )


def display_name(name: str) -> str | None:
    if not name.strip():
        return "display name is empty"
    if len(name) > DISPLAY_NAME_MAX:
        return f"display name has {len(name)} characters; allowed: at most {DISPLAY_NAME_MAX}"
    if any(ord(c) < 32 for c in name):
        return "display name contains a control character"
    return None


def node_key(name: str) -> str | None:
    if NODE_KEY.match(name):
        return None
    return f"step name {clip(name)} must be a lower-case identifier ([a-z_][a-z0-9_]*)"


def env_var_name(name: str) -> str | None:
    if ENV_VAR_NAME.match(name):
        return None
    return (
        f"environment variable name {clip(name)}: letters, digits and '_', not starting with a "
        "digit"
    )


def description(text: str) -> str | None:
    if len(text) > DESCRIPTION_MAX:
        return f"description has {len(text)} characters; allowed: at most {DESCRIPTION_MAX}"
    return None


def tags(values: dict[str, Any], reserved: int = 0) -> str | None:
    """Tag count and sizes; `reserved` tags are the ones amlgen adds itself."""
    if len(values) + reserved > TAGS_MAX:
        return (
            f"{len(values)} tags; allowed: at most {TAGS_MAX - reserved} (amlgen adds {reserved})"
        )
    for key, value in values.items():
        if not 1 <= len(key) <= TAG_KEY_MAX:
            return f"tag key {key[:40]!r} has {len(key)} characters; allowed: 1 to {TAG_KEY_MAX}"
        if len(str(value)) > TAG_VALUE_MAX:
            return (
                f"tag {clip(key)}: the value has {len(str(value))} characters; allowed: at most "
                f"{TAG_VALUE_MAX}"
            )
    return None


# --- numbers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """An allowed range; `also` lists sentinel values outside it (-1 = "let the component
    decide"). Exclusive ends are for rates such as adam_beta1 in [0, 1)."""

    lo: float
    hi: float
    unit: str = ""
    why: str = ""
    also: tuple[float, ...] = ()
    lo_open: bool = False
    hi_open: bool = False

    def allowed(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        if self.lo_open or self.hi_open:
            text = f"{left}{_num(self.lo)}, {_num(self.hi)}{right}"
        else:
            text = f"{_num(self.lo)}..{_num(self.hi)}"
        if self.unit:
            text += f" {self.unit}"
        if self.also:
            text += " or " + " or ".join(_num(v) for v in self.also)
        return text

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {clip(value)}"
        if value in self.also:
            return None
        low_ok = value > self.lo if self.lo_open else value >= self.lo
        high_ok = value < self.hi if self.hi_open else value <= self.hi
        if low_ok and high_ok:
            return None
        side = "at least" if not low_ok else "at most"
        edge = self.lo if not low_ok else self.hi
        if (not low_ok and self.lo_open) or (not high_ok and self.hi_open):
            side = "greater than" if not low_ok else "less than"
        why = f"; {self.why}" if self.why else ""
        return f"must be {side} {_num(edge)} (allowed: {self.allowed()}{why}), got {_num(value)}"


def _num(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else clip(value)


_STEPS = 10_000_000
FINETUNE: dict[str, Bound] = {
    "num_train_epochs": Bound(1, 1000),
    "max_steps": Bound(1, _STEPS, also=(-1,), why="-1 trains for num_train_epochs"),
    "per_device_train_batch_size": Bound(1, 1024),
    "per_device_eval_batch_size": Bound(1, 1024),
    "batch_size": Bound(1, 100_000),
    "gradient_accumulation_steps": Bound(1, 1024),
    "eval_accumulation_steps": Bound(1, 1024, also=(-1,)),
    "max_seq_length": Bound(1, 1_048_576, "tokens", also=(-1,), why="-1 is the model's length"),
    "logging_steps": Bound(1, _STEPS),
    "eval_steps": Bound(1, _STEPS),
    "warmup_steps": Bound(0, _STEPS),
    "save_total_limit": Bound(1, 1000, also=(-1,), why="-1 keeps every checkpoint"),
    "learning_rate": Bound(0, 1, lo_open=True),
    "adam_beta1": Bound(0, 1, hi_open=True),
    "adam_beta2": Bound(0, 1, hi_open=True),
    "adam_epsilon": Bound(0, 1, lo_open=True),
    "weight_decay": Bound(0, 1),
    "max_grad_norm": Bound(0, 1000),
    "lora_r": Bound(1, 1024),
    "lora_alpha": Bound(1, 4096),
    "lora_dropout": Bound(0, 1, hi_open=True),
    "dataloader_num_workers": Bound(0, 64),
    "early_stopping_patience": Bound(1, 1000),
    "early_stopping_threshold": Bound(0, 1),
    "evaluation_steps_interval": Bound(0, 1, why="a fraction of an epoch; 0 uses eval_steps"),
    "seed": Bound(0, 2**32 - 1),
}


def finetune_input(name: str, value: Any) -> str | None:
    """A numeric fine-tune input: finite, and inside amlgen's bound when it has one."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {clip(value)}"
    bound = FINETUNE.get(name)
    return bound.problem(value) if bound else None


REQUEST_TIMEOUT_MS = Bound(
    1, azure_limits.REQUEST_TIMEOUT_MS.value, "ms", "the managed online endpoint maximum"
)
MAX_CONCURRENT_REQUESTS = Bound(1, 1000)
INSTANCE_COUNT = Bound(
    1,
    azure_limits.INSTANCES_PER_DEPLOYMENT.value,
    why="Azure's default per-deployment limit; 3+ for availability",
)
TRAFFIC_PERCENT = Bound(0, 100, "%")
# Azure's minimum is 1 for each; the upper ends are an hour (a model that takes longer to
# load is misconfigured) and a thousand attempts.
PROBE: dict[str, Bound] = {
    "initial_delay": Bound(1, 3600, "s"),
    "period": Bound(1, 3600, "s"),
    "timeout": Bound(1, 3600, "s"),
    "failure_threshold": Bound(1, 1000),
    "success_threshold": Bound(1, 1000),
}
LIVENESS_SUCCESS_THRESHOLD = 1  # fixed by Azure for liveness probes

COMPUTE_NODES = Bound(1, 100)
COMPUTE_INSTANCES = Bound(0, 100)
GPUS_PER_NODE = Bound(1, 8, why="no Azure VM has more than 8 GPUs")
IDLE_SECONDS = Bound(0, 7 * 24 * 3600, "s")
JOB_TIMEOUT_MINUTES = Bound(1, 30 * 24 * 60, "minutes", "30 days")
SPLIT_PERCENT = Bound(0, 100, "%", lo_open=True)
SEED = Bound(0, 2**32 - 1)
# Budgets are in the price currency; above a million an hour or a job is a typo, not a budget.
BUDGET = Bound(0, 1_000_000, lo_open=True, why="an amount in budget.currency")
INFERENCE: dict[str, Bound] = {
    "temperature": Bound(0, 2),
    "top_p": Bound(0, 1),
    "max_new_tokens": Bound(1, 131_072),
}


def probe(kind: str, key: str, value: Any) -> str | None:
    """One probe setting; `kind` is liveness_probe or readiness_probe."""
    if (
        kind == "liveness_probe"
        and key == "success_threshold"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and value != LIVENESS_SUCCESS_THRESHOLD
    ):
        return f"is fixed at {LIVENESS_SUCCESS_THRESHOLD} for a liveness probe, got {clip(value)}"
    bound = PROBE.get(key)
    return bound.problem(value) if bound else None


REGION_NAME = re.compile(r"^[a-z][a-z0-9]{1,39}$")


def region_name(name: str) -> str | None:
    """An Azure region as ARM and the price list name it: `eastus2`, not `East US 2`."""
    if REGION_NAME.match(name):
        return None
    return (
        f"region {clip(name)}: the ARM name, lower-case letters and digits (e.g. eastus2, "
        "swedencentral; `az account list-locations -o table` lists them)"
    )


def scale(min_instances: Any, max_instances: Any) -> str | None:
    """A cluster's min_instances may not exceed max_instances."""
    both = isinstance(min_instances, int) and isinstance(max_instances, int)
    if both and min_instances > max_instances:
        return f"min_instances {min_instances} is greater than max_instances {max_instances}"
    return None

"""Each Azure rule lives once (generator/limits.py): params at render and the validator on any
YAML say the same thing about the same bad value."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator import limits
from generator.errors import ParamsError
from generator.params import load_params
from generator.validation import validate_paths

GOOD = Path(__file__).resolve().parent / "validate_cases" / "good"

# (params overlay, the good YAML file, old text, new text, yaml path of the finding)
SAME_RULE = [
    (
        "deployment:\n  liveness_probe: {period: 0}\n",
        "deployment.yaml",
        "  period: 10",
        "  period: 0",
        "liveness_probe.period",
    ),
    (
        "deployment:\n  instance_count: 500\n",
        "deployment.yaml",
        "instance_count: 1",
        "instance_count: 500",
        "instance_count",
    ),
    (
        "deployment:\n  request_settings: {request_timeout_ms: 200000}\n",
        "deployment.yaml",
        "request_timeout_ms: 60000",
        "request_timeout_ms: 200000",
        "request_settings.request_timeout_ms",
    ),
    (
        "deployment:\n  name: 1blue\n",
        "deployment.yaml",
        "name: blue",
        "name: 1blue",
        "name",
    ),
    (
        "finetune:\n  num_train_epochs: 100000000\n",
        "job.yaml",
        "num_train_epochs: 2",
        "num_train_epochs: 100000000",
        "jobs.chat_finetune.inputs.num_train_epochs",
    ),
    (
        "finetune:\n  learning_rate: .nan\n",
        "job.yaml",
        "learning_rate: 2.0e-05",
        "learning_rate: .nan",
        "jobs.chat_finetune.inputs.learning_rate",
    ),
    (
        "job:\n  experiment_name: my exp/../x\n",
        "job.yaml",
        "experiment_name: phi4-chat",
        "experiment_name: my exp/../x",
        "experiment_name",
    ),
]


def _core(message: str) -> str:
    """The rule's own words: what follows the field name."""
    for marker in ("finite number", "must ", "is fixed", "experiment name", "deployment name"):
        if marker in message:
            return message[message.index(marker) :]
    return message


@pytest.mark.parametrize(
    ("overlay", "file", "old", "new", "yaml_path"), SAME_RULE, ids=[c[4] for c in SAME_RULE]
)
def test_params_and_validator_share_each_rule(
    project: Path, tmp_path: Path, overlay: str, file: str, old: str, new: str, yaml_path: str
) -> None:
    (project / "params" / "dev.yaml").write_text(overlay, encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params("dev", project)
    (from_params,) = info.value.problems
    assets = tmp_path / "assets"
    shutil.copytree(GOOD, assets)
    path = assets / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    report = validate_paths([assets], project_dir=tmp_path, sdk=False)
    found = [f for f in report.findings if f.yaml_path == yaml_path and f.severity == "error"]
    assert found, [f.text() for f in report.findings]
    assert _core(found[0].message) == _core(from_params), (found[0].message, from_params)


def test_bound_messages_say_what_is_allowed() -> None:
    assert limits.FINETUNE["num_train_epochs"].problem(0) == (
        "must be at least 1 (allowed: 1..1000), got 0"
    )
    assert limits.FINETUNE["max_steps"].problem(-1) is None  # the "use epochs" sentinel
    assert "finite" in str(limits.FINETUNE["learning_rate"].problem(float("nan")))
    assert limits.FINETUNE["learning_rate"].problem(0.0) is not None  # (0, 1]: 0 excluded
    assert limits.FINETUNE["learning_rate"].problem(1.0) is None
    assert limits.probe("liveness_probe", "success_threshold", 2) is not None
    assert limits.probe("readiness_probe", "success_threshold", 2) is None


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("chat_completion_Phi-4", True),
        ("my exp/../x", False),
        ("x" * 256, True),
        ("x" * 257, False),
        ("-lead", False),
        ("a.b", False),
    ],
)
def test_experiment_names(name: str, ok: bool) -> None:
    assert (limits.experiment_name(name) is None) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ultrachat-completion-dev", True),
        ("ab", False),
        ("a" * 33, False),
        ("a--b", False),
        ("ab-", False),
        ("1ab", False),
        ("Blue", True),  # case: the renderer lower-cases, the validator flags upper case
    ],
)
def test_online_names(name: str, ok: bool) -> None:
    assert (limits.online_name(name, "endpoint") is None) is ok


def test_a_5000_character_region_is_echoed_clipped() -> None:
    # `--set budget.region=<5,000 characters>` was echoed whole
    message = limits.region_name("e" * 5000)
    assert message is not None and message.startswith("region 'eee") and len(message) < 300

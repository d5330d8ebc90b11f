"""SIGKILL at random moments during `amlgen render` and `amlgen data`, and concurrent writers.

Each kill must leave `azureml/dev/` (and the data folder) holding exactly one run's complete
files, and the next run must leave no temp or staging files behind. Half the kills are at a
random moment of the whole run, half shortly after the transaction started staging (seen by
polling), so the write window itself is hit, not only start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import atomic
from generator.params import data_fingerprint, load_params
from generator.rendering import render, render_environments

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "ultrachat_200k_sample"
SETS = ("finetune.num_train_epochs=1", "finetune.num_train_epochs=2")


def _amlgen(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "generator", "-C", str(project), *args]


def _env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("AMLGEN_EMULATOR", None)
    return env


def _files(folder: Path) -> dict[str, str]:
    """The visible files of a folder (what git and Azure ML see)."""
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


def _strays(project: Path) -> list[str]:
    found = [str(p.relative_to(project)) for p in project.rglob("*") if ".amlgen-" in p.name]
    found += [str(p) for p in atomic.journal_dir(project).glob("*.json")]
    return found


def _kill_during(
    cmd: list[str],
    watch: Path,
    pattern: str,
    rng: random.Random,
    after: tuple[float, float] = (0, 0.004),
) -> str:
    """Run `cmd` and SIGKILL it: at a random moment, or just after `pattern` shows in `watch`.
    Returns how it ended: killed, or done (it finished first)."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if rng.random() < 0.5:
        time.sleep(rng.uniform(0.05, 0.6))
    else:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if watch.is_dir() and any(pattern in name for name in os.listdir(watch)):
                time.sleep(rng.uniform(*after))
                break
            time.sleep(0.0005)
    ended = "done" if proc.poll() is not None else "killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return ended


@pytest.mark.slow
def test_sigkill_during_render_leaves_one_whole_render(project: Path) -> None:
    expected = [
        {
            rel.rsplit("/", 1)[1]: text
            for rel, text in render(load_params("dev", project, [s])).items()
        }
        for s in SETS
    ]
    assert expected[0] != expected[1]
    render_environments(["dev"], project, [SETS[0]])
    dev = project / "azureml" / "dev"
    rng = random.Random(20261203)
    outcomes = {"killed": 0, "done": 0, "mid": 0}
    for i in range(24):
        before = set(_strays(project))
        ended = _kill_during(
            _amlgen(project, "render", "--env", "dev", "--set", SETS[(i + 1) % 2]),
            project / "azureml",
            ".dev.amlgen-stage-",
            rng,
        )
        outcomes[ended] += 1
        outcomes["mid"] += bool(set(_strays(project)) - before)  # killed inside the write
        # Right after the kill, before any recovery: one render's files, all of them.
        assert _files(dev) in expected, f"try {i}: a mix of two renders"
    # The next run finishes or drops what a killed one left, and leaves nothing behind.
    done = subprocess.run(
        _amlgen(project, "render", "--env", "dev", "--set", SETS[0]),
        env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _files(dev) == expected[0]
    assert _strays(project) == []
    assert outcomes["killed"] >= 12 and outcomes["mid"] >= 1, outcomes


@pytest.mark.slow
def test_concurrent_renders_apply_one_after_the_other(project: Path) -> None:
    render_environments(["dev"], project, [SETS[0]])
    procs = [
        subprocess.Popen(
            _amlgen(project, "render", "--env", "dev", "--set", SETS[i % 2]),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    expected = [
        {r.rsplit("/", 1)[1]: t for r, t in render(load_params("dev", project, [s])).items()}
        for s in SETS
    ]
    assert _files(project / "azureml" / "dev") in expected
    assert _strays(project) == []


# --- data --------------------------------------------------------------------------------------


def _data_project(tmp_path: Path) -> Path:
    project = tmp_path / "clone"
    for name in ("params", "azureml"):
        shutil.copytree(ROOT / name, project / name)
    (project / "data").mkdir()
    return project


def _consistent_data(project: Path) -> dict[str, str]:
    """The data folder is one run's whole output: every file matches the manifest."""
    folder = project / "data" / "ultrachat_200k"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == info["sha256"], name
    return manifest["files"]


def _job_tag(project: Path) -> str | None:
    text = (project / "azureml" / "dev" / "pipeline-job.yml").read_text(encoding="utf-8")
    tags = [line.split(": ")[1] for line in text.splitlines() if "amlgen.data:" in line]
    return tags[0] if tags else None


@pytest.mark.slow
def test_sigkill_during_data_leaves_old_or_new_data_and_job(tmp_path: Path) -> None:
    project = _data_project(tmp_path)
    args = ["data", "--env", "dev", "--source", str(SAMPLE)]
    # A whole run first, timing its write (staging to exit), so kills can be spread over it.
    proc = subprocess.Popen(
        _amlgen(project, *args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    staged = None
    while proc.poll() is None:
        if staged is None and any(".amlgen-stage-" in n for n in os.listdir(project / "data")):
            staged = time.monotonic()
        time.sleep(0.001)
    window = time.monotonic() - (staged or time.monotonic())
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    rng = random.Random(7)
    for i in range(12):
        pct = ("50", "100")[i % 2]
        _kill_during(
            _amlgen(project, *args, "--split-percent", pct),
            project / "data",
            ".ultrachat_200k.amlgen-stage-",
            rng,
            after=(0.5 * window, 1.3 * window),
        )
        _consistent_data(project)  # whole right after the kill: every file as its manifest says
        atomic.recover(project)  # what the next run does first
        assert _job_tag(project) == data_fingerprint(project / "data" / "ultrachat_200k")
    again = subprocess.run(
        _amlgen(project, *args), env=_env(), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert _strays(project) == []
    check = subprocess.run(
        _amlgen(project, "render", "--all", "--check"),
        env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


@pytest.mark.slow
def test_concurrent_data_runs_do_not_clash(tmp_path: Path) -> None:
    project = _data_project(tmp_path)
    procs = [
        subprocess.Popen(
            _amlgen(project, "data", "--source", str(SAMPLE), "--split-percent", pct),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pct in ("50", "100")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    _consistent_data(project)
    assert _job_tag(project) == data_fingerprint(project / "data" / "ultrachat_200k")
    assert _strays(project) == []

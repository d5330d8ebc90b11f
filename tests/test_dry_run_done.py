"""After a completed run, `amlgen run --dry-run` says there is nothing to do, why, and how to
start over, as comments of its plan (issue #23 item 4); following that advice plans a new run.
Both paths: the pipeline job (dev) and the fine-tuning job (serverless)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _flowkit import FINETUNE_ENV, finetune_project
from click.testing import CliRunner

import generator
from generator.cli import cli
from generator.emulator import Emulator
from generator.state import read_state

pytestmark = pytest.mark.slow

CASES = [
    ("dev", "Phi-4-ultrachat-200k", "ultrachat-completion-dev"),
    (FINETUNE_ENV, "Phi-4-ultrachat-200k-serverless", "ultrachat-phi4-serverless"),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(job_seconds=0.5, deploy_seconds=0.3) as server:
        yield server


@pytest.fixture(scope="module")
def done(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project where both environments ran to the end (sdk backend)."""
    proj = finetune_project(tmp_path_factory.mktemp("done"))
    for env, _model, _endpoint in CASES:
        generator.run(
            env, project_dir=proj, backend="sdk", emulator=_connection(emu), poll_seconds=0.1
        )
    return proj


def _connection(emu: Emulator) -> str:
    """An in-process emulator records no connection file: the connection string carries its key."""
    return f"{emu.url}#secret={emu.secret}"


def _amlgen(emu: Emulator, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.delenv("AMLGEN_EMULATOR", raising=False)
    monkeypatch.delenv("AMLGEN_EMULATOR_SECRET", raising=False)
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("env", "model", "endpoint"), CASES, ids=["pipeline", "finetuning-job"])
def test_a_dry_run_after_a_completed_run_says_why_and_how_to_start_over(
    emu: Emulator,
    done: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: str,
    model: str,
    endpoint: str,
) -> None:
    job = read_state(env, done)["job"]["name"]
    args = [
        "-C",
        str(done),
        "run",
        "--env",
        env,
        "--backend",
        "sdk",
        "--emulator",
        _connection(emu),
    ]
    before = len(emu.snapshot()["requests"])
    code, out, err = _amlgen(emu, monkeypatch, *args, "--dry-run")
    assert code == 0, err
    said = [
        f"nothing to do: every step is done (job {job} Completed, model {model}:1 registered, "
        f"test request answered, endpoint {endpoint} deleted; see `amlgen status`)",
        f"to start over: set a new registered_model.version in params/{env}.yaml and "
        f"`amlgen render --env {env}` (changed params start a new run)",
    ]
    assert out.splitlines() == [f"# {line}" for line in said]  # the plan's comment lines
    # Without --dry-run: the same two lines, on stderr; stdout stays empty.
    code, out, err = _amlgen(emu, monkeypatch, *args)
    assert (code, out) == (0, "")
    assert err.splitlines() == said
    assert emu.secret not in out + err
    assert len(emu.snapshot()["requests"]) == before  # nothing was sent


def test_following_the_advice_plans_a_new_run(emu: Emulator, done: Path) -> None:
    overlay = done / "params" / "dev.yaml"
    original = overlay.read_text()
    try:
        overlay.write_text(original + "registered_model:\n  version: '2'\n")
        generator.render_project("dev", project_dir=done)
        plan = generator.run(
            "dev", project_dir=done, backend="sdk", emulator=_connection(emu), dry_run=True
        ).plan
    finally:
        overlay.write_text(original)
        generator.render_project("dev", project_dir=done)
    assert not any(line.startswith("# nothing to do") for line in plan)
    assert any("jobs.create_or_update" in line for line in plan), plan

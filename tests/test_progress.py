"""Progress a person can trust, and exit codes by convention: every long wait shows the elapsed
time and the state (plain lines in CI, one updating line on a terminal); 0 ok, 1 error,
2 usage error (130 and 143 for signals: tests/test_workflow.py)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import child_env, make_project

from generator.progress import elapsed, heartbeat, heartbeat_seconds

AMLGEN = [sys.executable, "-m", "generator"]
BEAT = re.compile(r"^\[\d+:\d\d:\d\d\] (job \S+: \w+|deployment \S+: creating)$")


def test_heartbeat_reports_elapsed_time_and_state_while_a_call_blocks() -> None:
    lines: list[str] = []
    state = ["Queued"]
    with heartbeat(lambda: f"job j: {state[0]}", lines.append, 0.05):
        time.sleep(0.3)
        state[0] = "Running"
        time.sleep(0.3)
    assert len(lines) >= 4
    assert all(re.fullmatch(r"\[0:00:0\d\] job j: (Queued|Running)", line) for line in lines)
    assert lines[0].endswith("Queued") and lines[-1].endswith("Running")
    count = len(lines)
    time.sleep(0.2)
    assert len(lines) == count  # the thread stops with the block


def test_heartbeat_interval_never_exceeds_thirty_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLGEN_HEARTBEAT_SECONDS", "600")
    assert heartbeat_seconds() == 30
    monkeypatch.setenv("AMLGEN_HEARTBEAT_SECONDS", "junk")
    assert heartbeat_seconds() == 30
    assert heartbeat_seconds(2.5) == 2.5
    assert elapsed(3725) == "1:02:05"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Any]:
    emulator = pytest.importorskip("generator.emulator")
    with emulator.Emulator(job_seconds=2.0, deploy_seconds=2.0) as server:
        yield server


def _env(emu: Any, **extra: str) -> dict[str, str]:
    env = child_env()
    env.update(
        AMLGEN_EMULATOR=emu.url,
        AMLGEN_EMULATOR_SECRET=emu.secret,
        AMLGEN_POLL_SECONDS="0.2",
        AMLGEN_HEARTBEAT_SECONDS="0.3",
        **extra,
    )
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        env.pop(name, None)
    return env


@pytest.mark.slow
def test_in_ci_long_waits_print_plain_progress_lines(emu: Any, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    proc = subprocess.run(
        [*AMLGEN, "-C", str(proj), "run", "--backend", "sdk"],
        capture_output=True,
        text=True,
        env=_env(emu, CI="true"),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    beats = [line for line in lines if BEAT.match(line)]
    assert any(" job " in b or b.split("] ")[1].startswith("job ") for b in beats), lines
    assert any("deployment " in b for b in beats), lines
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr  # no terminal codes in logs
    assert proc.stdout.strip()  # stdout carries the response only
    assert "Repo card" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_on_a_terminal_progress_is_one_updating_line(emu: Any, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    env = _env(emu)
    env.pop("CI", None)
    env.pop("GITHUB_ACTIONS", None)
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = subprocess.run(
        [*AMLGEN, "-C", str(proj), "run", "--backend", "sdk"],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        env=env,
        timeout=180,
    )
    os.close(slave)
    reader.join(timeout=5)
    os.close(master)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, shown
    # Status lines overwrite each other in place; the steps' own lines stay.
    assert re.search(r"\r\x1b\[K\[0:00:\d\d\] (job|deployment) \S+", shown), shown
    assert "deleted endpoint" in shown


@pytest.mark.slow
def test_status_wait_without_a_recorded_job_is_an_error(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    env = child_env()
    env["AMLGEN_EMULATOR"] = "http://127.0.0.1:9"  # never contacted: nothing to wait for
    env["AMLGEN_EMULATOR_SECRET"] = "x" * 32
    waited = subprocess.run(
        [*AMLGEN, "-C", str(proj), "status", "--wait"], capture_output=True, text=True, env=env
    )
    assert waited.returncode == 1
    assert waited.stderr.startswith("error: no job recorded to wait for"), waited.stderr
    plain = subprocess.run(
        [*AMLGEN, "-C", str(proj), "status"], capture_output=True, text=True, env=env
    )
    assert plain.returncode == 0 and "no job recorded" in plain.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["render", "--bogus"],
        ["run", "--backend", "nope"],
        ["render", "--all", "--env", "prod"],
        ["status", "--timeout", "0"],
    ],
    ids=["unknown-option", "bad-choice", "conflicting", "zero-timeout"],
)
def test_usage_errors_exit_2_in_one_message(tmp_path: Path, argv: list[str]) -> None:
    proc = subprocess.run([*AMLGEN, *argv], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Error:" in proc.stderr

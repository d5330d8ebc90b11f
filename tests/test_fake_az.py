"""The stand-in `az` through its fork server (tests/fake_az/forkserver.py) is the same program as
a fresh interpreter running it: same output and exit codes; a signal to the `az` process
reaches the call; an `az` that is killed takes its call with it; the server ends with the
test process that started it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _flowkit import FAKE_AZ, az_fork_socket, az_on_path, make_project

from generator.emulator import Emulator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="the fork server needs Linux"),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(job_seconds=120.0) as server:
        yield server


def _env(emu: Emulator) -> dict[str, str]:
    return {**os.environ, "AMLGEN_EMULATOR": emu.url, "AMLGEN_EMULATOR_SECRET": emu.secret}


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _calls_running() -> list[int]:
    """The workers running calls now: the server's children are supervisors, theirs workers."""
    from _flowkit import _fork_server

    server = _fork_server["proc"].pid
    return [w for s in _children(server) for w in _children(s)]


@pytest.mark.parametrize(
    "argv",
    [
        ["ml", "model", "show", "-n", "Phi-4", "-v", "8", "--registry-name", "azureml"],
        ["ml", "model", "show", "-n", "no-such-model", "-v", "1", "--registry-name", "azureml"],
        ["ml", "compute", "show", "-n", "nope", "-o", "tsv", "--query", "name"],
        ["ml"],  # a usage error: argparse's message and exit 2
    ],
    ids=["found", "not-found", "tsv-not-found", "usage"],
)
def test_forked_and_fresh_az_give_the_same_output_and_exit_code(
    emu: Emulator, tmp_path: Path, argv: list[str]
) -> None:
    forked = subprocess.run(
        [str(az_on_path(tmp_path) / "az"), *argv],
        env=_env(emu),
        capture_output=True,
        text=True,
        timeout=120,
    )
    fresh = subprocess.run(
        [sys.executable, str(FAKE_AZ), *argv],
        env=_env(emu),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert az_fork_socket() is not None
    assert (forked.returncode, _timeless(forked.stdout), forked.stderr) == (
        fresh.returncode,
        _timeless(fresh.stdout),
        fresh.stderr,
    )
    assert forked.stdout.strip() or forked.returncode != 0


def _timeless(stdout: str) -> str:
    """The output without the registry's read time (the emulator stamps registry assets now)."""
    return re.sub(r'"(created_at|last_modified_at)": "[^"]*"', r'"\1": "<time>"', stdout)


def _streaming_job(emu: Emulator, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """`az ml job stream` on a job that runs for two minutes: a call that keeps polling."""
    proj = make_project(tmp_path / "p")
    az = str(az_on_path(tmp_path) / "az")
    create = ["ml", "job", "create", "-f", "azureml/dev/pipeline-job.yml", "--query", "name"]
    job = subprocess.run(
        [az, *create, "-o", "tsv"],
        cwd=proj,
        env=_env(emu),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.strip()
    proc = subprocess.Popen(
        [az, "ml", "job", "stream", "-n", job],
        cwd=proj,
        env=_env(emu),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the worker is polling once it has printed a status
    assert f"RunId: {job}" in first, first
    return proc, job


def test_a_signal_to_az_reaches_the_call(emu: Emulator, tmp_path: Path) -> None:
    proc, _job = _streaming_job(emu, tmp_path)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    # As a fresh interpreter: KeyboardInterrupt's traceback, then death by SIGINT.
    assert proc.returncode == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err
    assert _calls_running() == []


def test_a_killed_az_takes_its_call_with_it(emu: Emulator, tmp_path: Path) -> None:
    proc, _job = _streaming_job(emu, tmp_path)
    assert len(_calls_running()) == 1
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while _calls_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _calls_running() == []


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


STARTER = """
import os, sys, time
sys.path.insert(0, "tests")
import _flowkit

path = _flowkit.az_fork_socket()
server = _flowkit._fork_server["proc"]
deadline = time.monotonic() + 120
while not os.path.exists(path) and server.poll() is None and time.monotonic() < deadline:
    time.sleep(0.05)
print(server.pid, os.path.exists(path), flush=True)
os._exit(0)  # no atexit: the server must notice on its own
"""


def test_the_server_starts_whatever_cloud_the_test_process_used_and_ends_with_it() -> None:
    """A test process that talked to an emulator in-process carries AZUREML_CURRENT_CLOUD,
    which the SDK reads as it is imported; the server imports it as `az` would, without it."""
    env = {**os.environ, "AZUREML_CURRENT_CLOUD": "AmlgenEmulator-127-0-0-1-1"}
    root = FAKE_AZ.parent.parent.parent
    out = subprocess.run(
        [sys.executable, "-c", STARTER], cwd=root, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    pid, ready = out.stdout.split()
    assert ready == "True", out.stderr
    deadline = time.monotonic() + 60
    while _state(int(pid)) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _state(int(pid)) in (None, "Z")  # gone, or a zombie waiting for init to reap it


def test_a_dead_server_is_one_error_line_at_once(tmp_path: Path) -> None:
    (tmp_path / "pid").write_text("999999999")  # no such process, and no socket
    client = FAKE_AZ.parent / "client.py"
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(client), str(tmp_path / "s"), "ml", "job", "show"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.startswith("ERROR: the stand-in az's fork server at")
    assert "server.log" in out.stderr and out.stderr.count("\n") == 1

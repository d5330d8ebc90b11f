"""One run per environment (issue #20, principle 5) and exit codes that tell the truth
(principle 6), with real amlgen processes against the local emulator.

Two `amlgen run --env dev` at once: the second refuses in one line naming the first, which
submits the only job and tears down its own endpoint; read-only commands are not blocked; the
kernel releases the lock of a killed holder, so nothing needs deleting by hand. A signal during
the final teardown ends the run 130/143 once the endpoint is gone."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import az_on_path, child_env, make_project, point_flow_at

from generator import envlock, names
from generator.errors import EnvironmentBusy
from generator.state import State

emulator_mod = pytest.importorskip("generator.emulator")
ENDPOINT = "ultrachat-completion-dev"


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # poll_seconds=2: the SDK waits that long between polls of a deletion, a window for signals
    with emulator_mod.Emulator(job_seconds=6.0, deploy_seconds=0.5, poll_seconds=2) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        yield server


class Amlgen:
    """An amlgen process whose stderr lines are collected as they come."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "generator", "-C", str(project), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env or child_env(),
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 200) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, line) for line in self.lines):
                return
            if self.proc.poll() is not None:
                self._reader.join(5)
                if any(re.search(pattern, line) for line in self.lines):
                    return
                pytest.fail(f"ended before {pattern!r}: {self.lines}")
            time.sleep(0.02)
        self.proc.kill()
        pytest.fail(f"no {pattern!r} within {timeout} s: {self.lines}")

    def finish(self, timeout: float = 180) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(project), *args],
        capture_output=True, text=True, timeout=180, env=child_env(),
    )  # fmt: skip


def _jobs(emu: Any) -> int:
    return sum(
        1 for method, path, _ in emu.snapshot()["requests"] if method == "PUT" and "/jobs/" in path
    )


@pytest.mark.slow
def test_a_second_run_on_the_environment_refuses_naming_the_first(emu: Any, tmp_path: Path) -> None:
    import generator

    proj = make_project(tmp_path / "p")
    first = Amlgen(proj, "run", "--backend", "sdk")
    first.wait_for(r"submitted job")
    second = _run(proj, "run", "--backend", "sdk")  # a real second process
    assert second.returncode == 1, second.stderr
    (line,) = second.stderr.splitlines()
    assert line.startswith("error: environment dev is in use by `amlgen run --env dev` "), line
    assert f"(pid {first.proc.pid} on " in line and "Traceback" not in line
    for command in ("deploy", "teardown", "submit", "register", "invoke", "run"):
        with pytest.raises(EnvironmentBusy, match=f"pid {first.proc.pid} on "):
            getattr(generator, command)(project_dir=proj, backend="sdk")
    # Read-only commands are not blocked (and dry runs change nothing, so hold nothing).
    assert generator.status(project_dir=proj, backend="sdk").job_status
    assert generator.run(project_dir=proj, dry_run=True).plan
    assert generator.render_project("dev", project_dir=proj, check=True).clean
    assert not generator.validate_paths(["azureml/dev"], proj, sdk=False).failed()
    assert first.finish() == 0, first.lines
    assert _jobs(emu) == 1 and emu.snapshot()["endpoints"] == {}
    state = json.loads((proj / ".amlgen" / "dev" / "state.json").read_text())
    assert state["endpoint"]["status"] == "deleted" and state["invoke"]
    again = _run(proj, "run", "--backend", "sdk")  # free again once the holder has ended
    assert again.returncode == 0 and "nothing to do" in again.stderr


@pytest.mark.slow
def test_a_killed_holder_leaves_no_lock_behind(emu: Any, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    emu.api.deploy_seconds = 60.0
    first = Amlgen(proj, "run", "--backend", "sdk")
    first.wait_for(r"creating deployment")
    first.proc.send_signal(signal.SIGKILL)  # no cleanup of its own at all
    first.finish()
    assert ENDPOINT in emu.snapshot()["endpoints"]
    down = _run(proj, "teardown", "--backend", "sdk")  # nobody holds the environment now
    assert down.returncode == 0, down.stderr
    assert emu.snapshot()["endpoints"] == {}


def test_the_lock_itself(tmp_path: Path) -> None:
    (tmp_path / "params").mkdir()
    with envlock.hold(tmp_path, "dev", "amlgen run --env dev"):
        busy = pytest.raises(EnvironmentBusy, match=r"in use by `amlgen run --env dev` \(pid ")
        with busy, envlock.hold(tmp_path, "dev", "amlgen deploy --env dev"):
            pass  # a second open file description conflicts even in one process
        with envlock.hold(tmp_path, "prod", "amlgen run --env prod"):
            pass  # another environment is another lock
        with envlock.if_free(tmp_path, "dev", "amlgen status") as free:
            assert free is False
        state = State.of(tmp_path, "dev")
        state.if_free = lambda: envlock.if_free(tmp_path, "dev", "amlgen status --env dev")
        state.update("job", name="j", status="Running")  # a reader records nothing meanwhile
        assert not (tmp_path / names.STATE_DIR / "dev" / names.STATE_FILE).exists()
    state.update("job", name="j", status="Running")
    assert State.of(tmp_path, "dev").section("job") == {"name": "j", "status": "Running"}
    with envlock.hold(tmp_path, "dev", "amlgen run --env dev"):
        pass  # released on exit: taken again at once


# --- exit codes ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "backend", "signum", "code"),
    [
        ("run", "sdk", signal.SIGTERM, 143),
        ("run", "sdk", signal.SIGINT, 130),
        ("teardown", "cli", signal.SIGTERM, 143),
    ],
    ids=["run-SIGTERM", "run-SIGINT", "teardown-cli-SIGTERM-to-the-group"],
)
def test_a_signal_during_the_final_teardown_still_ends_130_or_143(
    emu: Any, tmp_path: Path, command: str, backend: str, signum: int, code: int
) -> None:
    import generator

    proj = make_project(tmp_path / "p")
    env = child_env()
    env["PATH"] = f"{az_on_path(tmp_path)}{os.pathsep}{env['PATH']}"
    emu.api.job_seconds = 0.5
    if command == "teardown":  # the endpoint up (in process, fast), then `az` deletes it
        generator.run(project_dir=proj, backend="sdk", keep_endpoint=True)
    run = Amlgen(proj, command, "--backend", backend, env=env)
    run.wait_for(r"deleting endpoint .* \((the run is done|teardown)", timeout=240)
    if backend == "cli":
        os.killpg(run.proc.pid, signum)  # as CI cancels: the running `az` gets it too
    else:
        run.proc.send_signal(signum)
    assert run.finish() == code, run.lines
    assert emu.snapshot()["endpoints"] == {}  # the teardown completed first
    assert not any("Traceback" in line for line in run.lines)
    assert any("interrupted" in line for line in run.lines), run.lines
    state = json.loads((proj / ".amlgen" / "dev" / "state.json").read_text())
    assert state["endpoint"]["status"] == "deleted"

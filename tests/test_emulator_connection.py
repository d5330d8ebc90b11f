"""The emulator in one step (issue #23 item 2): `amlgen-emulator` records its URL and key in a
file only its user can read, so the URL alone connects every command, from another shell and
from Python; without `az`, commands that were not told a backend use the sdk one against it,
saying so in one note. The key is never printed and never leaves loopback."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _flowkit import child_env, make_project

import generator
from generator.backends import EMULATOR_SDK_NOTE
from generator.errors import WorkflowError
from generator.workspace import (
    connection_dir,
    emulator_connection,
    forget_connection,
    record_connection,
    resolve_workspace,
)
from generator.workspace.connection import connection_file

URL = "http://127.0.0.1:41234/"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user of our own: HOME in tmp, no runtime folder, no emulator variables."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("XDG_RUNTIME_DIR", "AMLGEN_EMULATOR", "AMLGEN_EMULATOR_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


# --- the connection file ------------------------------------------------------------------------


def test_the_record_is_private_and_the_url_finds_the_key(home: Path) -> None:
    path = record_connection(URL, "k" * 43)
    assert path.parent == home / ".cache" / "amlgen"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert emulator_connection(URL) == (URL, "k" * 43)
    # Every loopback name of the same port is the same emulator; the slash is optional.
    assert emulator_connection("http://localhost:41234") == ("http://localhost:41234/", "k" * 43)
    ws = resolve_workspace(home, emulator=URL)
    assert ws.emulator_secret == "k" * 43 and ws.describe() == f"emulator at {URL}"
    forget_connection(path)
    assert not path.exists()


def test_the_runtime_folder_is_preferred(home: Path, tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    assert connection_dir({"XDG_RUNTIME_DIR": str(runtime)}) == runtime / "amlgen"
    assert connection_dir({"HOME": str(home)}) == home / ".cache" / "amlgen"


def test_a_record_left_by_a_killed_emulator_is_not_used(home: Path) -> None:
    path = record_connection(URL, "stale-key")
    record = json.loads(path.read_text())
    no_such_pid = 2**22 + 1  # above Linux's highest pid_max: never a live process
    path.write_text(json.dumps({**record, "pid": no_such_pid}))
    with pytest.raises(WorkflowError, match=r"no key: none is recorded for it in .*amlgen"):
        emulator_connection(URL)


def test_a_record_others_may_read_is_refused(home: Path) -> None:
    path = record_connection(URL, "k" * 43)
    path.chmod(0o644)
    with pytest.raises(WorkflowError, match=r"readable or writable by others \(mode 644\)"):
        emulator_connection(URL)


def test_forget_leaves_a_newer_emulators_record(home: Path) -> None:
    path = record_connection(URL, "k" * 43)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "pid": 1}))  # another (live) process wrote it since
    path.chmod(0o600)
    forget_connection(path)
    assert path.exists()


def test_the_record_beats_a_variable_left_from_an_earlier_emulator(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_connection(URL, "current")
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", "from-an-earlier-emulator")
    assert emulator_connection(URL) == (URL, "current")
    monkeypatch.setenv("AMLGEN_EMULATOR", URL)
    assert emulator_connection() == (URL, "current")


def test_a_connection_string_carries_the_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert emulator_connection(f"{URL}#secret=abc") == (URL, "abc")
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", "other")
    assert emulator_connection(f"{URL}#secret=abc") == (URL, "abc")
    assert emulator_connection(URL) == (URL, "other")  # no record: the variable


def test_no_key_anywhere_is_one_line_naming_where_it_looked(home: Path) -> None:
    with pytest.raises(WorkflowError) as err:
        emulator_connection(URL)
    text = str(err.value)
    assert "\n" not in text and str(home / ".cache" / "amlgen") in text
    assert "AMLGEN_EMULATOR_SECRET" in text


# --- hostile values and records (one line each, never a hang, a traceback or a stray write) ------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("http://127.0.0.1:41234/" + "a" * 100_000, "longer than 2,048 characters"),
        ("http://10.0.0.1/" + "a" * 2_000, "only a loopback address"),
        ("http://127.0.0.1:41234/\x1b[31m", "control characters"),
        ("http://127.0.0.1/", "no port"),
        ("http://127.0.0.1:0/", "no port"),
        (f"{URL}#secret=", "the key is empty"),
        (f"{URL}#secret=a\nb", "not a key"),
    ],
)
def test_an_odd_emulator_value_is_one_short_line(home: Path, value: str, says: str) -> None:
    with pytest.raises(WorkflowError) as err:
        emulator_connection(value)
    text = str(err.value)
    assert says in text and "\n" not in text and len(text) < 400, text


def test_a_fifo_huge_or_symlinked_record_is_refused_not_read(home: Path, tmp_path: Path) -> None:
    path = record_connection(URL, "k" * 43)
    path.unlink()
    os.mkfifo(path, 0o600)  # reading it would block forever
    with pytest.raises(WorkflowError, match="not a regular file"):
        emulator_connection(URL)
    path.unlink()
    path.write_bytes(b" " * (2 * 1024 * 1024))
    path.chmod(0o600)
    with pytest.raises(WorkflowError, match="larger than"):
        emulator_connection(URL)
    path.unlink()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    elsewhere.chmod(0o600)
    path.symlink_to(elsewhere)
    with pytest.raises(WorkflowError, match="not a regular file"):
        emulator_connection(URL)


def test_forget_does_not_hang_on_a_fifo_put_in_place_of_the_record(home: Path) -> None:
    path = record_connection(URL, "k" * 43)
    path.unlink()
    os.mkfifo(path, 0o600)  # reading it blocked the emulator's stop forever
    forget_connection(path)
    assert stat.S_ISFIFO(path.lstat().st_mode)  # not ours: left as it is


def test_an_empty_home_does_not_put_the_key_in_the_root_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "")
    assert connection_dir().is_absolute() and connection_dir() != Path("/.cache/amlgen")
    assert connection_dir({"HOME": "rel"}) != Path("rel/.cache/amlgen")


def test_an_unusable_home_or_a_symlinked_folder_is_one_line(home: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="cannot record the emulator's key there"):
        record_connection(URL, "k", {"HOME": "/dev/null/x"})
    other = tmp_path / "other"
    other.mkdir(mode=0o755)
    (home / ".cache").mkdir(parents=True)
    (home / ".cache" / "amlgen").symlink_to(other)
    with pytest.raises(WorkflowError, match="a symlink, not a folder"):
        record_connection(URL, "k")
    assert stat.S_IMODE(other.stat().st_mode) == 0o755 and not list(other.iterdir())


def test_the_key_of_a_connection_string_off_loopback_is_neither_used_nor_shown(
    home: Path,
) -> None:
    with pytest.raises(WorkflowError) as err:
        emulator_connection("http://10.0.0.8:41234/#secret=do-not-show")
    assert "only a loopback address" in str(err.value)
    assert "do-not-show" not in str(err.value)


# --- end to end: `amlgen-emulator`, then another shell and Python with the URL alone ------------


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`amlgen-emulator` as a user starts it; yields its URL and that user's environment
    without az on PATH (only python) and without any emulator variable."""
    env = child_env()
    env["HOME"] = str(tmp_path / "home")
    bare = tmp_path / "bin"
    bare.mkdir()
    env["PATH"] = str(bare)  # no az
    for name in ("XDG_RUNTIME_DIR", "AMLGEN_EMULATOR", "AMLGEN_EMULATOR_SECRET", "AMLGEN_AZ"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.emulator", "--job-seconds", "0.5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    url = lines[2].strip().removeprefix("export AMLGEN_EMULATOR=")
    env["AMLGEN_POLL_SECONDS"] = "0.1"
    secret = json.loads(connection_file(url, env).read_text())["secret"]
    try:
        yield url, env
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("amlgen-emulator did not stop on Ctrl-C within 90 s")
        assert not connection_file(url, env).exists()  # removed on stop
        assert proc.returncode == 0, err
        assert "".join(lines).startswith(f"amlgen emulator listening on {url}")
        assert secret not in "".join(lines) + out + err  # never printed


@pytest.mark.slow
def test_the_url_alone_runs_and_plans_from_another_shell_and_from_python(
    running: tuple[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, env = running
    record = connection_file(url, env)
    assert record.parent == Path(env["HOME"]) / ".cache" / "amlgen"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    secret = json.loads(record.read_text())["secret"]
    proj = make_project(tmp_path / "p")
    shell = {**env, "AMLGEN_EMULATOR": url}

    def amlgen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "generator", "-C", str(proj), *args],
            env=shell, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    # What `make demo` shows first: the cli backend's plan, its live reads made through the SDK
    # (no az here), and no line that reads as a failure.
    dry = amlgen("run", "--env", "dev", "--backend", "cli", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stderr.startswith("amlgen plan: env dev, backend cli\n")
    assert "cannot" not in dry.stderr and "not found" not in dry.stderr
    assert "Plan: 5 to create, 0 to update, 0 unchanged." in dry.stderr
    assert "az ml job create -f azureml/dev/pipeline-job.yml" in dry.stdout
    run = amlgen("run", "--env", "dev")
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines()[0] == EMULATOR_SDK_NOTE  # said once, first
    assert run.stderr.count(EMULATOR_SDK_NOTE) == 1
    assert "not a model" in run.stdout and "deleted endpoint" in run.stderr
    plan = amlgen("plan", "--env", "dev")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.startswith("amlgen plan: env dev, backend sdk")
    assert plan.stderr == EMULATOR_SDK_NOTE + "\n"
    # Asked for the cli backend without az: one line saying what to do.
    cli = amlgen("plan", "--env", "dev", "--backend", "cli")
    assert cli.returncode == 1 and cli.stderr.count("\n") == 1
    assert "`az` not found on PATH" in cli.stderr and "--backend sdk" in cli.stderr
    for result in (dry, run, plan, cli):
        assert secret not in result.stdout + result.stderr

    # Python, the same one value.
    monkeypatch.setenv("HOME", env["HOME"])
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("AMLGEN_EMULATOR_SECRET", raising=False)
    notes: list[str] = []
    result = generator.plan("dev", project_dir=proj, emulator=url, backend="sdk", log=notes.append)
    assert result.to_dict()["backend"] == "sdk" and notes == []
    outcome = generator.run("dev", project_dir=proj, emulator=url, backend="sdk", dry_run=True)
    assert outcome.message and outcome.message.startswith("nothing to do")


@pytest.mark.slow
def test_ctrl_c_stops_it_even_when_started_with_sigint_ignored(tmp_path: Path) -> None:
    """A script's `amlgen-emulator &` (or a parent ignoring SIGINT) starts it with SIGINT
    ignored; Ctrl-C (SIGINT) must still stop it and remove its connection file."""
    env = {**child_env(), "HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("XDG_RUNTIME_DIR", None)
    ignoring = (  # an ignored signal stays ignored across exec, as a shell's `&` leaves it
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "os.execv(sys.executable, [sys.executable, '-m', 'generator.emulator'])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", ignoring],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    url = lines[2].strip().removeprefix("export AMLGEN_EMULATOR=")
    assert connection_file(url, env).exists()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("SIGINT did not stop an emulator started with SIGINT ignored")
    assert proc.returncode == 0, err
    assert "stopping" in out and not connection_file(url, env).exists()


# --- a real `az` next to the emulator never reaches a real workspace ---------------------------

REAL_LOOKING_AZ = """#!/bin/sh
# Stands for the real Azure CLI: it cannot reach the emulator; it records what it was given.
{{ echo "config=$AZURE_CONFIG_DIR"; ls -A "${{AZURE_CONFIG_DIR:-$HOME/.azure}}"; }} >> "{log}"
echo "ERROR: Please run 'az login' to setup account." >&2
exit 1
"""


@pytest.mark.slow
def test_a_real_az_on_path_is_not_used_against_the_emulator_and_is_signed_out_if_asked(
    tmp_path: Path,
) -> None:
    from generator.emulator import Emulator

    env = child_env()
    home = tmp_path / "home"
    (home / ".azure").mkdir(parents=True)
    (home / ".azure" / "azureProfile.json").write_text("{}")  # a signed-in user's defaults
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "az.log"
    az = bin_dir / "az"
    az.write_text(REAL_LOOKING_AZ.format(log=log))
    az.chmod(0o755)
    env.update(HOME=str(home), PATH=f"{bin_dir}:{env['PATH']}")
    for name in ("AMLGEN_AZ", "AZURE_CONFIG_DIR", "XDG_RUNTIME_DIR", "AMLGEN_EMULATOR_SECRET"):
        env.pop(name, None)
    proj = make_project(tmp_path / "p")
    with Emulator(job_seconds=0.5) as emu:
        env["AMLGEN_EMULATOR"] = f"{emu.url}#secret={emu.secret}"

        def amlgen(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "generator", "-C", str(proj), *args],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip

        plan = amlgen("plan", "--env", "dev")  # not told a backend: the one that reaches it
        assert plan.returncode == 0, plan.stderr
        assert plan.stdout.startswith("amlgen plan: env dev, backend sdk")
        assert plan.stderr == EMULATOR_SDK_NOTE + "\n"
        assert not log.exists()  # az was never run
        # Asked for the cli backend: az runs signed out, with no defaults, and says what to do.
        cli = amlgen("plan", "--env", "dev", "--backend", "cli")
        assert cli.returncode == 1 and cli.stderr.count("\n") == 1, cli.stderr
        assert "use --backend sdk" in cli.stderr
    seen = log.read_text().splitlines()
    configs = {line for line in seen if line.startswith("config=")}
    assert len(configs) == 1 and configs != {f"config={home / '.azure'}"}, seen
    assert [line for line in seen if not line.startswith("config=")] == []  # empty: no sign-in

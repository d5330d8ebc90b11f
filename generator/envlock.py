"""One run per environment: the lock every command that changes an environment takes.

Two `amlgen run --env dev` at once would submit two jobs and, at deploy time, one run's teardown
would delete the other's endpoint. So `run`, `submit`, `register`, `deploy`, `invoke` and
`teardown` hold an exclusive `flock` on `.amlgen/<env>/run.lock` for as long as they act; a
second one refuses at once in one line naming the holder (command, pid, host, start time, read
from the lock file, which the holder writes after taking the lock). The kernel releases a flock
when its process ends, however it ends (SIGKILL included): a lock is never stale, and nothing
needs deleting by hand. Read-only commands (plan, status, validate, render, dry runs) never
wait for it; `status` records what it saw only while the environment is free.

Where `fcntl` does not exist (Windows), environments are not locked: one run at a time is then
the user's care (docs/reliability.md says so).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from . import names, reading
from .errors import EnvironmentBusy
from .state import state_dir

MAX_HOLDER_BYTES = 4096
T = TypeVar("T")


def _open(project_dir: Path | str, env: str) -> int:
    folder = state_dir(project_dir, env)
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    return os.open(folder / names.ENV_LOCK_FILE, flags, 0o644)


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it (it may not have written it yet)."""
    try:
        info = json.loads(os.pread(fd, MAX_HOLDER_BYTES, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info.get("pid"):
        return "another amlgen process"
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info.get("since", 0))))
    command = reading.clip(str(info.get("command", "amlgen")), 80).strip("'")
    host = reading.clip(str(info.get("host", "?")), 80).strip("'")
    return f"`{command}` (pid {info['pid']} on {host}, since {since})"


def _record(fd: int, command: str) -> None:
    info = {
        "command": command,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": round(time.time(), 3),
        "argv": " ".join(sys.argv[1:])[:500],
    }
    data = json.dumps(info).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


@contextlib.contextmanager
def hold(project_dir: Path | str, env: str, command: str) -> Iterator[None]:
    """Hold environment `env` for `command` (e.g. "amlgen run --env dev") until the block ends,
    or raise EnvironmentBusy naming the holder."""
    if sys.platform == "win32":  # pragma: no cover
        yield
        return
    fd = _open(project_dir, env)
    try:
        if not _try_lock(fd):
            raise EnvironmentBusy(
                f"environment {env} is in use by {_holder(fd)}: one run per environment; wait "
                "for it to end (or stop it: it tears down what it created), then run again"
            )
        _record(fd, command)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # while still held: the next holder writes its own
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def if_free(project_dir: Path | str, env: str, command: str) -> Iterator[bool]:
    """Hold the environment for a moment if nobody does (True), else do not wait (False): how a
    read-only command records what it saw without racing a run's own records."""
    if sys.platform == "win32":  # pragma: no cover
        yield True
        return
    try:
        fd = _open(project_dir, env)
    except OSError:
        yield False  # cannot even open it (a read-only checkout): record nothing
        return
    try:
        got = _try_lock(fd)
        if got:
            _record(fd, command)
        yield got
        if got:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def exclusive(verb: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """For a flow command (a method of an object with `project_dir`, `opts.env`,
    `opts.dry_run` and `state`): hold the environment while it runs, reading the state again
    once held (another run may have changed it). Dry runs change nothing and hold nothing."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def held(flow: Any, *args: Any, **kwargs: Any) -> T:
            if flow.opts.dry_run:
                return method(flow, *args, **kwargs)
            with hold(flow.project_dir, flow.opts.env, f"amlgen {verb} --env {flow.opts.env}"):
                flow.state.reload()
                return method(flow, *args, **kwargs)

        return held

    return wrap

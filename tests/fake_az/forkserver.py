"""A fork server for the stand-in `az`: the SDK is imported once per test session, then every
`az` call is a fork that runs the unchanged `tests/fake_az/az` script.

Each stand-in `az` call used to be a fresh Python importing azure.ai.ml (about 2 s on two
cores), and a cli-backend flow makes dozens of them. Here the `az` on a test's PATH is
`client.py`: it sends its argv, environment, working directory and its stdin/stdout/stderr
file descriptors (SCM_RIGHTS) over a Unix socket to this server, which forks a supervisor per
call; the supervisor forks the worker that runs the script with those descriptors as its own
0/1/2, so amlgen reads the script's output from its own pipes exactly as before.

Invariants:
- The server itself never runs a call: every worker starts from the same pristine state
  (imported modules, no client, no custom cloud, no threads), forked from a single thread.
- The client's signals are forwarded to the worker; a client that goes away (SIGKILL, a
  subprocess timeout) kills its worker; the worker's exit status is the client's (a worker
  killed by a signal makes the client die by the same signal).
- No descriptor of a call stays open in the server or the supervisor, so the caller's pipes
  reach EOF when the worker exits.
- The server exits when its parent, the test process, is gone.

Usage: python forkserver.py SOCKET_PATH PARENT_PID (tests/_flowkit.py starts it).
"""

from __future__ import annotations

import atexit
import contextlib
import marshal
import os
import runpy
import selectors
import signal
import socket
import struct
import sys
import threading
import traceback

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "az")
HEADER = struct.Struct("!I")
STATUS = struct.Struct("!i")
MAX_REQUEST = 8 << 20
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)

# What a call imports beyond the script's own first lines: loaded once here, shared by every fork.
WARM = (
    "argparse",
    "jwt",
    "azure.core.exceptions",
    "azure.core.pipeline.policies",
    "azure.ai.ml",
    "azure.ai.ml.entities",
    "azure.ai.ml.operations",
    "azure.ai.ml.entities._load_functions",
    "azure.ai.ml.entities._job.pipeline._load_component",
    "azure.ai.ml.dsl._component_func",
    "azure.core.rest._requests_basic",
    "netrc",
    "generator.workspace",
)


def warm() -> None:
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in WARM:
            importlib.import_module(name)
    if threading.active_count() != 1:  # forking a threaded process is not safe
        raise SystemExit(f"fork server: {threading.active_count()} threads after import")


def recv_request(conn: socket.socket) -> tuple[list[str], dict[bytes, bytes], bytes, list[int]]:
    """(argv, environment, cwd, [stdin, stdout, stderr]) from one client."""
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if len(fds) != 3 or len(data) < HEADER.size:
        for fd in fds:
            os.close(fd)
        raise ValueError("malformed request")
    (size,) = HEADER.unpack_from(data)
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    body = bytearray(data[HEADER.size :])
    while len(body) < size:
        chunk = conn.recv(min(65536, size - len(body)))
        if not chunk:
            raise ValueError("client went away")
        body += chunk
    argv, env, cwd = marshal.loads(bytes(body))
    return argv, env, cwd, fds


def run_worker(argv: list[str], env: dict[bytes, bytes], cwd: bytes, fds: list[int]) -> None:
    """In the forked worker: become the `az` process the client stands for, run the script,
    exit with its code. Never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.chdir(cwd)
        os.environ.clear()
        for key, value in env.items():
            os.environ[os.fsdecode(key)] = os.fsdecode(value)
        sys.argv = [SCRIPT, *argv]
        sys.path[0] = os.path.dirname(SCRIPT)
        try:
            runpy.run_path(SCRIPT, run_name="__main__")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            # As Python does for an uncaught KeyboardInterrupt: the traceback, then death by
            # SIGINT (so the caller sees the same status as from a fresh interpreter).
            traceback.print_exc()
            _finish()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            traceback.print_exc()
            code = 1
        _finish()
    finally:
        os._exit(code & 0xFF)


def _finish() -> None:
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()


def supervise(conn: socket.socket) -> None:
    """In the forked supervisor: fork the worker, relay signals, report its exit status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    argv, env, cwd, fds = recv_request(conn)
    pid = os.fork()
    if pid == 0:
        conn.close()
        run_worker(argv, env, cwd, fds)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ, "client")
    sel.register(pidfd, selectors.EVENT_READ, "worker")
    pending = b""
    while True:
        for key, _ in sel.select():
            if key.data == "worker":
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(OSError):
                    conn.sendall(b"R" + STATUS.pack(code))
                return
            try:
                chunk = conn.recv(64)
            except OSError:
                chunk = b""
            if not chunk:  # the client is gone: so is its call
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
            pending += chunk
            while len(pending) >= 2:
                kind, signum, pending = pending[0:1], pending[1], pending[2:]
                if kind == b"S":
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signum)


def serve(path: str, parent: int) -> None:
    warm()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # clients see the socket only once it is ready
    listener.listen(64)
    sys.stdout.flush()
    sys.stderr.flush()
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    while True:
        if os.getppid() != parent:  # the test process is gone (this one was reparented)
            os.unlink(path)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(path))
            return
        for _key, _ in sel.select(timeout=0.5):
            conn, _addr = listener.accept()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    listener.close()
                    supervise(conn)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                finally:
                    os._exit(code)
            conn.close()
        while True:  # reap finished supervisors
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the tests stop it with SIGTERM
    serve(sys.argv[1], int(sys.argv[2]))

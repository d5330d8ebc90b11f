"""The `az` a test puts on PATH when the fork server runs (forkserver.py): standard library only,
started with `python -I -S`, so it costs a few milliseconds instead of an SDK import.

It hands its argv, environment, working directory and stdin/stdout/stderr to the server, then
waits: signals it receives are forwarded to the worker running the call, and it exits with the
worker's status (dying by the same signal when the worker was killed by one).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import socket
import struct
import sys
import time

HEADER = struct.Struct("!I")
STATUS = struct.Struct("!i")
CONNECT_SECONDS = 120.0  # the server imports the SDK once at the start of a session
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def _server_alive(path: str) -> bool:
    """False once the server process (its pid is in the socket's folder) has ended."""
    try:
        with open(os.path.join(os.path.dirname(path), "pid"), encoding="ascii") as fh:
            pid = int(fh.read())
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, ValueError):
        return False


def _connect(path: str) -> socket.socket:
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline or not _server_alive(path):
                raise
            time.sleep(0.05)


def main(path: str, argv: list[str]) -> int:
    try:
        sock = _connect(path)
    except OSError as exc:
        log = os.path.join(os.path.dirname(path), "server.log")
        print(
            f"ERROR: the stand-in az's fork server at {path} is not reachable: {exc} (see {log})",
            file=sys.stderr,
        )
        return 1
    body = marshal.dumps((argv, dict(os.environb), os.getcwdb()))
    data = HEADER.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], [0, 1, 2])
    sock.sendall(data[sent:])

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            sock.sendall(b"S" + bytes([signum]))

    for sig in FORWARDED:
        signal.signal(sig, forward)
    reply = b""
    while len(reply) < 1 + STATUS.size:
        chunk = sock.recv(16)
        if not chunk:
            print("ERROR: the stand-in az's fork server went away", file=sys.stderr)
            return 1
        reply += chunk
    (code,) = STATUS.unpack_from(reply, 1)
    if code < 0:  # the worker died by a signal: so does this process
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))

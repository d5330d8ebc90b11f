"""Real scoring servers for emulated endpoints: one azureml-inference-server-http per endpoint.

The server is the package's own WSGI app under gunicorn bound to 127.0.0.1 (facts §3: its
`azmlinfsrv` command binds 0.0.0.0), running score_standin.py behind score_gate.py (the key).
The port is reserved when the endpoint is created, so the endpoint's scoringUri is stable
before any deployment exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0
THREADS = 8


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _answers(port: int) -> bool:
    """The server is up when its front door answers; without a key that is a 401."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False


class ScoringServer:
    """One endpoint's inference server process and its routing file."""

    def __init__(self, endpoint: str, port: int, workdir: Path) -> None:
        self.endpoint = endpoint
        self.port = port
        self.dir = workdir / "scoring" / endpoint
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"

    def write_routes(
        self, key_hashes: list[str], deployments: dict[str, Any], api: str = "score"
    ) -> None:
        """`api`: "score" (managed online endpoint) or "chat-completions" (serverless)."""
        routes = {
            "endpoint": self.endpoint,
            "key_hashes": key_hashes,
            "deployments": deployments,
            "api": api,
        }
        tmp = self.dir / ".routes.json.tmp"
        tmp.write_text(json.dumps(routes), encoding="utf-8")
        os.replace(tmp, self.dir / "routes.json")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start gunicorn and wait until the server answers its health route."""
        if self.running():
            return
        env = dict(os.environ)
        env.update(
            AZUREML_ENTRY_SCRIPT=str(Path(__file__).with_name("score_standin.py").resolve()),
            AZUREML_MODEL_DIR=str(self.dir),
            AZUREML_LOG_LEVEL="WARNING",
            SERVICE_NAME=f"amlgen-emulator-{self.endpoint}",
            AMLGEN_EMULATOR_PID=str(os.getpid()),
        )
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "-b",
            f"127.0.0.1:{self.port}",
            # Threads: one slow or keyless client must not stop everyone else's requests.
            "-w",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(THREADS),
            "--timeout",
            "300",
            "--error-logfile",
            "-",
            "--pythonpath",
            str(Path(__file__).resolve().parents[2]),  # the folder holding `generator`
            "generator.emulator.score_gate:app",  # the key check in front of the real server
        ]
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115  (owned by the child)
        try:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.dir / "server.log").read_text(errors="replace").splitlines()[-5:]
                raise RuntimeError("the inference server exited: " + " | ".join(tail))
            if _answers(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the inference server did not answer within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

"""The emulator's HTTP server: loopback only, bearer JWT on every route, faults, restarts.

Logging is quiet by default; when enabled it prints method, path and status only (never
headers, bodies or keys).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import AmlgenError
from ..workspace import UPLOAD_ROUTE
from .api import Api, sections
from .arm import DEFAULT_REGION, ApiError, Request, Response
from .auth import body_length, check_token
from .errors import EmulatorError
from .faults import Faults, load
from .state import Store
from .workdir import make_workdir

LOOPBACK = "127.0.0.1"
LOGGED_METHODS = ("PUT", "POST", "PATCH", "DELETE")
READ_TIMEOUT = 30.0  # seconds a connection may take to send a request, and to stay idle
# The workspace's service discovery document (host names only) is read without a token.
PUBLIC_DISCOVERY = "/discovery"


def check_host(host: str) -> str:
    """Only loopback: the emulator accepts unsigned-by-Azure tokens and serves fake keys."""
    if host in (LOOPBACK, "localhost"):
        return LOOPBACK
    raise EmulatorError(
        f"--host {host}: the emulator binds 127.0.0.1 only (it is a local test server and must "
        "not be reachable from other machines)"
    )


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "amlgen-emulator"
    sys_version = ""

    def setup(self) -> None:
        # Every read of this connection (request line, headers, body) times out: a client that
        # stops sending mid-request holds a thread for read_timeout seconds at most.
        super().setup()
        self.connection.settimeout(self.server.emulator.read_timeout)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the default prints the request line to stderr; `_log` is the quiet replacement

    def _send(self, resp: Response) -> None:
        data = b"" if resp.body is None else json.dumps(resp.body).encode()
        self.send_response(resp.status)
        headers = {"x-ms-request-id": secrets.token_hex(8), **resp.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        if resp.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        restart = emu.faults.count_request()
        if restart is not None:  # drop this connection mid-request, come back on the same port
            emu.fired("restart", method, self.path.split("?")[0])
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            emu._log(f"{method} {self.path.split('?')[0]} -> connection dropped (restart fault)")
            threading.Thread(
                target=emu._restart, args=(rule_seconds(restart),), daemon=True
            ).start()
            return
        path, _, qs = self.path.partition("?")
        path = urllib.parse.unquote(path)
        status = 500
        # A body is read only after the token and its length passed; until then a connection
        # carrying one is marked for closing, so unread bytes never become the next request.
        close_after = self.close_connection
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True
        try:
            if not (method == "GET" and path == PUBLIC_DISCOVERY):  # as Azure's, read unsigned
                check_token(self.headers.get("Authorization", ""), emu.secret, emu.audiences())
            length = body_length(
                self.headers.get_all("Content-Length") or [],
                self.headers.get("Transfer-Encoding"),
                upload=path.startswith("/" + UPLOAD_ROUTE),
            )
            raw = self.rfile.read(length) if length else b""
            self.close_connection = close_after
            throttle = emu.faults.throttle(method, path)
            if throttle is not None:
                emu.fired(f"throttle {throttle['status']}", method, path)
                resp = Response(
                    throttle["status"],
                    {
                        "error": {
                            "code": "TooManyRequests"
                            if throttle["status"] == 429
                            else "ServiceUnavailable",
                            "message": "The service is busy; retry after the given delay "
                            "(fault injected by the amlgen emulator).",
                        }
                    },
                    {"Retry-After": f"{throttle['retry_after']:g}"},
                )
            else:
                body = _parse_body(raw, path)
                req = Request(method, path, dict(urllib.parse.parse_qsl(qs)), body, raw)
                if method in LOGGED_METHODS and not path.startswith("/_emulator/"):
                    with emu.store.lock:
                        emu.store.data["requests"].append([method, path, body])
                resp = emu.api.handle(req)
        except TimeoutError:  # the body did not come within read_timeout
            self.close_connection = True
            resp = Response(
                408,
                {
                    "error": {
                        "code": "RequestTimeout",
                        "message": "The request body did not arrive.",
                    }
                },
            )
        except ApiError as exc:
            resp = Response(exc.status, exc.body())
            if exc.status == 401:
                resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        except AmlgenError as exc:
            resp = Response(400, {"error": {"code": "BadRequest", "message": str(exc)}})
        except Exception as exc:  # a bug in the emulator: answer like the service, keep serving
            resp = Response(
                500,
                {
                    "error": {
                        "code": "InternalServerError",
                        "message": f"emulator error: {type(exc).__name__}",
                    }
                },
            )
            emu._log(f"internal error on {method} {path}: {exc!r}")
        status = resp.status
        with contextlib.suppress(OSError):
            self._send(resp)
        emu._log(f"{method} {path} -> {status}")


def check_options(
    port: int, job_seconds: float, deploy_seconds: float | None, poll_seconds: int
) -> None:
    """Each bad value is one EmulatorError line naming the option (the CLI's flags)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise EmulatorError(f"--port {port}: must be 0 (any free port) to 65535")
    for flag, value in (("--job-seconds", job_seconds), ("--deploy-seconds", deploy_seconds)):
        if value is not None and not (isinstance(value, int | float) and 0 <= value < math.inf):
            raise EmulatorError(f"{flag} {value}: must be a number of seconds, 0 or more")
    if isinstance(poll_seconds, bool) or not isinstance(poll_seconds, int) or poll_seconds < 0:
        raise EmulatorError(f"poll_seconds {poll_seconds}: must be a whole number, 0 or more")


def check_state_file(path: Path) -> None:
    """The state file's folder must exist: the emulator creates no folders for it."""
    folder = path.parent
    if not folder.is_dir():
        raise EmulatorError(
            f"--state-file {path}: folder {folder} does not exist (the emulator creates no "
            "folders; make it first)"
        )
    if path.is_dir():
        raise EmulatorError(f"--state-file {path}: is a folder, not a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EmulatorError(f"--state-file {path}: folder {folder} is not writable")


def check_region(region: str) -> str:
    """An Azure region's programmatic name (`eastus2`; `East US 2` is read as it)."""
    name = "".join(region.split()).lower()
    if not name.isalnum() or not name[:1].isalpha():
        raise EmulatorError(
            f"--region {region}: an Azure region's name, letters and digits (e.g. eastus2)"
        )
    return name


def rule_seconds(rule: dict[str, Any]) -> float:
    return float(rule.get("down_seconds", 0.5))


def _parse_body(raw: bytes, path: str) -> Any:
    if not raw or path.startswith("/" + UPLOAD_ROUTE):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "BadRequest", "The request body is not valid JSON.") from None


class Emulator:
    """A local Azure ML REST emulator serving from background threads of this process."""

    def __init__(
        self,
        port: int = 0,
        faults: str | Path | dict[str, Any] | list[Any] | None = None,
        job_seconds: float = 2.0,
        state_file: Path | None = None,
        secret: str | None = None,
        *,
        host: str = LOOPBACK,
        deploy_seconds: float | None = None,
        poll_seconds: int = 1,
        log: Callable[[str], None] | None = None,
        read_timeout: float = READ_TIMEOUT,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.host = check_host(host)
        self.read_timeout = read_timeout
        self.region = check_region(region)
        check_options(port, job_seconds, deploy_seconds, poll_seconds)
        self.port = port
        self.secret = secret or secrets.token_urlsafe(32)
        self.url = ""
        self.faults = Faults(load(faults))
        self.state_file = Path(state_file) if state_file else None
        if self.state_file is not None:
            check_state_file(self.state_file)
        self.store = Store(self.state_file, sections())
        if self.state_file is not None:
            self.workdir = self.state_file.with_name(self.state_file.name + ".d")
            try:
                self.workdir.mkdir(exist_ok=True)
            except OSError as exc:
                raise EmulatorError(
                    f"--state-file {self.state_file}: cannot make {self.workdir}: {exc.strerror}"
                ) from None
            self._own_workdir = False
        else:
            self.workdir = make_workdir()
            self._own_workdir = True
            # removed even when stop() is never called (a crashed test or script)
            weakref.finalize(self, shutil.rmtree, self.workdir, ignore_errors=True)
        self.api = Api(
            self.store,
            self.faults,
            self.workdir,
            job_seconds,
            job_seconds if deploy_seconds is None else deploy_seconds,
            poll_seconds,
            region=self.region,
        )
        self.restarts = 0
        self._log_fn = log
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------------

    def _bind(self) -> None:
        try:
            httpd = _HttpServer((self.host, self.port), _Handler)
        except (OSError, OverflowError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise EmulatorError(f"cannot listen on {self.host}:{self.port}: {why}") from None
        httpd.emulator = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="amlgen-emulator",
            daemon=True,
        )
        self._thread.start()

    def start(self) -> Emulator:
        with self._lock:
            if self._httpd is not None:
                return self
            self._bind()
            self.url = f"http://{self.host}:{self.port}/"
            self.api.url = self.url
            self.api.resume()
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
            if httpd is not None:
                httpd.shutdown()
                httpd.server_close()
            for server in list(self.api.servers.values()):
                server.stop()
            self.api.servers.clear()
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _restart(self, down_seconds: float) -> None:
        """The restart fault: stop listening, wait, reload state, listen again on the same port."""
        with self._lock:
            httpd, self._httpd = self._httpd, None
            if httpd is None:
                return
            self.store.save()
            httpd.shutdown()
            httpd.server_close()
            time.sleep(down_seconds)
            self.store.load()  # state comes back from the file when there is one
            self.restarts += 1
            for _ in range(50):
                try:
                    self._bind()
                    break
                except EmulatorError:
                    time.sleep(0.1)
        self._log(f"restarted on {self.url} (restart #{self.restarts})")

    # --- API for tests and the CLI ------------------------------------------------------------

    def add_fault(self, rule: dict[str, Any]) -> None:
        self.faults.add(rule)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the state, brought up to date first. Sections: jobs
        ({name: {"resource": REST job, "meta": lifecycle}}), models ({name: {version: REST}}),
        endpoints ({name: REST}), deployments ({endpoint: {name: REST}}), computes, uploads
        ({"<datastore>/<path>": {"size", ...}}), operations, faults_fired, and requests:
        [(method, path without query, JSON body)] for every PUT/POST/PATCH/DELETE served."""
        self.api.tick()
        snap = self.store.snapshot()
        for ep in snap["endpoints"].values():
            ep.pop("_port", None)
        return snap

    def audiences(self) -> list[str]:
        """The `aud` values a token may carry (the SDK's aml_resource_id drops the slash)."""
        return [self.url, self.url.rstrip("/")]

    def fired(self, fault: str, method: str, path: str) -> None:
        """Record a fault that fired (snapshot()["faults_fired"]), saved before any restart."""
        with self.store.lock:
            self.store.data["faults_fired"].append([fault, method, path])
        self.store.save()

    def _log(self, msg: str) -> None:
        if self._log_fn is not None:
            self._log_fn(msg)


def run_foreground(
    port: int = 0,
    faults: str | Path | None = None,
    job_seconds: float = 2.0,
    state_file: Path | None = None,
    *,
    host: str = LOOPBACK,
    deploy_seconds: float | None = None,
    secret: str | None = None,
    verbose: bool = False,
    echo: Callable[[str], None] = print,
    log: Callable[[str], None] | None = None,
    region: str = DEFAULT_REGION,
) -> None:
    """`amlgen-emulator`: serve until Ctrl-C or SIGTERM, then stop the scoring servers too.

    Its URL and key go to a connection file only this user can read (removed on stop), so
    the URL alone connects amlgen to it; the key is never printed."""
    from ..workspace import ENV_EMULATOR as ENV_URL
    from ..workspace import forget_connection, record_connection

    emu = Emulator(
        port,
        faults,
        job_seconds,
        state_file,
        secret,
        host=host,
        deploy_seconds=deploy_seconds,
        log=log if verbose else None,
        region=region,
    )
    emu.start()

    def _term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    # Ctrl-C stops it even when it was started with SIGINT ignored (a script's `&`, or a parent
    # that was ignoring it): Python then leaves SIGINT ignored, and it would never stop.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    connection: Path | None = None
    try:
        connection = record_connection(emu.url, emu.secret)
        echo(f"amlgen emulator listening on {emu.url} (workspace in {emu.region}; Ctrl-C stops)")
        echo(f"Its key is in {connection} (yours only): the URL is enough, from any shell:")
        echo(f"  export {ENV_URL}={emu.url}")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        echo("amlgen emulator stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if connection is not None:
            forget_connection(connection)
        emu.stop()

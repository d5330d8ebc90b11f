"""The hardened emulator and its client (issue #14 item 6), over real HTTP on 127.0.0.1.

The front door (token before body, body limits, expiry), the scoring servers' key on every
route, option and state-file errors in one line, temp folders after SIGKILL, the client's
refusal to send the token off loopback, and uploads that survive a restart or a throttle.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.emulator import Emulator, EmulatorCredential, make_token, ml_client
from generator.emulator.auth import MAX_JSON_BYTES, MAX_UPLOAD_BYTES
from generator.emulator.command import emulator as emulator_command
from generator.emulator.scoring import ScoringServer, free_port, key_hash
from generator.errors import WorkflowError
from generator.workspace import check_loopback, emulator_client, emulator_uploads
from generator.workspace.uploads import upload_bytes

ROOT = Path(__file__).resolve().parent.parent
WS_PATH = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/amlgen-emulator/"
    "providers/Microsoft.MachineLearningServices/workspaces/emulator-ws"
)
CONTAINER = "azureml-blobstore-emulator"
SECRET = "a-local-test-secret-of-at-least-32-bytes"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(job_seconds=1.0) as emulator:
        yield emulator


def _exchange(emu: Emulator, head: str, body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    """Send raw request bytes (headers we choose, Content-Length included) and read the answer
    without waiting for the server to read any body we only announced."""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header_text, _, rest = data.partition(b"\r\n\r\n")
        lines = header_text.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), headers, json.loads(rest) if rest else None


def _head(method: str, path: str, token: str | None, extra: str = "") -> str:
    auth = f"Authorization: Bearer {token}\n" if token else ""
    return f"{method} {path} HTTP/1.1\nHost: 127.0.0.1\n{auth}{extra}"


def _get(emu: Emulator, token: str | None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(emu.url + WS_PATH.lstrip("/"))
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --- 1. the token before the body; a body size limit ------------------------------------------


def test_token_is_checked_before_a_huge_body_is_read(emu: Emulator) -> None:
    huge = "Content-Length: 100000000000\nContent-Type: application/json\n"
    start = time.monotonic()
    status, headers, body = _exchange(emu, _head("PUT", WS_PATH + "/jobs/x", None, huge))
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"
    assert headers["connection"] == "close"  # the announced body is never read
    # Signed, but 100 GB: refused by its length alone, before a byte of it is read.
    token = make_token(emu.url, emu.secret)
    status, headers, body = _exchange(emu, _head("PUT", WS_PATH + "/jobs/x", token, huge))
    assert status == 413 and body["error"]["code"] == "RequestEntityTooLarge"
    assert str(MAX_JSON_BYTES) in body["error"]["message"] and headers["connection"] == "close"
    assert time.monotonic() - start < 5
    assert _get(emu, token)[0] == 200  # still serving


def test_body_limits_and_malformed_lengths_answer_like_the_service(emu: Emulator) -> None:
    token = make_token(emu.url, emu.secret)
    just_over = f"Content-Length: {MAX_JSON_BYTES + 1}\n"
    assert _exchange(emu, _head("PUT", WS_PATH + "/jobs/x", token, just_over))[0] == 413
    upload = f"/_emulator/uploads/{CONTAINER}/big.bin"
    too_big = f"Content-Length: {MAX_UPLOAD_BYTES + 1}\n"
    assert _exchange(emu, _head("POST", upload, token, too_big))[0] == 413
    status, _, body = _exchange(
        emu, _head("PUT", WS_PATH + "/jobs/x", token, "Content-Length: x\n")
    )
    assert status == 400 and body["error"]["code"] == "InvalidContentLength"
    twice = "Content-Length: 2\nContent-Length: 40\n"
    status, _, body = _exchange(emu, _head("PUT", WS_PATH + "/jobs/x", token, twice), b"{}")
    assert status == 400 and "conflicting" in body["error"]["message"]
    chunked = "Transfer-Encoding: chunked\n"
    status, _, body = _exchange(
        emu, _head("PUT", WS_PATH + "/jobs/x", token, chunked), b"0\r\n\r\n"
    )
    assert status == 411 and body["error"]["code"] == "LengthRequired"
    # Data files may be larger than an ARM body: 5 MB goes to the upload route.
    data = os.urandom(MAX_JSON_BYTES + 1024 * 1024)
    upload_bytes(emu.url, emu.secret, CONTAINER, "LocalUpload/big/train.bin", data)
    assert emu.snapshot()["uploads"]["workspaceblobstore/LocalUpload/big/train.bin"]["size"] == len(
        data
    )


# --- 2. tokens expire ---------------------------------------------------------------------------


def test_tokens_without_expiry_or_expired_are_refused(emu: Emulator) -> None:
    now = int(time.time())
    forever = jwt.encode({"aud": emu.url, "iat": now}, emu.secret, algorithm="HS256")
    status, body = _get(emu, forever)
    assert status == 401 and body["error"]["code"] == "InvalidAuthenticationToken"
    assert "exp" in body["error"]["message"]
    status, body = _get(emu, make_token(emu.url, emu.secret, seconds=-5))
    assert status == 401 and body["error"]["code"] == "ExpiredAuthenticationToken"
    assert "is earlier than current UTC time" in body["error"]["message"]
    status, body = _get(emu, None)
    assert status == 401 and "'Authorization' header is missing" in body["error"]["message"]
    assert _get(emu, make_token(emu.url, emu.secret))[0] == 200


@pytest.mark.slow
def test_the_clients_tokens_carry_an_expiry(emu: Emulator) -> None:
    cred = EmulatorCredential(emu.url, emu.secret)
    access = cred.get_token(emu.url.rstrip("/") + "/.default")
    claims = jwt.decode(
        access.token, emu.secret, algorithms=["HS256"], options={"verify_aud": False}
    )
    assert claims["exp"] - claims["iat"] == 3600 and access.expires_on <= claims["exp"]
    # The real SDK with that credential passes the emulator's expiry check.
    assert ml_client(emu.url, emu.secret).workspaces.get("emulator-ws").name == "emulator-ws"


@pytest.mark.slow
def test_the_az_path_sends_tokens_the_emulator_accepts(emu: Emulator) -> None:
    """The cli backend's `az` (tests' fake az: the real SDK inside) mints through the product's
    credential; a missing compute comes back as az's not-found, not as a 401."""
    env = {**os.environ, "AMLGEN_EMULATOR": emu.url, "AMLGEN_EMULATOR_SECRET": emu.secret}
    az = [sys.executable, str(ROOT / "tests" / "fake_az" / "az")]
    proc = subprocess.run(
        [*az, "ml", "compute", "show", "-n", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "401" not in proc.stderr and "Authentication" not in proc.stderr


# --- 3. every scoring route needs the endpoint key ----------------------------------------------


@pytest.mark.slow
def test_every_scoring_route_needs_the_endpoint_key(tmp_path: Path) -> None:
    server = ScoringServer("guarded", free_port(), tmp_path)
    server.write_routes([key_hash("the-key")], {"blue": {"model": "standin:1", "traffic": 100}})
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    chat = json.dumps({"input_data": {"input_string": [{"role": "user", "content": "hi"}]}})

    def call(method: str, path: str, key: str | None) -> tuple[int, Any]:
        req = urllib.request.Request(
            base + path,
            data=chat.encode() if method == "POST" else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        if key is not None:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    try:
        routes = [("GET", "/"), ("GET", "/swagger.json"), ("GET", "/score"), ("POST", "/score")]
        routes += [("OPTIONS", "/score"), ("GET", "/no-such-route")]
        for method, path in routes:
            for key in (None, "wrong-key"):
                status, raw = call(method, path, key)
                assert status == 401, (method, path, key)
                assert json.loads(raw)["error"]["code"] == "Unauthorized"
        assert call("GET", "/", "the-key")[0] == 200
        assert call("GET", "/swagger.json", "the-key")[0] in (200, 404)  # no schema: 404
        status, raw = call("POST", "/score", "the-key")
        assert status == 200 and "not a model" in json.loads(raw)["output"]
    finally:
        server.stop()


# --- 4 and 7. every bad option value is one line ------------------------------------------------


def _one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(emulator_command, [*args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_state_file_in_a_missing_folder_is_one_line_and_no_folder(tmp_path: Path) -> None:
    state = tmp_path / "missing" / "deeper" / "state.json"
    line = _one_error_line(["--state-file", str(state)])
    assert "does not exist" in line and str(state.parent) in line
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("fifo", "cannot read the fault file: not a regular file"),  # the start hung
        ("huge", "cannot read the fault file: larger than 1 MiB"),
        ("deep", "not valid YAML/JSON: nested too deeply"),  # a RecursionError traceback
    ],
)
def test_a_fifo_huge_or_deep_fault_file_is_one_line(tmp_path: Path, kind: str, says: str) -> None:
    faults = tmp_path / "faults.json"
    if kind == "fifo":
        os.mkfifo(faults)
    elif kind == "huge":
        with faults.open("wb") as fh:
            fh.truncate(2 * 1024**3)  # sparse
    else:
        faults.write_text("[" * 5000 + "]" * 5000)
    assert says in _one_error_line(["--faults", str(faults)])


@pytest.mark.parametrize("kind", ["fifo", "huge"])
def test_a_fifo_or_huge_state_file_is_one_line_not_a_hang_or_gigabytes(
    tmp_path: Path, kind: str
) -> None:
    state = tmp_path / "state.json"
    if kind == "fifo":
        os.mkfifo(state)  # the start hung reading it; /dev/zero took 22 GB before
    else:
        with state.open("wb") as fh:
            fh.truncate(2 * 1024**3)  # sparse
    line = _one_error_line(["--state-file", str(state)])
    assert "not a readable emulator state file" in line, line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "99999"], "--port 99999: must be 0 (any free port) to 65535"),
        (["--port", "-1"], "--port -1:"),
        (["--job-seconds", "-1"], "--job-seconds -1.0: must be a number of seconds"),
        (["--deploy-seconds", "-0.5"], "--deploy-seconds -0.5:"),
        (["--job-seconds", "nan"], "--job-seconds nan:"),
        (["--host", "10.0.0.1"], "--host 10.0.0.1: the emulator binds 127.0.0.1 only"),
        (["--port", "abc"], "--port abc: must be a whole number"),
        (["--port", "1.5"], "--port 1.5: must be a whole number"),
        (["--job-seconds", "soon"], "--job-seconds soon: must be a number"),
        (["--faults", "."], "cannot read the fault file"),
        (["--faults", "no-such-faults.yml"], "no-such-faults.yml: cannot read the fault file"),
    ],
)
def test_bad_option_values_are_one_line(args: list[str], expected: str) -> None:
    assert expected in _one_error_line(args)


def test_state_file_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    assert "is a folder, not a file" in _one_error_line(["--state-file", str(tmp_path)])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not a readable emulator state file"),
        (b"\xff\xfe\x00garbage", "not a readable emulator state file"),
        (b"[1, 2]", "expected an object"),
        (b'{"jobs": []}', "section 'jobs': expected an object, found list"),
        (b'{"requests": {}}', "section 'requests': expected a list, found dict"),
        (b'{"jobs": {"j1": 5}}', "section 'jobs': entry 'j1': expected an object, found int"),
        (b'{"faults_fired": ["x"]}', "section 'faults_fired': entry 0: expected a list"),
    ],
)
def test_bad_state_files_are_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    line = _one_error_line(["--state-file", str(state)])
    assert expected in line and str(state) in line
    assert state.read_bytes() == content  # left as it was


@pytest.mark.slow
def test_port_out_of_range_is_one_line_in_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "generator.emulator", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: --port 99999: must be 0 (any free port) to 65535"
    ]


@pytest.mark.slow
def test_the_emulator_is_its_own_program_and_amlgen_does_not_name_it() -> None:
    """`amlgen-emulator` (the installed entry point) is the emulator's own command line, with
    the emulator's options; the product's `amlgen` CLI has no such command."""
    program = Path(sys.executable).parent / "amlgen-emulator"
    shown = subprocess.run([str(program), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: amlgen-emulator [OPTIONS]")
    for option in ("--port", "--host", "--faults", "--job-seconds", "--state-file"):
        assert option in shown.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "generator", "--help"], capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "emulator  " not in listed.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "generator", "emulator"], capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2 and "No such command 'emulator'" in unknown.stderr


# --- 5. temp folders left by a SIGKILL go on the next start --------------------------------------


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.emulator"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc, line.split("listening on ")[1].split()[0]


@pytest.mark.slow
def test_temp_folder_of_a_killed_emulator_is_removed_on_the_next_start(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    secret = "a-local-test-secret-of-some-length-0123"
    env = {**os.environ, "TMPDIR": str(tmp), "AMLGEN_EMULATOR_SECRET": secret}
    first, url = _start(env)
    try:
        upload_bytes(url, secret, CONTAINER, "LocalUpload/abc/train.jsonl", b'{"messages": []}\n')
        (folder,) = tmp.glob("amlgen-emulator-*")
        uploaded = folder / "uploads" / "workspaceblobstore" / "LocalUpload/abc/train.jsonl"
        assert uploaded.read_bytes() == b'{"messages": []}\n'
    finally:
        first.kill()  # SIGKILL: no cleanup runs
        first.wait(10)
    assert folder.is_dir()  # left behind, training data included

    second, _ = _start(env)
    try:
        assert not folder.exists()
        (current,) = tmp.glob("amlgen-emulator-*")
        assert json.loads((current / "owner.json").read_text())["pid"] == second.pid
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert list(tmp.glob("amlgen-emulator-*")) == []  # a clean stop removes its own


def test_a_live_emulators_folder_is_kept(emu: Emulator) -> None:
    other = Emulator()  # same process, so its owner is alive: the sweep keeps emu's folder
    try:
        assert emu.workdir.is_dir() and other.workdir.is_dir()
    finally:
        other.stop()
    assert not other.workdir.exists()


@pytest.mark.slow
def test_a_killed_save_leaves_no_temp_file_after_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stray = tmp_path / f".state.json.{dead.pid}-0123abcd.amlgen-tmp"  # a save cut by SIGKILL
    stray.write_text('{"jobs": {')
    mine = tmp_path / f".state.json.{os.getpid()}-89abcdef.amlgen-tmp"  # a live writer's
    mine.write_text("{}")
    with Emulator(state_file=state) as emu:
        emu.add_fault({"fault": "job_status", "status": "Failed"})
        emu.fired("probe", "GET", "/")  # one save
        assert not stray.exists() and mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, "state.json", "state.json.d"]
    )
    assert json.loads(state.read_text())["faults_fired"] == [["probe", "GET", "/"]]


# --- 6. the client never sends the token off loopback -------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080/",
        "https://example.com/",
        "http://127.0.0.1.example.com:80/",
        "http://127.0.0.1@example.com/",
        "http://[2001:db8::1]:80/",
        "http://0.0.0.0:80/",
        "ftp://127.0.0.1/",
    ],
)
def test_non_loopback_emulator_urls_are_refused(url: str) -> None:
    for attempt in (
        lambda: check_loopback(url),
        lambda: make_token(url, SECRET),
        lambda: EmulatorCredential(url, SECRET),
        lambda: emulator_client(url, SECRET),
        lambda: emulator_uploads(url, SECRET).__enter__(),
        lambda: upload_bytes(url, SECRET, CONTAINER, "x", b"x"),
    ):
        with pytest.raises(WorkflowError, match="only a loopback address is accepted"):
            attempt()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/", "http://127.8.9.10:1", "http://[::1]:1/", "http://localhost:1/"]
)
def test_loopback_emulator_urls_are_accepted(url: str) -> None:
    assert check_loopback(url).endswith("/")


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--emulator", "http://10.1.2.3:8080/"],
        ["lock", "--check", "--emulator", "http://example.com/"],
    ],
)
def test_cli_refuses_a_non_loopback_emulator_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    import shutil

    shutil.copytree(ROOT / "params", tmp_path / "params")
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", "secret-that-must-stay-home")
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), *args])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "only a loopback address is accepted" in lines[0], lines
    assert "secret-that-must-stay-home" not in result.output


def test_environment_emulator_url_off_loopback_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMLGEN_EMULATOR", "http://192.168.1.20:8765/")
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", "secret-that-must-stay-home")
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "status"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "'http://192.168.1.20:8765/'" in lines[0]


# --- 8. uploads retry like the rest of the flow -------------------------------------------------


def test_an_upload_survives_a_restart_and_a_throttle() -> None:
    with Emulator() as emu:
        emu.add_fault({"fault": "restart", "after_requests": 1, "down_seconds": 0.5})
        upload_bytes(emu.url, emu.secret, CONTAINER, "LocalUpload/r/train.jsonl", b"row\n")
        emu.add_fault(
            {"fault": "throttle", "status": 503, "times": 2, "retry_after": 0, "match": "/uploads/"}
        )
        upload_bytes(emu.url, emu.secret, CONTAINER, "LocalUpload/t/train.jsonl", b"row\n")
        snap = emu.snapshot()
        fired = [f[0] for f in snap["faults_fired"]]
        assert emu.restarts == 1 and fired.count("restart") == 1
        assert fired.count("throttle 503") == 2
        assert {"workspaceblobstore/LocalUpload/r/train.jsonl"} <= set(snap["uploads"])
        assert {"workspaceblobstore/LocalUpload/t/train.jsonl"} <= set(snap["uploads"])


def test_an_upload_refused_for_good_fails_at_once_in_one_line(emu: Emulator) -> None:
    start = time.monotonic()
    with pytest.raises(WorkflowError) as info:
        upload_bytes(
            emu.url, "not-the-secret-" + "x" * 32, CONTAINER, "LocalUpload/x/a.jsonl", b"row\n"
        )
    assert time.monotonic() - start < 2  # a 401 is not retried
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "HTTP 401" in message and "not-the" not in message


@pytest.mark.slow
def test_the_flow_submits_through_busy_answers_on_its_uploads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What made test_throttling_and_a_restart_mid_poll_are_survived flaky: a restart or a
    busy answer that landed on a data upload failed the submission; now it is retried (the
    restart on an upload: test_an_upload_survives_a_restart_and_a_throttle)."""
    from _flowkit import make_project

    import generator as workflow

    proj = make_project(tmp_path / "p")
    with Emulator(job_seconds=1.0) as emu:
        monkeypatch.setenv("AMLGEN_EMULATOR", emu.url)
        monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", emu.secret)
        for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
            monkeypatch.delenv(name, raising=False)
        emu.add_fault(
            {"fault": "throttle", "status": 503, "times": 2, "retry_after": 0, "match": "/uploads/"}
        )
        first = workflow.submit(project_dir=proj, backend="sdk")
        fired = emu.snapshot()["faults_fired"]
        assert [f[0] for f in fired].count("throttle 503") == 2
        assert all("/_emulator/uploads/" in f[2] for f in fired)
        assert first.state["job"]["name"]
        uploads = emu.snapshot()["uploads"]
        assert any(k.endswith("train_sft.jsonl") for k in uploads), uploads

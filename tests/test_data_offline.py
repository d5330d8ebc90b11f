"""`amlgen data` without network (issue #23 item 3): it fails at once, in one line naming the
offline sample, instead of after huggingface_hub's ~25 s of retries; the hub answering anything
(even an error) is left to the loader."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.data import source as data_source

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FLAG = f"`amlgen data --source {data_source.OFFLINE_SAMPLE}`"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _data(project: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
    full.update(HF_HOME=str(tmp_path / "hf"), **env)
    # The guard is a hang guard: the retries this replaces took about 25 s.
    return subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(project), "data", "--env", "dev"],
        env=full, capture_output=True, text=True, timeout=20,
    )  # fmt: skip


def test_the_named_sample_is_shipped() -> None:
    assert (ROOT / data_source.OFFLINE_SAMPLE / "data").is_dir()


@pytest.mark.slow
def test_no_network_fails_at_once_naming_the_offline_sample(project: Path, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    run = _data(project, tmp_path, HF_ENDPOINT=endpoint)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(
        f"error: data.source: cannot reach the Hugging Face Hub at {endpoint} to read "
        "HuggingFaceH4/ultrachat_200k"
    )
    assert SAMPLE_FLAG in run.stderr and "HF_HUB_OFFLINE=1" in run.stderr
    assert not (project / "data").exists()


@pytest.mark.slow
def test_offline_mode_without_a_cached_copy_names_the_offline_sample(
    project: Path, tmp_path: Path
) -> None:
    run = _data(project, tmp_path, HF_HUB_OFFLINE="1")
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(
        "error: data.source: cannot load Hugging Face Hub dataset HuggingFaceH4/ultrachat_200k"
    )
    assert f"HF_HUB_OFFLINE is set: without network, prepare the offline sample: {SAMPLE_FLAG}" in (
        run.stderr
    )


@pytest.fixture
def hub_answering_404() -> Iterator[str]:
    """A hub that answers every request with 404: reachable, just not helpful."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answering_hub_is_left_to_the_loader(
    hub_answering_404: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub_answering_404)
    data_source._reach_hub("someone/some-dataset")  # no error: the loader will say what is wrong


def test_a_closed_port_is_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from generator.errors import DataError

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(DataError, match=r"cannot reach the Hugging Face Hub .*--source samples/"):
        data_source._reach_hub("someone/some-dataset")


def test_a_local_folder_never_asks_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample (a local folder) is read with no request to the hub at all."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    shutil.copytree(ROOT / data_source.OFFLINE_SAMPLE, tmp_path / "sample")
    src = data_source.open_source("sample", tmp_path, cache_dir=tmp_path / "cache")
    assert set(src.files) >= {"train_sft", "test_sft"}

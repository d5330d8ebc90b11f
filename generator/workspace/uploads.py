"""The upload seam (client side): local files the SDK would send to https blob storage go to
the emulator.

The SDK uploads local job inputs (and local model paths) through
`azure.ai.ml._artifacts._artifact_utilities.upload_artifact`, which looks up the datastore
(a real REST call the emulator answers) and then asks `get_storage_client(...)` for a blob
client bound to `https://<account>.blob.<suffix>`. Only that last step cannot reach a plain-http
loopback server, so the seam replaces exactly `get_storage_client` while active: the stand-in
client keeps the SDK's remote naming (`LocalUpload/<hash>/<file name>`) and sends each file's
bytes to `POST <emulator>/_emulator/uploads/<datastore container>/<remote path>`. Everything
around it (hashing, datastore lookup, the `azureml://datastores/.../paths/...` URI in the job
body) is the SDK's own code.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import WorkflowError
from .loopback import check_loopback, make_token

UPLOAD_ROUTE = "_emulator/uploads/"
UPLOAD_RETRIES = 6  # 0.5 + 1 + 2 + 4 + 8 + 8 s: longer than a restart, as azure-core waits
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
_lock = threading.Lock()


def upload_bytes(
    url: str,
    secret: str,
    container: str,
    remote_path: str,
    data: bytes,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send one file's bytes to the emulator's upload route (bearer-protected like ARM).

    Like the SDK's own calls (azure-core's retry policy), a lost connection, a restarting
    server, 429/5xx answers (honouring Retry-After) are retried with backoff; the same bytes to
    the same path, so a repeat is harmless. Other answers fail at once."""
    quoted = urllib.parse.quote(f"{container}/{remote_path}")
    delay = 0.5
    for attempt in range(UPLOAD_RETRIES + 1):
        req = urllib.request.Request(
            url + UPLOAD_ROUTE + quoted,
            data=data,
            method="POST",
            headers={  # a fresh token per try: it expires
                "Authorization": f"Bearer {make_token(url, secret)}",
                "Content-Type": "application/octet-stream",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
            return
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUSES or attempt == UPLOAD_RETRIES:
                raise WorkflowError(
                    f"upload of {remote_path} to the emulator failed: HTTP {exc.code} "
                    f"{_service_message(exc)}"
                ) from None
            wait = _retry_after(exc.headers.get("Retry-After"), delay)
        except OSError as exc:  # refused, reset, timed out: the server is restarting
            if attempt == UPLOAD_RETRIES:
                raise WorkflowError(
                    f"upload of {remote_path} to the emulator failed after {UPLOAD_RETRIES} "
                    f"retries: {exc}"
                ) from None
            wait = delay
        sleep(wait)
        delay = min(delay * 2, 8.0)


def _retry_after(value: str | None, default: float) -> float:
    try:
        return min(max(float(value or default), 0.0), 60.0)
    except ValueError:
        return default


def _service_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read() or b"{}")["error"]["message"])
    except (OSError, ValueError, KeyError, TypeError):
        return str(exc.reason)


class _EmulatorStorageClient:
    """Duck-types the SDK's BlobStorageClient for the calls upload_artifact makes."""

    def __init__(self, url: str, secret: str, container: str) -> None:
        self._url = url
        self._secret = secret
        self.container = container
        self.file_system = container
        self.indicator_file: str | None = None

    def upload(
        self,
        source: str,
        name: str | None = None,
        version: str | None = None,
        ignore_file: Any = None,
        asset_hash: str | None = None,
        show_progress: bool = True,
    ) -> dict[str, Any]:
        from azure.ai.ml._utils._asset_utils import generate_asset_id

        asset_id = generate_asset_id(asset_hash or "", include_directory=True)
        src = Path(source)
        dest = str(PurePosixPath(asset_id, src.name))
        if src.is_dir():
            for root, _dirs, files in os.walk(src):
                for fname in sorted(files):
                    full = Path(root, fname)
                    if ignore_file is not None and ignore_file.is_file_excluded(full):
                        continue
                    rel = full.relative_to(src).as_posix()
                    upload_bytes(
                        self._url, self._secret, self.container, f"{dest}/{rel}", full.read_bytes()
                    )
        else:
            upload_bytes(self._url, self._secret, self.container, dest, src.read_bytes())
        self.indicator_file = dest
        return {"remote path": dest, "name": name, "version": version, "indicator file": dest}

    def exists(self, path: str) -> bool:
        return False


@contextmanager
def emulator_uploads(url: str, secret: str) -> Iterator[None]:
    """While active, the SDK's uploads of local files go to the emulator's upload route."""
    from azure.ai.ml._artifacts import _artifact_utilities as utils

    url = check_loopback(url)

    def get_storage_client(**info: Any) -> _EmulatorStorageClient:
        container = info.get("container_name") or "emulator-uploads"
        return _EmulatorStorageClient(url, secret, str(container))

    with _lock:  # nested or concurrent use keeps the innermost original
        original = utils.get_storage_client
        utils.get_storage_client = get_storage_client  # type: ignore[assignment]
    try:
        yield
    finally:
        with _lock:
            utils.get_storage_client = original

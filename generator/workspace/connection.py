"""The emulator connection as one value: its URL.

`amlgen-emulator` records its URL and key in a file only its user can read (mode 0600, in
$XDG_RUNTIME_DIR/amlgen/ or ~/.cache/amlgen/, removed when it stops), so `--emulator URL` or
AMLGEN_EMULATOR=URL is enough from another shell or from Python. The key may also come from a
connection string `URL#secret=KEY` or AMLGEN_EMULATOR_SECRET (for an emulator started
in-process, which records nothing). The key is never printed, and `check_loopback` runs before
it is used, so it never leaves this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from .. import names
from ..errors import WorkflowError
from .loopback import check_loopback

SECRET_MARK = "#secret="  # a connection string: URL#secret=KEY
FOLDER = "amlgen"


def connection_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where emulators record their connection: the user's runtime folder, else their cache."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / FOLDER
    return Path(env.get("HOME") or Path.home()) / ".cache" / FOLDER


def connection_file(url: str, environ: Mapping[str, str] | None = None) -> Path:
    """The record of the emulator at `url`: one per port (every loopback name is this machine)."""
    port = urllib.parse.urlsplit(url).port
    return connection_dir(environ) / f"emulator-{port}.json"


def _private_folder(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise WorkflowError(f"{folder}: owned by another user: not recording the emulator's key")
    if stat.S_IMODE(info.st_mode) & 0o077:
        folder.chmod(0o700)


def record_connection(url: str, secret: str, environ: Mapping[str, str] | None = None) -> Path:
    """Write the connection file of this process's emulator (mode 0600, atomically)."""
    url = check_loopback(url)
    path = connection_file(url, environ)
    _private_folder(path.parent)
    text = json.dumps({"url": url, "secret": secret, "pid": os.getpid()})
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    return path


def forget_connection(path: Path) -> None:
    """Remove a connection file this process wrote (not one a newer emulator replaced it with)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_secret(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The key the running emulator at `url` recorded, or None (no record, or the emulator that
    wrote it is gone: a SIGKILL leaves its file behind)."""
    path = connection_file(url, environ)
    try:
        info = path.stat()
    except OSError:
        return None
    if stat.S_IMODE(info.st_mode) & 0o077 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise WorkflowError(
            f"{path}: readable or writable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            "not using an emulator key from it; delete it and restart `amlgen-emulator`"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not _alive(record.get("pid")):
        return None
    if urllib.parse.urlsplit(str(record.get("url"))).port != urllib.parse.urlsplit(url).port:
        return None
    secret = record.get("secret")
    return secret if isinstance(secret, str) and secret else None


def emulator_connection(
    value: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """(URL, key) of the emulator named by `value` (a URL or `URL#secret=KEY`) or else by
    AMLGEN_EMULATOR; None when neither names one. The key: the connection string's, else the
    running emulator's connection file, else AMLGEN_EMULATOR_SECRET."""
    env = os.environ if environ is None else environ
    raw = value or env.get(names.ENV_EMULATOR) or None
    if not raw:
        return None
    url_part, _, given = raw.partition(SECRET_MARK)
    url = check_loopback(url_part)
    # The record of a running emulator beats the variable, which may be left from an earlier one.
    secret = given or recorded_secret(url, env) or env.get(names.ENV_EMULATOR_SECRET)
    if not secret:
        raise WorkflowError(
            f"emulator at {url}: no key: none is recorded for it in {connection_dir(env)} "
            f"(is `amlgen-emulator` running there, as this user?); or set "
            f"{names.ENV_EMULATOR_SECRET}"
        )
    return url, secret

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

from .. import names, reading
from ..errors import WorkflowError
from .loopback import check_loopback

SECRET_MARK = "#secret="  # a connection string: URL#secret=KEY
FOLDER = "amlgen"
MAX_VALUE = 2048  # characters of a connection string
MAX_RECORD = 64 * 1024  # bytes of a connection file (about 110 in practice)


def _home(env: Mapping[str, str]) -> Path:
    """HOME when it is an absolute path; else the user's home from the password database (an
    empty or relative HOME would put the key in `/.cache` or the current folder)."""
    home = env.get("HOME") or ""
    if os.path.isabs(home):
        return Path(home)
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, AttributeError):
        raise WorkflowError(
            f"HOME is {'empty' if not home else 'not an absolute path'} and this user has no "
            "home folder: set HOME (or XDG_RUNTIME_DIR) to record or find the emulator's key"
        ) from None


def connection_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where emulators record their connection: the user's runtime folder, else their cache."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and Path(runtime).is_dir():
        return Path(runtime) / FOLDER
    return _home(env) / ".cache" / FOLDER


def connection_file(url: str, environ: Mapping[str, str] | None = None) -> Path:
    """The record of the emulator at `url`: one per port (every loopback name is this machine)."""
    port = urllib.parse.urlsplit(url).port
    return connection_dir(environ) / f"emulator-{port}.json"


def _private_folder(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise WorkflowError(
            f"{folder}: cannot record the emulator's key there: {exc.strerror} (set HOME or "
            "XDG_RUNTIME_DIR to a folder of yours)"
        ) from None
    if not stat.S_ISDIR(info.st_mode):  # a symlink: its target's mode is not ours to change
        raise WorkflowError(
            f"{folder}: a symlink, not a folder: not recording the emulator's key through it"
        )
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
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()  # left by a killed process of the same pid
        fd = os.open(temp, flags, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise WorkflowError(f"{path}: cannot record the emulator's key: {exc.strerror}") from None
    return path


def forget_connection(path: Path) -> None:
    """Remove a connection file this process wrote (not one a newer emulator replaced it with)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, reading.ReadRefused):
        # bounded, a regular file: a FIFO put in its place must not hang the emulator's stop
        if json.loads(reading.read_text(path, MAX_RECORD)).get("pid") == os.getpid():
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
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise WorkflowError(
            f"{path}: not a regular file (a symlink, FIFO or folder): not using an emulator key "
            "from it; delete it and restart `amlgen-emulator`"
        )
    if stat.S_IMODE(info.st_mode) & 0o077 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise WorkflowError(
            f"{path}: readable or writable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            "not using an emulator key from it; delete it and restart `amlgen-emulator`"
        )
    try:
        record = json.loads(reading.read_text(path, MAX_RECORD))
    except reading.ReadRefused as exc:
        raise WorkflowError(f"{exc}: delete it and restart `amlgen-emulator`") from None
    except (ValueError, RecursionError):  # half-written or not ours: as if none
        return None
    if not isinstance(record, dict) or not _alive(record.get("pid")):
        return None
    if urllib.parse.urlsplit(str(record.get("url"))).port != urllib.parse.urlsplit(url).port:
        return None
    secret = record.get("secret")
    return secret if isinstance(secret, str) and secret and secret.isprintable() else None


def shown(url: str) -> str:
    return reading.shown_text(url, 80)


def _checked_url(url: str, raw: str) -> str:
    """The emulator URL if it is one: printable, bounded, on loopback, with a port (the key is
    recorded per port)."""
    if len(raw) > MAX_VALUE:
        raise WorkflowError(
            f"emulator URL {shown(url)}: longer than {MAX_VALUE:,} characters: not an emulator URL"
        )
    if not url.isprintable() or url != url.strip():
        raise WorkflowError(
            f"emulator URL {shown(url)}: spaces or control characters: not an emulator URL"
        )
    url = check_loopback(url)
    port = urllib.parse.urlsplit(url).port
    if not port:
        raise WorkflowError(
            f"emulator URL {shown(url)}: no port (http://127.0.0.1:PORT/, as `amlgen-emulator` "
            "prints it)"
        )
    return url


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
    url_part, marked, given = raw.partition(SECRET_MARK)
    url = _checked_url(url_part, raw)
    if marked and (not given or not given.isprintable() or given != given.strip()):
        what = "empty" if not given else "not a key (spaces or control characters)"
        raise WorkflowError(
            f"emulator connection string {shown(url)}{SECRET_MARK}...: the key is {what}"
        )
    # The record of a running emulator beats the variable, which may be left from an earlier one.
    secret = given or recorded_secret(url, env) or env.get(names.ENV_EMULATOR_SECRET)
    if not secret:
        raise WorkflowError(
            f"emulator at {url}: no key: none is recorded for it in {connection_dir(env)} "
            f"(is `amlgen-emulator` running there, as this user?); or set "
            f"{names.ENV_EMULATOR_SECRET}"
        )
    return url, secret

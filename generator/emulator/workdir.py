"""The emulator's temporary work folder (uploaded data files, scoring server folders).

Without a state file each emulator works in its own `amlgen-emulator-*` folder under the
system's temp folder, removed when it stops. A SIGKILL skips that, so each folder names its
owner (pid and process start time in `owner.json`) and every start first removes the folders
whose owner is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "amlgen-emulator-"
OWNER = "owner.json"
# A folder with no owner file yet is being created right now, unless it is older than this.
UNOWNED_GRACE_SECONDS = 60.0


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    now = _started(pid)
    return started is None or now is None or now == started


def _stale(folder: Path) -> bool:
    try:
        owner = json.loads((folder / OWNER).read_text(encoding="utf-8"))
        return not _alive(int(owner["pid"]), owner.get("started"))
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > UNOWNED_GRACE_SECONDS
        except OSError:
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return True  # an unreadable owner file is not a live emulator's


def sweep(parent: Path | None = None) -> list[Path]:
    """Remove the work folders of emulators that are gone; returns what was removed."""
    root = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = sorted(root.glob(PREFIX + "*"))
    except OSError:
        return removed
    for folder in candidates:
        if folder.is_dir() and not folder.is_symlink() and _stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed


def make_workdir() -> Path:
    """A new work folder owned by this process (after sweeping the stale ones)."""
    sweep()
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    pid = os.getpid()
    (folder / OWNER).write_text(
        json.dumps({"pid": pid, "started": _started(pid)}), encoding="utf-8"
    )
    return folder

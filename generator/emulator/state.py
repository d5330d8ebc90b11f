"""The emulator's state: plain JSON-able dicts behind one lock, optionally mirrored to a file.

Timed lifecycles (jobs, long-running operations) store wall-clock timestamps, so a state file
written by one server process means the same thing to the next one after a restart.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from .. import reading
from ..atomic import TMP_SUFFIX, sweep

# Lists every store keeps; the dict sections come from the route families (api.sections()).
MAX_STATE_BYTES = 256 * 1024 * 1024  # an emulator state file (a few MB after long sessions)
LOGS = ("requests", "faults_fired")


def empty(sections: tuple[str, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {name: {} for name in sections}
    for name in LOGS:
        data[name] = []
    return data


class Store:
    """State shared by every request thread; `save()` after each change keeps the file current."""

    def __init__(self, path: Path | None, sections: tuple[str, ...]) -> None:
        self.lock = threading.RLock()
        self.path = path
        self.sections = sections
        self.data = empty(sections)
        if path is not None:
            sweep(path.parent, path.name)  # temp files of a save that a SIGKILL cut short
        self.load()

    def load(self) -> None:
        """Read the state file if there is one (a restarted server continues where it stopped)."""
        if self.path is None or not self.path.exists():
            return
        from .errors import EmulatorError

        try:  # bounded, a regular file: a FIFO hung the start, /dev/zero took 22 GB
            raw = json.loads(reading.read_text(self.path, MAX_STATE_BYTES) or "{}")
        except reading.ReadRefused as exc:
            raise EmulatorError(
                f"{exc.where}: not a readable emulator state file: {exc.reason}"
            ) from None
        except (OSError, ValueError, RecursionError) as exc:
            raise EmulatorError(f"{self.path}: not a readable emulator state file: {exc}") from None
        if not isinstance(raw, dict):
            from .errors import EmulatorError

            raise EmulatorError(f"{self.path}: not an emulator state file (expected an object)")
        data = empty(self.sections)
        for key in data:
            if key in raw:
                data[key] = _checked(self.path, key, raw[key], type(data[key]))
        with self.lock:
            self.data = data

    def save(self) -> None:
        if self.path is None:
            return
        with self.lock:
            text = json.dumps(self.data, indent=1, sort_keys=True)
        # A unique temp name in atomic.py's pattern, so the next start sweeps one a kill left.
        tmp = self.path.with_name(
            f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}"
        )
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            snap = copy.deepcopy(self.data)
        snap["requests"] = [tuple(r) for r in snap["requests"]]
        return snap


def _checked(path: Path, key: str, value: Any, kind: type) -> Any:
    """A section read from the file must have its type (dict sections hold objects, logs hold
    lists of lists), or the server would fail on the first request that touches it."""
    from .errors import EmulatorError

    def name(t: type) -> str:
        return "an object" if t is dict else "a list"

    if not isinstance(value, kind):
        raise EmulatorError(
            f"{path}: section '{key}': expected {name(kind)}, found {type(value).__name__} "
            "(not an emulator state file)"
        )
    found: Any = value  # (isinstance with a `type` variable narrows to object)
    entries = list(found.items()) if kind is dict else list(enumerate(found))
    for item, entry in entries:
        if not isinstance(entry, kind):
            raise EmulatorError(
                f"{path}: section '{key}': entry {item!r}: expected {name(kind)}, "
                f"found {type(entry).__name__}"
            )
    return value

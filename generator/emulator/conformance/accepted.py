"""The reviewed list of accepted differences between the emulator and recorded Azure traffic.

Each entry names an operation, the difference's path (`*` matches any run of characters) and
why it cannot matter to amlgen; `recorded` narrows it to one recorded value or form. Anything
else in the file is refused with one line naming the entry.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .shape import Difference

KEYS = {"operation", "path", "reason", "recorded"}


class AcceptedError(Exception):
    """The accepted-differences file cannot be used (one line naming the entry)."""


@dataclass(frozen=True)
class Accepted:
    operation: str
    path: str
    reason: str
    recorded: Any = None
    has_recorded: bool = False

    def covers(self, operation: str, diff: Difference) -> bool:
        if not fnmatch.fnmatchcase(operation, self.operation):
            return False
        if not fnmatch.fnmatchcase(diff.path, self.path):
            return False
        return not self.has_recorded or diff.recorded == self.recorded

    def label(self) -> str:
        extra = f" (recorded {self.recorded!r})" if self.has_recorded else ""
        return f"{self.operation} {self.path}{extra}"


def load(path: Path) -> list[Accepted]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AcceptedError(f"{path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise AcceptedError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AcceptedError(f"{path}: expected a list of accepted differences")
    out: list[Accepted] = []
    for i, item in enumerate(raw, 1):
        where = f"{path}: entry {i}"
        if not isinstance(item, dict):
            raise AcceptedError(f"{where}: expected a mapping with operation, path, reason")
        unknown = set(item) - KEYS
        if unknown:
            allowed = ", ".join(sorted(KEYS))
            raise AcceptedError(f"{where}: unknown key {sorted(unknown)[0]!r} (allowed: {allowed})")
        for key in ("operation", "path", "reason"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise AcceptedError(f"{where}: {key}: required, a non-empty string")
        out.append(
            Accepted(
                item["operation"],
                item["path"],
                " ".join(item["reason"].split()),
                item.get("recorded"),
                "recorded" in item,
            )
        )
    return out


def match(entries: list[Accepted], operation: str, diff: Difference) -> Accepted | None:
    return next((a for a in entries if a.covers(operation, diff)), None)

"""What every flow command takes (`Options`) and gives back (`Outcome`).

Apart from the flow itself so that the commands, the Python API and the flow share one
definition of the options, and the flow's module stays about its steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Log = Callable[[str], None]


def _discard(line: str) -> None:
    """The library does not print: without a `log` callback, progress lines go nowhere."""


@dataclass
class Options:
    """What every command takes. The Python API functions accept the same names as keywords."""

    env: str = "dev"
    project_dir: Path | str = "."
    backend: str | None = None  # cli, or sdk against the emulator (choose_backend)
    assets: Path | str | None = None
    dry_run: bool = False
    emulator: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None
    keep_endpoint: bool = False
    stream: bool = False
    wait: bool = False
    timeout_minutes: float | None = None
    poll_seconds: float | None = None
    job: str | None = None
    log: Log = _discard
    status: Log | None = None  # transient progress (a terminal's one updating line); else log
    heartbeat_seconds: float | None = None  # default AMLGEN_HEARTBEAT_SECONDS, at most 30


@dataclass
class Outcome:
    """What a command did: the state after it, and its plan (dry run) or response (invoke)."""

    state: dict[str, Any]
    plan: list[str] = field(default_factory=list)
    response: str | None = None
    job_status: str | None = None
    message: str | None = None

"""`.amlgen/<env>/state.json`: what exists in Azure because of this tool, per environment.

Written atomically after every step (the flow resumes from it after a crash); it records names
and statuses only, never keys, tokens or subscription ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import names, reading
from .errors import WorkflowError
from .outputs import check_env_name
from .yamlio import write_atomic

MAX_STATE_BYTES = 4 * 1024 * 1024  # names and statuses: a few KB in practice


def state_dir(project_dir: Path | str, env: str) -> Path:
    """`.amlgen/<env>/`: the environment name may not climb out of it."""
    return Path(project_dir) / names.STATE_DIR / check_env_name(env)


class State:
    """The recorded sections (job, model, endpoint, deployment, invoke) of one environment."""

    def __init__(self, path: Path, dry_run: bool = False) -> None:
        self.path = path
        self.dry_run = dry_run
        self.data: dict[str, Any] = {}
        try:
            text = reading.current_text(path, MAX_STATE_BYTES)
        except reading.ReadRefused as exc:
            raise WorkflowError(f"{exc}: move it aside after checking what it is") from None
        if text is not None:
            try:
                loaded = json.loads(text)
            except (ValueError, RecursionError):
                raise WorkflowError(
                    f"{path}: not valid JSON: delete it after checking what it records"
                ) from None
            if isinstance(loaded, dict):
                self.data = loaded

    @classmethod
    def of(cls, project_dir: Path | str, env: str, dry_run: bool = False) -> State:
        return cls(state_dir(project_dir, env) / names.STATE_FILE, dry_run=dry_run)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    def update(self, section: str, /, **values: Any) -> None:
        merged = {**self.section(section), **values}
        self.data[section] = {k: v for k, v in merged.items() if v is not None}
        self.save()

    def drop(self, *sections: str) -> None:
        for name in sections:
            self.data.pop(name, None)
        self.save()

    def save(self) -> None:
        if self.dry_run:
            return
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")


def read_state(env: str = "dev", project_dir: Path | str = ".") -> dict[str, Any]:
    """The recorded state of one environment ({} when nothing ran yet)."""
    return State.of(project_dir, env).data

"""`.amlgen/<env>/state.json`: what exists in Azure because of this tool, per environment.

Written atomically after every step (the flow resumes from it after a crash); it records names
and statuses only, never keys, tokens or subscription ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import names
from .errors import WorkflowError
from .yamlio import write_atomic


def state_dir(project_dir: Path | str, env: str) -> Path:
    return Path(project_dir) / names.STATE_DIR / env


class State:
    """The recorded sections (job, model, endpoint, deployment, invoke) of one environment."""

    def __init__(self, path: Path, dry_run: bool = False) -> None:
        self.path = path
        self.dry_run = dry_run
        self.data: dict[str, Any] = {}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
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

    def finished_lines(self, env: str) -> tuple[str, str]:
        """What a finished run recorded, and how to start over (`run` says both)."""
        job, model, endpoint = self.section("job"), self.section("model"), self.section("endpoint")
        done = [f"job {job.get('name')} {job.get('status')}"]
        if model:
            done.append(f"model {model.get('name')}:{model.get('version')} registered")
        done.append("test request answered")
        if endpoint.get("status") in ("creating", "created"):
            done.append(f"endpoint {endpoint.get('name')} kept: `amlgen teardown` deletes it")
        elif endpoint:
            done.append(f"endpoint {endpoint.get('name')} {endpoint.get('status')}")
        return (
            f"nothing to do: every step is done ({', '.join(done)}; see `amlgen status`)",
            f"to start over: set a new registered_model.version in params/{env}.yaml and "
            f"`amlgen render --env {env}` (changed params start a new run)",
        )

    def save(self) -> None:
        if self.dry_run:
            return
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")


def read_state(env: str = "dev", project_dir: Path | str = ".") -> dict[str, Any]:
    """The recorded state of one environment ({} when nothing ran yet)."""
    return State.of(project_dir, env).data

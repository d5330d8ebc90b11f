"""`.amlgen/<env>/state.json`: what exists in Azure because of this tool, per environment.

Written atomically after every step (the flow resumes from it after a crash); it records names
and statuses only, never keys, tokens or subscription ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from . import names, reading
from .errors import WorkflowError
from .outputs import check_env_name, check_state_folder
from .yamlio import write_atomic

MAX_STATE_BYTES = 4 * 1024 * 1024  # names and statuses: a few KB in practice


def state_dir(project_dir: Path | str, env: str) -> Path:
    """`.amlgen/<env>/`: the environment name may not climb out of it, nor a symlink lead it
    into the project's other folders or a system one."""
    return check_state_folder(
        Path(project_dir) / names.STATE_DIR / check_env_name(env), project_dir
    )


MAX_VALUE = 4096  # a recorded name, status or link
# The names a command passes to the service and into file names: Azure's own (narrower) rules.
ONLINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")  # an endpoint, a deployment
ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")  # a job, a model, a subscription
ONLINE_SECTIONS = ("endpoint", "deployment")


def _odd_value(data: dict[str, Any]) -> str | None:
    """What in a state file's records amlgen never writes (`endpoint.name '../x': ...`), or
    None: a section's name that is not a name, a text that is not printable or too long."""
    for section, record in data.items():
        if not isinstance(record, dict):
            continue
        name = record.get("name")
        if name is not None:
            rule = ONLINE_NAME if section in ONLINE_SECTIONS else ASSET_NAME
            if not isinstance(name, str) or not rule.fullmatch(name):
                return f"{section}.name {reading.clip(name)}: not a resource name"
        for key, value in record.items():
            if isinstance(value, str) and (len(value) > MAX_VALUE or not value.isprintable()):
                return f"{section}.{key} {reading.clip(value)}: control characters or too long"
    return None


class State:
    """The recorded sections (job, model, endpoint, deployment, invoke) of one environment."""

    def __init__(self, path: Path, dry_run: bool = False) -> None:
        self.path = path
        self.dry_run = dry_run
        # A read-only command's records: None (the caller holds the environment), or a
        # context that holds it for a moment if it is free (True) or yields False.
        self.if_free: Callable[[], AbstractContextManager[bool]] | None = None
        self.data = self._read()

    def _read(self) -> dict[str, Any]:
        path = self.path
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
                problem = _odd_value(loaded)
                if problem:
                    raise WorkflowError(
                        f"{path}: {problem}: not what amlgen records; move the file aside after "
                        "checking what it records"
                    )
                return loaded
        return {}

    def reload(self) -> None:
        """Read the file again (after taking the environment's lock: it may have changed)."""
        self.data = self._read()

    @classmethod
    def of(cls, project_dir: Path | str, env: str, dry_run: bool = False) -> State:
        return cls(state_dir(project_dir, env) / names.STATE_FILE, dry_run=dry_run)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    def update(self, section: str, /, **values: Any) -> None:
        if self.if_free is not None and not self.dry_run:
            with self.if_free() as free:
                if free:  # merged into what is on disk now, under the lock
                    self.reload()
                    self._merge(section, values)
                    self.save()
            return
        self._merge(section, values)
        self.save()

    def _merge(self, section: str, values: dict[str, Any]) -> None:
        merged = {**self.section(section), **values}
        self.data[section] = {k: v for k, v in merged.items() if v is not None}

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

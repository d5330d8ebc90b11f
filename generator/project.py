"""Project-wide commands over params/ and azureml/: render (or check) environments with the
offline validation, and the params schema. They return what happened; the CLI prints it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import names
from .outputs import require_project
from .params import environments, schema_text
from .rendering import FileStatus, render_environments
from .yamlio import write_atomic

_CHECK_WORDS = {"created": "missing", "updated": "stale", "removed": "orphaned"}


@dataclass
class RenderOutcome:
    """Per-file statuses, the notes and validation warnings met on the way, and in check mode
    the unified diffs of what is stale."""

    files: list[FileStatus]
    check: bool
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(f.status == "unchanged" for f in self.files)

    def status_lines(self) -> list[str]:
        out = []
        for f in self.files:
            status = _CHECK_WORDS.get(f.status, f.status) if self.check else f.status
            out.append(f"{status:>9}  {f.path}")
        return out

    def diffs(self) -> str:
        return "".join(f.diff for f in self.files if f.status != "unchanged")


def render_project(
    env: str | None = None,
    *,
    all_envs: bool = False,
    project_dir: Path | str = ".",
    overrides: list[str] | tuple[str, ...] = (),
    out_root: str = names.OUTPUT_DIR,
    check: bool = False,
    validate: bool = True,
) -> RenderOutcome:
    """Render one environment (default dev) or all of them as one transaction; with `check`,
    write nothing and report what is stale. Validation errors raise; warnings become notes."""
    root = require_project(project_dir)
    envs = environments(root) if all_envs else ["dev" if env is None else env]
    notes: list[str] = []
    validator = None
    if validate:
        from .validation import validate_rendered

        def validator(files: dict[str, str], root: Path) -> None:
            notes.extend(w.text() for w in validate_rendered(files, root))

    files = render_environments(
        envs,
        root,
        overrides,
        out_root,
        check=check,
        all_envs=all_envs,
        log=notes.append,
        validate=validator,
    )
    return RenderOutcome(files=files, check=check, notes=notes)


def write_schema(project_dir: Path | str = ".") -> Path:
    """Write params/params.schema.json (editors read it for completion); returns its path."""
    path = require_project(project_dir) / names.SCHEMA_FILE
    write_atomic(path, schema_text())
    return path

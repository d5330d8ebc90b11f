"""amlgen: fine-tune and serve chat models on Azure ML from one parameters file, GitOps style.

Library first: every `amlgen` command is one call to a public function exported here, with the
same options as keywords; each returns a result and raises the project's errors (generator.errors)
and prints nothing. The functions live in their own modules and load on first use, so that
`import generator` (and `amlgen render`) stays fast.

Example:
    import generator
    generator.render_project(all_envs=True, check=True).clean
    generator.run("dev", backend="sdk", emulator="http://127.0.0.1:8765", log=print)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .commands import deploy as deploy
    from .commands import invoke as invoke
    from .commands import logs as logs
    from .commands import register as register
    from .commands import run as run
    from .commands import status as status
    from .commands import submit as submit
    from .commands import teardown as teardown
    from .data import prepare_data as prepare_data
    from .interrupts import exit_code_of as exit_code_of
    from .interrupts import install_sigterm as install_sigterm
    from .locking import lock as lock
    from .outputs import require_project as require_project
    from .params import schema_text as schema_text
    from .planner import plan as plan
    from .project import render_project as render_project
    from .project import write_schema as write_schema
    from .validation import format_report as format_report
    from .validation import validate_paths as validate_paths

# name -> the module that defines it (the one declaration of its signature)
_EXPORTS = {
    "deploy": "commands",
    "exit_code_of": "interrupts",
    "format_report": "validation",
    "install_sigterm": "interrupts",
    "invoke": "commands",
    "lock": "locking",
    "logs": "commands",
    "plan": "planner",
    "prepare_data": "data",
    "register": "commands",
    "render_project": "project",
    "require_project": "outputs",
    "run": "commands",
    "schema_text": "params",
    "status": "commands",
    "submit": "commands",
    "teardown": "commands",
    "validate_paths": "validation",
    "write_schema": "project",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'generator' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = ["__version__", *sorted(_EXPORTS)]

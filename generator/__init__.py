"""amlgen: fine-tune and serve chat models on Azure ML from one parameters file, GitOps style.

Library first: every CLI command is one call to a public function here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .params import Resolved


def load_params(env: str = "dev", project_dir: Any = ".", overrides: Any = ()) -> Resolved:
    """Load and resolve one environment's parameters (see generator.params.load_params)."""
    from .params import load_params as _load

    return _load(env, project_dir, overrides)


def render(params: Resolved, out_root: str = "azureml") -> dict[str, str]:
    """Render one environment's Azure ML YAML: {relative path: text}. Writes nothing."""
    from .render import render as _render

    return _render(params, out_root)


__all__ = ["__version__", "load_params", "render"]

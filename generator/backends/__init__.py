"""Submission backends: `cli` (shells out to `az ml`) and `sdk` (azure-ai-ml `MLClient`).

`base` holds what both share (assets, results, the Backend protocol); `az` and `mlclient` each
implement it; `make_backend` here is the one place that picks one, so nothing imports upward.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import WorkflowError
from ..workspace import Workspace
from .base import (
    LOG_CONTAINERS,
    SURVEYS,
    TERMINAL,
    Assets,
    Backend,
    JobInfo,
    ModelInfo,
    StepInfo,
    TransientError,
)
from .finetune import FinetuneAssets


def make_backend(kind: str, ws: Workspace, project_dir: Path, dry_run: bool = False) -> Backend:
    if kind == "cli":
        from .az import AzBackend

        return AzBackend(ws, project_dir, dry_run=dry_run)
    if kind == "sdk":
        from .mlclient import SdkBackend

        return SdkBackend(ws, project_dir, dry_run=dry_run)
    raise WorkflowError(f"--backend: {kind!r}: allowed: cli, sdk")


__all__ = [
    "LOG_CONTAINERS",
    "SURVEYS",
    "TERMINAL",
    "Assets",
    "Backend",
    "FinetuneAssets",
    "JobInfo",
    "ModelInfo",
    "StepInfo",
    "TransientError",
    "make_backend",
]

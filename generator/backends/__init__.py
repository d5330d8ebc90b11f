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

EMULATOR_SDK_NOTE = (
    "note: `az` is not installed: the sdk backend talks to the emulator "
    "(--backend cli needs the Azure CLI)"
)


def choose_backend(kind: str | None, ws: Workspace) -> tuple[str, str | None]:
    """The backend a command uses, and a note when it was picked for the user (`kind` None:
    not given): `cli` (`az ml`), except against the emulator without `az` installed, where
    the sdk backend needs nothing more."""
    if kind:
        return kind, None
    if ws.emulated and not _az_installed():
        return "sdk", EMULATOR_SDK_NOTE
    return "cli", None


def reading_backend(kind: str, ws: Workspace) -> str:
    """The backend that reads the live state for a dry run's plan (reads change nothing):
    `kind`, or the sdk one against the emulator when `az` is not installed."""
    if kind == "cli" and ws.emulated and not _az_installed():
        return "sdk"
    return kind


def _az_installed() -> bool:
    from .az import az_executable

    return az_executable() is not None


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
    "choose_backend",
    "make_backend",
    "reading_backend",
]

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
    "note: the local emulator is used through the sdk backend (the Azure CLI cannot reach it)"
)


def choose_backend(kind: str | None, ws: Workspace) -> tuple[str, str | None]:
    """The backend a command uses, and a note when it was picked for the user (`kind` None:
    not given): `cli` (`az ml`), except against the emulator, which the real Azure CLI cannot
    reach: there the sdk backend, unless an `az` that can (a stand-in) is named in AMLGEN_AZ."""
    if kind:
        return kind, None
    if ws.emulated and not _stand_in_az():
        return "sdk", EMULATOR_SDK_NOTE
    return "cli", None


def reading_backend(kind: str, ws: Workspace) -> str:
    """The backend that reads the live state for a dry run's plan (reads change nothing):
    `kind`, or the sdk one against the emulator when no stand-in `az` is named."""
    if kind == "cli" and ws.emulated and not _stand_in_az():
        return "sdk"
    return kind


def _stand_in_az() -> bool:
    from .az import stand_in_az

    return stand_in_az()


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

"""Submission backends: `cli` (shells out to `az ml`) and `sdk` (azure-ai-ml `MLClient`)."""

from __future__ import annotations

from .base import TERMINAL, Assets, Backend, JobInfo, ModelInfo, TransientError, make_backend

__all__ = [
    "TERMINAL",
    "Assets",
    "Backend",
    "JobInfo",
    "ModelInfo",
    "TransientError",
    "make_backend",
]

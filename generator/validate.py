"""Offline validation of Azure ML assets (placeholder until the validate issue lands)."""

from __future__ import annotations

from pathlib import Path


def validate_rendered(files: dict[str, str], root: Path) -> None:
    """Refuse to write rendered files that fail validation (no checks yet)."""
    return None

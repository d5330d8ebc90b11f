"""Shared fixtures. Golden files are refreshed only with an explicit `--update-goldens`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite tests/golden/ from the current output",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repo's params/ in a temp project folder (nothing else)."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    return tmp_path

"""Shared fixtures. Golden files are refreshed only with an explicit `--update-goldens`."""

from __future__ import annotations

import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# The SDK asks platform.processor() once per process, which runs `uname -p` the first time:
# asked here, so no test starts that process depending on the order tests run in.
platform.processor()


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """`make test-fast` (-m "not slow") stays fast only if the markers are right: a test that
    starts a process (a server, the stand-in az, amlgen itself) must be marked slow."""
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    original = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen[Any], args: Any, *more: Any, **kwargs: Any) -> None:
        pytest.fail(f"starts a process ({str(args)[:120]}) but is not marked slow", pytrace=False)

    subprocess.Popen.__init__ = refuse  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]

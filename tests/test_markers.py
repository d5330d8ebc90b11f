"""The slow marker is right (conftest.py guards it): a test that is not marked slow cannot start
a process, so `make test-fast` (-m "not slow") keeps servers, the SDK in subprocesses and the
end-to-end runs out."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_a_fast_test_cannot_start_a_process() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"starts a process .* but is not marked slow"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


@pytest.mark.slow
def test_a_slow_test_can() -> None:
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0

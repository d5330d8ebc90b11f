"""A dead writer's leftovers are removed even when its pid now belongs to another process
(pids wrap within minutes on a busy machine: the cause of a flaky crash-safety test), and a
live writer's are kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import atomic


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times: Linux")
def test_leftovers_of_a_reused_pid_are_swept_and_a_live_writers_kept(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        pid = stranger.pid
        old_stage = tmp_path / f".data.amlgen-stage-{pid}-0a1b2c3d"
        old_temp = tmp_path / f".state.json.{pid}-0a1b2c3d.amlgen-tmp"
        old_stage.mkdir()
        old_temp.write_text("{}")
        hour_ago = time.time() - 3600  # written before this pid's process started: another one
        for path in (old_stage, old_temp):
            os.utime(path, (hour_ago, hour_ago))
        live_stage = tmp_path / f".other.amlgen-stage-{pid}-4e5f6a7b"
        live_stage.mkdir()  # written now, while the process runs: its own
        removed = atomic.sweep(tmp_path)
        assert sorted(removed) == sorted([old_stage, old_temp])
        assert live_stage.is_dir()
    finally:
        stranger.kill()
        stranger.wait()
    assert atomic.sweep(tmp_path) == [live_stage]  # its writer is gone now

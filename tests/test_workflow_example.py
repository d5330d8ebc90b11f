"""The example workflow's pull-request job is green on a fresh copy of the project.

The steps are read from .github/workflows/amlgen.yml: `actions/checkout` is a fresh copy of the
tracked files (no prepared data, no state: what a clone holds), `actions/setup-python` is this
interpreter, and every `run:` step runs with bash in the copy. The copy's .venv links to this
test's installed amlgen (installing would need the network), marked installed after checkout as
`make install` leaves it, so `make check` does not reinstall.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from _flowkit import child_env

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "amlgen.yml"
EMULATED = {"actions/checkout", "actions/setup-python"}


def _pull_request_jobs() -> dict[str, Any]:
    """Jobs that run on a pull request with no repository variables set (the default)."""
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in on
    jobs = {}
    for name, job in doc["jobs"].items():
        cond = str(job.get("if", ""))
        if "vars." in cond or "schedule ==" in cond or "event_name == 'push'" in cond:
            continue
        if cond and "pull_request" not in cond and "!= 'schedule'" not in cond:
            continue
        jobs[name] = job
    return jobs


def _fresh_copy(dest: Path) -> None:
    """The tracked (and new, not ignored) files, as a clone of this work would hold them."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: a fresh copy cannot be told from local files")
    for rel in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _installed_venv(project: Path) -> None:
    bin_dir = project / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    real = Path(sys.executable).parent
    for tool in ("python", "amlgen", "pip"):
        if (real / tool).exists():
            (bin_dir / tool).symlink_to(real / tool)
    stamp = project / ".venv" / ".amlgen-installed"
    stamp.touch()
    newer = (project / "pyproject.toml").stat().st_mtime + 1
    os.utime(stamp, (newer, newer))


def _steps(job: dict[str, Any]) -> list[str]:
    runs = []
    for step in job["steps"]:
        if "uses" in step:
            action = step["uses"].split("@", 1)[0]
            assert action in EMULATED, f"a new action in the PR job ({action}): emulate it here"
        else:
            runs.append(step["run"])
    return runs


@pytest.mark.slow
def test_the_pull_request_job_passes_on_a_fresh_copy(tmp_path: Path) -> None:
    jobs = _pull_request_jobs()
    assert list(jobs) == ["check"]
    project = tmp_path / "clone"
    _fresh_copy(project)
    assert not list((project / "data").rglob("*.jsonl")), "prepared data is not committed"
    _installed_venv(project)
    runs = _steps(jobs["check"])
    assert any("validate --strict" in r for r in runs)
    env = {**child_env(), "HOME": str(tmp_path), "AMLGEN_TODAY": "2026-12-02"}
    for run in runs:
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", run],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{run}\n{done.stdout}\n{done.stderr}"
    # The environments a team submits from pass on their own too.
    done = subprocess.run(
        [".venv/bin/amlgen", "validate", "--strict", "azureml/dev", "azureml/prod"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors, 0 warnings" in done.stdout
    assert "amlgen data --env dev" in done.stdout  # said, as a note
    # What keeps the notebook environment green is its reviewed acknowledgement, nothing else.
    overlay = project / "params" / "notebook.yaml"
    text = overlay.read_text(encoding="utf-8")
    overlay.write_text(text.replace("  acknowledged_lifecycle: retired\n", ""), encoding="utf-8")
    strict = next(r for r in runs if "validate --strict" in r)
    done = subprocess.run(
        ["bash", "-c", strict], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "[cross.model-lifecycle]" in done.stdout, done.stdout

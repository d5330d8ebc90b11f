"""The README cannot drift from the tool: its first flow works in its order on a fresh copy, every
`az ml` command a dry run prints is documented, and a stale output block fails the check."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _flowkit import az_on_path, child_env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
AMLGEN = [sys.executable, "-m", "generator"]
SAMPLE = "samples/ultrachat_200k_sample"

sys.path.insert(0, str(ROOT / "scripts"))
import readme_blocks  # noqa: E402


def first_flow() -> list[str]:
    """The commands of the block after "Then, with your own workspace:", in order."""
    m = re.search(r"Then, with your own workspace:\n\n```sh\n(.*?)```", README, re.S)
    assert m, "README: the first flow block is gone"
    return [line.split("  #")[0].strip() for line in m.group(1).splitlines() if line.strip()]


def make_recipe(target: str) -> list[str]:
    """What `make <target>` runs, from the Makefile (so the test follows it, not a copy)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(rf"^{target}:.*\n\t(.+)$", text, re.M)
    assert m, f"Makefile: no {target} target"
    return shlex.split(m.group(1).replace("$(BIN)/amlgen", "amlgen"))


def fresh_copy(tmp: Path) -> Path:
    project = tmp / "project"
    for name in ("params", "azureml", "samples"):
        shutil.copytree(ROOT / name, project / name)
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("*.jsonl"))
    return project


def run(project: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_readme_first_flow_works_in_its_order_on_a_fresh_copy(tmp_path: Path) -> None:
    emulator = pytest.importorskip("generator.emulator")
    project = fresh_copy(tmp_path)
    before = {
        p.relative_to(project): p.read_bytes()
        for p in (project / "azureml").rglob("*.yml")
        if "job" not in p.name
    }
    with emulator.Emulator(job_seconds=0.5) as emu:
        env = child_env()
        env.update(AMLGEN_EMULATOR=emu.url, AMLGEN_EMULATOR_SECRET=emu.secret)
        env["PATH"] = f"{az_on_path(tmp_path)}{os.pathsep}{env['PATH']}"
        for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
            env.pop(name, None)
        steps = first_flow()
        assert [s.split()[0] for s in steps] == ["make", ".venv/bin/amlgen", "az"], steps
        for step in steps:
            argv = shlex.split(step)
            if argv[:2] == ["make", "render"]:
                argv = [*AMLGEN, *make_recipe("render")[1:]]
            elif argv[0] == ".venv/bin/amlgen":
                argv = [*AMLGEN, *argv[1:]]
                if argv[len(AMLGEN)] == "data":
                    argv += ["--source", SAMPLE]  # no dataset hub offline: the same layout, local
            done = run(project, argv, env)
            assert done.returncode == 0, f"{step}:\n{done.stderr}"
            assert "Traceback" not in done.stderr
        job = done.stdout.strip()
        assert job and job in emu.snapshot()["jobs"]  # `az ml job create` submitted the job
        # After data, the project is consistent with no other command.
        check = run(project, [*AMLGEN, "render", "--all", "--check"], env)
        assert check.returncode == 0, check.stderr + check.stdout
        dry = run(project, [*AMLGEN, "run", "--env", "dev", "--dry-run"], env)
        assert dry.returncode == 0, dry.stderr
        assert "az ml job create -f azureml/dev/pipeline-job.yml" in dry.stdout
    after = {p: (project / p).read_bytes() for p in before}
    assert after == before  # compute, model, endpoint, deployment: untouched by data


DRY_RUNS = [
    ["run", "--stream"],
    ["submit", "--wait", "--stream"],
    ["status", "--wait"],
    ["register"],
    ["deploy"],
    ["invoke"],
    ["teardown"],
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    project = fresh_copy(tmp_path_factory.mktemp("readme"))
    env = child_env()
    for name in list(env):
        if name.startswith(("AZURE_", "AZUREML_", "AMLGEN_")):
            env.pop(name)
    done = run(project, [*AMLGEN, "data", "--env", "dev", "--source", SAMPLE], env)
    assert done.returncode == 0, done.stderr
    return project, env


@pytest.mark.slow
@pytest.mark.parametrize("command", DRY_RUNS, ids=lambda c: c[0])
def test_every_az_command_a_dry_run_prints_is_in_the_readme(
    prepared: tuple[Path, dict[str, Any]], command: list[str]
) -> None:
    project, env = prepared
    done = run(project, [*AMLGEN, *command, "--env", "dev", "--dry-run"], env)
    assert done.returncode == 0, done.stderr
    verbs = {
        " ".join(line.split()[:4]) for line in done.stdout.splitlines() if line.startswith("az ml ")
    }
    assert verbs, done.stdout
    missing = sorted(v for v in verbs if v not in README)
    assert not missing, f"`amlgen {command[0]} --dry-run` prints {missing}: document them"


@pytest.mark.slow
def test_a_stale_output_block_is_found_and_rewritten() -> None:
    text = (
        "intro\n<!-- amlgen:output offline: schema -->\n```json\n{}\n```\n"
        "<!-- amlgen:output offline: render --env dev --check -->\n```\n```\ntail\n"
    )
    found = readme_blocks.blocks(text)
    assert [m["args"] for m, _ in found] == ["schema", "render --env dev --check"]
    new = readme_blocks.generate(text)  # the real commands, in a fresh copy of the project
    schema = (ROOT / "params" / "params.schema.json").read_text(encoding="utf-8")
    assert new == (
        "intro\n<!-- amlgen:output offline: schema -->\n```json\n"
        + schema
        + "```\n<!-- amlgen:output offline: render --env dev --check -->\n```\n```\ntail\n"
    )
    assert readme_blocks.generate(new) == new
    with pytest.raises(SystemExit, match="is open"):
        readme_blocks.blocks("<!-- amlgen:output offline: schema -->\n```\nnever closed\n")

"""The README cannot drift from the tool: its first flow works in its order on a fresh copy, every
`az ml` command a dry run prints is documented, and a stale output block fails the check."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _flowkit import az_on_path, child_env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = README + "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
AMLGEN = [sys.executable, "-m", "generator"]
SAMPLE = "samples/ultrachat_200k_sample"

sys.path.insert(0, str(ROOT / "scripts"))
import readme_blocks  # noqa: E402


def block_after(lead: str) -> list[str]:
    """The commands of the sh block that follows `lead` in the README, in order."""
    m = re.search(re.escape(lead) + r".*?\n\n```sh\n(.*?)```", README, re.S)
    assert m, f"README: the block after {lead!r} is gone"
    return [line.split("  #")[0].strip() for line in m.group(1).splitlines() if line.strip()]


def first_flow() -> list[str]:
    return block_after("so you can also submit it yourself:")


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
        stand_in = az_on_path(tmp_path)
        env["PATH"] = f"{stand_in}{os.pathsep}{env['PATH']}"
        env["AMLGEN_AZ"] = str(stand_in / "az")  # the az that reaches the emulator
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
def test_every_az_command_a_dry_run_prints_is_in_the_readme_or_docs(
    prepared: tuple[Path, dict[str, Any]], command: list[str]
) -> None:
    project, env = prepared
    done = run(project, [*AMLGEN, *command, "--env", "dev", "--dry-run"], env)
    assert done.returncode == 0, done.stderr
    verbs = {
        " ".join(line.split()[:4]) for line in done.stdout.splitlines() if line.startswith("az ml ")
    }
    assert verbs, done.stdout
    missing = sorted(v for v in verbs if v not in DOCS)
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


@pytest.mark.slow
def test_the_quick_start_rehearsal_works_as_written_from_another_shell(tmp_path: Path) -> None:
    """The README's first screen, as a newcomer follows it: `amlgen-emulator` in one shell, the
    URL it printed exported in another (no key, no az), then each command of the block."""
    steps = block_after("**Rehearse it yourself**")
    assert steps[0] == "amlgen-emulator", steps
    assert steps[1].startswith("export AMLGEN_EMULATOR="), steps
    assert [s.split()[0] for s in steps[2:]] == ["amlgen"] * (len(steps) - 2), steps
    assert any(s.startswith("amlgen run ") for s in steps) and any(
        s.startswith("amlgen plan ") for s in steps
    )
    project = fresh_copy(tmp_path)
    env = child_env()
    env["HOME"] = str(tmp_path / "home")
    bare = tmp_path / "bin"
    bare.mkdir()
    env["PATH"] = str(bare)  # a newcomer's machine: no az
    for name in list(env):
        if name.startswith(("AZURE_", "AZUREML_", "AMLGEN_", "XDG_RUNTIME_DIR")):
            env.pop(name)
    env["PYTHONUNBUFFERED"] = "1"
    shell_one = subprocess.Popen(
        [sys.executable, "-m", "generator.emulator"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert shell_one.stdout is not None
        printed = [shell_one.stdout.readline() for _ in range(3)]
        exported = [ln.strip() for ln in printed if ln.strip().startswith("export ")]
        assert exported, printed
        name, url = exported[0].removeprefix("export ").split("=", 1)
        assert name == "AMLGEN_EMULATOR" and "127.0.0.1" in url
        shell_two = {**env, name: url}
        for step in steps[2:]:
            done = run(project, [*AMLGEN, *shlex.split(step)[1:]], shell_two)
            assert done.returncode == 0, f"{step}:\n{done.stderr}"
            assert "Traceback" not in done.stderr and "error" not in done.stderr.lower(), step
        assert "deleted endpoint" in done.stderr  # the run tore its endpoint down
    finally:
        shell_one.send_signal(signal.SIGINT)
        try:
            shell_one.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            shell_one.kill()
            shell_one.communicate()


@pytest.mark.slow
def test_the_readme_python_example_runs_against_the_emulator(tmp_path: Path) -> None:
    """The "From Python" example, as written, in a fresh copy with the emulator as workspace."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    example = next(b for b in blocks if "import generator" in b)
    project = fresh_copy(tmp_path)
    emulator = pytest.importorskip("generator.emulator")
    env = child_env()
    for name in list(env):
        if name.startswith(("AZURE_", "AZUREML_", "AMLGEN_")):
            env.pop(name)
    done = run(project, [*AMLGEN, "data", "--env", "dev", "--source", SAMPLE], env)
    assert done.returncode == 0, done.stderr
    with emulator.Emulator(job_seconds=0.5) as emu:
        env.update(AMLGEN_EMULATOR=f"{emu.url}#secret={emu.secret}", AMLGEN_POLL_SECONDS="0.1")
        done = run(project, [sys.executable, "-c", example], env)
        assert done.returncode == 0, done.stderr
        assert emu.snapshot()["jobs"]  # the run submitted its job
    assert done.stdout.startswith("amlgen plan: env dev, backend sdk")
    assert "not a model" in done.stdout  # the emulator's stand-in answered the test request

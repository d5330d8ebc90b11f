"""The real `az ml` surface: every argv amlgen's dry runs print (both paths, every command) uses
only commands and options the az ml extension defines (tests/fake_az/az_surface.json, derived
from Azure/azure-cli-extensions at the commits it names), and the stand-in az refuses anything
else the way the real one does."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _flowkit import finetune_project, make_project
from click.testing import CliRunner

from generator.cli import cli

FAKE = Path(__file__).resolve().parent / "fake_az"
sys.path.insert(0, str(FAKE))
import az_surface  # noqa: E402

WS = ["--subscription", "12345678-1234-1234-1234-123456789abc", "-g", "rg", "-w", "ws"]
COMMANDS = ("run", "submit", "status", "register", "deploy", "invoke", "teardown")


def _amlgen(proj: Path, *args: str) -> Any:
    env = {
        "AMLGEN_EMULATOR": "",
        "AZURE_SUBSCRIPTION_ID": "",
        "AZURE_RESOURCE_GROUP": "",
        "AZUREML_WORKSPACE_NAME": "",
    }
    return CliRunner().invoke(cli, ["-C", str(proj), *args], env=env)


def _az_lines(output: str) -> list[list[str]]:
    """The az argument lists of a dry-run plan (notes after `  # ` dropped)."""
    out = []
    for line in output.splitlines():
        if line.startswith("az "):
            out.append(shlex.split(line.split("  # ", 1)[0])[1:])
    return out


def _dry_runs(proj: Path, env: str) -> list[list[str]]:
    argvs: list[list[str]] = []
    for command in COMMANDS:
        for extra in ([], ["--job", "job-1"] if command in ("status", "register") else []):
            result = _amlgen(proj, command, "--env", env, "--dry-run", *extra, *WS)
            assert result.exit_code == 0, (command, result.output)
            argvs += _az_lines(result.stdout)
    return argvs


@pytest.mark.parametrize("path", ["pipeline", "finetuning_job"])
def test_every_dry_run_argv_is_one_the_real_az_takes(tmp_path: Path, path: str) -> None:
    if path == "pipeline":
        proj, env = make_project(tmp_path / "proj"), "dev"
    else:
        proj, env = finetune_project(tmp_path), "serverless"
    argvs = _dry_runs(proj, env)
    assert len(argvs) > 10
    commands = set()
    for argv in argvs:
        try:
            command, args = az_surface.parse(argv)
        except az_surface.Refused as exc:
            raise AssertionError(f"`az {shlex.join(argv)}`: the real az says: {exc}") from None
        commands.add(command)
        if command == "ml workspace show":
            assert (args.name, args.resource_group) == ("ws", "rg"), argv
        elif command.startswith("ml ") and not getattr(args, "registry_name", None):
            assert args.workspace_name == "ws" and args.resource_group == "rg", argv
    wanted = {"ml job create", "ml job show", "ml model show"}
    if path == "pipeline":
        wanted |= {"ml online-endpoint update", "ml online-endpoint delete", "ml model create"}
    else:
        wanted |= {"ml serverless-endpoint delete", "ml workspace show", "resource show"}
    assert wanted <= commands


def test_a_wrong_flag_is_refused_as_az_refuses_it() -> None:
    """What a user's first run would have hit: options the real az lacks."""
    cases = [
        (["ml", "serverless-endpoint", "delete", "-n", "e", "--yes"], "--yes"),
        (["ml", "workspace", "show", "-w", "ws", "-o", "json"], "-w ws"),
        (["ml", "job", "create", "-f", "j.yml", "--wait"], "--wait"),
        (["ml", "model", "show", "-n", "m", "--versions", "1"], "--versions 1"),
    ]
    for argv, bad in cases:
        with pytest.raises(az_surface.Refused) as caught:
            az_surface.parse(argv)
        assert str(caught.value) == f"unrecognized arguments: {bad}"
        assert caught.value.exit_code == 2
    with pytest.raises(az_surface.Refused, match="'ml jobs create' is misspelled"):
        az_surface.parse(["ml", "jobs", "create", "-f", "x"])
    argv = ["ml", "online-endpoint", "update", "-n", "e", "--traffic", "d=100", "-o", "json"]
    command, args = az_surface.parse([*argv, "-g", "rg", "-w", "ws"])
    assert (command, args.traffic, args.output) == ("ml online-endpoint update", "d=100", "json")


@pytest.mark.slow
def test_the_stand_in_az_refuses_a_wrong_flag_with_exit_2(tmp_path: Path) -> None:
    argv = ["ml", "serverless-endpoint", "delete", "-n", "x", "--yes"]
    proc = subprocess.run(
        [sys.executable, str(FAKE / "az"), *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "ERROR: unrecognized arguments: --yes"


def test_the_table_names_its_sources_at_a_commit() -> None:
    table = json.loads((FAKE / "az_surface.json").read_text())
    files = table["sources"]["Azure/azure-cli-extensions"]
    assert "src/machinelearningservices/azext_mlv2/manual/commands.py" in files
    assert all(len(commit) == 40 for commit in files.values())


def _literal_commands(source: Path) -> set[str]:
    """Every `["ml", noun, verb, ...]` list in the source whose noun and verb are written out."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.List) or len(node.elts) < 3:
            continue
        head = [e.value if isinstance(e, ast.Constant) else None for e in node.elts[:3]]
        if head[0] == "ml" and isinstance(head[1], str) and isinstance(head[2], str):
            found.add(" ".join(head))  # type: ignore[arg-type]
    return found


def test_every_az_command_the_backend_builds_is_in_the_table() -> None:
    """The dry runs print the acting commands; the reads (quota, counts, logs, a failed step)
    are built in the same module and must be commands the real az has too."""
    source = Path(__file__).resolve().parents[1] / "generator" / "backends" / "az.py"
    built = _literal_commands(source)
    assert {"ml compute list-usage", "ml online-endpoint list", "ml job list"} <= built
    missing = sorted(c for c in built if c not in az_surface.TABLE["commands"])
    assert missing == [], f"not in az_surface.json (read the extension's _params): {missing}"

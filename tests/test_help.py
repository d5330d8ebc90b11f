"""Help and outputs (issue #23 item 6): every command's help has an `Example:` that parses as
that command; what a help text says about an option's default agrees with the option (click's
`[default: ...]`, the option's own text, the command's description); the flow commands' help
covers both fine-tune paths; the markdown plan has no empty diff block."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from _flowkit import FINETUNE_ENV, finetune_project
from click.testing import CliRunner

from generator.cli import cli
from generator.emulator.command import emulator as emulator_command
from generator.planning import CREATE, NO_CHANGE, Plan, ResourcePlan

PROGRAMS: dict[str, click.Command] = {"amlgen": cli, "amlgen-emulator": emulator_command}


def _commands() -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = [("amlgen", cli), ("amlgen-emulator", emulator_command)]
    assert isinstance(cli, click.Group)
    out += [(f"amlgen {name}", command) for name, command in sorted(cli.commands.items())]
    return out


COMMANDS = _commands()
IDS = [name for name, _ in COMMANDS]


def _help(name: str) -> str:
    program, *sub = name.split()
    result = CliRunner().invoke(PROGRAMS[program], [*sub, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def _parse(argv: list[str]) -> click.Command:
    """Parse an example's argv as its program would (options, choices, types), run nothing."""
    program, *args = argv
    root = PROGRAMS[program]
    ctx = root.make_context(program, list(args))
    if not isinstance(root, click.Group):
        return root
    name, command, rest = root.resolve_command(ctx, ctx.protected_args + ctx.args)
    assert command is not None and name is not None
    command.make_context(name, rest, parent=ctx)
    return command


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=IDS)
def test_every_help_has_an_example_that_parses_as_that_command(
    name: str, command: click.Command
) -> None:
    examples = re.findall(r"^\s*Example: (.+)$", _help(name), flags=re.M)
    assert examples, f"`{name} --help` has no Example:"
    for example in examples:
        parsed = [_parse(shlex.split(part.split(">")[0])) for part in example.split("&&")]
        if name.startswith("amlgen "):  # a command's example shows that command
            assert parsed[0] is command, f"{name}: the example runs another command: {example}"


def _statements(command: click.Command, option: click.Option) -> set[str]:
    """Every default a help text states for `option`."""
    found: set[str] = set()
    if option.show_default and option.default is not None and not option.is_flag:
        found.add(str(option.default))
    for text in (option.help or "",):
        found |= {m.strip() for m in re.findall(r"[(\[]default: ([^)\]]+)[)\]]", text)}
    described = " ".join((command.help or "").split())
    for flag in option.opts:
        pattern = rf"{re.escape(flag)}\b[^.;]*?\(default: ([^)]+)\)"
        found |= {m.strip() for m in re.findall(pattern, described)}
    return found


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=IDS)
def test_no_help_text_contradicts_an_options_default(name: str, command: click.Command) -> None:
    for param in command.params:
        if isinstance(param, click.Option):
            stated = _statements(command, param)
            assert len(stated) <= 1, f"{name} {param.opts[0]}: defaults stated: {sorted(stated)}"


def test_lock_env_says_what_it_does_when_left_out() -> None:
    text = _help("amlgen lock")
    assert "[default: dev]" not in text
    assert "only this environment's pins (default: every environment)" in " ".join(text.split())


@pytest.mark.parametrize("name", ["submit", "register", "deploy", "invoke", "teardown", "run"])
def test_the_flow_commands_help_covers_both_fine_tune_paths(name: str) -> None:
    text = " ".join(_help(f"amlgen {name}").split())
    assert re.search(r"finetuning|fine-tuning|serverless", text), text
    if name in ("submit", "register", "run"):
        assert "pipeline" in text


def test_a_note_without_changes_gets_no_diff_block() -> None:
    plan = Plan(
        env="dev",
        backend="sdk",
        resources=[
            ResourcePlan("model", "m:1", CREATE, "azureml/dev/model.yml", note="path: at run"),
            ResourcePlan("compute", "gpu", NO_CHANGE, "azureml/dev/compute.yml"),
        ],
    )
    text = plan.render("markdown")
    assert "```diff\n```" not in text and "```diff" not in text
    assert "**model m:1** (create)\n\npath: at run\n" in text


@pytest.mark.slow
@pytest.mark.parametrize("env", ["dev", FINETUNE_ENV])
def test_a_fresh_workspaces_markdown_plan_has_no_empty_block(tmp_path: Path, env: str) -> None:
    """The real plan of both paths, every resource read as absent (a fresh workspace)."""
    from generator.backends import Assets, FinetuneAssets
    from generator.params import load_params
    from generator.planning import make_plan

    proj = finetune_project(tmp_path)
    params = load_params(env, proj).params
    load = FinetuneAssets.load_job if params.method == "finetuning_job" else Assets.load
    assets = load(
        proj / "azureml" / env,
        proj,
        request_file=(proj / params.data.dir / "sample_score.json").resolve(),
        traffic_percent=params.deployment.traffic_percent,
    )
    text = make_plan(env, assets, lambda kind, name, **where: None, "sdk").render("markdown")
    assert "| + | `model " in text  # the model version is planned as created...
    assert "registered" in text or "registration" in text  # ...with its note
    assert not re.search(r"```diff\n```", text), text

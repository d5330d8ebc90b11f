"""The `amlgen` command line: parse options, call one library function, map errors.

Nothing else imports this module. Heavy libraries (azure.ai.ml, datasets) are imported inside
the library functions that need them, so `amlgen render` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import AmlgenError


class _Fail(click.ClickException):
    """One `error:` line per problem, exit code from the project's error."""

    def __init__(self, exc: AmlgenError):
        super().__init__(str(exc))
        self.exit_code = exc.exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        for line in self.message.splitlines() or ["failed"]:
            click.echo(f"error: {line}", err=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AmlgenError as exc:  # the one place project errors become CLI errors
            raise _Fail(exc) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _err(msg: str) -> None:
    click.echo(msg, err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="amlgen")
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Project folder holding params/, azureml/ and data/.",
)
@click.pass_context
def cli(ctx: click.Context, project_dir: Path) -> None:
    """Fine-tune and serve chat models on Azure ML from one parameters file.

    Example: amlgen render --all && amlgen validate
    """
    ctx.obj = {"project_dir": project_dir}


def _project(ctx: click.Context) -> Path:
    return Path(ctx.obj["project_dir"])


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a parameter, e.g. --set finetune.num_train_epochs=1 (repeatable).",
)
env_option = click.option("--env", default="dev", show_default=True, help="Environment overlay.")


# --- render / schema ---------------------------------------------------------------------------


@cli.command()
@click.option("--env", "env", default=None, help="Render one environment (default: dev).")
@click.option("--all", "all_envs", is_flag=True, help="Render every params/<env>.yaml.")
@click.option("--check", is_flag=True, help="Write nothing; show a diff and exit 1 if stale.")
@click.option(
    "--out",
    "out_root",
    default="azureml",
    show_default=True,
    help="Output folder, relative to the project.",
)
@click.option("--no-validate", is_flag=True, help="Skip the offline validation of the output.")
@set_option
@click.pass_context
def render(
    ctx: click.Context,
    env: str | None,
    all_envs: bool,
    check: bool,
    out_root: str,
    no_validate: bool,
    overrides: tuple[str, ...],
) -> None:
    """Render Azure ML CLI v2 YAML into azureml/<env>/.

    Example: amlgen render --all --check
    """
    from .params import environments
    from .render import render_environments, report

    root = _project(ctx)
    if all_envs and env:
        raise click.UsageError("use --env or --all, not both")
    envs = environments(root) if all_envs else [env or "dev"]
    validator = None
    if not no_validate:
        from .validate import validate_rendered

        validator = validate_rendered
    results = render_environments(
        envs,
        root,
        overrides,
        out_root,
        check=check,
        all_envs=all_envs,
        log=_err,
        validate=validator,
    )
    clean = report(results, check, _err)
    if check and not clean:
        _err("error: rendered files are stale: run `make render` (amlgen render --all) and commit")
        sys.exit(1)


@cli.command()
@click.option("--write", is_flag=True, help="Write params/params.schema.json instead of printing.")
@click.pass_context
def schema(ctx: click.Context, write: bool) -> None:
    """Print the JSON Schema of the params files (editors use it for completion).

    Example: amlgen schema > params/params.schema.json
    """
    from .params import schema_text
    from .yamlio import write_atomic

    text = schema_text()
    if write:
        write_atomic(_project(ctx) / "params" / "params.schema.json", text)
    else:
        click.echo(text, nl=False)


def main() -> None:
    cli(prog_name="amlgen")


if __name__ == "__main__":
    main()

"""The `amlgen` command line: parse options, call one library function, print what it returns.

Every command calls one public function of the package (`generator.<name>`); the project's
errors become one `error:` line each in `_Group.invoke`, the one place that maps them. Exit
codes: 0 ok, 1 error, 2 usage error, 130 Ctrl-C, 143 SIGTERM. Each option is declared once
below and shared by the commands that take it. Nothing imports this module.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import generator

from ..errors import AmlgenError
from ..version import __version__
from .options import (
    BACKEND,
    EMULATOR,
    ENV,
    JOB,
    KEEP_ENDPOINT,
    NO_PRICES,
    RESOURCE_GROUP,
    SET,
    STREAM,
    SUBSCRIPTION,
    TARGET,
    TARGET_KEYS,
    TIMEOUT,
    WAIT,
    WORKSPACE,
    console,
    env_option,
    options,
)

_console = console
_err = console.line


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
            _console.done()
            raise _Fail(exc) from None
        except KeyboardInterrupt as exc:
            _console.done()
            click.echo("interrupted", err=True)
            sys.exit(generator.exit_code_of(exc))
        except OSError as exc:  # a disk or permission failure no command foresaw: still one line
            _console.done()
            where = f" {exc.filename}" if exc.filename else ""
            failed = AmlgenError(f"cannot read or write{where}: {exc.strerror or exc}")
            raise _Fail(failed) from None


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="amlgen")
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Run as if started in DIR (the project folder holding params/, azureml/, data/).",
)
@click.pass_context
def cli(ctx: click.Context, project_dir: Path) -> None:
    """Fine-tune and serve chat models on Azure ML from one parameters file.

    Example: amlgen render --all && amlgen validate
    """
    generator.require_project(project_dir, params=False, flag="-C")
    ctx.obj = {"project_dir": project_dir}


def _project(ctx: click.Context) -> Path:
    return Path(ctx.find_root().obj["project_dir"])


# --- render / schema ---------------------------------------------------------------------------


@cli.command()
@ENV
@click.option("--all", "all_envs", is_flag=True, help="Render every params/<env>.yaml.")
@click.option("--check", is_flag=True, help="Write nothing; show a diff and exit 1 if stale.")
@click.option(
    "--out", "out_root", default="azureml", show_default=True, help="Output folder (relative)."
)
@click.option("--no-validate", is_flag=True, help="Skip the offline validation of the output.")
@SET
@click.pass_context
def render(
    ctx: click.Context,
    env: str,
    all_envs: bool,
    check: bool,
    out_root: str,
    no_validate: bool,
    overrides: tuple[str, ...],
) -> None:
    """Render Azure ML CLI v2 YAML into azureml/<env>/ (one environment, or --all).

    Example: amlgen render --all --check
    """
    if all_envs and _given(ctx, "env"):
        raise click.UsageError("use --env or --all, not both")
    outcome = generator.render_project(
        env,
        all_envs=all_envs,
        project_dir=_project(ctx),
        overrides=overrides,
        out_root=out_root,
        check=check,
        validate=not no_validate,
    )
    for line in [*outcome.notes, *outcome.status_lines()]:
        _err(line)
    if check and not outcome.clean:
        click.echo(outcome.diffs(), nl=False)
        _err("error: rendered files are stale: run `make render` (amlgen render --all) and commit")
        sys.exit(1)


@cli.command()
@click.option("--write", is_flag=True, help="Write params/params.schema.json instead of printing.")
@click.pass_context
def schema(ctx: click.Context, write: bool) -> None:
    """Print the JSON Schema of the params files (editors use it for completion).

    Example: amlgen schema > params/params.schema.json
    """
    if write:
        _err(f"wrote {generator.write_schema(_project(ctx))}")
    else:
        click.echo(generator.schema_text(), nl=False)


# --- the Azure ML flow: submit / status / register / deploy / invoke / teardown / run ----------


def _flow(ctx: click.Context, command: Callable[..., Any], options: dict[str, Any]) -> None:
    """Call one flow command with the shared target options, then print its plan or response."""
    target = {key: options.pop(key) for key in TARGET_KEYS}
    env = options.pop("env")
    outcome = command(env, project_dir=_project(ctx), **target, **_console.target(), **options)
    _console.done()
    if target["dry_run"]:
        for line in outcome.plan:
            click.echo(line)
    elif outcome.response is not None:
        click.echo(outcome.response)


@cli.command()
@options(*TARGET, WAIT, STREAM, TIMEOUT)
@click.pass_context
def submit(ctx: click.Context, **options: Any) -> None:
    """Pre-flight checks, then submit the job of azureml/<env>/.

    That is pipeline-job.yml (method: pipeline), or finetuning-job.yml (method: finetuning_job,
    its data paths set at submission).

    Example: amlgen submit --env dev --backend cli --dry-run
    """
    _flow(ctx, generator.submit, options)


@cli.command()
@options(*TARGET, JOB, WAIT, STREAM, TIMEOUT)
@click.pass_context
def status(ctx: click.Context, **options: Any) -> None:
    """Show the job's live status (and wait for it with --wait; no job to wait for is an error).

    Example: amlgen status --env dev --wait
    """
    _flow(ctx, generator.status, options)


@cli.command()
@options(*TARGET, JOB)
@click.pass_context
def register(ctx: click.Context, **options: Any) -> None:
    """Register the fine-tuned model from the completed job, and record it.

    The pipeline path registers model.yml from the job's output; a fine-tuning job registered
    its model itself (outputs.registered_model): it is found, checked and recorded.

    Example: amlgen register --env dev --backend sdk
    """
    _flow(ctx, generator.register, options)


@cli.command()
@options(*TARGET, KEEP_ENDPOINT)
@click.pass_context
def deploy(ctx: click.Context, **options: Any) -> None:
    """Create or update the endpoint that serves the model.

    An online endpoint and deployment, then the traffic (pipeline, or a fine-tuning job on
    managed compute); a serverless endpoint for a serverless fine-tuning job.

    Example: amlgen deploy --env dev --dry-run
    """
    _flow(ctx, generator.deploy, options)


@cli.command()
@options(*TARGET)
@click.pass_context
def invoke(ctx: click.Context, **options: Any) -> None:
    """Send data/<...>/sample_score.json to the endpoint; print and save the response.

    An online deployment gets it as its scoring request; a serverless endpoint as a
    chat-completions call (its keys stay in memory).

    Example: amlgen invoke --env dev
    """
    _flow(ctx, generator.invoke, options)


@cli.command()
@options(*TARGET)
@click.pass_context
def teardown(ctx: click.Context, **options: Any) -> None:
    """Delete the endpoint the state records: online or serverless, both bill until deleted.

    Example: amlgen teardown --env serverless
    """
    _flow(ctx, generator.teardown, options)


@cli.command()
@options(*TARGET, KEEP_ENDPOINT, STREAM, TIMEOUT)
@click.pass_context
def run(ctx: click.Context, **options: Any) -> None:
    """Every step in order, resuming from .amlgen/<env>/state.json; teardown at the end.

    submit, wait, register, deploy, invoke, teardown; on either fine-tune path (method:
    pipeline or finetuning_job). After a completed run it says there is nothing to do.

    Example: amlgen run --env dev --backend sdk
    """
    _flow(ctx, generator.run, options)


@cli.command("logs")
@options(*TARGET)
@click.option(
    "--live",
    is_flag=True,
    help="Fetch the logs from the service now (default: the ones saved when it failed).",
)
@click.pass_context
def logs_command(ctx: click.Context, **options: Any) -> None:
    """Print the deployment's container logs (inference-server and storage-initializer).

    Without --live: the logs saved under .amlgen/<env>/logs/ when the deployment failed, or
    the live ones when none are saved. Keys, tokens and subscription ids are masked.

    Example: amlgen logs --env dev --live --backend sdk
    """
    _flow(ctx, generator.logs, options)


# --- plan (issue #12): what applying would change, and drift -----------------------------------


@cli.command("plan")
@options(ENV, BACKEND)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for people, json for machines, markdown for a pull-request comment.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would change, 2 when something would, 1 on errors.",
)
@options(SET, EMULATOR, SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE, NO_PRICES)
@click.pass_context
def plan_command(
    ctx: click.Context,
    fmt: str,
    detailed_exitcode: bool,
    overrides: tuple[str, ...],
    no_prices: bool,
    **opts: Any,
) -> None:
    """Show what applying azureml/<env>/ would change in the workspace, and drift.

    Per resource: create, update (old -> new, marked drift when changed outside amlgen),
    no change, or cannot update (and what to do instead). Changes nothing. With --set, the
    params rendered with the override are planned, as `render --set` would write them.
    Then what it costs: per resource and in total, per hour of what stays up (and the change
    against what runs now) and the job's ceiling, with the budget (docs/cost.md).

    Example: amlgen plan --env dev --detailed-exitcode --format markdown
    """
    result = generator.plan(
        project_dir=_project(ctx), overrides=overrides, prices=not no_prices, log=_err, **opts
    )
    click.echo(result.render(fmt), nl=False)
    if detailed_exitcode:
        sys.exit(result.exit_code)


# --- validate ----------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format (json for machines).",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option(
    "--online",
    is_flag=True,
    help="Also check against the live `azureml` registry (needs credentials, or the emulator).",
)
@EMULATOR
@click.pass_context
def validate(
    ctx: click.Context,
    paths: tuple[Path, ...],
    fmt: str,
    strict: bool,
    online: bool,
    emulator: str | None,
) -> None:
    """Validate Azure ML YAML files or folders (default: params + every rendered env).

    A folder is one asset set, checked across its files. Exit 1 on errors (or warnings with
    --strict).

    Example: amlgen validate azureml/dev --strict
    """
    report = generator.validate_paths(
        list(paths), project_dir=_project(ctx), online=online, emulator=emulator
    )
    click.echo(generator.format_report(report, fmt), nl=False)
    if report.failed(strict):
        why = "warnings (--strict)" if not report.errors else "errors"
        _err(f"error: validation failed with {why}: {report.summary()}")
        sys.exit(1)


# --- data ----------------------------------------------------------------------------------------


@cli.command("data")
@ENV
@click.option(
    "--source",
    default=None,
    metavar="HUB_ID_OR_DIR",
    help="Hub dataset id or local folder in the hub layout (default: data.source).",
)
@click.option(
    "--split-percent",
    type=float,
    default=None,
    metavar="P",
    help="Percentage of each split, in (0, 100] (default: data.split_percent).",
)
@click.option(
    "--sample",
    type=click.Choice(["first", "random"]),
    default=None,
    help="first: exactly split[:P%] as the seed takes it; random: a seeded sample.",
)
@click.option("--seed", type=int, default=None, help="Seed of the random sample and test row.")
@click.option(
    "--out", default=None, metavar="DIR", help="Output folder, relative to the project (data.dir)."
)
@click.option(
    "--on-invalid",
    type=click.Choice(["drop", "fail"]),
    default=None,
    help="Drop rows the service would reject and count them, or fail on the first.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars on stderr (default: when stderr is a terminal).",
)
@SET
@click.pass_context
def data(
    ctx: click.Context,
    env: str,
    source: str | None,
    split_percent: float | None,
    sample: str | None,
    seed: int | None,
    out: str | None,
    on_invalid: str | None,
    progress: bool | None,
    overrides: tuple[str, ...],
) -> None:
    """Prepare the JSONL splits, sample_score.json and manifest.json from a chat dataset.

    Streams every split, drops (or fails on) rows the fine-tuning service would reject, and
    writes all files atomically; the same inputs always give byte-identical files.

    Example: amlgen data --source samples/ultrachat_200k_sample --split-percent 50
    """
    report = generator.prepare_data(
        env,
        _project(ctx),
        overrides,
        source=source,
        split_percent=split_percent,
        sample=sample,
        seed=seed,
        out=out,
        on_invalid=on_invalid,
        progress=_console.live if progress is None else progress,
    )
    for line in report.summary():
        _err(line)


@cli.command("lock")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: ask the live registry what changed since the lock; exit 1 if a change "
    "breaks a job.",
)
@env_option(None, "With --check: only this environment's pins (default: every environment).")
@EMULATOR
@click.option(
    "--seed", is_flag=True, help="Write the lock from the bundled catalog (no registry access)."
)
@NO_PRICES
@click.pass_context
def lock_command(
    ctx: click.Context,
    check: bool,
    env: str | None,
    emulator: str | None,
    seed: bool,
    no_prices: bool,
) -> None:
    """Pin what the registry says about the pinned component and models in params/registry.lock.

    Offline commands (render, validate) read the lock; commit it and review its diffs. The lock
    covers every environment; --check --env ENV checks one environment's pins. It also records
    the price per hour of each VM size the environments use in their budget.region (Azure
    Retail Prices API; --no-prices skips them); --check notes a changed price.

    Example: amlgen lock --check --env dev
    """
    result = generator.lock(
        _project(ctx),
        check=check,
        env=env,
        emulator=emulator,
        seed=seed,
        prices=not no_prices,
    )
    for line in result.messages:
        _err(line)
    for change in result.changes:
        click.echo(change.text())
    _err(result.summary())
    if result.breaking:
        sys.exit(1)


def main() -> None:
    generator.install_sigterm()
    cli(prog_name="amlgen")


if __name__ == "__main__":
    main()

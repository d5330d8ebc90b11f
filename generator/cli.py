"""The `amlgen` command line: parse options, call one library function, map errors.

Nothing else imports this module. Heavy libraries (azure.ai.ml, datasets) are imported inside
the library functions that need them, so `amlgen render` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import names
from .errors import AmlgenError
from .version import __version__


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
    help="Run as if started in DIR (the project folder holding params/, azureml/, data/).",
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
    default=names.OUTPUT_DIR,
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
    from .rendering import render_environments, report

    root = _project(ctx)
    if all_envs and env is not None:
        raise click.UsageError("use --env or --all, not both")
    envs = environments(root) if all_envs else ["dev" if env is None else env]
    validator = None
    if not no_validate:
        from .validation import validate_rendered

        def validator(files: dict[str, str], root: Path) -> None:
            for warning in validate_rendered(files, root):
                _err(warning.text())

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


# --- the Azure ML flow: submit / status / register / deploy / invoke / teardown / run ----------


def _flow_options(func: Any) -> Any:
    """Options every flow command shares (workspace, backend, emulator, dry run)."""
    options = [
        click.option("--env", default="dev", show_default=True, help="Environment overlay."),
        click.option(
            "--backend",
            type=click.Choice(["cli", "sdk"]),
            default="cli",
            show_default=True,
            help="`az ml` (your az login) or the azure-ai-ml SDK (DefaultAzureCredential).",
        ),
        click.option("--dry-run", is_flag=True, help="Print the exact plan; change nothing."),
        click.option(
            "--assets",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Folder of rendered YAML (default: azureml/<env>).",
        ),
        click.option(
            "--emulator",
            metavar="URL",
            default=None,
            help="Use the local emulator at URL (or set AMLGEN_EMULATOR).",
        ),
        click.option(
            "--subscription",
            "subscription_id",
            default=None,
            metavar="ID",
            help="Subscription (else AZURE_SUBSCRIPTION_ID, config.json, az defaults).",
        ),
        click.option("-g", "--resource-group", default=None, help="Resource group."),
        click.option("-w", "--workspace", "workspace_name", default=None, help="Workspace name."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _flow_call(ctx: click.Context, command: str, **options: Any) -> Any:
    from . import workflow

    outcome = getattr(workflow, command)(project_dir=_project(ctx), log=_err, **options)
    for line in outcome.plan if options.get("dry_run") else []:
        click.echo(line)
    if outcome.response is not None and not options.get("dry_run"):
        click.echo(outcome.response)
    return outcome


@cli.command()
@_flow_options
@click.option("--wait", is_flag=True, help="Wait until the job ends (only Completed succeeds).")
@click.option("--stream", is_flag=True, help="With --wait: show the job's logs first.")
@click.pass_context
def submit(ctx: click.Context, **options: Any) -> None:
    """Pre-flight checks, then submit azureml/<env>/pipeline-job.yml.

    Example: amlgen submit --env dev --backend cli --dry-run
    """
    _flow_call(ctx, "submit", **options)


@cli.command()
@_flow_options
@click.option("--job", default=None, help="Job name (default: the recorded one).")
@click.option("--wait", is_flag=True, help="Poll until the job ends.")
@click.option("--stream", is_flag=True, help="With --wait: show the job's logs first.")
@click.option(
    "--timeout",
    "timeout_minutes",
    type=float,
    default=None,
    help="Minutes to wait (default: job.timeout_minutes).",
)
@click.pass_context
def status(ctx: click.Context, **options: Any) -> None:
    """Show the job's live status (and wait for it with --wait).

    Example: amlgen status --env dev --wait
    """
    _flow_call(ctx, "status", **options)


@cli.command()
@_flow_options
@click.option("--job", default=None, help="Completed job to register from (default: recorded).")
@click.pass_context
def register(ctx: click.Context, **options: Any) -> None:
    """Register the fine-tuned model from the completed job (model.yml).

    Example: amlgen register --env dev --backend sdk
    """
    _flow_call(ctx, "register", **options)


@cli.command()
@_flow_options
@click.option("--keep-endpoint", is_flag=True, help="Do not delete the endpoint if this fails.")
@click.pass_context
def deploy(ctx: click.Context, **options: Any) -> None:
    """Create or update the endpoint and deployment, then route the traffic.

    Example: amlgen deploy --env dev --dry-run
    """
    _flow_call(ctx, "deploy", **options)


@cli.command()
@_flow_options
@click.pass_context
def invoke(ctx: click.Context, **options: Any) -> None:
    """Send data/<...>/sample_score.json to the deployment; print and save the response.

    Example: amlgen invoke --env dev
    """
    _flow_call(ctx, "invoke", **options)


@cli.command()
@_flow_options
@click.pass_context
def teardown(ctx: click.Context, **options: Any) -> None:
    """Delete the online endpoint the state records (it bills until deleted).

    Example: amlgen teardown --env dev
    """
    _flow_call(ctx, "teardown", **options)


@cli.command()
@_flow_options
@click.option("--keep-endpoint", is_flag=True, help="Leave the endpoint running at the end.")
@click.option("--stream", is_flag=True, help="Show the job's logs while it runs.")
@click.option(
    "--timeout",
    "timeout_minutes",
    type=float,
    default=None,
    help="Minutes to wait for the job (default: job.timeout_minutes).",
)
@click.pass_context
def run(ctx: click.Context, **options: Any) -> None:
    """Every step in order, resuming from .amlgen/<env>/state.json; teardown at the end.

    Example: amlgen run --env dev --backend sdk
    """
    _flow_call(ctx, "run", **options)


# --- plan (issue #12): what applying would change, and drift -----------------------------------


@cli.command("plan")
@click.option("--env", default="dev", show_default=True, help="Environment overlay.")
@click.option(
    "--backend",
    type=click.Choice(["cli", "sdk"]),
    default="cli",
    show_default=True,
    help="Read with `az ml ... show` or the azure-ai-ml SDK's get().",
)
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
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Plan the params rendered with this override (repeatable), as `render --set` would.",
)
@click.option(
    "--emulator",
    metavar="URL",
    default=None,
    help="Use the local emulator at URL (or set AMLGEN_EMULATOR).",
)
@click.option("--subscription", "subscription_id", default=None, metavar="ID", help="Subscription.")
@click.option("-g", "--resource-group", default=None, help="Resource group.")
@click.option("-w", "--workspace", "workspace_name", default=None, help="Workspace name.")
@click.pass_context
def plan_command(
    ctx: click.Context, fmt: str, detailed_exitcode: bool, overrides: tuple[str, ...], **opts: Any
) -> None:
    """Show what applying azureml/<env>/ would change in the workspace, and drift.

    Per resource: create, update (old -> new, marked drift when changed outside amlgen),
    no change, or cannot update (and what to do instead). Changes nothing.

    Example: amlgen plan --env dev --detailed-exitcode --format markdown
    """
    from . import plan

    result = plan(project_dir=_project(ctx), overrides=overrides, **opts)
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
@click.option(
    "--emulator",
    metavar="URL",
    default=None,
    help="With --online: ask the local emulator at URL (or set AMLGEN_EMULATOR).",
)
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
    from .errors import ValidationFailed
    from .validation import format_json, format_text, validate_paths

    report = validate_paths(
        list(paths), project_dir=_project(ctx), online=online, emulator=emulator
    )
    click.echo(format_json(report) if fmt == "json" else format_text(report), nl=False)
    if report.failed(strict):
        why = "warnings (--strict)" if not report.errors else "errors"
        raise ValidationFailed(f"validation failed with {why}: {report.summary()}")


# --- emulator ----------------------------------------------------------------------------------


class _Number(click.ParamType):
    """A number whose bad value is one `error:` line, as the emulator's range checks are."""

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind
        self.name = "integer" if kind is int else "float"  # click's names: same --help

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind) and not isinstance(value, bool):
            return value
        try:
            return self.kind(value)
        except ValueError:
            flag = param.opts[0] if param is not None else "value"
            what = "a whole number" if self.kind is int else "a number"
            raise AmlgenError(f"{flag} {value}: must be {what}") from None


@cli.command()
@click.option(
    "--port", type=_Number(int), default=0, show_default=True, help="Port (0 picks a free one)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Bind address: loopback only, anything else is refused.",
)
@click.option(
    "--faults",
    "faults_file",
    type=click.Path(path_type=Path),  # a folder is the emulator's one-line error
    default=None,
    help="YAML/JSON list of fault rules to inject.",
)
@click.option(
    "--job-seconds",
    type=_Number(float),
    default=2.0,
    show_default=True,
    help="How long an emulated job takes from NotStarted to Completed.",
)
@click.option(
    "--deploy-seconds",
    type=_Number(float),
    default=None,
    help="Minimum deployment provisioning time (default: --job-seconds).",
)
@click.option(
    "--state-file",
    type=click.Path(path_type=Path),  # a folder is the emulator's one-line error
    default=None,
    help="Keep the state in this JSON file (survives restarts).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each request (method, path, status).")
def emulator(
    port: int,
    host: str,
    faults_file: Path | None,
    job_seconds: float,
    deploy_seconds: float | None,
    state_file: Path | None,
    verbose: bool,
) -> None:
    """Run the local Azure ML emulator in the foreground (Ctrl-C stops).

    Prints the two `export` lines that make every command (and both backends) use it.

    Example: amlgen emulator --port 8765 --job-seconds 5
    """
    import os

    from .emulator import ENV_SECRET, run_foreground

    run_foreground(
        port,
        faults_file,
        job_seconds,
        state_file,
        host=host,
        deploy_seconds=deploy_seconds,
        secret=os.environ.get(ENV_SECRET) or None,
        verbose=verbose,
        echo=click.echo,
        log=_err,
    )


# --- data ----------------------------------------------------------------------------------------


@cli.command("data")
@env_option
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
@set_option
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
    writes all files atomically, together with the job files that read them (their amlgen.data
    tag); the same inputs always give byte-identical files.

    Example: amlgen data --source samples/ultrachat_200k_sample --split-percent 50
    """
    from .data import prepare_data

    report = prepare_data(
        env,
        _project(ctx),
        overrides,
        source=source,
        split_percent=split_percent,
        sample=sample,
        seed=seed,
        out=out,
        on_invalid=on_invalid,
        progress=sys.stderr.isatty() if progress is None else progress,
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
@click.option("--env", default=None, help="With --check: only this environment's pins.")
@click.option(
    "--emulator",
    metavar="URL",
    default=None,
    help="Ask the local emulator's registry at URL (or set AMLGEN_EMULATOR).",
)
@click.option(
    "--seed", is_flag=True, help="Write the lock from the bundled catalog (no registry access)."
)
@click.pass_context
def lock_command(
    ctx: click.Context, check: bool, env: str | None, emulator: str | None, seed: bool
) -> None:
    """Pin what the registry says about the pinned component and models in params/registry.lock.

    Offline commands (render, validate) read the lock; commit it and review its diffs.

    Example: amlgen lock --check --env dev
    """
    from . import lock

    result = lock(_project(ctx), check=check, env=env, emulator=emulator, seed=seed)
    for change in result.changes:
        click.echo(change.text())
    _err(result.summary())
    if result.breaking:
        sys.exit(1)


def main() -> None:
    cli(prog_name="amlgen")


if __name__ == "__main__":
    main()

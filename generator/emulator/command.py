"""The emulator's own command line, `python -m generator.emulator` (what `amlgen-emulator` runs:
the product starts the emulator as a process and never imports it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import AmlgenError
from ..workspace import ENV_EMULATOR_SECRET


class Number(click.ParamType):
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


class _Command(click.Command):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except AmlgenError as exc:  # one `error:` line each, exit 1, as every amlgen command
            for line in str(exc).splitlines() or ["failed"]:
                click.echo(f"error: {line}", err=True)
            sys.exit(exc.exit_code)


@click.command(cls=_Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--port", type=Number(int), default=0, show_default=True, help="Port (0 picks a free one)."
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
    type=Number(float),
    default=2.0,
    show_default=True,
    help="How long an emulated job takes from NotStarted to Completed.",
)
@click.option(
    "--deploy-seconds",
    type=Number(float),
    default=None,
    help="Minimum deployment provisioning time (default: --job-seconds).",
)
@click.option(
    "--state-file",
    type=click.Path(path_type=Path),  # a folder is the emulator's one-line error
    default=None,
    help="Keep the state in this JSON file (survives restarts).",
)
@click.option(
    "--region",
    default="eastus2",
    show_default=True,
    help="The workspace's Azure region (what quota, VM sizes and serverless offers follow).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each request (method, path, status).")
def emulator(
    port: int,
    host: str,
    faults_file: Path | None,
    job_seconds: float,
    deploy_seconds: float | None,
    state_file: Path | None,
    region: str,
    verbose: bool,
) -> None:
    """Run the local Azure ML emulator in the foreground (Ctrl-C stops).

    Prints its URL and the `export AMLGEN_EMULATOR=URL` line that makes every command in any
    shell use it; its key goes to a file only you can read, never to the terminal.

    Example: amlgen-emulator --port 8765 --job-seconds 5 --region westeurope
    """
    from .server import run_foreground

    run_foreground(
        port,
        faults_file,
        job_seconds,
        state_file,
        host=host,
        deploy_seconds=deploy_seconds,
        secret=os.environ.get(ENV_EMULATOR_SECRET) or None,
        verbose=verbose,
        region=region,
        echo=click.echo,
        log=lambda line: click.echo(line, err=True),
    )


def main() -> None:
    emulator(prog_name="amlgen-emulator")

"""The command line's shared parts: every option declared once, and the console that shows
progress (one updating line on a terminal, plain lines in CI logs)."""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class Console:
    """Progress on stderr: on a terminal one updating status line; elsewhere (CI logs) plain
    lines. Lines may come from the heartbeat thread, so writes are serialised."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.showing = False

    @property
    def live(self) -> bool:
        return sys.stderr.isatty() and not os.environ.get("CI")

    def line(self, text: str) -> None:
        with self.lock:
            if self.showing:
                sys.stderr.write("\r\x1b[K")
                self.showing = False
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def status(self, text: str) -> None:
        with self.lock:
            width = max(os.get_terminal_size(sys.stderr.fileno()).columns - 1, 20)
            sys.stderr.write("\r\x1b[K" + text[:width])
            sys.stderr.flush()
            self.showing = True

    def done(self) -> None:
        with self.lock:
            if self.showing:
                sys.stderr.write("\r\x1b[K")
                sys.stderr.flush()
                self.showing = False

    def target(self) -> dict[str, Any]:
        """The progress keywords of a flow command."""
        if self.live:
            return {"log": self.line, "status": self.status, "heartbeat_seconds": 1.0}
        return {"log": self.line}


console = Console()


# --- options, each declared once ---------------------------------------------------------------


def env_option(
    default: str | None = "dev", help: str = "Environment: params/<env>.yaml over base."
) -> Decorator:
    """`--env`; a command where leaving it out means every environment passes None and says so."""
    return click.option(
        "--env", default=default, show_default=default is not None, metavar="ENV", help=help
    )


ENV = env_option()
SET = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a parameter, e.g. --set finetune.num_train_epochs=1 (repeatable).",
)
EMULATOR = click.option(
    "--emulator",
    metavar="URL",
    default=None,
    help="Use the local emulator at URL (or set AMLGEN_EMULATOR); its key is found in the "
    "connection file amlgen-emulator writes (or AMLGEN_EMULATOR_SECRET, or URL#secret=KEY).",
)
BACKEND = click.option(
    "--backend",
    type=click.Choice(["cli", "sdk"]),
    default=None,
    help="`az ml` (your az login) or the azure-ai-ml SDK (DefaultAzureCredential).  "
    "[default: cli; sdk against the emulator]",
)
DRY_RUN = click.option("--dry-run", is_flag=True, help="Print the exact plan; change nothing.")
ASSETS = click.option(
    "--assets",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of rendered YAML (default: azureml/<env>).",
)
SUBSCRIPTION = click.option(
    "--subscription",
    "subscription_id",
    default=None,
    metavar="ID",
    help="Subscription (else AZURE_SUBSCRIPTION_ID, config.json, az defaults).",
)
RESOURCE_GROUP = click.option("-g", "--resource-group", default=None, help="Resource group.")
WORKSPACE = click.option(
    "-w", "--workspace", "workspace_name", default=None, help="Workspace name."
)
KEEP_ENDPOINT = click.option(
    "--keep-endpoint", is_flag=True, help="Leave the endpoint running (on success or failure)."
)
STREAM = click.option("--stream", is_flag=True, help="Show the job's logs while waiting.")
WAIT = click.option(
    "--wait", is_flag=True, help="Wait until the job ends (only Completed succeeds)."
)


class Minutes(click.FloatRange):
    """Minutes to wait: a finite number above 0 (the flow applies the 30-day bound). click's
    FloatRange lets nan and inf through: no comparison with them is true."""

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of minutes.", param, ctx)
        return number


TIMEOUT = click.option(
    "--timeout",
    "timeout_minutes",
    type=Minutes(),
    default=None,
    help="Minutes to wait for the job (default: job.timeout_minutes).",
)
JOB = click.option("--job", default=None, help="Job name (default: the recorded one).")
NO_PRICES = click.option(
    "--no-prices",
    is_flag=True,
    help="Read no prices (the Retail Prices API): GPU-hours and node-hours instead.",
)
TARGET = (ENV, BACKEND, DRY_RUN, ASSETS, EMULATOR, SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)
TARGET_KEYS = (
    "backend",
    "dry_run",
    "assets",
    "emulator",
    "subscription_id",
    "resource_group",
    "workspace_name",
)


def options(*decorators: Decorator) -> Decorator:
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply

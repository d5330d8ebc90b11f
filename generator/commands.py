"""The flow commands as typed functions, one per `amlgen` command (exported by the package).

Each takes the environment, what its command takes, and the connection keywords of `Target`;
each returns an `Outcome` and raises the project's errors. Progress goes to the `log` and
`status` callbacks the caller passes: the library itself prints nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover
    from typing_extensions import Unpack

from . import diagnose, finetune_flow
from .errors import WorkflowError
from .flowoptions import Options, Outcome
from .workflow import Flow
from .workspace import redact


class Target(TypedDict, total=False):
    """Where and how a command acts; every flow command takes these keywords."""

    project_dir: Path | str  # the project folder (params/, azureml/, data/); default "."
    backend: str | None  # "cli" (`az ml`) or "sdk" (MLClient); default cli (sdk: emulator, no az)
    dry_run: bool  # record the exact plan (argv or SDK calls) in Outcome.plan; change nothing
    assets: Path | str | None  # folder of rendered YAML; default azureml/<env>
    emulator: str | None  # the emulator's URL, key found (else AMLGEN_EMULATOR); URL#secret=KEY
    subscription_id: str | None
    resource_group: str | None
    workspace_name: str | None
    log: Callable[[str], None]  # progress lines
    status: Callable[[str], None] | None  # transient progress (one updating terminal line)
    heartbeat_seconds: float | None  # progress interval during long waits (at most 30 s)
    poll_seconds: float | None  # first job poll interval


def _flow(env: str, target: Target, **command: object) -> Flow:
    return Flow(Options(env=env, **target, **command))  # type: ignore[arg-type]


def run(
    env: str = "dev",
    *,
    keep_endpoint: bool = False,
    stream: bool = False,
    timeout_minutes: float | None = None,
    **target: Unpack[Target],
) -> Outcome:
    """Every step (submit, wait, register, deploy, invoke, teardown), resuming from the state."""
    opts = {"keep_endpoint": keep_endpoint, "stream": stream, "timeout_minutes": timeout_minutes}
    return _flow(env, target, **opts).run()


def submit(
    env: str = "dev",
    *,
    wait: bool = False,
    stream: bool = False,
    timeout_minutes: float | None = None,
    **target: Unpack[Target],
) -> Outcome:
    """Pre-flight checks, then submit the rendered job (pipeline or fine-tuning job; and wait
    for it, if asked)."""
    opts = {"wait": wait, "stream": stream, "timeout_minutes": timeout_minutes}
    return _flow(env, target, **opts).submit()


def status(
    env: str = "dev",
    *,
    job: str | None = None,
    wait: bool = False,
    stream: bool = False,
    timeout_minutes: float | None = None,
    **target: Unpack[Target],
) -> Outcome:
    """The recorded (or named) job's live status; `wait` waits for a terminal one."""
    opts = {"job": job, "wait": wait, "stream": stream, "timeout_minutes": timeout_minutes}
    return _flow(env, target, **opts).status()


def register(env: str = "dev", *, job: str | None = None, **target: Unpack[Target]) -> Outcome:
    """Register the completed job's model (model.yml + the job's output), or find and record
    the model a fine-tuning job registered."""
    return _flow(env, target, job=job).register()


def deploy(env: str = "dev", *, keep_endpoint: bool = False, **target: Unpack[Target]) -> Outcome:
    """Create or update the online endpoint, deployment and traffic, or the serverless
    endpoint."""
    return _flow(env, target, keep_endpoint=keep_endpoint).deploy()


def invoke(env: str = "dev", **target: Unpack[Target]) -> Outcome:
    """Send the prepared request to the deployment; the response is saved next to the state."""
    return _flow(env, target).invoke()


def teardown(env: str = "dev", **target: Unpack[Target]) -> Outcome:
    """Delete the endpoint the state records, online or serverless (both bill until deleted)."""
    return _flow(env, target).teardown()


def logs(env: str = "dev", *, live: bool = False, **target: Unpack[Target]) -> Outcome:
    """The deployment's container logs (inference-server, storage-initializer): the ones saved
    under .amlgen/<env>/logs/ when it failed, or, with `live` or none saved, fetched now."""
    flow = _flow(env, target)
    if finetune_flow.serverless(flow):
        raise WorkflowError(
            f"serverless endpoint {flow.assets.endpoint_name}: the service keeps no container "
            "logs of it; a failed fine-tuning job's error is in `amlgen status`"
        )
    text = diagnose.logs(flow.log_target(), flow.state, live, flow.opts.dry_run)
    plan = [redact(line, flow.ws.masks()) for line in flow.backend.plan]
    return Outcome(state=dict(flow.state.data), plan=plan, response=text or None)

"""The steps of the flow that differ on the fine-tuning job path (method finetuning_job).

`workflow.Flow` runs both methods with one state machine: submit -> wait -> model -> serve ->
invoke -> teardown, with the same state file, resume and teardown guarantee. On this path the
job file is the `type: finetuning` job (the backend's `submit_finetuning`), the job registers
the model itself (so the model step finds it in the job's `registered_model` output and checks
it exists and came from that job, instead of registering it), and a serverless fine-tune is
served on a serverless endpoint (a marketplace subscription first when the model needs one):
recorded as `creating` BEFORE it is created, so any failure or interrupt after that point
deletes it (unless kept), and invoked with the chat-completions request it expects. A
managed-compute fine-tune is served by the managed deployment steps of the pipeline path.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .backends import Assets, Backend, FinetuneAssets
from .errors import WorkflowError
from .state import State

SERVERLESS = "serverless"


class _Options(Protocol):
    @property
    def dry_run(self) -> bool: ...


class Flow(Protocol):
    """What these steps use of the flow (`workflow.Flow` is the one there is). Declared here,
    below it, so imports run one way: workflow -> finetune_flow."""

    state: State

    @property
    def opts(self) -> _Options: ...
    @property
    def assets(self) -> Assets: ...
    @property
    def backend(self) -> Backend: ...
    def say(self, line: str) -> None: ...
    def waiting(self, what: Callable[[], str]) -> AbstractContextManager[Any]: ...


def serverless(flow: Flow) -> bool:
    a = flow.assets
    return isinstance(a, FinetuneAssets) and a.serverless


def record_model(flow: Flow, job: str) -> None:
    """The model the job registered: named by its `registered_model` output, checked to exist
    and to come from this job, then recorded."""
    a = flow.assets
    rec = flow.state.section("model")
    if rec.get("job") == job and rec.get("name") and rec.get("version"):
        flow.say(f"model {rec['name']}:{rec['version']}: registered by job {job} (recorded)")
        return
    found = flow.backend.job_model(job)
    if flow.opts.dry_run:
        found = (a.model_name, a.model_version)
    if found is None:
        raise WorkflowError(
            f"job {job} completed but names no registered model in its outputs "
            "(outputs.registered_model): register it from the job's output by hand"
        )
    name, version = found
    info = flow.backend.model_info(name, version)
    if not flow.opts.dry_run:
        if info is None:
            raise WorkflowError(
                f"job {job}: its output names model {name}:{version}, which is not registered"
            )
        if not info.from_job(job):
            raise WorkflowError(
                f"model {name} version {version} exists from another job "
                f"({info.job_name or info.path}): bump registered_model.version in params, "
                "`make render`, commit, and run again"
            )
    if (name, version) != (a.model_name, a.model_version):
        flow.say(f"note: the job registered {name}:{version}, not {a.model_name}:{a.model_version}")
    flow.say(f"model {name}:{version}: registered by job {job}")
    flow.state.update("model", name=name, version=version, job=job)


def deploy_serverless(flow: Flow) -> None:
    """Marketplace subscription (when needed), then the serverless endpoint for the model the
    job registered: recorded BEFORE the call, so an interrupt mid-create still deletes it."""
    a = flow.assets
    assert isinstance(a, FinetuneAssets)
    backend = flow.backend
    if a.marketplace_needed:
        flow.say(f"subscribing to {a.base_model_name} in the marketplace ({a.marketplace_name})")
        with flow.waiting(lambda: f"marketplace subscription {a.marketplace_name}: creating"):
            backend.create_marketplace_subscription(a)
        flow.state.update("marketplace", name=a.marketplace_name, status="created")
    model = flow.state.section("model")
    name = str(model.get("name") or a.model_name)
    version = str(model.get("version") or a.model_version)
    location, workspace_id = backend.workspace_ref()
    if not flow.opts.dry_run and not (location and workspace_id):
        raise WorkflowError("the workspace did not tell its region and id: the model id needs both")
    model_id = a.model_id(location, workspace_id).replace(
        f"/models/{a.model_name}/versions/{a.model_version}", f"/models/{name}/versions/{version}"
    )
    flow.state.update("endpoint", name=a.endpoint_name, status="creating", kind=SERVERLESS)
    flow.say(f"creating serverless endpoint {a.endpoint_name} for {name}:{version}")
    with flow.waiting(lambda: f"serverless endpoint {a.endpoint_name}: creating"):
        backend.create_serverless_endpoint(a, model_id)
    flow.state.update("endpoint", status="created")
    flow.state.update("deployment", name=a.deployment_name, status="ready", traffic=100)
    flow.say(f"serverless endpoint {a.endpoint_name}: serving {name}:{version}")

"""amlgen: fine-tune and serve chat models on Azure ML from one parameters file, GitOps style.

Library first: every CLI command is one call to a public function here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from azure.ai.ml.entities import PipelineJob

    from .locking import LockResult
    from .params import Resolved
    from .planning import Plan
    from .workflow import Outcome


def load_params(env: str = "dev", project_dir: Any = ".", overrides: Any = ()) -> Resolved:
    """Load and resolve one environment's parameters (see generator.params.load_params)."""
    from .params import load_params as _load

    return _load(env, project_dir, overrides)


def render(params: Resolved, out_root: str = "azureml") -> dict[str, str]:
    """Render one environment's Azure ML YAML: {relative path: text}. Writes nothing."""
    from .rendering import render as _render

    return _render(params, out_root)


# --- the Azure ML flow (generator.workflow); keywords as in generator.workflow.Options ---------


def run(**options: Any) -> Outcome:
    """Every step (submit, wait, register, deploy, invoke, teardown), resuming from the state."""
    from .workflow import run as _run

    return _run(**options)


def submit(**options: Any) -> Outcome:
    """Pre-flight checks, then submit the rendered pipeline job."""
    from .workflow import submit as _submit

    return _submit(**options)


def status(**options: Any) -> Outcome:
    """The recorded job's live status (wait=True waits for a terminal one)."""
    from .workflow import status as _status

    return _status(**options)


def register(**options: Any) -> Outcome:
    """Register the completed job's model."""
    from .workflow import register as _register

    return _register(**options)


def deploy(**options: Any) -> Outcome:
    """Create or update the endpoint and deployment, then route the traffic."""
    from .workflow import deploy as _deploy

    return _deploy(**options)


def invoke(**options: Any) -> Outcome:
    """Send the prepared request to the deployment; the response is saved next to the state."""
    from .workflow import invoke as _invoke

    return _invoke(**options)


def teardown(**options: Any) -> Outcome:
    """Delete the endpoint the state records."""
    from .workflow import teardown as _teardown

    return _teardown(**options)


def plan(**options: Any) -> Plan:
    """What applying the rendered files would change in the workspace, and drift (amlgen plan;
    keywords: env, project_dir, backend, emulator, overrides, subscription_id, resource_group,
    workspace_name, job). `Plan.render(fmt)`, `.to_dict()`, `.exit_code` (0 / 2)."""
    from .planner import plan as _plan

    return _plan(**options)


def lock(project_dir: Any = ".", **options: Any) -> LockResult:
    """Write params/registry.lock, or with check=True compare it with the live registry
    (see generator.locking.lock)."""
    from .locking import lock as _lock

    return _lock(project_dir, **options)


def build_pipeline_job(resolved: Resolved) -> PipelineJob:
    """The pipeline job from SDK entity classes (same REST body as the rendered YAML)."""
    from .pipeline_job import build_pipeline_job as _build

    return _build(resolved)


__all__ = [
    "__version__",
    "build_pipeline_job",
    "deploy",
    "invoke",
    "load_params",
    "lock",
    "plan",
    "register",
    "render",
    "run",
    "status",
    "submit",
    "teardown",
]

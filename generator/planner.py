"""`amlgen plan` as one library call: the committed files (or the params rendered with --set
overrides) against the live workspace, through either backend's read primitives.

Imports run one way: this module uses backends/ and what is below them, never workflow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import names
from .backends import (
    Assets,
    Backend,
    FinetuneAssets,
    choose_backend,
    make_backend,
    reading_backend,
)
from .capacity import Context, context_for
from .errors import WorkflowError
from .params import Resolved, load_params
from .planning import Plan, make_plan
from .preflight import allowed_sizes, stale_files
from .pricing import plan_estimate
from .rendering import render
from .state import State
from .workspace import Workspace, redact, resolve_workspace


def recorded_job(project_dir: Path, env: str, model: str, version: str) -> str | None:
    """The job the state records the model version as registered from (or by), if any."""
    try:
        rec = State.of(project_dir, env).section("model")
    except WorkflowError:  # an unreadable state file: plan without the model's path
        return None
    if rec.get("name") == model and str(rec.get("version")) == version:
        job = rec.get("job")
        return str(job) if job else None
    return None


def run_context(project_dir: Path, env: str, assets: Assets) -> Context:
    """What `run` would add, from the state: a new job unless one is recorded as running or
    done, a deployment unless one is recorded ready; the model's allowed sizes for the ways out."""
    try:
        state = State.of(project_dir, env)
        job = state.section("job")
        ready = state.section("deployment").get("status") == "ready"
        live = state.section("endpoint").get("status") == "created"
    except WorkflowError:
        job, ready, live = {}, False, False
    running = bool(job.get("name")) and job.get("status") not in ("Failed", "Canceled")
    return context_for(
        allowed_sizes(assets, project_dir), new_job=not running, deploy=not (ready and live)
    )


def _assets(resolved: Resolved, folder: Path, project_dir: Path) -> Assets:
    p = resolved.params
    load = FinetuneAssets.load_job if p.method == "finetuning_job" else Assets.load
    return load(
        folder,
        project_dir,
        request_file=(project_dir / p.data.dir / names.REQUEST_FILE).resolve(),
        traffic_percent=p.deployment.traffic_percent,
    )


def plan(
    env: str = "dev",
    project_dir: Path | str = ".",
    backend: str | None = None,
    emulator: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    subscription_id: str | None = None,
    resource_group: str | None = None,
    workspace_name: str | None = None,
    job: str | None = None,
    prices: bool = True,
    log: Callable[[str], None] | None = None,
) -> Plan:
    """What applying the rendered files of `env` would change in the workspace, and drift.

    Without `overrides` the committed `azureml/<env>/` files are compared (stale ones are
    refused in one line); with them, the params rendered with the overrides (as `render --set`
    would write them), so a plan shows what a params change will do before it is committed.
    `job` names the job the model version is registered from (default: the recorded one, if
    any). Both methods: the pipeline's resources, or the fine-tuning job's (the model version
    it registers, the serverless endpoint or the online one, a marketplace subscription).
    The plan carries what it costs (`Plan.cost`, generator/pricing.py): prices from the Retail
    Prices API (the lock when it cannot be read), or, with `prices=False`, GPU- and node-hours.
    `emulator` is its URL (the key is found) or `URL#secret=KEY`; `backend` None picks cli, or
    sdk against the emulator (which the Azure CLI cannot reach), and says so through `log`.
    Errors are `WorkflowError`s with one line.
    """
    root = Path(project_dir)
    resolved = load_params(env, root, list(overrides))
    ws = resolve_workspace(
        root,
        subscription_id=subscription_id,
        resource_group=resource_group,
        workspace_name=workspace_name,
        emulator=emulator,
    )
    kind, note = choose_backend(backend, ws)
    if note and log is not None:
        log(note)
    reader = make_backend(kind, ws, root)
    read = getattr(reader, "read", None)
    survey = getattr(reader, "survey", None)
    if read is None:
        raise WorkflowError(f"--backend {kind}: cannot read the workspace")
    try:
        if not overrides:
            stale = stale_files(resolved, root)
            if stale:
                raise WorkflowError(
                    f"rendered files do not match the params: {', '.join(stale)}: run "
                    "`make render` (amlgen render --all), review and commit, then plan again"
                )
            assets = _assets(resolved, root / names.OUTPUT_DIR / env, root)
            recorded = job or recorded_job(root, env, assets.model_name, assets.model_version)
            ctx = run_context(root, env, assets)
            result = make_plan(env, assets, read, reader.name, recorded, None, survey, ctx)
            result.cost = plan_estimate(resolved, reader, ws, root, result.resources, prices)
            return result
        with tempfile.TemporaryDirectory(prefix="amlgen-plan-") as tmp:
            # The files `render --set` would write, in a copy of the project's layout, so every
            # file is named as in the project (azureml/<env>/deployment.yml).
            for rel, text in render(resolved).items():
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            assets = _assets(resolved, Path(tmp) / names.OUTPUT_DIR / env, Path(tmp))
            recorded = job or recorded_job(root, env, assets.model_name, assets.model_version)
            ctx = run_context(root, env, assets)
            result = make_plan(env, assets, read, reader.name, recorded, None, survey, ctx)
        result.cost = plan_estimate(resolved, reader, ws, root, result.resources, prices)
        return result
    except WorkflowError as exc:
        raise WorkflowError(redact(str(exc), ws.masks())) from None


PLAN_NOTE = "amlgen plan: the live state"  # marks the plan's reads in a dry run


def show_before_acting(
    env: str,
    assets: Assets,
    backend: Backend,
    ws: Workspace,
    project_dir: Path,
    log: Callable[[str], None],
    job: str | None = None,
    context: Context | None = None,
) -> Plan | None:
    """`run` and `deploy` show the plan (on stderr, through `log`) before they act.

    In a dry run the backend records each read's exact argv (or SDK call) with the rest of the
    commands, and a second, live backend makes the reads (they change nothing), so the printed
    plan is the real one; when the workspace cannot be read (no az, no workspace) one line says
    so and the dry run goes on. A real run's read errors stop it, before anything is changed.
    The plan's quota reading (`context`: what the run adds) is returned for pre-flight to judge.
    """
    read = getattr(backend, "read", None)
    survey = getattr(backend, "survey", None)
    if read is None:
        return None
    if not getattr(backend, "dry_run", False):
        result = make_plan(env, assets, read, backend.name, job, None, survey, context)
    else:
        # The reads change nothing: against the emulator without az, the sdk backend makes them.
        live_backend = make_backend(reading_backend(backend.name, ws), ws, project_dir)
        live = getattr(live_backend, "read", None)
        live_survey = getattr(live_backend, "survey", None)
        failed: list[str] = []

        def both(kind: str, name: str, **where: str | None) -> dict[str, Any] | None:
            read(kind, name, note=PLAN_NOTE, **where)  # recorded with the dry run's commands
            if failed or live is None:
                return None
            try:
                found: dict[str, Any] | None = live(kind, name, **where)
            except WorkflowError as exc:
                failed.append(str(exc).splitlines()[0])
                return None
            return found

        def both_survey(what: str, **where: Any) -> Any:
            where.pop("note", None)
            if survey is not None:
                survey(what, note=PLAN_NOTE, **where)
            if failed or live_survey is None:
                return None
            return live_survey(what, **where)

        result = make_plan(env, assets, both, backend.name, job, None, both_survey, context)
        if failed:
            log(redact(f"amlgen plan: cannot read the live state ({failed[0]})", ws.masks()))
            return None
    for line in result.render("text").splitlines():
        log(redact(line, ws.masks()))
    return result


__all__ = ["plan", "recorded_job", "run_context", "show_before_acting"]

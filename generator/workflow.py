"""The resumable Azure ML flow: submit -> wait -> register -> deploy -> invoke -> teardown.

Every step reads the committed YAML in `azureml/<env>/` (the reviewed source of truth) and
records what it did in `.amlgen/<env>/state.json`, written atomically after each step, so
`run` resumes after a crash or Ctrl-C and does nothing new once everything is done.

An online endpoint bills until deleted. So the state records that an endpoint creation STARTED
before the call is made, and any failure or interruption after that point deletes the
endpoint (unless kept) before the error is reported.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from . import diagnose, envlock, finetune_flow, limits, names, preflight
from .backends import (
    TERMINAL,
    Assets,
    Backend,
    FinetuneAssets,
    JobInfo,
    TransientError,
    choose_backend,
    make_backend,
)
from .capacity import Capacity, context_for
from .errors import AmlgenError, WorkflowError
from .flowoptions import Options, Outcome
from .interrupts import Interrupted, exit_code_of, no_interrupts, sigterm_as_interrupt
from .params import Resolved, environments, load_params
from .progress import elapsed, heartbeat, heartbeat_seconds
from .rendering import OUTPUT_DIR
from .state import State, state_dir
from .workspace import Workspace, redact, resolve_workspace, studio_link
from .yamlio import write_atomic

MAX_POLL_SECONDS = 30.0
TRANSIENT_RETRIES = 8

# --- the flow --------------------------------------------------------------------------------


class Flow:
    """One environment's flow with one backend. Commands are its public methods."""

    def __init__(self, opts: Options, backend: Backend | None = None) -> None:
        self.opts = opts
        self.log = opts.log
        self.project_dir = Path(opts.project_dir)
        default_assets = self.project_dir / OUTPUT_DIR / opts.env
        self.assets_dir = Path(opts.assets) if opts.assets else default_assets
        self.default_assets = self.assets_dir.resolve() == default_assets.resolve()
        self.ws: Workspace = resolve_workspace(
            self.project_dir,
            subscription_id=opts.subscription_id,
            resource_group=opts.resource_group,
            workspace_name=opts.workspace_name,
            emulator=opts.emulator,
        )
        kind, note = choose_backend(opts.backend, self.ws)
        self._backend_note = None if backend else note  # said once, when first used
        self._backend: Backend = backend or make_backend(
            kind, self.ws, self.project_dir, dry_run=opts.dry_run
        )
        folder = state_dir(self.project_dir, opts.env)
        known = environments(self.project_dir)
        if opts.env not in known and not (folder / names.STATE_FILE).is_file():
            # A typo must not read as "nothing to tear down"; a removed env with state is fine.
            raise WorkflowError(
                f"unknown environment {opts.env!r}: no params/{opts.env}.yaml and no recorded "
                f"state; known: {', '.join(known) or 'none'}"
            )
        self.state = State.of(self.project_dir, opts.env, dry_run=opts.dry_run)
        self.response_path = folder / names.RESPONSE_FILE
        self._assets: Assets | None = None

    # --- shared pieces ---------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        note, self._backend_note = self._backend_note, None
        if note:
            self.log(note)
        return self._backend

    @cached_property
    def resolved(self) -> Resolved:
        # Lazy: teardown and status work from the state even while the params are broken.
        return load_params(self.opts.env, self.project_dir)

    @property
    def assets(self) -> Assets:
        if self._assets is None:
            p = self.resolved.params
            # The fine-tuning job path (finetune_flow.py) reads its own files into Assets.
            load = FinetuneAssets.load_job if p.method == "finetuning_job" else Assets.load
            self._assets = load(
                self.assets_dir,
                self.project_dir,
                request_file=(self.project_dir / p.data.dir / names.REQUEST_FILE).resolve(),
                traffic_percent=p.deployment.traffic_percent,
            )
        return self._assets

    def log_target(self) -> diagnose.Where:
        """The deployment whose logs `amlgen logs` and a failed deployment read."""
        a, ws = self.assets, self.ws
        where = (a.endpoint_name, a.deployment_name, ws.masks())
        return diagnose.Where(self.backend, self.project_dir, self.opts.env, *where)

    def say(self, line: str) -> None:
        if not self.opts.dry_run:
            self.log(redact(line, self.ws.masks()))

    def waiting(self, what: Callable[[], str]) -> Any:
        """Progress during a long wait: elapsed time and state at least every 30 s."""
        if self.opts.dry_run:
            return contextlib.nullcontext()
        sink = self.opts.status or self.say
        return heartbeat(what, sink, heartbeat_seconds(self.opts.heartbeat_seconds))

    def check_fresh(self) -> None:
        if self.default_assets:
            preflight.check_fresh(self.resolved, self.project_dir)

    def preflight(
        self, request: bool, live: bool = True, job: bool = True, hour: bool = False
    ) -> None:
        """Fresh assets, lifecycle, offline validation, data files, the budget (a new `job`'s
        ceiling, what stays up per `hour`), then the live checks (for a new job: `submit`
        always submits one)."""
        self.check_fresh()
        preflight.check_lifecycle(self.resolved, self.project_dir, self.ws.emulated, self.say)
        preflight.validate_offline(self.assets_dir, self.project_dir)
        preflight.check_data(self.assets, self.opts.env, request)
        args = (self.resolved, self.backend, self.ws, self.project_dir, self.say)
        preflight.check_budget(*args, job=job, hour=hour and not self._deployed())
        if live:
            self.check_live(new_job=True, deploy=False)

    def _resumed_job(self) -> str | None:
        """The recorded job `run` goes on with (not one that ended Failed or Canceled)."""
        rec = self.state.section("job")
        if rec.get("name") and rec.get("status") not in ("Failed", "Canceled"):
            return str(rec["name"])
        return None

    def check_live(
        self, new_job: bool = False, deploy: bool | None = None, capacity: Capacity | None = None
    ) -> None:
        job = None if new_job else self._resumed_job()
        deploy = not self._deployed() if deploy is None else deploy
        with self.waiting(lambda: "pre-flight: the registry model, quota, regions, the cluster"):
            preflight.check_live(
                self.backend, self.assets, self.say, job, deploy=deploy, capacity=capacity
            )

    def show_plan(self, new_job: bool | None = None) -> Capacity | None:
        """What run/deploy will change, on stderr before they act (generator/planner.py); its
        quota reading, for pre-flight to judge without reading it again."""
        from .planner import show_before_acting

        job = self.state.section("model").get("job")
        if not job and isinstance(self.assets, FinetuneAssets):  # it registers as it ends
            job = self._resumed_job()
        new = self._resumed_job() is None if new_job is None else new_job
        ctx = context_for(
            preflight.allowed_sizes(self.assets, self.project_dir),
            new_job=new,
            deploy=not self._deployed(),
        )
        plan = show_before_acting(
            self.opts.env, self.assets, self.backend, self.ws, self.project_dir, self.log, job, ctx
        )
        if plan is None:  # a dry run lists the plan's reads only: pre-flight reuses them
            return Capacity(skipped="dry run") if self.opts.dry_run else None
        return plan.capacity

    def _fingerprint_guard(self) -> None:
        """A recorded run for other params is history: keep only what still needs deleting."""
        recorded = self.state.data.get("params")
        current = self.resolved.fingerprint
        if recorded and recorded != current:
            self.say(
                f"params changed since the recorded run ({recorded} -> {current}): starting a new "
                "run"
            )
            self.state.drop("job", "model", "deployment", "invoke")
        self.state.data.update(
            {"env": self.opts.env, "params": current, "backend": self._backend.name}
        )
        self.state.save()

    def _outcome(self, **kwargs: Any) -> Outcome:
        plan = [redact(line, self.ws.masks()) for line in self._backend.plan]
        return Outcome(state=dict(self.state.data), plan=plan, **kwargs)

    # --- job -------------------------------------------------------------------------------

    def _submit(self) -> str:
        a, b = self.assets, self.backend
        job = b.submit_finetuning(a) if isinstance(a, FinetuneAssets) else b.submit(a)
        self.state.update("job", name=job, status="Submitted", studio_url=None)
        self.say(f"submitted job {job}")
        return job

    def _poll_seconds(self) -> float:
        if self.opts.poll_seconds is not None:
            return max(self.opts.poll_seconds, 0.01)
        try:
            value = float(os.environ.get(names.ENV_POLL, "2"))
        except ValueError:
            return 2.0
        return max(value, 0.01) if math.isfinite(value) else 2.0

    def _timeout(self) -> float:
        minutes = self.opts.timeout_minutes or self.resolved.params.job.timeout_minutes
        if not 0 < float(minutes) <= limits.JOB_TIMEOUT_MINUTES.hi:  # nan and inf too
            raise WorkflowError(f"timeout_minutes: {minutes!r} is not in (0, 43200] minutes")
        return float(minutes) * 60

    def wait(self, job: str) -> str:
        """Poll with backoff until a terminal status; only Completed returns."""
        if self.opts.dry_run:
            self.backend.job_status(job)
            return "Completed"
        if self.opts.stream:
            note = self.backend.stream(job)
            if note:
                self.say(note)
        current = ["waiting for its status"]
        with self.waiting(lambda: f"job {job}: {current[0]}"):
            return self._poll(job, current)

    def _poll(self, job: str, current: list[str]) -> str:
        start = time.monotonic()
        interval = self._poll_seconds()
        ceiling = max(interval, min(MAX_POLL_SECONDS, interval * 15))
        last: str | None = None
        failures = 0
        while True:
            try:
                info: JobInfo = self.backend.job_status(job)
                failures = 0
            except TransientError as exc:
                failures += 1
                if failures > TRANSIENT_RETRIES:
                    raise WorkflowError(
                        f"job {job}: lost contact with the service ({exc}); it may still be "
                        "running: `amlgen status` resumes watching it"
                    ) from None
                self.say(
                    f"[{elapsed(time.monotonic() - start)}] job {job}: status unavailable, retrying"
                )
                time.sleep(min(interval * failures, ceiling))
                continue
            spent = time.monotonic() - start
            current[0] = info.status
            if info.status != last:
                link = studio_link(info.studio_url)
                self.say(
                    f"[{elapsed(spent)}] job {job}: {info.status}" + (f"  {link}" if link else "")
                )
                last = info.status
                self.state.update("job", status=info.status, studio_url=link)
            if info.status in TERMINAL:
                if info.status != "Completed":
                    detail = diagnose.job_detail(info, self.backend, job, self.ws.masks())
                    raise WorkflowError(
                        f"job {job} ended {info.status}{detail}; fix the cause, then "
                        "`amlgen run` submits a new job"
                    )
                return info.status
            if spent > self._timeout():
                raise WorkflowError(
                    f"job {job} still {info.status} after {elapsed(spent)} "
                    f"(job.timeout_minutes); it keeps running: `amlgen status --wait` resumes"
                )
            time.sleep(min(interval, max(self._timeout() - spent, 0.01)))
            interval = min(interval * 1.5, ceiling)

    def _ensure_job(self) -> str:
        rec = self.state.section("job")
        name, status = rec.get("name"), rec.get("status")
        if name and status == "Completed":
            self.say(f"job {name}: Completed (recorded)")
            return str(name)
        if name and status not in ("Failed", "Canceled"):
            self.say(f"resuming: watching job {name}")
        else:
            if name:
                self.say(f"job {name} ended {status}: submitting a new job")
            name = self._submit()
        self.wait(str(name))
        return str(name)

    # --- model -----------------------------------------------------------------------------

    def _ensure_model(self, job: str) -> None:
        a = self.assets
        if isinstance(a, FinetuneAssets):  # the job registered it: find and record it
            return finetune_flow.record_model(self, job)
        rec = self.state.section("model")
        if (
            rec.get("version") == a.model_version
            and rec.get("job") == job
            and rec.get("name") == (a.model_name)
        ):
            self.say(f"model {a.model_name}:{a.model_version}: registered (recorded)")
            return
        existing = self.backend.model_info(a.model_name, a.model_version)
        if existing is not None:
            if not existing.from_job(job):
                raise WorkflowError(
                    f"model {a.model_name} version {a.model_version} already exists from another "
                    f"job ({existing.job_name or existing.path}): bump registered_model.version in "
                    "params, `make render`, commit, and run again"
                )
            self.say(f"model {a.model_name}:{a.model_version}: already registered from job {job}")
        else:
            self.backend.register(a, job)
            self.say(f"registered model {a.model_name}:{a.model_version} from job {job}")
        self.state.update("model", name=a.model_name, version=a.model_version, job=job)

    # --- endpoint --------------------------------------------------------------------------

    def _deployed(self) -> bool:
        return (
            self.state.section("endpoint").get("status") == "created"
            and self.state.section("deployment").get("status") == "ready"
        )

    def _deploy(self) -> None:
        a = self.assets
        if finetune_flow.serverless(self):
            return finetune_flow.deploy_serverless(self)
        # Recorded BEFORE the call: an interrupt mid-create must still tear it down.
        self.state.update("endpoint", name=a.endpoint_name, status="creating")
        self.say(f"creating endpoint {a.endpoint_name}")
        with self.waiting(lambda: f"endpoint {a.endpoint_name}: creating"):
            self.backend.create_endpoint(a)
        self.state.update("endpoint", status="created")
        self.state.update("deployment", name=a.deployment_name, status="creating")
        self.say(f"creating deployment {a.deployment_name} (this takes a while on Azure)")
        with (
            self.waiting(lambda: f"deployment {a.deployment_name}: creating"),
            diagnose.explained(self.log_target, self.opts.dry_run),  # its logs say why it failed
        ):
            self.backend.create_deployment(a)
        self.state.update("deployment", status="created")
        with self.waiting(lambda: f"endpoint {a.endpoint_name}: updating the traffic"):
            self.backend.set_traffic(a)
        self.state.update("deployment", status="ready", traffic=a.traffic_percent)
        self.say(
            f"endpoint {a.endpoint_name}: {a.traffic_percent}% of traffic to {a.deployment_name}"
        )

    def _invoke(self) -> str:
        a = self.assets
        b = self.backend
        served = isinstance(a, FinetuneAssets) and a.serverless
        raw = b.invoke_serverless(a) if isinstance(a, FinetuneAssets) and served else b.invoke(a)
        if self.opts.dry_run:
            return raw
        try:
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False) + "\n"
        except ValueError:
            text = raw if raw.endswith("\n") else raw + "\n"
        write_atomic(self.response_path, text)
        self.state.update(
            "invoke",
            endpoint=a.endpoint_name,
            deployment=a.deployment_name,
            response=self.response_path.relative_to(self.project_dir).as_posix()
            if self.response_path.is_relative_to(self.project_dir)
            else str(self.response_path),
        )
        self.say(f"response saved to {self.state.section('invoke')['response']}")
        return raw

    def _delete_endpoint(self, reason: str) -> bool:
        rec = self.state.section("endpoint")
        name = rec.get("name")
        if not name or rec.get("status") == "deleted":
            return False
        with no_interrupts() as signalled:
            self.say(f"deleting endpoint {name} ({reason}; Ctrl-C waits until it is gone)")
            delete = self._delete_call(rec.get("kind"))
            with self.waiting(lambda: f"endpoint {name}: deleting"):
                try:
                    found = delete(str(name))
                except AmlgenError:
                    if not signalled:
                        raise
                    found = delete(str(name))  # the signal stopped the running `az` too
            self.state.update("endpoint", status="deleted")
            self.state.drop("deployment")
            self.say(f"deleted endpoint {name}" if found else f"endpoint {name} was already gone")
        return True

    def _delete_call(self, kind: Any) -> Callable[[str], bool]:
        b = self.backend
        serverless = kind == finetune_flow.SERVERLESS
        return b.delete_serverless_endpoint if serverless else b.delete_endpoint

    @contextmanager
    def _endpoint_guard(self) -> Iterator[None]:
        """On failure or interrupt after the endpoint creation started, delete it (unless kept)."""
        try:
            with sigterm_as_interrupt():
                yield
        except (Exception, KeyboardInterrupt) as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            status = self.state.section("endpoint").get("status")
            if self.opts.dry_run or status not in ("creating", "created"):
                if interrupted:
                    raise Interrupted(
                        "interrupted; `amlgen run` resumes", exit_code_of(exc)
                    ) from exc
                raise
            name = self.state.section("endpoint").get("name")
            if self.opts.keep_endpoint:
                self.say(f"endpoint {name} kept (--keep-endpoint): `amlgen teardown` deletes it")
            else:
                try:
                    self._delete_endpoint("interrupted" if interrupted else "the flow failed")
                except AmlgenError as cleanup:
                    self.say(f"error: could not delete endpoint {name}: {cleanup}")
                    self.say("run `amlgen teardown` to retry: it keeps billing until deleted")
            if interrupted:
                raise Interrupted("interrupted; `amlgen run` resumes", exit_code_of(exc)) from exc
            raise

    # --- commands --------------------------------------------------------------------------

    @envlock.exclusive("run")
    def run(self) -> Outcome:
        """All steps in order, resuming from the state; teardown at the end unless kept."""
        self._fingerprint_guard()
        invoke_done = bool(self.state.section("invoke").get("response"))
        endpoint_status = self.state.section("endpoint").get("status")
        endpoint_live = endpoint_status in ("creating", "created")
        if invoke_done and (not endpoint_live or self.opts.keep_endpoint):
            lines = self.state.finished_lines(self.opts.env)  # what is done, how to start over
            for line in lines:
                self.say(line)
            outcome = self._outcome(message=lines[0])
            if self.opts.dry_run:  # a dry run says it too, as comments of its plan
                outcome.plan += [redact(f"# {line}", self.ws.masks()) for line in lines]
            return outcome
        if not invoke_done:
            self.preflight(request=True, live=False, job=not self._resumed_job(), hour=True)
            known = self.show_plan()  # after the offline refusals, before the live pre-flight
            self.check_live(capacity=known)
        response: str | None = None
        with self._endpoint_guard():
            if not invoke_done:
                job = self._ensure_job()
                self._ensure_model(job)
                if not self._deployed():
                    self._deploy()
                response = self._invoke()
            if not self.opts.keep_endpoint:
                self._delete_endpoint("the run is done")
            else:
                self.say(f"endpoint {self.assets.endpoint_name} kept: `amlgen teardown` deletes it")
        return self._outcome(response=response)

    @envlock.exclusive("submit")
    def submit(self) -> Outcome:
        self._fingerprint_guard()
        self.preflight(request=False)
        previous = self.state.section("job").get("name")
        if previous and not self.opts.dry_run:
            self.say(f"note: replacing the recorded job {previous}")
            self.state.drop("model", "invoke")
        job = self._submit()
        status = None
        with sigterm_as_interrupt():
            if self.opts.wait:
                status = self.wait(job)
        return self._outcome(job_status=status)

    def status(self) -> Outcome:
        if not self.opts.dry_run:  # read-only: records what it saw only while nobody acts
            env, root = self.opts.env, self.project_dir
            self.state.if_free = lambda: envlock.if_free(root, env, f"amlgen status --env {env}")
        rec = self.state.section("job")
        job = self.opts.job or rec.get("name")
        if not job:
            if self.opts.dry_run:
                job = "<job-name>"
            elif self.opts.wait:
                raise WorkflowError(
                    "no job recorded to wait for: `amlgen submit` or `amlgen run` first, or pass "
                    "--job NAME"
                )
            else:
                message = "no job recorded: `amlgen submit` or `amlgen run` first"
                self.say(message)
                return self._outcome(message=message)
        job = str(job)
        model, endpoint = self.state.section("model"), self.state.section("endpoint")
        if model:
            self.say(f"model {model.get('name')}:{model.get('version')} (from {model.get('job')})")
        if endpoint:
            self.say(f"endpoint {endpoint.get('name')}: {endpoint.get('status')}")
        if self.opts.wait:
            status = self.wait(job)
        else:
            info = self.backend.job_status(job)
            status = info.status
            if not self.opts.dry_run:
                link = studio_link(info.studio_url)
                self.say(f"job {job}: {status}" + (f"  {link}" if link else ""))
                if info.error:
                    self.say(f"job {job}: {info.error}")
                if job == rec.get("name"):
                    self.state.update("job", status=status, studio_url=link)
        return self._outcome(job_status=status)

    def _completed_job(self) -> str:
        rec = self.state.section("job")
        job = self.opts.job or rec.get("name")
        if not job:
            if self.opts.dry_run:
                return "<job-name>"
            raise WorkflowError("no job recorded: `amlgen submit` first (or pass --job NAME)")
        job = str(job)
        if self.opts.dry_run or (rec.get("name") == job and rec.get("status") == "Completed"):
            return job
        status = self.backend.job_status(job).status
        if job == rec.get("name"):
            self.state.update("job", status=status)
        if status != "Completed":
            raise WorkflowError(
                f"job {job} is {status}: only a Completed job can be registered"
                + ("" if status in TERMINAL else " (`amlgen status --wait` waits for it)")
            )
        return job

    @envlock.exclusive("register")
    def register(self) -> Outcome:
        self._fingerprint_guard()
        self.check_fresh()
        job = self._completed_job()
        if self.opts.job and self.opts.job != self.state.section("job").get("name"):
            self.state.update("job", name=job, status="Completed")
        self._ensure_model(job)
        return self._outcome()

    @envlock.exclusive("deploy")
    def deploy(self) -> Outcome:
        self._fingerprint_guard()
        self.preflight(request=False, live=False, job=False, hour=True)
        known = self.show_plan(new_job=False)
        preflight.check_capacity(
            self.backend, self.assets, self.say, new_job=False, deploy=True, known=known
        )
        with self._endpoint_guard():
            self._deploy()
        return self._outcome()

    @envlock.exclusive("invoke")
    def invoke(self) -> Outcome:
        preflight.check_data(self.assets, self.opts.env, request=True)
        rec = self.state.section("endpoint")
        if not self.opts.dry_run and rec.get("status") not in ("created", "creating", None):
            raise WorkflowError(
                f"endpoint {rec.get('name')} is {rec.get('status')}: `amlgen deploy` first"
            )
        response = self._invoke()
        return self._outcome(response=response)

    @envlock.exclusive("teardown")
    def teardown(self) -> Outcome:
        rec = self.state.section("endpoint")
        if self.opts.dry_run:
            kind = rec.get("kind") or (finetune_flow.serverless(self) and finetune_flow.SERVERLESS)
            self._delete_call(kind)(str(rec.get("name") or self.assets.endpoint_name))
            return self._outcome()
        if not self._delete_endpoint("teardown"):
            message = "nothing to tear down: no endpoint recorded as existing"
            self.say(message)
            return self._outcome(message=message)
        return self._outcome()

"""Failures explain themselves: why a deployment or a job failed, fetched when it happens.

A failed (or timed-out) online deployment's reason sits in its containers' logs, which only the
portal shows: `deployment_failure` fetches the `inference-server` and `storage-initializer`
logs through the backend (`az ml online-deployment get-logs` / `online_deployments.get_logs`),
saves them under `.amlgen/<env>/logs/` with keys, tokens and subscription ids masked, and puts
the probe that failed and the last lines into the error. A failed pipeline job names its failed
step (a child job) with its error and Studio link (`failed_step`). `amlgen logs` prints the
saved logs, or fetches them live (`logs`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .backends import LOG_CONTAINERS, Backend, JobInfo, TransientError
from .errors import AmlgenError, CommandError, WorkflowError
from .interrupts import Interrupted
from .outputs import check_state_folder
from .reading import ReadRefused, clip, read_text
from .state import State, state_dir
from .workspace import redact, studio_link
from .yamlio import write_atomic

LOGS_DIR = "logs"
MAX_SAVED_BYTES = 8 * 1024 * 1024  # a saved log: 500 lines per container, scrubbed
# An endpoint or deployment name as it may appear in a log file's name (Azure's are narrower).
_FILE_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
FETCH_LINES = 500  # per container, saved in full
SHOWN_LINES = 12  # the last ones, in the error
# Secrets a container may print: bearer tokens, JWTs, key=value pairs, SAS signatures, ids.
_SECRETS = (
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1<redacted>"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<redacted-jwt>"),
    (
        re.compile(
            r"(?i)\b((?:api[-_]?key|primary[-_]?key|secondary[-_]?key|access[-_]?key|"
            r"account[-_]?key|key|token|secret|password|sig)\"?'?\s*[:=]\s*\"?'?)[^\s\"'&,;]{4,}"
        ),
        r"\1<redacted>",
    ),
    (re.compile(r"(?i)(/subscriptions/)[0-9a-f-]{36}"), r"\1<subscription>"),
)
# What a log or error says about the cause (first match wins), and what it means.
_CAUSES = (
    (
        re.compile(r"(?i)liveness probe failed|liveness.*(?:timed out|failed)"),
        "the liveness probe failed (the server did not answer in time, often a model still "
        "loading: raise deployment.liveness_probe.initial_delay or failure_threshold)",
    ),
    (
        re.compile(r"(?i)readiness probe failed"),
        "the readiness probe failed (the model never became ready to answer)",
    ),
    (
        re.compile(r"(?i)out of memory|OOMKilled|CUDA out of memory|exit code 137"),
        "the container ran out of memory (choose a larger instance_type)",
    ),
    (
        re.compile(r"(?i)ImagePull|image pull|ErrImagePull|pull access denied"),
        "the container image could not be pulled (the environment's image, or the workspace "
        "registry's permissions)",
    ),
)


def scrub(text: str, masks: dict[str, str]) -> str:
    """The text with the workspace's secrets and anything shaped like a key or token masked."""
    text = redact(text, masks)
    for pattern, mask in _SECRETS:
        text = pattern.sub(mask, text)
    return text


def logs_dir(project_dir: Path, env: str) -> Path:
    return check_state_folder(state_dir(project_dir, env) / LOGS_DIR, project_dir)


def log_file(project_dir: Path, env: str, deployment: str, container: str) -> Path:
    """`.amlgen/<env>/logs/<deployment>.<container>.log`: the name must stay a file name."""
    if not _FILE_SAFE_NAME.fullmatch(deployment):
        raise WorkflowError(
            f"deployment name {clip(deployment)}: not a deployment name (letters, digits and "
            "'-', at most 64): no log file is read or written for it"
        )
    return logs_dir(project_dir, env) / f"{deployment}.{container}.log"


def cause_of(*texts: str) -> str | None:
    """What the error and the logs say went wrong, in one clause."""
    for pattern, meaning in _CAUSES:
        if any(pattern.search(t) for t in texts if t):
            return meaning
    return None


def _tail(text: str, n: int) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return lines[-n:]


@dataclass
class Fetched:
    logs: dict[str, str]  # container -> scrubbed text
    saved: list[Path]
    unread: list[str]  # one line per container whose logs could not be read


def fetch_logs(
    backend: Backend,
    project_dir: Path,
    env: str,
    endpoint: str,
    deployment: str,
    masks: dict[str, str],
    lines: int = FETCH_LINES,
    containers: tuple[str, ...] = LOG_CONTAINERS,
) -> Fetched:
    """Both containers' logs, scrubbed, saved under .amlgen/<env>/logs/ (dry run: recorded)."""
    out = Fetched({}, [], [])
    for container in containers:
        try:
            text = backend.deployment_logs(endpoint, deployment, container, lines)
        except AmlgenError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            out.unread.append(f"{container} logs could not be read: {scrub(first, masks)}")
            continue
        if text is None:
            continue
        clean = scrub(text, masks)
        out.logs[container] = clean
        path = log_file(project_dir, env, deployment, container)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, clean if clean.endswith("\n") else clean + "\n")
        out.saved.append(path)
    return out


def _rel(path: Path, project_dir: Path) -> str:
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass
class Where:
    """The deployment whose logs are read, and where they are saved."""

    backend: Backend
    project_dir: Path
    env: str
    endpoint: str
    deployment: str
    masks: dict[str, str]

    def fetch(self, lines: int = FETCH_LINES) -> Fetched:
        return fetch_logs(
            self.backend,
            self.project_dir,
            self.env,
            self.endpoint,
            self.deployment,
            self.masks,
            lines,
        )


def deployment_failure(where: Where, exc: AmlgenError) -> WorkflowError:
    """The error of a failed deployment: the service's reason, the probe that failed, the last
    lines of its logs, and where the full logs are."""
    got = where.fetch()
    reason = scrub(str(exc).strip(), where.masks)
    first = reason.splitlines()[0] if reason else "failed"
    command = None
    if isinstance(exc, CommandError):  # az's own error line says what the service said
        said = [ln.strip() for ln in exc.stderr.splitlines() if ln.strip()]
        if said:
            command, first = first, scrub(said[-1].removeprefix("ERROR: "), where.masks)
    lines = [f"deployment {where.deployment} of endpoint {where.endpoint} failed: {first}"]
    cause = cause_of(reason, *got.logs.values())
    if cause:
        lines.append(f"cause: {cause}")
    for container in LOG_CONTAINERS:
        tail = _tail(got.logs.get(container, ""), SHOWN_LINES)
        if tail:
            lines.append(f"last lines of the {container} log:")
            lines += [f"  {line}" for line in tail]
    lines += got.unread
    if command:
        lines.append(f"failed command: {command}")
    if got.saved:
        saved = ", ".join(_rel(p, where.project_dir) for p in got.saved)
        lines.append(f"full logs: {saved} (`amlgen logs --env {where.env}`)")
    return WorkflowError("\n".join(lines))


@contextlib.contextmanager
def explained(where: Callable[[], Where], dry_run: bool) -> Iterator[None]:
    """A deployment that fails inside the block fails with its logs (see deployment_failure);
    a lost connection (retried elsewhere) or an interrupt stays what it is."""
    try:
        yield
    except (WorkflowError, CommandError) as exc:
        if dry_run or isinstance(exc, TransientError | Interrupted):
            raise
        raise deployment_failure(where(), exc) from None


def job_detail(info: JobInfo, backend: Backend, job: str, masks: dict[str, str]) -> str:
    """`: <the job's error>; failed step <step> (...): <its error>  <link>`, what is known."""
    detail = f": {info.error}" if info.error else ""
    step = failed_step(backend, job, masks) if info.status == "Failed" else None
    return detail + (f"; {step}" if step else "")


def failed_step(backend: Backend, job: str, masks: dict[str, str]) -> str | None:
    """`failed step finetune (job-x): <error>  <studio link>` for a pipeline job's failed child
    job, descending into a failed step's own steps; None when the service lists none."""
    parent, seen = job, 0
    found = None
    while seen < 3:  # a pipeline component's steps are children of its node's child job
        try:
            children = backend.child_jobs(parent)
        except Exception:  # best effort: the job's own error is reported either way
            break
        failed = [c for c in children if c.status == "Failed"]
        if not failed:
            break
        found = failed[0]
        parent, seen = found.name, seen + 1
    if found is None:
        return None
    error = None
    with contextlib.suppress(Exception):  # the step's name is the finding; its error helps
        error = backend.job_status(found.name).error
    step = found.display_name or found.name
    link = studio_link(found.studio_url)
    text = f"failed step {step} ({found.name})" + (f": {error}" if error else "")
    return scrub(text + (f"  {link}" if link else ""), masks)


def logs(where: Where, state: State, live: bool = False, dry_run: bool = False) -> str:
    """The saved logs of the environment's deployment (the one its state records, else the
    rendered one), or, when `live` or none are saved, its logs fetched now (and saved)."""
    endpoint = state.section("endpoint").get("name") or ""
    deployment = state.section("deployment").get("name") or ""
    if endpoint and deployment:
        for key, name in (("endpoint.name", endpoint), ("deployment.name", deployment)):
            if not isinstance(name, str) or not _FILE_SAFE_NAME.fullmatch(name):
                raise WorkflowError(
                    f"{_rel(state.path, where.project_dir)}: {key} {clip(name)}: not an "
                    "endpoint or deployment name (letters, digits and '-', at most 64): "
                    "move the file aside after checking what it records"
                )
        where.endpoint, where.deployment = endpoint, deployment
    files = {c: log_file(where.project_dir, where.env, where.deployment, c) for c in LOG_CONTAINERS}
    saved = {c: p for c, p in files.items() if os.path.lexists(p)}
    if not live and saved:
        parts = []
        for container, path in saved.items():
            shown = _rel(path, where.project_dir)
            try:  # bounded, a regular file, UTF-8: a FIFO, a 3 GB or a binary file is one line
                text = read_text(path, MAX_SAVED_BYTES, shown)
            except ReadRefused as exc:
                raise WorkflowError(f"{exc} (fetch them again: `amlgen logs --live`)") from None
            parts.append(f"==> {shown} ({container}, saved) <==")
            parts.append(text.rstrip("\n"))
        return "\n".join(parts)
    got = where.fetch()
    if dry_run:
        return ""
    if not got.logs:
        why = "; ".join(got.unread) or "the service returned none"
        raise WorkflowError(
            f"no logs of deployment {where.endpoint}/{where.deployment}: {why} (none saved under "
            f"{_rel(logs_dir(where.project_dir, where.env), where.project_dir)})"
        )
    parts = []
    for container, text in got.logs.items():
        parts.append(f"==> {where.endpoint}/{where.deployment} ({container}, live) <==")
        parts.append(text.rstrip("\n"))
    return "\n".join([*parts, *got.unread])


__all__ = [
    "Fetched",
    "Where",
    "cause_of",
    "deployment_failure",
    "explained",
    "failed_step",
    "fetch_logs",
    "job_detail",
    "log_file",
    "logs",
    "logs_dir",
    "scrub",
]

"""`amlgen plan`: what applying the committed files would change in the workspace, and drift.

For each resource the rendered files describe (compute cluster, model version, online endpoint,
deployment, the endpoint's traffic; on the fine-tuning job path the model version the job
registers, the serverless endpoint and a marketplace subscription when the model needs one)
and each registry asset they pin (component, base model),
the live state is read through the chosen backend and compared with the desired state, both
normalised by `generator.normalise`. Each resource gets one action:

  create         it does not exist
  update         fields differ (old -> new); marked drift when the resource still carries the
                 committed params fingerprint, i.e. the change was made outside amlgen
  no-change      live equals desired
  cannot-update  a field Azure refuses to change in place differs; `note` says what to do
  read           a registry asset the files pin, found (`missing` when it is not)

Exit codes follow terraform's -detailed-exitcode: 0 no changes, 2 changes, 1 error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from . import costview, footprint, names
from .backends.base import Assets, ModelInfo, TransientError, entity_dict
from .backends.finetune import FinetuneAssets
from .capacity import Capacity, Context, Survey, assess
from .catalog.uri import COMPONENTS, MODELS, parse_registry_uri, registry_uri
from .errors import WorkflowError
from .normalise import (
    COMPUTE,
    DEPLOYMENT,
    ENDPOINT,
    MARKETPLACE,
    MODEL,
    SERVERLESS,
    TRAFFIC,
    Change,
    canonical,
    diff,
    show,
)
from .rendering import model_path
from .sdkenv import check_sdk_environment

if TYPE_CHECKING:
    from .costs import Estimate

FORMAT_VERSION = 1
FORMATS = ("text", "json", "markdown")
FINGERPRINT_TAG = "amlgen.params"
CREATE, UPDATE, NO_CHANGE, CANNOT_UPDATE = "create", "update", "no-change", "cannot-update"
READ, MISSING = "read", "missing"
CHANGING = (CREATE, UPDATE, CANNOT_UPDATE, MISSING)
READ_RETRIES = 8
_PLACEHOLDER_JOB = "JOB_NAME"

# Fields Azure will not change on an existing resource, and what to do instead.
IMMUTABLE: dict[str, dict[str, str]] = {
    COMPUTE: {
        "size": "a cluster's VM size cannot change: delete the cluster "
        "(`az ml compute delete -n {name}`) or name a new one in compute.name",
        "tier": "a cluster's tier cannot change: delete the cluster or name a new one",
        "type": "a compute's type cannot change: name a new one in compute.name",
    },
    MODEL: {
        "*": "model versions are immutable: bump registered_model.version in the params, "
        "`make render`, commit, and run again",
    },
    ENDPOINT: {
        "auth_mode": "an endpoint's auth_mode cannot change in place: `amlgen teardown`, then "
        "deploy again",
    },
    SERVERLESS: {
        "model_id": "a serverless endpoint's model cannot change in place: `amlgen teardown`, "
        "then deploy again (or name a new endpoint in endpoint.name)",
        "auth_mode": "a serverless endpoint's auth_mode cannot change in place: `amlgen "
        "teardown`, then deploy again",
    },
    MARKETPLACE: {
        "model_id": "a marketplace subscription's model cannot change: subscribing to another "
        "model is another subscription",
    },
    DEPLOYMENT: {
        "instance_type": "a deployment's instance type cannot change in place: give the "
        "deployment a new name (deployment.name) and move the traffic, or tear the endpoint "
        "down and deploy again",
        "type": "a deployment's type cannot change: give it a new name",
    },
}

_TITLES = {
    COMPUTE: "compute",
    MODEL: "model",
    ENDPOINT: "online endpoint",
    DEPLOYMENT: "online deployment",
    SERVERLESS: "serverless endpoint",
    MARKETPLACE: "marketplace subscription",
    TRAFFIC: "traffic",
    "component": "registry component",
    "registry_model": "registry model",
}
_SIGNS = {CREATE: "+", UPDATE: "~", NO_CHANGE: "=", CANNOT_UPDATE: "!", READ: "=", MISSING: "!"}


@dataclass
class ResourcePlan:
    """One resource's action, with its field-level changes (old = live, new = desired)."""

    kind: str
    name: str
    action: str
    file: str | None = None
    drift: bool = False
    changes: list[Change] = field(default_factory=list)
    note: str | None = None

    @property
    def title(self) -> str:
        return f"{_TITLES.get(self.kind, self.kind)} {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "file": self.file,
            "action": self.action,
            "drift": self.drift,
            "changes": [asdict(c) for c in self.changes],
            "note": self.note,
        }


@dataclass
class Plan:
    """Every resource of one environment; `exit_code` is terraform's -detailed-exitcode."""

    env: str
    backend: str
    resources: list[ResourcePlan]
    capacity: Capacity | None = None  # quota, regions and counts (None: not assessed)
    cost: Estimate | None = None  # what it will cost (generator/pricing.py), when priced

    @property
    def changed(self) -> bool:
        return any(r.action in CHANGING for r in self.resources)

    @property
    def exit_code(self) -> int:
        return 2 if self.changed else 0

    def summary(self) -> dict[str, int]:
        counts = {a.replace("-", "_"): 0 for a in (CREATE, UPDATE, CANNOT_UPDATE, NO_CHANGE)}
        counts["drift"] = 0
        counts["missing"] = 0
        for r in self.resources:
            if r.action in (CREATE, UPDATE, CANNOT_UPDATE, NO_CHANGE, MISSING):
                counts[r.action.replace("-", "_")] += 1
            counts["drift"] += r.drift
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "env": self.env,
            "backend": self.backend,
            "changes": self.changed,
            "summary": self.summary(),
            "resources": [r.to_dict() for r in self.resources],
            "quota": self.capacity.to_dict() if self.capacity else None,
            **({"cost": costview.as_dict(self.cost)} if self.cost is not None else {}),
        }

    def summary_line(self) -> str:
        s = self.summary()
        if not self.changed:
            return "No changes: the workspace matches the committed files."
        parts = [f"{s['create']} to create", f"{s['update']} to update"]
        if s["drift"]:
            parts[-1] += f" ({s['drift']} drift)"
        if s["cannot_update"]:
            parts.append(f"{s['cannot_update']} cannot update")
        if s["missing"]:
            parts.append(f"{s['missing']} missing in the registry")
        problems = len(self.capacity.problems()) if self.capacity else 0
        short = (
            f" Azure would refuse it: {problems} quota or region problem(s)." if problems else ""
        )
        return "Plan: " + ", ".join(parts) + f", {s['no_change']} unchanged." + short

    def render(self, fmt: str = "text") -> str:
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        if fmt == "markdown":
            return self._markdown()
        if fmt == "text":
            return self._text()
        raise WorkflowError(f"--format: {fmt!r}: allowed: {', '.join(FORMATS)}")

    def _label(self, r: ResourcePlan) -> str:
        label = {NO_CHANGE: "no change", CANNOT_UPDATE: "cannot update", READ: "exists"}.get(
            r.action, r.action
        )
        if r.drift:
            label += " (drift: changed outside amlgen)"
        return label

    def _text(self) -> str:
        lines = [f"amlgen plan: env {self.env}, backend {self.backend}"]
        for r in self.resources:
            lines.append(f"  {_SIGNS.get(r.action, '?')} {r.title}: {self._label(r)}")
            lines.extend(f"      {c.text()}" for c in r.changes)
            if r.note:
                lines.append(f"      {r.note}")
        if self.capacity is not None:
            lines += self.capacity.text_lines()
        lines += costview.text(self.cost) if self.cost is not None else []
        lines.append(self.summary_line())
        return "\n".join(lines) + "\n"

    def _markdown(self) -> str:
        lines = [f"### amlgen plan: `{self.env}`", ""]
        if self.cost is not None:  # the cost change first, as reviewers know it from infracost
            lines += [costview.markdown_headline(self.cost), ""]
        lines += [f"**{self.summary_line()}**", ""]
        lines += ["| | resource | action |", "| --- | --- | --- |"]
        for r in self.resources:
            lines.append(f"| {_SIGNS.get(r.action, '?')} | `{r.title}` | {self._label(r)} |")
        detailed = [r for r in self.resources if r.changes or r.note]
        if detailed:
            lines += ["", "<details><summary>Changes</summary>", ""]
            for r in detailed:
                lines += [f"**{r.title}** ({self._label(r)})", ""]
                if r.changes:  # a resource with a note only gets no (empty) diff block
                    lines.append("```diff")
                    for c in r.changes:
                        if c.old is not None:
                            lines.append(f"- {c.path}: {show(c.old)}")
                        if c.new is not None:
                            lines.append(f"+ {c.path}: {show(c.new)}")
                    lines.append("```")
                if r.note:
                    lines += ["", r.note] if r.changes else [r.note]
                lines.append("")
            lines.append("</details>")
        quota = self.capacity.markdown_lines() if self.capacity is not None else []
        if quota:
            lines += ["", *quota]
        if self.cost is not None:
            lines += ["", *costview.markdown_details(self.cost)]
        return "\n".join(lines) + "\n"


# --- computing a plan -----------------------------------------------------------------------


def load_desired(assets: Assets) -> dict[str, dict[str, Any] | None]:
    """Each committed file as the SDK reads it (`load_*`, then the entity's dict)."""
    from .quiet import quiet

    check_sdk_environment()

    with quiet():
        import azure.ai.ml as aml

    files = {
        COMPUTE: ("compute", names.COMPUTE_FILE),
        MODEL: ("model", names.MODEL_FILE),
        ENDPOINT: ("online_endpoint", names.ENDPOINT_FILE),
        DEPLOYMENT: ("online_deployment", names.DEPLOYMENT_FILE),
    }
    if isinstance(assets, FinetuneAssets):  # the job registers the model: no model.yml
        del files[MODEL]
        if assets.serverless:
            del files[ENDPOINT], files[DEPLOYMENT]
            files[SERVERLESS] = ("serverless_endpoint", names.SERVERLESS_ENDPOINT_FILE)
    out: dict[str, dict[str, Any] | None] = {}
    for kind, (loader, name) in files.items():
        if kind == COMPUTE and assets.compute is None:
            out[kind] = None
            continue
        try:
            with quiet():  # the SDK's notices (experimental classes) are not ours
                entity = getattr(aml, f"load_{loader}")(source=assets.path(name))
                out[kind] = entity_dict(entity)
        except Exception as exc:  # marshmallow ValidationError, ValidationException, ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkflowError(f"{assets.rel(name)}: {first}") from None
    return out


def registry_refs(assets: Assets) -> list[tuple[str, str, str, str]]:
    """(kind, registry, name, version) of every registry asset the job pins."""
    refs: list[tuple[str, str, str, str]] = []
    uris = [str(assets.step().get("component") or "")]
    base = assets.base_model
    if base:
        uris.append(registry_uri(base[0], MODELS, base[1], base[2]))
    for uri in uris:
        m = parse_registry_uri(uri)
        if m and m.version:
            kind = "component" if m.kind == COMPONENTS else "registry_model"
            refs.append((kind, m.registry, m.name, m.version))
    return refs


def _retrying(call: Callable[[], Any], sleep: Callable[[float], None] = time.sleep) -> Any:
    """Transient failures (lost connection, a restarting or throttled service) are retried with
    backoff, as the flow's polling does; the last one is reported as one line."""
    delay = 0.5
    for attempt in range(READ_RETRIES + 1):
        try:
            return call()
        except TransientError as exc:
            if attempt == READ_RETRIES:
                raise WorkflowError(
                    f"the service did not answer after {READ_RETRIES} retries ({exc}): "
                    "try again later"
                ) from None
            sleep(delay)
            delay = min(delay * 2, 8.0)
    raise AssertionError("unreachable")


def _fingerprint(doc: dict[str, Any] | None) -> str | None:
    tags = (doc or {}).get("tags") or {}
    value = tags.get(FINGERPRINT_TAG) if isinstance(tags, dict) else None
    return str(value) if value is not None else None


def _classify(
    kind: str,
    name: str,
    desired: dict[str, Any],
    live: dict[str, Any] | None,
    file: str | None,
    fingerprint_doc: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = None,
) -> ResourcePlan:
    if live is None:
        return ResourcePlan(kind, name, CREATE, file)
    changes = diff(live, desired, kind)
    if not changes:
        return ResourcePlan(kind, name, NO_CHANGE, file)
    live_doc, desired_doc = fingerprint_doc or (live, desired)
    committed = _fingerprint(desired_doc)
    drift = committed is not None and _fingerprint(live_doc) == committed
    rules = IMMUTABLE.get(kind, {})
    blocked = [rules.get(c.path.split(".")[0].split("[")[0]) or rules.get("*") for c in changes]
    notes = [n for n in dict.fromkeys(blocked) if n]
    if notes:
        return ResourcePlan(
            kind, name, CANNOT_UPDATE, file, drift, changes, "; ".join(notes).format(name=name)
        )
    return ResourcePlan(kind, name, UPDATE, file, drift, changes)


class Reader(Protocol):
    """A backend's read primitive: one resource as the SDK's entity dict, None when absent."""

    def __call__(
        self,
        kind: str,
        name: str,
        *,
        version: str | None = None,
        endpoint: str | None = None,
        registry: str | None = None,
    ) -> dict[str, Any] | None: ...


def make_plan(
    env: str,
    assets: Assets,
    read: Reader,
    backend: str,
    job: str | None = None,
    desired: dict[str, dict[str, Any] | None] | None = None,
    survey: Survey | None = None,
    context: Context | None = None,
) -> Plan:
    """Read the live state with `read` (a backend's) and compare it with the committed files.

    `job` is the job the model version is (or will be) registered from, when known: model.yml's
    path names a placeholder job that registration fills in; a fine-tuning job registers it.
    With `survey` (a backend's), quota, regions and counts are assessed too (`capacity`), over
    the resources read here (`context`: what the run will add).
    """
    seen: dict[tuple[str, str], dict[str, Any] | None] = {}

    def remember(kind: str, name: str, **where: str | None) -> dict[str, Any] | None:
        found = read(kind, name, **where)
        seen[(kind, f"{where['endpoint']}/{name}" if where.get("endpoint") else name)] = found
        return found

    plan = _plan(env, assets, remember, backend, job, desired)
    if survey is not None:
        ctx = context or Context()
        ctx.existing.update(seen)
        resources = footprint.of_documents(assets.documents())
        plan.capacity = assess(survey, resources, ctx, read=remember)
    return plan


def _plan(
    env: str,
    assets: Assets,
    read: Reader,
    backend: str,
    job: str | None,
    desired: dict[str, dict[str, Any] | None] | None,
) -> Plan:
    want = desired if desired is not None else load_desired(assets)
    out: list[ResourcePlan] = []
    if want.get(COMPUTE) is not None and assets.compute is not None:
        name = str(assets.compute["name"])
        live = _retrying(lambda: read(COMPUTE, name))
        out.append(
            _classify(
                COMPUTE,
                name,
                canonical(COMPUTE, want[COMPUTE]) or {},
                canonical(COMPUTE, live),
                assets.rel(names.COMPUTE_FILE),
            )
        )
    if isinstance(assets, FinetuneAssets):
        out.append(_job_model(assets, read, job))
        if assets.serverless:
            out += _serverless(assets, read, want)
        else:
            out += _online(assets, read, want)
    else:
        out.append(_pipeline_model(assets, read, job, want))
        out += _online(assets, read, want)
    out += _registry(assets, read)
    return Plan(env=env, backend=backend, resources=out)


def _pipeline_model(
    assets: Assets, read: Reader, job: str | None, want: dict[str, dict[str, Any] | None]
) -> ResourcePlan:
    model_doc = dict(want[MODEL] or {})
    model_live = _retrying(lambda: read(MODEL, assets.model_name, version=assets.model_version))
    note = None
    if f"/jobs/{_PLACEHOLDER_JOB}/" in str(model_doc.get("path", "")):
        if job:
            model_doc["path"] = model_path(job)
        else:
            model_doc.pop("path", None)
            if model_live is not None:
                (model_live := dict(model_live)).pop("path", None)
            note = "path: set at registration from the pipeline job `run` submits"
    model_plan = _classify(
        MODEL,
        f"{assets.model_name}:{assets.model_version}",
        canonical(MODEL, model_doc) or {},
        canonical(MODEL, model_live),
        assets.rel(names.MODEL_FILE),
    )
    if model_plan.action == CREATE and note:
        model_plan.note = note
    return model_plan


def _job_model(assets: FinetuneAssets, read: Reader, job: str | None) -> ResourcePlan:
    """The version the fine-tuning job registers as its last step: absent (create), the one
    the recorded job registered (no change), or taken, which would fail the job."""
    title = f"{assets.model_name}:{assets.model_version}"
    file = assets.rel(assets.job_file)
    live = _retrying(lambda: read(MODEL, assets.model_name, version=assets.model_version))
    if live is None:
        note = "registered by the fine-tuning job (outputs.registered_model) when it completes"
        return ResourcePlan(MODEL, title, CREATE, file, note=note)
    info = ModelInfo(str(live.get("path") or ""), live.get("job_name"))
    if job and info.from_job(job):
        return ResourcePlan(MODEL, title, NO_CHANGE, file)
    taken = Change(
        "version", f"{title} ({info.job_name or info.path or 'registered by hand'})", title
    )
    note = IMMUTABLE[MODEL]["*"] + " (the job would train, then fail to register it)"
    return ResourcePlan(MODEL, title, CANNOT_UPDATE, file, changes=[taken], note=note)


def _serverless(
    assets: FinetuneAssets, read: Reader, want: dict[str, dict[str, Any] | None]
) -> list[ResourcePlan]:
    out: list[ResourcePlan] = []
    if assets.marketplace_needed:
        name = assets.marketplace_name
        live = _retrying(lambda: read(MARKETPLACE, name))
        desired = {"name": name, "model_id": assets.marketplace_model_id}
        out.append(
            _classify(
                MARKETPLACE,
                name,
                canonical(MARKETPLACE, desired) or {},
                canonical(MARKETPLACE, live),
                assets.rel(assets.job_file),
            )
        )
    live_ep = _retrying(lambda: read(SERVERLESS, assets.endpoint_name))
    endpoint = _classify(
        SERVERLESS,
        assets.endpoint_name,
        canonical(SERVERLESS, want[SERVERLESS]) or {},
        canonical(SERVERLESS, live_ep),
        assets.rel(names.SERVERLESS_ENDPOINT_FILE),
    )
    if endpoint.action == CREATE:
        endpoint.note = "billed per hour while it exists: `run` deletes it unless --keep-endpoint"
    out.append(endpoint)
    return out


def _online(
    assets: Assets, read: Reader, want: dict[str, dict[str, Any] | None]
) -> list[ResourcePlan]:
    out: list[ResourcePlan] = []
    endpoint_doc = want[ENDPOINT] or {}
    ep_live = _retrying(lambda: read(ENDPOINT, assets.endpoint_name))
    out.append(
        _classify(
            ENDPOINT,
            assets.endpoint_name,
            canonical(ENDPOINT, endpoint_doc) or {},
            canonical(ENDPOINT, ep_live),
            assets.rel(names.ENDPOINT_FILE),
        )
    )
    dep_live = None
    if ep_live is not None:
        dep_live = _retrying(
            lambda: read(DEPLOYMENT, assets.deployment_name, endpoint=assets.endpoint_name)
        )
    out.append(
        _classify(
            DEPLOYMENT,
            f"{assets.endpoint_name}/{assets.deployment_name}",
            canonical(DEPLOYMENT, want[DEPLOYMENT]) or {},
            canonical(DEPLOYMENT, dep_live),
            assets.rel(names.DEPLOYMENT_FILE),
        )
    )
    traffic_want = {assets.deployment_name: assets.traffic_percent}
    traffic_live = None if ep_live is None else dict(ep_live.get("traffic") or {})
    out.append(
        _classify(
            TRAFFIC,
            assets.endpoint_name,
            canonical(TRAFFIC, traffic_want) or {},
            canonical(TRAFFIC, traffic_live),
            None,
            fingerprint_doc=(ep_live, endpoint_doc),
        )
    )
    return out


def _registry(assets: Assets, read: Reader) -> list[ResourcePlan]:
    out: list[ResourcePlan] = []
    file = assets.rel(assets.job_file)
    for kind, registry, name, version in registry_refs(assets):
        found = _retrying(partial(read, kind, name, version=version, registry=registry))
        title = f"{registry}/{name}:{version}"
        if found is None:
            note = (
                f"registry {registry} has no version {version} of {name}: "
                "pin a version that exists (amlgen validate --online lists them)"
            )
            out.append(ResourcePlan(kind, title, MISSING, file, note=note))
        else:
            out.append(ResourcePlan(kind, title, READ, file))
    return out


__all__ = [
    "CANNOT_UPDATE",
    "CREATE",
    "FORMATS",
    "FORMAT_VERSION",
    "IMMUTABLE",
    "MISSING",
    "NO_CHANGE",
    "READ",
    "UPDATE",
    "Plan",
    "Reader",
    "ResourcePlan",
    "load_desired",
    "make_plan",
    "registry_refs",
]

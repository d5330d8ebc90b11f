"""`amlgen lock`: pin what the registry says, the way pip-tools pins a resolver's answer.

`lock()` reads, for every component and model version the params pin (all environments), what
rendering and validation take from the registry, and writes it to params/registry.lock with
where and when each entry was read. Without a registry (`seed=True`) the bundled catalog seeds
it. `lock(check=True)` asks the live registry again and reports what changed since the lock;
a change that breaks an environment's job (a retirement that has passed, the chosen VM size
dropped from an allow list, an input gone) makes it fail.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import catalog, lifecycle, names, pricing
from .atomic import write_atomic
from .catalog import lockfile, metadata
from .catalog.lockfile import LOCK_FILE, LOCK_VERSION, LockError
from .catalog.uri import registry_uri
from .errors import AmlgenError
from .outputs import check_env_name
from .params import Resolved, environments, load_params
from .prices import Endpoint
from .version import __version__
from .yamlio import dump

BUNDLED = "bundled catalog"
_SPEC_KEYS = ("type", "optional", "default", "enum", "min", "max")


@dataclass(frozen=True)
class Change:
    """One difference between the lock and the registry."""

    breaking: bool
    subject: str
    message: str

    def text(self) -> str:
        return f"{'BREAKING' if self.breaking else 'note'}: {self.subject}: {self.message}"


@dataclass
class LockResult:
    path: str
    source: str
    written: bool = False
    unchanged: bool = False
    entries: int = 0
    changes: list[Change] = field(default_factory=list)
    prices: int = 0  # price entries written (generator/pricing.py)
    messages: list[str] = field(default_factory=list)  # `warning:`/`note:` lines for stderr

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    def summary(self) -> str:
        if self.written or self.unchanged:
            state = "written" if self.written else "unchanged"
            priced = f", {self.prices} prices" if self.prices else ""
            return f"{self.path}: {state}, {self.entries} entries read from {self.source}{priced}"
        n, b = len(self.changes), len(self.breaking)
        if not n:
            return f"{self.path}: up to date with {self.source}"
        return f"{self.path}: {n} change(s) in {self.source}, {b} breaking"


# --- what the params pin ---------------------------------------------------------------------


@dataclass
class Pin:
    kind: str  # component | model
    registry: str
    name: str
    version: str
    envs: list[Resolved] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.name} {self.version}"


def _pins(root: Path, envs: list[str]) -> list[Pin]:
    pins: dict[tuple[str, str, str, str], Pin] = {}
    for env in envs:
        r = load_params(env, root)
        for kind, ref in (("component", r.params.component), ("model", r.params.model)):
            key = (kind, ref.registry, ref.name, ref.version)
            pins.setdefault(key, Pin(kind, ref.registry, ref.name, ref.version)).envs.append(r)
    return [pins[k] for k in sorted(pins)]


# --- readers: the live registry, or the bundled catalog --------------------------------------


def component_facts(spec: catalog.ComponentSpec) -> dict[str, Any]:
    """A component interface as the lock stores it (no descriptions: nothing decides on them)."""
    inputs: dict[str, Any] = {}
    for name in sorted(spec.inputs):
        inp = spec.inputs[name]
        raw: dict[str, Any] = {"type": inp.type, "optional": bool(inp.optional)}
        if inp.default is not None:
            raw["default"] = inp.default
        if inp.enum is not None:
            raw["enum"] = list(inp.enum)
        for bound in ("min", "max"):
            if getattr(inp, bound) is not None:
                raw[bound] = getattr(inp, bound)
        inputs[name] = raw
    outputs = {n: {"type": t} for n, t in sorted(spec.outputs.items())}
    return {"inputs": inputs, "outputs": outputs}


def _model_facts(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in lockfile.MODEL_FIELDS if k in entry}


class Bundled:
    """The catalog bundled in the package (what seeds a lock when no registry is reachable)."""

    name = BUNDLED

    def read(self, pin: Pin) -> tuple[dict[str, Any], str, str]:
        """(facts, latest version, where it was read)."""
        if pin.kind == "component":
            versions = catalog.component_versions(pin.name)
            spec = catalog.component(pin.name, pin.version)
            if spec is None:
                raise _missing(pin, versions, self.name)
            src = f"{BUNDLED} (scripts/build_catalog.py: {pin.name}-{pin.version}-spec.yaml)"
            return component_facts(spec), versions[-1], src
        versions = catalog.model_versions(pin.name)
        model = catalog.model(pin.name, pin.version)
        if model is None:
            raise _missing(pin, versions, self.name)
        entry = {k: v for k, v in model.__dict__.items() if k in lockfile.MODEL_FIELDS}
        entry = {k: list(v) if isinstance(v, tuple) else v for k, v in entry.items()}
        entry = {k: v for k, v in entry.items() if v not in (None, [], {}, False)}
        return _model_facts(entry), versions[-1], f"{BUNDLED} (scripts/build_catalog.py)"


class Registry:
    """The live registry through the real SDK (the emulator's, with `emulator`)."""

    def __init__(self, emulator: str | None = None) -> None:
        self.emulator = emulator or os.environ.get(names.ENV_EMULATOR) or None
        self.name = "the local emulator's registry" if self.emulator else "the Azure ML registry"
        self._clients: dict[str, Any] = {}

    def _client(self, registry: str) -> Any:
        if registry not in self._clients:
            from .validation.online import registry_client

            self._clients[registry] = registry_client(registry, self.emulator)
        return self._clients[registry]

    def read(self, pin: Pin) -> tuple[dict[str, Any], str, str]:
        from .quiet import quiet
        from .validation.online import spec_from_entity

        where = registry_uri(pin.registry, f"{pin.kind}s", pin.name, pin.version)
        try:
            with quiet():
                client = self._client(pin.registry)
                ops = client.components if pin.kind == "component" else client.models
                versions = sorted(
                    {str(e.version) for e in ops.list(name=pin.name)}, key=catalog.version_key
                )
                if pin.version not in versions:
                    raise _missing(pin, versions, f"registry {pin.registry}")
                if pin.kind == "component":
                    facts = component_facts(
                        spec_from_entity(ops.get(name=pin.name, version=pin.version))
                    )
                else:
                    facts = _model_facts(metadata.read_registry_model(ops, pin.name, pin.version))
        except AmlgenError:
            raise
        except Exception as exc:  # the asset's own 404, else a read that failed: one line
            from .backends.failures import NOT_FOUND, classify_exception, exception_detail, failure

            cause = classify_exception(exc)
            if cause == NOT_FOUND:
                raise _missing(pin, [], f"registry {pin.registry}") from None
            what = f"{pin.subject} from registry {pin.registry} ({self.name})"
            line = str(failure(cause, what, exception_detail(exc), emulated=bool(self.emulator)))
            raise RegistryUnreadable(f"cannot read the registry: {line}") from None
        return facts, versions[-1], where


class RegistryUnreadable(LockError):
    """The registry could not be read (sign-in, network, access): not a change in it."""


def _missing(pin: Pin, versions: list[str], where: str) -> LockError:
    if not versions:
        return LockError(f"{where} has no {pin.kind} {pin.name!r} (pinned by {_envs(pin)})")
    return LockError(
        f"{pin.kind} {pin.name} has no version {pin.version!r} in {where} "
        f"(versions: {', '.join(versions)}; pinned by {_envs(pin)})"
    )


def _envs(pin: Pin) -> str:
    return ", ".join(f"params/{r.env}.yaml" for r in pin.envs)


# --- writing -----------------------------------------------------------------------------------


def _header(seed: bool, prices: bool = False) -> str:
    how = "amlgen lock --seed" if seed else "amlgen lock"
    priced = (
        "# prices: each VM size's Linux pay-as-you-go price per hour in the environment's\n"
        "# budget.region, from the Azure Retail Prices API (docs/cost.md).\n"
        if prices
        else ""
    )
    return (
        f"# Generated by amlgen {__version__}: what rendering and validation take from the\n"
        "# Azure ML registry for the component and model versions params/*.yaml pin, with where\n"
        f"# and when each was read. Do not edit: regenerate with `{how}`; `amlgen lock --check`\n"
        "# reports what changed in the live registry since.\n" + priced
    )


def _entry_doc(pin: Pin, facts: dict[str, Any], latest: str, where: str, on: str) -> dict[str, Any]:
    return {
        "registry": pin.registry,
        "name": pin.name,
        "version": pin.version,
        "read_from": where,
        "read_on": on,
        "latest_version": latest,
        ("interface" if pin.kind == "component" else "metadata"): facts,
    }


def _text(docs: dict[str, list[dict[str, Any]]], seed: bool) -> str:
    body = {"lock_version": LOCK_VERSION, **docs}
    return _header(seed, bool(docs.get("prices"))) + dump(body)


def _same(old: lockfile.Entry | None, facts: dict[str, Any], latest: str, where: str) -> bool:
    return (
        old is not None
        and old.facts == facts
        and old.latest_version == latest
        and old.read_from == where
    )


def _write(
    root: Path, reader: Bundled | Registry, seed: bool, on: dt.date, ep: Endpoint | None
) -> LockResult:
    old = lockfile.read_lock(root)
    pins = _pins(root, environments(root))
    docs: dict[str, list[dict[str, Any]]] = {"components": [], "models": []}
    for pin in pins:
        facts, latest, where = reader.read(pin)
        table = (old.components if pin.kind == "component" else old.models) if old else {}
        prev = table.get((pin.registry, pin.name, pin.version))
        # Unchanged facts keep their date: a re-run on an unchanged registry is byte-identical.
        keep = prev is not None and _same(prev, facts, latest, where)
        day = prev.read_on if prev is not None and keep else on.isoformat()
        doc = _entry_doc(pin, facts, latest, where, day)
        docs["components" if pin.kind == "component" else "models"].append(doc)
    envs = environments(root)
    priced, messages = pricing.lock_prices(root, envs, old.prices if old else {}, ep, on)
    if priced:
        docs["prices"] = priced
    text = _text(docs, seed)
    path = root / LOCK_FILE
    result = LockResult(path=LOCK_FILE, source=reader.name, entries=len(pins))
    result.prices, result.messages = len(priced), messages
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        result.unchanged = True
        return result
    write_atomic(path, text)
    result.written = True
    return result


# --- checking ----------------------------------------------------------------------------------


def _list_change(
    pin: Pin,
    key: str,
    label: str,
    old: list[str],
    new: list[str],
    chosen: Callable[[Resolved], str | None],
    what: str,
) -> list[Change]:
    if [s.lower() for s in old] == [s.lower() for s in new]:
        return []
    added = [s for s in new if s.lower() not in {o.lower() for o in old}]
    removed = [s for s in old if s.lower() not in {n.lower() for n in new}]
    out: list[Change] = []
    for r in pin.envs:
        size = chosen(r)
        if size and new and size.lower() not in {n.lower() for n in new}:
            out.append(
                Change(
                    True,
                    pin.subject,
                    f"{size} ({what} of {r.env}) was dropped from the {label} allow list",
                )
            )
    note = f"{key}: adds {added or 'nothing'}, removes {removed or 'nothing'}"
    if not out:
        out.append(Change(False, pin.subject, note))
    return out


def _model_changes(pin: Pin, old: dict[str, Any], new: dict[str, Any], on: dt.date) -> list[Change]:
    out: list[Change] = []
    old_life, new_life = old.get("lifecycle", {}), new.get("lifecycle", {})
    if old_life != new_life:
        live = catalog.model_from_entry(pin.name, pin.version, new)
        verdict = lifecycle.judge(live, on)
        diffs = ", ".join(
            f"{k} {old_life.get(k) or 'none'} -> {new_life.get(k) or 'none'}"
            for k in sorted(set(old_life) | set(new_life))
            if old_life.get(k) != new_life.get(k)
        )
        if verdict.retired:
            envs = ", ".join(r.env for r in pin.envs)
            out.append(
                Change(True, pin.subject, f"{diffs}: now retired, jobs of {envs} would be rejected")
            )
        else:
            out.append(Change(False, pin.subject, f"new lifecycle dates: {diffs}"))
    out += _list_change(
        pin,
        "finetune_allow_list",
        "fine-tuning",
        old.get("finetune_allow_list", []),
        new.get("finetune_allow_list", []),
        lambda r: r.params.compute.size,
        "compute.size",
    )
    out += _list_change(
        pin,
        "inference_allow_list",
        "inference",
        old.get("inference_allow_list", []),
        new.get("inference_allow_list", []),
        lambda r: r.params.deployment.instance_type,
        "deployment.instance_type",
    )
    window = new.get("context_window")
    if old.get("context_window") != window:
        too_long = [
            r.env
            for r in pin.envs
            if window
            and isinstance(r.finetune_inputs.get("max_seq_length"), int)
            and r.finetune_inputs["max_seq_length"] > window
        ]
        msg = f"context_window {old.get('context_window')} -> {window}"
        if too_long:
            out.append(
                Change(
                    True, pin.subject, f"{msg}: max_seq_length of {', '.join(too_long)} exceeds it"
                )
            )
        else:
            out.append(Change(False, pin.subject, msg))
    for key in sorted(set(old) | set(new)):
        if key in ("lifecycle", "finetune_allow_list", "inference_allow_list", "context_window"):
            continue
        if old.get(key) != new.get(key):
            hint = (
                " (re-lock and re-render to take them)" if key == "model_specific_defaults" else ""
            )
            out.append(Change(False, pin.subject, f"{key} changed{hint}"))
    return out


def _component_changes(pin: Pin, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    old_in, new_in = old.get("inputs", {}), new.get("inputs", {})
    from .rendering import step_inputs

    for r in pin.envs:
        for name, value in sorted(step_inputs(r).items()):
            spec = new_in.get(name)
            if spec is None:
                out.append(Change(True, pin.subject, f"input {name!r} (used by {r.env}) is gone"))
            elif spec.get("enum") and str(value) not in [str(v) for v in spec["enum"]]:
                out.append(
                    Change(
                        True,
                        pin.subject,
                        f"input {name!r}: {value!r} (used by {r.env}) is no longer allowed "
                        f"({', '.join(map(str, spec['enum']))})",
                    )
                )
    for name in sorted(set(old_in) | set(new_in)):
        if old_in.get(name) != new_in.get(name) and not any(name in c.message for c in out):
            state = (
                "added" if name not in old_in else "removed" if name not in new_in else "changed"
            )
            out.append(Change(False, pin.subject, f"input {name!r} {state}"))
    if old.get("outputs") != new.get("outputs"):
        out.append(Change(False, pin.subject, "outputs changed"))
    return out


def _check(
    root: Path, reader: Registry, envs: list[str], on: dt.date, ep: Endpoint | None
) -> LockResult:
    lock = lockfile.read_lock(root)
    result = LockResult(path=LOCK_FILE, source=reader.name)
    if lock is None:
        raise LockError(f"{LOCK_FILE} does not exist: create it with `amlgen lock` and commit it")
    for pin in _pins(root, envs):
        table = lock.components if pin.kind == "component" else lock.models
        entry = table.get((pin.registry, pin.name, pin.version))
        if entry is None:
            result.changes.append(
                Change(
                    True,
                    pin.subject,
                    f"not in {LOCK_FILE} (pinned by {_envs(pin)}): run `amlgen lock`",
                )
            )
            continue
        try:
            facts, latest, _ = reader.read(pin)
        except RegistryUnreadable:
            raise  # a read that failed says nothing about the registry: exit 1, no change
        except LockError as exc:  # the pinned asset is gone: that is a breaking change
            result.changes.append(Change(True, pin.subject, str(exc)))
            continue
        if pin.kind == "model":
            result.changes += _model_changes(pin, entry.facts, facts, on)
        else:
            result.changes += _component_changes(pin, entry.facts, facts)
        if catalog.version_key(latest) > catalog.version_key(entry.latest_version):
            result.changes.append(
                Change(
                    False,
                    pin.subject,
                    f"newer version {latest} in the registry (pinned: {pin.version}; latest "
                    f"when locked: {entry.latest_version})",
                )
            )
    if ep is not None:  # a price change is a note, never a failure
        for subject, message in pricing.check_prices(root, envs, lock.prices, ep, on):
            result.changes.append(Change(False, subject, message))
    return result


def lock(
    project_dir: Path | str = ".",
    *,
    check: bool = False,
    env: str | None = None,
    emulator: str | None = None,
    seed: bool = False,
    on: dt.date | None = None,
    prices: bool = True,
) -> LockResult:
    """Write params/registry.lock (or, with `check`, compare it with the live registry).

    The VM sizes the environments use are priced too (`prices:`, generator/pricing.py) unless
    `prices` is False or `seed` (no network): then the locked prices of sizes in use stay.

    Example: `lock(check=True, env="dev").breaking` lists what would make dev's job fail.
    """
    root = Path(project_dir)
    day = on or lifecycle.today()
    if env is not None and not check:
        raise LockError("--env applies to --check only: the lock covers every environment")
    if seed and (check or emulator):
        raise LockError("--seed writes the lock from the bundled catalog: no --check or --emulator")
    envs = environments(root)
    if env is not None:
        check_env_name(env)
        if env not in envs:
            raise LockError(
                f"unknown environment {env!r}: no params/{env}.yaml; known: "
                f"{', '.join(envs) or 'none'}"
            )
        envs = [env]
    if not envs:
        raise LockError(f"no environments in {root / 'params'}: nothing pins a registry asset")
    ep = pricing.lock_endpoint(root, emulator) if prices and not seed else None
    if check:
        return _check(root, Registry(emulator), envs, day, ep)
    return _write(root, Bundled() if seed else Registry(emulator), seed, day, ep)

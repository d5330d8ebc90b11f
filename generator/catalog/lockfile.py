"""The registry lock (`params/registry.lock`): reading it, and the metadata source built on it.

The lock holds exactly what rendering and validation take from the registry for the pinned
component and model versions, with where and when each entry was read. Offline commands take
registry facts from it first; the bundled catalog only answers what the lock does not hold (a
project without a lock, or a model switched but not yet re-locked). `generator.locking` writes and
re-checks it; this module only reads, so it can sit below the params model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import catalog, names
from ..errors import AmlgenError, ParamsError
from ..prices import Quote
from ..yamlio import Document, read
from . import pricelock

LOCK_FILE = names.LOCK_FILE
LOCK_VERSION = 1
REGENERATE = "amlgen lock"
MODEL_FIELDS = {
    "finetune_allow_list": list,
    "inference_allow_list": list,
    "model_specific_defaults": dict,
    "lifecycle": dict,
    "archived": bool,
    "finetuning_tasks": list,
    "inference_tasks": list,
    "deployment_options": list,
    "context_window": int,
    "finetune_min_sku_spec": str,
    "inference_min_sku_spec": str,
}
LIFECYCLE_FIELDS = {
    "finetune_deprecation",
    "finetune_retirement",
    "inference_deprecation",
    "inference_retirement",
}
ENTRY_KEYS = {"registry", "name", "version", "read_from", "read_on", "latest_version"}


class LockError(AmlgenError):
    """The lock file is not what `amlgen lock` writes."""


@dataclass(frozen=True)
class Entry:
    """One locked registry asset: identity, provenance and the facts taken from it."""

    kind: str  # component | model
    registry: str
    name: str
    version: str
    read_from: str
    read_on: str
    latest_version: str
    facts: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.registry, self.name, self.version)


@dataclass
class Lock:
    path: Path
    components: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    models: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    # VM prices by (size, region, currency), lower-cased (catalog/pricelock.py).
    prices: dict[tuple[str, str, str], Quote] = field(default_factory=dict)

    def entries(self) -> Iterator[Entry]:
        yield from self.components.values()
        yield from self.models.values()


def _fail(doc: Document, path: tuple[str | int, ...], msg: str) -> LockError:
    line = doc.line_of(path) or 1
    dotted = ".".join(str(p) for p in path)
    where = f"{doc.source}:{line}: {dotted + ': ' if dotted else ''}"
    return LockError(f"{where}{msg}; regenerate it with `{REGENERATE}`")


def _text(doc: Document, raw: dict[str, Any], path: tuple[str | int, ...], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(doc, (*path, key), "must be a non-empty string")
    return value


def _day(doc: Document, value: Any, path: tuple[str | int, ...]) -> str:
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise _fail(doc, path, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _entry(doc: Document, kind: str, index: int, raw: Any) -> Entry:
    section = "components" if kind == "component" else "models"
    path: tuple[str | int, ...] = (section, index)
    if not isinstance(raw, dict):
        raise _fail(doc, path, "each entry must be a mapping")
    facts_key = "interface" if kind == "component" else "metadata"
    unknown = set(raw) - ENTRY_KEYS - {facts_key}
    if unknown:
        allowed = ", ".join(sorted(ENTRY_KEYS | {facts_key}))
        raise _fail(doc, (*path, sorted(unknown)[0]), f"unknown key (allowed: {allowed})")
    values = {k: _text(doc, raw, path, k) for k in sorted(ENTRY_KEYS - {"read_on"})}
    read_on = _day(doc, raw.get("read_on"), (*path, "read_on"))
    facts = raw.get(facts_key)
    if not isinstance(facts, dict):
        raise _fail(doc, (*path, facts_key), "must be a mapping")
    if kind == "component":
        for part in ("inputs", "outputs"):
            items = facts.get(part)
            if not isinstance(items, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("type"), str) for v in items.values()
            ):
                raise _fail(
                    doc, (*path, facts_key, part), "must map each name to a mapping with a type"
                )
    else:
        for key, value in facts.items():
            want = MODEL_FIELDS.get(key)
            if want is None:
                allowed = ", ".join(MODEL_FIELDS)
                raise _fail(doc, (*path, facts_key, key), f"unknown key (allowed: {allowed})")
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise _fail(doc, (*path, facts_key, key), f"must be a {want.__name__}")
        for key, value in (facts.get("lifecycle") or {}).items():
            if key not in LIFECYCLE_FIELDS:
                allowed = ", ".join(sorted(LIFECYCLE_FIELDS))
                raise _fail(
                    doc, (*path, facts_key, "lifecycle", key), f"unknown key (allowed: {allowed})"
                )
            _day(doc, value, (*path, facts_key, "lifecycle", key))
    return Entry(kind=kind, read_on=read_on, facts=facts, **values)


def parse(doc: Document, path: Path) -> Lock:
    """A lock from its parsed YAML; any nonsense is one LockError naming file:line: path."""
    data = doc.data
    if not isinstance(data, dict):
        raise _fail(doc, (), "the lock must be a mapping (lock_version, components, models)")
    unknown = set(data) - {"lock_version", "components", "models", pricelock.SECTION}
    if unknown:
        raise _fail(
            doc,
            (sorted(unknown)[0],),
            "unknown key (allowed: lock_version, components, models, prices)",
        )
    if data.get("lock_version") != LOCK_VERSION:
        raise _fail(doc, ("lock_version",), f"must be {LOCK_VERSION}")
    lock = Lock(path=path)
    for section, kind, target in (
        ("components", "component", lock.components),
        ("models", "model", lock.models),
    ):
        items = data.get(section, [])
        if not isinstance(items, list):
            raise _fail(doc, (section,), "must be a list of entries")
        for i, raw in enumerate(items):
            entry = _entry(doc, kind, i, raw)
            if entry.key in target:
                raise _fail(doc, (section, i), f"{entry.name} {entry.version} is locked twice")
            target[entry.key] = entry
    if pricelock.SECTION in data:
        lock.prices = pricelock.parse(doc, data[pricelock.SECTION], _fail, _day)
    return lock


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int) -> Lock:
    file = Path(path)
    source = f"{Path(path).parent.name}/{file.name}"
    try:
        doc = read(file, source)
    except ParamsError as exc:  # malformed YAML: same one-line story
        raise LockError(f"{exc}; regenerate it with `{REGENERATE}`") from None
    return parse(doc, file)


def read_lock(project_dir: Path | str) -> Lock | None:
    """The project's lock, or None when it has none."""
    path = Path(project_dir) / LOCK_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


class Source:
    """Registry facts for offline commands: the lock first, then the bundled catalog."""

    def __init__(self, lock: Lock | None) -> None:
        self.lock = lock

    def _locked(self, kind: str, name: str, version: str) -> Entry | None:
        if self.lock is None:
            return None
        table = self.lock.components if kind == "component" else self.lock.models
        return next((e for e in table.values() if (e.name, e.version) == (name, version)), None)

    def locked(self, kind: str, name: str, version: str) -> bool:
        return self._locked(kind, name, version) is not None

    def component(self, name: str, version: str) -> catalog.ComponentSpec | None:
        entry = self._locked("component", name, version)
        if entry is not None:
            return catalog.component_from_raw(name, version, entry.facts)
        return catalog.component(name, version)

    def model(self, name: str, version: str) -> catalog.ModelVersion | None:
        entry = self._locked("model", name, version)
        if entry is not None:
            return catalog.model_from_entry(name, version, entry.facts)
        return catalog.model(name, version)

    def candidates(self) -> list[catalog.ModelVersion]:
        """Every model version known here (successors are chosen among them)."""
        out = {(m.name, m.version): m for m in catalog.models()}
        if self.lock is not None:
            for e in self.lock.models.values():
                out[(e.name, e.version)] = catalog.model_from_entry(e.name, e.version, e.facts)
        return [out[k] for k in sorted(out)]


def source(project_dir: Path | str) -> Source:
    """The metadata source of a project (raises LockError on a nonsense lock)."""
    return Source(read_lock(project_dir))

"""Prices where amlgen acts: `plan`'s cost lines, the budget guard's prices, the lock's prices.

- `plan_estimate`: what the plan runs, priced in the workspace's region (read live through
  the backend), with what runs now taken from the plan's own live reads, so a params change from
  1 to 2 instances shows `+$X/h`.
- `live_region` / `make_book`: the region and the prices the budget guard of pre-flight
  (`generator.preflight.check_budget`) uses too.
- `lock_prices` / `check_prices`: what `amlgen lock` writes to and re-checks in the lock's
  `prices:` section, for the sizes every environment uses in its `budget.region` (or
  `finetuning_job.region`). A price that cannot be read leaves the lock's entry as it was;
  a changed price is a note, never a failure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from . import lifecycle, names
from .billable import COMPUTE, DEPLOYMENT, SERVERLESS, Billable, billable
from .catalog import lockfile, pricelock
from .costs import LIVE, OFF, Book, Estimate, estimate, money, params_region
from .errors import AmlgenError
from .finetuning.spec import normal_region
from .params import Resolved, load_params
from .prices import Endpoint, PriceError, Quote, endpoint, key, read_price
from .workspace import Workspace, resolve_workspace

REGION_NOTE = "prices are regional"
_COUNT = {DEPLOYMENT: "instance_count", COMPUTE: "min_instances"}
_SIZE = {DEPLOYMENT: "instance_type", COMPUTE: "size"}


def live_region(reader: Any, resolved: Resolved, notes: list[str], note: str) -> str | None:
    """The workspace's region through the backend (the params' region when it cannot be read)."""
    said = params_region(resolved)
    region: str | None = None
    # #22's backends read it as survey("region"); until they merge, workspace_region().
    survey = getattr(reader, "survey", None)
    read = (lambda note: survey("region", note=note)) if survey else None
    read = read or getattr(reader, "workspace_region", None)
    if read is not None:
        try:
            got = read(note=note)
            region = normal_region(got) if got else None
        except AmlgenError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            notes.append(f"cannot read the workspace's region ({first})")
    if region and said and region != said:
        notes.append(f"the workspace is in {region}, the params name {said}: prices of {region}")
    if region is None and said and not getattr(reader, "dry_run", False):
        notes.append(f"prices of {said}, the region the params name")
    return region or said


def make_book(
    resolved: Resolved, ws: Workspace | None, project_dir: Path, region: str | None, mode: str
) -> Book:
    lock = lockfile.read_lock(project_dir)
    return Book(
        region=region,
        currency=resolved.params.budget.currency,
        mode=mode,
        locked=lock.prices if lock else {},
        endpoint=endpoint(ws) if mode == LIVE else None,
        on=lifecycle.today(),
    )


# --- plan ------------------------------------------------------------------------------------


def now_running(fp: Billable, resources: list[Any]) -> dict[str, tuple[int, str | None]]:
    """What runs now, per stays-up resource, from a plan's live reads: its `old` values where
    the plan changes them, the committed ones where it does not, nothing where it creates."""
    by_title = {r.title: r for r in resources}
    out: dict[str, tuple[int, str | None]] = {}
    for use in fp.uses:
        r = by_title.get(use.title)
        if not use.stays_up or r is None or r.action == "create":
            continue
        count, size = use.count, (use.sizes[0] if use.sizes else None)
        for change in r.changes:
            if change.path == _COUNT.get(use.kind) and isinstance(change.old, int):
                count = change.old
            if change.path == _SIZE.get(use.kind) and change.old:
                size = str(change.old)
        out[use.title] = (1, None) if use.kind == SERVERLESS else (count, size)
    return out


def plan_estimate(
    resolved: Resolved,
    reader: Any,
    ws: Workspace,
    project_dir: Path,
    resources: list[Any],
    read: bool,
) -> Estimate:
    """The cost lines of a plan (`read=False`: --no-prices, GPU- and node-hours only)."""
    notes: list[str] = []
    fp = billable(resolved)
    region = None
    if fp.sizes and read:  # nothing with a VM size, nothing to price by region
        region = live_region(reader, resolved, notes, REGION_NOTE)
        if region is None:
            notes.append("no region: GPU-hours and node-hours only (set budget.region)")
    book = make_book(resolved, ws, project_dir, region, LIVE if read else OFF)
    book.notes += notes
    if not read:
        book.notes.append("prices not read (--no-prices): GPU-hours and node-hours only")
    return estimate(fp, book, now_running(fp, resources), resolved.params.budget)


# --- the lock's prices -----------------------------------------------------------------------


def _wanted(
    root: Path, envs: list[str]
) -> tuple[dict[tuple[str, str, str], tuple[str, str, str]], list[str]]:
    """(size, region, currency) of every VM size the environments use, by key; and the
    environments with no region to price them in."""
    wanted: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    unpriced: list[str] = []
    for env in envs:
        r = load_params(env, root)
        region, currency = params_region(r), r.params.budget.currency
        sizes = billable(r).sizes
        if region is None:
            if sizes:
                unpriced.append(env)
            continue
        for size in sizes:
            wanted.setdefault(key(size, region, currency), (size, region, currency))
    return wanted, unpriced


def lock_endpoint(root: Path, emulator: str | None) -> Endpoint:
    """Azure's API, or the emulator's stand-in when the lock reads the emulator's registry."""
    import os

    url = emulator or os.environ.get(names.ENV_EMULATOR) or None
    return endpoint(resolve_workspace(root, emulator=url) if url else None)


def _unchanged(old: Quote, new: Quote) -> bool:
    return dataclasses.replace(new, read_on=old.read_on, source=old.source) == old


def lock_prices(
    root: Path,
    envs: list[str],
    old: dict[tuple[str, str, str], Quote],
    ep: Endpoint | None,
    on: dt.date,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The lock's `prices:` entries and the lines to show (`warning:`/`note:`). `ep` None:
    nothing is read (--no-prices, --seed) and the locked prices of sizes in use stay."""
    wanted, unpriced = _wanted(root, envs)
    lines: list[str] = []
    if unpriced:
        lines.append(
            f"note: prices of {', '.join(unpriced)} not locked: no region (set budget.region to "
            "the workspace's region)"
        )
    down = ep is None
    entries = []
    for k in sorted(wanted):
        size, region, currency = wanted[k]
        prev = old.get(k)
        quote = prev
        if not down:
            assert ep is not None
            try:
                fresh = read_price(ep, size, region, currency, on)
                quote = prev if prev is not None and _unchanged(prev, fresh) else fresh
            except PriceError as exc:
                down = exc.kind == "unreachable"  # one line, not one per size
                kept = "the locked price stays" if prev else "not locked"
                if down:
                    kept = "the prices API is unreachable: the locked prices stay"
                lines.append(f"warning: {exc}: {kept}")
        if quote is not None:
            entries.append(pricelock.entry(quote))
    return entries, lines


def check_prices(
    root: Path,
    envs: list[str],
    locked: dict[tuple[str, str, str], Quote],
    ep: Endpoint,
    on: dt.date,
) -> list[tuple[str, str]]:
    """(subject, message) notes: a price that changed since it was locked, a size in use with
    no locked price, a price that could not be read. None of them fails the check."""
    wanted, _ = _wanted(root, envs)
    out: list[tuple[str, str]] = []
    for k in sorted(wanted):
        size, region, currency = wanted[k]
        subject = f"price {size} {region}"
        prev = locked.get(k)
        try:
            fresh = read_price(ep, size, region, currency, on)
        except PriceError as exc:
            out.append((subject, f"not checked: {exc}"))
            if exc.kind == "unreachable":
                break
            continue
        if prev is None:
            now = money(fresh.per_hour, currency)
            out.append(
                (subject, f"not in {pricelock.LOCK_SOURCE} ({now}/h now): run `amlgen lock`")
            )
        elif abs(prev.per_hour - fresh.per_hour) > 1e-9:
            was, now = money(prev.per_hour, currency), money(fresh.per_hour, currency)
            out.append(
                (
                    subject,
                    f"{was}/h -> {now}/h (locked {prev.read_on}): run `amlgen lock` to take it",
                )
            )
    return out


__all__ = [
    "check_prices",
    "live_region",
    "lock_endpoint",
    "lock_prices",
    "make_book",
    "now_running",
    "plan_estimate",
]

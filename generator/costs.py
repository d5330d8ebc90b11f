"""What an environment will cost, before it costs: prices x what runs, and the budget.

`Book` answers one size's price: from the Retail Prices API (`generator.prices`), from
params/registry.lock when the API cannot be read (or offline), or not at all (`--no-prices`);
it never makes one up. `estimate()` turns what an environment runs (`generator.billable`) and
a book into one `Line` per billable resource: per hour for what stays up (and what runs now,
when a plan read the live state), the ceiling of the job (nodes x hours x price), GPU- and
node-hours always. `Estimate.checks()` compares it with `budget.max_per_hour` / `max_per_job`.
The text, markdown and JSON views are in `generator.costview`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from . import prices
from .billable import JOB, SERVERLESS, Billable, Use, billable
from .catalog.pricelock import LOCK_SOURCE, lookup
from .finetuning.spec import normal_region
from .params import Resolved
from .params.fields import Budget
from .prices import Endpoint, PriceError, Quote

LIVE, LOCK, OFF = "live", "lock", "off"
NOT_PUBLISHED = "price not published"
# Why a resource without a VM size has no price in the Retail Prices API.
DETAIL = {
    JOB: "serverless fine-tuning is billed by the service; the portal's Pricing and terms shows it",
    SERVERLESS: "a serverless deployment bills per hour while it exists; the portal's Pricing "
    "and terms shows it",
}


@dataclass
class Book:
    """Prices of one region and currency. `mode`: LIVE (the API, the lock when it cannot be
    read), LOCK (the lock only) or OFF (none). Problems become `warnings`, once each."""

    region: str | None
    currency: str
    mode: str
    locked: dict[tuple[str, str, str], Quote] = field(default_factory=dict)
    endpoint: Endpoint | None = None
    on: dt.date | None = None
    opener: Any = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _cache: dict[str, Quote | None] = field(default_factory=dict, repr=False)
    _down: str | None = field(default=None, repr=False)

    def why_not(self, size: str) -> str:
        """Why `size` has no price (after `quote` returned None)."""
        if self.mode == OFF:
            return "not priced: --no-prices"
        if self.region is None and self.mode == LOCK:
            return "not priced: no region (set budget.region)"
        if self.region is None:
            return "not priced: the workspace's region is unknown"
        return f"not priced: no price for {size} in {self.region}"

    def quote(self, size: str) -> Quote | None:
        if self.mode == OFF or self.region is None:
            return None
        low = size.lower()
        if low not in self._cache:
            self._cache[low] = self._read(size)
        return self._cache[low]

    def _read(self, size: str) -> Quote | None:
        assert self.region is not None
        locked = lookup(self.locked, size, self.region, self.currency)
        if self.mode == LIVE and self.endpoint is not None and self._down is None:
            try:
                kwargs = {"opener": self.opener} if self.opener else {}
                return prices.read_price(
                    self.endpoint, size, self.region, self.currency, self.on, **kwargs
                )
            except PriceError as exc:
                if exc.kind == "unreachable":
                    self._down = str(exc)
                    self.notes.append(
                        f"prices API unreachable ({exc}): prices from {LOCK_SOURCE} where locked"
                    )
                else:
                    fallback = f"; {LOCK_SOURCE} has it" if locked else ""
                    self.warnings.append(f"{exc}{fallback}")
        return locked


@dataclass
class Line:
    """One billable resource. `quote` prices its size (the dearest of several); `now_*` is
    what runs now (a plan's live read), None when not compared."""

    use: Use
    size: str | None
    quote: Quote | None
    why: str | None = None
    now_count: int | None = None
    now_size: str | None = None
    now_quote: Quote | None = None

    @property
    def gpus(self) -> int | None:
        return self.use.gpus(self.size)

    @property
    def per_hour(self) -> float | None:
        if not self.use.stays_up:
            return None
        if self.use.count == 0:
            return 0.0
        return None if self.quote is None else self.use.count * self.quote.per_hour

    @property
    def now_per_hour(self) -> float | None:
        if self.now_count == 0:
            return 0.0
        if self.now_count is None or self.now_quote is None:
            return None
        return self.now_count * self.now_quote.per_hour

    @property
    def change(self) -> float | None:
        """Per hour, planned minus now: known when both are, or when nothing changes."""
        if self.now_count is None or not self.use.stays_up:
            return None
        same = self.now_count == self.use.count and (self.now_size or "").lower() == (
            (self.size or "").lower()
        )
        if self.per_hour is not None and self.now_per_hour is not None:
            return self.per_hour - self.now_per_hour
        return 0.0 if same else None

    @property
    def ceiling(self) -> float | None:
        if self.use.hours is None or self.quote is None:
            return None
        return self.use.count * self.use.hours * self.quote.per_hour

    @property
    def node_hours(self) -> float | None:
        return (
            None
            if self.use.hours is None or not self.use.sizes
            else self.use.count * self.use.hours
        )

    @property
    def gpu_hours(self) -> float | None:
        nodes, gpus = self.node_hours, self.gpus
        return None if nodes is None or gpus is None else nodes * gpus


@dataclass(frozen=True)
class Check:
    """One budget limit against its figure (`cost` None: unknown, not checked)."""

    limit: str  # max_per_hour | max_per_job
    allowed: float
    cost: float | None
    figures: str  # how the cost adds up

    @property
    def over(self) -> bool:
        return self.cost is not None and self.cost > self.allowed + 1e-9


@dataclass
class Estimate:
    env: str
    book: Book
    lines: list[Line]
    compared: bool  # the `now_*` side was read from the workspace
    budget_params: Budget | None = None

    @property
    def currency(self) -> str:
        return self.book.currency

    @property
    def region(self) -> str | None:
        return self.book.region

    def up(self) -> list[Line]:
        return [ln for ln in self.lines if ln.use.stays_up]

    @property
    def job(self) -> Line | None:
        return next((ln for ln in self.lines if ln.use.kind == JOB), None)

    def _sum(self, values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    @property
    def per_hour(self) -> float | None:
        return self._sum([ln.per_hour for ln in self.up()])

    @property
    def now_per_hour(self) -> float | None:
        return self._sum([ln.now_per_hour for ln in self.up()]) if self.compared else None

    @property
    def change(self) -> float | None:
        return self._sum([ln.change for ln in self.up()]) if self.compared else None

    @property
    def unpriced(self) -> list[Line]:
        """Lines a figure needs and has no price for (nothing up costs nothing)."""
        out = [ln for ln in self.up() if ln.per_hour is None]
        job = self.job
        if job is not None and job.ceiling is None:
            out.append(job)
        return out

    def sources(self) -> list[str]:
        """Where the prices came from, once each: `source, read D`."""
        seen: dict[str, None] = {}
        for ln in self.lines:
            for q in (ln.quote, ln.now_quote):
                if q is not None:
                    seen.setdefault(f"{q.source}, read {q.read_on}")
        return list(seen)

    def checks(self) -> list[Check]:
        """The budget's limits against the planned figures."""
        b = self.budget_params
        out: list[Check] = []
        if b is None:
            return out
        if b.max_per_hour is not None:
            figures = "; ".join(figure(ln, self.currency) for ln in self.up() if ln.use.count)
            out.append(Check("max_per_hour", b.max_per_hour, self.per_hour, figures or "nothing"))
        job = self.job
        if b.max_per_job is not None and job is not None:
            out.append(Check("max_per_job", b.max_per_job, job.ceiling, figure(job, self.currency)))
        return out


def money(value: float, currency: str) -> str:
    sign = "-" if value < -0.005 else ""
    amount = f"{abs(value):,.2f}"
    return f"{sign}${amount}" if currency == "USD" else f"{sign}{amount} {currency}"


def delta(value: float, currency: str) -> str:
    return ("+" if value > 0.005 else "") + money(value, currency)


def hours(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") + " h"


def figure(line: Line, currency: str) -> str:
    """How a line's cost adds up, in one phrase (the budget guard's line)."""
    use, q = line.use, line.quote
    what = f"{use.count} × {line.size or 'no VM size'}"
    if q is None:
        return f"{use.title}: {what}, {line.why or 'no price'}"
    price = f"{money(q.per_hour, currency)}/h"
    if use.hours is None:
        return f"{use.title}: {what} at {price} = {money(line.per_hour or 0, currency)}/h"
    return (
        f"{use.title}: {what} × {hours(use.hours)} at {price} = "
        f"{money(line.ceiling or 0, currency)}"
    )


def _line(use: Use, book: Book) -> Line:
    if not use.sizes:
        return Line(use, None, None, NOT_PUBLISHED)
    quotes = [(size, book.quote(size)) for size in use.sizes]
    missing = [size for size, q in quotes if q is None]
    if missing:
        return Line(use, missing[0], None, book.why_not(missing[0]))
    size, quote = max(quotes, key=lambda sq: sq[1].per_hour if sq[1] else 0.0)
    return Line(use, size, quote)


def params_region(resolved: Resolved) -> str | None:
    """The region the params name: budget.region, else a fine-tuning job's region."""
    p = resolved.params
    region = p.budget.region
    if region is None and p.method == "finetuning_job":
        region = p.finetuning_job.region
    return normal_region(region) if region else None


def locked_estimate(resolved: Resolved, locked: dict[tuple[str, str, str], Quote]) -> Estimate:
    """Offline: what the params run, at the prices the lock holds for the params' region."""
    book = Book(params_region(resolved), resolved.params.budget.currency, LOCK, locked)
    return estimate(billable(resolved), book, None, resolved.params.budget)


def estimate(
    fp: Billable,
    book: Book,
    now: dict[str, tuple[int, str | None]] | None = None,
    budget: Budget | None = None,
) -> Estimate:
    """Price `fp` with `book`; `now` maps a stays-up resource's title to what runs now
    (count, size), as a plan read it."""
    lines = []
    for use in fp.uses:
        line = _line(use, book)
        if now is not None and use.stays_up:
            count, size = now.get(use.title, (0, None))
            line.now_count, line.now_size = count, size or line.size
            if count and line.now_size:
                same = line.size and line.now_size.lower() == line.size.lower()
                line.now_quote = line.quote if same else book.quote(line.now_size)
        lines.append(line)
    return Estimate(fp.env, book, lines, now is not None, budget)


__all__ = [
    "DETAIL",
    "LIVE",
    "LOCK",
    "NOT_PUBLISHED",
    "OFF",
    "Book",
    "Check",
    "Estimate",
    "Line",
    "delta",
    "estimate",
    "figure",
    "hours",
    "locked_estimate",
    "money",
    "params_region",
]

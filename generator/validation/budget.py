"""`validate` of the params: a budget the environment already exceeds at the locked prices.

The prices are params/registry.lock's (`amlgen lock`), in the region the params name
(budget.region, or a fine-tuning job's region): offline, with their date. Over budget is an
error at the line that sets the limit (`run` would refuse it); a limit that cannot be checked
offline (no region, no locked price, a price not published) is a note saying why.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog import lockfile
from ..costs import figure, locked_estimate, money
from ..params import Resolved
from ..yamlio import read
from .findings import ERROR, INFO, PARAMS, Finding, finding


def _where(resolved: Resolved, limit: str) -> tuple[str, int | None]:
    """The params file (and line) that sets budget.<limit>: the last one that does."""
    found: tuple[str, int | None] = (resolved.sources[-1], None)
    for source in resolved.sources:
        line = read(resolved.project_dir / source, source).line_of(("budget", limit))
        if line is not None:
            found = (source, line)
    return found


def budget_findings(resolved: Resolved, project_dir: Path) -> list[Finding]:
    b = resolved.params.budget
    if b.max_per_hour is None and b.max_per_job is None:
        return []
    try:
        lock = lockfile.read_lock(project_dir)
    except lockfile.LockError:
        return []  # the lock's own error is reported where the lock is read
    est = locked_estimate(resolved, lock.prices if lock else {})
    cur, env = est.currency, resolved.env
    out: list[Finding] = []
    for c in est.checks():
        file, line = _where(resolved, c.limit)
        unit = "/h" if c.limit == "max_per_hour" else ""
        path = ("budget", c.limit)
        if c.over:
            days = ", ".join(sorted({ln.quote.read_on for ln in est.lines if ln.quote}))
            msg = (
                f"{env} costs {money(c.cost or 0, cur)}{unit} at the locked prices of "
                f"{est.region} (read {days}), over the budget of {money(c.allowed, cur)}{unit}: "
                f"{c.figures}; `run` would refuse it"
            )
            out.append(finding(file, path, ERROR, "params.budget", msg, PARAMS, line=line))
        elif c.cost is None:
            hour = c.limit == "max_per_hour"
            lines = [ln for ln in est.unpriced if ln.use.stays_up == hour]
            why = "; ".join(figure(ln, cur) for ln in lines) or "no price"
            msg = f"{env}: not checked offline ({why}); `amlgen lock` records prices"
            out.append(finding(file, path, INFO, "params.budget", msg, PARAMS, line=line))
    return out

"""How an estimate (`generator.costs`) reads in `amlgen plan`: text, markdown, JSON.

The markdown headline is what a reviewer reads first in the pull-request comment: the change
per hour of what stays up, then the job's ceiling, as infracost's comment puts the cost change
first. Without prices (--no-prices, no region, an API that cannot be read and no lock) every
figure is in GPU-hours and node-hours, and one note says why.
"""

from __future__ import annotations

from typing import Any

from .costs import DETAIL, OFF, Estimate, Line, delta, hours, money


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _gpus(line: Line) -> str:
    g = line.gpus
    return "" if g is None else f" ({g} GPU{'s' if g != 1 else ''})"


def _unpriced(lines: list[Line]) -> str:
    return ", ".join(f"{ln.use.title}: {ln.why or 'no price'}" for ln in lines)


def _plural(n: float, word: str) -> str:
    shown = f"{n:,.2f}".rstrip("0").rstrip(".")
    return f"{shown} {word}{'' if n == 1 else 's'}"


def _why(est: Estimate, ln: Line) -> str:
    """` (why it has no price)`; nothing when no price was read at all (the header says so)."""
    return "" if est.book.mode == OFF or not ln.why else f" ({ln.why})"


def _line_text(est: Estimate, ln: Line) -> str:
    text = _line(est, ln)
    if ln.use.low_priority and ln.quote is not None:
        text += " (low priority: priced at pay-as-you-go, an upper bound)"
    return text


def _line(est: Estimate, ln: Line) -> str:
    use, q, cur = ln.use, ln.quote, est.currency
    if not use.sizes:
        return f"{use.title}: {ln.why} ({DETAIL.get(use.kind, 'no VM size')})"
    size = ln.size if len(use.sizes) == 1 else f"{ln.size} (dearest of {', '.join(use.sizes)})"
    if use.stays_up:
        what = f"{use.count} × {size}{_gpus(ln)}"
        if use.count and q is not None:
            what += f" at {money(q.per_hour, cur)}/h = {money(ln.per_hour or 0, cur)}/h"
        elif use.count:
            gpus = (ln.gpus or 0) * use.count
            what += f" = {_plural(gpus, 'GPU')}{_why(est, ln)}"
        else:
            what += " while idle" + ("" if est.book.mode == OFF else f" = {money(0, cur)}/h")
        if ln.now_count is not None and (ln.now_count, (ln.now_size or "").lower()) != (
            use.count,
            (ln.size or "").lower(),
        ):
            now = ln.now_per_hour
            shown = f" = {money(now, cur)}/h" if now is not None else ""
            running = f"{ln.now_count} × {ln.now_size}{shown}" if ln.now_count else "none"
            what += f"; now {running}"
        return f"{use.title}: {what}"
    assert use.hours is not None
    nodes = f"{use.count} node{'s' if use.count != 1 else ''}"
    span = hours(use.hours)
    if use.idle_hours:
        span += f" (job.timeout_minutes {use.timeout_minutes} + {hours(use.idle_hours)} idle)"
    usage = _plural(ln.node_hours or 0, "node-hour") + (
        f", {_plural(ln.gpu_hours, 'GPU-hour')}" if ln.gpu_hours is not None else ""
    )
    if q is None:
        return (
            f"{use.title}: at most {nodes} × {span} of {size}{_gpus(ln)} = {usage}{_why(est, ln)}"
        )
    return (
        f"{use.title}: at most {nodes} × {span} of {size}{_gpus(ln)} at "
        f"{money(q.per_hour, cur)}/h = {money(ln.ceiling or 0, cur)} ({usage})"
    )


def _up(est: Estimate) -> str:
    """What stays up, per hour: its cost and the change against now, or its GPUs."""
    cur = est.currency
    planned, change = est.per_hour, est.change
    if planned is None:
        missing = [ln for ln in est.up() if ln.per_hour is None]
        if all(ln.use.sizes for ln in missing):  # sizes without a price: count the GPUs
            gpus = sum((ln.gpus or 0) * ln.use.count for ln in est.up())
            phrase = f"{_plural(gpus, 'GPU')} while it stays up{_why(est, missing[0])}"
        else:
            phrase = f"unknown per hour ({_unpriced(missing)})"
        return f"{delta(change, cur)}/h; {phrase}" if change is not None else phrase
    if not est.compared:
        return f"{money(planned, cur)}/h while it stays up"
    if change is None:
        return f"{money(planned, cur)}/h while it stays up (now: unknown)"
    if abs(change) < 0.005:
        return f"no change ({money(planned, cur)}/h while it stays up)"
    now = est.now_per_hour
    was = f"{money(now, cur)}/h now → " if now is not None else ""
    return f"{delta(change, cur)}/h ({was}{money(planned, cur)}/h while it stays up)"


def _job(est: Estimate) -> str:
    job = est.job
    if job is None:
        return "no job"
    if job.ceiling is not None:
        return f"job ceiling {money(job.ceiling, est.currency)}"
    if job.gpu_hours is not None and job.node_hours is not None:
        return (
            f"job at most {_plural(job.gpu_hours, 'GPU-hour')}, "
            f"{_plural(job.node_hours, 'node-hour')}{_why(est, job)}"
        )
    return f"job: {job.why}"


def _where(est: Estimate) -> str:
    if est.book.mode == OFF:
        return "not priced: --no-prices"
    srcs = est.sources()
    region = f", {est.region}" if est.region else ""
    return f"{est.currency}{region}" + (f"; prices: {'; '.join(srcs)}" if srcs else "")


def _budget_lines(est: Estimate) -> list[str]:
    out = []
    cur = est.currency
    for c in est.checks():
        unit = "/h" if c.limit == "max_per_hour" else ""
        allowed = f"budget.{c.limit} {money(c.allowed, cur)}{unit}"
        if c.cost is None:
            out.append(f"{allowed}: not checked ({_unpriced(est.unpriced)})")
        else:
            state = "OVER BUDGET" if c.over else "within"
            out.append(f"{allowed}: {state} ({money(c.cost, cur)}{unit})")
    return out


def text(est: Estimate) -> list[str]:
    """The cost block of `plan`'s text output."""
    lines = [f"Cost ({_where(est)}):"]
    lines += [f"  {_line_text(est, ln)}" for ln in est.lines]
    lines.append(f"  stays up: {_up(est)}; {_job(est)}")
    lines += [f"  {b}" for b in _budget_lines(est)]
    lines += [f"  warning: {w}" for w in est.book.warnings]
    lines += [f"  note: {n}" for n in est.book.notes]
    return lines


def markdown_headline(est: Estimate) -> str:
    over = [c for c in est.checks() if c.over]
    warn = f" · **over budget: {', '.join('budget.' + c.limit for c in over)}**" if over else ""
    return f"**Cost: {_up(est)}** · {_job(est)}{warn} · {_where(est)}"


def markdown_details(est: Estimate) -> list[str]:
    cur = est.currency
    out = ["<details><summary>Cost</summary>", ""]
    out += ["| resource | size | count | GPUs | price/h | cost | now |"]
    out += ["| --- | --- | --- | --- | --- | --- | --- |"]
    for ln in est.lines:
        q, use = ln.quote, ln.use
        price = f"{money(q.per_hour, cur)}" if q else (ln.why or "")
        if use.stays_up:
            cost = f"{money(ln.per_hour, cur)}/h" if ln.per_hour is not None else ""
            now = ""
            if ln.now_count:
                n = ln.now_per_hour
                running = f"{ln.now_count} × {ln.now_size}" if ln.now_size else f"{ln.now_count}"
                now = running + (f": {money(n, cur)}/h" if n is not None else "")
            elif ln.now_count == 0:
                now = "none"
        else:
            span = hours(use.hours or 0)
            cost = f"≤ {money(ln.ceiling, cur)} ({span})" if ln.ceiling is not None else span
            now = ""
        size = ", ".join(use.sizes) or "—"
        gpus = "" if ln.gpus is None else str(ln.gpus)
        out.append(f"| `{use.title}` | {size} | {use.count} | {gpus} | {price} | {cost} | {now} |")
    bullets = [f"- {b}" for b in _budget_lines(est)]
    bullets += [f"- warning: {w}" for w in est.book.warnings]
    bullets += [f"- note: {n}" for n in est.book.notes]
    return [*out, *(["", *bullets] if bullets else []), "", "</details>"]


def as_dict(est: Estimate) -> dict[str, Any]:
    """The `cost` object of `plan --format json` (fields may be added, never changed)."""

    def line(ln: Line) -> dict[str, Any]:
        q, use = ln.quote, ln.use
        return {
            "resource": use.title,
            "kind": use.kind,
            "file": use.file,
            "sizes": list(use.sizes),
            "size": ln.size,
            "count": use.count,
            "gpus": ln.gpus,
            "price_per_hour": _r(q.per_hour) if q else None,
            "source": q.source if q else None,
            "read_on": q.read_on if q else None,
            "per_hour": _r(ln.per_hour),
            "now": None
            if ln.now_count is None
            else {"count": ln.now_count, "size": ln.now_size, "per_hour": _r(ln.now_per_hour)},
            "change_per_hour": _r(ln.change),
            "hours": _r(use.hours),
            "ceiling": _r(ln.ceiling),
            "node_hours": _r(ln.node_hours),
            "gpu_hours": _r(ln.gpu_hours),
            "note": ln.why,
        }

    job = est.job
    return {
        "currency": est.currency,
        "region": est.region,
        "prices": est.book.mode,
        "per_hour": {
            "planned": _r(est.per_hour),
            "now": _r(est.now_per_hour),
            "change": _r(est.change),
        },
        "job_ceiling": _r(job.ceiling) if job else None,
        "resources": [line(ln) for ln in est.lines],
        "budget": [
            {"limit": c.limit, "allowed": c.allowed, "cost": _r(c.cost), "over": c.over}
            for c in est.checks()
        ],
        "warnings": list(est.book.warnings),
        "notes": list(est.book.notes),
    }


__all__ = ["as_dict", "markdown_details", "markdown_headline", "text"]

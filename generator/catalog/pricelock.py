"""The `prices:` section of params/registry.lock: VM prices `amlgen lock` read, with the date.

Each entry is one size's Linux pay-as-you-go price per hour in one region and currency, as the
Retail Prices API answered it (`generator.prices`), with where and when. Offline commands
(`plan` without the API, `validate`, a dry run's budget guard) take prices from here; nothing
here is ever made up: a size that is not locked has no price offline.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..prices import Quote, key

if TYPE_CHECKING:
    from ..yamlio import Document

SECTION = "prices"
MAX_PER_HOUR = 10_000_000  # in any currency: the largest VM is about $100/h
TEXT_KEYS = ("size", "region", "currency", "meter", "product", "read_from", "filter")
KEYS = (
    "size",
    "region",
    "currency",
    "per_hour",
    "meter",
    "product",
    "read_from",
    "filter",
    "read_on",
)
LOCK_SOURCE = "params/registry.lock"


def entry(quote: Quote) -> dict[str, Any]:
    """A quote as the lock stores it (key order is the file's)."""
    return {
        "size": quote.size,
        "region": quote.region,
        "currency": quote.currency,
        "per_hour": quote.per_hour,
        "meter": quote.meter,
        "product": quote.product,
        "read_from": quote.read_from,
        "filter": quote.filter,
        "read_on": quote.read_on,
    }


def parse(doc: Document, items: Any, fail: Any, day: Any) -> dict[tuple[str, str, str], Quote]:
    """The section's quotes by key; `fail(doc, path, msg)` and `day(doc, value, path)` are the
    lock reader's one-line errors (file:line: path: message)."""
    if not isinstance(items, list):
        raise fail(doc, (SECTION,), "must be a list of entries")
    out: dict[tuple[str, str, str], Quote] = {}
    for i, raw in enumerate(items):
        path: tuple[str | int, ...] = (SECTION, i)
        if not isinstance(raw, dict):
            raise fail(doc, path, "each entry must be a mapping")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise fail(doc, (*path, unknown[0]), f"unknown key (allowed: {', '.join(KEYS)})")
        for k in TEXT_KEYS:
            if not isinstance(raw.get(k), str) or not raw[k].strip():
                raise fail(doc, (*path, k), "must be a non-empty string")
        price: Any = raw.get("per_hour")
        number = isinstance(price, int | float) and not isinstance(price, bool)
        # An int is compared as it is (a 400-digit one overflows math.isfinite), then bounded.
        if not number or not (0 < price <= MAX_PER_HOUR) or not math.isfinite(price):
            raise fail(
                doc,
                (*path, "per_hour"),
                f"must be a price per hour greater than 0 and at most {MAX_PER_HOUR:,}",
            )
        quote = Quote(
            size=raw["size"],
            region=raw["region"],
            currency=raw["currency"],
            per_hour=float(price),
            meter=raw["meter"],
            product=raw["product"],
            read_from=raw["read_from"],
            filter=raw["filter"],
            read_on=day(doc, raw.get("read_on"), (*path, "read_on")),
            source=LOCK_SOURCE,
        )
        if quote.key() in out:
            raise fail(doc, path, f"{quote.size} {quote.region} {quote.currency} is locked twice")
        out[quote.key()] = quote
    return out


def lookup(
    prices: dict[tuple[str, str, str], Quote], size: str, region: str, currency: str
) -> Quote | None:
    return prices.get(key(size, region, currency))

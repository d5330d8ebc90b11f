"""VM prices from the Azure Retail Prices API: the Linux pay-as-you-go meter of one size.

The API is public and needs no sign-in (facts §14): `GET https://prices.azure.com/api/retail/
prices?$filter=...` answers `{"BillingCurrency", "CustomerEntityId", "Items": [...],
"NextPageLink", "Count"}`, a page at a time. Azure ML bills its compute (clusters, serverless
job compute, managed online deployments) at the VM's price, so one size's price is the
`Consumption` meter of `Virtual Machines` in the region, without its Spot, Low Priority and
Windows meters, per `1 Hour`. Anything else is a `PriceError` naming what was wrong, and the
figure is left out: a price is read, never guessed.

Against the local emulator the same client reads the emulator's stand-in of the API (its URL
replaces prices.azure.com; the emulator's token goes to the emulator only, never to Azure's
host, which gets no credentials at all). Stdlib only: urllib, bounded reads, timeouts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import AmlgenError
from .workspace import Workspace, check_loopback, make_token

API_URL = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"  # filter values are case-sensitive from this version on
ROUTE = "api/retail/prices"  # the emulator serves its stand-in under its own address
AZURE_SOURCE = "Azure Retail Prices API"
EMULATOR_SOURCE = "the local emulator's price stand-in (fixture prices, not Azure's)"
SERVICE = "Virtual Machines"
PRICE_TYPE = "Consumption"
UNIT = "1 Hour"
TIMEOUT_SECONDS = 15.0
MAX_PAGE_BYTES = 4 * 1024 * 1024  # one size in one region is a few kB; more is not an answer
MAX_PAGES = 20
# The currencies the Retail Prices API documents (USD is the authoritative one; the others are
# for reference, converted by Microsoft). learn.microsoft.com, "Azure Retail Prices overview".
CURRENCIES = (
    "USD",
    "AUD",
    "BRL",
    "CAD",
    "CHF",
    "CNY",
    "DKK",
    "EUR",
    "GBP",
    "INR",
    "JPY",
    "KRW",
    "NOK",
    "NZD",
    "RUB",
    "SEK",
    "TWD",
)
_EXCLUDED = ("Spot", "Low Priority")


class PriceError(AmlgenError):
    """A price that could not be read or used: `kind` says which way (unreachable, malformed,
    empty, unit, ambiguous); the message names the size, region and what was wrong."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Quote:
    """One size's Linux pay-as-you-go price per hour in one region, with where and when it
    was read."""

    size: str
    region: str
    currency: str
    per_hour: float
    meter: str
    product: str
    read_from: str  # the API's address (or the emulator stand-in's label)
    filter: str  # the $filter it was read with
    read_on: str  # ISO day
    source: str  # AZURE_SOURCE, EMULATOR_SOURCE, or where the lock read it

    def key(self) -> tuple[str, str, str]:
        return key(self.size, self.region, self.currency)


def key(size: str, region: str, currency: str) -> tuple[str, str, str]:
    """Sizes and regions compare without case (Azure's names are case-insensitive)."""
    return (size.lower(), region.lower(), currency.upper())


@dataclass(frozen=True)
class Endpoint:
    """Where prices are read: Azure's API, or the emulator's stand-in (with its token)."""

    url: str
    source: str
    read_from: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def origin(self) -> tuple[str, str]:
        parts = urllib.parse.urlsplit(self.url)
        return parts.scheme, parts.netloc


def endpoint(ws: Workspace | None = None) -> Endpoint:
    """Azure's API, or, against the emulator, its stand-in at the emulator's own address."""
    if ws is None or not ws.emulator_url:
        return Endpoint(API_URL, AZURE_SOURCE, API_URL)
    base = check_loopback(ws.emulator_url)
    token = make_token(base, ws.emulator_secret or "")
    return Endpoint(
        base + ROUTE,
        EMULATOR_SOURCE,
        "amlgen-emulator " + ROUTE,
        {"Authorization": "Bearer " + token},
    )


def price_filter(size: str, region: str) -> str:
    return (
        f"serviceName eq '{SERVICE}' and armSkuName eq '{size}' and "
        f"armRegionName eq '{region}' and priceType eq '{PRICE_TYPE}'"
    )


def query_url(ep: Endpoint, size: str, region: str, currency: str) -> str:
    query = {"api-version": API_VERSION, "currencyCode": f"'{currency}'"}
    query["$filter"] = price_filter(size, region)
    return ep.url + "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="$'")


Opener = Callable[[urllib.request.Request, float], Any]


def _open(request: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)  # https, or the emulator on loopback


def _page(ep: Endpoint, url: str, what: str, opener: Opener) -> dict[str, Any]:
    scheme, netloc = urllib.parse.urlsplit(url)[:2]
    if (scheme, netloc) != ep.origin:  # the emulator's token never leaves its origin
        raise PriceError("malformed", f"{what}: NextPageLink points to another host ({netloc})")
    request = urllib.request.Request(url, headers={"Accept": "application/json", **ep.headers})
    try:
        with opener(request, TIMEOUT_SECONDS) as resp:
            raw = resp.read(MAX_PAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise PriceError("unreachable", f"{what}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise PriceError("unreachable", f"{what}: {reason}") from None
    if len(raw) > MAX_PAGE_BYTES:
        raise PriceError("malformed", f"{what}: a page of more than {MAX_PAGE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        raise PriceError("malformed", f"{what}: the answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("Items"), list):
        raise PriceError("malformed", f"{what}: the answer has no `Items` list")
    link = data.get("NextPageLink")
    if link is not None and not isinstance(link, str):
        raise PriceError("malformed", f"{what}: `NextPageLink` is not a link")
    return data


def read_items(
    ep: Endpoint, size: str, region: str, currency: str, opener: Opener = _open
) -> list[Any]:
    """Every item the query answers, following NextPageLink (bounded)."""
    what = f"price of {size} in {region}"
    url: str | None = query_url(ep, size, region, currency)
    items: list[Any] = []
    for _ in range(MAX_PAGES):
        if not url:
            return items
        data = _page(ep, url, what, opener)
        items += data["Items"]
        url = data.get("NextPageLink") or None
    if url:
        raise PriceError("malformed", f"{what}: more than {MAX_PAGES} pages")
    return items


def _linux_payg(item: dict[str, Any], size: str, region: str) -> bool:
    names = " ".join(str(item.get(k) or "") for k in ("skuName", "meterName", "productName"))
    return (
        item.get("type") == PRICE_TYPE
        and str(item.get("armSkuName", "")).lower() == size.lower()
        and str(item.get("armRegionName", "")).lower() == region.lower()
        and item.get("serviceName", SERVICE) == SERVICE
        and not any(word in names for word in _EXCLUDED)
        and "Windows" not in str(item.get("productName") or "")
    )


def select(items: list[Any], size: str, region: str, currency: str) -> dict[str, Any]:
    """The one Linux pay-as-you-go hourly meter among `items` (PriceError otherwise)."""
    what = f"price of {size} in {region}"
    if not all(isinstance(i, dict) for i in items):
        raise PriceError("malformed", f"{what}: `Items` holds something that is not an item")
    if not items:
        raise PriceError("empty", f"{what}: price not published (the API answered no meters)")
    found = [i for i in items if _linux_payg(i, size, region)]
    if not found:
        raise PriceError(
            "empty",
            f"{what}: price not published (no Linux pay-as-you-go meter among {len(items)})",
        )
    primary = [i for i in found if i.get("isPrimaryMeterRegion") is True]
    found = primary or found
    hourly = [i for i in found if i.get("unitOfMeasure") == UNIT]
    if not hourly:
        units = sorted({str(i.get("unitOfMeasure")) for i in found})
        raise PriceError(
            "unit", f"{what}: unexpected unit {', '.join(units)} (expected {UNIT!r}): left out"
        )
    for item in hourly:
        price = item.get("retailPrice")
        ok = isinstance(price, int | float) and not isinstance(price, bool)
        if not ok or not math.isfinite(price) or price <= 0:
            raise PriceError("malformed", f"{what}: retailPrice {price!r} is not a price")
        code = item.get("currencyCode", currency)
        if code != currency:
            raise PriceError("malformed", f"{what}: answered in {code}, asked for {currency}")
    prices = sorted({float(i["retailPrice"]) for i in hourly})
    if len(prices) > 1:
        meters = ", ".join(sorted({str(i.get("meterName")) for i in hourly}))
        raise PriceError(
            "ambiguous", f"{what}: {len(prices)} different hourly prices ({meters}): left out"
        )
    return hourly[0]


def read_price(
    ep: Endpoint,
    size: str,
    region: str,
    currency: str = "USD",
    on: dt.date | None = None,
    opener: Opener = _open,
) -> Quote:
    """The price of `size` in `region` from the API, or a PriceError saying why not."""
    item = select(read_items(ep, size, region, currency, opener), size, region, currency)
    return Quote(
        size=size,
        region=region,
        currency=currency,
        per_hour=float(item["retailPrice"]),
        meter=str(item.get("meterName") or ""),
        product=str(item.get("productName") or ""),
        read_from=ep.read_from,
        filter=price_filter(size, region),
        read_on=(on or dt.date.today()).isoformat(),
        source=ep.source,
    )


__all__ = [
    "API_URL",
    "AZURE_SOURCE",
    "CURRENCIES",
    "EMULATOR_SOURCE",
    "Endpoint",
    "PriceError",
    "Quote",
    "endpoint",
    "key",
    "price_filter",
    "query_url",
    "read_items",
    "read_price",
    "select",
]

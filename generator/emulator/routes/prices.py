"""Prices family: a stand-in of the Azure Retail Prices API (`GET /api/retail/prices`).

The response shape is the documented one (`BillingCurrency`, `CustomerEntityId`,
`CustomerEntityType`, `Items`, `NextPageLink`, `Count`; learn.microsoft.com "Azure Retail
Prices overview", facts §14); no recording of the real API exists in reference/recordings, so
the shape follows the documentation, not traffic. `$filter` takes `field eq 'value'` clauses
joined by `and` (values case-sensitive from api-version 2023-01-01-preview, as documented);
`$skip` pages (a page holds PAGE_SIZE items, far fewer than Azure's 1,000, so clients must
follow `NextPageLink`); `currencyCode='EUR'` converts.

THE PRICES ARE FIXTURES, NOT AZURE'S: every item's productName, skuName and meterName says
"emulator fixture", and the numbers are round ones (3.00 per GPU per hour; 0.25 for a CPU
size) so no one mistakes them for a price list. Each size in each FIXTURE_REGION gets the
meters a client must tell apart: Windows, Spot and Low Priority next to the Linux
pay-as-you-go one (listed last, on the last page), a DevTestConsumption and a 1-year
Reservation meter (dropped by `priceType eq 'Consumption'`). A region outside FIXTURE_REGIONS
answers no items, as an unknown region does.

Faults (`{fault: prices, ...}`) make it answer malformed JSON, no items, a wrong unit, 503, or
another price for a size: what `amlgen lock --check` and the clients' warnings are tested with.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from typing import Any

from ... import catalog
from ...prices import CURRENCIES
from ..arm import ApiError, Family, Request, Response, Route
from ..arm import Service as Api

PAGE_SIZE = 2
FIXTURE = "emulator fixture"
PER_GPU_HOUR = 3.0
CPU_HOUR = 0.25
FIXTURE_REGIONS = {
    "eastus": "US East",
    "eastus2": "US East 2",
    "northcentralus": "US North Central",
    "southcentralus": "US South Central",
    "westus": "US West",
    "westus3": "US West 3",
    "swedencentral": "Sweden Central",
    "westeurope": "EU West",
}
# Fixture conversion rates (not exchange rates): enough to tell that currencyCode was applied;
# the other documented currencies are answered at 1.0.
CURRENCY_RATES = {"USD": 1.0, "EUR": 0.9, "GBP": 0.8, "JPY": 150.0, "CHF": 0.9, "SEK": 10.0}
CASE_SENSITIVE_FROM = "2023-01-01"
# Filter names that differ from the item's field: `priceType` filters on an item's `type`.
FIELDS = {"priceType": "type"}
_CLAUSE = re.compile(r"^\s*(?P<field>[A-Za-z]+)\s+eq\s+'(?P<value>[^']*)'\s*$")


def fixture_price(size: str) -> float:
    vm = catalog.vm_size(size)
    gpus = vm.gpus if vm else 0
    return PER_GPU_HOUR * gpus if gpus else CPU_HOUR


def _label(size: str) -> str:
    return size.removeprefix("Standard_").replace("_", " ")


def _item(size: str, region: str, kind: str, price: float, currency: str) -> dict[str, Any]:
    label = _label(size)
    product = f"Virtual Machines {label} Series"
    sku, meter, price_type, unit_price = label, label, "Consumption", price
    term: str | None = None
    if kind == "windows":
        product, price = product + " Windows", price + 0.5
    elif kind in ("spot", "low"):
        word = "Spot" if kind == "spot" else "Low Priority"
        sku, meter, price = f"{label} {word}", f"{label} {word}", round(price * 0.2, 4)
    elif kind == "devtest":
        price_type, price = "DevTestConsumption", round(price * 0.6, 4)
    elif kind == "reservation":
        price_type, term, price = "Reservation", "1 Year", round(price * 8760 * 0.6, 2)
    unit_price = price
    meter_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"amlgen-emulator/{size}/{region}/{kind}"))
    return {
        "currencyCode": currency,
        "tierMinimumUnits": 0.0,
        **({"reservationTerm": term} if term else {}),
        "retailPrice": price,
        "unitPrice": unit_price,
        "armRegionName": region,
        "location": FIXTURE_REGIONS.get(region, region),
        "effectiveStartDate": "2026-01-01T00:00:00Z",
        "meterId": meter_id,
        "meterName": f"{meter} ({FIXTURE})",
        "productId": "DZH318Z0EMUL",
        "skuId": "DZH318Z0EMUL/0001",
        "productName": f"{product} ({FIXTURE})",
        "skuName": f"{sku} ({FIXTURE})",
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Year" if term else "1 Hour",
        "type": price_type,
        "isPrimaryMeterRegion": True,
        "armSkuName": size,
    }


KINDS = ("windows", "spot", "low", "devtest", "reservation", "linux")  # linux last: paging


def _items(
    sizes: list[str], regions: list[str], currency: str, rule: dict[str, Any] | None
) -> list[dict[str, Any]]:
    rate = CURRENCY_RATES.get(currency, 1.0)
    out = []
    for size in sizes:
        hit = rule is not None and rule.get("size") in (None, size.lower())
        answer = rule.get("answer") if hit and rule else None
        base = float(rule["price"]) if answer == "price" and rule else fixture_price(size)
        for region in regions:
            for kind in KINDS:
                item = _item(size, region, kind, round(base * rate, 4), currency)
                if kind == "linux" and answer == "wrong_unit":
                    item["unitOfMeasure"] = "1/Day"
                if kind == "linux" and answer == "bad_price":
                    item["retailPrice"] = "3,00"
                out.append(item)
    return out


def _clauses(text: str) -> list[tuple[str, str]]:
    if not text.strip():
        return []
    out = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(part)
        if not m:
            raise ApiError(400, "BadRequest", f"Invalid $filter clause: {part.strip()!r}")
        out.append((FIELDS.get(m["field"], m["field"]), m["value"]))
    return out


def list_prices(api: Api, req: Request) -> Response:
    q = req.query
    currency = q.get("currencyCode", "USD").strip("'\"") or "USD"
    if currency not in CURRENCIES:  # the API's documented list
        raise ApiError(400, "BadRequest", f"Invalid currencyCode {currency!r}.")
    try:
        skip = int(q.get("$skip", "0"))
    except ValueError:
        raise ApiError(400, "BadRequest", "Invalid $skip.") from None
    clauses = _clauses(q.get("$filter", ""))
    exact = q.get("api-version", "") >= CASE_SENSITIVE_FROM

    def same(a: Any, b: str) -> bool:
        return str(a) == b if exact else str(a).lower() == b.lower()

    wanted = {f: v for f, v in clauses}
    sizes = catalog.vm_size_names()
    if "armSkuName" in wanted:
        sizes = [s for s in sizes if same(s, wanted["armSkuName"])]
    regions = sorted(FIXTURE_REGIONS)
    if "armRegionName" in wanted:
        regions = [r for r in regions if same(r, wanted["armRegionName"])]
    rule = api.faults.prices(wanted.get("armSkuName", ""))
    answer = rule.get("answer") if rule else None
    if rule is not None:
        with api.store.lock:
            api.data["faults_fired"].append(["prices " + str(answer), req.method, req.path])
    if answer == "unavailable":
        raise ApiError(503, "ServiceUnavailable", "The price list is unavailable (fault injected).")
    if answer == "malformed":  # valid JSON, not the documented shape
        return Response(200, {"BillingCurrency": currency, "Items": {"retailPrice": 3}})
    items = [] if answer == "empty" else _items(sizes, regions, currency, rule)
    items = [i for i in items if all(same(i.get(f, ""), v) for f, v in clauses)]
    page = items[skip : skip + PAGE_SIZE]
    next_link = None
    if skip + PAGE_SIZE < len(items):
        query = {**q, "$skip": str(skip + PAGE_SIZE)}
        next_link = f"{api.url}api/retail/prices?" + urllib.parse.urlencode(
            query, quote_via=urllib.parse.quote, safe="$'"
        )
    return Response(
        200,
        {
            "BillingCurrency": currency,
            "CustomerEntityId": "Default",
            "CustomerEntityType": "Retail",
            "Items": page,
            "NextPageLink": next_link,
            "Count": len(page),
        },
    )


FAMILY = Family("prices", (Route("GET", r"/api/retail/prices", list_prices),))

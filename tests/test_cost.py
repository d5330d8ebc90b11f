"""What it will cost (#25): the Retail Prices client against the emulator's price stand-in
(filtering, paging, currency, each bad answer), the budget params, the prices in the lock
(written with their date, re-checked, kept when a read fails), `plan`'s cost lines (live, from
the lock when the API is down, GPU-hours without prices, the hourly change of a params change)
and the budget guard of `run`/`deploy` with both backends, refusing before anything is created.

Every price here is one of the stand-in's fixtures ($3.00 per GPU per hour), never Azure's."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from _flowkit import make_project, point_flow_at
from click.testing import CliRunner

import generator
from generator import prices
from generator.catalog.lockfile import LOCK_FILE, LockError, read_lock
from generator.cli import cli
from generator.emulator import Emulator
from generator.errors import ParamsError, WorkflowError
from generator.params import load_params
from generator.workspace import Workspace, make_token

ROOT = Path(__file__).resolve().parent.parent
A100, A100X2 = "Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4"
TODAY = "2026-12-02"
DAY = dt.date(2026, 12, 2)
CLEAN_ENV = {"AZURE_SUBSCRIPTION_ID": "", "AZURE_RESOURCE_GROUP": "", "AZUREML_WORKSPACE_NAME": ""}


def stand_in(emu: Emulator) -> prices.Endpoint:
    return prices.endpoint(Workspace(emulator_url=emu.url, emulator_secret=emu.secret))


def counting(calls: list[str]) -> Any:
    """The real urlopen, remembering each URL it opened (how many pages were read)."""

    def opener(request: urllib.request.Request, timeout: float) -> Any:
        calls.append(request.full_url)
        return urllib.request.urlopen(request, timeout=timeout)

    return opener


def get(emu: Emulator, query: str) -> dict[str, Any]:
    """One raw request to the stand-in, as any client would send it."""
    req = urllib.request.Request(
        f"{emu.url}api/retail/prices?{query}",
        headers={"Authorization": "Bearer " + make_token(emu.url, emu.secret)},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emu" in request.fixturenames:
        server = request.getfixturevalue("emu")
        for rule in server.faults.pending():
            if rule["fault"] == "prices":
                server.faults.take_prices()


# --- the stand-in and the client ----------------------------------------------------------------


def test_the_stand_in_filters_pages_and_marks_its_fixtures(emu: Emulator) -> None:
    f = (
        "%24filter=armSkuName%20eq%20%27Standard_NC24ads_A100_v4%27%20and%20armRegionName"
        "%20eq%20%27eastus%27"
    )
    first = get(emu, f)
    assert set(first) == {
        "BillingCurrency", "CustomerEntityId", "CustomerEntityType", "Items", "NextPageLink",
        "Count",
    }  # fmt: skip
    assert first["BillingCurrency"] == "USD" and first["Count"] == len(first["Items"]) == 2
    items, link = list(first["Items"]), first["NextPageLink"]
    while link:
        page = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    link, headers={"Authorization": "Bearer " + make_token(emu.url, emu.secret)}
                )
            ).read()
        )
        items += page["Items"]
        link = page["NextPageLink"]
    assert len(items) == 6 and all("emulator fixture" in i["productName"] for i in items)
    assert {i["type"] for i in items} == {"Consumption", "DevTestConsumption", "Reservation"}
    meters = {i["meterName"].removesuffix(" (emulator fixture)") for i in items}
    assert meters == {"NC24ads A100 v4", "NC24ads A100 v4 Spot", "NC24ads A100 v4 Low Priority"}
    assert sum(i["productName"].endswith("Windows (emulator fixture)") for i in items) == 1
    assert {i["armSkuName"] for i in items} == {A100} and {i["armRegionName"] for i in items} == {
        "eastus"
    }
    # priceType filters on the item's `type`; values are case-sensitive from 2023-01-01-preview.
    consumption = get(emu, f + "%20and%20priceType%20eq%20%27Consumption%27&%24skip=0")
    assert all(i["type"] == "Consumption" for i in consumption["Items"])
    lower = "%24filter=armSkuName%20eq%20%27standard_nc24ads_a100_v4%27"
    assert get(emu, lower + "&api-version=2023-01-01-preview")["Items"] == []
    assert get(emu, lower)["Items"]  # older API versions compare without case
    euro = get(emu, f + "&currencyCode=%27EUR%27")
    assert euro["BillingCurrency"] == "EUR" and {i["currencyCode"] for i in euro["Items"]} == {
        "EUR"
    }
    with pytest.raises(urllib.error.HTTPError) as bad:
        get(emu, "%24filter=armSkuName%20like%20%27x%27")
    assert bad.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as unknown:
        get(emu, "currencyCode=%27XYZ%27")
    assert unknown.value.code == 400


def test_the_linux_pay_as_you_go_meter_is_read_across_pages(emu: Emulator) -> None:
    calls: list[str] = []
    quote = prices.read_price(stand_in(emu), A100, "eastus", "USD", DAY, counting(calls))
    # Windows ($3.50), Spot and Low Priority ($0.60) and the Linux meter ($3.00) are all
    # Consumption meters; the Linux one is on the last page.
    assert quote.per_hour == 3.0 and len(calls) == 2 and calls[1].endswith("&$skip=2")
    assert quote.meter == "NC24ads A100 v4 (emulator fixture)" and quote.read_on == TODAY
    assert quote.source == prices.EMULATOR_SOURCE and "127.0.0.1" not in quote.read_from
    assert "priceType eq 'Consumption'" in quote.filter
    euro = prices.read_price(stand_in(emu), A100X2, "eastus", "EUR", DAY)
    assert (euro.per_hour, euro.currency) == (5.4, "EUR")  # 2 GPUs × 3.00 × the fixture rate


@pytest.mark.parametrize(
    ("answer", "kind", "says"),
    [
        ("malformed", "malformed", "has no `Items` list"),
        ("empty", "empty", "price not published (the API answered no meters)"),
        ("wrong_unit", "unit", "unexpected unit 1/Day (expected '1 Hour'): left out"),
        ("bad_price", "malformed", "retailPrice '3,00' is not a price"),
        ("unavailable", "unreachable", "HTTP 503"),
    ],
)
def test_each_bad_answer_is_one_named_error(
    emu: Emulator, answer: str, kind: str, says: str
) -> None:
    emu.add_fault({"fault": "prices", "answer": answer, "size": A100})
    with pytest.raises(prices.PriceError) as err:
        prices.read_price(stand_in(emu), A100, "eastus", "USD", DAY)
    assert err.value.kind == kind and says in str(err.value)
    assert str(err.value).startswith(f"price of {A100} in eastus: ")
    # Another size is not affected.
    assert prices.read_price(stand_in(emu), A100X2, "eastus", "USD", DAY).per_hour == 6.0


def test_a_region_without_the_size_has_no_price(emu: Emulator) -> None:
    with pytest.raises(prices.PriceError, match="price not published") as err:
        prices.read_price(stand_in(emu), A100, "antarctica", "USD", DAY)
    assert err.value.kind == "empty"


class _Fixed(BaseHTTPRequestHandler):
    body = b""
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fixed() -> Iterator[tuple[ThreadingHTTPServer, type[_Fixed]]]:
    handler = type("Handler", (_Fixed,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>maintenance</html>", "the answer is not JSON"),
        (b'{"Items": [], "NextPageLink": "http://pricing.example/api?%24skip=2"}', "another host"),
        (b'{"Items": [], "NextPageLink": 7}', "`NextPageLink` is not a link"),
        (b'{"Items": [' + b'{"a": "' + b"x" * prices.MAX_PAGE_BYTES + b'"}]}', "a page of more"),
    ],
)
def test_a_malformed_page_is_refused_and_no_token_leaves_its_origin(
    fixed: tuple[ThreadingHTTPServer, type[_Fixed]], body: bytes, says: str
) -> None:
    server, handler = fixed
    handler.body = body
    url = f"http://127.0.0.1:{server.server_address[1]}/api/retail/prices"
    ep = prices.Endpoint(url, "test", url, {"Authorization": "Bearer local-only"})
    with pytest.raises(prices.PriceError, match=says) as err:
        prices.read_price(ep, A100, "eastus")
    assert err.value.kind == "malformed"
    assert len(handler.seen) == 1  # the foreign NextPageLink was never followed


def test_azures_host_gets_no_credentials() -> None:
    azure = prices.endpoint(None)
    assert azure.url == prices.API_URL and azure.headers == {}
    url = prices.query_url(azure, A100, "eastus2", "USD")
    assert url.startswith("https://prices.azure.com/api/retail/prices?api-version=2023-01-01")
    assert "currencyCode='USD'" in url and "armSkuName%20eq%20'Standard_NC24ads_A100_v4'" in url


# --- params -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (
            "-5",
            "must be greater than 0 (allowed: (0, 1000000]; an amount in budget.currency), got -5",
        ),
        (
            "0",
            "must be greater than 0 (allowed: (0, 1000000]; an amount in budget.currency), got 0",
        ),
        ("ten", "Input should be a valid number, got 'ten'"),
        ("true", "Input should be a valid number, got True"),
        (".nan", "Input should be a finite number, got nan"),
    ],
)
def test_a_bad_budget_is_one_params_error(tmp_path: Path, value: str, says: str) -> None:
    shutil.copytree(ROOT / "params", tmp_path / "params")
    (tmp_path / "params" / "dev.yaml").write_text(
        f"endpoint:\n  name: ultrachat-completion-dev\nbudget:\n  max_per_job: {value}\n"
    )
    with pytest.raises(ParamsError) as err:
        load_params("dev", tmp_path)
    assert err.value.problems == [f"params/dev.yaml:4: budget.max_per_job: {says}"]


def test_budget_keys_and_currency_are_checked(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "params", tmp_path / "params")
    (tmp_path / "params" / "dev.yaml").write_text("budget:\n  per_hour: 5\n  currency: usd\n")
    with pytest.raises(ParamsError) as err:
        load_params("dev", tmp_path)
    assert err.value.problems[0].startswith("params/dev.yaml:3: budget.currency: Input should be")
    assert err.value.problems[1] == (
        "params/dev.yaml:2: budget.per_hour: unknown key; did you mean 'max_per_hour'? "
        "(allowed: currency, region, max_per_hour, max_per_job)"
    )
    ok = load_params("dev", ROOT, ["budget.max_per_hour=7.5", "budget.region=eastus2"])
    assert ok.params.budget.max_per_hour == 7.5
    # A budget decides whether a run may start, not what runs: nothing is re-tagged.
    assert ok.fingerprint == load_params("dev", ROOT).fingerprint


# --- the lock -----------------------------------------------------------------------------------


def budget(project: Path, env: str, **values: Any) -> None:
    """Add a budget section to params/<env>.yaml (it leaves the rendered files as they are)."""
    path = project / "params" / f"{env}.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data["budget"] = values
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "params", tmp_path / "params")
    budget(tmp_path, "dev", region="eastus")
    budget(tmp_path, "prod", region="eastus", currency="USD")
    monkeypatch.setenv("AMLGEN_TODAY", TODAY)
    return tmp_path


def test_lock_records_prices_with_their_date_deterministically(
    locked: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", emu.secret)
    result = generator.lock(locked, emulator=emu.url, on=DAY)
    assert result.prices == 2 and result.written
    assert result.messages == [
        "note: prices of notebook not locked: no region (set budget.region to the workspace's "
        "region)"
    ]
    text = (locked / LOCK_FILE).read_text()
    entries = yaml.safe_load(text)["prices"]
    assert [(e["size"], e["region"], e["per_hour"], e["read_on"]) for e in entries] == [
        (A100, "eastus", 3.0, TODAY),
        (A100X2, "eastus", 6.0, TODAY),
    ]
    assert entries[0]["read_from"] == "amlgen-emulator api/retail/prices"
    assert "# prices: each VM size's Linux pay-as-you-go price per hour" in text
    # An unchanged price keeps its date: a later re-run is byte-identical.
    again = generator.lock(locked, emulator=emu.url, on=dt.date(2027, 1, 5))
    assert again.unchanged and (locked / LOCK_FILE).read_text() == text
    # The lock reads back; offline, the plan and validate use these quotes.
    lock = read_lock(locked)
    assert lock is not None and lock.prices[prices.key(A100, "eastus", "USD")].per_hour == 3.0

    # The price changes: --check notes it (exit 0, nothing written); lock takes it, new date.
    emu.add_fault({"fault": "prices", "answer": "price", "size": A100, "price": 3.25})
    checked = CliRunner().invoke(cli, ["-C", str(locked), "lock", "--check", "--emulator", emu.url])
    assert checked.exit_code == 0, checked.output
    assert (
        f"note: price {A100} eastus: $3.00/h -> $3.25/h (locked {TODAY}): run `amlgen lock` "
        "to take it"
    ) in checked.stdout
    assert (locked / LOCK_FILE).read_text() == text
    skipped = CliRunner().invoke(
        cli, ["-C", str(locked), "lock", "--check", "--emulator", emu.url, "--no-prices"]
    )
    assert skipped.exit_code == 0 and "price" not in skipped.stdout
    generator.lock(locked, emulator=emu.url, on=dt.date(2027, 1, 5))
    moved = yaml.safe_load((locked / LOCK_FILE).read_text())["prices"]
    assert [(e["per_hour"], e["read_on"]) for e in moved] == [(3.25, "2027-01-05"), (6.0, TODAY)]


@pytest.mark.parametrize("answer", ["malformed", "empty", "wrong_unit", "unavailable"])
def test_a_bad_price_answer_writes_nothing_for_it(
    locked: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", emu.secret)
    generator.lock(locked, emulator=emu.url, on=DAY)
    before = (locked / LOCK_FILE).read_text()
    emu.add_fault({"fault": "prices", "answer": answer, "size": A100})
    emu.add_fault({"fault": "prices", "answer": "price", "size": A100X2, "price": 7.0})
    kept = generator.lock(locked, emulator=emu.url, on=dt.date(2027, 1, 5))
    warnings = [m for m in kept.messages if m.startswith("warning:")]
    assert len(warnings) == 1 and f"price of {A100} in eastus" in warnings[0]
    assert warnings[0].endswith("locked price stays" if answer != "unavailable" else "prices stay")
    after = yaml.safe_load((locked / LOCK_FILE).read_text())["prices"]
    assert after[0] == yaml.safe_load(before)["prices"][0]  # untouched, old date
    # The other size was read, unless the API is down (then nothing more is asked of it).
    assert after[1]["per_hour"] == (6.0 if answer == "unavailable" else 7.0)
    # Without a locked price there is nothing to keep: no entry is written for it.
    shutil.copy(ROOT / LOCK_FILE, locked / LOCK_FILE)
    fresh = generator.lock(locked, emulator=emu.url, on=DAY)
    written = yaml.safe_load((locked / LOCK_FILE).read_text()).get("prices", [])
    assert [e["size"] for e in written] == ([] if answer == "unavailable" else [A100X2])
    assert sum(m.startswith("warning:") for m in fresh.messages) == 1


def test_no_prices_and_seed_keep_the_locked_prices(
    locked: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", emu.secret)
    generator.lock(locked, emulator=emu.url, on=DAY)
    emu.add_fault({"fault": "prices", "answer": "price", "size": A100, "price": 9.0})
    generator.lock(locked, emulator=emu.url, on=DAY, prices=False)
    generator.lock(locked, seed=True, on=DAY)
    entries = yaml.safe_load((locked / LOCK_FILE).read_text())["prices"]
    assert [e["per_hour"] for e in entries] == [3.0, 6.0]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"per_hour": -1}, "prices.0.per_hour: must be a price per hour greater than 0"),
        ({"per_hour": "cheap"}, "prices.0.per_hour: must be a price per hour greater than 0"),
        # a 400-digit integer was an OverflowError traceback in every command
        ({"per_hour": 10**400}, "prices.0.per_hour: must be a price per hour greater than 0"),
        ({"per_hour": 1e300}, "and at most 10,000,000"),
        ({"per_hour": float("nan")}, "prices.0.per_hour: must be a price per hour greater than 0"),
        ({"read_on": "today"}, "prices.0.read_on: 'today' is not a date"),
        ({"discount": 0.5}, "prices.0.discount: unknown key (allowed: size, region"),
        ({"region": ""}, "prices.0.region: must be a non-empty string"),
    ],
)
def test_a_nonsense_price_entry_is_one_line(locked: Path, edit: dict[str, Any], says: str) -> None:
    data = yaml.safe_load((ROOT / LOCK_FILE).read_text())
    entry = {
        "size": A100, "region": "eastus", "currency": "USD", "per_hour": 3.0, "meter": "m",
        "product": "p", "read_from": "r", "filter": "f", "read_on": TODAY,
    }  # fmt: skip
    data["prices"] = [{**entry, **edit}]
    (locked / LOCK_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(LockError) as err:
        read_lock(locked)
    assert says in str(err.value) and str(err.value).startswith("params/registry.lock:")
    assert str(err.value).count("\n") == 0


# --- plan, validate and the budget guard --------------------------------------------------------


@pytest.fixture
def flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, Path]]:
    """A rendered project with data, the emulator found through the environment."""
    with Emulator(job_seconds=0.3, deploy_seconds=0.2) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        monkeypatch.setenv("AMLGEN_TODAY", TODAY)
        yield server, make_project(tmp_path / "p")


def plan(proj: Path, emu: Emulator, *args: str) -> Any:
    env = {**CLEAN_ENV, "AMLGEN_EMULATOR": emu.url, "AMLGEN_EMULATOR_SECRET": emu.secret}
    result = CliRunner().invoke(cli, ["-C", str(proj), "plan", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
def test_plan_prices_live_then_from_the_lock_then_in_gpu_hours(
    flow: tuple[Emulator, Path],
) -> None:
    emu, proj = flow
    budget(proj, "prod", region="eastus2", max_per_hour=5, max_per_job=100)
    live = json.loads(
        plan(proj, emu, "--env", "prod", "--backend", "sdk", "--format", "json").stdout
    )
    cost = live["cost"]
    assert (cost["currency"], cost["region"], cost["prices"]) == ("USD", "eastus2", "live")
    assert cost["per_hour"] == {"planned": 6.0, "now": 0.0, "change": 6.0}
    assert cost["job_ceiling"] == 75.0  # 1 node × (720 min + 30 min idle) × $6.00
    by = {r["kind"]: r for r in cost["resources"]}
    assert by["online_deployment"]["size"] == A100 and by["online_deployment"]["count"] == 2
    assert by["job"]["gpu_hours"] == 25.0 and by["job"]["gpus"] == 2
    assert by["job"]["source"] == prices.EMULATOR_SOURCE and by["job"]["read_on"] == TODAY
    assert cost["budget"] == [
        {"limit": "max_per_hour", "allowed": 5.0, "cost": 6.0, "over": True},
        {"limit": "max_per_job", "allowed": 100.0, "cost": 75.0, "over": False},
    ]
    text = plan(proj, emu, "--env", "prod", "--backend", "sdk").stdout
    assert "  budget.max_per_hour $5.00/h: OVER BUDGET ($6.00/h)\n" in text
    md = plan(proj, emu, "--env", "prod", "--backend", "sdk", "--format", "markdown").stdout
    assert md.splitlines()[2].startswith(
        "**Cost: +$6.00/h ($0.00/h now → $6.00/h while it stays up)** · job ceiling $75.00 · "
        "**over budget: budget.max_per_hour**"
    )
    assert "```diff\n```" not in md  # a resource with a note and no changes gets no empty diff
    assert "- budget.max_per_hour $5.00/h: OVER BUDGET ($6.00/h)\n" in md

    # The prices API is down: the lock's prices, dated, and one note.
    emu.add_fault({"fault": "prices", "answer": "unavailable"})
    down = plan(proj, emu, "--env", "prod", "--backend", "sdk").stdout
    assert "Cost (USD, eastus2):" in down and "stays up: unknown per hour" not in down
    assert "job ceiling" not in down and "25 GPU-hours" in down
    assert down.count("note: prices API unreachable") == 1
    emu.faults.take_prices()
    assert generator.lock(proj, emulator=emu.url, on=DAY).prices == 2
    emu.add_fault({"fault": "prices", "answer": "unavailable"})
    offline = plan(proj, emu, "--env", "prod", "--backend", "sdk").stdout
    assert f"Cost (USD, eastus2; prices: params/registry.lock, read {TODAY}):" in offline
    assert "job ceiling $75.00" in offline and "note: prices API unreachable" in offline

    # --no-prices: GPU-hours and node-hours, one note, no money.
    bare = plan(proj, emu, "--env", "prod", "--backend", "sdk", "--no-prices").stdout
    block = bare.split("Cost (", 1)[1]
    assert "not priced: --no-prices" in block and "$6" not in block
    assert "stays up: 2 GPUs while it stays up; job at most 25 GPU-hours, 12.5 node-hours" in block
    assert block.count("note:") == 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_a_params_change_shows_its_hourly_delta(flow: tuple[Emulator, Path], backend: str) -> None:
    emu, proj = flow
    generator.run("dev", project_dir=proj, backend="sdk", keep_endpoint=True)
    same = plan(proj, emu, "--env", "dev", "--backend", backend).stdout
    assert "stays up: no change ($3.00/h while it stays up); job ceiling $37.50\n" in same
    two = plan(
        proj, emu, "--env", "dev", "--backend", backend, "--set", "deployment.instance_count=2"
    )
    assert (
        f"  online deployment ultrachat-completion-dev/demo: 2 × {A100} (1 GPU) at $3.00/h = "
        f"$6.00/h; now 1 × {A100} = $3.00/h\n"
    ) in two.stdout
    assert "stays up: +$3.00/h ($3.00/h now → $6.00/h while it stays up)" in two.stdout
    js = plan(proj, emu, "--env", "dev", "--backend", backend, "--format", "json", "--set",
              "deployment.instance_count=2").stdout  # fmt: skip
    assert json.loads(js)["cost"]["per_hour"] == {"planned": 6.0, "now": 3.0, "change": 3.0}
    generator.teardown("dev", project_dir=proj, backend="sdk")


def creates(emu: Emulator) -> list[Any]:
    return [r for r in emu.snapshot()["requests"] if r[0] in ("PUT", "POST")]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_the_budget_guard_refuses_before_anything_is_created(
    flow: tuple[Emulator, Path], backend: str
) -> None:
    emu, proj = flow
    budget(proj, "prod", max_per_hour=5, max_per_job=100)
    before = creates(emu)
    with pytest.raises(WorkflowError) as err:
        generator.run("prod", project_dir=proj, backend=backend)
    assert str(err.value) == (
        "over budget, nothing was created: budget.max_per_hour is $5.00/h, the run costs "
        f"$6.00/h (online deployment ultrachat-completion-prod/demo: 2 × {A100} at $3.00/h = "
        f"$6.00/h) [eastus2; prices: {prices.EMULATOR_SOURCE}, read {TODAY}]: lower the counts "
        "or sizes, or raise the budget in params"
    )
    with pytest.raises(WorkflowError, match=r"^over budget, nothing was created: budget.max_per"):
        generator.deploy("prod", project_dir=proj, backend=backend)
    budget(proj, "prod", max_per_job=50)
    with pytest.raises(WorkflowError) as job:
        generator.submit("prod", project_dir=proj, backend=backend)
    assert (
        "budget.max_per_job is $50.00, the run costs $75.00 (job azureml/prod/pipeline-job.yml:"
        in (str(job.value))
    )
    assert creates(emu) == before  # no cluster, job, endpoint or deployment
    assert "Standard_NC48ads_A100_v4 × 12.5 h at $6.00/h = $75.00" in str(job.value)


@pytest.mark.slow
def test_within_budget_runs_and_an_unknown_price_only_warns(flow: tuple[Emulator, Path]) -> None:
    emu, proj = flow
    budget(proj, "dev", max_per_hour=5, max_per_job=40)
    lines: list[str] = []
    done = generator.run("dev", project_dir=proj, backend="sdk", log=lines.append)
    assert done.response is not None
    emu.add_fault({"fault": "prices", "answer": "wrong_unit"})
    generator.teardown("dev", project_dir=proj, backend="sdk")
    lines.clear()
    generator.deploy("dev", project_dir=proj, backend="sdk", log=lines.append)
    warned = [ln for ln in lines if ln.startswith("warning: budget.max_per_hour not checked")]
    assert len(warned) == 1 and "no price for Standard_NC24ads_A100_v4 in eastus2" in warned[0]
    assert any("unexpected unit 1/Day" in ln for ln in lines)
    generator.teardown("dev", project_dir=proj, backend="sdk")


def test_validate_reports_a_budget_the_locked_prices_exceed(locked: Path) -> None:
    data = yaml.safe_load((ROOT / LOCK_FILE).read_text())
    data["prices"] = [
        {"size": A100X2, "region": "eastus", "currency": "USD", "per_hour": 6.0, "meter": "m",
         "product": "p", "read_from": "r", "filter": "f", "read_on": TODAY},
    ]  # fmt: skip
    (locked / LOCK_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
    budget(locked, "prod", region="eastus", max_per_job=50, max_per_hour=5)
    report = generator.validate_paths([], project_dir=locked)
    found = {f.yaml_path: f for f in report.findings if f.code == "params.budget"}
    over = found["budget.max_per_job"]
    text = (locked / "params" / "prod.yaml").read_text().splitlines()
    line = next(n for n, t in enumerate(text, 1) if t.strip().startswith("max_per_job:"))
    assert (over.severity, over.file, over.line) == ("error", "params/prod.yaml", line)
    assert report.failed()
    assert over.message.startswith(
        f"prod costs $75.00 at the locked prices of eastus (read {TODAY}), over the budget of "
        "$50.00: job azureml/prod/pipeline-job.yml: 1 × Standard_NC48ads_A100_v4 × 12.5 h"
    )
    unchecked = found["budget.max_per_hour"]  # the deployment's size is not locked
    assert unchecked.severity == "info" and "not checked offline" in unchecked.message
    assert f"no price for {A100} in eastus" in unchecked.message


def test_a_dry_run_guards_with_the_locked_prices_and_lists_the_region_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AMLGEN_EMULATOR", "AMLGEN_EMULATOR_SECRET", *CLEAN_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AMLGEN_TODAY", TODAY)
    proj = make_project(tmp_path / "p")
    budget(proj, "prod", region="eastus", max_per_hour=5)
    done = generator.run("prod", project_dir=proj, backend="cli", dry_run=True)
    assert done.plan[0] == (
        "az ml workspace show --query location -o tsv  # budget guard: prices are regional"
    )
    data = yaml.safe_load((proj / LOCK_FILE).read_text())
    data["prices"] = [
        {"size": A100, "region": "eastus", "currency": "USD", "per_hour": 3.0, "meter": "m",
         "product": "p", "read_from": "r", "filter": "f", "read_on": TODAY},
    ]  # fmt: skip
    (proj / LOCK_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(WorkflowError, match=r"\$6.00/h .*prices: params/registry.lock, read 2026"):
        generator.run("prod", project_dir=proj, backend="sdk", dry_run=True)


def _quote(size: str, per_hour: float, region: str = "eastus2") -> prices.Quote:
    return prices.Quote(size, region, "USD", per_hour, "m", "p", "r", "f", TODAY, "test")


def test_what_bills_and_its_arithmetic_offline() -> None:
    from generator.billable import billable
    from generator.costs import LOCK, Book, estimate

    locked = {q.key(): q for q in (_quote(A100, 3.0), _quote(A100X2, 6.0))}
    # Azure stops a job after 7 days on low priority: a 30-day timeout is priced at 7 days,
    # plus the cluster's idle half hour; low priority is priced at pay-as-you-go (an upper bound).
    low = load_params(
        "prod", ROOT, ["job.timeout_minutes=43200", "compute.tier=low_priority", "compute.nodes=2"]
    )
    est = estimate(billable(low), Book("eastus2", "USD", LOCK, locked))
    job = est.job
    assert job is not None and job.use.hours == 7 * 24 + 0.5 and job.use.count == 2
    assert job.ceiling == 2 * (7 * 24 + 0.5) * 6.0 and job.gpu_hours == 2 * 2 * (7 * 24 + 0.5)
    from generator import costview

    assert "(low priority: priced at pay-as-you-go, an upper bound)" in costview.text(est)[2]
    # The service picks one of several instance types: the dearest prices the ceiling.
    picks = load_params(
        "serverless",
        ROOT,
        ["compute.kind=instance_types", f"compute.instance_types=[{A100}, {A100X2}]"],
    )
    line = estimate(billable(picks), Book("eastus2", "USD", LOCK, locked)).job
    assert line is not None and (line.size, line.ceiling) == (A100X2, 12 * 6.0)
    # No region, no price: GPU-hours and node-hours still.
    dev = estimate(billable(load_params("dev", ROOT)), Book(None, "USD", LOCK, locked))
    assert dev.per_hour is None and dev.job is not None and dev.job.gpu_hours == 12.5
    assert dev.job.why == "not priced: no region (set budget.region)"

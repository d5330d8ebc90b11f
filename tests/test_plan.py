"""`amlgen plan` against the real emulator, for both backends (the cli one through the stand-in
`az`): a fresh workspace plans creates, a kept run plans no changes, `--set` plans the update,
out-of-band edits show as drift, JSON and markdown outputs, and the bad-input lines."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import make_project, point_flow_at
from click.testing import CliRunner

import generator as workflow
from generator import planning
from generator.backends.az import AzBackend
from generator.backends.failures import FORBIDDEN, NOT_FOUND, OTHER, TRANSIENT, classify_az
from generator.cli import cli
from generator.workspace import Workspace, make_token

ENDPOINT = "ultrachat-completion-dev"
A100 = "Standard_NC24ads_A100_v4"
FIXTURES = "the local emulator's price stand-in (fixture prices, not Azure's)"
TODAY = "2026-12-02"  # AMLGEN_TODAY in the emulator fixture: the day prices are read on
CLEAN_ENV = {"AZURE_SUBSCRIPTION_ID": "", "AZURE_RESOURCE_GROUP": "", "AZUREML_WORKSPACE_NAME": ""}


def amlgen(proj: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["-C", str(proj), *args], env={**CLEAN_ENV, **(env or {})})


# --- offline ------------------------------------------------------------------------------------


def test_az_reads_are_argument_lists(tmp_path: Path) -> None:
    az = AzBackend(Workspace(resource_group="rg", workspace_name="ws"), tmp_path)
    assert az.read_args("compute", "gpu-a100") == [
        *("ml", "compute", "show", "-n", "gpu-a100", "-o", "json")
    ]
    assert az.read_args("model", "m", version="1") == [
        *("ml", "model", "show", "-n", "m", "-v", "1", "-o", "json")
    ]
    assert az.read_args("online_deployment", "demo", endpoint=ENDPOINT) == [
        *("ml", "online-deployment", "show", "-n", "demo", "-e", ENDPOINT, "-o", "json")
    ]
    assert az.read_args("component", "c", version="0.1", registry="azureml") == [
        *("ml", "component", "show", "-n", "c", "-v", "0.1", "--registry-name", "azureml"),
        *("-o", "json"),
    ]


def test_az_errors_are_told_apart() -> None:
    assert classify_az(3, "ERROR: (ResourceNotFound) online endpoint x was not found.") == NOT_FOUND
    denied = "ERROR: (AuthorizationFailed) The client does not have authorization"
    assert classify_az(1, denied) == FORBIDDEN
    assert classify_az(1, "ERROR: (TooManyRequests) The service is busy") == TRANSIENT
    assert classify_az(1, "ERROR: ServiceRequestError: Connection refused") == TRANSIENT
    assert classify_az(1, "ERROR: (UserError) bad field") == OTHER


def test_stale_rendered_files_are_one_line(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    path = proj / "azureml" / "dev" / "deployment.yml"
    path.write_text(path.read_text().replace("instance_count: 1", "instance_count: 3"))
    result = amlgen(proj, "plan", "--detailed-exitcode")
    assert result.exit_code == 1
    assert result.output == (
        "error: rendered files do not match the params: azureml/dev/deployment.yml (stale): run "
        "`make render` (amlgen render --all), review and commit, then plan again\n"
    )


def test_dry_run_lists_the_plans_reads_and_says_when_it_cannot_read(
    tmp_path: Path,
) -> None:
    proj = make_project(tmp_path / "p")
    result = amlgen(proj, "deploy", "--dry-run", env={"PATH": str(tmp_path), "AMLGEN_AZ": ""})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "az ml compute show -n gpu-a100 -o json  # amlgen plan: the live state"
    )
    assert result.stderr == (
        "amlgen plan: cannot read the live state (`az` not found on PATH: install the Azure CLI "
        "and `az extension add -n ml`, or use --backend sdk)\n"
    )


# --- against the emulator -----------------------------------------------------------------------

emulator_mod = pytest.importorskip("generator.emulator")


def test_out_of_band_change_edits_the_stored_resource_only(tmp_path: Path) -> None:
    from generator.emulator.arm import ApiError, Request

    emu = emulator_mod.Emulator()  # not started: the route table alone
    ep = {"name": "e1", "tags": {"a": "1"}, "properties": {"traffic": {"d": 100}}}
    emu.store.data["endpoints"]["e1"] = ep
    emu.store.data["deployments"]["e1"] = {"d": {"name": "d", "properties": {}}}

    def post(**body: Any) -> Any:
        return emu.api.handle(Request("POST", "/_emulator/change", {}, body, b""))

    view = post(resource="endpoint", name="e1", traffic={"d": 0}, tags={"a": None, "b": 2})
    assert view.status == 200 and view.body["properties"]["traffic"] == {"d": 0}
    assert ep["tags"] == {"b": "2"} and "lastModifiedAt" in ep["systemData"]
    post(resource="deployment", name="d", endpoint="e1", instance_count=3, set={"properties.x": 1})
    dep = emu.store.data["deployments"]["e1"]["d"]
    assert dep["sku"] == {"name": "Default", "capacity": 3} and dep["properties"]["x"] == 1
    assert emu.store.data["requests"] == []  # not an ARM request: nothing in the request log
    assert [f[0] for f in emu.store.data["faults_fired"]] == ["out_of_band", "out_of_band"]
    for body, status in (
        ({"resource": "endpoint", "name": "nope"}, 404),
        ({"resource": "workspace", "name": "e1"}, 400),
        ({"resource": "endpoint", "name": "e1", "colour": "red"}, 400),
        ({"resource": "endpoint", "name": "e1", "instance_count": 2}, 400),
    ):
        with pytest.raises(ApiError) as err:
            post(**body)
        assert err.value.status == status, body
    emu.stop()


def test_forbidden_fault_rule_is_checked_and_bounded() -> None:
    from generator.emulator import EmulatorError
    from generator.emulator.faults import Faults, normalise

    assert normalise({"fault": "forbidden", "match": "/computes/"})["times"] == 1
    with pytest.raises(EmulatorError, match="status: unknown key"):
        normalise({"fault": "forbidden", "status": 401})
    faults = Faults([{"fault": "forbidden", "match": "/computes/", "method": "get", "times": 2}])
    assert faults.throttle("PUT", "/x/computes/c", kind="forbidden") is None
    assert faults.throttle("GET", "/x/computes/c", kind="forbidden") is not None
    assert faults.throttle("GET", "/x/computes/c", kind="forbidden") is not None
    assert faults.throttle("GET", "/x/computes/c", kind="forbidden") is None


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with emulator_mod.Emulator(job_seconds=0.5, deploy_seconds=0.3) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        monkeypatch.setenv("AMLGEN_TODAY", TODAY)
        yield server


def emu_env(emu: Any) -> dict[str, str]:
    return {"AMLGEN_EMULATOR": emu.url, "AMLGEN_EMULATOR_SECRET": emu.secret}


def change(emu: Any, **body: Any) -> Any:
    """Edit a resource out of band, as someone in the portal would (no ARM request)."""
    req = urllib.request.Request(
        emu.url + "_emulator/change",
        json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": "Bearer " + make_token(emu.url, emu.secret),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def plan_json(proj: Path, emu: Any, backend: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = amlgen(
        proj,
        "plan",
        "--backend",
        backend,
        "--format",
        "json",
        "--detailed-exitcode",
        *args,
        env=emu_env(emu),
    )
    assert result.exit_code in (0, 2), result.output
    return result.exit_code, json.loads(result.stdout)


def actions(data: dict[str, Any]) -> dict[str, str]:
    return {f"{r['kind']} {r['name']}": r["action"] for r in data["resources"]}


# What the run adds against the emulator's default quota (docs/preflight.md). `az ml compute
# list-usage` prints no current usage with the SDK installed here: the limits alone are checked.
_ENDPOINTS = "    = online endpoints (counted in this workspace): needs 1 of 100 free endpoints"
FRESH_QUOTA = {
    "sdk": "  quota in eastus2:\n"
    "    = standardNCADSA100v4Family: needs 48 of 1000 free vCPUs (0 in use, limit 1000)\n"
    "    = total regional dedicated vCPUs: needs 48 of 2000 free vCPUs (0 in use, limit 2000)\n"
    "    = clusters: needs 1 of 200 free clusters (0 in use, limit 200)\n"
    f"{_ENDPOINTS} (0 in use, limit 100)\n",
    "cli": "  quota in eastus2:\n"
    "    = standardNCADSA100v4Family: needs 48 of 1000 vCPUs (in use not reported: checked "
    "against the limit)\n"
    "    = total regional dedicated vCPUs: needs 48 of 2000 vCPUs (in use not reported: checked "
    "against the limit)\n"
    "    = clusters: needs 1 of 200 clusters (in use not reported: checked against the limit)\n"
    f"{_ENDPOINTS} (0 in use, limit 100)\n"
    "  warning: the quota reading gave no current usage (`az ml compute list-usage` prints none "
    "with this SDK): checked against the limits only\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_fresh_workspace_plans_everything_as_create(emu: Any, tmp_path: Path, backend: str) -> None:
    proj = make_project(tmp_path / "p")
    before = len(emu.snapshot()["requests"])
    result = amlgen(proj, "plan", "--backend", backend, "--detailed-exitcode", env=emu_env(emu))
    assert result.exit_code == 2, result.output
    assert result.stdout == (
        f"amlgen plan: env dev, backend {backend}\n"
        "  + compute gpu-a100: create\n"
        "  + model Phi-4-ultrachat-200k:1: create\n"
        "      path: set at registration from the pipeline job `run` submits\n"
        f"  + online endpoint {ENDPOINT}: create\n"
        f"  + online deployment {ENDPOINT}/demo: create\n"
        f"  + traffic {ENDPOINT}: create\n"
        "  = registry component azureml/chat_completion_pipeline:0.0.82: exists\n"
        "  = registry model azureml/Phi-4:8: exists\n"
        f"{FRESH_QUOTA[backend]}"
        # Priced from the emulator's Retail Prices stand-in (fixtures: $3.00 per GPU-hour).
        f"Cost (USD, eastus2; prices: {FIXTURES}, read {TODAY}):\n"
        f"  compute gpu-a100: 0 × {A100} (1 GPU) while idle = $0.00/h\n"
        "  job azureml/dev/pipeline-job.yml: at most 1 node × 12.5 h (job.timeout_minutes 720 + "
        f"0.5 h idle) of {A100} (1 GPU) at $3.00/h = $37.50 (12.5 node-hours, 12.5 GPU-hours)\n"
        f"  online deployment {ENDPOINT}/demo: 1 × {A100} (1 GPU) at $3.00/h = $3.00/h; "
        "now none\n"
        "  stays up: +$3.00/h ($0.00/h now → $3.00/h while it stays up); job ceiling $37.50\n"
        "Plan: 5 to create, 0 to update, 0 unchanged.\n"
    )
    assert result.stderr == ""
    assert len(emu.snapshot()["requests"]) == before  # a plan changes nothing
    # Without --detailed-exitcode a plan with changes still succeeds.
    assert amlgen(proj, "plan", "--backend", backend, env=emu_env(emu)).exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_after_a_kept_run_no_changes_then_set_plans_the_update(
    emu: Any, tmp_path: Path, backend: str
) -> None:
    proj = make_project(tmp_path / "p")
    workflow.run(project_dir=proj, backend=backend, keep_endpoint=True)
    # No false diffs, whichever backend ran and whichever reads.
    for reader in ("sdk", "cli"):
        result = amlgen(proj, "plan", "--backend", reader, "--detailed-exitcode", env=emu_env(emu))
        assert result.exit_code == 0, result.output
        assert result.stdout.endswith("No changes: the workspace matches the committed files.\n")
    code, data = plan_json(proj, emu, "sdk")
    assert code == 0 and data["changes"] is False
    assert set(actions(data).values()) == {"no-change", "read"}

    result = amlgen(
        proj,
        "plan",
        "--backend",
        backend,
        "--detailed-exitcode",
        "--set",
        "deployment.instance_count=2",
        env=emu_env(emu),
    )
    assert result.exit_code == 2, result.output
    assert f"  ~ online deployment {ENDPOINT}/demo: update\n      instance_count: 1 → 2\n" in (
        result.stdout
    )
    assert "drift" not in result.stdout  # a params change, not a change made outside amlgen


@pytest.mark.slow
def test_out_of_band_changes_show_as_drift_in_every_format(emu: Any, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    workflow.run(project_dir=proj, backend="sdk", keep_endpoint=True)
    change(emu, resource="endpoint", name=ENDPOINT, traffic={"demo": 0}, tags={"owner": "portal"})
    change(emu, resource="deployment", name="demo", endpoint=ENDPOINT, instance_count=3)
    with pytest.raises(urllib.error.HTTPError) as err:
        change(emu, resource="endpoint", name="nope", traffic={})
    assert err.value.code == 404

    for backend in ("sdk", "cli"):
        code, data = plan_json(proj, emu, backend)
        assert code == 2
        assert list(data) == [
            "format_version",
            "env",
            "backend",
            "changes",
            "summary",
            "resources",
            "quota",  # added (issue #22): nothing to add after a kept run, so no lines
            "cost",
        ]
        assert data["quota"]["lines"] == [] and data["quota"]["region"] == "eastus2"
        assert data["format_version"] == planning.FORMAT_VERSION and data["backend"] == backend
        assert data["summary"] == {
            "create": 0,
            "update": 3,
            "cannot_update": 0,
            "no_change": 2,
            "drift": 3,
            "missing": 0,
        }
        by_kind = {r["kind"]: r for r in data["resources"]}
        assert by_kind["traffic"]["changes"] == [{"path": "traffic[demo]", "old": 0, "new": 100}]
        assert by_kind["traffic"]["drift"] is True
        assert by_kind["online_deployment"]["changes"] == [
            {"path": "instance_count", "old": 3, "new": 1}
        ]
        assert by_kind["online_endpoint"]["changes"] == [
            {"path": "tags[owner]", "old": "portal", "new": None}
        ]

    md = amlgen(proj, "plan", "--backend", "sdk", "--format", "markdown", env=emu_env(emu))
    assert md.exit_code == 0
    assert md.stdout.startswith(  # the cost change first: 3 instances now, 1 committed
        "### amlgen plan: `dev`\n\n**Cost: -$6.00/h ($9.00/h now → $3.00/h while it stays "
        "up)** · job ceiling $37.50 · USD, eastus2; prices: "
        f"{FIXTURES}, read {TODAY}\n\n"
        "**Plan: 0 to create, 3 to update (3 drift), 2 unchanged.**\n"
    )
    assert f"| ~ | `traffic {ENDPOINT}` | update (drift: changed outside amlgen) |" in md.stdout
    assert "```diff\n- traffic[demo]: 0\n+ traffic[demo]: 100\n```" in md.stdout

    # Applying puts it back: deploy, then the plan is clean again.
    workflow.deploy(project_dir=proj, backend="sdk", keep_endpoint=True)
    assert plan_json(proj, emu, "sdk")[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_forbidden_is_one_line_and_throttling_is_retried(
    emu: Any, tmp_path: Path, backend: str
) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "forbidden", "match": "/onlineEndpoints/", "method": "GET"})
    result = amlgen(proj, "plan", "--backend", backend, "--detailed-exitcode", env=emu_env(emu))
    assert result.exit_code == 1
    assert result.output == (
        f"error: online endpoint {ENDPOINT}: not allowed to read it (403): ask for a role that "
        "can read it on the workspace or registry (e.g. AzureML Data Scientist), or sign in as "
        "another identity\n"
    )

    busy = {"fault": "throttle", "retry_after": 0}
    emu.add_fault({**busy, "status": 429, "times": 2, "match": "/computes/"})
    emu.add_fault({**busy, "status": 503, "times": 1, "match": "/onlineEndpoints/"})
    code, data = plan_json(proj, emu, backend)
    assert code == 2 and data["summary"]["create"] == 5
    fired = [f[0] for f in emu.snapshot()["faults_fired"]]
    assert fired.count("throttle 429") == 2 and fired.count("throttle 503") == 1


@pytest.mark.slow
def test_a_restart_mid_plan_is_retried(emu: Any, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "restart", "after_requests": 2, "down_seconds": 0.3})
    code, data = plan_json(proj, emu, "sdk")
    assert code == 2 and data["summary"]["create"] == 5
    assert emu.restarts == 1


@pytest.mark.slow
def test_a_service_that_stays_busy_is_one_line(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = make_project(tmp_path / "p")
    monkeypatch.setattr(planning, "READ_RETRIES", 1)
    emu.add_fault({"fault": "throttle", "times": 1000, "retry_after": 0, "match": "/computes/"})
    result = amlgen(proj, "plan", "--backend", "sdk", env=emu_env(emu))
    assert result.exit_code == 1
    assert result.output.startswith("error: the service did not answer after 1 retries (compute")
    assert result.output.endswith("try again later\n") and result.output.count("\n") == 1


@pytest.mark.slow
def test_no_workspace_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = make_project(tmp_path / "p")
    monkeypatch.delenv("AMLGEN_EMULATOR", raising=False)
    result = amlgen(proj, "plan", "--backend", "sdk", env={"AMLGEN_EMULATOR": ""})
    assert result.exit_code == 1
    assert result.output.startswith("error: no workspace: pass --subscription, --resource-group")
    assert result.output.count("\n") == 1


@pytest.mark.slow
def test_large_model_deployment_settings_round_trip_without_false_diffs(
    emu: Any, tmp_path: Path
) -> None:
    """Environment variables, request settings and probes (ISO durations on the wire) compare
    equal after a run: the normalise rules cover what the SDK sends and the service returns."""
    from test_deployment_settings import make_project as settings_project

    proj = settings_project(tmp_path / "p")
    workflow.run(project_dir=proj, backend="sdk", keep_endpoint=True)
    for backend in ("sdk", "cli"):
        code, data = plan_json(proj, emu, backend)
        assert code == 0, data
    # One of them changed out of band is a drift the plan names by its YAML path.
    change(
        emu,
        resource="deployment",
        name="demo",
        endpoint=ENDPOINT,
        set={"properties.livenessProbe.timeout": "PT1M", "properties.environmentVariables": {}},
    )
    code, data = plan_json(proj, emu, "sdk")
    by_kind = {r["kind"]: r for r in data["resources"]}
    assert code == 2 and by_kind["online_deployment"]["drift"] is True
    assert by_kind["online_deployment"]["changes"] == [
        {"path": "environment_variables[MODEL_LOAD_TIMEOUT]", "old": None, "new": "900"},
        {"path": "environment_variables[WORKER_COUNT]", "old": None, "new": "2"},
        {"path": "liveness_probe.timeout", "old": 60, "new": 299},
    ]

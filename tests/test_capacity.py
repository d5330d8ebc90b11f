"""Refuse before money is spent when Azure will refuse, and explain what failed: end to end
against the emulator with the real SDK (sdk backend) and the stand-in `az` (cli backend).

Quota and regions are read live (list-usage, list-sizes, the workspace's region) and compared
with what the rendered files consume; a failed deployment's container logs and a failed
pipeline's step land in the error. The cli backend is exercised where its argument lists
matter (each of its flows runs many `az` subprocesses); the breadth runs on the sdk backend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import finetune_project, make_project, point_flow_at
from click.testing import CliRunner

import generator
from generator.cli import cli
from generator.emulator import Emulator
from generator.errors import WorkflowError
from generator.workspace import emulator_client

pytestmark = pytest.mark.slow

A100_FAMILY = "standardNCADSA100v4Family"
ENDPOINT = "ultrachat-completion-dev"
NO_A100 = {"fault": "quota", "family": A100_FAMILY, "limit": 0, "used": 0}


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(job_seconds=0.6, deploy_seconds=0.3) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        yield server


def created(emu: Emulator) -> list[str]:
    """Every resource a PUT created or changed (the emulator's request log)."""
    return [path for method, path, _ in emu.snapshot()["requests"] if method == "PUT"]


def amlgen(proj: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["-C", str(proj), *args])


# --- quota ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_zero_a100_quota_refuses_the_run_before_anything_is_created(
    emu: Emulator, tmp_path: Path, backend: str
) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault(NO_A100)
    lines: list[str] = []
    with pytest.raises(WorkflowError) as info:
        generator.run(project_dir=proj, backend=backend, log=lines.append)
    text = str(info.value)
    assert text.startswith("Azure would refuse this run, nothing was created")
    problem = next(ln for ln in text.splitlines() if A100_FAMILY in ln)
    # family, need, in use / limit, and the ways out, on one line (the cli backend's
    # `list-usage` prints no current usage with the SDK installed here: the limit decides)
    said = {
        "sdk": "needs 48 of 0 free vCPUs (0 in use, limit 0)",
        "cli": "needs 48 of 0 vCPUs (in use not reported: checked against the limit)",
    }
    assert said[backend] in problem
    assert "cluster gpu-a100 on Standard_NC24ads_A100_v4: 1 node(s) x 24 vCPUs" in problem
    assert f"request more {A100_FAMILY} quota in eastus2" in problem
    assert created(emu) == []  # no cluster, no job, no endpoint
    assert not (proj / ".amlgen" / "dev" / "state.json").exists() or "job" not in json.loads(
        (proj / ".amlgen" / "dev" / "state.json").read_text()
    )
    # `run` showed the plan first, its quota line saying the same
    assert any(ln.strip() == f"! {A100_FAMILY}: {said[backend]}" for ln in lines)
    assert "Standard_ND96asr_v4 (NDASv4_A100, 1000 free) for cluster gpu-a100" in problem


def test_plan_shows_each_family_in_every_format(emu: Emulator, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault(NO_A100)
    plan = generator.plan("dev", project_dir=proj, backend="sdk")
    text = plan.render("text")
    assert "  quota in eastus2:" in text
    assert f"    ! {A100_FAMILY}: needs 48 of 0 free vCPUs (0 in use, limit 0)" in text
    assert "Azure would refuse it: 1 quota or region problem(s)." in text
    data = json.loads(plan.render("json"))
    assert data["format_version"] == 1  # fields were added, none changed meaning
    family = next(q for q in data["quota"]["lines"] if q["scope"] == "family")
    assert (family["name"], family["needed"], family["free"], family["status"]) == (
        A100_FAMILY,
        48,
        0,
        "short",
    )
    assert data["quota"]["region"] == "eastus2"
    assert f"| ! | {A100_FAMILY} | 48 | 0 | 0 | 0 |" in plan.render("markdown")

    # Enough quota: "needs 24 of 72 free", the deployment exempt from the 20 % reservation.
    emu.add_fault({"fault": "quota", "family": A100_FAMILY, "limit": 96, "used": 24})
    fits = generator.plan("dev", project_dir=proj, backend="sdk").render("text")
    assert f"    = {A100_FAMILY}: needs 48 of 72 free vCPUs (24 in use, limit 96)" in fits
    assert "Azure would refuse" not in fits


def test_an_exempt_and_a_non_exempt_size_reserve_what_facts_14_says(
    emu: Emulator, tmp_path: Path
) -> None:
    proj = make_project(tmp_path / "p")
    exempt = generator.plan(
        "dev", project_dir=proj, backend="sdk", overrides=["deployment.instance_count=3"]
    )
    family = next(q for q in exempt.capacity.lines if q.name == A100_FAMILY)  # type: ignore[union-attr]
    assert family.needed == 24 + 3 * 24  # the cluster's node, then exactly 3 instances
    assert any("3 instance(s), exempt from the 20 % reservation" in b for b in family.by)

    other = generator.plan(
        "dev",
        project_dir=proj,
        backend="sdk",
        overrides=["deployment.instance_type=Standard_DS3_v2", "deployment.instance_count=3"],
    )
    ds = next(q for q in other.capacity.lines if q.name == "standardDSv2Family")  # type: ignore[union-attr]
    assert ds.needed == 4 * 4  # ceil(1.2 x 3) = 4 instances of 4 vCPUs
    assert any("ceil(1.2 x 3) = 4 instance(s) reserved" in b for b in ds.by)


def test_the_emulator_refuses_a_deployment_over_quota_as_the_service_does(
    emu: Emulator, tmp_path: Path
) -> None:
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    from generator.emulator import emulator_uploads

    proj = make_project(tmp_path / "p")
    generator.run(project_dir=proj, backend="sdk", keep_endpoint=True)
    emu.add_fault(NO_A100)  # now: no more A100 quota; the live deployment holds 24 already
    ml = emulator_client(emu.url, emu.secret)
    d = proj / "azureml" / "dev"
    with emulator_uploads(emu.url, emu.secret):
        ml.online_endpoints.begin_create_or_update(
            load_online_endpoint(d / "endpoint.yml", params_override=[{"name": "second-ep"}])
        ).result()
        deployment = load_online_deployment(
            d / "deployment.yml", params_override=[{"endpoint_name": "second-ep"}]
        )
        with pytest.raises(Exception) as info:
            ml.online_deployments.begin_create_or_update(deployment).result()
    assert "Not enough quota available for Standard_NC24ads_A100_v4" in str(info.value)
    assert "Current usage/limit: 24/0. Additional needed: 24" in str(info.value)
    usage = {
        u.__dict__["name"]["value"]: u.__dict__["currentValue"]
        for u in ml.compute.list_usage(location="eastus2")
    }
    assert usage["Standard NCADSA100v4 Family Cluster Dedicated vCPUs"] == 24
    # A cluster that could grow past its family's quota is refused when created.
    from azure.ai.ml import load_compute

    cluster = load_compute(d / "compute.yml", params_override=[{"name": "second-a100"}])
    with pytest.raises(Exception) as refused:
        ml.compute.begin_create_or_update(cluster).result()
    assert (
        "Operation results in exceeding quota limits of Standard NCADSA100v4 Family Cluster "
        "Dedicated vCPUs. Maximum allowed: 0, Current in use: 24, Additional requested: 24."
    ) in str(refused.value)


def test_quota_that_cannot_be_read_is_one_warning_and_the_run_goes_on(
    emu: Emulator, tmp_path: Path
) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "forbidden", "match": "/usages", "times": 2})
    lines: list[str] = []
    done = generator.run(project_dir=proj, backend="sdk", log=lines.append)
    assert "not a model" in (done.response or "")
    warned = [ln for ln in lines if "quota not checked" in ln]
    assert warned and "not allowed to read it (403)" in warned[0]


# --- regions --------------------------------------------------------------------------------------


def test_a_size_the_region_does_not_offer_is_refused(emu: Emulator, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "region_sizes", "drop": ["Standard_NC24ads_A100_v4"]})
    with pytest.raises(WorkflowError) as info:
        generator.run(project_dir=proj, backend="sdk")
    assert re.search(
        r"region: cluster gpu-a100: Standard_NC24ads_A100_v4 is not offered in eastus2 "
        r"\(compute.list_sizes\): choose an allowed size offered there \(Standard_NC48ads",
        str(info.value),
    )
    assert created(emu) == []


@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_serverless_in_a_region_without_phi4_fine_tuning_is_refused_naming_the_regions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    with Emulator(job_seconds=0.6, deploy_seconds=0.3, region="westeurope") as emu:
        point_flow_at(emu, tmp_path, monkeypatch)
        proj = finetune_project(tmp_path / "p")
        with pytest.raises(WorkflowError) as info:
            generator.run("serverless", project_dir=proj, backend=backend)
        assert (
            "region: serverless fine-tuning of Phi-4 is not offered in westeurope: use a "
            "workspace in eastus2, eastus, northcentralus, southcentralus, westus, westus3"
        ) in str(info.value)
        assert created(emu) == []


# --- failures explain themselves ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_a_failing_liveness_probe_shows_the_last_log_lines_and_keeps_the_full_logs(
    emu: Emulator, tmp_path: Path, backend: str
) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "deployment_fails", "reason": "liveness_probe"})
    lines: list[str] = []
    with pytest.raises(WorkflowError) as info:
        generator.run(project_dir=proj, backend=backend, log=lines.append)
    text = str(info.value)
    assert text.startswith("deployment demo of endpoint ultrachat-completion-dev failed:")
    assert "Liveness probe failed" in text.splitlines()[0]
    assert "cause: the liveness probe failed" in text
    assert "last lines of the inference-server log:" in text
    assert "Loading checkpoint shards: 80% (5/6)" in text
    logs = proj / ".amlgen" / "dev" / "logs"
    server = (logs / "demo.inference-server.log").read_text()
    storage = (logs / "demo.storage-initializer.log").read_text()
    assert "Loading the model from /var/azureml-app/azureml-models" in server
    assert "sig=<redacted>" in storage and "Model is ready" in storage
    assert "full logs: .amlgen/dev/logs/demo.inference-server.log" in text
    assert f"deleted endpoint {ENDPOINT}" in lines  # the guarantee still holds

    # `amlgen logs` prints what was saved; --live fetches (the endpoint is gone: one clear line)
    saved = amlgen(proj, "logs", "--env", "dev", "--backend", backend)
    assert saved.exit_code == 0, saved.output
    assert "==> .amlgen/dev/logs/demo.inference-server.log (inference-server, saved) <==" in (
        saved.stdout
    )
    assert "Loading checkpoint shards" in saved.stdout
    live = amlgen(proj, "logs", "--env", "dev", "--backend", backend, "--live")
    assert live.exit_code == 1
    assert "error: no logs of deployment ultrachat-completion-dev/demo" in live.output


@pytest.mark.parametrize(
    ("reason", "cause", "line"),
    [
        ("out_of_memory", "ran out of memory", "CUDA out of memory"),
        ("image_pull", "image could not be pulled", "Model is ready"),
    ],
)
def test_each_failure_names_its_cause(
    emu: Emulator, tmp_path: Path, reason: str, cause: str, line: str
) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "deployment_fails", "reason": reason})
    with pytest.raises(WorkflowError) as info:
        generator.run(project_dir=proj, backend="sdk")
    assert cause in str(info.value) and line in str(info.value)


def test_logs_of_a_live_deployment(emu: Emulator, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    generator.run(project_dir=proj, backend="sdk", keep_endpoint=True)
    out = generator.logs("dev", project_dir=proj, backend="sdk", live=True)
    assert "==> ultrachat-completion-dev/demo (inference-server, live) <==" in (out.response or "")
    assert "Listening on" in (out.response or "")
    assert (proj / ".amlgen" / "dev" / "logs" / "demo.storage-initializer.log").is_file()
    dry = amlgen(proj, "logs", "--env", "dev", "--live", "--dry-run")
    assert dry.stdout.splitlines() == [
        "az ml online-deployment get-logs -n demo -e ultrachat-completion-dev --lines 500 -o json",
        "az ml online-deployment get-logs -n demo -e ultrachat-completion-dev --lines 500 "
        "--container storage-initializer -o json",
    ]
    generator.teardown("dev", project_dir=proj, backend="sdk")


@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_a_failed_pipeline_names_its_failed_step(
    emu: Emulator, tmp_path: Path, backend: str
) -> None:
    proj = make_project(tmp_path / "p")
    message = "UserError: the training data has a row with no assistant turn"
    emu.add_fault({"fault": "job_status", "status": "Failed", "message": message})
    with pytest.raises(WorkflowError) as info:
        generator.run(project_dir=proj, backend=backend)
    text = str(info.value)
    assert "\n" not in text
    assert "ended Failed: Pipeline has failed child jobs. Failed nodes: /finetune." in text
    step = re.search(r"failed step finetune \((\S+)\): (.*?)  (http\S+);", text)
    assert step, text
    assert step.group(2) == message
    assert step.group(3).endswith(f"/portal/runs/{step.group(1)}")  # no ids in the link

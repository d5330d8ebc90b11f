"""`amlgen plan` on the fine-tuning job path (params/serverless.yaml), against the real emulator
for both backends (the cli one through the stand-in `az`): the model version the job registers,
the serverless endpoint (or, on managed compute, the cluster and the online endpoint), the
marketplace subscription a non-Microsoft model needs, and no false diffs after a kept run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import finetune_project, marketplace_assets, point_flow_at
from click.testing import CliRunner

import generator as workflow
from generator import planning
from generator.cli import cli
from generator.emulator import Emulator

ENV = "serverless"
ENDPOINT = "ultrachat-phi4-serverless"
MODEL = "Phi-4-ultrachat-200k-serverless"
CLEAN_ENV = {"AZURE_SUBSCRIPTION_ID": "", "AZURE_RESOURCE_GROUP": "", "AZUREML_WORKSPACE_NAME": ""}


project = finetune_project


def amlgen(proj: Path, emu: Emulator, *args: str) -> Any:
    env = {**CLEAN_ENV, "AMLGEN_EMULATOR": emu.url, "AMLGEN_EMULATOR_SECRET": emu.secret}
    result = CliRunner().invoke(cli, ["-C", str(proj), *args], env=env)
    assert result.exit_code in (0, 2), result.output
    return result


def plan_of(proj: Path, emu: Emulator, backend: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = amlgen(
        proj, emu, "plan", "--env", ENV, "--backend", backend, "--format", "json",
        "--detailed-exitcode", *args,
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def actions(data: dict[str, Any]) -> dict[str, str]:
    return {f"{r['kind']} {r['name']}": r["action"] for r in data["resources"]}


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(job_seconds=0.5, deploy_seconds=0.3) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_fresh_workspace_plans_the_model_the_job_registers_and_the_serverless_endpoint(
    emu: Emulator, tmp_path: Path, backend: str
) -> None:
    proj = project(tmp_path / "p")
    before = len(emu.snapshot()["requests"])
    result = amlgen(proj, emu, "plan", "--env", ENV, "--backend", backend, "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert result.stdout == (
        f"amlgen plan: env {ENV}, backend {backend}\n"
        f"  + model {MODEL}:1: create\n"
        "      registered by the fine-tuning job (outputs.registered_model) when it completes\n"
        f"  + serverless endpoint {ENDPOINT}: create\n"
        "      billed per hour while it exists: `run` deletes it unless --keep-endpoint\n"
        "  = registry model azureml/Phi-4:8: exists\n"
        # Serverless fine-tuning and a serverless deployment have no VM size: no price is
        # published in the Retail Prices API, and the plan says so instead of making one up.
        "Cost (USD):\n"
        f"  job azureml/{ENV}/finetuning-job.yml: price not published (serverless fine-tuning "
        "is billed by the service; the portal's Pricing and terms shows it)\n"
        f"  serverless endpoint {ENDPOINT}: price not published (a serverless deployment bills "
        "per hour while it exists; the portal's Pricing and terms shows it)\n"
        f"  stays up: unknown per hour (serverless endpoint {ENDPOINT}: price not published); "
        "job: price not published\n"
        "Plan: 2 to create, 0 to update, 0 unchanged.\n"
    )
    assert len(emu.snapshot()["requests"]) == before  # a plan changes nothing
    _code, data = plan_of(proj, emu, backend)
    files = {r["kind"]: r["file"] for r in data["resources"]}
    assert files == {
        "model": "azureml/serverless/finetuning-job.yml",
        "serverless_endpoint": "azureml/serverless/serverless-endpoint.yml",
        "registry_model": "azureml/serverless/finetuning-job.yml",
    }


@pytest.mark.slow
def test_after_a_kept_run_no_changes_then_a_new_version_cannot_update_the_endpoint(
    emu: Emulator, tmp_path: Path
) -> None:
    # Both backends create through the same SDK calls (the az ml extension is the SDK), so one
    # run, read by both, shows there is no false diff either way.
    proj = project(tmp_path / "p")
    workflow.run(env=ENV, project_dir=proj, backend="sdk", keep_endpoint=True)
    for reader in ("sdk", "cli"):  # no false diffs, whichever backend reads
        code, data = plan_of(proj, emu, reader)
        assert code == 0 and data["changes"] is False, data
        assert actions(data) == {
            f"model {MODEL}:1": "no-change",
            f"serverless_endpoint {ENDPOINT}": "no-change",
            "registry_model azureml/Phi-4:8": "read",
        }
    code, data = plan_of(proj, emu, "cli", "--set", "registered_model.version=2")
    assert code == 2
    assert actions(data)[f"model {MODEL}:2"] == "create"
    endpoint = next(r for r in data["resources"] if r["kind"] == "serverless_endpoint")
    assert endpoint["action"] == "cannot-update" and not endpoint["drift"]
    changed = {c["path"]: (c["old"], c["new"]) for c in endpoint["changes"]}
    assert changed["model_id"] == (f"azureml:{MODEL}:1", f"azureml:{MODEL}:2")
    assert set(changed) == {"model_id", "tags[amlgen.params]"}  # and the params fingerprint
    assert "cannot change in place: `amlgen teardown`" in endpoint["note"]
    workflow.teardown(env=ENV, project_dir=proj, backend="cli")


@pytest.mark.slow
def test_a_version_another_run_registered_is_planned_as_cannot_update(
    emu: Emulator, tmp_path: Path
) -> None:
    first = workflow.run(env=ENV, project_dir=project(tmp_path / "a"), backend="sdk")
    job = first.state["job"]["name"]
    code, data = plan_of(project(tmp_path / "b"), emu, "cli")
    assert code == 2
    model = data["resources"][0]
    assert (model["kind"], model["action"]) == ("model", "cannot-update")
    assert job in model["changes"][0]["old"]
    assert "model versions are immutable" in model["note"]
    assert "the job would train, then fail to register it" in model["note"]


@pytest.mark.slow
def test_managed_compute_plans_the_cluster_and_the_online_endpoint(
    emu: Emulator, tmp_path: Path
) -> None:
    code, data = plan_of(project(tmp_path / "p"), emu, "sdk", "--set", "compute.kind=cluster")
    assert code == 2
    assert actions(data) == {
        "compute gpu-a100": "create",
        f"model {MODEL}:1": "create",
        f"online_endpoint {ENDPOINT}": "create",
        f"online_deployment {ENDPOINT}/demo": "create",
        f"traffic {ENDPOINT}": "create",
        "registry_model azureml/Phi-4:8": "read",
    }


def test_run_dry_run_lists_the_plans_reads_first(tmp_path: Path) -> None:
    proj = project(tmp_path / "p")
    plan = workflow.run(env=ENV, project_dir=proj, backend="sdk", dry_run=True).plan
    reads = [line for line in plan if line.endswith("# amlgen plan: the live state")]
    assert reads == [
        f'ml_client.models.get(name="{MODEL}", version="1")  # amlgen plan: the live state',
        f'ml_client.serverless_endpoints.get("{ENDPOINT}")  # amlgen plan: the live state',
        'MLClient(credential, registry_name="azureml").models.get(name="Phi-4", version="8")'
        "  # amlgen plan: the live state",
        # the region (serverless fine-tuning is regional); no VM sizes, no quota of ours
        "ml_client.workspaces.get(ml_client.workspace_name).location"
        "  # amlgen plan: the live state",
    ]
    assert plan[: len(reads)] == reads


# --- a model that needs a marketplace subscription (no such model in the emulator's registry) --


def _reader(live: dict[tuple[str, str], dict[str, Any]]) -> planning.Reader:
    def read(kind: str, name: str, **where: str | None) -> dict[str, Any] | None:
        return live.get((kind, name))

    return read


def test_a_marketplace_model_plans_its_subscription(tmp_path: Path) -> None:
    assets = marketplace_assets(project(tmp_path / "p"))
    sub = assets.marketplace_name
    registry = ("registry_model", "Meta-Llama-3.1-8B-Instruct")
    plan = planning.make_plan(ENV, assets, _reader({registry: {}}), "sdk")
    assert plan.render().splitlines()[3] == (f"  + marketplace subscription {sub}: create")
    live = {
        registry: {},
        ("marketplace_subscription", sub): {
            "name": sub,
            "model_id": assets.marketplace_model_id,
            "marketplace_plan": {"publisher_id": "metagenai"},
            "status": "Subscribed",
        },
    }
    kept = planning.make_plan(ENV, assets, _reader(live), "sdk")
    assert [r.action for r in kept.resources if r.kind == "marketplace_subscription"] == [
        "no-change"
    ]

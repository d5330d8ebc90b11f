"""Model lifecycle judged on an injected day, successors computed from metadata, both layouts,
and the one-line model switch over every model the catalog knows."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator import catalog, lifecycle
from generator.catalog import metadata
from generator.errors import AmlgenError
from generator.params import load_params
from generator.rendering import render
from generator.validation.runner import validate_rendered

ROOT = Path(__file__).resolve().parent.parent
PHI3 = catalog.model("Phi-3-mini-4k-instruct", "15")
PHI35 = catalog.model("Phi-3.5-mini-instruct", "6")
PHI4 = catalog.model("Phi-4", "8")
DAY = dt.date.fromisoformat


def test_stages_follow_the_day() -> None:
    assert PHI3 is not None
    early = lifecycle.judge(PHI3, DAY("2025-06-29"))
    assert early.finetune == early.inference == lifecycle.LIVE and not early.retired
    dep = lifecycle.judge(PHI3, DAY("2025-06-30"))
    assert dep.deprecated and not dep.retired
    assert "retires on 2025-08-30 (fine-tuning and inference)" in (dep.message() or "")
    gone = lifecycle.judge(PHI3, DAY("2025-08-30"))
    assert gone.retired
    msg = gone.message() or ""
    assert "retired on 2025-08-30 (fine-tuning and inference)" in msg and "archived" in msg


def test_successors_are_computed_live_on_that_day() -> None:
    assert PHI3 is not None and PHI35 is not None and PHI4 is not None
    # Phi-3.5-mini was retired the same day as Phi-3-mini: never offered once retired ...
    late = lifecycle.judge(PHI3, DAY("2026-12-02"))
    assert [m.name for m in late.successors] == ["Phi-4"]
    assert "Phi-3.5" not in (late.message() or "")
    # ... and it is not hard-coded away either: while it was live (and not archived) it counted.
    unarchived = catalog.ModelVersion(**{**PHI35.__dict__, "archived": False})
    before = lifecycle.successors(PHI3, DAY("2025-01-01"), [PHI4, unarchived])
    assert [m.name for m in before] == ["Phi-3.5-mini-instruct", "Phi-4"]
    # Same deployment option and task only.
    serverless_only = catalog.ModelVersion(**{**PHI4.__dict__, "deployment_options": ("X",)})
    assert lifecycle.successors(PHI3, DAY("2026-12-02"), [serverless_only]) == ()
    other_task = catalog.ModelVersion(**{**PHI4.__dict__, "finetuning_tasks": ("text-gen",)})
    assert lifecycle.successors(PHI3, DAY("2026-12-02"), [other_task]) == ()
    none = lifecycle.judge(PHI3, DAY("2026-12-02"), candidates=[])
    assert "no live successor" in (none.message() or "")


def test_a_live_model_has_nothing_to_say() -> None:
    assert PHI4 is not None
    j = lifecycle.judge(PHI4, DAY("2026-12-02"))
    assert j.live and j.message() is None and j.refusal() is None
    lifecycle.ensure_submittable(PHI4, DAY("2026-12-02"))


def test_retired_is_refused_with_what_to_change() -> None:
    assert PHI3 is not None
    with pytest.raises(AmlgenError) as info:
        lifecycle.ensure_submittable(PHI3, DAY("2026-12-02"))
    text = str(info.value)
    assert "\n" not in text
    assert "retired on 2025-08-30" in text
    assert "set model.name: Phi-4 and model.version: '8'" in text


def test_injected_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lifecycle.CLOCK_ENV, "2025-07-01")
    assert lifecycle.today() == DAY("2025-07-01")
    assert PHI3 is not None and lifecycle.judge(PHI3).deprecated
    monkeypatch.setenv(lifecycle.CLOCK_ENV, "July")
    with pytest.raises(AmlgenError, match="AMLGEN_TODAY='July': expected a date"):
        lifecycle.today()


def test_both_metadata_layouts_read_the_same() -> None:
    skus = ["Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4"]
    old = metadata.version_entry(
        {
            "finetune_compute_allow_list": "[Standard_NC24ads_A100_v4, Standard_NC48ads_A100_v4]",
            "inference_compute_allow_list": '["Standard_NC24ads_A100_v4"]',
            "FinetuneDeprecationDate": "2025-06-30",
            "FinetuneRetirementDate": "2025-08-30",
            "InferenceRetirementDate": "2025-08-30",
            "model_specific_defaults": "{'deepspeed_stage': 3}",
            "textContextWindow": "16384",
            "deploymentOptions": "UnifiedEndpointMaaS, MaaP",
            "task": "chat-completion",
        },
        properties={"finetuning-tasks": "chat-completion", "finetune-min-sku-spec": "24|1|220|64"},
    )
    new = metadata.version_entry(
        {"model_specific_defaults": {"deepspeed_stage": 3}},
        {
            "SKU": {
                "finetuneRecommendedSkus": skus,
                "inferenceRecommendedSkus": skus[:1],
                "finetuneMinSkuSpec": "24|1|220|64",
            },
            "deprecation": {
                "finetuneDeprecationDate": "2025-06-30T00:00:00.000000Z",
                "finetuneRetirementDate": "2025-08-30T00:00:00.000000Z",
                "inferenceRetirementDate": "2025-08-30T00:00:00.000000Z",
            },
            "tasks": {
                "fineTuningTasks": ["chat-completion"],
                "inferenceTasks": ["chat-completion"],
            },
            "deploymentOptions": ["UnifiedEndpointMaaS", "MaaP"],
            "textContextWindow": 16384,
        },
    )
    assert old == new
    assert old["finetune_allow_list"] == skus and old["context_window"] == 16384
    assert old["lifecycle"]["finetune_retirement"] == "2025-08-30"
    assert metadata.layouts({}, {"SKU": {}}) == ["system_metadata"]
    assert metadata.layouts({"FinetuneRetirementDate": "x"}, {}) == ["tags"]


def test_bundled_catalog_is_derived_from_both_layouts() -> None:
    assert PHI3 is not None and PHI4 is not None
    bundled = json.loads((ROOT / "generator" / "catalog" / "models.json").read_text("utf-8"))
    raw = bundled["Phi-3-mini-4k-instruct"]["versions"]["15"]
    assert raw["layouts"] == ["system_metadata", "tags"]
    assert PHI4.context_window == 16384 and PHI3.context_window == 4096
    assert "MaaP" in PHI4.deployment_options
    assert PHI4.model_specific_defaults["deepspeed_stage"] == 3
    assert PHI4.finetune_allow_list[0] == "Standard_NC24ads_A100_v4"  # registry order kept
    assert "successors" not in bundled["Phi-3-mini-4k-instruct"]


@pytest.mark.parametrize("m", catalog.models(), ids=lambda m: f"{m.name}-{m.version}")
def test_one_line_switches_the_model(project: Path, m: catalog.ModelVersion) -> None:
    sets = [f"model.name={m.name}", f"model.version={m.version}"]
    r = load_params("dev", project, sets)
    files = render(r)
    validate_rendered(files, project)  # raises on any error
    job = yaml.safe_load(files["azureml/dev/pipeline-job.yml"])
    # experiment names take letters, digits, "-" and "_" only: Phi-3.5 becomes Phi-3-5
    assert job["experiment_name"] == f"chat_completion_{m.name.replace('.', '-')}"
    assert job["display_name"].startswith(f"{m.name}-ultrachat-")
    ds = str(m.model_specific_defaults.get("deepspeed_stage"))
    assert job["jobs"]["finetune"]["inputs"]["deepspeed_stage"] == ds
    model_doc = yaml.safe_load(files["azureml/dev/model.yml"])
    assert model_doc["description"].startswith(f"{m.name} fine tuned model")
    endpoint = yaml.safe_load(files["azureml/dev/endpoint.yml"])
    assert endpoint["description"].endswith(r.registered_model_name)
    size = yaml.safe_load(files["azureml/dev/compute.yml"])["size"]
    assert size in m.finetune_allow_list
    dep = yaml.safe_load(files["azureml/dev/deployment.yml"])
    assert dep["instance_type"] in m.inference_allow_list
    vm = catalog.vm_size(size)
    assert vm and job["jobs"]["finetune"]["inputs"]["number_of_gpu_to_use_finetuning"] == vm.gpus


def _amlgen(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(project), *args],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "AMLGEN_TODAY": "2026-12-02"},
    )


@pytest.mark.slow
def test_rendering_notebook_names_the_date_and_only_live_successors(project: Path) -> None:
    # Without the reviewed acknowledgement, rendering warns (and `validate --strict` fails).
    overlay = project / "params" / "notebook.yaml"
    text = overlay.read_text(encoding="utf-8")
    assert "  acknowledged_lifecycle: retired\n" in text
    overlay.write_text(text.replace("  acknowledged_lifecycle: retired\n", ""), encoding="utf-8")
    result = _amlgen(project, "render", "--env", "notebook")
    assert result.returncode == 0, result.stderr
    warning = [ln for ln in result.stderr.splitlines() if "cross.model-lifecycle" in ln]
    assert len(warning) == 1
    assert "retired on 2025-08-30" in warning[0] and "Phi-4 version 8" in warning[0]
    assert "Phi-3.5" not in warning[0]
    strict = _amlgen(project, "validate", "--strict", "azureml/notebook")
    assert strict.returncode == 1 and "[cross.model-lifecycle]" in strict.stdout


@pytest.mark.slow
def test_an_acknowledged_retirement_is_a_note_that_strict_passes(project: Path) -> None:
    result = _amlgen(project, "render", "--env", "notebook")
    assert result.returncode == 0 and "cross.model-lifecycle" not in result.stderr
    strict = _amlgen(project, "validate", "--strict", "azureml/notebook")
    assert strict.returncode == 0, strict.stdout + strict.stderr
    note = [ln for ln in strict.stdout.splitlines() if "model-lifecycle-acknowledged" in ln]
    assert len(note) == 1 and ": info: " in note[0]
    assert "retired on 2025-08-30" in note[0] and "Phi-4 version 8" in note[0]
    # The acknowledgement changes how validation reports, never what runs (nor the params tag).
    acknowledged = load_params("notebook", project).fingerprint
    overlay = project / "params" / "notebook.yaml"
    text = overlay.read_text(encoding="utf-8")
    overlay.write_text(text.replace("  acknowledged_lifecycle: retired\n", ""), encoding="utf-8")
    assert load_params("notebook", project).fingerprint == acknowledged


def test_dev_and_prod_name_no_retired_model() -> None:
    retired = [m.name for m in catalog.models() if lifecycle.judge(m).retired]
    assert "Phi-3-mini-4k-instruct" in retired
    for env in ("dev", "prod"):
        for path in sorted((ROOT / "azureml" / env).glob("*.yml")):
            text = path.read_text(encoding="utf-8")
            assert not [n for n in retired if n in text], path


def test_notebook_keeps_the_seed_workflow(project: Path) -> None:
    r = load_params("notebook", project)
    p = r.params
    assert (p.model.name, p.model.version, p.model.specific_defaults) == (
        "Phi-3-mini-4k-instruct",
        "15",
        "override",
    )
    assert p.data.split_percent == 5 and p.data.source == "HuggingFaceH4/ultrachat_200k"
    assert p.job.experiment_name == "chat_completion_Phi-3-mini-4k-instruct"
    assert r.registered_model_name == "Phi-3-mini-4k-instruct-ultrachat-200k"
    assert r.finetune_inputs["lr_scheduler_type"] == "cosine"
    assert r.finetune_inputs["deepspeed_stage"] == "2"


def test_submit_refuses_a_retired_model_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from generator.cli import cli
    from generator.rendering import render_environments

    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "params", proj / "params")
    render_environments(["dev", "notebook", "prod"], proj, all_envs=True)
    env = {
        "AMLGEN_EMULATOR": "",
        "AMLGEN_TODAY": "2026-12-02",
        "AZURE_SUBSCRIPTION_ID": "",
        "AZURE_RESOURCE_GROUP": "",
        "AZUREML_WORKSPACE_NAME": "",
    }
    for command in ("submit", "run", "deploy"):
        result = CliRunner().invoke(
            cli, ["-C", str(proj), command, "--env", "notebook", "--dry-run"], env=env
        )
        assert result.exit_code == 1, result.output
        (line,) = result.output.splitlines()
        assert line.startswith("error: Phi-3-mini-4k-instruct version 15 was retired on 2025-08-30")
        assert "set model.name: Phi-4 and model.version: '8'" in line
    # The local emulator may still rehearse it: past the lifecycle check, on to the next one.
    emulated = {**env, "AMLGEN_EMULATOR_SECRET": "local-test-key"}
    args = ["-C", str(proj), "submit", "--env", "notebook", "--dry-run"]
    result = CliRunner().invoke(cli, [*args, "--emulator", "http://127.0.0.1:9/"], env=emulated)
    assert result.exit_code == 1 and "data file(s) missing" in result.output, result.output

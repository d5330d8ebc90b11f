"""Backends offline: workspace resolution, exact dry-run plans, pre-flight refusals, and the
SDK-built pipeline job equal to the rendered one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _flowkit import make_project
from click.testing import CliRunner

from generator.cli import cli
from generator.errors import WorkflowError
from generator.workspace import find_config, resolve_workspace

SUB = "12345678-1234-1234-1234-123456789abc"


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def amlgen(proj: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    base = {
        "AMLGEN_EMULATOR": "",
        "AZURE_SUBSCRIPTION_ID": "",
        "AZURE_RESOURCE_GROUP": "",
        "AZUREML_WORKSPACE_NAME": "",
    }
    return CliRunner().invoke(cli, ["-C", str(proj), *args], env={**base, **(env or {})})


# --- workspace resolution ---------------------------------------------------------------------


def test_workspace_precedence_flags_env_config(tmp_path: Path) -> None:
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text(
        json.dumps({"subscription_id": SUB, "resource_group": "rg-c", "workspace_name": "ws-c"})
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / ".azureml" / "config.json"
    ws = resolve_workspace(
        nested, workspace_name="ws-flag", environ={"AZURE_RESOURCE_GROUP": "rg-env"}
    )
    assert (ws.subscription_id, ws.resource_group, ws.workspace_name) == (SUB, "rg-env", "ws-flag")
    assert ws.az_args() == ["-g", "rg-env", "-w", "ws-flag", "--subscription", SUB]
    assert SUB not in ws.describe()


def test_workspace_scope_form_and_nothing_found(tmp_path: Path) -> None:
    scope = (
        f"/subscriptions/{SUB}/resourceGroups/rg-s/providers/"
        "Microsoft.MachineLearningServices/workspaces/ws-s"
    )
    (tmp_path / "config.json").write_text(json.dumps({"Scope": scope}))
    ws = resolve_workspace(tmp_path, environ={})
    assert (ws.subscription_id, ws.resource_group, ws.workspace_name) == (SUB, "rg-s", "ws-s")
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    (tmp_path / "config.json").unlink()
    ws = resolve_workspace(empty, environ={})
    assert ws.az_args() == []  # az configure defaults decide


def test_emulator_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="AMLGEN_EMULATOR_SECRET"):
        resolve_workspace(tmp_path, environ={"AMLGEN_EMULATOR": "http://127.0.0.1:1"})
    ws = resolve_workspace(
        tmp_path,
        environ={"AMLGEN_EMULATOR": "http://127.0.0.1:1", "AMLGEN_EMULATOR_SECRET": "k" * 40},
    )
    assert ws.emulator_url == "http://127.0.0.1:1/" and ws.az_env()["AMLGEN_EMULATOR_SECRET"]


# --- exact dry-run plans: cli backend -----------------------------------------------------------

POLL = "  # repeated with backoff until Completed, Failed or Canceled"
LIVE = "  # amlgen plan: the live state"
PRE = "  # pre-flight: quota and regions"
CLI_RUN_PLAN = "".join(
    line + "\n"
    for line in [
        # `run` shows the plan first: its reads (amlgen plan), then the commands.
        "az ml compute show -n gpu-a100 -o json" + LIVE,
        "az ml model show -n Phi-4-ultrachat-200k -v 1 -o json" + LIVE,
        "az ml online-endpoint show -n ultrachat-completion-dev -o json" + LIVE,
        "az ml component show -n chat_completion_pipeline -v 0.0.82 --registry-name azureml"
        " -o json" + LIVE,
        "az ml model show -n Phi-4 -v 8 --registry-name azureml -o json" + LIVE,
        # quota and regions (generator/capacity.py): read once, by the plan, for pre-flight too
        "az ml workspace show --query location -o tsv" + LIVE,
        "az ml compute list-sizes -o json" + LIVE,
        "az ml compute list-usage --location '<region>' -o json" + LIVE,
        "az ml model show -n Phi-4 -v 8 --registry-name azureml -o json",
        "az ml model show -n Phi-4-ultrachat-200k -v 1 -o json",
        "az ml compute show -n gpu-a100 -o json",
        "az ml compute create -f azureml/dev/compute.yml -o json"
        "  # only when the cluster is missing",
        "az ml job create -f azureml/dev/pipeline-job.yml --query name -o tsv",
        "az ml job show -n '<job-name>' --query services.Studio.endpoint -o tsv"
        "  # once, for the Studio link",
        "az ml job show -n '<job-name>' --query status -o tsv" + POLL,
        "az ml model show -n Phi-4-ultrachat-200k -v 1 -o json",
        "az ml model create -f azureml/dev/model.yml"
        " --set 'path=azureml://jobs/<job-name>/outputs/trained_model' -o json",
        "az ml online-endpoint show -n ultrachat-completion-dev -o json",
        "az ml online-endpoint create -f azureml/dev/endpoint.yml -o json"
        "  # when it does not exist",
        "az ml online-endpoint update -f azureml/dev/endpoint.yml -o json  # when it exists",
        "az ml online-deployment show -n demo -e ultrachat-completion-dev -o json",
        "az ml online-deployment create -f azureml/dev/deployment.yml -o json"
        "  # when it does not exist",
        "az ml online-deployment update -f azureml/dev/deployment.yml -o json  # when it exists",
        "az ml online-endpoint update -n ultrachat-completion-dev --traffic demo=100 -o json",
        "az ml online-endpoint invoke -n ultrachat-completion-dev --deployment-name demo"
        " --request-file data/ultrachat_200k/sample_score.json -o json",
        "az ml online-endpoint delete -n ultrachat-completion-dev --yes",
    ]
)


def test_cli_run_dry_run_plan_is_exact_and_changes_nothing(proj: Path) -> None:
    result = amlgen(proj, "run", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == CLI_RUN_PLAN
    assert not (proj / ".amlgen").exists()


def test_cli_plan_with_workspace_flags_masks_the_subscription(proj: Path) -> None:
    result = amlgen(
        proj,
        "submit",
        "--env",
        "prod",
        "--dry-run",
        "-g",
        "rg1",
        "-w",
        "ws1",
        env={"AZURE_SUBSCRIPTION_ID": SUB},
    )
    assert result.exit_code == 0, result.output
    ws = "-g rg1 -w ws1 --subscription <subscription>"
    ws_show = "-g rg1 -n ws1 --subscription <subscription>"  # workspace show has no -w
    assert result.stdout == (
        "az ml model show -n Phi-4 -v 8 --registry-name azureml -o json\n"
        f"az ml model show -n Phi-4-ultrachat-200k -v 1 -o json {ws}\n"
        f"az ml compute show -n gpu-a100-x2 -o json {ws}\n"
        f"az ml workspace show --query location -o tsv {ws_show}{PRE}\n"
        f"az ml compute list-sizes -o json {ws}{PRE}\n"
        f"az ml compute list-usage --location '<region>' -o json {ws}{PRE}\n"
        f"az ml compute create -f azureml/prod/compute.yml -o json {ws}"
        "  # only when the cluster is missing\n"
        f"az ml job create -f azureml/prod/pipeline-job.yml --query name -o tsv {ws}\n"
    )
    assert SUB not in result.output


def test_cli_single_command_plans(proj: Path) -> None:
    plans = {cmd: amlgen(proj, cmd, "--dry-run") for cmd in ("status", "invoke", "teardown")}
    assert {k: (v.exit_code, v.stdout) for k, v in plans.items()} == {
        "status": (
            0,
            "az ml job show -n '<job-name>' --query services.Studio.endpoint -o tsv"
            "  # once, for the Studio link\n"
            "az ml job show -n '<job-name>' --query status -o tsv"
            "  # repeated with backoff until Completed, Failed or Canceled\n",
        ),
        "invoke": (
            0,
            "az ml online-endpoint invoke -n ultrachat-completion-dev --deployment-name"
            " demo --request-file data/ultrachat_200k/sample_score.json -o json\n",
        ),
        "teardown": (0, "az ml online-endpoint delete -n ultrachat-completion-dev --yes\n"),
    }


def test_dry_run_resumes_from_the_recorded_state(proj: Path) -> None:
    state = proj / ".amlgen" / "dev" / "state.json"
    state.parent.mkdir(parents=True)
    from generator.params import load_params

    fingerprint = load_params("dev", proj).fingerprint
    state.write_text(
        json.dumps(
            {
                "params": fingerprint,
                "job": {"name": "brave_job_1", "status": "Completed"},
                "model": {
                    "name": "Phi-4-ultrachat-200k",
                    "version": "1",
                    "job": "brave_job_1",
                },
            }
        )
    )
    result = amlgen(proj, "run", "--dry-run", "--keep-endpoint")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # The plan's reads, pre-flight, then straight to the endpoint: no submit, no register, no
    # delete (kept).
    assert [ln.split("  #")[0] for ln in lines[12:]] == [
        "az ml online-endpoint show -n ultrachat-completion-dev -o json",
        "az ml online-endpoint create -f azureml/dev/endpoint.yml -o json",
        "az ml online-endpoint update -f azureml/dev/endpoint.yml -o json",
        "az ml online-deployment show -n demo -e ultrachat-completion-dev -o json",
        "az ml online-deployment create -f azureml/dev/deployment.yml -o json",
        "az ml online-deployment update -f azureml/dev/deployment.yml -o json",
        "az ml online-endpoint update -n ultrachat-completion-dev --traffic demo=100 -o json",
        "az ml online-endpoint invoke -n ultrachat-completion-dev --deployment-name demo "
        "--request-file data/ultrachat_200k/sample_score.json -o json",
    ]
    assert json.loads(state.read_text())["job"]["name"] == "brave_job_1"  # untouched


def test_register_dry_run_uses_the_recorded_job(proj: Path) -> None:
    state = proj / ".amlgen" / "dev" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"job": {"name": "job_42", "status": "Completed"}}))
    result = amlgen(proj, "register", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "az ml model show -n Phi-4-ultrachat-200k -v 1 -o json\n"
        "az ml model create -f azureml/dev/model.yml"
        " --set path=azureml://jobs/job_42/outputs/trained_model -o json\n"
    )


# --- refusals before anything costs money -------------------------------------------------------


def test_stale_rendered_files_refuse_to_run(proj: Path) -> None:
    dev = proj / "params" / "dev.yaml"
    dev.write_text(dev.read_text() + "deployment:\n  instance_count: 2\n")
    result = amlgen(proj, "run", "--dry-run")
    assert result.exit_code == 1
    assert "azureml/dev/deployment.yml (stale)" in result.output
    assert "make render" in result.output
    assert result.stdout == ""


def test_missing_data_refuses_with_the_fix(proj: Path) -> None:
    (proj / "data" / "ultrachat_200k" / "train_sft.jsonl").unlink()
    result = amlgen(proj, "submit", "--dry-run")
    assert result.exit_code == 1
    assert "data/ultrachat_200k/train_sft.jsonl" in result.output
    assert "amlgen data --env dev" in result.output
    (proj / "data" / "ultrachat_200k" / "sample_score.json").unlink()
    result = amlgen(proj, "invoke", "--dry-run")
    assert result.exit_code == 1 and "sample_score.json" in result.output


def test_unknown_environment_is_an_error_unless_state_remains(proj: Path) -> None:
    result = amlgen(proj, "teardown", "--env", "qa")
    assert result.exit_code == 1
    assert "unknown environment 'qa'" in result.output
    assert "known: dev, notebook, prod" in result.output
    # An environment whose overlay was removed can still be torn down from its state.
    (proj / ".amlgen" / "old").mkdir(parents=True)
    (proj / ".amlgen" / "old" / "state.json").write_text("{}")
    assert amlgen(proj, "teardown", "--env", "old").exit_code == 0


def test_hand_edited_assets_folder_skips_the_staleness_check(proj: Path) -> None:
    import shutil

    custom = proj / "azureml" / "custom-dev"
    shutil.copytree(proj / "azureml" / "dev", custom)
    dep = custom / "deployment.yml"
    dep.write_text(dep.read_text().replace("instance_count: 1", "instance_count: 3"))
    result = amlgen(proj, "deploy", "--dry-run", "--assets", str(custom))
    assert result.exit_code == 0, result.output
    assert "az ml online-deployment create -f azureml/custom-dev/deployment.yml -o json" in (
        result.stdout
    )


def test_az_missing_is_a_clear_error(proj: Path, tmp_path: Path) -> None:
    result = amlgen(proj, "teardown", env={"PATH": str(tmp_path), "AMLGEN_AZ": ""})
    # Nothing recorded: nothing to do, and az is never needed.
    assert result.exit_code == 0 and "nothing to tear down" in result.output
    state = proj / ".amlgen" / "dev" / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"endpoint": {"name": "e1", "status": "created"}}))
    result = amlgen(proj, "teardown", env={"PATH": str(tmp_path), "AMLGEN_AZ": ""})
    assert result.exit_code == 1
    assert "`az` not found on PATH" in result.output and "Traceback" not in result.output


# --- sdk backend: plan and the SDK-built job ------------------------------------------------------


def _sdk_dump(kind: str, path: Path, overrides: list[dict[str, Any]] | None = None) -> list[str]:
    import azure.ai.ml as aml
    import yaml

    entity = getattr(aml, f"load_{kind}")(source=path, params_override=overrides or [])
    data = json.loads(json.dumps(entity._to_dict(), default=str))
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
    return ["    " + ln for ln in text.rstrip("\n").splitlines()]


@pytest.mark.slow
def test_sdk_run_dry_run_plan_is_exact(proj: Path) -> None:
    result = amlgen(proj, "run", "--backend", "sdk", "--dry-run")
    assert result.exit_code == 0, result.output
    d = proj / "azureml" / "dev"
    job_path = "azureml://jobs/<job-name>/outputs/trained_model"
    expected = [
        'ml_client.compute.get("gpu-a100")' + LIVE,
        'ml_client.models.get(name="Phi-4-ultrachat-200k", version="1")' + LIVE,
        'ml_client.online_endpoints.get("ultrachat-completion-dev")' + LIVE,
        'MLClient(credential, registry_name="azureml").components.get('
        'name="chat_completion_pipeline", version="0.0.82")' + LIVE,
        'MLClient(credential, registry_name="azureml").models.get(name="Phi-4", version="8")'
        + LIVE,
        "ml_client.workspaces.get(ml_client.workspace_name).location" + LIVE,
        'ml_client.compute.list_sizes(location="<region>")' + LIVE,
        'ml_client.compute.list_usage(location="<region>")' + LIVE,
        'MLClient(credential, registry_name="azureml").models.get(name="Phi-4", version="8")',
        'ml_client.models.get(name="Phi-4-ultrachat-200k", version="1")',
        'ml_client.compute.get("gpu-a100")',
        'compute = load_compute(source="azureml/dev/compute.yml")',
        *_sdk_dump("compute", d / "compute.yml"),
        "ml_client.compute.begin_create_or_update(compute).result()"
        "  # only when the cluster is missing",
        'job = load_job(source="azureml/dev/pipeline-job.yml")',
        *_sdk_dump("job", d / "pipeline-job.yml"),
        "ml_client.jobs.create_or_update(job).name",
        'ml_client.jobs.get("<job-name>").status'
        "  # repeated with backoff until Completed, Failed or Canceled",
        'ml_client.models.get(name="Phi-4-ultrachat-200k", version="1")',
        f'model = load_model(source="azureml/dev/model.yml", params_override=[{{"path": '
        f'"{job_path}"}}])',
        *_sdk_dump("model", d / "model.yml", [{"path": job_path}]),
        "ml_client.models.create_or_update(model)",
        'endpoint = load_online_endpoint(source="azureml/dev/endpoint.yml")',
        *_sdk_dump("online_endpoint", d / "endpoint.yml"),
        "ml_client.online_endpoints.begin_create_or_update(endpoint).result()",
        'deployment = load_online_deployment(source="azureml/dev/deployment.yml")',
        *_sdk_dump("online_deployment", d / "deployment.yml"),
        "ml_client.online_deployments.begin_create_or_update(deployment).result()",
        'endpoint = ml_client.online_endpoints.get("ultrachat-completion-dev")',
        'endpoint.traffic = {"demo": 100}',
        "ml_client.online_endpoints.begin_create_or_update(endpoint).result()",
        'ml_client.online_endpoints.invoke(endpoint_name="ultrachat-completion-dev", '
        'deployment_name="demo", request_file="data/ultrachat_200k/sample_score.json")',
        'ml_client.online_endpoints.begin_delete(name="ultrachat-completion-dev").result()',
    ]
    assert result.stdout.splitlines() == expected
    # The entity blocks really are the files as the SDK reads them (spot check).
    assert "    name: demo" in expected and "    auth_mode: key" in expected
    assert not (proj / ".amlgen").exists()


def _normalised_rest_body(job: Any, base: Path) -> dict[str, Any]:
    """facts §2: drop the random name, `_source` markers, git properties; absolute data paths."""
    from azure.ai.ml.entities._job.to_rest_functions import to_rest_job_object

    body = to_rest_job_object(job).as_dict()
    body.pop("name", None)
    props = body["properties"]
    props.pop("settings", {}).pop("_source", None)
    props.setdefault("settings", {})
    props["properties"] = {
        k: v
        for k, v in (props.get("properties") or {}).items()
        if not k.startswith(("mlflow.source.git", "azureml.git"))
    }
    settings = props.get("settings") or {}
    settings.pop("default_compute", None)
    for node in props["jobs"].values():
        node.pop("_source", None)
    for spec in props["inputs"].values():
        uri = spec.get("uri", "")
        if spec.get("jobInputType") == "uri_file" and "://" not in uri:
            spec["uri"] = str((base / uri).resolve())
    return body


@pytest.mark.slow
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_build_pipeline_job_equals_the_rendered_yaml(proj: Path, env: str) -> None:
    from azure.ai.ml import load_job

    from generator.params import load_params
    from generator.pipeline_job import build_pipeline_job

    resolved = load_params(env, proj)
    folder = proj / "azureml" / env
    loaded = _normalised_rest_body(load_job(source=folder / "pipeline-job.yml"), folder)
    built = _normalised_rest_body(build_pipeline_job(resolved), proj)
    assert built == loaded
    # Not vacuous: the bodies carry the real inputs.
    step = built["properties"]["jobs"]["finetune"]["inputs"]
    assert step["learning_rate"]["value"] == "5e-06"
    assert built["properties"]["inputs"]["train_file_path"]["uri"].endswith("train_sft.jsonl")
    # And a change shows: another epoch count gives another body.
    other = load_params(env, proj, ["finetune.num_train_epochs=7"])
    assert _normalised_rest_body(build_pipeline_job(other), proj) != loaded


@pytest.mark.slow
def test_build_pipeline_job_serverless(tmp_path: Path) -> None:
    from azure.ai.ml import load_job

    from generator.params import load_params
    from generator.pipeline_job import build_pipeline_job

    proj = make_project(tmp_path / "p", overrides=("compute.kind=serverless",))
    folder = proj / "azureml" / "dev"
    assert not (folder / "compute.yml").exists()
    resolved = load_params("dev", proj, ["compute.kind=serverless"])
    loaded = _normalised_rest_body(load_job(source=folder / "pipeline-job.yml"), folder)
    assert _normalised_rest_body(build_pipeline_job(resolved), proj) == loaded
    inputs = loaded["properties"]["jobs"]["finetune"]["inputs"]
    assert inputs["compute_finetune"]["value"] == "serverless"


@pytest.mark.slow
def test_sdk_without_a_workspace_says_how_to_name_one(proj: Path) -> None:
    result = amlgen(proj, "run", "--backend", "sdk")
    assert result.exit_code == 1
    assert result.output.startswith("error: no workspace: pass --subscription, --resource-group")
    assert "config.json" in result.output and "Traceback" not in result.output
    assert not (proj / ".amlgen" / "dev" / "state.json").exists() or "job" not in json.loads(
        (proj / ".amlgen" / "dev" / "state.json").read_text()
    )

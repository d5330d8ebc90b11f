"""The false-error classes found in public CLI v2 YAML, each from a minimal file of its shape,
and the misses: unfilled placeholders.

An error only when Azure (the service, or the documented create command with its usual flags)
would reject the file or silently do the wrong thing; a field the command supplies is a warning
naming the flag; advice is a note.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.validation import kinds, validate_paths
from generator.validation.assets import load_asset
from generator.validation.findings import Report
from generator.validation.placeholders import find

SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"
ENV = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
CHAT = "azureml://registries/azureml/components/chat_completion_pipeline/versions/0.0.82"


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def _validate(folder: Path, *names: str, sdk: bool = False) -> Report:
    paths = [folder / n for n in names] or [folder]
    return validate_paths(paths, project_dir=folder, sdk=sdk)


def _codes(report: Report, severity: str | None = None) -> set[str]:
    return {f.code for f in report.findings if severity in (None, f.severity)}


# --- fields the create command supplies ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "field", "flag"),
    [
        (  # az ml online-deployment create -f F --endpoint-name E
            f"$schema: {SCHEMA.format('managedOnlineDeployment')}\nname: blue\n"
            "model: azureml:m:1\ninstance_type: Standard_DS3_v2\ninstance_count: 1\n",
            "endpoint_name",
            "--endpoint-name",
        ),
        (  # az ml batch-deployment create -f F --set compute=...
            f"$schema: {SCHEMA.format('modelBatchDeployment')}\nname: b\nendpoint_name: e\n"
            "type: model\nmodel: azureml:m:1\nsettings:\n  mini_batch_size: 10\n",
            "compute",
            "--set compute=",
        ),
        (  # az ml environment create -f F --name N
            f"$schema: {SCHEMA.format('environment')}\nimage: mcr.microsoft.com/azureml/x\n",
            "name",
            "--name",
        ),
    ],
    ids=["deployment-endpoint", "batch-compute", "environment-name"],
)
def test_a_field_the_command_supplies_is_a_warning_naming_the_flag(
    tmp_path: Path, text: str, field: str, flag: str
) -> None:
    report = _validate(_write(tmp_path, {"x.yml": text}), "x.yml", sdk=True)
    assert not report.errors, [f.text() for f in report.errors]
    hits = [f for f in report.warnings if f.code == "sdk.field-from-command"]
    assert [f.yaml_path for f in hits] == [field] and flag in hits[0].message


COMPONENT_NO_NAME = f"""\
$schema: {SCHEMA.format("commandComponent")}
type: command
inputs:
  lr:
    type: number
    default: 1e-3
outputs:
  model:
    type: uri_folder
command: python train.py --lr ${{{{inputs.lr}}}} --model ${{{{outputs.model}}}}
environment: {ENV}
"""
SWEEP = f"""\
$schema: {SCHEMA.format("pipelineJob")}
type: pipeline
settings:
  default_compute: azureml:cpu-cluster
jobs:
  tune:
    type: sweep
    trial: ./train.yml
    sampling_algorithm: random
    search_space:
      lr:
        type: uniform
        min_value: 0.001
        max_value: 0.1
    objective:
      goal: maximize
      primary_metric: accuracy
    limits:
      max_total_trials: 2
"""


@pytest.mark.slow
def test_a_component_without_name_used_inline_is_fine_and_alone_names_the_flag(
    tmp_path: Path,
) -> None:
    folder = _write(tmp_path, {"train.yml": COMPONENT_NO_NAME, "sweep.yml": SWEEP})
    together = _validate(folder, sdk=True)
    assert not together.errors and not together.warnings, [f.text() for f in together.findings]
    alone = _validate(folder, "train.yml", sdk=True)
    assert not alone.errors
    assert [(f.code, f.yaml_path) for f in alone.warnings] == [("sdk.field-from-command", "name")]
    assert "--name" in alone.warnings[0].message


PIPELINE_COMPONENT_HYPHEN = f"""\
$schema: {SCHEMA.format("pipelineComponent")}
type: pipeline
name: train-pipeline
inputs:
  lr:
    type: number
jobs:
  train:
    type: command
    component: ./train.yml
    inputs:
      lr: ${{{{parent.inputs.lr}}}}
"""
BATCH_PIPELINE_DEPLOYMENT = f"""\
$schema: {SCHEMA.format("pipelineComponentBatchDeployment")}
name: train-nightly
endpoint_name: trainer
type: pipeline
component: ./pipeline.yml
settings:
  default_compute: cpu-cluster
"""


@pytest.mark.slow
def test_a_component_name_against_the_sdk_rule_is_only_a_warning_where_used_inline(
    tmp_path: Path,
) -> None:
    # A pipeline step and a pipeline-component batch deployment load the file as an anonymous
    # component: its `name` is replaced, so `r-iris` passes; `az ml component create` alone
    # refuses it.
    component = COMPONENT_NO_NAME.replace("type: command\n", "type: command\nname: r-iris\n")
    folder = _write(
        tmp_path,
        {
            "train.yml": component,
            "pipeline.yml": PIPELINE_COMPONENT_HYPHEN,
            "deployment.yml": BATCH_PIPELINE_DEPLOYMENT,
        },
    )
    together = _validate(folder, sdk=True)
    assert not together.errors, [f.text() for f in together.errors]
    named = {(f.file, f.severity) for f in together.findings if "name should only" in f.message}
    assert named == {("train.yml", "warning"), ("pipeline.yml", "warning")}
    alone = _validate(folder, "pipeline.yml", sdk=True)
    assert [(f.code, f.yaml_path) for f in alone.errors] == [("sdk.schema", "name")]


# --- inline steps without type --------------------------------------------------------------

INLINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings:
  default_compute: azureml:cpu-cluster
jobs:
  prep:
    command: python prep.py --out ${{outputs.data}}
    environment: ENV
    outputs:
      data:
  train:
    command: python train.py --data ${{inputs.data}}
    environment: ENV
    inputs:
      data: ${{parent.jobs.prep.outputs.OUTPUT}}
""".replace("ENV", ENV)


def test_inline_steps_without_type_are_command_steps(tmp_path: Path) -> None:
    good = _validate(_write(tmp_path / "a", {"p.yml": INLINE.replace("OUTPUT", "data")}))
    assert not good.findings, [f.text() for f in good.findings]
    # Their declared outputs are known, as for `type: command`: a wrong one is still caught.
    bad = _validate(_write(tmp_path / "b", {"p.yml": INLINE.replace("OUTPUT", "dta")}))
    assert [(f.code, f.yaml_path) for f in bad.errors] == [
        ("component.binding", "jobs.train.inputs.data")
    ]
    assert "did you mean 'data'" in bad.errors[0].message


@pytest.mark.slow
def test_the_sdk_takes_an_inline_step_without_type_as_a_command(tmp_path: Path) -> None:
    report = _validate(_write(tmp_path, {"p.yml": INLINE.replace("OUTPUT", "data")}), sdk=True)
    assert not report.errors and not report.warnings, [f.text() for f in report.findings]


# --- $schema against content ----------------------------------------------------------------

PARALLEL_WITH_JOB_SCHEMA = f"""\
$schema: {SCHEMA.format("pipelineJob")}
type: parallel
name: score
version: 0.0.1
inputs:
  data:
    type: uri_folder
outputs:
  scores:
    type: uri_folder
mini_batch_size: "10"
task:
  type: run_function
  code: ./src
  entry_script: score.py
  environment: {ENV}
  program_arguments: --out ${{{{outputs.scores}}}}
"""


def test_a_schema_that_contradicts_the_content_is_a_warning_and_the_content_decides(
    tmp_path: Path,
) -> None:
    (tmp_path / "src").mkdir()
    folder = _write(tmp_path, {"c.yml": PARALLEL_WITH_JOB_SCHEMA})
    asset, found = load_asset(folder / "c.yml", "c.yml")
    assert asset.kind == kinds.PARALLEL_COMPONENT
    assert [(f.code, f.severity) for f in found] == [("yaml.schema-mismatch", "warning")]
    assert "pipeline job" in found[0].message and "parallel component" in found[0].message
    report = _validate(folder)
    assert not report.errors and _codes(report) == {"yaml.schema-mismatch"}


@pytest.mark.slow
def test_the_sdk_loads_a_component_under_a_job_schema_as_a_component(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    report = _validate(_write(tmp_path, {"c.yml": PARALLEL_WITH_JOB_SCHEMA}), sdk=True)
    assert not report.errors, [f.text() for f in report.errors]


def test_an_automl_component_is_a_component() -> None:
    data = {"$schema": "http://azureml/sdk-2-0/AutoMLComponent.json", "name": "c"}
    assert kinds.detect({**data, "type": "automl", "version": "1"}) == (
        kinds.AUTOML_COMPONENT,
        None,
    )
    assert kinds.detect({"type": "automl", "version": "1", "task": "regression"})[0] == (  # type: ignore[index]
        kinds.AUTOML_COMPONENT
    )


def test_only_a_named_versioned_definition_under_a_job_schema_is_a_component() -> None:
    job = {"$schema": SCHEMA.format("pipelineJob"), "type": "pipeline", "jobs": {}}
    assert kinds.detect({**job, "name": "p", "version": "1"})[0] == kinds.PIPELINE_COMPONENT  # type: ignore[index]
    # A run with a stray `version` keeps its job schema (and the SDK's unknown-key error).
    stray = {**job, "version": "1", "settings": {"default_compute": "azureml:c"}}
    assert kinds.detect(stray)[0] == kinds.PIPELINE_JOB  # type: ignore[index]


def test_an_unknown_schema_is_never_guessed_from_the_shape(tmp_path: Path) -> None:
    # A DataIndex has `type: uri_folder` and `path`, which would read as a data asset.
    text = "$schema: http://azureml/sdk-2-0/DataIndex.json\ntype: uri_folder\nname: i\npath: x\n"
    report = _validate(_write(tmp_path, {"i.yml": text}))
    assert [(f.code, f.severity) for f in report.findings] == [("yaml.unknown-kind", "info")]


# --- names ----------------------------------------------------------------------------------


def test_endpoint_names_with_capitals_are_lower_cased_by_the_sdk_a_note(tmp_path: Path) -> None:
    endpoint = (
        f"$schema: {SCHEMA.format('managedOnlineEndpoint')}\nname: Taxi-Fare\nauth_mode: key\n"
    )
    deployment = (
        f"$schema: {SCHEMA.format('managedOnlineDeployment')}\nname: Blue\n"
        "endpoint_name: taxi-fare\nmodel: azureml:m:1\ninstance_type: Standard_DS3_v2\n"
        "instance_count: 1\n"
    )
    report = _validate(_write(tmp_path, {"ep.yml": endpoint, "dep.yml": deployment}))
    assert not report.errors and not report.warnings, [f.text() for f in report.findings]
    notes = sorted((f.file, f.yaml_path) for f in report.findings if f.code == "azure.name-case")
    assert notes == [("dep.yml", "name"), ("ep.yml", "name")]
    assert "'taxi-fare'" in next(f.message for f in report.findings if f.file == "ep.yml")


@pytest.mark.parametrize(
    ("name", "code", "severity"),
    [
        ("Phi-3.5-mini-instruct", "azure.name-registry-only", "warning"),
        ("phi 3 chat", "azure.name", "error"),
        ("phi-3-chat", None, None),
    ],
)
def test_registry_asset_names_may_have_dots(
    tmp_path: Path, name: str, code: str | None, severity: str | None
) -> None:
    text = f'$schema: {SCHEMA.format("model")}\nname: {name}\nversion: "1"\npath: ./m\n'
    (tmp_path / "m").mkdir()
    report = _validate(_write(tmp_path, {"m.yml": text}))
    found = [(f.code, f.severity) for f in report.findings if f.yaml_path == "name"]
    assert found == ([(code, severity)] if code else [])


def test_a_model_without_version_is_a_note(tmp_path: Path) -> None:
    text = f"$schema: {SCHEMA.format('model')}\nname: m\npath: azureml://jobs/j/outputs/o\n"
    report = _validate(_write(tmp_path, {"m.yml": text}))
    assert [(f.code, f.severity) for f in report.findings] == [("azure.model-autoversion", "info")]


# --- data and numbers -----------------------------------------------------------------------

BENCH_PIPELINE = f"""\
$schema: {SCHEMA.format("pipelineJob")}
type: pipeline
settings:
  default_compute: azureml:serverless
inputs:
  rows:
    type: uri_file
    path: ./data/metrics.jsonl
jobs:
  score:
    type: command
    command: python score.py --rows ${{{{inputs.rows}}}}
    environment: {ENV}
    inputs:
      rows: ${{{{parent.inputs.rows}}}}
"""
CHAT_PIPELINE = f"""\
type: pipeline
inputs:
  base:
    type: mlflow_model
    path: azureml://registries/azureml/models/Phi-4/versions/8
  train:
    type: uri_file
    path: ./data/metrics.jsonl
jobs:
  ft:
    type: pipeline
    component: {CHAT}
    inputs:
      mlflow_model_path: ${{{{parent.inputs.base}}}}
      train_file_path: ${{{{parent.inputs.train}}}}
      compute_model_import: serverless
      compute_preprocess: serverless
      compute_finetune: serverless
      compute_model_evaluation: serverless
      instance_type_finetune: Standard_NC24ads_A100_v4
      instance_type_model_evaluation: Standard_NC24ads_A100_v4
"""


def test_the_chat_row_rule_applies_only_to_chat_fine_tuning_inputs(tmp_path: Path) -> None:
    rows = "".join(json.dumps({"latency_ms": n, "tokens": 10 * n}) + "\n" for n in range(3))
    bench = _write(tmp_path / "bench", {"p.yml": BENCH_PIPELINE, "data/metrics.jsonl": rows})
    report = _validate(bench)
    assert not report.findings, [f.text() for f in report.findings]
    chat = _write(tmp_path / "chat", {"p.yml": CHAT_PIPELINE, "data/metrics.jsonl": rows})
    caught = [f for f in _validate(chat).errors if f.code == "cross.data"]
    assert [f.yaml_path for f in caught] == ["inputs.train.path"]
    assert "no `messages` column" in caught[0].message


@pytest.mark.parametrize(
    ("where", "text", "severity"),
    [
        ("a typed number default", "inputs:\n  lr:\n    type: number\n    default: 1e-8\n", None),
        ("a tag", "tags:\n  lr: 1e-8\n", None),
        ("an untyped pipeline input", "inputs:\n  lr: 1e-8\n", "info"),
    ],
)
def test_1e_8_is_judged_by_what_actually_happens(
    tmp_path: Path, where: str, text: str, severity: str | None
) -> None:
    base = f"$schema: {SCHEMA.format('commandComponent')}\ntype: command\nname: c\nversion: '1'\n"
    if where == "an untyped pipeline input":
        base = f"$schema: {SCHEMA.format('pipelineJob')}\ntype: pipeline\njobs: {{}}\n"
    report = _validate(_write(tmp_path, {"x.yml": base + text + "command: echo\n"}))
    found = [f.severity for f in report.findings if f.code == "yaml.number-as-string"]
    assert found == ([severity] if severity else []), where


# --- files that are no model ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "flow.meta.yaml",
            f"$schema: {SCHEMA.format('flow')}\nname: qna\ndisplay_name: QnA\ntype: chat\n"
            "path: ./flow.dag.yaml\n",
        ),
        (
            "flow.dag.yaml",
            "inputs:\n  q:\n    type: string\noutputs:\n  a:\n    type: string\n"
            "    reference: ${answer.output}\nnodes:\n- name: answer\n  type: python\n",
        ),
    ],
)
def test_prompt_flow_files_are_a_kind_amlgen_does_not_judge(
    tmp_path: Path, name: str, text: str
) -> None:
    report = _validate(_write(tmp_path, {name: text}), name)
    assert [(f.code, f.severity) for f in report.findings] == [("yaml.not-judged", "info")]


def test_a_ci_workflow_beside_the_assets_is_no_pipeline_job(tmp_path: Path) -> None:
    workflow = (
        "name: deploy\non:\n  workflow_dispatch:\njobs:\n  get-config:\n"
        "    uses: org/repo/.github/workflows/read.yml@main\n"
        "  create-endpoint:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
    )
    report = _validate(_write(tmp_path, {"deploy.yml": workflow}))
    assert [(f.code, f.severity) for f in report.findings] == [("yaml.unknown-kind", "info")]
    assert "GitHub Actions workflow" in report.findings[0].message


# --- unfilled placeholders ------------------------------------------------------------------

PLACEHOLDERS = [
    ("compute", "azureml:<your-compute-name>"),
    ("compute", "<Enter the name of your compute here>"),
    ("name", "<DATASTORE_NAME>"),
    ("endpoint_name", "$endpointName"),
    ("endpoint_name", "${ENDPOINT_NAME}"),
    ("path", "<filled by e2e tests>"),
    ("name", "{{asset.name}}"),
    ("compute", "your-compute"),
    ("resource_id", "/subscriptions/{sub-id}/resourceGroups/{rg}/providers/X/y/z"),
    ("client_id", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
    ("ws_connection_name", "<connection name>"),
]
NOT_PLACEHOLDERS = [
    "${{parent.inputs.data}}",
    "${{parent.jobs.prep.outputs.data}}",
    "azureml://datastores/workspaceblobstore/paths/${{name}}/out",
    "bring_your_own_data_chat_qna",
    "Phi-3.5-mini-instruct",
    "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
    "Standard_NC24ads_A100_v4",
]


@pytest.mark.parametrize(("field", "value"), PLACEHOLDERS)
def test_an_unfilled_placeholder_is_an_error_naming_the_field(
    tmp_path: Path, field: str, value: str
) -> None:
    text = (
        f"$schema: {SCHEMA.format('commandJob')}\ncommand: echo ${{{{inputs.x}}}}\n"
        f"environment: {ENV}\ninputs:\n  x: 1\n"
    )
    if field == "path":
        text += f"outputs:\n  out:\n    type: uri_folder\n    path: '{value}'\n"
        at = "outputs.out.path"
    elif field == "ws_connection_name":
        text += f"  {field}: '{value}'\n"
        at = f"inputs.{field}"
    elif field in ("resource_id", "client_id"):
        text += f"identity:\n  type: user_identity\n  {field}: '{value}'\n"
        at = f"identity.{field}"
    else:
        text += f"{field}: '{value}'\n"
        at = field
    report = _validate(_write(tmp_path, {"job.yml": text}))
    hits = [f for f in report.errors if f.code == "placeholder.unfilled"]
    assert [f.yaml_path for f in hits] == [at], [f.text() for f in report.findings]
    assert hits[0].message.startswith(f"{at.rsplit('.', 1)[-1]} ")
    others = [f for f in report.findings if f.yaml_path == at and f.code != "placeholder.unfilled"]
    assert not others, "the placeholder is the whole story of its field"


@pytest.mark.parametrize("value", NOT_PLACEHOLDERS)
def test_bindings_and_real_names_are_not_placeholders(value: str) -> None:
    assert find(value) is None


def test_free_text_is_never_judged(tmp_path: Path) -> None:
    text = (
        f"$schema: {SCHEMA.format('commandJob')}\n"
        "command: echo ${{inputs.template}} $HOME ${PATH}\n"
        f"environment: {ENV}\ncompute: azureml:cpu-cluster\n"
        "description: replace <this> with $YOURS\ntags:\n  owner: <team>\n"
        "inputs:\n  template: '<|im_start|>user {{question}}<|im_end|>'\n"
        "environment_variables:\n  PATH_EXTRA: $HOME/bin\n"
    )
    report = _validate(_write(tmp_path, {"job.yml": text}))
    assert not report.findings, [f.text() for f in report.findings]


# --- files Azure ML never reads ---------------------------------------------------------------


def test_a_config_that_is_no_azure_ml_asset_gets_no_error_for_a_duplicate_key_or_plain_text(
    tmp_path: Path,
) -> None:
    # A sample's own tool config (no `$schema`, no `type`) with a key twice, and a Dockerfile
    # saved as .yml (YAML reads it as one string): Azure ML never reads either.
    folder = _write(
        tmp_path,
        {
            "analyzer.yml": "checkpoint: ./a\nsummarize: true\ncheckpoint: ./a\n",
            "Dockerfile_aml.yml": "FROM mcr.microsoft.com/azureml/base:latest\nRUN pip install x\n",
            # DeepStream's tracker config: OpenCV FileStorage, which no YAML reader takes
            "tracker_config.yml": "%YAML:1.0\n\nNvDCF:\n  useHog: 1\n",
        },
    )
    report = _validate(folder)
    assert not report.errors, [f.text() for f in report.errors]
    assert ("tracker_config.yml", "yaml.unknown-kind") in {
        (f.file, f.code) for f in report.findings
    }
    assert {(f.file, f.code) for f in report.warnings} == {
        ("analyzer.yml", "yaml.duplicate-key"),
        ("Dockerfile_aml.yml", "yaml.not-mapping"),
    }
    # With a `type` or `$schema` it may be an asset: a key twice stays an error.
    _write(folder, {"analyzer.yml": "type: command\ncommand: a\ncommand: b\n"})
    assert "yaml.duplicate-key" in _codes(_validate(folder, "analyzer.yml"), "error")


MONITOR = """\
$schema: http://azureml/sdk-2-0/Schedule.json
name: safety-monitor
trigger:
  type: recurrence
  frequency: day
  interval: 1
create_monitor:
  compute:
    instance_type: standard_e4s_v3
    runtime_version: "3.4"
  monitoring_signals:
    safety:
      type: generation_safety_quality
      connection_id: azureml:my-connection
      sample_rate: 1
"""


@pytest.mark.slow
def test_a_monitor_schedule_the_sdk_refuses_names_the_field_not_a_bare_exception(
    tmp_path: Path,
) -> None:
    # load_schedule raises a bare NotImplementedError while handling the monitor schema's
    # error; the finding is that error, from the signal type's own branch of the union only.
    folder = _write(tmp_path, {"monitor.yml": MONITOR})
    report = _validate(folder, sdk=True)
    assert [(f.code, f.yaml_path.rsplit(".", 1)[-1]) for f in report.errors] == [
        ("sdk.unknown-key", "sample_rate")
    ], [f.text() for f in report.errors]


# --- a pipeline component's step resources bound to an undeclared input -----------------------

STEP_COMPONENT = f"""\
$schema: {SCHEMA.format("commandComponent")}
type: command
name: convert
inputs:
  model_path:
    type: uri_folder
command: python convert.py ${{{{inputs.model_path}}}}
environment: {ENV}
"""
PIPELINE_COMPONENT_RESOURCES = f"""\
$schema: {SCHEMA.format("pipelineComponent")}
type: pipeline
name: finetune_and_convert
inputs:
  compute_finetune:
    type: string
  model_path:
    type: uri_folder
jobs:
  convert:
    type: command
    component: ./convert.yml
    compute: ${{{{parent.inputs.compute_finetune}}}}
    resources:
      instance_type: ${{{{parent.inputs.instance_type_finetune}}}}
    inputs:
      model_path: ${{{{parent.inputs.model_path}}}}
"""


def test_a_pipeline_component_step_resource_bound_to_an_undeclared_input_is_a_warning(
    tmp_path: Path,
) -> None:
    # azureml-assets' NLP pipeline components (0.0.8 to 0.0.10, in the registry) bind a step's
    # instance_type to an input they no longer declare: registration takes it.
    folder = _write(
        tmp_path, {"convert.yml": STEP_COMPONENT, "pipeline.yml": PIPELINE_COMPONENT_RESOURCES}
    )
    report = _validate(folder)
    assert not report.errors, [f.text() for f in report.errors]
    assert [(f.code, f.yaml_path) for f in report.warnings] == [
        ("component.binding", "jobs.convert.resources.instance_type")
    ]
    # The same binding on a step input stays an error.
    bad = PIPELINE_COMPONENT_RESOURCES.replace("inputs.model_path}}", "inputs.model_pth}}")
    _write(folder, {"pipeline.yml": bad})
    assert "component.binding" in _codes(_validate(folder), "error")

"""`amlgen validate`: a table of real mistakes across every layer, good asset sets that must
pass, render's guard, the CLI, the online comparison, and how many mistakes the SDK alone catches.

Each case edits one file of a copy of the hand-written good set (tests/validate_cases/good) and
asserts the exit code, the YAML path and the gist of the message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _flowkit import child_env
from click.testing import CliRunner

from generator import catalog
from generator.cli import cli
from generator.errors import RenderError
from generator.rendering import render_environments
from generator.validation import validate_paths, validate_rendered
from generator.validation.findings import Report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES_DIR = HERE / "validate_cases"
GOOD = CASES_DIR / "good"

COMPUTE = """\
$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json
name: gpu-cluster
type: amlcompute
size: Standard_NC48ads_A100_v4
min_instances: 0
max_instances: 2
"""
CLUSTER_JOB = ("compute_finetune: serverless", "compute_finetune: gpu-cluster")


@dataclass(frozen=True)
class Case:
    id: str
    file: str
    edits: tuple[tuple[str, str], ...]
    code: str
    path: str
    gist: str
    exit: int
    extra: dict[str, str] = field(default_factory=dict)
    sdk: bool = False  # needs the SDK layer to be found


def case(
    id: str,
    file: str,
    old: str,
    new: str,
    code: str,
    path: str,
    gist: str,
    exit: int = 1,
    edits2: tuple[str, str] | None = None,
    **kw: object,
) -> Case:
    edits = ((old, new), edits2) if edits2 else ((old, new),)
    return Case(id, file, edits, code, path, gist, exit, **kw)  # type: ignore[arg-type]


JOB = "job.yaml"
DEP = "deployment.yaml"
EP = "endpoint.yaml"
MODEL = "model.yaml"
STEP = "jobs.chat_finetune"
IN = f"{STEP}.inputs"

# fmt: off
CASES = [
    # layer 1: YAML hygiene
    case("duplicate-key", DEP, "instance_count: 1\n", "instance_count: 1\ninstance_count: 2\n",
         "yaml.duplicate-key", "instance_count", "keeps only the last"),
    case("tab-indent", EP, "auth_mode: key", "tags:\n\tteam: ml\nauth_mode: key", "yaml.tab", "",
         "tab in indentation"),
    case("malformed", MODEL, 'version: "3"', 'version: ["3"', "yaml.malformed", "",
         "malformed YAML"),
    case("not-a-mapping", EP, "- auth_mode: key", "- auth_mode: key", "yaml.not-mapping", "",
         "not a mapping", extra={EP: "- name: phi4-chat-ep\n- auth_mode: key\n"}),
    case("yes-no-word", MODEL, "description: Phi-4", "tags:\n  reviewed: no\ndescription: Phi-4",
         "yaml.bool-word", "tags.reviewed", "boolean false", exit=0),
    case("exponent-string", JOB, "learning_rate: 2.0e-05", "learning_rate: 2e-5",
         "yaml.number-as-string", f"{IN}.learning_rate", "write 2.0e-05", exit=0),
    case("version-float", MODEL, 'version: "3"', "version: 1.10", "yaml.version-as-number",
         "version", "quote versions"),
    # layer 2: the SDK's own schema checks, with Azure's severity
    case("unknown-top-level-key", JOB, "experiment_name:", "experimnt_name: x\nexperiment_name:",
         "sdk.unknown-key", "experimnt_name", "rejects", sdk=True),
    case("bad-auth-mode", EP, "auth_mode: key", "auth_mode: keys", "sdk.schema", "auth_mode",
         "not in set", sdk=True),
    case("bad-model-type", MODEL, "type: mlflow_model", "type: mlflow_modl", "sdk.schema", "type",
         "not in set", sdk=True),
    case("count-not-integer", DEP, "instance_count: 1", "instance_count: many", "sdk.schema",
         "instance_count", "integer", sdk=True),
    case("nested-unknown-key", DEP, "request_timeout_ms:", "request_timout_ms:", "sdk.unknown-key",
         "request_settings.request_timout_ms", "rejects", sdk=True),
    # layer 3: the registry component's interface
    case("unknown-input", JOB, "learning_rate:", "lerning_rate:", "component.unknown-input",
         f"{IN}.lerning_rate", "did you mean 'learning_rate'"),
    case("input-of-newer-version", JOB, "optim: adamw_torch", 'trust_remote_code: "false"',
         "component.unknown-input", f"{IN}.trust_remote_code", "exists in version 0.0.82",
         edits2=("versions/0.0.82", "versions/0.0.81")),
    case("integer-as-word", JOB, "num_train_epochs: 2", "num_train_epochs: three",
         "component.number-word", f"{IN}.num_train_epochs", "write 3"),
    case("integer-as-fraction", JOB, "per_device_train_batch_size: 1",
         "per_device_train_batch_size: 1.5", "component.type", f"{IN}.per_device_train_batch_size",
         "not an integer"),
    case("yaml-boolean-for-string-enum", JOB, 'apply_lora: "true"', "apply_lora: true",
         "component.yaml-boolean", f"{IN}.apply_lora", 'quote it ("true")'),
    case("enum-typo", JOB, "lr_scheduler_type: cosine", "lr_scheduler_type: cosin",
         "component.enum", f"{IN}.lr_scheduler_type", "did you mean 'cosine'"),
    case("enum-removed-in-version", JOB, "optim: adamw_torch", "optim: adamw_hf", "component.enum",
         f"{IN}.optim", "allowed only in version 0.0.51"),
    case("enum-added-in-version", JOB, "evaluation_strategy: steps", "evaluation_strategy: disable",
         "component.enum", f"{IN}.evaluation_strategy", "allowed only in version 0.0.81, 0.0.82",
         edits2=("versions/0.0.82", "versions/0.0.51")),
    case("below-minimum", JOB, "num_train_epochs: 2", "num_train_epochs: 0", "component.min",
         f"{IN}.num_train_epochs", "minimum 1"),
    case("bound-input-type", JOB, "type: mlflow_model\n    path: azureml://registries",
         "type: custom_model\n    path: azureml://registries", "component.input-type",
         "inputs.base_model.type", "takes mlflow_model"),
    case("binding-to-missing-input", JOB, "${{parent.inputs.train_data}}",
         "${{parent.inputs.training_data}}", "component.binding", f"{IN}.train_file_path",
         "did you mean 'train_data'"),
    case("binding-to-missing-output", JOB, "${{parent.outputs.trained_model}}",
         "${{parent.outputs.model}}", "component.binding", f"{STEP}.outputs.mlflow_model_folder",
         "does not declare"),
    case("unknown-component-output", JOB, "mlflow_model_folder: ${{", "mlflow_model: ${{",
         "component.unknown-output", f"{STEP}.outputs.mlflow_model",
         "did you mean 'mlflow_model_folder'"),
    case("step-without-type", JOB, "    type: pipeline\n    component:", "    component:",
         "component.step-type", STEP, "silently makes it a command node"),
    case("step-type-command", JOB, "    type: pipeline\n    component:",
         "    type: command\n    component:", "component.step-type", f"{STEP}.type",
         "use `type: pipeline`"),
    case("node-name", JOB, "  chat_finetune:", "  ChatFinetune:", "component.node-name",
         "jobs.ChatFinetune", "lower-case identifier"),
    case("label-latest", JOB, "versions/0.0.82", "labels/latest", "component.unpinned",
         f"{STEP}.component", "not reproducible", exit=0),
    case("unknown-component-version", JOB, "versions/0.0.82", "versions/0.0.99",
         "component.unknown-version", f"{STEP}.component", "not in the bundled catalog", exit=0),
    case("top-level-output-binding", JOB, "  trained_model:\n    type: mlflow_model",
         "  trained_model: ${{parent.jobs.chat_finetune.outputs.mlflow_model_folder}}",
         "component.output-binding", "outputs.trained_model", "bind on the step"),
    case("output-type", JOB, "  trained_model:\n    type: mlflow_model",
         "  trained_model:\n    type: uri_folder", "component.output-type",
         "outputs.trained_model.type", "is mlflow_model"),
    # layer 4: the fine-tune step's runtime rules
    case("learning-rate-zero", JOB, "learning_rate: 2.0e-05", "learning_rate: 0.0",
         "runtime.learning-rate", f"{IN}.learning_rate", "greater than 0"),
    case("early-stopping-without-eval", JOB, "evaluation_strategy: steps",
         "evaluation_strategy: disable", "runtime.early-stopping", f"{IN}.evaluation_strategy",
         "needs evaluation_strategy epoch or steps"),
    case("stage3-with-ort", JOB, 'apply_ort: "false"', 'apply_ort: "true"', "runtime.deepspeed-ort",
         f"{IN}.apply_ort", "stage 3 rejects apply_ort"),
    case("deepspeed-config-stage", "ds_config.json", '"stage": 3', '"stage": "three"',
         "runtime.deepspeed-config", "inputs.ds_config.path", "integer zero_optimization.stage"),
    case("input-never-existed", JOB, 'precision: "16"', 'bf16: "true"', "runtime.nonexistent-input",
         f"{IN}.bf16", "it never was"),
    case("warmup-ratio", JOB, "eval_steps: 50", "warmup_ratio: 0.1", "runtime.nonexistent-input",
         f"{IN}.warmup_ratio", "use warmup_steps"),
    # layer 5: Azure naming rules and limits
    case("endpoint-name-placeholder", EP, "name: phi4-chat-ep", "name: <your-endpoint-name>",
         "placeholder.unfilled", "name", "never filled in"),
    case("endpoint-too-long", EP, "name: phi4-chat-ep", "name: " + "phi4-chat-endpoint-" * 2,
         "azure.name", "name", "3 to 32"),
    case("deployment-name-pattern", DEP, "name: blue", "name: 1-blue", "azure.name", "name",
         "start with a letter"),
    case("request-timeout", DEP, "request_timeout_ms: 60000", "request_timeout_ms: 200000",
         "azure.request-timeout", "request_settings.request_timeout_ms", "1..180000"),
    case("negative-probe", DEP, "period: 10", "period: -5", "azure.probe", "liveness_probe.period",
         "at least 1"),
    case("zero-instances", DEP, "instance_count: 1", "instance_count: 0", "azure.instance-count",
         "instance_count", "at least 1"),
    case("compute-min-over-max", "compute.yaml", "min_instances: 0", "min_instances: 3",
         "azure.compute-scale", "min_instances", "greater than max_instances",
         extra={"compute.yaml": COMPUTE}),
    case("compute-max-zero", "compute.yaml", "max_instances: 2", "max_instances: 0",
         "azure.compute-scale", "max_instances", "at least 1", extra={"compute.yaml": COMPUTE}),
    case("compute-name", "compute.yaml", "name: gpu-cluster", "name: gpu-cluster-1", "azure.name",
         "name", "-<digits>", extra={"compute.yaml": COMPUTE}),
    case("unknown-vm-size", JOB, "instance_type_finetune: Standard_NC48ads_A100_v4",
         "instance_type_finetune: Standard_NC48ads_A100", "azure.vm-size",
         f"{IN}.instance_type_finetune", "did you mean Standard_NC48ads_A100_v4", exit=0),
    case("malformed-vm-size", DEP, "instance_type: standard_nc24ads_a100_v4",
         "instance_type: A100-large", "azure.vm-size", "instance_type",
         "is not an Azure VM size name"),
    case("retired-vm-size", DEP, "instance_type: standard_nc24ads_a100_v4",
         "instance_type: Standard_NC6s_v3", "azure.vm-retired", "instance_type",
         "retired on 2025-09-30; use Standard_NC"),
    case("model-name-space", MODEL, "name: phi4-chat-ft", "name: phi4 chat ft", "azure.name",
         "name", "no dots or spaces"),
    case("committed-job-name", JOB, "display_name:", "name: phi4-run-1\ndisplay_name:",
         "azure.job-name", "name", "unique per workspace", exit=0),
    case("unversioned-model-ref", DEP, "model: azureml:phi4-chat-ft:3",
         "model: azureml:phi4-chat-ft", "azure.model-version", "model", "names no version"),
    # layer 6: across files and against model metadata
    case("too-many-gpus", JOB, "number_of_gpu_to_use_finetuning: 2",
         "number_of_gpu_to_use_finetuning: 4", "cross.gpus",
         f"{IN}.number_of_gpu_to_use_finetuning", "exceeds the 2 GPU(s)"),
    case("finetune-allow-list", JOB, "instance_type_finetune: Standard_NC48ads_A100_v4",
         "instance_type_finetune: Standard_NC64as_T4_v3", "cross.finetune-allow-list",
         f"{IN}.instance_type_finetune", "not on Phi-4 8's fine-tuning allow list",
         edits2=("number_of_gpu_to_use_finetuning: 2", "number_of_gpu_to_use_finetuning: 4")),
    case("inference-allow-list", DEP, "instance_type: standard_nc24ads_a100_v4",
         "instance_type: Standard_NC16as_T4_v3", "cross.inference-allow-list", "instance_type",
         "inference allow list", exit=0),
    case("endpoint-name-mismatch", DEP, "endpoint_name: phi4-chat-ep",
         "endpoint_name: phi4-chat-endpoint", "cross.endpoint-name", "endpoint_name",
         "not the endpoint defined in this set"),
    case("model-version-mismatch", DEP, "model: azureml:phi4-chat-ft:3",
         "model: azureml:phi4-chat-ft:2", "cross.model-ref", "model", "registers version 3"),
    case("missing-data-file", JOB, "path: ./data/train.jsonl", "path: ./data/train_v2.jsonl",
         "cross.data-missing", "inputs.train_data.path", "does not exist"),
    case("not-chat-jsonl", "data/train.jsonl", '"messages"', '"conversation"', "cross.data",
         "inputs.train_data.path", "no `messages` column"),
    case("retired-model", JOB, "models/Phi-4/versions/8",
         "models/Phi-3-mini-4k-instruct/versions/15", "cross.model-lifecycle",
         "inputs.base_model.path", "retired on 2025-08-30", exit=0),
    case("model-path-output", MODEL, "outputs/trained_model", "outputs/model", "cross.model-path",
         "path", "no output 'model'"),
    case("cluster-not-in-set", JOB, *CLUSTER_JOB, "cross.compute-missing", f"{IN}.compute_finetune",
         "not the cluster defined in this set",
         extra={"compute.yaml": COMPUTE.replace("gpu-cluster", "other-cluster")}),
    case("cluster-gpus", JOB, *CLUSTER_JOB, "cross.gpus", f"{IN}.number_of_gpu_to_use_finetuning",
         "exceeds the 1 GPU(s)", extra={"compute.yaml": COMPUTE.replace("NC48ads", "NC24ads")}),
]
# fmt: on


def make_set(tmp: Path, c: Case) -> Path:
    dest = tmp / "set"
    shutil.copytree(GOOD, dest)
    for name, text in c.extra.items():
        (dest / name).write_text(text, encoding="utf-8")
    for old, new in c.edits:
        target = dest / c.file
        text = target.read_text(encoding="utf-8")
        assert old in text, f"{c.id}: {old!r} not in {c.file}"
        target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return dest


def exit_code(report: Report, strict: bool = False) -> int:
    return 1 if report.failed(strict) else 0


@pytest.fixture(scope="module")
def rendered_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the repo's params rendered fresh (dev, notebook and prod)."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "params", root / "params")
    render_environments(
        ["dev", "notebook", "prod"],
        root,
        all_envs=True,
        log=lambda s: None,
        validate=validate_rendered,
    )
    return root


def test_table_has_40_distinct_mistakes_across_all_layers() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 40
    layers = {c.code.split(".")[0] for c in CASES}
    assert layers == {"yaml", "sdk", "component", "runtime", "azure", "cross", "placeholder"}


def _check(tmp_path: Path, c: Case, sdk: bool) -> Report:
    folder = make_set(tmp_path, c)
    report = validate_paths([folder], project_dir=tmp_path, sdk=sdk)
    hits = [f for f in report.findings if f.code == c.code and f.yaml_path == c.path]
    assert hits, f"{c.id}: no {c.code} at {c.path!r}; got:\n" + "\n".join(
        f.text() for f in report.findings
    )
    assert any(c.gist in f.message for f in hits), [f.message for f in hits]
    assert all(f.line for f in hits) or c.code == "yaml.malformed"
    assert exit_code(report) == c.exit, "\n".join(f.text() for f in report.findings)
    return report


@pytest.mark.parametrize("c", [c for c in CASES if not c.sdk], ids=lambda c: c.id)
def test_mistake_is_found(tmp_path: Path, c: Case) -> None:
    _check(tmp_path, c, sdk=False)


@pytest.mark.slow
@pytest.mark.parametrize("c", [c for c in CASES if c.sdk], ids=lambda c: c.id)
def test_mistake_found_by_the_sdk_layer(tmp_path: Path, c: Case) -> None:
    _check(tmp_path, c, sdk=True)


def test_good_hand_written_set_is_clean_offline() -> None:
    report = validate_paths([GOOD], project_dir=CASES_DIR, sdk=False)
    assert report.findings == []
    assert len(report.files) == 4


def test_relative_paths_are_taken_from_the_project_folder(
    rendered_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like git -C: `amlgen -C DIR validate azureml/dev` checks DIR's files, wherever we are.
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["azureml/dev"], project_dir=rendered_project, sdk=False)
    assert not report.errors, [f.text() for f in report.errors]
    assert "azureml/dev/pipeline-job.yml" in report.files


def test_rendered_sets_have_no_errors_offline(rendered_project: Path) -> None:
    report = validate_paths([], project_dir=rendered_project, sdk=False)
    assert not report.errors, [f.text() for f in report.errors]
    # Nothing for --strict to fail on: the notebook env acknowledges its retired model in its
    # params, and data `amlgen data` writes before submission is not a defect of the YAML.
    assert not report.warnings, [f.text() for f in report.warnings]
    notes = {f.code for f in report.findings}
    assert notes == {"cross.model-lifecycle-acknowledged", "cross.data-missing"}
    lifecycle = [f for f in report.findings if f.code == "cross.model-lifecycle-acknowledged"]
    assert [f.file for f in lifecycle] == ["azureml/notebook/pipeline-job.yml"]
    assert "2025-08-30" in lifecycle[0].message and "Phi-4 version 8" in lifecycle[0].message
    assert "Phi-3.5" not in lifecycle[0].message  # retired the same day: not a successor
    assert "acknowledged_lifecycle: retired" in lifecycle[0].message
    missing = [f for f in report.findings if f.code == "cross.data-missing"]
    assert any("amlgen data --env prod" in f.message for f in missing)
    assert "params/base.yaml" in report.files and "azureml/prod/pipeline-job.yml" in report.files


@pytest.mark.slow
def test_good_sets_pass_with_the_sdk_layer(rendered_project: Path) -> None:
    assert validate_paths([GOOD], project_dir=CASES_DIR).findings == []
    report = validate_paths(
        [rendered_project / "azureml" / "dev", rendered_project / "azureml" / "prod"],
        project_dir=rendered_project,
    )
    assert not report.errors, [f.text() for f in report.errors]
    assert {f.layer for f in report.findings} == {6}


def test_chat_rows_follow_the_shared_rule_whitespace_kept(tmp_path: Path) -> None:
    folder = make_set(tmp_path, case("x", JOB, "", "", "", "", ""))
    train = folder / "data" / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text().splitlines() if line.strip()]
    rows[0]["messages"][-1]["content"] = "   "
    rows[1]["messages"][-1]["content"] = ""
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = validate_paths([folder], project_dir=tmp_path, sdk=False)
    data = [f.message for f in report.findings if f.code == "cross.data"]
    assert data == [
        "train.jsonl: line 2: a message content is not a non-empty string: the service "
        "drops such rows"
    ], data


def test_params_problems_become_findings(rendered_project: Path, tmp_path: Path) -> None:
    shutil.copytree(rendered_project, tmp_path / "p")
    base = tmp_path / "p" / "params" / "base.yaml"
    base.write_text(
        base.read_text().replace("finetune: {}", "finetune:\n  num_train_epochs: three")
    )
    report = validate_paths([], project_dir=tmp_path / "p", sdk=False)
    hits = [f for f in report.errors if f.code == "params.invalid"]
    assert len(hits) == 1  # once, although both environments load base.yaml
    assert hits[0].file == "params/base.yaml" and hits[0].yaml_path == "finetune.num_train_epochs"
    assert hits[0].line and hits[0].line > 1


def test_render_refuses_invalid_assets_and_writes_nothing(
    rendered_project: Path, tmp_path: Path
) -> None:
    shutil.copytree(rendered_project / "params", tmp_path / "params")
    with pytest.raises(RenderError) as info:
        render_environments(
            ["dev"],
            tmp_path,
            ["compute.size=Standard_NC6s_v3"],
            log=lambda s: None,
            validate=validate_rendered,
        )
    text = str(info.value)
    assert "azureml/dev/compute.yml" in text and "retired on 2025-09-30" in text
    assert "fine-tuning allow list" in text
    assert not (tmp_path / "azureml").exists()


@pytest.mark.slow
def test_render_guard_does_not_import_the_sdk(rendered_project: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from generator.params import load_params; "
        "from generator.rendering import render; "
        "from generator.validation import validate_rendered; "
        f"root = Path({str(rendered_project)!r}); "
        "validate_rendered(render(load_params('prod', root)), root); "
        "print('azure.ai.ml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_json_and_exit_codes() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["-C", str(CASES_DIR), "validate", str(GOOD), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["summary"]["errors"] == 0
    assert len(data["summary"]["files"]) == 4


@pytest.mark.slow
def test_cli_text_strict_and_no_sdk_noise(tmp_path: Path) -> None:
    c = next(c for c in CASES if c.id == "inference-allow-list")  # a warning only
    folder = make_set(tmp_path, c)
    cmd = [sys.executable, "-m", "generator", "-C", str(tmp_path), "validate", str(folder)]
    plain = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=child_env())
    assert plain.returncode == 0, plain.stderr
    assert "set/deployment.yaml:" in plain.stdout and "warning:" in plain.stdout
    strict = subprocess.run(
        [*cmd, "--strict"], capture_output=True, text=True, cwd=ROOT, env=child_env()
    )
    assert strict.returncode == 1
    assert strict.stderr.strip().startswith("error: validation failed with warnings")
    bad = make_set(tmp_path / "b", next(c for c in CASES if c.id == "unknown-top-level-key"))
    failed = subprocess.run(
        [*cmd[:-1], str(bad)], capture_output=True, text=True, cwd=ROOT, env=child_env()
    )
    assert failed.returncode == 1
    assert "job.yaml:" in failed.stdout and "experimnt_name: error: unknown key" in failed.stdout
    for stream in (plain.stderr, strict.stderr, failed.stderr):
        assert "experimental" not in stream.lower() and "Traceback" not in stream
    assert len(failed.stderr.strip().splitlines()) == 1


# --- the SDK alone vs amlgen --------------------------------------------------------------------


SDK_LOADERS = {
    "job.yaml": "validate_job",
    "model.yaml": "load_model",
    "endpoint.yaml": "load_online_endpoint",
    "deployment.yaml": "load_online_deployment",
    "compute.yaml": "load_compute",
}


def sdk_alone(folder: Path) -> tuple[bool, bool]:
    """What the SDK's loaders and `validate_job` say on their own: (any error or warning, error)."""
    import azure.ai.ml as ml
    from azure.ai.ml.entities._validate_funcs import validate_job

    from generator.quiet import quiet

    flagged = failed = False
    for name, loader in SDK_LOADERS.items():
        path = folder / name
        if not path.is_file():
            continue
        with quiet():
            try:
                if loader == "validate_job":
                    result = validate_job(str(path))._to_dict()
                    flagged |= bool(result.get("errors") or result.get("warnings"))
                    failed |= bool(result.get("errors"))
                else:
                    getattr(ml, loader)(str(path))
            except Exception:
                flagged = failed = True
    return flagged, failed


@pytest.mark.slow
def test_sdk_alone_catches_fewer_of_the_same_mistakes(tmp_path: Path) -> None:

    from generator.quiet import quiet

    with quiet():
        import azure.ai.ml  # noqa: F401
    counts: dict[str, list[int]] = {}
    flagged_ids = []
    for i, c in enumerate(CASES):
        folder = make_set(tmp_path / str(i), c)
        layer = c.code.split(".")[0]
        row = counts.setdefault(layer, [0, 0, 0])
        row[0] += 1
        flagged, failed = sdk_alone(folder)
        row[1] += flagged
        row[2] += failed
        if flagged:
            flagged_ids.append(c.id)
    total = sum(row[0] for row in counts.values())
    sdk_total = len(flagged_ids)
    sdk_failed = sum(row[2] for row in counts.values())
    lines = [
        "| layer | mistakes | amlgen flags | SDK alone flags | SDK alone fails |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {layer} | {n} | {n} | {s} | {e} |" for layer, (n, s, e) in counts.items()]
    lines.append(f"| total | {total} | {total} | {sdk_total} | {sdk_failed} |")
    print("\n" + "\n".join(lines) + "\nSDK alone flags: " + ", ".join(flagged_ids))
    # amlgen flagging every case is what test_mistake_is_found* assert, case by case.
    assert sdk_total < total
    assert counts["sdk"][1] == counts["sdk"][0]  # the SDK layer's own cases, by definition
    assert counts["component"][1] < counts["component"][0] and counts["cross"][1] == 0


# --- --online: live interface vs the bundled catalog ------------------------------------------


@pytest.fixture(scope="module")
def loaded_components(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Real SDK component entities with the bundled interfaces, as a registry serves them
    (test_catalog_is_derived_from_the_specs pins those interfaces to the registry specs)."""
    import yaml

    from generator.quiet import quiet

    folder = tmp_path_factory.mktemp("registry")
    keys = ("type", "optional", "default", "enum", "min", "max", "description")
    entities: dict[str, object] = {}
    with quiet():
        from azure.ai.ml import load_component

        for version in ("0.0.81", "0.0.82"):
            spec = catalog.component("chat_completion_pipeline", version)
            assert spec is not None
            doc = {
                "name": spec.name,
                "version": version,
                "type": "command",
                "command": "echo stand-in",
                "environment": "azureml:stand-in:1",
                "inputs": {
                    name: {
                        k: list(v) if isinstance(v, tuple) else v
                        for k, v in vars(i).items()
                        if k in keys and v not in (None, "")
                    }
                    for name, i in spec.inputs.items()
                },
                "outputs": {name: {"type": kind} for name, kind in spec.outputs.items()},
            }
            path = folder / f"{version}.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            entities[version] = load_component(str(path))
    return entities


@pytest.mark.slow
def test_live_component_matching_the_catalog_shows_no_difference(
    loaded_components: dict[str, object],
) -> None:
    from generator.validation.online import compare_component, spec_from_entity

    live = spec_from_entity(loaded_components["0.0.82"])
    bundled = catalog.component("chat_completion_pipeline", "0.0.82")
    assert compare_component(live, bundled) == []
    assert live.inputs["optim"].enum == ("adamw_torch", "adafactor")
    assert live.outputs == {
        "pytorch_model_folder": "uri_folder",
        "mlflow_model_folder": "mlflow_model",
    }


@pytest.mark.slow
def test_online_reports_differences_and_validates_against_the_live_interface(
    loaded_components: dict[str, object], tmp_path: Path
) -> None:
    from generator.validation.online import Online

    class Ops:
        def __init__(self, items: dict[tuple[str, str], object]) -> None:
            self.items = items

        def get(self, name: str, version: str) -> object:
            if (name, version) not in self.items:
                raise LookupError(f"{name} {version} not found")
            return self.items[(name, version)]

    class Client:
        # The live registry serves 0.0.81's interface under the 0.0.82 id: a drifted catalog.
        components = Ops({("chat_completion_pipeline", "0.0.82"): loaded_components["0.0.81"]})
        models = Ops({})

    folder = make_set(
        tmp_path, case("x", JOB, "optim: adamw_torch", 'trust_remote_code: "true"', "", "", "")
    )
    from generator.validation import check_set
    from generator.validation.assets import load_asset

    assets = [load_asset(p, p.name)[0] for p in sorted(folder.glob("*.yaml"))]
    findings = check_set(assets, tmp_path, sdk=False, online=Online(lambda registry: Client()))
    diffs = [f for f in findings if f.code == "online.component-diff"]
    assert any(
        "'trust_remote_code'" in f.message and "gone from the live" in f.message for f in diffs
    )
    assert all(f.yaml_path == "jobs.chat_finetune.component" for f in diffs)
    # validated against the live interface, trust_remote_code is now an unknown input
    assert any(
        f.code == "component.unknown-input" and "trust_remote_code" in f.yaml_path for f in findings
    )
    fetch = [f for f in findings if f.code == "online.fetch"]
    assert len(fetch) == 1 and "Phi-4 8" in fetch[0].message and fetch[0].severity == "error"


def test_model_tags_in_the_registry_layout_are_read() -> None:
    from types import SimpleNamespace

    from generator.validation.online import compare_model, model_from_entity

    entity = SimpleNamespace(
        name="Phi-3-mini-4k-instruct",
        version="15",
        stage="Archived",
        properties={},
        tags={
            "finetune_compute_allow_list": "['Standard_NC24ads_A100_v4',"
            " 'Standard_NC48ads_A100_v4']",
            "inference_compute_allow_list": "['Standard_NC24ads_A100_v4']",
            "FinetuneRetirementDate": "2025-08-30",
            "model_specific_defaults": "{'apply_lora': 'true'}",
        },
    )
    live = model_from_entity(entity)
    assert live.finetune_allow_list == ("Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4")
    assert live.archived and live.lifecycle == {"finetune_retirement": "2025-08-30"}
    diffs = [m for _, m in compare_model(live, catalog.model("Phi-3-mini-4k-instruct", "15"))]
    assert any(m.startswith("finetune_allow_list: live adds nothing, removes") for m in diffs)
    assert "model_specific_defaults differ from the bundled catalog" in diffs


@pytest.mark.slow
def test_online_against_the_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from generator.emulator import ENV_SECRET, ENV_URL, Emulator
    from generator.validation import check_set
    from generator.validation.assets import load_asset
    from generator.validation.online import Online

    c = case("x", JOB, "versions/0.0.82", "versions/0.0.99", "", "", "")
    folder = make_set(tmp_path, c)
    with Emulator() as emu:
        monkeypatch.setenv(ENV_URL, emu.url)
        monkeypatch.setenv(ENV_SECRET, emu.secret)
        assert validate_paths([GOOD], project_dir=CASES_DIR, online=True).findings == []
        live = Online()
        good = [load_asset(p, p.name)[0] for p in sorted(GOOD.glob("*.yaml"))]
        assert check_set(good, CASES_DIR, sdk=False, online=live) == []
        assets = [load_asset(p, p.name)[0] for p in sorted(folder.glob("*.yaml"))]
        drifted = check_set(assets, tmp_path, sdk=False, online=Online())
        # The flag instead of the variable, through the CLI.
        monkeypatch.delenv(ENV_URL)
        args = ["-C", str(CASES_DIR), "validate", str(GOOD), "--online", "--emulator", emu.url]
        result = CliRunner().invoke(cli, [*args, "--format", "json", "--strict"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["findings"] == []
    # The emulator serves the bundled catalog: fetched live, validated, no differences.
    spec = catalog.component("chat_completion_pipeline", "0.0.82")
    assert live.components[("chat_completion_pipeline", "0.0.82")] == spec
    assert live.models[("Phi-4", "8")] == catalog.model("Phi-4", "8")
    fetch = [f for f in drifted if f.code == "online.fetch"]
    assert len(fetch) == 1 and "chat_completion_pipeline 0.0.99" in fetch[0].message
    assert fetch[0].yaml_path == "jobs.chat_finetune.component"


def test_render_guard_returns_warnings_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = (
        "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\n"
        'name: m.v2\nversion: "1"\npath: azureml://jobs/j/outputs/o\ntype: mlflow_model\n'
    )
    warnings = validate_rendered({"azureml/x/model.yml": model}, tmp_path)
    assert [w.code for w in warnings] == ["azure.name-registry-only"]
    assert capsys.readouterr() == ("", "")  # the library returns findings; the CLI prints them

"""`amlgen validate` on any Azure ML CLI v2 YAML: every kind, pipelines as the service sees them,
VM sizes, paths, and a good corpus written the way public samples write them.

The corpus (tests/validate_cases/corpus/<set>/) must give zero errors and zero warnings; each
case of KIND_CASES edits one file of a copy and must be caught at its YAML path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from _flowkit import child_env

from generator import catalog
from generator.validation import kinds, validate_paths
from generator.validation.assets import load_asset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = HERE / "validate_cases"
CORPUS = CASES / "corpus"
SETS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


# --- kinds ---------------------------------------------------------------------------------------

SHAPES = [
    ({"type": "command", "command": "echo", "environment": "azureml:e:1"}, kinds.COMMAND_JOB),
    ({"type": "command", "name": "c", "version": 1, "command": "echo"}, kinds.COMMAND_COMPONENT),
    ({"type": "pipeline", "jobs": {}}, kinds.PIPELINE_JOB),
    ({"type": "pipeline", "name": "p", "version": "1", "jobs": {}}, kinds.PIPELINE_COMPONENT),
    ({"type": "parallel", "task": {}}, kinds.PARALLEL_COMPONENT),
    ({"type": "spark", "entry": {"file": "a.py"}}, kinds.SPARK_JOB),
    ({"type": "sweep", "trial": "./t.yml"}, kinds.SWEEP_JOB),
    ({"type": "automl", "task": "regression"}, kinds.AUTOML_JOB),
    ({"type": "finetuning", "task": "chat_completion"}, kinds.FINETUNING_JOB),
    ({"type": "distillation"}, kinds.DISTILLATION_JOB),
    ({"type": "uri_folder", "path": "./d", "name": "d"}, kinds.DATA),
    ({"type": "mlflow_model", "path": "./m", "name": "m"}, kinds.MODEL),
    ({"name": "e", "image": "mcr.microsoft.com/x"}, kinds.ENVIRONMENT),
    ({"type": "amlcompute", "size": "Standard_DS3_v2"}, kinds.COMPUTE),
    ({"type": "kubernetes", "resource_id": "/x", "namespace": "n"}, kinds.COMPUTE),
    ({"name": "e", "auth_mode": "key"}, kinds.ENDPOINT),
    ({"name": "e", "compute": "azureml:k8s", "auth_mode": "key"}, kinds.ENDPOINT),
    ({"name": "b", "endpoint_name": "e", "instance_type": "x"}, kinds.DEPLOYMENT),
    ({"name": "b", "type": "kubernetes", "endpoint_name": "e"}, kinds.DEPLOYMENT),
    ({"name": "b", "endpoint_name": "e", "type": "model", "settings": {}}, kinds.BATCH_DEPLOYMENT),
    ({"name": "b", "endpoint_name": "e", "mini_batch_size": 10}, kinds.BATCH_DEPLOYMENT),
    (
        {"name": "s", "model_id": "azureml://registries/azureml/models/Phi-4"},
        kinds.SERVERLESS_ENDPOINT,
    ),
    ({"name": "s", "trigger": {"type": "cron"}, "create_job": "./p.yml"}, kinds.SCHEDULE),
    ({"name": "d", "type": "azure_blob", "account_name": "a"}, kinds.DATASTORE),
    ({"name": "r", "replication_locations": [{"location": "westus"}]}, kinds.REGISTRY),
    ({"name": "conda", "dependencies": ["python=3.10"]}, kinds.CONDA_FILE),
]


@pytest.mark.parametrize(("data", "kind"), SHAPES, ids=lambda v: v if isinstance(v, str) else "")
def test_kind_from_type_and_shape(data: dict[str, object], kind: str) -> None:
    found = kinds.detect(data)
    assert found is not None and found[0] == kind, found


def test_every_schema_of_the_index_is_a_kind_with_a_loader() -> None:
    for stem, (kind, _) in kinds.SCHEMAS.items():
        assert kind in kinds.KINDS, stem
    url = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"
    for name in ("managedOnlineDeployment", "kubernetesOnlineDeployment", "autoMLForecastingJob"):
        assert kinds.detect({"$schema": url.format(name)}) is not None, name
    k8s = kinds.detect({"$schema": url.format("kubernetesOnlineDeployment")})
    assert k8s == (kinds.DEPLOYMENT, "kubernetes")


@pytest.mark.slow
def test_every_kind_loader_exists_in_the_sdk() -> None:
    from generator.validation import sdk_schema as sdk

    for kind in kinds.KINDS.values():
        if kind.loader is not None:
            assert sdk.loader(kind.loader) is not None, kind
    for name in kinds.VARIANT_LOADERS.values():
        assert sdk.loader(name) is not None, name


@pytest.mark.parametrize(
    ("text", "gist"),
    [
        (
            "$schema: https://example.com/latest/fancyNewThing.schema.json\nname: x\n",
            "fancynewthing",
        ),
        ("type: quantum_job\nname: x\n", "quantum_job"),
        ("name: x\ndescription: y\n", "no `$schema`, no `type`"),
    ],
)
def test_an_unknown_kind_is_a_note_never_an_error(tmp_path: Path, text: str, gist: str) -> None:
    (tmp_path / "x.yml").write_text(text)
    report = validate_paths([tmp_path / "x.yml"], project_dir=tmp_path, sdk=False)
    assert [(f.severity, f.code) for f in report.findings] == [("info", "yaml.unknown-kind")]
    assert gist in report.findings[0].message and not report.failed(strict=True)


# --- the good corpus -------------------------------------------------------------------------


def test_corpus_covers_every_kind_family() -> None:
    found = set()
    for path in CORPUS.rglob("*.yml"):
        asset, _ = load_asset(path, path.name)
        found.add(asset.kind)
    must = {
        kinds.PIPELINE_JOB, kinds.COMMAND_JOB, kinds.SWEEP_JOB, kinds.SPARK_JOB,
        kinds.AUTOML_JOB, kinds.FINETUNING_JOB, kinds.COMMAND_COMPONENT,
        kinds.PIPELINE_COMPONENT, kinds.SPARK_COMPONENT, kinds.PARALLEL_COMPONENT, kinds.DATA,
        kinds.MODEL, kinds.ENVIRONMENT, kinds.COMPUTE, kinds.ENDPOINT, kinds.DEPLOYMENT,
        kinds.BATCH_ENDPOINT, kinds.BATCH_DEPLOYMENT, kinds.SERVERLESS_ENDPOINT, kinds.SCHEDULE,
    }  # fmt: skip
    assert must <= found, must - found


@pytest.mark.parametrize("name", SETS)
def test_good_corpus_set_is_clean_offline(name: str) -> None:
    report = validate_paths([CORPUS / name], project_dir=CASES, sdk=False)
    assert not report.errors and not report.warnings, "\n".join(f.text() for f in report.findings)
    unknown = [f for f in report.findings if f.code == "yaml.unknown-kind"]
    assert not unknown, unknown


@pytest.mark.slow
def test_good_corpus_has_no_errors_with_the_sdk() -> None:
    report = validate_paths([CORPUS], project_dir=CASES)
    assert not report.errors and not report.warnings, "\n".join(f.text() for f in report.findings)
    # registry components without bundled metadata are notes, never errors
    assert {f.code for f in report.findings} <= {"component.not-bundled", "cross.model-not-bundled"}


# --- mistakes of the new kinds ----------------------------------------------------------------


@dataclass(frozen=True)
class KindCase:
    id: str
    folder: str
    file: str
    old: str
    new: str
    code: str
    path: str
    gist: str
    exit: int = 1
    sdk: bool = False


# fmt: off
KIND_CASES = [
    KindCase("step-binding-to-missing-step", "pipeline-inline", "pipeline.yml",
             "model: ${{parent.jobs.train.", "model: ${{parent.jobs.trian.", "component.binding",
             "jobs.score.inputs.model", "did you mean 'train'"),
    KindCase("step-binding-to-missing-output", "pipeline-inline", "pipeline.yml",
             "training_data: ${{parent.jobs.prep.outputs.clean}}",
             "training_data: ${{parent.jobs.prep.outputs.cleaned}}", "component.binding",
             "jobs.train.inputs.training_data", "has no output 'cleaned'"),
    KindCase("inline-step-parent-input", "pipeline-inline", "pipeline.yml",
             "${{parent.inputs.learning_rate}}", "${{parent.inputs.learning_rat}}",
             "component.binding", "jobs.train.inputs.lr", "did you mean 'learning_rate'"),
    KindCase("inline-step-parent-output", "pipeline-spark", "pipeline.yml",
             "${{parent.outputs.counts}}", "${{parent.outputs.count}}", "component.binding",
             "jobs.count_rows.outputs.output", "does not declare"),
    KindCase("settings-typo", "pipeline-inline", "pipeline.yml", "  force_rerun: true",
             "  forse_rerun: true", "pipeline.setting", "settings.forse_rerun",
             "did you mean 'force_rerun'", exit=0),
    KindCase("automl-binding-to-component-file-output", "pipeline-automl", "pipeline.yml",
             "preprocess.outputs.train_out}}", "preprocess.outputs.train_output}}",
             "component.binding", "jobs.regression.training_data", "has no output 'train_output'"),
    KindCase("missing-component-file", "pipeline-automl", "pipeline.yml",
             "component: ./components/preprocess.yml", "component: ./components/prep.yml",
             "component.file", "jobs.preprocess.component", "does not exist"),
    KindCase("sweep-trial-output", "pipeline-sweep", "pipeline.yml",
             "${{parent.jobs.tune.outputs.model_output}}", "${{parent.jobs.tune.outputs.model}}",
             "component.binding", "jobs.check.inputs.model", "has no output 'model'"),
    KindCase("spark-step-vm-size", "pipeline-spark", "pipeline.yml",
             "instance_type: standard_e4s_v3", "instance_type: e4s-large", "azure.vm-size",
             "jobs.add_column.resources.instance_type", "not an Azure VM size name"),
    KindCase("serverless-job-unknown-size", "jobs", "command-job.yml",
             "instance_type: Standard_E4s_v3", "instance_type: Standard_E4s_v9", "azure.vm-size",
             "resources.instance_type", "not in the catalog of", exit=0),
    KindCase("compute-retired-size", "compute", "cpu-cluster.yml", "size: Standard_E64s_v3",
             "size: standard_nc24s_v3", "azure.vm-retired", "size", "retired on 2025-09-30"),
    KindCase("k8s-type-in-managed-deployment", "online-managed", "blue-deployment.yml",
             "instance_type: Standard_DS3_v2", "instance_type: defaultinstancetype",
             "azure.vm-size", "instance_type", "not an Azure VM size name"),
    KindCase("deployment-endpoint-mismatch", "online-managed", "green-deployment.yml",
             "endpoint_name: sklearn-fare-ep", "endpoint_name: sklearn-fares-ep",
             "cross.endpoint-name", "endpoint_name", "not the endpoint defined in this set"),
    KindCase("batch-endpoint-name", "batch", "endpoint.yml", "name: mnist-batch",
             "name: mnist_batch", "azure.name", "name", "single hyphens"),
    KindCase("batch-settings-typo", "batch", "model-deployment.yml", "  mini_batch_size: 10",
             "  mini_batch_sise: 10", "sdk.unknown-key", "settings.mini_batch_sise", "rejects",
             sdk=True),
    KindCase("component-input-type", "components", "command.yml", "    type: number",
             "    type: float", "sdk.schema", "inputs.sample_rate", "", sdk=True),
    KindCase("data-asset-type", "assets", "data-file.yml", "type: uri_file", "type: uri_files",
             "sdk.schema", "type", "", sdk=True),
    KindCase("schedule-trigger-type", "schedules", "nightly.yml", "  type: cron",
             "  type: crontab", "sdk.schema", "trigger", "", sdk=True),
    KindCase("inline-step-unknown-key", "pipeline-parallel", "pipeline.yml",
             "    logging_level:", "    loging_level:", "sdk.unknown-key",
             "jobs.score_batches.loging_level", "rejects", sdk=True),
]
# fmt: on


def make_case(tmp: Path, c: KindCase) -> Path:
    dest = tmp / c.folder
    shutil.copytree(CORPUS / c.folder, dest)
    target = dest / c.file
    text = target.read_text(encoding="utf-8")
    assert c.old in text, f"{c.id}: {c.old!r} not in {c.file}"
    target.write_text(text.replace(c.old, c.new, 1), encoding="utf-8")
    return dest


def _check_case(tmp_path: Path, c: KindCase, sdk: bool) -> None:
    folder = make_case(tmp_path, c)
    report = validate_paths([folder], project_dir=tmp_path, sdk=sdk)
    hits = [f for f in report.findings if f.code == c.code and f.yaml_path.startswith(c.path)]
    text = "\n".join(f.text() for f in report.findings)
    assert hits, f"{c.id}: no {c.code} at {c.path!r}; got:\n{text}"
    assert any(c.gist in f.message for f in hits), [f.message for f in hits]
    assert (1 if report.failed() else 0) == c.exit, text


@pytest.mark.parametrize("c", [c for c in KIND_CASES if not c.sdk], ids=lambda c: c.id)
def test_kind_mistake_is_found(tmp_path: Path, c: KindCase) -> None:
    _check_case(tmp_path, c, sdk=False)


@pytest.mark.slow
@pytest.mark.parametrize("c", [c for c in KIND_CASES if c.sdk], ids=lambda c: c.id)
def test_kind_mistake_found_by_the_sdk_layer(tmp_path: Path, c: KindCase) -> None:
    _check_case(tmp_path, c, sdk=True)


# --- VM sizes ------------------------------------------------------------------------------------


def test_vm_catalog_is_dated_and_has_cpu_and_gpu_families() -> None:
    assert catalog.vm_catalog_date() >= "2026-01-01"
    e64 = catalog.vm_size("standard_e64S_V3")
    assert e64 is not None and e64.name == "Standard_E64s_v3" and e64.gpus == 0
    assert catalog.vm_size("Standard_ND96isr_H100_v5").gpus == 8  # type: ignore[union-attr]
    retired = [catalog.vm_size(n) for n in catalog.vm_size_names()]
    assert all(v.replacement for v in retired if v and v.retired)
    assert catalog.vm_size_well_formed("Standard_E64-32s_v3")
    assert not catalog.vm_size_well_formed("defaultinstancetype")


# --- paths: the same findings from anywhere -------------------------------------------------


def _normalised(report: object) -> list[tuple[object, ...]]:
    return sorted(
        (Path(f.file).name, f.line, f.yaml_path, f.severity, f.code, f.message)
        for f in report.findings  # type: ignore[attr-defined]
    )


def test_findings_are_the_same_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = next(c for c in KIND_CASES if c.id == "step-binding-to-missing-output")
    folder = make_case(tmp_path / "p", c)
    (folder / "pipeline.yml").write_text(
        (folder / "pipeline.yml").read_text().replace("path: ./data", "path: ./missing-data")
    )
    results = []
    for cwd, root, arg in (
        (tmp_path, tmp_path, folder),
        (folder, folder, Path(".")),
        (ROOT, tmp_path / "p", Path("pipeline-inline")),
        (Path("/"), Path("/"), folder / "pipeline.yml"),
    ):
        monkeypatch.chdir(cwd)
        results.append(_normalised(validate_paths([arg], project_dir=root, sdk=False)))
    assert all(r == results[0] for r in results), results
    assert any(
        code == "cross.data-missing" and sev == "error" for _, _, _, sev, code, _ in results[0]
    )


@pytest.mark.slow
def test_cli_with_and_without_dash_c_gives_the_same_findings(tmp_path: Path) -> None:
    c = next(c for c in KIND_CASES if c.id == "settings-typo")
    folder = make_case(tmp_path, c)
    py = [sys.executable, "-m", "generator"]
    runs = [
        subprocess.run([*py, "validate", str(folder), "--format", "json"], cwd="/", env=child_env(),
                       capture_output=True, text=True),
        subprocess.run([*py, "-C", str(tmp_path), "validate", c.folder, "--format", "json"],
                       cwd=ROOT, env=child_env(), capture_output=True, text=True),
    ]  # fmt: skip
    found = []
    for run in runs:
        data = json.loads(run.stdout)
        found.append(sorted((Path(f["file"]).name, f["line"], f["code"]) for f in data["findings"]))
    assert found[0] == found[1] and ("pipeline.yml", found[0][0][1], "pipeline.setting") in found[0]


def test_a_file_alone_or_in_its_folder_gives_the_same_own_findings(tmp_path: Path) -> None:
    c = next(c for c in KIND_CASES if c.id == "deployment-endpoint-mismatch")
    folder = make_case(tmp_path, c)
    (folder / "blue-deployment.yml").write_text(
        (folder / "blue-deployment.yml").read_text().replace("name: blue", "name: Blue")
    )
    alone = validate_paths([folder / "blue-deployment.yml"], project_dir=tmp_path, sdk=False)
    together = validate_paths([folder], project_dir=tmp_path, sdk=False)
    own = lambda r: [f for f in _normalised(r) if f[0] == "blue-deployment.yml"]  # noqa: E731
    assert own(alone) == own(together) and own(alone)
    assert any(f.code == "cross.endpoint-name" for f in together.findings)
    assert not any(f.code.startswith("cross.") for f in alone.findings)


def test_many_files_in_one_call_group_by_folder(tmp_path: Path) -> None:
    a = make_case(tmp_path / "a", KIND_CASES[0])
    files = [a / "pipeline.yml", CORPUS / "online-managed" / "endpoint.yml"]
    report = validate_paths(files, project_dir=tmp_path, sdk=False)
    assert len(report.files) == 2 and not any(f.code.startswith("cross.") for f in report.findings)
    assert os.path.isdir(CORPUS)


# --- the SDK alone vs amlgen, per kind ----------------------------------------------------------


def sdk_alone_flags(folder: Path) -> bool:
    """Each file through the SDK reader for its kind (as a user who picks the right load_*
    would): does anything come back as an error or warning?"""
    from generator.validation import sdk_schema as sdk

    for path in sorted(folder.glob("*.yml")):
        asset, _ = load_asset(path, path.name)
        if asset.kind not in kinds.KINDS:
            continue
        name = (
            kinds.VARIANT_LOADERS.get((str(asset.kind), asset.variant))
            or kinds.KINDS[str(asset.kind)].loader
        )
        reader = sdk.loader(name) if name else None
        if reader is None:
            continue
        with sdk.quiet():
            try:
                result = reader(str(path))
                if name in ("validate_job", "validate_component"):
                    data = result._to_dict()
                    if data.get("errors") or data.get("warnings"):
                        return True
            except Exception:
                return True
    return False


@pytest.mark.slow
def test_sdk_alone_catches_fewer_of_the_new_kinds_mistakes(tmp_path: Path) -> None:
    rows: dict[str, list[int]] = {}
    for i, c in enumerate(KIND_CASES):
        folder = make_case(tmp_path / str(i), c)
        row = rows.setdefault(c.folder, [0, 0])
        row[0] += 1
        row[1] += sdk_alone_flags(folder)
    lines = ["| set | mistakes | amlgen | SDK alone |", "| --- | --- | --- | --- |"]
    lines += [f"| {k} | {n} | {n} | {s} |" for k, (n, s) in sorted(rows.items())]
    total = sum(n for n, _ in rows.values())
    alone = sum(s for _, s in rows.values())
    lines.append(f"| total | {total} | {total} | {alone} |")
    print("\n" + "\n".join(lines))
    assert alone < total
    sdk_cases = [c for c in KIND_CASES if c.sdk]
    assert all(sdk_alone_flags(make_case(tmp_path / f"s{i}", c)) for i, c in enumerate(sdk_cases))

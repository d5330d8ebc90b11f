"""Resolved parameters -> Azure ML CLI v2 YAML, byte-for-byte deterministic.

One file per resource in `azureml/<env>/`: compute.yml (cluster envs only), pipeline-job.yml,
model.yml, endpoint.yml, deployment.yml. Nothing here imports azure.ai.ml: rendering and the
CI check must stay fast.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import atomic, names, outputs
from .atomic import write_atomic
from .catalog.uri import COMPONENTS, MODELS, registry_uri
from .errors import AmlgenError, RenderError
from .finetuning import render as ftrender
from .params import Resolved, environments, load_params, schema_text
from .version import __version__
from .yamlio import dump

OUTPUT_DIR = names.OUTPUT_DIR
SCHEMAS = {
    names.COMPUTE_FILE: "https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json",
    names.PIPELINE_JOB_FILE: "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
    names.MODEL_FILE: "https://azuremlschemas.azureedge.net/latest/model.schema.json",
    names.ENDPOINT_FILE: "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
    names.DEPLOYMENT_FILE: "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
}
FILE_NAMES = tuple(SCHEMAS)
# The files that read the prepared data, so the only ones that carry its fingerprint.
JOB_FILES = (names.PIPELINE_JOB_FILE, ftrender.JOB_FILE)
TRAINED_MODEL_OUTPUT = "trained_model"
JOB_NAME_PLACEHOLDER = "JOB_NAME"
# The component output that carries the MLflow model (facts: bind it on the step).
MLFLOW_OUTPUT = "mlflow_model_folder"


def model_path(job_name: str) -> str:
    """Where a completed pipeline job leaves the fine-tuned model."""
    return f"azureml://jobs/{job_name}/outputs/{TRAINED_MODEL_OUTPUT}"


def registry_model_id(r: Resolved) -> str:
    m = r.params.model
    return registry_uri(m.registry, MODELS, m.name, m.version)


def registry_component_id(r: Resolved) -> str:
    c = r.params.component
    return registry_uri(c.registry, COMPONENTS, c.name, c.version)


def display_name(r: Resolved) -> str:
    """`job.display_name`, or the seed's naming rule from the resolved component inputs."""
    inputs = r.finetune_inputs
    p = r.params
    if p.job.display_name:
        return p.job.display_name
    batch = (
        int(inputs.get("per_device_train_batch_size", 1))
        * int(inputs.get("gradient_accumulation_steps", 1))
        * r.gpus_per_node
        * p.compute.nodes
    )
    scheduler = inputs.get("lr_scheduler_type", "linear")
    ds = (
        f"ds{inputs.get('deepspeed_stage', '2')}"
        if inputs.get("apply_deepspeed") == "true"
        else "nods"
    )
    lora = "lora" if inputs.get("apply_lora") == "true" else "nolora"
    save = inputs.get("save_total_limit", -1)
    seqlen = inputs.get("max_seq_length", -1)
    return (
        f"{p.model.name}-{p.data.tag}-bs{batch}-{scheduler}-{ds}-{lora}"
        f"-save_limit{save}-seqlen{seqlen}"
    )


def resource_tags(r: Resolved) -> dict[str, str]:
    """Tags on every created resource: which tool, which params. Not the data: a new data
    preparation must not re-tag a cluster, model, endpoint or deployment."""
    return {"amlgen.version": __version__, "amlgen.env": r.env, "amlgen.params": r.fingerprint}


def job_tags(r: Resolved) -> dict[str, str]:
    """The job's tags: the resource tags and, once `manifest.json` exists, the data's
    fingerprint (`amlgen.data`). The job is the only file that reads the data."""
    tags = resource_tags(r)
    if r.data_fingerprint:
        tags["amlgen.data"] = r.data_fingerprint
    return tags


def _posix_rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _compute(r: Resolved) -> dict[str, Any]:
    c = r.params.compute
    return {
        "$schema": SCHEMAS[names.COMPUTE_FILE],
        "name": c.name,
        "type": "amlcompute",
        "size": c.size,
        "tier": c.tier,
        "min_instances": c.min_instances,
        "max_instances": c.max_instances,
        "idle_time_before_scale_down": c.idle_time_before_scale_down,
        "tags": resource_tags(r),
    }


COMPUTE_INPUTS = (
    "compute_model_import",
    "compute_preprocess",
    "compute_finetune",
    "compute_model_evaluation",
)


def step_inputs(r: Resolved) -> dict[str, Any]:
    """The component step's inputs: bindings, compute, and the fine-tune inputs in the
    component's own types. Shared with generator.pipeline_job so both build the same job."""
    p = r.params
    inputs: dict[str, Any] = {
        name: f"${{{{parent.inputs.{name}}}}}" for name in ["mlflow_model_path", *data_files(r)]
    }
    inputs["task_name"] = "ChatCompletion"
    if p.compute.kind == "cluster":
        inputs.update({key: p.compute.name for key in COMPUTE_INPUTS})
    else:
        inputs.update({key: "serverless" for key in COMPUTE_INPUTS})
        inputs["instance_type_model_import"] = p.compute.cpu_size
        inputs["instance_type_preprocess"] = p.compute.cpu_size
        inputs["instance_type_finetune"] = p.compute.size
        inputs["instance_type_model_evaluation"] = p.compute.size
    inputs["num_nodes_finetune"] = p.compute.nodes
    inputs["number_of_gpu_to_use_finetuning"] = r.gpus_per_node
    inputs.update(r.finetune_inputs)
    return inputs


def data_files(r: Resolved) -> dict[str, str]:
    """The component's file inputs -> the prepared split each one reads. Shared with
    generator.pipeline_job so both jobs bind the same files."""
    d = r.params.data
    files = {"train_file_path": d.train_split, "test_file_path": d.test_split}
    if d.validation_split:
        files["validation_file_path"] = d.validation_split
    return files


def step_output_binding() -> str:
    """Bind the component's MLflow output to the job output on the step (facts: a top-level
    binding is rejected)."""
    return f"${{{{parent.outputs.{TRAINED_MODEL_OUTPUT}}}}}"


def _pipeline_job(r: Resolved, out_dir: Path) -> dict[str, Any]:
    p = r.params
    data_dir = r.project_dir / p.data.dir
    rel = _posix_rel(data_dir, out_dir)
    step: dict[str, Any] = {
        "type": "pipeline",
        "component": registry_component_id(r),
        "inputs": step_inputs(r),
        "outputs": {MLFLOW_OUTPUT: step_output_binding()},
    }
    job: dict[str, Any] = {
        "$schema": SCHEMAS[names.PIPELINE_JOB_FILE],
        "type": "pipeline",
        "display_name": display_name(r),
        "experiment_name": p.job.experiment_name,
    }
    if p.job.description:
        job["description"] = p.job.description
    job["tags"] = {**p.job.tags, **job_tags(r)}
    job["settings"] = {
        "force_rerun": p.job.force_rerun,
        "continue_on_step_failure": p.job.continue_on_step_failure,
    }
    job["inputs"] = {
        "mlflow_model_path": {"type": "mlflow_model", "path": registry_model_id(r)},
        **{
            name: {"type": "uri_file", "path": f"{rel}/{split}.jsonl"}
            for name, split in data_files(r).items()
        },
    }
    job["outputs"] = {TRAINED_MODEL_OUTPUT: {"type": "mlflow_model"}}
    job["jobs"] = {p.job.step_name: step}
    return job


def _model(r: Resolved) -> dict[str, Any]:
    m = r.params.registered_model
    doc: dict[str, Any] = {
        "$schema": SCHEMAS[names.MODEL_FILE],
        "name": r.registered_model_name,
        "version": m.version,
        "type": "mlflow_model",
        "path": model_path(JOB_NAME_PLACEHOLDER),
    }
    if m.description:
        doc["description"] = m.description
    doc["tags"] = {**resource_tags(r), "base_model": registry_model_id(r)}
    return doc


def _endpoint(r: Resolved) -> dict[str, Any]:
    e = r.params.endpoint
    doc: dict[str, Any] = {
        "$schema": SCHEMAS[names.ENDPOINT_FILE],
        "name": e.name.lower(),
        "auth_mode": e.auth_mode,
    }
    if e.description:
        doc["description"] = e.description
    doc["tags"] = resource_tags(r)
    return doc


def _deployment(r: Resolved) -> dict[str, Any]:
    d = r.params.deployment
    doc: dict[str, Any] = {
        "$schema": SCHEMAS[names.DEPLOYMENT_FILE],
        "name": d.name.lower(),
        "endpoint_name": r.params.endpoint.name.lower(),
        "model": f"azureml:{r.registered_model_name}:{r.params.registered_model.version}",
        "instance_type": d.instance_type,
        "instance_count": d.instance_count,
        "request_settings": d.request_settings.model_dump(),
        "liveness_probe": d.liveness_probe.model_dump(),
        "readiness_probe": d.readiness_probe.model_dump(),
    }
    if d.environment_variables:
        doc["environment_variables"] = {
            key: str(value) for key, value in sorted(d.environment_variables.items())
        }
    doc["tags"] = resource_tags(r)
    return doc


def _command(r: Resolved, out_root: str) -> str:
    parts = ["amlgen", "render", "--env", r.env]
    if out_root != OUTPUT_DIR:
        parts += ["--out", out_root]
    for expr in r.overrides:
        parts += ["--set", expr]
    return " ".join(parts)


def _header(r: Resolved, name: str, out_root: str) -> str:
    lines = [
        f"# Generated by amlgen {__version__} from {' + '.join(r.sources)}"
        + (f" with --set {', '.join(r.overrides)}" if r.overrides else "")
        + ". Do not edit:",
        f"# change the params and run `{_command(r, out_root)}` (CI checks with --check).",
    ]
    if name == names.MODEL_FILE:
        lines += [
            f"# `path` names the pipeline job's {TRAINED_MODEL_OUTPUT} output; the job name exists",
            "# only after submission, so registration completes it:",
            f"#   az ml model create -f model.yml --set path={model_path('<job name>')}",
            "# (`amlgen register` does this from the recorded job).",
        ]
    lines += ftrender.header_notes(name)
    if name == names.PIPELINE_JOB_FILE and r.defaults_applied:
        lines.append(
            f"# finetune inputs include the model's model_specific_defaults "
            f"(model.specific_defaults: {r.params.model.specific_defaults})."
        )
    return "\n".join(lines) + "\n"


def render(resolved: Resolved, out_root: str = OUTPUT_DIR) -> dict[str, str]:
    """Render one environment. Returns {path relative to the project: text}.

    `out_root` is the output folder relative to the project; data paths in the job are made
    relative to `<out_root>/<env>/`, as Azure ML resolves them from the YAML's folder.
    """
    out_dir = resolved.project_dir / out_root / resolved.env
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        names.COMPUTE_FILE: lambda: _compute(resolved),
        names.PIPELINE_JOB_FILE: lambda: _pipeline_job(resolved, out_dir),
        names.MODEL_FILE: lambda: _model(resolved),
        names.ENDPOINT_FILE: lambda: _endpoint(resolved),
        names.DEPLOYMENT_FILE: lambda: _deployment(resolved),
    }
    if resolved.params.compute.kind != "cluster":
        del builders[names.COMPUTE_FILE]
    if resolved.params.method == "finetuning_job":
        tags = resource_tags(resolved)
        del builders[names.PIPELINE_JOB_FILE], builders[names.MODEL_FILE]
        builders[ftrender.JOB_FILE] = lambda: ftrender.job(
            resolved, out_dir, job_tags(resolved), registry_model_id(resolved)
        )
        if resolved.serving == "serverless":
            del builders[names.ENDPOINT_FILE], builders[names.DEPLOYMENT_FILE]
            builders[ftrender.SERVERLESS_ENDPOINT_FILE] = lambda: ftrender.serverless_endpoint(
                resolved, tags
            )
    files: dict[str, str] = {}
    for name, build in builders.items():
        rel = f"{out_root}/{resolved.env}/{name}"
        files[rel] = _header(resolved, name, out_root) + dump(build())
    return files


# --- the job files a data preparation re-renders ------------------------------------------------


@dataclass(frozen=True)
class JobRefresh:
    """A rendered job file that reads a data folder: `amlgen data` renders it again, with the new
    data's fingerprint, in the same transaction as the data."""

    rel: str  # relative to the project
    resolved: Resolved

    def text(self, data_fingerprint: str | None) -> str:
        fresh = replace(self.resolved, data_fingerprint=data_fingerprint)
        return render(fresh)[self.rel]


def data_readers(project_dir: Path | str, data_dir: Path) -> tuple[list[JobRefresh], list[str]]:
    """The job files (in `azureml/<env>/`) of every environment whose params read `data_dir`.

    Only job files that match their params today are listed: a data run re-tags the job and
    never carries a pending params change into one file of an environment. The others, and
    environments whose params do not load, get a note; environments not rendered yet need
    nothing (their first render reads the new manifest).
    """
    root = Path(project_dir)
    target = data_dir.resolve()
    refresh: list[JobRefresh] = []
    notes: list[str] = []
    for env in environments(root):
        try:
            resolved = load_params(env, root)
        except AmlgenError:
            continue  # render reports it; data does not depend on it
        if (root / resolved.params.data.dir).resolve() != target:
            continue
        for rel, text in render(resolved).items():
            if rel.rsplit("/", 1)[-1] not in JOB_FILES:
                continue
            path = root / rel
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if current is None:
                continue
            if current == text:
                refresh.append(JobRefresh(rel, resolved))
            else:
                notes.append(
                    f"note: {rel} does not match its params: left as it is; run `amlgen render "
                    f"--env {env}` to render it with the new data"
                )
    return refresh, notes


# --- writing and checking ----------------------------------------------------------------------


@dataclass
class FileStatus:
    path: str
    status: str  # created | updated | unchanged | removed | stale
    diff: str = ""


def _managed_files(root: Path, out_root: str, envs: Iterable[str]) -> set[str]:
    """Files amlgen owns under the output folder for these environments."""
    found: set[str] = set()
    for env in envs:
        folder = root / out_root / env
        if folder.is_dir():
            for path in folder.glob("*.yml"):
                text = path.read_text(encoding="utf-8", errors="replace")
                if text.startswith("# Generated by amlgen"):
                    found.add(f"{out_root}/{env}/{path.name}")
    return found


def _stale_env_dirs(root: Path, out_root: str, envs: list[str]) -> set[str]:
    folder = root / out_root
    if not folder.is_dir():
        return set()
    return {
        p.name
        for p in folder.iterdir()
        if p.is_dir() and p.name not in envs and not p.name.startswith(".")
    }


def _compare(
    files: dict[str, str], root: Path, envs: list[str], out_root: str, prune_all_envs: bool
) -> tuple[list[FileStatus], list[tuple[Path, str]], list[str]]:
    """Per-file status against what is on disk, the files to write and the leftovers."""
    results: list[FileStatus] = []
    scan_envs = set(envs)
    if prune_all_envs:
        scan_envs |= _stale_env_dirs(root, out_root, envs)
    leftovers = sorted(_managed_files(root, out_root, scan_envs) - set(files))
    pending: list[tuple[Path, str]] = []
    for rel, text in sorted(files.items()):
        path = root / rel
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old == text:
            results.append(FileStatus(rel, "unchanged"))
            continue
        diff = "".join(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"a/{rel}" if old is not None else "/dev/null",
                tofile=f"b/{rel}",
            )
        )
        results.append(FileStatus(rel, "created" if old is None else "updated", diff))
        pending.append((path, text))
    for rel in leftovers:
        old = (root / rel).read_text(encoding="utf-8")
        diff = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True), [], fromfile=f"a/{rel}", tofile="/dev/null"
            )
        )
        results.append(FileStatus(rel, "removed", diff))
    return results, pending, leftovers


def sync(
    files: dict[str, str],
    root: Path,
    envs: list[str],
    out_root: str = OUTPUT_DIR,
    check: bool = False,
    prune_all_envs: bool = False,
) -> list[FileStatus]:
    """Write `files` under `root` (or compare, with check=True) and find generated leftovers.

    Leftovers are generated files in the rendered environments that nothing produces any more,
    and with `prune_all_envs`, whole environment folders whose params overlay is gone.

    Writing is one folder transaction (generator.atomic): every changed `<out_root>/<env>/` is
    staged beside itself and swapped in, so after a crash at any moment each holds one render's
    files, never a mix; the next run finishes or drops what a killed one left. The comparison
    runs under the transaction's lock, so concurrent renders apply one after the other.
    """
    if check:
        atomic.recover(root)
        return _compare(files, root, envs, out_root, prune_all_envs)[0]
    outputs = root / out_root
    singles: list[tuple[Path, str]] = []
    with atomic.FolderTransaction(root) as txn:
        results, pending, leftovers = _compare(files, root, envs, out_root, prune_all_envs)
        for path, text in pending:
            if path.parent.parent == outputs:
                txn.write(path, text)
            else:
                singles.append((path, text))
        for rel in leftovers:
            txn.remove(root / rel)
        txn.commit()
        atomic.sweep(outputs)
        for env in envs:
            atomic.sweep(outputs / env)
    for path, text in singles:  # params/params.schema.json: one file, from the code alone
        write_atomic(path, text)
    for rel in files:
        if (root / rel).parent.parent != outputs:
            atomic.sweep((root / rel).parent, (root / rel).name)  # a killed write's temp file
    return results


def _checked_out_root(out_root: str, root: Path, envs: list[str]) -> str:
    """The output folder relative to the project, once it and every `<out>/<env>/` passed the
    output-root rules (generator.outputs), before anything is rendered or written."""
    folder = outputs.check_root(out_root, root, "--out", swapped=False)
    rel = Path(os.path.relpath(folder, os.path.abspath(root))).as_posix()
    for env in envs:
        outputs.check_root(f"{rel}/{outputs.check_env_name(env)}", root, "--out")
    return rel


def render_environments(
    envs: list[str],
    project_dir: Path | str = ".",
    overrides: list[str] | tuple[str, ...] = (),
    out_root: str = OUTPUT_DIR,
    check: bool = False,
    all_envs: bool = False,
    log: Callable[[str], None] | None = None,
    validate: Callable[[dict[str, str], Path], None] | None = None,
) -> list[FileStatus]:
    """Render (or check) several environments as one transaction.

    Everything is rendered and validated in memory first; if any environment fails, nothing is
    written. Also keeps `params/params.schema.json` in step with the params model.
    """
    root = Path(project_dir)
    loaded = [load_params(env, root, list(overrides)) for env in envs]
    out_root = _checked_out_root(out_root, root, envs)
    files: dict[str, str] = {}
    for env, resolved in zip(envs, loaded, strict=True):
        if log:
            for key, (old, new) in sorted(resolved.defaults_overrode.items()):
                log(
                    f"note: {env}: finetune.{key}: {old!r} replaced by {new!r} from the model's "
                    "model_specific_defaults (set model.specific_defaults: fill to keep yours)"
                )
            for key in resolved.hyperparameters_dropped:
                log(
                    f"note: {env}: finetune.{key} (from {resolved.sources[0]}) is not a "
                    f"hyper-parameter of {resolved.params.compute.kind} fine-tuning jobs: left out"
                )
        files.update(render(resolved, out_root))
    if validate is not None:
        validate(files, root)
    files["params/params.schema.json"] = schema_text()
    try:
        return sync(files, root, envs, out_root, check=check, prune_all_envs=all_envs)
    except OSError as exc:
        raise RenderError(f"cannot write {exc.filename}: {exc.strerror}") from None

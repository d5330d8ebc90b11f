"""Layer 6: checks across the files of one asset set and against the model's registry metadata.

A folder of YAML is deployed together, so its files must agree: the deployment's endpoint and
model are the ones defined beside it, the cluster the job names has the GPUs the job asks for and
is a size the model may be fine-tuned on, and the local data files exist and look like chat data.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import catalog, chatrows, lifecycle, reading
from ..catalog.allow_lists import finetune_refusal, inference_warning
from ..catalog.uri import MODELS, parse_registry_uri
from .assets import Asset
from .component import Node, SpecLookup, is_local, lookup_bundled, pipeline_nodes
from .findings import CROSS, ERROR, INFO, WARNING, Finding, YamlPath, finding
from .kinds import COMPUTE, DEPLOYMENT, ENDPOINT, MODEL, PIPELINE_JOB
from .rules import check_vm_size

ModelLookup = Callable[[str, str], "catalog.ModelVersion | None"]
Candidates = Iterable[catalog.ModelVersion] | None
JOB_OUTPUT_PATH = re.compile(r"^azureml://jobs/(?P<job>[^/]+)/outputs/(?P<output>[^/]+)/?$")
DATA_LINES = 5  # "looks like chat JSONL": the first rows only, so validation stays cheap
DATA_LINE_BYTES = 32 * reading.MIB  # a chat row longer than this is not one the service trains on


def lookup_model(name: str, version: str) -> catalog.ModelVersion | None:
    return catalog.model(name, version)


# The chat fine-tune component and its inputs that take chat JSONL (facts §7): the chat-row rule
# applies to these files only, never to any other local .jsonl (benchmark data, metrics).
CHAT_COMPONENT = "chat_completion_pipeline"
CHAT_DATA_INPUTS = ("train_file_path", "validation_file_path", "test_file_path")


def finetune_node(nodes: list[Node]) -> Node | None:
    for node in nodes:
        if node.spec and "number_of_gpu_to_use_finetuning" in node.spec.inputs:
            return node
    return None


def chat_data_paths(job: Asset, nodes: list[Node]) -> set[YamlPath]:
    """Where a pipeline names the local files that feed chat fine-tuning."""
    out: set[YamlPath] = set()
    for node in nodes:
        if node.name != CHAT_COMPONENT and node is not finetune_node([node]):
            continue
        for name in CHAT_DATA_INPUTS:
            parent = node.bound_inputs.get(name)
            local: YamlPath = ("jobs", node.key, "inputs", name, "path")
            out.add(("inputs", parent, "path") if parent else local)
    return out


def base_model(job: Asset, node: Node) -> tuple[YamlPath, str | None]:
    """(where the base model is named, its registry id)."""
    parent = node.bound_inputs.get("mlflow_model_path")
    if parent is not None:
        decl = job.get("inputs", parent)
        if isinstance(decl, dict) and isinstance(decl.get("path"), str):
            return ("inputs", parent, "path"), decl["path"]
        return ("inputs", parent), None
    raw = job.get("jobs", node.key, "inputs", "mlflow_model_path")
    if isinstance(raw, dict) and isinstance(raw.get("path"), str):
        return ("jobs", node.key, "inputs", "mlflow_model_path", "path"), raw["path"]
    return ("jobs", node.key), None


def _model_meta(
    job: Asset, node: Node, models: ModelLookup, out: list[Finding], candidates: Candidates = None
) -> catalog.ModelVersion | None:
    path, ref = base_model(job, node)
    if ref is None:
        return None
    m = parse_registry_uri(ref, MODELS)
    if not m or (m.version is None and m.label is None):
        return None
    name, version, label = m.name, m.version, m.label
    if label:
        out.append(
            finding(
                job,
                path,
                WARNING,
                "cross.model-unpinned",
                f"model {name} label {label!r} is not reproducible and its metadata "
                "cannot be checked: pin a version",
                CROSS,
            )
        )
        return None
    meta = models(name, str(version))
    if meta is None:
        known = catalog.model_versions(name)
        if known:
            out.append(
                finding(
                    job,
                    path,
                    INFO,
                    "cross.model-unknown-version",
                    f"{name} version {version} is not in the bundled catalog "
                    f"({', '.join(known)}): its allow lists cannot be checked",
                    CROSS,
                )
            )
        else:
            out.append(
                finding(
                    job,
                    path,
                    INFO,
                    "cross.model-not-bundled",
                    f"{name} is not in the bundled model catalog: allow lists and "
                    "lifecycle not checked",
                    CROSS,
                )
            )
        return None
    out += _lifecycle(job, path, meta, candidates)
    return meta


def _lifecycle(
    job: Asset, path: YamlPath, meta: catalog.ModelVersion, candidates: Candidates
) -> list[Finding]:
    judgement = lifecycle.judge(meta, candidates=candidates)  # generator/lifecycle.py
    msg = judgement.message()
    if not msg:
        return []
    stage = _acknowledged_stage(job)
    if judgement.acknowledged_by(stage):
        note = f"{msg} (kept on purpose: params model.acknowledged_lifecycle: {stage})"
        return [finding(job, path, INFO, "cross.model-lifecycle-acknowledged", note, CROSS)]
    return [finding(job, path, WARNING, "cross.model-lifecycle", msg, CROSS)]


def _acknowledged_stage(job: Asset) -> str | None:
    env = env_params(job)
    return env.acknowledged if env is not None else None


@dataclass(frozen=True)
class EnvFacts:
    """What validation takes from the params of the environment a rendered file belongs to."""

    name: str
    prepared: frozenset[Path]  # the data files `amlgen data --env <name>` writes
    acknowledged: str | None  # params model.acknowledged_lifecycle


def env_params(asset: Asset) -> EnvFacts | None:
    """The facts of the environment a file of azureml/<env>/ belongs to (params/<env>.yaml), or
    None for any other file or unreadable params (validate's params layer reports those)."""
    project = project_of(asset)
    env = _env_of(asset, project) if project is not None else None
    if project is None or env is None:
        return None
    files = (project / "params" / "base.yaml", project / "params" / f"{env}.yaml")
    try:
        stamp = tuple(f.stat().st_mtime_ns for f in files)
    except OSError:
        return None
    return _env_facts(str(project.resolve()), env, stamp)


@functools.lru_cache(maxsize=32)
def _env_facts(project: str, env: str, stamp: tuple[int, ...]) -> EnvFacts | None:
    from ..errors import AmlgenError
    from ..params import load_params

    try:
        p = load_params(env, Path(project)).params
    except AmlgenError:
        return None
    folder = Path(os.path.realpath(Path(project) / p.data.dir))
    prepared = frozenset(folder / f"{split}.jsonl" for split in p.data.splits)
    return EnvFacts(env, prepared, p.model.acknowledged_lifecycle)


def _base(asset: Asset) -> str:
    """A sibling file's name: messages read the same from any working directory."""
    return Path(asset.name).name


def _listed(items: list[Any], most: int = 5) -> str:
    """At most `most` items of a list for a message, and how many more there are."""
    shown = ", ".join(reading.clip(str(i)) if len(str(i)) > 80 else str(i) for i in items[:most])
    return shown + (f", ... ({len(items) - most} more)" if len(items) > most else "")


def _by_kind(assets: list[Asset], kind: str) -> list[Asset]:
    return [a for a in assets if a.kind == kind and isinstance(a.data, dict)]


def _finetune_compute(
    job: Asset, node: Node, assets: list[Asset], meta: catalog.ModelVersion | None
) -> list[Finding]:
    out: list[Finding] = []
    inputs: YamlPath = ("jobs", node.key, "inputs")
    target = node.effective("compute_finetune")
    size: str | None = None
    size_path: YamlPath = inputs
    cluster: Asset | None = None
    if isinstance(target, str) and target.lower() == "serverless":
        size = node.effective("instance_type_finetune")
        size_path = (
            (*inputs, "instance_type_finetune")
            if ("instance_type_finetune" in node.literals)
            else (*inputs, "compute_finetune")
        )
        if "instance_type_finetune" not in node.literals:
            out += check_vm_size(
                job,
                size_path,
                size,
                f"serverless fine-tuning (the default instance_type_finetune {size})",
            )
    elif isinstance(target, str):
        clusters = [c for c in _by_kind(assets, COMPUTE) if c.get("name") == target]
        if not clusters:
            if _by_kind(assets, COMPUTE):
                names = _listed([str(c.get("name")) for c in _by_kind(assets, COMPUTE)])
                out.append(
                    finding(
                        job,
                        (*inputs, "compute_finetune"),
                        ERROR,
                        "cross.compute-missing",
                        f"compute {target!r} is not the cluster defined in this set ({names})",
                        CROSS,
                    )
                )
            else:
                out.append(
                    finding(
                        job,
                        (*inputs, "compute_finetune"),
                        INFO,
                        "cross.compute-unknown",
                        f"cluster {target!r} is not defined in this set: its VM size "
                        "is not checked",
                        CROSS,
                    )
                )
            return out
        cluster = clusters[0]
        size = cluster.get("size")
    if not isinstance(size, str):
        return out
    vm = catalog.vm_size(size)
    if vm is None:
        return out  # layer 5 reports unknown sizes
    where = f"cluster {cluster.get('name')!r} ({vm.name})" if cluster else vm.name
    gpus_path = (*inputs, "number_of_gpu_to_use_finetuning")
    if "number_of_gpu_to_use_finetuning" not in node.literals:
        gpus_path = inputs
    if vm.gpus < 1:
        out.append(
            finding(
                job,
                gpus_path,
                ERROR,
                "cross.gpus",
                f"fine-tuning runs on {where}, which has no GPU",
                CROSS,
            )
        )
    else:
        want = node.effective("number_of_gpu_to_use_finetuning")
        want_n = int(want) if isinstance(want, int | str) and str(want).isdigit() else None
        if want_n is not None and want_n > vm.gpus:
            out.append(
                finding(
                    job,
                    gpus_path,
                    ERROR,
                    "cross.gpus",
                    f"number_of_gpu_to_use_finetuning {want_n} exceeds the {vm.gpus} "
                    f"GPU(s) per node of {where}",
                    CROSS,
                )
            )
        elif want_n is not None and want_n < vm.gpus:
            out.append(
                finding(
                    job,
                    gpus_path,
                    WARNING,
                    "cross.gpus",
                    f"number_of_gpu_to_use_finetuning {want_n} uses only part of the "
                    f"{vm.gpus} GPUs per node of {where}",
                    CROSS,
                )
            )
    nodes = node.effective("num_nodes_finetune")
    top = cluster.get("max_instances") if cluster else None
    top_name = cluster.get("name") if cluster else None
    if isinstance(nodes, int) and isinstance(top, int) and nodes > top >= 1:
        out.append(
            finding(
                job,
                (*inputs, "num_nodes_finetune"),
                ERROR,
                "cross.nodes",
                f"num_nodes_finetune {nodes} exceeds max_instances {top} of cluster {top_name!r}",
                CROSS,
            )
        )
    place = cluster if cluster else job
    place_path: YamlPath = ("size",) if cluster else size_path
    allow = meta.finetune_allow_list if meta else ()
    why = finetune_refusal(vm.name, allow, f"{meta.name} {meta.version}" if meta else "")
    if why:
        out.append(finding(place, place_path, ERROR, "cross.finetune-allow-list", why, CROSS))
    return out


def _deployment(
    dep: Asset, endpoints: list[Asset], models: list[Asset], meta: catalog.ModelVersion | None
) -> list[Finding]:
    """`endpoints` and `models`: those of the set, found once per set (a set of thousands of
    deployments must not scan every file once per deployment)."""
    out: list[Finding] = []
    ep_name = dep.get("endpoint_name")
    if endpoints and ep_name is not None:
        names = [e.get("name") for e in endpoints]
        if str(ep_name).lower() not in {str(n).lower() for n in names}:  # the SDK lower-cases
            out.append(
                finding(
                    dep,
                    ("endpoint_name",),
                    ERROR,
                    "cross.endpoint-name",
                    f"endpoint_name {reading.clip(ep_name)} is not the endpoint defined in "
                    f"this set ({_listed(names)})",
                    CROSS,
                )
            )
    ref = dep.get("model")
    name = version = None
    if isinstance(ref, str) and ref.startswith("azureml:") and not ref.startswith("azureml://"):
        parts = ref[len("azureml:") :].split(":")
        name, version = parts[0], (parts[1] if len(parts) > 1 else None)
    elif isinstance(ref, dict):
        name, version = ref.get("name"), ref.get("version")
    if models and name is not None:
        same = [m for m in models if m.get("name") == name]
        if not same:
            regs = _listed([f"{_base(m)} registers {m.get('name')!r}" for m in models])
            msg = f"deploys model {reading.clip(name)} but {regs}"
            out.append(finding(dep, ("model",), ERROR, "cross.model-ref", msg, CROSS))
        elif version is not None and all(
            m.get("version") is not None and str(m.get("version")) != str(version) for m in same
        ):
            m = same[0]
            msg = (
                f"deploys {name} version {version} but {_base(m)} registers version "
                f"{m.get('version')}"
            )
            out.append(finding(dep, ("model",), ERROR, "cross.model-ref", msg, CROSS))
    size = dep.get("instance_type")
    managed = dep.variant != "kubernetes"  # a Kubernetes instance type is not a VM size
    if managed and meta and isinstance(size, str):
        why = inference_warning(size, meta.inference_allow_list, f"{meta.name} {meta.version}")
        if why:
            path: YamlPath = ("instance_type",)
            out.append(finding(dep, path, WARNING, "cross.inference-allow-list", why, CROSS))
    return out


def _model_path(model: Asset, jobs: list[Asset]) -> list[Finding]:
    path = model.get("path")
    if not isinstance(path, str):
        return []
    m = JOB_OUTPUT_PATH.match(path)
    if m:
        for job in jobs:
            outputs = job.get("outputs")
            if isinstance(outputs, dict) and m.group("output") not in outputs:
                return [
                    finding(
                        model,
                        ("path",),
                        ERROR,
                        "cross.model-path",
                        f"the pipeline job in this set has no output "
                        f"{m.group('output')!r} (outputs: {', '.join(outputs)})",
                        CROSS,
                    )
                ]
        return []
    if is_local(path) and not (model.path.parent / path).exists():
        return [
            finding(
                model,
                ("path",),
                ERROR,
                "cross.model-path",
                f"local model path {path!r} does not exist (relative to {_base(model)})",
                CROSS,
            )
        ]
    return []


def _data_inputs(job: Asset, nodes: list[Node]) -> list[tuple[YamlPath, Path]]:
    out: list[tuple[YamlPath, Path]] = []
    inputs = job.get("inputs")
    skip = {n.bound_inputs.get("deepspeed") for n in nodes}
    if isinstance(inputs, dict):
        for name, decl in inputs.items():
            if name in skip or not isinstance(decl, dict):
                continue
            path = decl.get("path")
            if isinstance(path, str) and is_local(path):
                out.append((("inputs", name, "path"), job.path.parent / path))
    for node in nodes:
        for name, local in node.local_paths.items():
            if name != "deepspeed" and name not in node.bound_inputs:
                out.append((("jobs", node.key, "inputs", name, "path"), local))
    return out


def project_of(asset: Asset) -> Path | None:
    """The amlgen project a file belongs to (the nearest folder above it with params/base.yaml),
    so findings do not depend on the working directory or on -C."""
    here = Path(os.path.realpath(asset.path)).parent
    for folder in (here, *here.parents):
        if (folder / "params" / "base.yaml").is_file():
            return folder
    return None


def _env_of(asset: Asset, project_dir: Path) -> str | None:
    # azureml/<env>/ mirrors params/<env>.yaml; a file test avoids importing the params model.
    env = asset.path.parent.name
    return env if env != "base" and (project_dir / "params" / f"{env}.yaml").is_file() else None


def missing_data(job: Asset, path: YamlPath, local: Path) -> Finding:
    """A local data file that is not there. A split `amlgen data` writes for this environment
    is prepared at submission time, not a defect of the committed YAML: a note. Anything else
    cannot be uploaded: an error."""
    shown = job.get(*path)
    env = env_params(job)
    if env is not None and Path(os.path.realpath(local)) in env.prepared:
        return finding(
            job,
            path,
            INFO,
            "cross.data-missing",
            f"{shown} is not prepared yet: `amlgen data --env {env.name}` writes it before "
            "submission (the pre-flight refuses to submit without it)",
            CROSS,
        )
    return finding(
        job,
        path,
        ERROR,
        "cross.data-missing",
        f"{shown} does not exist (paths resolve from the YAML's folder, as Azure ML does)",
        CROSS,
    )


def check_chat_jsonl(local: Path) -> list[tuple[str, str]]:
    """Problems of the first rows of a chat JSONL file: (severity, message). The file is read
    through generator.reading: a FIFO, device or loop is refused without blocking, and a line is
    read in bounded pieces (a 10 GB file without a newline costs at most DATA_LINE_BYTES)."""
    out: list[tuple[str, str]] = []
    rows = 0
    try:
        with reading.open_regular(local, None, local.name) as fh:
            for number, raw in reading.lines(fh, DATA_LINE_BYTES, local.name):
                if not raw.strip():
                    continue
                rows += 1
                if rows > DATA_LINES:
                    break
                try:
                    row = json.loads(raw.decode("utf-8"))
                except (ValueError, RecursionError):
                    return [(ERROR, f"line {number} is not JSON: the file must be JSON Lines")]
                if not isinstance(row, dict) or "messages" not in row:
                    return [
                        (
                            ERROR,
                            f"line {number} has no `messages` column (the service "
                            "reads chat data only from `messages`)",
                        )
                    ]
                reason = chatrows.row_reason(row["messages"])
                if reason:
                    problem = chatrows.REASONS[reason][1]
                    out.append((WARNING, f"line {number}: {problem}: the service drops such rows"))
    except reading.ReadRefused as exc:
        where = exc.where.removeprefix(local.name).lstrip(":")
        return [(ERROR, f"line {where}: {exc.reason}" if where else exc.reason)]
    if rows == 0:
        return [(ERROR, "the file is empty: fine-tuning needs at least 10 training rows")]
    return out


def check_set(
    assets: list[Asset],
    project_dir: Path,
    lookup: SpecLookup = lookup_bundled,
    models: ModelLookup = lookup_model,
    candidates: Candidates = None,
) -> list[Finding]:
    """Every cross-file and model-metadata check of one asset set (`candidates`: the model
    versions lifecycle successors are chosen from; default the bundled catalog)."""
    out: list[Finding] = []
    jobs = _by_kind(assets, PIPELINE_JOB)
    meta: catalog.ModelVersion | None = None
    for job in jobs:
        nodes = pipeline_nodes(job, lookup)
        node = finetune_node(nodes)
        if node is not None:
            meta = _model_meta(job, node, models, out, candidates) or meta
            out += _finetune_compute(job, node, assets, meta)
        chat = chat_data_paths(job, nodes)
        for path, local in _data_inputs(job, nodes):
            kind = reading.kind_of(local)
            if kind is None:
                out.append(missing_data(job, path, local))
            elif kind in ("other", "loop") or (
                path in chat and kind == "file" and local.suffix.lower() == ".jsonl"
            ):
                for sev, msg in check_chat_jsonl(local):
                    out.append(finding(job, path, sev, "cross.data", f"{local.name}: {msg}", CROSS))
    endpoints, registered = _by_kind(assets, ENDPOINT), _by_kind(assets, MODEL)
    for dep in _by_kind(assets, DEPLOYMENT):
        out += _deployment(dep, endpoints, registered, meta)
    for model in _by_kind(assets, MODEL):
        out += _model_path(model, jobs)
    return out

"""Loading one environment's parameters: `params/base.yaml`, the `params/<env>.yaml` overlay
(mappings merge key by key, anything else is replaced) and `--set a.b=value` overrides, checked by
the typed model (generator.params.model) with every error naming the file and line that set the
offending value; then what follows from the model (model-specific defaults, sizes, names) and
the fingerprints that tie rendered files to their params and data.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from .. import catalog, limits, names, reading
from ..catalog import lockfile
from ..errors import ParamsError
from ..finetuning import spec as ftspec
from ..outputs import check_env_name
from ..reading import clip, shown_text
from ..yamlio import Document, Path_, YamlReadError, parse, read
from .model import BASE_FILE, COMPONENT_NAME, DERIVED_INPUTS, PARAMS_DIR, Params

# --- loading -----------------------------------------------------------------------------------


@dataclass
class Resolved:
    """Parameters of one environment after overlays, --set and model defaults."""

    env: str
    params: Params
    sources: list[str]  # params files, relative to the project, base first
    overrides: list[str]
    project_dir: Path
    component: catalog.ComponentSpec | None
    # Component inputs in the component's own types, as the job YAML passes them.
    finetune_inputs: dict[str, Any]
    gpus_per_node: int
    registered_model_name: str
    # method finetuning_job: the job's hyper-parameters, as the strings the service parses.
    hyperparameters: dict[str, str] = field(default_factory=dict)
    hyperparameters_dropped: list[str] = field(default_factory=list)  # base.yaml inputs not taken
    defaults_applied: dict[str, Any] = field(default_factory=dict)
    defaults_overrode: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    defaults_dropped: list[str] = field(default_factory=list)
    data_fingerprint: str | None = None

    @property
    def serving(self) -> str:
        """`serverless` (a serverless endpoint) or `managed` (an online deployment)."""
        return ftspec.serving_kind(self.params.method, self.params.compute.kind)

    @property
    def fingerprint(self) -> str:
        """Hash of everything that decides what runs (not of file names or comments, nor of
        the lifecycle acknowledgement, which only decides how validation reports). The budget
        decides whether a run may start, not what runs: changing it re-tags nothing."""
        payload = {
            "params": self.params.model_dump(
                mode="json", exclude={"budget": True, "model": {"acknowledged_lifecycle"}}
            ),
            "finetune_inputs": self.finetune_inputs,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def environments(project_dir: Path | str = ".") -> list[str]:
    """Environment names: every `params/<env>.yaml` beside base.yaml."""
    folder = Path(project_dir) / PARAMS_DIR
    return sorted(
        p.stem for p in folder.glob("*.yaml") if p.name != BASE_FILE and not p.name.startswith(".")
    )


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return overlay


MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # a few KB: source, counts and one hash per file
MAX_SET_PATH = 256  # characters of a --set path: far above any real one


def _set_override(tree: dict[str, Any], expr: str) -> Path_:
    if "=" not in expr:
        raise ParamsError([f"--set {shown_text(expr)}: expected path.to.key=value"])
    dotted, raw = expr.split("=", 1)
    keys = [k for k in dotted.strip().split(".")]
    if not dotted.strip() or any(not k for k in keys) or len(dotted) > MAX_SET_PATH:
        raise ParamsError([f"--set {shown_text(expr)}: expected path.to.key=value"])
    value = _set_value(dotted.strip(), raw)
    node: Any = tree
    for i, key in enumerate(keys[:-1]):
        if not isinstance(node, dict):
            prefix = ".".join(keys[:i])
            raise ParamsError([f"--set {dotted}: {prefix} is not a mapping"])
        node = node.setdefault(key, {})
    if not isinstance(node, dict):
        raise ParamsError([f"--set {dotted}: {'.'.join(keys[:-1])} is not a mapping"])
    node[keys[-1]] = value
    return tuple(keys)


def _set_value(dotted: str, raw: str) -> Any:
    """A --set value parsed as YAML by the one reader, with the params files' limits (size,
    nesting, nodes after alias expansion) and duplicate keys refused; text that is not YAML at
    all stays the string it is."""
    if not raw.strip():
        return ""
    try:
        return parse(raw, f"--set {dotted}").data
    except YamlReadError as exc:
        if exc.code == "yaml.malformed" and raw.isprintable():
            return raw
        raise ParamsError([f"--set {dotted}: {exc.message}"]) from None


def _model_fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _allowed_here(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Params
    for part in loc[:-1]:
        field_info = getattr(model, "model_fields", {}).get(part)
        if field_info is None:
            return []
        ann = field_info.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return []
    return _model_fields(model) if model else []


def _friendly(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_here(loc)
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        shown = ", ".join(allowed) if len(allowed) <= 12 else ", ".join(allowed[:12]) + ", ..."
        return f"unknown key{hint} (allowed: {shown})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind.endswith("_type") or kind in ("literal_error", "string_type", "finite_number"):
        msg = f"{msg}, got {clip(err.get('input'))}"
    return msg


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds union member names ("literal[...]", "int", ...) into the location.
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS)))


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "function-before[_version_str(), str]"}


def _problems(exc: ValidationError, where: dict[Path_, str]) -> list[str]:
    seen: set[tuple[Any, ...]] = set()
    out: list[str] = []
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]))
        if loc in seen:
            continue  # one line per path, even when several union members complained
        seen.add(loc)
        dotted = ".".join(str(p) for p in loc)
        prefix = _locate(loc, where)
        out.append(f"{prefix}{dotted}: {_friendly({**err, 'loc': loc})}")
    return out


def _locate(loc: tuple[Any, ...], where: dict[Path_, str]) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in where:
            return where[loc[:n]] + ": "
    return ""


def _to_component(spec: catalog.InputSpec, value: Any) -> Any:
    """A params value in the component input's own type (flags and numeric enums as strings)."""
    if spec.is_flag:
        if isinstance(value, str):
            return value.lower()
        return "true" if value else "false"
    if spec.enum is not None:
        return str(value)
    if spec.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _from_model_default(spec: catalog.InputSpec, value: Any) -> Any:
    """A `model_specific_defaults` value (often the wrong YAML type) in the params type."""
    if spec.is_flag:
        return str(value).lower() == "true"
    if spec.enum is not None:
        text = str(value)
        return (
            int(text)
            if re.fullmatch(r"\d+", text) and all(e.isdigit() for e in spec.enum)
            else text
        )
    if spec.type == "number":
        return float(value)
    if spec.type == "integer":
        return int(value)
    return value


def sanitize_model_name(name: str) -> str:
    """Workspace model names allow letters, digits, '-' and '_' only (no dots, no slashes)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return cleaned if re.match(r"^[A-Za-z0-9]", cleaned) else "m" + cleaned


def load_params(
    env: str = "dev",
    project_dir: Path | str = ".",
    overrides: Sequence[str] = (),
) -> Resolved:
    """Load, merge, validate and resolve the parameters of one environment.

    Example: `load_params("dev", overrides=["finetune.num_train_epochs=1"])`.
    """
    root = Path(project_dir)
    folder = root / PARAMS_DIR
    envs = environments(root)
    if not env.strip():
        known = ", ".join(envs) if envs else f"none (no overlays in {folder})"
        raise ParamsError([f"--env: the environment name is empty; known: {known}"])
    check_env_name(env)
    if env not in envs:
        known = ", ".join(envs) if envs else f"none (no overlays in {folder})"
        raise ParamsError(
            [f"{folder / (env + '.yaml')}: unknown environment {env!r}; known: {known}"]
        )
    docs: list[Document] = []
    for path in (folder / BASE_FILE, folder / f"{env}.yaml"):
        rel = _rel(path, root)
        doc = read(path, rel)
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            raise ParamsError([f"{rel}:1: the file must be a mapping of sections"])
        docs.append(doc)
    tree: dict[str, Any] = {}
    where: dict[Path_, str] = {}
    for doc in docs:
        tree = _merge(tree, doc.data)
        for key_path, line in doc.lines.items():
            where[key_path] = f"{doc.source}:{line}"
    for expr in overrides:
        set_path = _set_override(tree, expr)
        for n in range(1, len(set_path) + 1):
            where.setdefault(set_path[:n], "--set")
        # Whatever was under the path came from --set now: no file line may take the blame.
        depth = len(set_path)
        for key_path in [k for k in where if len(k) > depth and k[:depth] == set_path]:
            del where[key_path]
        where[set_path] = "--set"
    try:
        params = Params.model_validate(tree)
    except ValidationError as exc:
        raise ParamsError(_problems(exc, where)) from None
    return _resolve(env, params, [d.source for d in docs], list(overrides), root, where)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _resolve(
    env: str,
    params: Params,
    sources: list[str],
    overrides: list[str],
    root: Path,
    where: dict[Path_, str],
) -> Resolved:
    problems: list[str] = []
    registry = lockfile.source(root)  # the registry lock first, then the bundled catalog
    spec = registry.component(params.component.name, params.component.version)
    user_set: dict[str, Any] = params.finetune.model_dump(exclude_none=True)  # type: ignore[attr-defined]
    merged = dict(user_set)
    applied: dict[str, Any] = {}
    overrode: dict[str, tuple[Any, Any]] = {}
    dropped: list[str] = []
    model_meta = registry.model(params.model.name, params.model.version)
    _follow_model(params, model_meta, where, problems)
    all_inputs = catalog.all_component_inputs(COMPONENT_NAME)
    if model_meta and params.model.specific_defaults != "ignore":
        known = spec.inputs if spec else all_inputs
        for key, raw in sorted(model_meta.model_specific_defaults.items()):
            input_spec = known.get(key)
            if input_spec is None or key in DERIVED_INPUTS:
                dropped.append(key)  # e.g. learning_rate_min: metadata, not a component input
                continue
            value = _from_model_default(input_spec, raw)
            if key in merged and params.model.specific_defaults == "fill":
                continue
            bound = limits.FINETUNE.get(key)
            problem = bound.problem(value) if bound else None
            if problem:
                at = _locate(("model", "name"), where)
                problems.append(
                    f"{at}finetune.{key}: {problem} (from {params.model.name}'s "
                    "model_specific_defaults: set model.specific_defaults: ignore)"
                )
                continue
            if key in merged and merged[key] != value:
                overrode[key] = (merged[key], value)
            merged[key] = value
            applied[key] = value

    finetune_inputs: dict[str, Any] = {}
    inputs = spec.inputs if spec else all_inputs
    for key, value in sorted(merged.items()):
        input_spec = inputs.get(key)
        if input_spec is None:
            loc = ("finetune", key)
            at = _locate(loc, where)
            problems.append(
                f"{at}finetune.{key}: not an input of {COMPONENT_NAME} {params.component.version}"
            )
            continue
        finetune_inputs[key] = _to_component(input_spec, value)

    seq = finetune_inputs.get("max_seq_length")
    window = model_meta.context_window if model_meta else None
    if isinstance(seq, int) and window and seq > window:
        at = _locate(("finetune", "max_seq_length"), where)
        problems.append(
            f"{at}finetune.max_seq_length: {seq} exceeds the {window}-token context window of "
            f"{params.model.name} {params.model.version} (allowed: 1..{window}, or -1)"
        )
    size = catalog.vm_size(params.compute.size) if params.compute.size else None
    gpus = params.compute.gpus_per_node or (size.gpus if size else 0)
    if gpus < 1 and params.compute.size:
        at = _locate(("compute", "size"), where)
        what = "has no GPUs" if size else "is not a known VM size"
        problems.append(
            f"{at}compute.size: {params.compute.size} {what}; fine-tuning needs a GPU size such as "
            "Standard_NC24ads_A100_v4 (or set compute.gpus_per_node)"
        )
    hyperparameters: dict[str, str] = {}
    hp_dropped: list[str] = []
    ft_problems = ftspec.support_problems(
        params.model.name,
        params.model.version,
        params.method,
        params.compute.kind,
        params.finetuning_job.task,
        params.finetuning_job.region,
    )
    if params.method == "finetuning_job":
        # Inputs inherited from base.yaml that this compute kind does not take are dropped (with
        # a note); the ones the environment itself or --set asks for must be taken.
        inherited = f"{sources[0]}:"
        asked = {k for k in user_set if not where.get(("finetune", k), "").startswith(inherited)}
        hyperparameters, hp_problems = ftspec.resolve_hyperparameters(
            params.compute.kind, finetune_inputs, asked, inputs
        )
        hp_dropped = sorted(set(user_set) - asked - set(hyperparameters))
        ft_problems += hp_problems
    if params.compute.kind == "instance_types" and not params.compute.instance_types:
        ft_problems.append(("compute.instance_types", "kind instance_types needs at least one"))
    for dotted, message in ft_problems:
        ft_loc = tuple(dotted.split("."))
        problems.append(f"{_locate(ft_loc, where)}{dotted}: {message}")
    name = params.registered_model.name or sanitize_model_name(
        f"{params.model.name}-{params.data.tag}-200k"
    )
    problem = limits.asset_name(name, "model")
    if problem and not params.registered_model.name:
        at = _locate(("model", "name"), where)
        problems.append(f"{at}registered_model.name: the default {problem}: set a shorter one")
    if problems:
        raise ParamsError(problems)
    resolved = Resolved(
        env=env,
        params=params,
        sources=sources,
        overrides=overrides,
        project_dir=root,
        component=spec,
        finetune_inputs=finetune_inputs,
        gpus_per_node=gpus,
        registered_model_name=name,
        hyperparameters=hyperparameters,
        hyperparameters_dropped=hp_dropped,
        defaults_applied=applied,
        defaults_overrode=overrode,
        defaults_dropped=dropped,
    )
    resolved.data_fingerprint = data_fingerprint(root / params.data.dir)
    return resolved


def _current_gpu_size(candidates: Sequence[str]) -> str | None:
    for name in candidates:
        vm = catalog.vm_size(name)
        if vm and vm.gpus >= 1 and not vm.retired and not vm.retiring:
            return vm.name
    return None


def _follow_model(
    params: Params,
    meta: catalog.ModelVersion | None,
    where: dict[Path_, str],
    problems: list[str],
) -> None:
    """Fill what follows from the model and was not set explicitly (names, descriptions,
    VM sizes): switching model.name/model.version is then a one-line change."""
    name = params.model.name
    if params.job.experiment_name is None:  # experiment names take no dots (Phi-3.5)
        params.job.experiment_name = sanitize_model_name(f"chat_completion_{name}")
    registered = params.registered_model.name or sanitize_model_name(
        f"{name}-{params.data.tag}-200k"
    )
    if params.registered_model.description is None:
        params.registered_model.description = (
            f"{name} fine tuned model for {params.data.tag} 200k chat-completion"
        )
    if params.endpoint.description is None:
        params.endpoint.description = f"Online endpoint serving {registered}"
    unset = [
        f"{section}.{key}"
        for section, key in (("compute", "size"), ("deployment", "instance_type"))
        if getattr(getattr(params, section), key) is None
    ]
    if unset and meta is None:
        fix = f"pick a known one or set {' and '.join(unset)}"
        versions = catalog.model_versions(name)
        if versions:
            at = _locate(("model", "version"), where)
            problems.append(
                f"{at}model.version: {name} has no version {params.model.version!r} in the model "
                f"catalog (versions: {', '.join(versions)}): {fix}"
            )
        else:
            at = _locate(("model", "name"), where)
            known = ", ".join(catalog.model_names())
            problems.append(
                f"{at}model.name: {name} {params.model.version} is not in the model catalog "
                f"(known: {known}): {fix}"
            )
        return
    for section, key, allow in (
        ("compute", "size", meta.finetune_allow_list if meta else ()),
        ("deployment", "instance_type", meta.inference_allow_list if meta else ()),
    ):
        target = getattr(params, section)
        if getattr(target, key) is not None:
            continue
        chosen = _current_gpu_size(allow)
        if chosen is None:
            at = _locate((section,), where)
            problems.append(
                f"{at}{section}.{key}: not set and {name} {params.model.version} recommends no "
                "current GPU size: set it explicitly"
            )
            continue
        setattr(target, key, chosen)


def data_fingerprint(data_dir: Path) -> str | None:
    """Hash of the prepared data's manifest (its per-file sha256), when one exists."""
    manifest = data_dir / names.MANIFEST_FILE
    try:
        files = json.loads(reading.read_text(manifest, MAX_MANIFEST_BYTES)).get("files", {})
    except (reading.ReadRefused, ValueError, RecursionError, AttributeError):
        return None  # not there, not a file, not a manifest: the data is not prepared
    return files_fingerprint(files)


def files_fingerprint(files: dict[str, Any]) -> str:
    """The `amlgen.data` tag: a hash of a manifest's `files` (per-file sha256, rows, bytes)."""
    text = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]

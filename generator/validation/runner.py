"""Running the layers over files and folders: `amlgen validate` and render's guard.

A folder is one asset set, checked file by file and across files, in layers: YAML hygiene, the
SDK's own schema checks, the registry component's interface, the fine-tune step's runtime rules,
Azure's naming rules and limits, cross-file and model-metadata checks, and (with --online) the
live registry. `render` runs every layer except the SDK's, so it stays fast and refuses to write
invalid assets. Many files in one call pay for the SDK import once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import reading
from ..catalog import lockfile
from ..errors import ParamsError, RenderError
from ..sdkenv import check_sdk_environment
from . import component, cross, finetuning, pipeline, placeholders, rules, runtime
from .assets import Asset, load_asset
from .budget import budget_findings
from .findings import (
    ERROR,
    HYGIENE,
    PARAMS,
    SDK,
    WARNING,
    Finding,
    Report,
    finding,
    finish,
)
from .sdk_schema import FIELD_FROM_COMMAND, SCHEMA

if TYPE_CHECKING:
    from .online import Online

YAML_SUFFIXES = (".yml", ".yaml")
_COMPONENT_NAME_RULE = "name should only contain lower letter"  # the SDK's ComponentNameStr
_PROBLEM = re.compile(
    r"^(?P<file>[^:\s][^:]*?):(?P<line>\d+): (?:(?P<path>[\w.\[\]-]+): )?(?P<msg>.*)$"
)


def _display(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return str(path)


def _params_findings(project_dir: Path) -> tuple[list[Finding], list[str]]:
    from ..params import BASE_FILE, PARAMS_DIR, environments, load_params

    folder = project_dir / PARAMS_DIR
    if not (folder / BASE_FILE).is_file():
        return [], []
    files = [f"{PARAMS_DIR}/{BASE_FILE}"]
    out: list[Finding] = []
    seen: set[str] = set()
    for env in environments(project_dir):
        files.append(f"{PARAMS_DIR}/{env}.yaml")
        try:
            out += budget_findings(load_params(env, project_dir), project_dir)
        except ParamsError as exc:
            for problem in exc.problems:
                if problem in seen:
                    continue  # a base.yaml problem shows up once, not once per environment
                seen.add(problem)
                m = _PROBLEM.match(problem)
                if m:
                    path = tuple(m["path"].split(".")) if m["path"] else ()
                    out.append(
                        finding(
                            m["file"],
                            path,
                            ERROR,
                            "params.invalid",
                            m["msg"],
                            PARAMS,
                            line=int(m["line"]),
                        )
                    )
                else:
                    file, _, msg = problem.partition(": ")
                    out.append(finding(file, (), ERROR, "params.invalid", msg or problem, PARAMS))
    return out, files


def _sets_in(folder: Path, seen: set[str] | None = None) -> list[list[Path]]:
    """A folder's own YAML files form one set; each subfolder is its own set.

    Folders are visited once by their real path, so a symlink loop cannot recurse forever.
    """
    seen = set() if seen is None else seen
    real = os.path.realpath(folder)
    if real in seen or reading.in_pseudo_fs(real):
        return []
    seen.add(real)
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return []
    sets: list[list[Path]] = []
    files = [p for p in entries if p.suffix in YAML_SUFFIXES and not _is_dir(p)]
    if files:
        sets.append(files)
    for sub in entries:
        if _is_dir(sub):
            sets += _sets_in(sub, seen)
    return sets


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a symlink loop is neither a file nor a folder; the reader says so
        return False


def check_set(
    assets: list[Asset],
    project_dir: Path,
    *,
    sdk: bool,
    online: Online | None = None,
) -> list[Finding]:
    """Layers 2-7 for assets already loaded (layer 1 happens in load_asset)."""
    out: list[Finding] = []
    registry = lockfile.source(project_dir)  # the registry lock first, then the bundled catalog
    lookup, models = registry.component, registry.model
    if online is not None:
        out += online.prefetch(assets)
        lookup, models = online.spec_lookup, online.model_lookup
    if sdk:
        out += _sdk(assets)
    for asset in assets:
        out += component.check_pipeline(asset, lookup)
        out += pipeline.check_pipeline(asset, lookup)
        for node in component.pipeline_nodes(asset, lookup):
            out += runtime.check_runtime(asset, node)
        out += rules.check_asset(asset)
        out += placeholders.check_asset(asset)
    out += cross.check_set(assets, project_dir, lookup, models, registry.candidates())
    out += finetuning.check_set(assets)
    return out


def _sdk(assets: list[Asset]) -> list[Finding]:
    check_sdk_environment()
    try:
        from . import sdk_schema as sdk_layer

        return sdk_layer.check_assets(assets)
    except ImportError:
        name = assets[0].name if assets else ""
        msg = (
            "azure-ai-ml is not installed: the SDK's own checks were skipped "
            "(pip install 'amlgen[azure]')"
        )
        return [finding(name, (), WARNING, "sdk.missing", msg, SDK)]


def _collect(paths: Sequence[Path | str], root: Path) -> tuple[list[list[Path]], list[Finding]]:
    """Asset sets from PATHs: each folder tree as its sets, loose files grouped by folder."""
    sets: list[list[Path]] = []
    findings: list[Finding] = []
    loose: dict[str, list[Path]] = {}
    for raw in paths:
        # Like git -C / make -C: relative PATHs are taken from the project folder.
        path = Path(raw) if Path(raw).is_absolute() else root / raw
        if _is_dir(path) and reading.in_pseudo_fs(path):
            msg = "a kernel or device folder (/proc, /sys, /dev), not Azure ML YAML: refused"
            findings.append(
                finding(_display(path, root), (), ERROR, "yaml.unreadable", msg, HYGIENE)
            )
        elif _is_dir(path):
            in_folder = _sets_in(path)
            if not in_folder:
                msg = "no .yml/.yaml files in this folder"
                findings.append(
                    finding(_display(path, root), (), WARNING, "yaml.empty", msg, HYGIENE)
                )
            sets += in_folder
        elif os.path.lexists(path):
            loose.setdefault(os.path.dirname(os.path.abspath(path)), []).append(path)
        else:
            msg = "no such file or folder"
            findings.append(finding(_display(path, root), (), ERROR, "yaml.missing", msg, HYGIENE))
    sets += list(loose.values())
    return sets, findings


def validate_paths(
    paths: Sequence[Path | str] = (),
    project_dir: Path | str = ".",
    online: bool = False,
    sdk: bool = True,
    emulator: str | None = None,
) -> Report:
    """Validate Azure ML YAML files and folders (no paths: params + every rendered env).

    With `online`, the live registry is asked (the emulator at `emulator` or $AMLGEN_EMULATOR).

    Example: `validate_paths(["azureml/dev"]).failed()`.
    """
    root = Path(project_dir)
    report = Report()
    findings: list[Finding] = []
    sets: list[list[Path]] = []
    if not paths:
        params_findings, params_files = _params_findings(root)
        findings += params_findings
        report.files += params_files
        from ..rendering import OUTPUT_DIR

        if (root / OUTPUT_DIR).is_dir():
            sets += _sets_in(root / OUTPUT_DIR)
        if not params_files and not sets:
            msg = (
                "nothing to validate: no params/base.yaml and no azureml/ folder here (give PATHs)"
            )
            findings.append(finding(str(root), (), ERROR, "params.missing", msg, PARAMS))
    else:
        sets, found = _collect(paths, root)
        findings += found
    checker = None
    if online:
        from .online import Online, registry_client

        checker = Online(lambda registry: registry_client(registry, emulator))
    inline = _InlineUse()
    for files in sets:
        assets: list[Asset] = []
        for file in files:
            asset, found = load_asset(file, _display(file, root))
            findings += found
            assets.append(asset)
            report.files.append(asset.name)
        findings += check_set(assets, root, sdk=sdk, online=checker)
        inline.note(assets)
    report.findings = finish(inline.drop_names(findings))
    return report


class _InlineUse:
    """A component file a pipeline, sweep or pipeline-component batch deployment of this call
    uses inline is loaded as an anonymous component (the SDK names it `azureml_anonymous`): it
    needs no `name` of its own, and the name it has is not held to the component-name rule.
    Alone, `az ml component create` needs `--name` (a warning) and refuses a name such as
    `r-iris` (a warning here: the file fails in one of its two homes). Only paths are kept, so
    a call over many files holds no more than one set of assets at a time."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.where: dict[str, str] = {}

    def note(self, assets: list[Asset]) -> None:
        for asset in assets:
            self.where[asset.name] = os.path.realpath(asset.path)
            self.used |= {os.path.realpath(p) for p in pipeline.component_files(asset)}

    def drop_names(self, findings: list[Finding]) -> list[Finding]:
        out: list[Finding] = []
        for f in findings:
            if f.yaml_path != "name" or self.where.get(f.file) not in self.used:
                out.append(f)
            elif f.code == SCHEMA and _COMPONENT_NAME_RULE in f.message:
                why = " (used inline here, where the SDK names it; `az ml component create`"
                out.append(replace(f, severity=WARNING, message=f.message + why + " refuses it)"))
            elif f.code != FIELD_FROM_COMMAND:
                out.append(f)
        return out


def validate_rendered(files: dict[str, str], root: Path) -> list[Finding]:
    """Render's guard: every offline layer but the SDK's on what is about to be written.

    Raises RenderError listing the errors; returns the warnings (the CLI prints them; they do
    not block). Missing data files are normal before `amlgen data` runs, so they are left out.
    """
    groups: dict[Path, list[Asset]] = {}
    findings: list[Finding] = []
    for rel, text in sorted(files.items()):
        if not rel.endswith(YAML_SUFFIXES):
            continue
        asset, found = load_asset(root / rel, rel, text)
        findings += found
        groups.setdefault((root / rel).parent, []).append(asset)
    for assets in groups.values():
        findings += check_set(assets, root, sdk=False)
    findings = [f for f in finish(findings) if f.code != "cross.data-missing"]
    errors = [f for f in findings if f.severity == ERROR]
    if errors:
        raise RenderError(
            "\n".join(["refusing to write invalid assets:"] + [f.text() for f in errors])
        )
    return [f for f in findings if f.severity == WARNING]

"""Deep offline validation of Azure ML YAML: `amlgen validate` and render's guard.

A folder is one asset set, checked file by file and across files, in layers: YAML hygiene, the
SDK's own schema checks, the registry component's interface, the fine-tune step's runtime rules,
Azure's naming rules and limits, cross-file and model-metadata checks, and (with --online) the
live registry. `render` runs every layer except the SDK's, so it stays fast and refuses to write
invalid assets.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ParamsError, RenderError
from .validation import component, cross, rules
from .validation.assets import Asset, load_asset
from .validation.findings import (
    COMPONENT,
    ERROR,
    HYGIENE,
    PARAMS,
    SDK,
    WARNING,
    Finding,
    Report,
    sort_key,
)

if TYPE_CHECKING:
    from .validation.online import Online

__all__ = [
    "Finding",
    "Report",
    "format_json",
    "format_text",
    "validate_paths",
    "validate_rendered",
]

YAML_SUFFIXES = (".yml", ".yaml")
_PROBLEM = re.compile(
    r"^(?P<file>[^:\s][^:]*?):(?P<line>\d+): (?:(?P<path>[\w.\[\]-]+): )?(?P<msg>.*)$"
)


def _display(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _params_findings(project_dir: Path) -> tuple[list[Finding], list[str]]:
    from .params import BASE_FILE, PARAMS_DIR, environments, load_params

    folder = project_dir / PARAMS_DIR
    if not (folder / BASE_FILE).is_file():
        return [], []
    files = [f"{PARAMS_DIR}/{BASE_FILE}"]
    out: list[Finding] = []
    seen: set[str] = set()
    for env in environments(project_dir):
        files.append(f"{PARAMS_DIR}/{env}.yaml")
        try:
            load_params(env, project_dir)
        except ParamsError as exc:
            for problem in exc.problems:
                if problem in seen:
                    continue  # a base.yaml problem shows up once, not once per environment
                seen.add(problem)
                m = _PROBLEM.match(problem)
                if m:
                    out.append(
                        Finding(
                            ERROR,
                            m["file"],
                            int(m["line"]),
                            m["path"] or "",
                            m["msg"],
                            "params.invalid",
                            PARAMS,
                        )
                    )
                else:
                    file, _, msg = problem.partition(": ")
                    out.append(
                        Finding(ERROR, file, None, "", msg or problem, "params.invalid", PARAMS)
                    )
    return out, files


def _sets_in(folder: Path) -> list[list[Path]]:
    """A folder's own YAML files form one set; each subfolder is its own set."""
    sets: list[list[Path]] = []
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in YAML_SUFFIXES and not p.name.startswith(".")
    )
    if files:
        sets.append(files)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        sets += _sets_in(sub)
    return sets


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop SDK findings and hygiene warnings that a more specific error at one place covers."""
    specific = {
        (f.file, f.yaml_path) for f in findings if f.severity == ERROR and f.layer >= COMPONENT
    }
    out, seen = [], set()
    for f in findings:
        if f.layer in (SDK, HYGIENE) and f.yaml_path and (f.file, f.yaml_path) in specific:
            continue
        key = (f.file, f.line, f.yaml_path, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return sorted(out, key=sort_key)


def check_set(
    assets: list[Asset],
    project_dir: Path,
    *,
    sdk: bool,
    online: Online | None = None,
) -> list[Finding]:
    """Layers 2-7 for assets already loaded (layer 1 happens in load_asset)."""
    out: list[Finding] = []
    lookup = component._lookup_bundled
    models = cross._lookup_model
    if online is not None:
        out += online.prefetch(assets)
        lookup, models = online.spec_lookup, online.model_lookup
    if sdk:
        out += _sdk(assets)
    for asset in assets:
        out += component.check_pipeline(asset, lookup)
        out += rules.check_asset(asset)
    out += cross.check_set(assets, project_dir, lookup, models)
    return out


def _sdk(assets: list[Asset]) -> list[Finding]:
    try:
        from .validation import sdk as sdk_layer

        return sdk_layer.check_assets(assets)
    except ImportError:
        first = next((a for a in assets), None)
        name = first.name if first else ""
        return [
            Finding(
                WARNING,
                name,
                None,
                "",
                "azure-ai-ml is not installed: the SDK's own "
                "checks were skipped (pip install 'amlgen[azure]')",
                "sdk.missing",
                SDK,
            )
        ]


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
        from .rendering import OUTPUT_DIR

        if (root / OUTPUT_DIR).is_dir():
            sets += _sets_in(root / OUTPUT_DIR)
        if not params_files and not sets:
            findings.append(
                Finding(
                    ERROR,
                    str(root),
                    None,
                    "",
                    "nothing to validate: no "
                    "params/base.yaml and no azureml/ folder here (give PATHs)",
                    "params.missing",
                    PARAMS,
                )
            )
    else:
        loose: list[Path] = []
        for raw in paths:
            # Like git -C / make -C: relative PATHs are taken from the project folder.
            path = Path(raw) if Path(raw).is_absolute() else root / raw
            if path.is_dir():
                in_folder = _sets_in(path)
                if not in_folder:
                    findings.append(
                        Finding(
                            WARNING,
                            _display(path, root),
                            None,
                            "",
                            "no .yml/.yaml files in this folder",
                            "yaml.empty",
                            HYGIENE,
                        )
                    )
                sets += in_folder
            elif path.exists():
                loose.append(path)
            else:
                findings.append(
                    Finding(
                        ERROR,
                        _display(path, root),
                        None,
                        "",
                        "no such file or folder",
                        "yaml.missing",
                        HYGIENE,
                    )
                )
        if loose:
            sets.append(loose)
    checker = None
    if online:
        from .validation.online import Online, registry_client

        checker = Online(lambda registry: registry_client(registry, emulator))
    for files in sets:
        assets: list[Asset] = []
        for file in files:
            asset, found = load_asset(file, _display(file, root))
            findings += found
            assets.append(asset)
            report.files.append(asset.name)
        findings += check_set(assets, root, sdk=sdk, online=checker)
    report.findings = _dedupe(findings)
    return report


def validate_rendered(files: dict[str, str], root: Path) -> None:
    """Render's guard: every offline layer but the SDK's on what is about to be written.

    Raises RenderError listing the errors; warnings go to stderr and do not block. Missing data
    files are normal before `amlgen data` runs, so render does not mention them.
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
    findings = [f for f in _dedupe(findings) if f.code != "cross.data-missing"]
    for f in findings:
        if f.severity == WARNING:
            print(f.text(), file=sys.stderr)
    errors = [f for f in findings if f.severity == ERROR]
    if errors:
        raise RenderError(
            "\n".join(["refusing to write invalid assets:"] + [f.text() for f in errors])
        )


def format_text(report: Report) -> str:
    lines = [f.text() for f in report.findings]
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n"

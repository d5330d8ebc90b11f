"""Derive the bundled component and model catalogs from the reference specs.

The catalogs under generator/catalog/ are data the validator and the emulator trust, so they are
generated from the real registry specs rather than typed by hand. Re-run after adding a spec:

    python scripts/build_catalog.py [--specs ../shared/reference/specs] [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "generator" / "catalog"
DEFAULT_SPECS = ROOT.parent / "shared" / "reference" / "specs"

# Successors are not part of any spec; they come from the model family's public lifecycle notes.
SUCCESSORS = {
    "Phi-3-mini-4k-instruct": ["Phi-3.5-mini-instruct", "Phi-4"],
    "Phi-3.5-mini-instruct": ["Phi-4"],
}


def _number(value: Any) -> Any:
    # YAML 1.1 reads `1e-8` as a string; the spec means a number.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _input(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": spec["type"], "optional": bool(spec.get("optional", False))}
    if "default" in spec:
        default = spec["default"]
        if spec["type"] == "number":
            default = _number(default)
        elif spec["type"] == "string" and default is not None:
            default = str(default)
        out["default"] = default
    if "enum" in spec:
        out["enum"] = [str(v) for v in spec["enum"]]
    for bound in ("min", "max"):
        if bound in spec:
            out[bound] = spec[bound]
    if spec.get("description"):
        out["description"] = " ".join(str(spec["description"]).split())
    return out


def build_components(specs: Path) -> dict[str, Any]:
    catalog: dict[str, Any] = {}
    for path in sorted(specs.glob("chat_completion_pipeline-*-spec.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        entry = catalog.setdefault(spec["name"], {})
        entry[str(spec["version"])] = {
            "source": path.name,
            "type": spec["type"],
            "inputs": {name: _input(s) for name, s in spec["inputs"].items()},
            "outputs": {name: {"type": s["type"]} for name, s in spec["outputs"].items()},
        }
    for name, versions in catalog.items():
        catalog[name] = dict(sorted(versions.items(), key=lambda kv: _vkey(kv[0])))
    return catalog


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None


def build_models(specs: Path) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for path in sorted(specs.glob("*-model-spec-*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        name, version = spec["name"], str(spec["version"])
        tags = spec.get("tags") or {}
        meta = spec.get("system_metadata") or {}
        entry = models.setdefault(name, {"versions": {}})
        ver = entry["versions"].setdefault(version, {"sources": []})
        ver["sources"].append(path.name)
        # Old layout: tags.*_compute_allow_list; new: system_metadata.SKU / supportedComputes.
        sku = meta.get("SKU") or {}
        computes = meta.get("supportedComputes") or {}
        finetune = (
            tags.get("finetune_compute_allow_list")
            or sku.get("finetuneRecommendedSkus")
            or computes.get("finetuneComputes")
        )
        inference = (
            tags.get("inference_compute_allow_list")
            or sku.get("inferenceRecommendedSkus")
            or computes.get("inferenceComputes")
        )
        if finetune:
            ver["finetune_allow_list"] = sorted(
                set(finetune) | set(ver.get("finetune_allow_list", []))
            )
        if inference:
            ver["inference_allow_list"] = sorted(
                set(inference) | set(ver.get("inference_allow_list", []))
            )
        if "model_specific_defaults" in tags:
            ver["model_specific_defaults"] = tags["model_specific_defaults"]
        dep = meta.get("deprecation") or {}
        life = {
            "finetune_deprecation": _date(
                tags.get("FinetuneDeprecationDate") or dep.get("finetuneDeprecationDate")
            ),
            "finetune_retirement": _date(
                tags.get("FinetuneRetirementDate") or dep.get("finetuneRetirementDate")
            ),
            "inference_deprecation": _date(
                tags.get("InferenceDeprecationDate") or dep.get("inferenceDeprecationDate")
            ),
            "inference_retirement": _date(
                tags.get("InferenceRetirementDate") or dep.get("inferenceRetirementDate")
            ),
        }
        life = {k: v for k, v in life.items() if v}
        if life:
            ver.setdefault("lifecycle", {}).update(life)
        if spec.get("isArchived"):
            ver["archived"] = True
            entry["archived"] = True
        tasks = (meta.get("tasks") or {}).get("fineTuningTasks") or (
            [tags["finetuning-tasks"]] if "finetuning-tasks" in tags else None
        )
        if not tasks and "finetuning-tasks" in (spec.get("properties") or {}):
            tasks = [spec["properties"]["finetuning-tasks"]]
        if tasks:
            ver["finetuning_tasks"] = sorted(set(tasks) | set(ver.get("finetuning_tasks", [])))
    for name, entry in models.items():
        entry["successors"] = SUCCESSORS.get(name, [])
        entry["versions"] = dict(sorted(entry["versions"].items(), key=lambda kv: _vkey(kv[0])))
        entry["latest_version"] = list(entry["versions"])[-1]
    return dict(sorted(models.items()))


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--specs", type=Path, default=DEFAULT_SPECS)
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed catalogs differ")
    args = ap.parse_args()
    if not args.specs.is_dir():
        print(f"build_catalog: specs folder not found: {args.specs}", file=sys.stderr)
        return 2
    outputs = {
        OUT / "components.json": dump(build_components(args.specs)),
        OUT / "models.json": dump(build_models(args.specs)),
    }
    stale = [
        p for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    for p, text in outputs.items():
        tmp = p.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

from generator.catalog import metadata

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "generator" / "catalog"
# The reference specs sit beside the checkout (../shared) or beside a worktree's parent.
DEFAULT_SPECS = next(
    (
        p / "shared" / "reference" / "specs"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "reference" / "specs").is_dir()
    ),
    ROOT.parent / "shared" / "reference" / "specs",
)


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


def build_models(specs: Path) -> dict[str, Any]:
    """Model metadata per version, from every spec file in either layout (merged per version).

    Successors are not stored: generator.lifecycle computes them from these entries.
    """
    models: dict[str, Any] = {}
    for path in sorted(specs.glob("*-model-spec-*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        name, version = spec["name"], str(spec["version"])
        tags = spec.get("tags") or {}
        meta = spec.get("system_metadata") or {}
        entry = models.setdefault(name, {"versions": {}})
        read = metadata.version_entry(
            tags, meta, spec.get("properties"), archived=bool(spec.get("isArchived"))
        )
        read["layouts"] = metadata.layouts(tags, meta)
        old = entry["versions"].get(version)
        ver = metadata.merge_entries(old, read) if old else read
        ver["sources"] = [*(old or {}).get("sources", []), path.name]
        entry["versions"][version] = {"sources": ver.pop("sources"), **ver}
    for entry in models.values():
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

"""The one YAML reader under `amlgen validate`: line numbers, duplicates, hostile input, caps.

Every hostile file is answered with one finding line and exit 1, and the process stays small;
the layering rule (no private name crosses a module boundary in validation/) is pinned here too.
"""

from __future__ import annotations

import ast
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from _flowkit import child_env

from generator import yamlio
from generator.errors import ParamsError
from generator.validation import validate_paths
from generator.validation.findings import MAX_PER_FILE

ROOT = Path(__file__).resolve().parent.parent


def hostile_files(folder: Path) -> dict[str, Path]:
    """The hostile inputs of issue 11, made small where only the shape matters."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for c in "bcdefghi":
        bomb.append(f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]")
        prev = c
    out["alias-bomb"] = folder / "bomb.yml"
    out["alias-bomb"].write_text("\n".join(bomb) + "\n")
    assert out["alias-bomb"].stat().st_size < 400
    out["deep-flow"] = folder / "deep.yml"
    out["deep-flow"].write_text("[" * 100_000 + "]" * 100_000 + "\n")
    out["deep-block"] = folder / "deepmap.yml"
    out["deep-block"].write_text("".join(" " * i + f"k{i}:\n" for i in range(500)))
    out["many-keys"] = folder / "keys.yml"
    out["many-keys"].write_text("command: echo\n" + "".join(f"k{i}: 1\n" for i in range(400_000)))
    out["over-node-budget"] = folder / "nodes.yml"
    out["over-node-budget"].write_text("".join(f"k{i}: 1\n" for i in range(30_000)))
    (folder / "loop1.yml").symlink_to("loop2.yml")
    (folder / "loop2.yml").symlink_to("loop1.yml")
    out["symlink-loop"] = folder / "loop1.yml"
    os.mkfifo(folder / "fifo.yml")
    out["fifo"] = folder / "fifo.yml"
    out["device"] = Path("/dev/zero")
    out["binary"] = folder / "binary.yml"
    out["binary"].write_bytes(b"\xff\xfe\x00garbage")
    return out


CODES = {
    "alias-bomb": ("yaml.limit", "aliases are expanded"),
    "deep-flow": ("yaml.limit", "nesting deeper than 100"),
    "deep-block": ("yaml.limit", "nesting deeper than 100"),
    "many-keys": ("yaml.limit", "larger than 1 MiB"),
    "over-node-budget": ("yaml.limit", "more than 20,000 YAML nodes"),
    "symlink-loop": ("yaml.unreadable", "symlink loop"),
    "fifo": ("yaml.unreadable", "not a regular file"),
    "device": ("yaml.unreadable", "not a regular file"),
    "binary": ("yaml.unreadable", "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(CODES))
def test_hostile_file_is_one_finding(tmp_path: Path, name: str) -> None:
    path = hostile_files(tmp_path / "h")[name]
    report = validate_paths([path], project_dir=tmp_path, sdk=False)
    code, gist = CODES[name]
    assert [(f.code, f.severity) for f in report.findings] == [(code, "error")], report.findings
    assert gist in report.findings[0].message
    assert report.failed()


def test_a_folder_with_a_directory_symlink_loop_ends(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "model.yml").write_text(
        "name: m\nversion: '1'\npath: ./m\ntype: custom_model\n"
    )
    (tmp_path / "set" / "again").symlink_to(tmp_path / "set")
    report = validate_paths([tmp_path / "set"], project_dir=tmp_path, sdk=False)
    assert report.files == ["set/model.yml"]


@pytest.mark.slow
def test_hostile_files_through_the_cli_one_line_small_process(tmp_path: Path) -> None:
    files = hostile_files(tmp_path / "h")
    for name, path in files.items():
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run(
            [sys.executable, "-m", "generator", "validate", str(path)],
            capture_output=True,
            text=True,
            timeout=120,  # a hang guard, not a timing assert
            env=child_env(),
            cwd=ROOT,
        )
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        assert out.returncode == 1, (name, out.stdout, out.stderr)
        findings = [ln for ln in out.stdout.splitlines() if "error:" in ln]
        assert len(findings) == 1, (name, out.stdout)
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert peak_mb < 500 or before / 1024 >= 500, (name, peak_mb)


def test_reader_lines_duplicates_and_merge_keys() -> None:
    doc = yamlio.parse(
        "a: 1\nb:\n  c: [1, 2]\n  c: 3\nd: {<<: {q: 1}, q: 2}\n", "x", duplicates="report"
    )
    assert doc.data == {"a": 1, "b": {"c": 3}, "d": {"q": 2}}
    assert doc.lines[("b", "c")] == 4  # the last one, like the data
    assert [(d.path, d.line, d.first_line) for d in doc.duplicates] == [(("b", "c"), 4, 3)]
    with pytest.raises(ParamsError) as info:
        yamlio.parse("a: 1\na: 2\n", "p.yaml")
    assert str(info.value).startswith("p.yaml:2: malformed YAML: duplicate key 'a'")


def test_aliases_within_budget_are_read() -> None:
    doc = yamlio.parse("base: &b {x: 1}\nuse: *b\nlist: [*b, *b]\n", "x")
    assert doc.data["use"] == {"x": 1} and len(doc.data["list"]) == 2


def test_findings_are_capped_per_file_with_a_count(tmp_path: Path) -> None:
    text = "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\nname: m\n"
    text += "version: '1'\npath: azureml://jobs/j/outputs/o\ntags:\n"
    text += "".join(f"  k{i}: yes\n" for i in range(300))
    (tmp_path / "model.yml").write_text(text)
    report = validate_paths([tmp_path / "model.yml"], project_dir=tmp_path, sdk=False)
    assert len(report.findings) == MAX_PER_FILE + 1
    capped = [f for f in report.findings if f.code == "findings.capped"]
    assert capped and capped[0].message.startswith("250 more findings in this file not shown")


def test_no_private_name_crosses_a_module_boundary_in_validation() -> None:
    for path in (ROOT / "generator" / "validation").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in {"component", "cross", "rules", "assets", "online", "sdk"}
            ):
                raise AssertionError(f"{path.name} uses {node.value.id}.{node.attr}")

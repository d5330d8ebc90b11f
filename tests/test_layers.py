"""The house's structure, read from the source: imports run one way, the emulator is a separate
room, no private name crosses a module boundary, no module is too big, the package face exports
exactly what the CLI calls, and the library does not print."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "generator"
MAX_LINES = 600

# Top to bottom: cli -> face -> workflow -> backends -> rendering/validation/data -> params ->
# the base (catalog, yamlio, errors and the small modules that depend on nothing above them).
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (6, ("cli", "__main__")),
    (5, ("generator",)),
    (
        4,
        (
            "commands",
            "workflow",
            "flowoptions",
            "finetune_flow",
            "preflight",
            "planning",
            "planner",
            "locking",
            "project",
            "pricing",
            "capacity",
            "diagnose",
        ),
    ),
    (3, ("backends",)),
    (
        2,
        (
            "rendering",
            "finetuning.render",
            "validation",
            "data",
            "pipeline_job",
            "billable",
            "costs",
            "costview",
            "footprint",
            "quota",
        ),
    ),
    (1, ("params",)),
    (
        0,
        (
            "errors",
            "version",
            "names",
            "reading",
            "outputs",
            "envlock",
            "yamlio",
            "atomic",
            "quiet",
            "sdkenv",
            "catalog",
            "limits",
            "chatrows",
            "lifecycle",
            "workspace",
            "normalise",
            "progress",
            "interrupts",
            "state",
            "finetuning",
            "finetuning.spec",
            "prices",
        ),
    ),
]
ROOM = "emulator"  # a separate room: `amlgen-emulator` starts it as a process, never imports it


@dataclass
class Module:
    name: str  # relative to the package: "backends.az"; the face is "generator"
    path: Path
    tree: ast.Module
    imports: dict[str, int] = field(default_factory=dict)  # module -> line
    typing_only: set[str] = field(default_factory=set)  # imported only under TYPE_CHECKING
    private: list[tuple[str, int]] = field(default_factory=list)


def _name(path: Path) -> str:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "generator"


def _modules() -> dict[str, Module]:
    mods = {}
    for path in sorted(PKG.rglob("*.py")):
        mods[_name(path)] = Module(_name(path), path, ast.parse(path.read_text(encoding="utf-8")))
    for mod in mods.values():
        package = mod.name if mod.path.name == "__init__.py" else mod.name.rpartition(".")[0]
        if mod.name == "generator":
            package = ""
        aliases: dict[str, str] = {}
        guarded = {
            id(inner)
            for node in ast.walk(mod.tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        runtime: set[str] = set()
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                elif node.module and node.module.startswith("generator"):
                    target = node.module.removeprefix("generator").lstrip(".")
                else:
                    continue
                for a in node.names:
                    full = f"{target}.{a.name}" if target else a.name
                    if full in mods:
                        mod.imports.setdefault(full, node.lineno)
                        aliases[a.asname or a.name] = full
                    else:
                        full = target or "generator"
                        mod.imports.setdefault(full, node.lineno)
                    if id(node) not in guarded:
                        runtime.add(full)
                        if a.name.startswith("_") and not a.name.startswith("__"):
                            mod.private.append((f"{target}.{a.name}", node.lineno))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "generator" or a.name.startswith("generator."):
                        target = a.name.removeprefix("generator").lstrip(".") or "generator"
                        mod.imports.setdefault(target, node.lineno)
                        if id(node) not in guarded:
                            runtime.add(target)
                        aliases[a.asname or a.name] = target
        for node in ast.walk(mod.tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                mod.private.append((f"{aliases[node.value.id]}.{node.attr}", node.lineno))
        mod.imports.pop(mod.name, None)
        mod.typing_only = set(mod.imports) - runtime
    return mods


MODULES = _modules()


def _rank(name: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, rank): the longest prefix decides
    for rank, prefixes in LAYERS:
        for prefix in prefixes:
            matches = name == prefix or name.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def _room(name: str) -> bool:
    return name == ROOM or name.startswith(ROOM + ".")


def test_every_module_has_a_layer() -> None:
    lost = [m for m in MODULES if not _room(m) and _rank(m) is None]
    assert not lost, f"modules with no layer in tests/test_layers.py: {lost}"


def test_imports_run_one_way() -> None:
    back = []
    for mod in MODULES.values():
        if _room(mod.name):
            continue
        for target, line in mod.imports.items():
            if _room(target):
                continue
            if _rank(target) > _rank(mod.name):  # type: ignore[operator]
                back.append(f"{mod.path.relative_to(PKG.parent)}:{line}: {mod.name} -> {target}")
    assert not back, "imports that run upward:\n" + "\n".join(back)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    seen: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    return circles


def test_no_import_circles() -> None:
    # Runtime imports only: a name imported for annotations alone makes no circle when run.
    graph = {
        name: (set(m.imports) - m.typing_only - {"generator"}) & set(MODULES)
        for name, m in MODULES.items()
    }
    circles = _circles(graph)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


# Shared types were moved down (backends.assets, emulator.arm.Service, finetune_flow.Flow): an
# import made for annotations only counts too, so the arrows run one way for readers as well.
def test_no_import_circles_even_through_annotations() -> None:
    graph = {n: (set(m.imports) - {"generator"}) & set(MODULES) for n, m in MODULES.items()}
    circles = _circles(graph)
    assert not circles, "import circles (TYPE_CHECKING imports included):\n" + "\n".join(
        " -> ".join(c) for c in circles
    )


def test_the_emulator_is_a_separate_room() -> None:
    inward = [
        f"{m.name}:{line}"
        for m in MODULES.values()
        if not _room(m.name)
        for target, line in m.imports.items()
        if _room(target)
    ]
    assert not inward, f"product modules importing the emulator: {inward}"
    # Nor starting it by name (`python -m generator.emulator`, a spawned "-m" argv): the
    # emulator is its own program, `amlgen-emulator`, and the product does not know it.
    named = [
        f"{m.path.relative_to(PKG.parent)}:{node.lineno}"
        for m in MODULES.values()
        if not _room(m.name)
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.search(r"\bgenerator\.emulator\b", node.value)
    ]
    assert not named, f"product modules naming the emulator: {named}"
    outward = [
        f"{m.name} -> {target}"
        for m in MODULES.values()
        if _room(m.name)
        for target in m.imports
        if not _room(target) and _rank(target) != 0
    ]
    assert not outward, f"the emulator may use only the base layer: {outward}"


def test_no_private_name_crosses_a_module_boundary() -> None:
    found = [
        f"{m.path.relative_to(PKG.parent)}:{line}: {name}"
        for m in MODULES.values()
        for name, line in m.private
    ]
    assert not found, "private names used from another module:\n" + "\n".join(found)


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: _name(p))
def test_no_module_is_too_big(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines (split it along its seams)"


CLI = [m for name, m in MODULES.items() if name == "cli" or name.startswith("cli.")]


def _cli_calls() -> set[str]:
    return {
        node.attr
        for m in CLI
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "generator"
    }


def test_the_face_exports_exactly_what_the_cli_calls() -> None:
    import generator

    exported = set(generator.__all__) - {"__version__"}
    calls = _cli_calls()
    assert calls - exported == set(), "the CLI calls what the face does not export"
    assert exported - calls == set(), "the face exports what no command calls"
    for name in exported:
        assert callable(getattr(generator, name)), name


def test_the_cli_calls_only_the_face() -> None:
    allowed = {"generator", "errors", "version", *(m.name for m in CLI)}
    imports = {ROOM if _room(t) else t for m in CLI for t in m.imports}
    assert imports <= allowed, f"the CLI imports {sorted(imports - allowed)} past the face"


def test_the_library_does_not_print() -> None:
    talk = []
    for m in MODULES.values():
        if _rank(m.name) == 6 or _room(m.name):
            continue
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id == "print":
                    talk.append(f"{m.name}:{node.lineno}: print()")
                if (
                    isinstance(f, ast.Attribute)
                    and f.attr == "write"
                    and isinstance(f.value, ast.Attribute)
                    and f.value.attr in ("stdout", "stderr")
                ):
                    talk.append(f"{m.name}:{node.lineno}: sys.{f.value.attr}.write()")
    assert not talk, "library code that prints:\n" + "\n".join(talk)


def test_the_module_table_matches_the_tree() -> None:
    readme = (PKG.parent / "docs" / "contributing.md").read_text(encoding="utf-8")
    table = readme.split("| module | concern |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(generator/[^`]+)`", table))
    missing = sorted(p for p in named if not (PKG.parent / p).exists())
    assert not missing, f"module table (docs/contributing.md) names what is not there: {missing}"
    entries = {
        f"generator/{p.name}" + ("/" if p.is_dir() else "")
        for p in PKG.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__main__.py")
    }
    listed = {p if p.endswith((".py", "/")) else p + "/" for p in named}
    unlisted = sorted(entries - listed)
    assert not unlisted, f"docs/contributing.md's module table leaves out {unlisted}"


SHARED_OPTIONS = (
    "--env",
    "--set",
    "--backend",
    "--dry-run",
    "--assets",
    "--emulator",
    "--subscription",
    "--resource-group",
    "--workspace",
    "--keep-endpoint",
    "--stream",
    "--wait",
    "--timeout",
    "--job",
)


def test_each_shared_option_is_declared_once() -> None:
    declared: dict[str, int] = {}
    for m in CLI:
        for node in ast.walk(m.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "option"
            ):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and str(arg.value).startswith("--"):
                        declared[arg.value] = declared.get(arg.value, 0) + 1
    twice = {name: n for name, n in declared.items() if name in SHARED_OPTIONS and n > 1}
    assert not twice, f"options declared more than once: {twice}"
    assert set(SHARED_OPTIONS) <= set(declared)

"""YAML the way Azure ML reads it (PyYAML safe_load, YAML 1.1), with the traps closed.

Reading: duplicate keys are errors (PyYAML silently keeps the last), and every key's line is
recorded so errors can point at `file:line`. Writing: a fixed key order chosen by the caller,
floats that read back as floats, and every string that YAML 1.1 or 1.2 could read as another
type quoted, so `safe_load(dump(x)) == x` by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ParamsError

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """A parsed YAML file: its data and the line (1-based) of every key or item by path."""

    data: Any
    source: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of the deepest recorded prefix of `path` (the key itself, or its parent)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key]}); YAML would keep only the last",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _record_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*path, key)
            lines.setdefault(child, key_node.start_mark.line + 1)
            _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*path, i), item.start_mark.line + 1)
            _record_lines(item, (*path, i), lines)


def compose(text: str, source: str) -> yaml.Node | None:
    """The node tree (styles, tags, marks) for checks that need more than the values."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ParamsError([_yaml_problem(exc, source)]) from None


def _yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    if "\\t" in problem or "\t" in problem:
        problem = f"{problem} (tabs are not allowed for indentation in YAML)"
    return f"{source}{line}: malformed YAML: {problem}"


def parse(text: str, source: str) -> Document:
    """Parse YAML text; raise ParamsError naming `source:line` for malformed input or duplicates."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ParamsError([_yaml_problem(exc, source)]) from None
    doc = Document(data=data, source=source)
    if node is not None:
        _record_lines(node, (), doc.lines)
    return doc


def read(path: Path, source: str | None = None) -> Document:
    """Read and parse a YAML file; a missing or unreadable file is a ParamsError too."""
    name = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError([f"{name}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError([f"{name}: cannot read: {exc}"]) from None
    return parse(text, name)


# --- writing -------------------------------------------------------------------------------

# Plain scalars that some YAML reader (1.1 or 1.2) would turn into a non-string.
_RISKY = re.compile(
    r"""^(?:
        [-+]?(?:\.?[0-9][0-9_.,:eE+-]*)          # anything number-like, incl. 1e-5, 1_000, 1:20
      | [-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)
      | (?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)
      | (?:null|Null|NULL|~)
      | 0[xXoObB][0-9a-fA-F_]+
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*          # dates and timestamps
    )$""",
    re.VERBOSE,
)


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases, stable quoting."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent sequences under their key, as Azure ML's own examples do.
        super().increase_indent(flow, False)


def _repr_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if value.startswith("${{"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    if value == "" or _RISKY.match(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


def _repr_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        return dumper.represent_float(value)
    if "e" in text and "." not in text.split("e")[0]:
        mant, exp = text.split("e")
        text = f"{mant}.0e{exp}"  # YAML 1.1 needs a dot for a float: 5e-06 would be a string
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Dumper.add_representer(str, _repr_str)
_Dumper.add_representer(float, _repr_float)


def dump(data: Any) -> str:
    """Deterministic YAML text: the caller's key order, LF line ends, trailing newline."""
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100_000,
        indent=2,
    )
    return text if text.endswith("\n") else text + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.amlgen-tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    tmp.replace(path)

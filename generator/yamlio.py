"""YAML the way Azure ML reads it (PyYAML safe_load, YAML 1.1), with the traps closed.

Reading (the one reader every part uses): duplicate keys are errors or, for `validate`, reported
and last-wins as PyYAML does; every key's line is recorded so findings point at `file:line`; and
hostile input is refused with one line before it costs time or memory: files that are not regular
files, symlink loops, files over MAX_BYTES, nesting deeper than MAX_DEPTH and alias expansion
beyond MAX_NODES (a 400-byte alias bomb expands to gigabytes in every consumer that walks it).
Writing: a fixed key order chosen by the caller, floats that read back as floats, and every
string that YAML 1.1 or 1.2 could read as another type quoted, so `safe_load(dump(x)) == x`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from . import atomic, reading
from .errors import ParamsError

Path_ = tuple[str | int, ...]

# Budgets far above any real asset (public samples: under 50 KB, 15 levels, 2,000 nodes) and low
# enough that reading plus the SDK's own schema pass stay within seconds and a few hundred MB.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 100  # PyYAML's composer recurses per level: 100,000 levels end in RecursionError
MAX_NODES = 20_000  # nodes after alias expansion: what every walker of the data really visits


@dataclass(frozen=True)
class Duplicate:
    """A repeated mapping key: where it is, and where the first one was."""

    path: Path_
    line: int
    first_line: int


@dataclass
class Document:
    """A parsed YAML file: its data, the node tree and the line (1-based) of every key or item."""

    data: Any
    source: str
    lines: dict[Path_, int] = field(default_factory=dict)
    node: yaml.Node | None = None
    duplicates: list[Duplicate] = field(default_factory=list)

    def line_of(self, path: Path_) -> int | None:
        """Line of the deepest recorded prefix of `path` (the key itself, or its parent)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None


class YamlReadError(ParamsError):
    """A file that cannot be read as YAML: one problem, with its place and a stable code."""

    def __init__(self, source: str, line: int | None, message: str, code: str):
        self.source, self.line, self.message, self.code = source, line, message, code
        where = f"{source}:{line}" if line else source
        super().__init__([f"{where}: {message}"])


class _LimitExceeded(yaml.YAMLError):
    def __init__(self, message: str, mark: Any):
        self.problem, self.problem_mark = message, mark
        super().__init__(message)


class _Loader(yaml.SafeLoader):
    """SafeLoader with depth and alias-expansion budgets, and duplicate keys reported."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.total = 0  # nodes so far with every alias expanded
        self.sizes: dict[int, int] = {}  # expanded size of each completed node
        self.keep_duplicates = False

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            self._count(self.sizes.get(id(target), 1), event.start_mark)
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _LimitExceeded(
                f"nesting deeper than {MAX_DEPTH} levels: not an Azure ML asset",
                self.peek_event().start_mark,
            )
        self._count(1, self.peek_event().start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, yaml.SequenceNode):
            self.sizes[id(node)] = 1 + sum(self.sizes.get(id(c), 1) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            self.sizes[id(node)] = 1 + sum(
                self.sizes.get(id(k), 1) + self.sizes.get(id(v), 1) for k, v in node.value
            )
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self.total += nodes
        if self.total > MAX_NODES:
            raise _LimitExceeded(
                f"more than {MAX_NODES:,} YAML nodes once aliases are expanded: too large for "
                "an Azure ML asset (an alias bomb?), refused",
                mark,
            )


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` merges keys the mapping may then override
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue
        if key in seen and not loader.keep_duplicates:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {reading.clip(key)} (first at line {seen[key]}); YAML would keep "
                "only the last",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _key_of(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else str(node.value)


def _record_lines(node: yaml.Node, doc: Document) -> None:
    """Lines by path (last key wins, like the data) and duplicate keys, without recursion.

    A node reached again through an alias is not walked again: its paths take the alias's line.
    """
    stack: list[tuple[yaml.Node, Path_]] = [(node, ())]
    seen: set[int] = set()
    while stack:
        current, path = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in current.value:
                key = _key_of(key_node)
                child = (*path, key)
                line = key_node.start_mark.line + 1
                if key in first:
                    doc.duplicates.append(Duplicate(child, line, first[key]))
                else:
                    first[key] = line
                doc.lines[child] = line
                stack.append((value_node, child))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                doc.lines.setdefault((*path, i), item.start_mark.line + 1)
                stack.append((item, (*path, i)))


def _problem(exc: yaml.YAMLError, source: str, text: str) -> YamlReadError:
    if isinstance(exc, yaml.reader.ReaderError):  # a NUL or another control character
        at = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return YamlReadError(
            source,
            at,
            f"malformed YAML: control character #x{char:04x} (YAML allows only printable "
            "characters, tabs and line ends)",
            "yaml.malformed",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, _LimitExceeded):
        return YamlReadError(source, line, str(exc.problem), "yaml.limit")
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if "\\t" in problem or "\t" in problem:
        problem = f"{problem} (tabs are not allowed for indentation in YAML)"
    code = "yaml.duplicate-key" if "duplicate key" in problem else "yaml.malformed"
    message = f"malformed YAML: {problem}"
    if context and code == "yaml.malformed":
        message = f"malformed YAML: {context}, {problem}"
    return YamlReadError(source, line, message, code)


def parse(text: str, source: str, *, duplicates: Literal["error", "report"] = "error") -> Document:
    """Parse YAML text; raise YamlReadError naming `source:line` for malformed or hostile input.

    With `duplicates="report"` a repeated key keeps the last value (as Azure ML's reader does)
    and is listed in `Document.duplicates`; otherwise it is an error.
    """
    if len(text) > MAX_BYTES:
        raise YamlReadError(
            source, None, f"larger than {MAX_BYTES >> 20} MiB: refused", "yaml.limit"
        )
    doc = Document(data=None, source=source)
    try:
        loader = _Loader(text)  # the reader refuses control characters here, before parsing
        loader.keep_duplicates = duplicates == "report"
        try:
            doc.node = loader.get_single_node()
            if doc.node is not None:
                _record_lines(doc.node, doc)  # before construction flattens `<<` merges
                doc.data = loader.construct_document(doc.node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _problem(exc, source, text) from None
    except ValueError:  # an integer of more than 4,300 digits (Python's conversion limit)
        raise YamlReadError(
            source, None, "malformed YAML: a number too long to read: refused", "yaml.limit"
        ) from None
    except RecursionError:  # the depth budget stops this first; never a traceback
        raise YamlReadError(source, None, "nesting too deep: refused", "yaml.limit") from None
    return doc


def read_text(path: Path, source: str | None = None) -> str:
    """A file's text, refused with one line unless it is a readable regular file of sane size
    (generator.reading: never blocks on a FIFO or device, never reads past the budget)."""
    name = source or str(path)
    try:
        return reading.read_text(path, MAX_BYTES, name)
    except reading.ReadRefused as exc:
        raise YamlReadError(name, None, exc.reason, f"yaml.{exc.code}") from None


def read(
    path: Path, source: str | None = None, *, duplicates: Literal["error", "report"] = "error"
) -> Document:
    """Read and parse a YAML file; a missing, unreadable or hostile file is a YamlReadError."""
    name = source or str(path)
    return parse(read_text(path, name), name, duplicates=duplicates)


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


# Writing files lives in generator.atomic (unique temp names, fsync, folder transactions);
# this name stays for the callers that import it from here.
write_atomic = atomic.write_atomic

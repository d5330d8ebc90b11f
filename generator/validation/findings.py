"""What every check produces, and the one way to make, cap and print findings.

A finding names the file, the line where known, the dotted YAML path and the layer that found it,
so text output (`file:line: path: severity: message [code]`) and JSON output carry the same facts.
Every check builds its findings with `finding()`; `finish()` deduplicates, sorts and caps them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)

# Layers, as the issue numbers them (0 = the params files).
PARAMS, HYGIENE, SDK, COMPONENT, RUNTIME, AZURE, CROSS, ONLINE = range(8)

MAX_PER_FILE = 50  # a file with 400,000 unknown keys needs the first few and a count, not all

YamlPath = tuple[str | int, ...]


class Located(Protocol):
    """Something findings can point into: a named file that knows the line of a YAML path."""

    name: str

    def line(self, path: YamlPath) -> int | None: ...


@dataclass(frozen=True)
class Finding:
    severity: str
    file: str
    line: int | None
    yaml_path: str
    message: str
    code: str
    layer: int

    def text(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        path = f" {self.yaml_path}:" if self.yaml_path else ""
        return f"{where}:{path} {self.severity}: {self.message} [{self.code}]"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dotted(path: YamlPath) -> str:
    return ".".join(str(p) for p in path)


def finding(
    where: Located | str,
    path: YamlPath,
    severity: str,
    code: str,
    message: str,
    layer: int,
    line: int | None = None,
) -> Finding:
    """A finding at `path` of a file (an asset, or just a file name when nothing was parsed)."""
    if isinstance(where, str):
        return Finding(severity, where, line, dotted(path), message, code, layer)
    at = line if line is not None else where.line(path)
    return Finding(severity, where.name, at, dotted(path), message, code, layer)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def failed(self, strict: bool = False) -> bool:
        """Errors fail; with `strict`, warnings fail too."""
        return bool(self.errors) or (strict and bool(self.warnings))

    def summary(self) -> str:
        e, w, i = (self.count(s) for s in SEVERITIES)
        plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
        files = plural(len(self.files), "file")
        return f"{plural(e, 'error')}, {plural(w, 'warning')}, {plural(i, 'note')} in {files}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.errors,
            "summary": {
                "errors": self.count(ERROR),
                "warnings": self.count(WARNING),
                "infos": self.count(INFO),
                "files": list(self.files),
            },
            "findings": [f.as_dict() for f in self.findings],
        }


def sort_key(f: Finding) -> tuple[Any, ...]:
    return (f.file, f.line or 0, f.yaml_path, SEVERITIES.index(f.severity), f.code, f.message)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop SDK findings and hygiene warnings that a more specific error at one place covers;
    an unfilled placeholder is the whole story of its field."""
    specific = {
        (f.file, f.yaml_path) for f in findings if f.severity == ERROR and f.layer >= COMPONENT
    }
    unfilled = {(f.file, f.yaml_path) for f in findings if f.code.startswith("placeholder.")}
    out, seen = [], set()
    for f in findings:
        if f.layer in (SDK, HYGIENE) and f.yaml_path and (f.file, f.yaml_path) in specific:
            continue
        if not f.code.startswith("placeholder.") and _under(f, unfilled):
            continue
        key = (f.file, f.line, f.yaml_path, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _under(f: Finding, places: set[tuple[str, str]]) -> bool:
    """Whether `f` is at, or under, one of `places` (file, dotted path)."""
    path = f.yaml_path
    while path:
        if (f.file, path) in places:
            return True
        path = path.rpartition(".")[0]
    return False


def _cap(findings: list[Finding], limit: int) -> list[Finding]:
    """At most `limit` findings per file (errors first), plus one note counting the rest."""
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file, []).append(f)
    out: list[Finding] = []
    for file, group in by_file.items():
        if len(group) <= limit:
            out += group
            continue
        group.sort(key=lambda f: (SEVERITIES.index(f.severity), f.line or 0))
        kept, rest = group[:limit], group[limit:]
        counts = ", ".join(
            f"{n} {s}{'s' if n != 1 else ''}"
            for s in SEVERITIES
            if (n := sum(1 for f in rest if f.severity == s))
        )
        note = f"{len(rest):,} more findings in this file not shown ({counts})"
        out += [*kept, Finding(INFO, file, None, "", note, "findings.capped", PARAMS)]
    return out


def finish(findings: list[Finding], limit: int = MAX_PER_FILE) -> list[Finding]:
    """The findings a report shows: deduplicated, capped per file, in file and line order."""
    return sorted(_cap(_dedupe(findings), limit), key=sort_key)


def format_text(report: Report) -> str:
    lines = [f.text() for f in report.findings]
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n"


def format_report(report: Report, fmt: str = "text") -> str:
    """The report as `amlgen validate` prints it: `text` (one line per finding) or `json`."""
    if fmt not in ("text", "json"):
        raise ValueError(f"format {fmt!r}: allowed: text, json")
    return format_json(report) if fmt == "json" else format_text(report)

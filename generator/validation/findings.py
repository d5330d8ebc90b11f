"""What every check produces: findings with a severity, a place and a reason.

A finding names the file, the line where known, the dotted YAML path and the layer that found it,
so text output (`file:line: path: severity: message`) and JSON output carry the same facts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)

# Layers, as the issue numbers them (0 = the params files).
PARAMS, HYGIENE, SDK, COMPONENT, RUNTIME, AZURE, CROSS, ONLINE = range(8)


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

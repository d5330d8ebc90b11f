"""Every finding code the validator can emit is documented, once, with its severity.

The codes are read from the source (every string literal shaped like a code in
generator/validation/ and generator/yamlio.py), so a new code without a line in
docs/validate-codes.md fails here, and so does a documented code that no longer exists.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "validate-codes.md"
FAMILIES = (
    "yaml|sdk|component|runtime|azure|cross|online|finetuning|serverless|pipeline|params|"
    "findings|placeholder"
)
CODE = re.compile(rf'"((?:{FAMILIES})\.[a-z0-9-]+)"')
ROW = re.compile(r"^\| `([a-z]+\.[a-z0-9-]+)` \| ([a-z /]+) \| (.+) \|$")
SEVERITIES = {"error", "warning", "note"}


def _source_codes() -> set[str]:
    package = ROOT / "generator"
    files = [*sorted((package / "validation").glob("*.py")), package / "yamlio.py"]
    return {code for f in files for code in CODE.findall(f.read_text(encoding="utf-8"))}


def _documented() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            assert m[1] not in rows, f"{m[1]} is documented twice"
            rows[m[1]] = m[2]
    return rows


def test_every_code_the_validator_can_emit_has_one_line() -> None:
    source, documented = _source_codes(), _documented()
    assert len(source) > 90  # the reader finds them: a broken pattern cannot pass quietly
    assert sorted(source - set(documented)) == [], "undocumented codes"
    assert sorted(set(documented) - source) == [], "documented codes the source no longer has"


def test_each_line_names_its_severities() -> None:
    for code, severity in _documented().items():
        assert {s.strip() for s in severity.split("/")} <= SEVERITIES, (code, severity)

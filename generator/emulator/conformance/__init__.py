"""Does the emulator answer as Azure ML does? Recorded service traffic, replayed and compared.

`run(folder)` reads every test-proxy recording under `folder` (recordings.py), replays each
entry of an operation amlgen uses against a fresh in-process emulator (replay.py) and compares
status, polling headers and body shape with what the service answered (shape.py). Differences
listed in the reviewed file of accepted differences (accepted.py) do not fail the run; any
other does. `scripts/conformance.py` prints the report; `tests/test_conformance.py` asserts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import accepted as accepted_mod
from .accepted import Accepted, AcceptedError
from .recordings import Malformed, find, load
from .replay import Outcome, replay
from .shape import Difference

MAX_SHOWN = 6  # differences shown per line; the rest are counted


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    used: set[Accepted] = field(default_factory=set)

    @property
    def compared(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.skipped is None]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.skipped is not None]

    def verdicts(self, o: Outcome) -> list[tuple[Difference, Accepted | None]]:
        return [(d, accepted_mod.match(self.accepted, o.operation or "", d)) for d in o.differences]

    def unaccepted(self) -> list[tuple[Outcome, Difference]]:
        return [(o, d) for o in self.compared for d, a in self.verdicts(o) if a is None]

    @property
    def ok(self) -> bool:
        return not self.unaccepted()

    def line(self, o: Outcome) -> str:
        head = f"{o.file}#{o.index} {o.operation} ({o.method} {o.path.rsplit('/', 2)[-2:][-1]})"
        if o.note:
            head += f" [{o.note}]"
        verdicts = self.verdicts(o)
        if not verdicts:
            return f"{head}: same"
        shown = []
        for d, a in verdicts[:MAX_SHOWN]:
            shown.append(d.text() + (" (accepted)" if a is not None else " (NOT ACCEPTED)"))
        more = len(verdicts) - MAX_SHOWN
        tail = f"; and {more} more" if more > 0 else ""
        return f"{head}: differs: {'; '.join(shown)}{tail}"

    def lines(self) -> list[str]:
        out = [m.text() for m in self.malformed]
        out += [self.line(o) for o in self.compared]
        reasons: dict[str, int] = {}
        for o in self.skipped:
            reasons[o.skipped or ""] = reasons.get(o.skipped or "", 0) + 1
        out += [f"skipped {n}: {why}" for why, n in sorted(reasons.items())]
        unused = [a for a in self.accepted if a not in self.used]
        out += [
            f"note: accepted difference not seen in these recordings: {a.label()}" for a in unused
        ]
        differ = sum(1 for o in self.compared if o.differences)
        n = len(self.compared)
        out.append(
            f"conformance: {n} operations compared, {n - differ} conform, {differ} differ, "
            f"{len(self.skipped)} skipped"
        )
        return out


def locate(folder: Path, checkout: Path) -> Path | None:
    """`folder` as given, or, when it is relative and not there, the same relative path from
    the checkout and the folders above it (`../shared/reference/recordings` names the same
    folder from the main checkout and from a worktree one level deeper)."""
    if folder.is_dir():
        return folder
    if folder.is_absolute():
        return None
    for base in (checkout, *checkout.parents):
        candidate = (base / folder).resolve()
        if candidate.is_dir():
            return candidate
    return None


def run(folder: Path, accepted_file: Path | None = None) -> Report:
    """Replay every recording under `folder` (raises AcceptedError for a bad accepted file)."""
    report = Report(accepted=accepted_mod.load(accepted_file) if accepted_file else [])
    for path in find(folder):
        recording = load(path, folder)
        report.malformed += recording.problems
        if recording.entries:
            report.outcomes += replay(recording)
    for o in report.compared:
        for _d, a in report.verdicts(o):
            if a is not None:
                report.used.add(a)
    return report


__all__ = ["AcceptedError", "Report", "locate", "run"]

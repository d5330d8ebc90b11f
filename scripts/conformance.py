"""Replay recorded Azure ML traffic against the emulator and report how it differs.

Usage: .venv/bin/python scripts/conformance.py DIR [--accepted FILE]

DIR holds test-proxy recordings (e.g. ../shared/reference/recordings: a relative DIR that is not
there is also looked up from the checkout and the folders above it). One line per compared
operation ("same", or what differs), then the skipped ones by reason, then
`conformance: N operations compared, M conform, K differ, S skipped`. Exit 1 when a difference
is not in the reviewed accepted file (default tests/conformance/accepted.yaml), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCEPTED = ROOT / "tests" / "conformance" / "accepted.yaml"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="conformance.py", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder of test-proxy recordings")
    parser.add_argument("--accepted", type=Path, default=ACCEPTED, help="reviewed differences")
    args = parser.parse_args(argv)
    from generator.emulator.conformance import AcceptedError, locate, run

    folder = locate(args.folder, ROOT)
    if folder is None:
        print(f"error: {args.folder}: not a folder of recordings", file=sys.stderr)
        return 2

    try:
        report = run(folder, args.accepted)
    except AcceptedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line, flush=True)
    for outcome, diff in report.unaccepted():
        print(
            f"error: {outcome.file}#{outcome.index} {outcome.operation}: {diff.text()} "
            f"(not in {args.accepted.name})",
            file=sys.stderr,
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

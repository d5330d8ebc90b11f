"""Benchmark: the public corpus in one `amlgen validate` call vs one call per file.

Budget (issue 24): one call on the whole corpus (tests/validate_cases/public, every manifest
file) takes under 0.05x the time of one call per file; each call pays for Python, amlgen and the
Azure ML SDK import, so many files in one call should cost a small fraction of the sum. Every
call is a fresh process run from the corpus folder, as a user would type it; the one-call time is
the median of `--runs` runs spread evenly between the single calls (so load that drifts on a
shared machine weighs on both sides alike), the per-file time the sum of one call per file (or,
with `--sample K`, K files spread over the corpus, scaled up: an estimate, printed as one).

Run: .venv/bin/python bench/bench_validate_public.py [--runs 3] [--sample 0]
Exit status 1 when the ratio is over budget.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT / "tests" / "validate_cases" / "public"
FILES = PUBLIC / "files"
BUDGET = 0.05


def _files() -> list[str]:
    entries = yaml.safe_load((PUBLIC / "manifest.yaml").read_text(encoding="utf-8"))["files"]
    return [f"{e['repo'].replace('/', '+')}/{e['path']}" for e in entries]


def _timed(args: list[str]) -> float:
    argv = [sys.executable, "-m", "generator", "validate", *args]
    start = time.perf_counter()
    subprocess.run(argv, cwd=FILES, check=False, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", type=int, default=0, help="time K single calls, scaled up")
    args = parser.parse_args()
    files = _files()
    _timed(files[:1])  # warm the OS file cache
    if args.sample:
        step = max(1, len(files) // args.sample)
        picked = files[::step][: args.sample]
        how = f"estimated from {len(picked)} single calls"
    else:
        picked = files
        how = f"{len(files)} single calls"
    # The one-call runs are spread evenly between the single calls, so load that drifts over
    # the run (a shared machine) weighs on both sides alike.
    chunks = [picked[i :: args.runs] for i in range(args.runs)]
    ones: list[float] = []
    single = 0.0
    for chunk in chunks:
        ones.append(_timed(files))
        single += sum(_timed([f]) for f in chunk)
    single *= len(files) / len(picked)
    one = statistics.median(ones)
    ratio = one / single
    print(f"corpus: {len(files)} files; one call: median of {args.runs} runs spread over the")
    print("single calls; every call a fresh process")
    print("| measurement | s |")
    print("| --- | --- |")
    print(f"| {len(files)} files in one `amlgen validate` call | {one:.1f} |")
    print(f"| one call per file ({how}) | {single:.1f} |")
    print(f"ratio one call / one call per file: {ratio:.3f}x (budget {BUDGET}x)")
    return 0 if ratio < BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: `amlgen render --all --check` against `python -c "import azure.ai.ml"`.

Both run as fresh processes, interleaved, in the same run, so the ratio is robust to the
machine's speed. Goal (issue 2): render --check <= 0.3x the SDK's import time.

    python bench/bench_render.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    cases = {
        "baseline: python -c 'import azure.ai.ml'": [sys.executable, "-c", "import azure.ai.ml"],
        "amlgen render --all --check": [
            sys.executable,
            "-m",
            "generator",
            "render",
            "--all",
            "--check",
        ],
        "python -c pass (interpreter start)": [sys.executable, "-c", "pass"],
    }
    for argv in cases.values():  # warm the file cache
        timed(argv)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, argv in cases.items():
            samples[name].append(timed(argv))
    base = statistics.median(samples["baseline: python -c 'import azure.ai.ml'"])
    print(f"{'case':45} {'median s':>9} {'ratio':>7}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:45} {med:9.3f} {med / base:7.2f}x")
    ratio = statistics.median(samples["amlgen render --all --check"]) / base
    print(f"\nrender --check / SDK import = {ratio:.2f}x (goal <= 0.30x)")
    return 0 if ratio <= 0.30 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: validating a full asset set vs merely importing the Azure ML SDK.

Budget (issue 3): `amlgen validate <env folder>` (every offline layer, the SDK's included) stays
under 1.5x the time of `import azure.ai.ml`. Both run as fresh processes, interleaved, so machine
noise hits both alike; the ratio of medians is what counts. Also times render's guard (every
layer but the SDK's), in process, against rendering alone.

Many files, one import: 100 files of the good corpus validated in one call against the same 100
files in 100 single calls (`--files 100`); each call pays for the SDK import, so one call should
cost a small fraction of the sum.

Run: .venv/bin/python bench/bench_validate.py [--runs 7] [--assets azureml/dev] [--files 100]
Exit status 1 when the ratio is over budget.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 1.5


def _timed(argv: list[str], check: bool = True) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=check, capture_output=True)
    return time.perf_counter() - start


def _render_guard(runs: int) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from generator.params import load_params
    from generator.rendering import render
    from generator.validation import validate_rendered

    plain, guarded = [], []
    for _ in range(runs):
        start = time.perf_counter()
        files = render(load_params("prod", ROOT))
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # its warnings are not the point here
            validate_rendered(render(load_params("prod", ROOT)), ROOT)
        guarded.append(time.perf_counter() - start)
    assert files
    return statistics.median(plain), statistics.median(guarded)


CORPUS = ROOT / "tests" / "validate_cases" / "corpus"


def _hundred_files(folder: Path, count: int) -> list[Path]:
    """`count` YAML files: copies of the corpus sets (with what they reference), renamed apart."""
    files: list[Path] = []
    i = 0
    while len(files) < count:
        dest = folder / f"copy{i}"
        shutil.copytree(CORPUS, dest)
        files += sorted(p for p in dest.rglob("*.yml") if "env" not in p.parts and p.parent != dest)
        i += 1
    return files[:count]


def _many_files(count: int) -> tuple[float, float]:
    """(one call on `count` files, `count` single calls), in seconds."""
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        files = _hundred_files(Path(tmp), count)
        one = _timed([py, "-m", "generator", "validate", *map(str, files)], check=False)
        single = sum(
            _timed([py, "-m", "generator", "validate", str(f)], check=False) for f in files
        )
    return one, single


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--assets", default="azureml/dev")
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    py = sys.executable
    baseline = [py, "-c", "import azure.ai.ml"]
    validate = [py, "-m", "generator", "validate", args.assets]
    _timed(baseline)  # warm the OS file cache for both
    _timed(validate)
    base_t, val_t = [], []
    for _ in range(args.runs):
        base_t.append(_timed(baseline))
        val_t.append(_timed(validate))
    b, v = statistics.median(base_t), statistics.median(val_t)
    ratio = v / b
    plain, guarded = _render_guard(args.runs)
    print(f"runs: {args.runs} each, interleaved, fresh processes; assets: {args.assets}")
    print("| measurement | median s |")
    print("| --- | --- |")
    print(f"| `python -c 'import azure.ai.ml'` (baseline) | {b:.2f} |")
    print(f"| `amlgen validate {args.assets}` (all offline layers, SDK included) | {v:.2f} |")
    print(f"| render prod in process | {plain:.3f} |")
    print(f"| render prod + validate_rendered (render's guard, no SDK) | {guarded:.3f} |")
    print(f"ratio validate / SDK import: {ratio:.2f}x (budget {BUDGET}x)")
    if args.files:
        one, single = _many_files(args.files)
        print(f"| {args.files} files in one call | {one:.2f} |")
        print(f"| the same {args.files} files in {args.files} single calls | {single:.2f} |")
        print(f"ratio one call / single calls: {one / single:.3f}x")
    return 0 if ratio <= BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: `amlgen data` on chat rows of 20 MB each (issue #20: 2.1 GB of memory).

Writes a JSON Lines source in the hub layout whose training split holds N rows of one 20 MB
assistant message (the other splits two each), runs `amlgen data --split-percent 100` on it as a
fresh process in a throw-away project, and prints the child's peak RSS and wall time per N. Flat
peak RSS from the small N to the large one means rows are read and encoded a few at a time.

Run: .venv/bin/python bench/bench_data_big_rows.py [--rows 12 40] [--mb 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("train_sft", "test_sft", "train_gen", "test_gen")


def make_source(folder: Path, rows: int, mb: int) -> None:
    (folder / "data").mkdir(parents=True)
    for split in SPLITS:
        with open(folder / "data" / f"{split}-00000-of-00001.jsonl", "w") as fh:
            for i in range(rows if split == "train_sft" else 2):
                messages = [
                    {"role": "user", "content": f"question {i}"},
                    {"role": "assistant", "content": "x" * (mb * 1024 * 1024)},
                ]
                fh.write(json.dumps({"prompt_id": str(i), "messages": messages}) + "\n")


def run(rows: int, mb: int) -> tuple[float, float]:
    """(peak RSS of the child in MB, wall seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        project, source = Path(tmp) / "project", Path(tmp) / "source"
        shutil.copytree(ROOT / "params", project / "params")
        make_source(source, rows, mb)
        argv = [sys.executable, "-m", "generator", "-C", str(project), "data", "--no-progress"]
        argv += ["--source", str(source), "--split-percent", "100"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(Path(tmp) / "hf")}
        start = time.perf_counter()
        subprocess.run(argv, check=True, env=env, capture_output=True)
        wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child
    return peak, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[12, 40])
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    print(f"| training rows of {args.mb} MB | source MB | peak RSS MB (largest so far) | wall s |")
    print("| --- | --- | --- | --- |")
    for rows in sorted(args.rows):  # ascending: RUSAGE_CHILDREN keeps the largest child
        peak, wall = run(rows, args.mb)
        print(f"| {rows} | {rows * args.mb} | {peak:.0f} | {wall:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

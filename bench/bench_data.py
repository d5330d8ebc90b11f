"""Benchmark `amlgen data` against the seed's plain export, side by side (not a test).

Both run as separate processes on the same synthetic dataset with ultrachat_200k's four split
sizes (times --scale), writing every row by default (`--percent 100`):

- baseline: what the seed's helper does per split, `load_dataset(src, split="<split>[:P%]")`
  then `Dataset.to_json(...)`, starting from an empty datasets cache (it converts to Arrow first);
- amlgen:   `amlgen data --split-percent P` with every check on.

Wall time is measured around each process, peak RSS is the process's own (os.wait4). Runs
alternate (baseline, amlgen, baseline, ...) so both see the same machine load; the median of
--repeat runs is reported with the ratio amlgen / baseline. Everything goes under build/bench/.

    .venv/bin/python bench/bench_data.py --scale 0.1            # quick
    .venv/bin/python bench/bench_data.py --scale 0.1 --scale 1  # full, and is memory flat?
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench" / "data"
SPLITS = ("train_sft", "test_sft", "train_gen", "test_gen")

BASELINE = f"""
import os, sys
from datasets import load_dataset
src, out = sys.argv[1], sys.argv[2]
for split in {SPLITS!r}:
    ds = load_dataset(src, split=split + "[:" + sys.argv[3] + "%]")
    ds.to_json(os.path.join(out, split + ".jsonl"))
"""


def dataset(scale: float) -> Path:
    """The synthetic dataset at this scale, made once and reused (deterministic bytes)."""
    folder = WORK / f"ds-{scale:g}"
    stamp = folder / ".complete"
    if not stamp.exists():
        shutil.rmtree(folder, ignore_errors=True)
        script = ROOT / "scripts" / "make_sample_dataset.py"
        args = ["--profile", "bench", "--scale", str(scale), "--out", str(folder)]
        subprocess.run([sys.executable, str(script), *args], check=True, stdout=subprocess.DEVNULL)
        stamp.touch()
    return folder


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()  # drained before waiting, so a chatty child cannot block
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"{argv[:3]} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss * 1024


def run_baseline(src: Path, out: Path, percent: int) -> tuple[float, int]:
    cache = WORK / "hf-cache"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(cache)}
    return measure([sys.executable, "-c", BASELINE, str(src), str(out), str(percent)], env)


def run_amlgen(src: Path, out: Path, percent: int) -> tuple[float, int]:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(WORK / "hf-cache-amlgen")}
    argv = [sys.executable, "-m", "generator", "-C", str(ROOT), "data", "--no-progress"]
    argv += ["--source", str(src), "--split-percent", str(percent), "--out", str(out)]
    return measure(argv, env)


def bench(scale: float, repeat: int, percent: int) -> dict[str, float]:
    src = dataset(scale)
    rows = {"baseline": [], "amlgen": []}  # type: dict[str, list[tuple[float, int]]]
    for _ in range(repeat):
        rows["baseline"].append(run_baseline(src, WORK / "out-baseline", percent))
        rows["amlgen"].append(run_amlgen(src, WORK / "out-amlgen", percent))
    result: dict[str, float] = {"scale": scale, "percent": percent}
    for name, runs in rows.items():
        result[f"{name}_wall_s"] = statistics.median(w for w, _ in runs)
        result[f"{name}_rss_mb"] = statistics.median(r for _, r in runs) / 2**20
    result["wall_ratio"] = result["amlgen_wall_s"] / result["baseline_wall_s"]
    result["rss_ratio"] = result["amlgen_rss_mb"] / result["baseline_rss_mb"]
    out = WORK / "out-amlgen"
    result["jsonl_mb"] = sum(p.stat().st_size for p in out.glob("*.jsonl")) / 2**20
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--scale",
        type=float,
        action="append",
        help="fraction of ultrachat_200k's split sizes (repeatable; default 1)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, median reported")
    ap.add_argument(
        "--percent", type=int, default=100, help="split percentage both take (default 100)"
    )
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results = [bench(scale, args.repeat, args.percent) for scale in args.scale or [1.0]]
    print("| scale | % | rows | JSONL MB | baseline s | amlgen s | wall ratio "
          "| baseline MB | amlgen MB | RSS ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        rows = round(sum((207865, 23110, 256032, 28304)) * r["scale"])
        print(
            f"| {r['scale']:g} | {r['percent']} | {rows} | {r['jsonl_mb']:.0f} "
            f"| {r['baseline_wall_s']:.2f} "
            f"| {r['amlgen_wall_s']:.2f} | {r['wall_ratio']:.2f} | {r['baseline_rss_mb']:.0f} "
            f"| {r['amlgen_rss_mb']:.0f} | {r['rss_ratio']:.2f} |"
        )
    (WORK / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

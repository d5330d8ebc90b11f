"""Benchmark: one folder of many small valid files (issue #20: 5,000 took 97 s).

The folder is one asset set (checked file by file and across files), so both per-file cost and
anything quadratic across files show: the files cycle through a data asset, a model, an
environment, a compute cluster and a command job (with its code folder and data file), each
with a name of its own. Times `amlgen validate FOLDER` as a fresh process at each size (median
of `--runs`), wall and CPU (user + system of the child), and the CPU per file: a flat per-file
cost from the small size to the large one means no quadratic work.

Run: .venv/bin/python bench/bench_validate_many.py [--sizes 1000 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "https://azuremlschemas.azureedge.net/latest/"

TEMPLATES = (
    f"$schema: {SCHEMA}data.schema.json\nname: taxi-raw-{{i}}\ntype: uri_folder\n"
    "path: azureml://datastores/workspaceblobstore/paths/taxi/raw/\n",
    f'$schema: {SCHEMA}model.schema.json\nname: taxi-model-{{i}}\nversion: "1"\n'
    "type: mlflow_model\npath: azureml://jobs/quiet_river_1x2y3z/outputs/artifacts/paths/model/\n",
    f'$schema: {SCHEMA}environment.schema.json\nname: sklearn-env-{{i}}\nversion: "7"\n'
    "image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest\n",
    f"$schema: {SCHEMA}amlCompute.schema.json\nname: cpu{{i}}x\ntype: amlcompute\n"
    "size: Standard_E4s_v3\nmin_instances: 0\nmax_instances: 4\n",
    f"$schema: {SCHEMA}commandJob.schema.json\ntype: command\nexperiment_name: e{{i}}\n"
    "code: ./src\ncommand: python train.py --data ${{{{inputs.data}}}}\n"
    "inputs:\n  data:\n    type: uri_file\n    path: ./data/train.csv\n"
    "environment: azureml:AzureML-sklearn-1.5@latest\n"
    "resources:\n  instance_type: Standard_E4s_v3\n  instance_count: 1\n",
)


def make_folder(folder: Path, count: int) -> None:
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text("print('train')\n")
    (folder / "data").mkdir()
    (folder / "data" / "train.csv").write_text("a,b\n1,2\n")
    for i in range(count):
        text = TEMPLATES[i % len(TEMPLATES)].format(i=i)
        (folder / f"asset-{i:05d}.yml").write_text(text)


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, last line of stderr)."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    tail = (proc.stdout.strip().splitlines() or [""])[-1]
    return wall, cpu, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| files | wall s (median) | CPU s (median) | CPU ms per file | result |")
    print("| --- | --- | --- | --- | --- |")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "many"
            make_folder(folder, size)
            argv = [sys.executable, "-m", "generator", "validate", str(folder)]
            runs = [timed(argv) for _ in range(args.runs)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"| {size} | {wall:.1f} | {cpu:.1f} | {1000 * cpu / size:.2f} | {runs[0][2]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

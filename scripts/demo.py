"""`make demo`: the whole flow, offline, against the local Azure ML emulator.

It works in a throw-away project under build/demo/ (git-ignored) made from this repo's params,
so a real `.amlgen/` state or the committed azureml/ are never touched, and prints every amlgen
command before running it, so the demo doubles as a walkthrough:

    data -> render -> validate -> emulator -> (cli plan) -> run --backend sdk -> teardown

then the same for the `type: finetuning` path (params/serverless.yaml): its dry-run plan with
the cli backend, and the run with the sdk backend (serverless fine-tune, the model the job
registers, a serverless endpoint, a chat-completions call, teardown).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "build" / "demo"
SAMPLE = ROOT / "samples" / "ultrachat_200k_sample"
ENV = "dev"
SERVERLESS = "serverless"


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def amlgen(*args: str, env: dict[str, str] | None = None) -> None:
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"$ amlgen -C build/demo {shown}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(DEMO), *args],
        check=True,
        env=env,
    )


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """The emulator, and the one value that connects to it: its URL (it records its key in a
    file only this user can read, where amlgen finds it)."""
    print("$ amlgen-emulator --job-seconds 4   (in the background)", flush=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.emulator", "--job-seconds", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = ""
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not url:
        line = proc.stdout.readline()
        if not line:
            break
        print(f"  {line.rstrip()}", flush=True)
        if "AMLGEN_EMULATOR=" in line:
            url = line.split("=", 1)[1].strip()
    if not url:
        proc.kill()
        raise SystemExit("demo: the emulator did not start")
    return proc, url


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def emulator_state(url: str) -> dict[str, object]:
    from generator.workspace import emulator_connection, make_token

    url, secret = emulator_connection(url) or (url, "")
    request = urllib.request.Request(
        url + "_emulator/state", headers={"Authorization": f"Bearer {make_token(url, secret)}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
        return json.loads(response.read())  # type: ignore[no-any-return]


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(parents=True)
    shutil.copytree(ROOT / "params", DEMO / "params")

    step("1. Prepare the data (the shipped synthetic sample, in the hub's parquet layout)")
    amlgen("data", "--env", ENV, "--source", str(SAMPLE), "--split-percent", "100")

    step("2. Render the Azure ML YAML from params/ (both methods)")
    amlgen("render", "--env", ENV)
    amlgen("render", "--env", SERVERLESS)

    step("3. Validate offline (all layers, SDK included)")
    amlgen("validate", f"azureml/{ENV}", f"azureml/{SERVERLESS}")

    step("4. Start the local Azure ML emulator")
    proc, url = start_emulator()
    env = {**os.environ, "AMLGEN_EMULATOR": url, "AMLGEN_POLL_SECONDS": "1"}
    env.pop("AMLGEN_EMULATOR_SECRET", None)  # the URL is enough
    try:
        step("5. What the az CLI backend would run (dry run)")
        amlgen("run", "--env", ENV, "--backend", "cli", "--dry-run", env=env)

        step("6. Run it all with the SDK backend: submit, wait, register, deploy, invoke, teardown")
        amlgen("run", "--env", ENV, "--backend", "sdk", env=env)

        step("7. The fine-tuning job path (params/serverless.yaml): the cli backend's plan")
        amlgen("run", "--env", SERVERLESS, "--backend", "cli", "--dry-run", env=env)

        step("8. Run it with the SDK backend: fine-tune serverless, serve, invoke, teardown")
        amlgen("run", "--env", SERVERLESS, "--backend", "sdk", env=env)

        step("9. What is left running in the emulator")
        state = emulator_state(url)
        endpoints = {**(state.get("endpoints") or {}), **(state.get("serverless_endpoints") or {})}
        jobs = state.get("jobs") or {}
        models = state.get("models") or {}
        print(f"  jobs: {len(jobs)}, registered models: {len(models)}, endpoints: {len(endpoints)}")
        if endpoints:
            print("demo: an endpoint was left behind", file=sys.stderr)
            return 1
        for env_name in (ENV, SERVERLESS):
            if (DEMO / ".amlgen" / env_name / "response.json").is_file():
                print(f"  the response is saved in build/demo/.amlgen/{env_name}/response.json")
    finally:
        stop(proc)
    took = time.monotonic() - started
    print(f"\ndemo finished in {took:.0f} s; everything it started is stopped.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"demo: step failed with exit code {exc.returncode}", file=sys.stderr)
        sys.exit(exc.returncode or 1)

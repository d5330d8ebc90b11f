"""The flow end to end against the local emulator: both backends (the cli one through the
stand-in `az`), resume, guaranteed teardown, and every failure path of the issue."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _flowkit import az_on_path, child_env, make_project, point_flow_at

import generator as workflow
from generator.errors import AmlgenError, WorkflowError
from generator.params import load_params

pytestmark = pytest.mark.slow

emulator_mod = pytest.importorskip("generator.emulator", reason="needs the emulator (helper E)")
Emulator = emulator_mod.Emulator

ENDPOINT = "ultrachat-completion-dev"
MODEL = "Phi-4-ultrachat-200k"


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh emulator per test; the flow finds it through the environment, as users do."""
    with Emulator(job_seconds=1.0, deploy_seconds=0.5) as server:
        point_flow_at(server, tmp_path, monkeypatch)
        yield server


def state_of(proj: Path) -> dict[str, Any]:
    return json.loads((proj / ".amlgen" / "dev" / "state.json").read_text())


def puts(emu: Any, kind: str) -> list[tuple[str, Any]]:
    """(resource name, body) of every PUT to a resource collection, in order."""
    out = []
    for method, path, body in emu.snapshot()["requests"]:
        m = re.search(rf"/{kind}/([^/]+)(?:/versions/([^/]+))?$", path)
        if method == "PUT" and m:
            out.append((m.group(1), body))
    return out


def live_endpoints(emu: Any) -> list[str]:
    return sorted(emu.snapshot()["endpoints"])


def normalised_job_body(body: dict[str, Any]) -> dict[str, Any]:
    """Facts §2: what legitimately differs between two submissions of the same YAML."""
    body = json.loads(json.dumps(body))
    props = body["properties"]
    props.get("settings", {}).pop("default_compute", None)
    props["properties"] = {
        k: v
        for k, v in (props.get("properties") or {}).items()
        if not k.startswith(("mlflow.source.git", "azureml.git"))
    }
    return body


def executed_az(log: Path) -> list[list[str]]:
    """argv lists the stand-in az ran, consecutive repeats (polls) collapsed."""
    out: list[list[str]] = []
    for line in log.read_text().splitlines():
        argv = json.loads(line)
        if not out or out[-1] != argv:
            out.append(argv)
    return out


# --- the happy path, both backends ---------------------------------------------------------------


def test_both_backends_run_end_to_end_and_send_the_same_job(
    emu: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_proj = make_project(tmp_path / "cli")
    sdk_proj = make_project(tmp_path / "sdk")
    fingerprint = load_params("dev", cli_proj).fingerprint

    # cli: the dry-run plan is exactly what then runs (minus the branches not taken).
    plan = workflow.run(project_dir=cli_proj, backend="cli", dry_run=True).plan
    (tmp_path / "az.log").unlink()  # the dry run's own live reads (it shows the real plan)
    lines: list[str] = []
    cli = workflow.run(project_dir=cli_proj, backend="cli", log=lines.append)
    assert f"deleted endpoint {ENDPOINT}" in lines
    cli_job = cli.state["job"]["name"]
    expected = [
        [tok.replace("<job-name>", cli_job) for tok in shlex.split(line.split("  # ")[0])]
        for line in plan
        if "# when it exists" not in line
    ]
    # Consecutive repeats collapse on both sides (the plan's last read is pre-flight's first).
    expected = [argv for i, argv in enumerate(expected) if i == 0 or expected[i - 1] != argv]
    assert executed_az(tmp_path / "az.log") == expected
    assert "not a model" in (cli.response or "")
    saved = json.loads((cli_proj / ".amlgen" / "dev" / "response.json").read_text())
    assert "not a model" in saved["output"]
    state = state_of(cli_proj)
    assert state["job"]["status"] == "Completed" and state["params"] == fingerprint
    assert state["model"] == {"name": MODEL, "version": "1", "job": cli_job}
    assert state["endpoint"] == {"name": ENDPOINT, "status": "deleted"}
    assert live_endpoints(emu) == []  # torn down at the end

    # Everything done: a re-run does nothing new.
    before = len(emu.snapshot()["requests"])
    again = workflow.run(project_dir=cli_proj, backend="cli")
    assert again.message and "nothing to do" in again.message
    assert len(emu.snapshot()["requests"]) == before

    # sdk, same params, fresh project, same workspace: model version 1 exists from the cli job,
    # so registering this run's job would fail after its training: refused before submitting.
    with pytest.raises(WorkflowError, match=r"registration would fail; bump registered_model"):
        workflow.run(project_dir=sdk_proj, backend="sdk")
    assert "job" not in state_of(sdk_proj) and [n for n, _ in puts(emu, "jobs")] == [cli_job]
    assert live_endpoints(emu) == []

    # sdk in a fresh workspace: it runs end to end, and both backends PUT the same job body
    # (the proof CLI and SDK users get the same job).
    with Emulator(job_seconds=1.0, deploy_seconds=0.5, secret=emu.secret) as fresh:
        sdk = workflow.run(project_dir=sdk_proj, backend="sdk", emulator=fresh.url)
        assert "not a model" in (sdk.response or "") and live_endpoints(fresh) == []
        ((sdk_job, sdk_body),) = puts(fresh, "jobs")
    assert sdk_job == sdk.state["job"]["name"]
    cli_body = dict(puts(emu, "jobs"))[cli_job]
    assert normalised_job_body(cli_body) == normalised_job_body(sdk_body)
    assert cli_body["properties"]["tags"]["amlgen.params"] == fingerprint
    # Every created resource carries the tool's tags.
    for kind in ("onlineEndpoints", "deployments", "versions", "computes"):
        bodies = puts(emu, kind)
        assert bodies, kind
        for _name, body in bodies:
            tags = (body.get("tags") or {}) | (body.get("properties", {}).get("tags") or {})
            assert tags.get("amlgen.params") == fingerprint, (kind, body)
    out = capsys.readouterr()
    assert emu.secret not in out.out + out.err + "\n".join(lines)


# --- failures: clear error, nothing left behind, consistent state, resume ---------------------


@pytest.mark.parametrize("status", ["Failed", "Canceled"])
def test_job_that_does_not_complete_stops_then_rerun_submits_anew(
    emu: Any, tmp_path: Path, status: str
) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "job_status", "status": status})
    with pytest.raises(WorkflowError, match=f"ended {status}"):
        workflow.run(project_dir=proj, backend="sdk")
    state = state_of(proj)
    assert state["job"]["status"] == status
    assert "model" not in state and "endpoint" not in state
    assert puts(emu, "onlineEndpoints") == []
    first = state["job"]["name"]

    done = workflow.run(project_dir=proj, backend="sdk")
    assert "not a model" in (done.response or "")
    assert (proj / ".amlgen" / "dev" / "response.json").is_file()
    assert done.state["job"]["name"] != first and done.state["job"]["status"] == "Completed"
    assert done.state["model"]["job"] == done.state["job"]["name"]
    assert done.state["endpoint"] == {"name": ENDPOINT, "status": "deleted"}
    assert [name for name, _ in puts(emu, "jobs")] == [first, done.state["job"]["name"]]
    assert live_endpoints(emu) == []


@pytest.mark.parametrize("backend", ["sdk", "cli"])
def test_failed_deployment_deletes_the_endpoint_and_rerun_resumes(
    emu: Any, tmp_path: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault({"fault": "deployment_fails"})
    lines: list[str] = []
    with pytest.raises(AmlgenError) as info:
        workflow.run(project_dir=proj, backend=backend, stream=True, log=lines.append)
    assert "demo" in str(info.value) or "deployment" in str(info.value)
    assert f"deleted endpoint {ENDPOINT}" in lines
    assert capsys.readouterr().out == ""  # the library prints nothing (streamed logs: stderr)
    assert live_endpoints(emu) == []
    state = state_of(proj)
    assert state["endpoint"]["status"] == "deleted" and "deployment" not in state
    assert state["job"]["status"] == "Completed" and state["model"]["version"] == "1"

    jobs_before, models_before = len(puts(emu, "jobs")), len(puts(emu, "versions"))
    done = workflow.run(project_dir=proj, backend=backend)
    assert "not a model" in (done.response or "")
    assert len(puts(emu, "jobs")) == jobs_before  # resumed: no new job
    assert len(puts(emu, "versions")) == models_before  # nor a new model
    assert live_endpoints(emu) == []


def test_throttling_and_a_restart_mid_poll_are_survived(emu: Any, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    emu.add_fault(
        {"fault": "throttle", "status": 429, "times": 2, "retry_after": 1, "match": "/jobs/"}
    )
    emu.add_fault(
        {
            "fault": "throttle",
            "status": 503,
            "times": 1,
            "retry_after": 1,
            "match": "/onlineEndpoints/",
        }
    )
    emu.add_fault({"fault": "restart", "after_requests": 12, "down_seconds": 0.5})
    done = workflow.run(project_dir=proj, backend="sdk")
    assert "not a model" in (done.response or "")
    fired = [f[0] for f in emu.snapshot()["faults_fired"]]
    assert fired.count("throttle 429") == 2 and fired.count("throttle 503") == 1
    assert "restart" in fired and emu.restarts == 1
    assert live_endpoints(emu) == []


def test_cli_polling_survives_a_restart_and_status_resumes_after_a_timeout(
    emu: Any, tmp_path: Path
) -> None:
    proj = make_project(tmp_path / "p")
    emu.api.job_seconds = 6.0
    sub = workflow.submit(project_dir=proj, backend="sdk")
    job = sub.state["job"]["name"]
    with pytest.raises(WorkflowError, match=r"still .* after"):
        workflow.status(project_dir=proj, backend="sdk", wait=True, timeout_minutes=0.01)
    assert state_of(proj)["job"]["status"] not in ("Completed", "Failed", "Canceled")

    emu.add_fault({"fault": "restart", "after_requests": 3, "down_seconds": 1.0})
    done = workflow.status(project_dir=proj, backend="cli", wait=True)
    assert done.job_status == "Completed" and state_of(proj)["job"]["status"] == "Completed"
    # The connection dropped under an `az ml job show`; polling carried on (the SDK inside az
    # retries refused connections; a failed `az` call would be retried by the poll loop).
    assert emu.restarts == 1
    assert "restart" in [f[0] for f in emu.snapshot()["faults_fired"]]
    registered = workflow.register(project_dir=proj, backend="cli")
    assert registered.state["model"]["job"] == job


@pytest.mark.parametrize(
    ("backend", "signum", "code"),
    [("sdk", signal.SIGINT, 130), ("cli", signal.SIGINT, 130), ("sdk", signal.SIGTERM, 143)],
    ids=["sdk-SIGINT", "cli-SIGINT", "sdk-SIGTERM"],
)
def test_a_signal_during_deployment_tears_down_and_rerun_finishes(
    emu: Any,
    tmp_path: Path,
    backend: str,
    signum: int,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proj = make_project(tmp_path / "p")
    emu.api.deploy_seconds = 30.0  # long enough to be interrupted mid-provisioning
    env = child_env()
    env.pop("AMLGEN_EMULATOR")  # the flag instead
    if backend == "cli":
        env["PATH"] = f"{az_on_path(tmp_path)}{os.pathsep}{env['PATH']}"
        monkeypatch.setenv("PATH", env["PATH"])
    cmd = ["-C", str(proj), "run", "--backend", backend, "--emulator", emu.url]
    # Its own process group, so the signal reaches every process in it (amlgen and, with the
    # cli backend, the running `az`), as Ctrl-C in a terminal does.
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    state_file = proj / ".amlgen" / "dev" / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"amlgen run ended early: {proc.communicate()[1]}")
        if state_file.exists() and '"deployment"' in state_file.read_text():
            deps = emu.snapshot()["deployments"].get(ENDPOINT, {})
            if deps:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the deployment never started")
    os.killpg(proc.pid, signum)  # SIGTERM: what CI sends when it cancels a job
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"deleted endpoint {ENDPOINT}" in err and "interrupted" in err
    assert "Traceback" not in err and emu.secret not in err
    assert live_endpoints(emu) == []
    state = state_of(proj)
    assert state["endpoint"]["status"] == "deleted"
    assert state["job"]["status"] == "Completed"

    emu.api.deploy_seconds = 0.5
    done = workflow.run(project_dir=proj, backend=backend)
    assert "not a model" in (done.response or "")
    assert len(puts(emu, "jobs")) == 1
    assert live_endpoints(emu) == []


def test_keep_endpoint_then_teardown(emu: Any, tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    workflow.run(project_dir=proj, backend="sdk", keep_endpoint=True)
    assert live_endpoints(emu) == [ENDPOINT]
    assert state_of(proj)["endpoint"]["status"] == "created"
    again = workflow.invoke(project_dir=proj, backend="cli")
    assert "not a model" in (again.response or "")
    workflow.teardown(project_dir=proj, backend="cli")
    assert live_endpoints(emu) == []
    assert state_of(proj)["endpoint"]["status"] == "deleted"
    nothing = workflow.teardown(project_dir=proj, backend="cli")
    assert nothing.message and "nothing to tear down" in nothing.message

"""Helpers for the flow tests: a rendered temp project with tiny data, and the stand-in `az`."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_AZ = Path(__file__).resolve().parent / "fake_az" / "az"

DATA_DIRS = {"dev": "data/ultrachat_200k", "prod": "data/ultrachat_200k-prod"}


def child_env() -> dict[str, str]:
    """The environment for an amlgen subprocess, as a user's shell would have it.

    Talking to the emulator in-process makes the SDK record its custom cloud in this process's
    environment (AZUREML_CURRENT_CLOUD, read at call time); a child would not know that cloud.
    """
    env = os.environ.copy()
    env.pop("AZUREML_CURRENT_CLOUD", None)
    return env


def chat_rows(n: int, tag: str) -> str:
    rows = []
    for i in range(n):
        messages = [
            {"role": "user", "content": f"{tag} question {i}?"},
            {"role": "assistant", "content": f"{tag} answer {i}."},
        ]
        rows.append(
            json.dumps(
                {"prompt": messages[0]["content"], "prompt_id": f"{i:064x}", "messages": messages}
            )
        )
    return "\n".join(rows) + "\n"


def write_data(project: Path, env: str = "dev") -> Path:
    folder = project / DATA_DIRS[env]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_sft.jsonl").write_text(chat_rows(12, "train"), encoding="utf-8")
    (folder / "test_sft.jsonl").write_text(chat_rows(10, "test"), encoding="utf-8")
    # The shape `amlgen data` writes (and the notebook sends): a list holding one conversation.
    request = {
        "input_data": {
            "input_string": [[{"role": "user", "content": "What is the capital of France?"}]],
            "parameters": {
                "temperature": 0.6,
                "top_p": 0.9,
                "do_sample": True,
                "max_new_tokens": 200,
            },
        },
        "params": {},
    }
    (folder / "sample_score.json").write_text(json.dumps(request), encoding="utf-8")
    return folder


def make_project(tmp: Path, overrides: tuple[str, ...] = ()) -> Path:
    """params/ from the repo, rendered into azureml/, tiny data for dev and prod."""
    from generator.rendering import render_environments

    shutil.copytree(ROOT / "params", tmp / "params")
    render_environments(["dev", "prod"], tmp, list(overrides), all_envs=True)
    write_data(tmp, "dev")
    write_data(tmp, "prod")
    return tmp


FINETUNE_ENV = "serverless"
# A model whose publisher needs a marketplace subscription; no such model is in the emulator's
# registry, so tests set it on the rendered job.
MARKETPLACE_MODEL = "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"


def finetune_project(tmp: Path, overrides: tuple[str, ...] = ()) -> Path:
    """make_project, plus azureml/serverless/ (method finetuning_job) rendered."""
    from generator.rendering import render_environments

    proj = make_project(tmp)
    render_environments([FINETUNE_ENV], proj, list(overrides), all_envs=False)
    return proj


def marketplace_assets(proj: Path) -> Any:
    """The fine-tuning job's assets, its base model one that needs a marketplace subscription."""
    from generator.backends import FinetuneAssets

    folder = proj / "azureml" / FINETUNE_ENV
    assets = FinetuneAssets.load_job(folder, proj, proj / "data" / "sample_score.json")
    assets.job["model"]["path"] = f"{MARKETPLACE_MODEL}/versions/4"
    assert assets.marketplace_needed
    return assets


# Set to 0 to run every stand-in `az` call as a fresh interpreter (no fork server).
ENV_FORK = "AMLGEN_TEST_AZ_FORK"
_fork_server: dict[str, Any] = {}


def az_fork_socket() -> str | None:
    """The socket of this test process's fork server for the stand-in `az` (started on first
    use, stopped when the process exits), or None when turned off (AMLGEN_TEST_AZ_FORK=0).

    Each call of the stand-in is then a fork of a process that has imported the SDK once,
    instead of a fresh interpreter importing it (tests/fake_az/forkserver.py)."""
    if os.environ.get(ENV_FORK, "1") == "0" or not hasattr(os, "pidfd_open"):
        return None
    if not _fork_server:
        folder = tempfile.mkdtemp(prefix="amlgen-az-")
        path = os.path.join(folder, "s")
        # It ends when this process is gone (its parent changes); its output goes to a log.
        with open(os.path.join(folder, "server.log"), "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(FAKE_AZ.parent / "forkserver.py"), path, str(os.getpid())],
                stdin=subprocess.DEVNULL,
                # The SDK reads the current cloud as it is imported: import it as `az` would.
                env=child_env(),
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C of the test run reaches the calls, not it
            )
        Path(folder, "pid").write_text(str(proc.pid), encoding="ascii")  # the client checks it
        _fork_server.update(proc=proc, path=path, folder=folder)
        atexit.register(_stop_fork_server)
    return str(_fork_server["path"])


def _stop_fork_server() -> None:
    proc = _fork_server["proc"]
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(_fork_server["folder"], ignore_errors=True)


def az_on_path(tmp: Path) -> Path:
    """A folder holding an `az` that runs the stand-in with this venv's Python: through the
    session's fork server (a client of a few milliseconds), or as a fresh interpreter."""
    folder = tmp / "bin"
    folder.mkdir(exist_ok=True)
    wrapper = folder / "az"
    socket_path = az_fork_socket()
    if socket_path is None:
        text = f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AZ}" "$@"\n'
    else:
        client = FAKE_AZ.parent / "client.py"
        text = f'#!/bin/sh\nexec "{sys.executable}" -I -S "{client}" "{socket_path}" "$@"\n'
    wrapper.write_text(text, encoding="utf-8")
    wrapper.chmod(0o755)
    return folder


WORKSPACE_VARS = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME")


def point_flow_at(server: Any, tmp: Path, monkeypatch: Any) -> None:
    """The flow finds the emulator through the environment, as users do: its URL and secret,
    fast polling, the stand-in `az` on PATH and named in AMLGEN_AZ (logging to tmp/az.log),
    no workspace of ours."""
    monkeypatch.setenv("AMLGEN_EMULATOR", server.url)
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", server.secret)
    monkeypatch.setenv("AMLGEN_POLL_SECONDS", "0.1")
    stand_in = az_on_path(tmp)
    monkeypatch.setenv("PATH", f"{stand_in}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AMLGEN_AZ", str(stand_in / "az"))  # an az that can reach the emulator
    monkeypatch.setenv("AMLGEN_FAKE_AZ_LOG", str(tmp / "az.log"))
    for name in WORKSPACE_VARS:
        monkeypatch.delenv(name, raising=False)

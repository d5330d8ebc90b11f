"""Helpers for the flow tests: a rendered temp project with tiny data, and the stand-in `az`."""

from __future__ import annotations

import json
import os
import shutil
import sys
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


def az_on_path(tmp: Path) -> Path:
    """A folder holding an `az` that runs the stand-in with this venv's Python."""
    folder = tmp / "bin"
    folder.mkdir(exist_ok=True)
    wrapper = folder / "az"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AZ}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return folder


WORKSPACE_VARS = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME")


def point_flow_at(server: Any, tmp: Path, monkeypatch: Any) -> None:
    """The flow finds the emulator through the environment, as users do: its URL and secret,
    fast polling, the stand-in `az` on PATH (logging to tmp/az.log), no workspace of ours."""
    monkeypatch.setenv("AMLGEN_EMULATOR", server.url)
    monkeypatch.setenv("AMLGEN_EMULATOR_SECRET", server.secret)
    monkeypatch.setenv("AMLGEN_POLL_SECONDS", "0.1")
    monkeypatch.setenv("PATH", f"{az_on_path(tmp)}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AMLGEN_FAKE_AZ_LOG", str(tmp / "az.log"))
    for name in WORKSPACE_VARS:
        monkeypatch.delenv(name, raising=False)

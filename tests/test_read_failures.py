"""Not found means not found (issue #21.4): a read that failed is one error line naming the
cause and the fix, never "not found", in plan, pre-flight, run, teardown and `lock --check`.

One classifier (generator/backends/failures.py) reads az's exit code and message and the SDK's
exception types. Stand-ins here: an `az` that crashes with a traceback, one without the ml
extension, one whose sign-in has lapsed, one that answers for a workspace that is not there,
and an emulator that refuses the token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _flowkit import finetune_project, make_project
from click.testing import CliRunner

from generator.backends.failures import (
    AUTH,
    BROKEN_AZ,
    FORBIDDEN,
    NO_EXTENSION,
    NOT_FOUND,
    OTHER,
    PARENT_MISSING,
    TRANSIENT,
    classify_az,
    classify_exception,
)
from generator.cli import cli
from generator.emulator import Emulator
from generator.state import State

WORKSPACE = ["--subscription", "12345678-1234-1234-1234-123456789abc", "-g", "rg", "-w", "ws"]
CRASH = """Traceback (most recent call last):
  File "/opt/az/lib/python3.12/runpy.py", line 198, in _run_module_as_main
  File "/opt/az/lib/python3.12/site-packages/azure/cli/__main__.py", line 13, in <module>
    import azure.cli.main
ModuleNotFoundError: No module named 'azure'"""
NO_ML = (
    "ERROR: 'ml' is misspelled or not recognized by the system.\n\nExamples from AI knowledge base:"
)
SIGN_IN = "ERROR: Please run 'az login' to setup account."
NO_WORKSPACE = (
    "ERROR: (ResourceNotFound) The Resource 'Microsoft.MachineLearningServices/workspaces/ws' "
    "under resource group 'rg' was not found. For more details please go to "
    "https://aka.ms/ARMResourceNotFoundFix\nCode: ResourceNotFound"
)
MODEL_404 = (
    "ERROR: (UserError) The specified resource was not found.\nCode: UserError\nMessage: The "
    "specified resource was not found.\nException Details:\t(ModelNotFound) Model container "
    "with name: Phi-4-ultrachat-200k not found."
)


# --- the classifier ---------------------------------------------------------------------------


def test_az_failures_are_told_apart_by_exit_code_and_message() -> None:
    assert classify_az(1, CRASH) == BROKEN_AZ
    assert classify_az(2, NO_ML) == NO_EXTENSION
    assert classify_az(1, SIGN_IN) == AUTH
    assert classify_az(1, "ERROR: AADSTS700082: The refresh token has expired") == AUTH
    assert classify_az(3, NO_WORKSPACE) == PARENT_MISSING  # a 404, but of the workspace
    assert (
        classify_az(3, "ERROR: (ResourceGroupNotFound) Resource group 'rg' could not be found.")
        == PARENT_MISSING
    )
    assert classify_az(3, MODEL_404) == NOT_FOUND  # az's not-found exit, about the model
    assert classify_az(1, MODEL_404) == OTHER  # the words alone are not az's verdict
    assert classify_az(1, "ERROR: ModelNotFound: no such thing") == OTHER
    # The ml extension's own wording for a missing serverless endpoint (exit 1, a traceback).
    gone = "ERROR: Serverless endpoint ep does not exist.\nTraceback (most recent call last):"
    assert classify_az(1, gone, "ep") == NOT_FOUND
    assert classify_az(1, gone, "other") == BROKEN_AZ
    assert classify_az(1, "ERROR: (AuthorizationFailed) does not have authorization") == FORBIDDEN
    network = "ERROR: ... Failed to establish a new connection: [Errno -3] Temporary failure"
    assert classify_az(1, network) == TRANSIENT


def test_sdk_failures_are_told_apart_by_exception_type() -> None:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    assert classify_exception(ResourceNotFoundError(MODEL_404)) == NOT_FOUND
    assert classify_exception(ResourceNotFoundError(NO_WORKSPACE)) == PARENT_MISSING
    assert classify_exception(ClientAuthenticationError("DefaultAzureCredential failed")) == AUTH
    assert classify_exception(ServiceRequestError("Connection refused")) == TRANSIENT
    assert classify_exception(ValueError("no module")) == OTHER
    forbidden = HttpResponseError("denied")
    forbidden.status_code = 403
    assert classify_exception(forbidden) == FORBIDDEN


# --- each stand-in, through the commands ------------------------------------------------------


def _az(tmp: Path, stderr: str, code: int) -> Path:
    script = tmp / "broken-az"
    script.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{stderr}\nEOF\nexit {code}\n")
    script.chmod(0o755)
    return script


def _amlgen(proj: Path, args: list[str], env: dict[str, str]) -> Any:
    base = {
        "AMLGEN_EMULATOR": "",
        "AMLGEN_EMULATOR_SECRET": "",
        "AZURE_SUBSCRIPTION_ID": "",
        "AZURE_RESOURCE_GROUP": "",
        "AZUREML_WORKSPACE_NAME": "",
        "AMLGEN_POLL_SECONDS": "0.05",
    }
    return CliRunner().invoke(cli, ["-C", str(proj), *args], env={**base, **env})


def _one_error_line(result: Any, *words: str) -> str:
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert result.exit_code == 1, result.output
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], errors[0]
    for wrong in ("not found in registry", "has no version", "BREAKING", "Traceback"):
        assert wrong not in result.output
    return errors[0]


CASES = {
    "crash": (
        CRASH,
        1,
        ("failed before reaching Azure", "No module named 'azure'", "--backend sdk"),
    ),
    "no ml extension": (NO_ML, 2, ("no `ml` extension", "az extension add -n ml")),
    "sign-in": (SIGN_IN, 1, ("not signed in", "az login")),
    "no workspace": (NO_WORKSPACE, 3, ("is not there", "--workspace", "workspaces/ws")),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_az_is_one_line_naming_the_cause_everywhere(tmp_path: Path, case: str) -> None:
    stderr, code, words = CASES[case]
    proj = finetune_project(tmp_path / "proj")
    env = {"AMLGEN_AZ": str(_az(tmp_path, stderr, code))}
    State.of(proj, "dev").update("endpoint", name="ultrachat-completion-dev", status="created")
    commands = [
        ["plan", "--env", "dev", "--backend", "cli"],  # plan's reads
        ["submit", "--env", "dev"],  # pre-flight's reads (the registry model, the cluster)
        ["run", "--env", "serverless"],  # the fine-tuning path's run
        ["teardown", "--env", "dev"],  # the endpoint the state records
    ]
    for args in commands:
        _one_error_line(_amlgen(proj, [*args, *WORKSPACE], env), *words)
    # Nothing was taken for gone: the endpoint is still recorded, to delete once az works.
    assert State.of(proj, "dev").section("endpoint").get("status") == "created"


@pytest.mark.slow
def test_an_emulator_that_refuses_the_token_is_one_line_for_both_backends_and_lock(
    tmp_path: Path,
) -> None:
    from _flowkit import az_on_path

    proj = make_project(tmp_path / "proj")
    with Emulator(job_seconds=1.0) as emu:
        env = {
            "AMLGEN_EMULATOR": emu.url,
            "AMLGEN_EMULATOR_SECRET": "not-the-key-it-printed-" + "x" * 20,
            "PATH": f"{az_on_path(tmp_path)}:{__import__('os').environ['PATH']}",
            "AMLGEN_AZ": str(az_on_path(tmp_path) / "az"),  # the stand-in reaches the emulator
        }
        for backend in ("sdk", "cli"):
            result = _amlgen(proj, ["plan", "--env", "dev", "--backend", backend], env)
            _one_error_line(result, "the emulator refused the token", "AMLGEN_EMULATOR_SECRET")
        result = _amlgen(proj, ["lock", "--check", "--env", "dev", "--emulator", emu.url], env)
        line = _one_error_line(result, "cannot read the registry:", "refused the token")
        assert "change(s)" not in result.output
        assert emu.secret not in result.output and emu.secret not in line


EMU = "http://127.0.0.1:9/#secret=" + "k" * 43  # nothing listens: the SDK fails first


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["validate", "azureml/dev"],
        ["run", "--env", "dev", "--dry-run", "--backend", "sdk"],
        ["status", "--env", "dev", "--job", "j1", "--backend", "sdk", "--emulator", EMU],
    ],
    ids=["validate", "sdk-dry-run", "sdk-client-against-the-emulator"],
)
def test_a_stale_sdk_cloud_setting_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """AZUREML_CURRENT_CLOUD left behind by a process that used a custom cloud (the SDK sets it
    against the emulator) made the SDK fail on import, a traceback in every command that uses
    it. Its own process: a failed SDK import must not leak into other tests."""
    import subprocess
    import sys

    from _flowkit import child_env

    proj = make_project(tmp_path / "proj")
    env = child_env()
    env.update(AZUREML_CURRENT_CLOUD="amlgen-emulator-127.0.0.1-1", AMLGEN_EMULATOR="")
    env["ARM_CLOUD_METADATA_URL"] = "http://127.0.0.1:9/metadata"  # refused at once: no network
    done = subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(proj), *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "AZUREML_CURRENT_CLOUD" in errors[0] and "unset it" in errors[0]

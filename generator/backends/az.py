"""The cli backend: `az ml` with argument lists, machine-readable output, fresh calls to poll.

Facts §1: always `-o json`/`-o tsv` (users can change the default output), `--query` for one
value, never trust `--stream`'s exit code, `create` is not idempotent for endpoints and
deployments (show first, then create or update), `delete` needs `--yes`.
Commands run from the project folder with file paths relative to it, so the printed plan is
the exact argument list that runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .. import names
from ..errors import AmlgenError, CommandError, WorkflowError
from ..rendering import model_path
from ..workspace import Workspace, redact
from ..yamlio import write_atomic
from .base import DRY_JOB, LOG_CONTAINERS, Assets, JobInfo, ModelInfo, StepInfo
from .failures import (
    AUTH,
    BROKEN_AZ,
    NO_EXTENSION,
    NOT_FOUND,
    OTHER,
    PARENT_MISSING,
    TransientError,
    classify_az,
    detail,
    failure,
    read_title,
)
from .finetune import FinetuneAssets, chat_url, post_chat
from .readers import endpoint_key, job_info, model_info, registered_model, size_row, usage_row

# Failures that are about az, the sign-in or the workspace, never about the command's resource.
_NOT_THE_COMMAND = (AUTH, BROKEN_AZ, NO_EXTENSION, PARENT_MISSING)

ENV_AZ = names.ENV_AZ


def az_executable() -> str | None:
    """The `az` that runs: AMLGEN_AZ, else the one on PATH (None: not installed)."""
    return os.environ.get(ENV_AZ) or shutil.which("az")


def stand_in_az() -> bool:
    """Whether the `az` that runs can reach the local emulator: only one named in AMLGEN_AZ
    (the tests' stand-in) is taken for it; the Azure CLI itself cannot."""
    return bool(os.environ.get(ENV_AZ))


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # captured stderr (tests): inherit instead
        return None


class AzBackend:
    """Drives `az ml` (the user's `az login`; workspace from flags/env/config or az defaults)."""

    name = "cli"

    def __init__(self, ws: Workspace, project_dir: Path, dry_run: bool = False) -> None:
        self.ws = ws
        self.project_dir = project_dir
        self.dry_run = dry_run
        self.plan: list[str] = []
        self._studio: dict[str, str | None] = {}

    # --- running az ------------------------------------------------------------------------

    def _exe(self) -> str:
        exe = az_executable()
        if not exe:
            raise WorkflowError(
                "`az` not found on PATH: install the Azure CLI and `az extension add -n ml`, "
                "or use --backend sdk"
            )
        return exe

    def _argv(self, args: list[str], workspace: bool = True) -> list[str]:
        return ["az", *args, *(self.ws.az_args() if workspace else [])]

    def _shown(self, argv: list[str]) -> str:
        return redact(shlex.join(argv), self.ws.masks())

    def _run(
        self,
        args: list[str],
        note: str | None = None,
        workspace: bool = True,
        check: bool = True,
        capture: bool = True,
    ) -> subprocess.CompletedProcess[str] | None:
        argv = self._argv(args, workspace)
        if self.dry_run:
            self.plan.append(self._shown(argv) + (f"  # {note}" if note else ""))
            return None
        env = {**os.environ, **self.ws.az_env()}
        # Uncaptured output (log streaming) goes to stderr: stdout carries plans and responses.
        out: Any = subprocess.PIPE if capture else _stderr_fd()
        try:
            proc = subprocess.run(
                [self._exe(), *argv[1:]],
                cwd=self.project_dir,
                env=env,
                text=True,
                stdout=out,
                stderr=subprocess.PIPE if capture else None,
                check=False,
            )
        except OSError as exc:
            raise WorkflowError(f"cannot run az: {exc}") from None
        if check and proc.returncode != 0:
            raise self._error(argv, proc)
        return proc

    def _failure(self, cause: str, what: str, text: str) -> WorkflowError:
        return failure(cause, what, text, emulated=self.ws.emulated, real_az=not stand_in_az())

    def _error(self, argv: list[str], proc: subprocess.CompletedProcess[str]) -> AmlgenError:
        """A failed command: one line naming the cause when az, the sign-in or the workspace
        failed (failures.py), else the command with its exit code and stderr."""
        masks = self.ws.masks()
        shown = [redact(a, masks) for a in argv]
        stderr = redact(proc.stderr or "", masks)
        cause = classify_az(proc.returncode, stderr)
        if cause in _NOT_THE_COMMAND:
            what = "`" + " ".join(shown[: 4 if len(shown) > 3 else len(shown)]) + "`"
            return self._failure(cause, what, detail(stderr))
        return CommandError(shown, proc.returncode, stderr)

    def _json(self, args: list[str], note: str | None = None, workspace: bool = True) -> Any:
        proc = self._run(args, note, workspace)
        if proc is None:
            return None
        return self._parse(args, proc.stdout, workspace)

    def _parse(self, args: list[str], stdout: str, workspace: bool = True) -> Any:
        try:
            return json.loads(stdout) if stdout.strip() else None
        except ValueError:
            head = redact(stdout.strip()[:200], self.ws.masks())
            raise WorkflowError(
                f"`{self._shown(self._argv(args, workspace))}` printed something that is not "
                f"JSON: {head!r}"
            ) from None

    def _show(self, args: list[str], note: str | None = None, workspace: bool = True) -> Any:
        """`az ... show`: the resource as JSON, or None when it does not exist."""
        proc = self._run(args, note, workspace, check=False)
        if proc is None:
            return None
        if proc.returncode != 0:
            name = args[args.index("-n") + 1] if "-n" in args else None
            if classify_az(proc.returncode, proc.stderr or "", name) == NOT_FOUND:
                return None
            raise self._error(self._argv(args, workspace), proc)
        return self._parse(args, proc.stdout, workspace)

    def _tsv(self, args: list[str], note: str | None = None, workspace: bool = True) -> str | None:
        proc = self._run(args, note, workspace)
        return None if proc is None else proc.stdout.strip()

    # --- reads (planning.Reader) -----------------------------------------------------------

    def read_args(
        self,
        kind: str,
        name: str,
        *,
        version: str | None = None,
        endpoint: str | None = None,
        registry: str | None = None,
    ) -> list[str]:
        """The `az ml ... show` argument list that reads one resource."""
        noun = {
            "compute": "compute",
            "model": "model",
            "registry_model": "model",
            "component": "component",
            "online_endpoint": "online-endpoint",
            "online_deployment": "online-deployment",
            "serverless_endpoint": "serverless-endpoint",
            "marketplace_subscription": "marketplace-subscription",
        }.get(kind)
        if noun is None:
            raise WorkflowError(f"cannot read a {kind!r}")
        args = ["ml", noun, "show", "-n", name]
        if version is not None:
            args += ["-v", version]
        if endpoint is not None:
            args += ["-e", endpoint]
        if registry is not None:
            args += ["--registry-name", registry]
        return [*args, "-o", "json"]

    def read(
        self,
        kind: str,
        name: str,
        *,
        version: str | None = None,
        endpoint: str | None = None,
        registry: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any] | None:
        """One resource as `az ml ... show -o json` prints it (the SDK's entity dict); None
        when absent. Throttling, 5xx and lost connections raise TransientError (retried)."""
        args = self.read_args(kind, name, version=version, endpoint=endpoint, registry=registry)
        workspace = registry is None
        proc = self._run(args, note, workspace=workspace, check=False)
        if proc is None:
            return None
        if proc.returncode != 0:
            err = redact(proc.stderr or "", self.ws.masks())
            what = read_title(kind, name, version, endpoint, registry)
            cause = classify_az(proc.returncode, err, name)
            if cause == NOT_FOUND:
                return None
            if cause != OTHER:
                raise self._failure(cause, what, detail(err))
            last = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
            raise WorkflowError(
                redact(
                    f"{what}: `{self._shown(self._argv(args, workspace))}` failed: {last}",
                    self.ws.masks(),
                )
            )
        data = self._parse(args, proc.stdout, workspace)
        if not isinstance(data, dict):
            raise WorkflowError(f"`{self._shown(self._argv(args, workspace))}` printed no object")
        return data

    # --- operations ------------------------------------------------------------------------

    def create_compute(self, assets: Assets) -> dict[str, Any] | None:
        data = self._json(
            ["ml", "compute", "create", "-f", assets.rel(names.COMPUTE_FILE), "-o", "json"],
            note="only when the cluster is missing",
        )
        return data if isinstance(data, dict) else None

    def _listing(self, args: list[str], what: str, note: str | None, workspace: bool = True) -> Any:
        """A list-type read (or one value with --query): failures classified as `read` does;
        a list has no "not found"."""
        proc = self._run(args, note, workspace=workspace, check=False)
        if proc is None:
            return None
        if proc.returncode != 0:
            err = redact(proc.stderr or "", self.ws.masks())
            cause = classify_az(proc.returncode, err)
            if cause not in (NOT_FOUND, OTHER):
                raise self._failure(cause, what, detail(err))
            raise self._error(self._argv(args, workspace), proc)
        return proc.stdout if "tsv" in args else self._parse(args, proc.stdout, workspace)

    def _workspace_show(self, *args: str) -> list[str]:
        """`az ml workspace show` names the workspace with -n/--name: it has no -w
        (azext_mlv2 _params/_workspace_params.py; tests/fake_az/az_surface.json)."""
        names_it = ["-n" if arg == "-w" else arg for arg in self.ws.az_args()]
        return ["ml", "workspace", "show", *args, *names_it]

    def survey(
        self,
        what: str,
        *,
        location: str | None = None,
        endpoint: str | None = None,
        note: str | None = None,
    ) -> Any:
        """The region, sizes, quota and counts the capacity checks read (base.SURVEYS)."""
        if what == "region":
            args = self._workspace_show("--query", "location", "-o", "tsv")
            out = self._listing(args, "the workspace", note, workspace=False)
            return None if out is None else (str(out).strip() or None)
        where = ["--location", location or "<region>"]
        if what == "sizes":
            # `az ml compute list-sizes` has no --location: it lists the workspace's region
            # (azext_mlv2 _params/_compute_params.py), which is the region the checks ask for.
            rows = self._listing(
                ["ml", "compute", "list-sizes", "-o", "json"], "the VM sizes", note
            )
            return None if rows is None else [size_row(r) for r in rows if isinstance(r, dict)]
        if what == "usages":
            rows = self._listing(
                ["ml", "compute", "list-usage", *where, "-o", "json"], "the quota", note
            )
            return None if rows is None else [usage_row(r) for r in rows if isinstance(r, dict)]
        if what == "endpoints":
            rows = self._listing(["ml", "online-endpoint", "list", "-o", "json"], what, note)
        elif what == "deployments":
            args = ["ml", "online-deployment", "list", "-e", str(endpoint), "-o", "json"]
            rows = self._listing(args, f"the deployments of {endpoint}", note)
        else:
            raise WorkflowError(f"cannot survey {what!r}")
        return None if rows is None else [str(r.get("name")) for r in rows if isinstance(r, dict)]

    def submit(self, assets: Assets) -> str:
        out = self._tsv(
            [
                "ml",
                "job",
                "create",
                "-f",
                assets.rel(names.PIPELINE_JOB_FILE),
                "--query",
                "name",
                "-o",
                "tsv",
            ]
        )
        if out is None:
            return DRY_JOB
        if not out:
            raise WorkflowError("az ml job create printed no job name")
        return out.splitlines()[-1].strip()

    def job_status(self, job: str) -> JobInfo:
        if job not in self._studio:
            try:
                link = self._tsv(
                    [
                        "ml",
                        "job",
                        "show",
                        "-n",
                        job,
                        "--query",
                        "services.Studio.endpoint",
                        "-o",
                        "tsv",
                    ],
                    note="once, for the Studio link",
                )
                self._studio[job] = link or None
            except CommandError:
                pass  # the link is a convenience; polling below reports real failures
        try:
            status = self._tsv(
                ["ml", "job", "show", "-n", job, "--query", "status", "-o", "tsv"],
                note="repeated with backoff until Completed, Failed or Canceled",
            )
        except CommandError as exc:
            if classify_az(exc.returncode, exc.stderr, job) == NOT_FOUND:
                raise
            raise TransientError(str(exc)) from None
        info = job_info({"status": status}, studio_url=self._studio.get(job))
        if info.status == "Failed" and not self.dry_run:
            with contextlib.suppress(CommandError):  # the reason is a convenience
                args = ["ml", "job", "show", "-n", job, "--query", "properties.error", "-o", "tsv"]
                info.error = self._tsv(args) or None
        return info

    def child_jobs(self, job: str) -> list[StepInfo]:
        rows = self._json(["ml", "job", "list", "--parent-job-name", job, "-o", "json"])
        out: list[StepInfo] = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or not row.get("name"):
                continue
            studio = ((row.get("services") or {}).get("Studio") or {}).get("endpoint")
            out.append(
                StepInfo(
                    str(row["name"]),
                    row.get("display_name"),
                    str(row.get("status") or "Unknown"),
                    studio,
                )
            )
        return out

    def deployment_logs(
        self, endpoint: str, deployment: str, container: str, lines: int
    ) -> str | None:
        args = ["ml", "online-deployment", "get-logs", "-n", deployment, "-e", endpoint]
        args += ["--lines", str(lines)]
        if container != LOG_CONTAINERS[0]:
            args += ["--container", container]
        out = self._json([*args, "-o", "json"])
        if out is None:
            return None
        return out if isinstance(out, str) else json.dumps(out)

    def stream(self, job: str) -> str | None:
        # Logs go straight to the terminal; the exit code says nothing about the job (facts §1).
        self._run(
            ["ml", "job", "stream", "-n", job],
            check=False,
            capture=False,
            note="logs only; its exit code is ignored",
        )
        return None

    def model_info(self, name: str, version: str) -> ModelInfo | None:
        info = self._show(["ml", "model", "show", "-n", name, "-v", version, "-o", "json"])
        return model_info(info) if info else None

    def register(self, assets: Assets, job: str) -> None:
        self._json(
            [
                "ml",
                "model",
                "create",
                "-f",
                assets.rel(names.MODEL_FILE),
                "--set",
                f"path={model_path(job)}",
                "-o",
                "json",
            ]
        )

    def _upsert(self, kind: str, show: list[str], file: str, assets: Assets) -> None:
        exists = self._show(["ml", kind, "show", *show, "-o", "json"])
        create = ["ml", kind, "create", "-f", assets.rel(file), "-o", "json"]
        update = ["ml", kind, "update", "-f", assets.rel(file), "-o", "json"]
        if self.dry_run:
            self._run(create, note="when it does not exist")
            self._run(update, note="when it exists")
        elif exists is None:
            self._json(create)
        else:
            self._json(update)

    def create_endpoint(self, assets: Assets) -> None:
        self._upsert("online-endpoint", ["-n", assets.endpoint_name], names.ENDPOINT_FILE, assets)

    def create_deployment(self, assets: Assets) -> None:
        self._upsert(
            "online-deployment",
            ["-n", assets.deployment_name, "-e", assets.endpoint_name],
            names.DEPLOYMENT_FILE,
            assets,
        )

    def set_traffic(self, assets: Assets) -> None:
        self._json(
            [
                "ml",
                "online-endpoint",
                "update",
                "-n",
                assets.endpoint_name,
                "--traffic",
                f"{assets.deployment_name}={assets.traffic_percent}",
                "-o",
                "json",
            ]
        )

    def invoke(self, assets: Assets) -> str:
        proc = self._run(
            [
                "ml",
                "online-endpoint",
                "invoke",
                "-n",
                assets.endpoint_name,
                "--deployment-name",
                assets.deployment_name,
                "--request-file",
                assets.rel(assets.request_file),
                "-o",
                "json",
            ]
        )
        if proc is None:
            return ""
        out = proc.stdout.strip()
        try:
            value = json.loads(out)
        except ValueError:
            return out
        # `-o json` prints the raw response as a JSON string.
        return value if isinstance(value, str) else json.dumps(value)

    def delete_endpoint(self, name: str) -> bool:
        proc = self._run(["ml", "online-endpoint", "delete", "-n", name, "--yes"], check=False)
        if proc is None:
            return True
        if proc.returncode != 0:
            if classify_az(proc.returncode, proc.stderr or "", name) == NOT_FOUND:
                return False
            raise self._error(
                self._argv(["ml", "online-endpoint", "delete", "-n", name, "--yes"]), proc
            )
        return True

    # --- the fine-tuning job path (method finetuning_job) ----------------------------------

    def submit_finetuning(self, assets: FinetuneAssets) -> str:
        # The SDK under az reads a fine-tuning job's local data from the working directory (the
        # project folder here), not the YAML's folder: name the files from there.
        args = ["ml", "job", "create", "-f", assets.rel(names.FINETUNING_JOB_FILE)]
        for key, path in assets.data_overrides():
            args += ["--set", f"{key}={path}"]
        out = self._tsv([*args, "--query", "name", "-o", "tsv"])
        if out is None:
            return DRY_JOB
        if not out:
            raise WorkflowError("az ml job create printed no job name")
        return out.splitlines()[-1].strip()

    def job_model(self, job: str) -> tuple[str, str] | None:
        """(name, version) of the model the job's `registered_model` output names."""
        args = ["ml", "job", "show", "-n", job, "--query", "outputs.registered_model", "-o", "json"]
        out = self._json(args)
        return registered_model(out) if isinstance(out, dict) else None

    def workspace_region(self, note: str | None = None) -> str | None:
        """The workspace's region (prices and quota are regional); None in a dry run."""
        region = self.survey("region", note=note)
        return str(region) if region else None

    def workspace_ref(self) -> tuple[str, str]:
        """(region, workspace id): the parts of a serverless endpoint's model id."""
        ws = self._json(self._workspace_show("-o", "json"), workspace=False)
        arm_id = str(ws.get("id") or "") if isinstance(ws, dict) else "<workspace-arm-id>"
        wid = self._tsv(
            ["resource", "show", "--ids", arm_id, "--query", "properties.workspaceId", "-o", "tsv"],
            workspace=False,
        )
        if not isinstance(ws, dict):
            return "<location>", "<workspace-id>"
        return str(ws.get("location") or ""), str(wid or "")

    def create_marketplace_subscription(self, assets: FinetuneAssets) -> None:
        # az takes it from a file only: the flow writes the two fields into its state folder.
        path = self.project_dir / names.STATE_DIR / "marketplace-subscription.yml"
        if not self.dry_run:
            text = f"name: {assets.marketplace_name}\nmodel_id: {assets.marketplace_model_id}\n"
            write_atomic(path, text)
        self._json(
            ["ml", "marketplace-subscription", "create", "-f", assets.rel(path), "-o", "json"],
            note=f"name {assets.marketplace_name}, model_id {assets.marketplace_model_id}",
        )

    def create_serverless_endpoint(self, assets: FinetuneAssets, model_id: str) -> None:
        file = assets.rel(names.SERVERLESS_ENDPOINT_FILE)
        args = ["ml", "serverless-endpoint", "create", "-f", file]
        self._json([*args, "--set", f"model_id={model_id}", "-o", "json"])

    def invoke_serverless(self, assets: FinetuneAssets) -> str:
        name, body = assets.endpoint_name, assets.chat_body()
        show = ["ml", "serverless-endpoint", "show", "-n", name, "--query", "scoring_uri"]
        uri = self._tsv([*show, "-o", "tsv"])
        proc = self._run(
            ["ml", "serverless-endpoint", "get-credentials", "-n", name, "-o", "json"],
            note="the keys stay in memory, never printed or stored",
        )
        if proc is None:
            self.plan.append(
                f"POST {chat_url('<scoring_uri>')}  Authorization: Bearer <primaryKey>  "
                + json.dumps(body)
            )
            return ""
        try:
            keys = json.loads(proc.stdout)
        except ValueError:
            keys = {}
        key = endpoint_key(keys)
        if not uri or not key:
            raise WorkflowError(f"serverless endpoint {name}: no scoring URI or key yet")
        return post_chat(uri, key, body, f"invoking serverless endpoint {name}")

    def delete_serverless_endpoint(self, name: str) -> bool:
        # No --yes: the extension's serverless-endpoint delete does not prompt and does not
        # take it (az_surface.json; `unrecognized arguments: --yes` from the real az).
        args = ["ml", "serverless-endpoint", "delete", "-n", name]
        proc = self._run(args, check=False)
        if proc is None:
            return True
        if proc.returncode != 0:
            if classify_az(proc.returncode, proc.stderr or "", name) == NOT_FOUND:
                return False
            raise self._error(self._argv(args), proc)
        return True

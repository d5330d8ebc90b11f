"""Which Azure ML workspace to talk to, and how: flags, environment, config.json, or the emulator.

The client side of every connection lives here, the local emulator's included (loopback.py:
custom cloud, http bearer policy, the JWT minted from the shared secret; uploads.py: the upload
seam; connection.py: the emulator's URL alone finds its key in the file it records). The
emulator itself (the sibling `emulator` package) is a separate room never imported here.

Precedence per field: explicit flag > environment variable > `config.json` (found the way
`MLClient.from_config` finds it). The cli backend passes only fields that were found this way and
otherwise leaves `az configure --defaults` to fill the gaps. The SDK needs all three.

Nothing here imports azure.ai.ml at module level: resolution is needed by dry runs too.
The subscription id is never printed: `Workspace.describe()` masks it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import names, reading
from ..errors import WorkflowError
from .connection import (
    connection_dir,
    emulator_connection,
    forget_connection,
    record_connection,
)
from .loopback import (
    EMULATOR_SUBSCRIPTION,
    EmulatorCredential,
    check_loopback,
    emulator_client,
    make_token,
)
from .uploads import UPLOAD_ROUTE, emulator_uploads

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

ENV_SUBSCRIPTION = "AZURE_SUBSCRIPTION_ID"
ENV_RESOURCE_GROUP = "AZURE_RESOURCE_GROUP"
ENV_WORKSPACE = "AZUREML_WORKSPACE_NAME"
# The emulator's address and key (`amlgen-emulator` prints them; the emulator reads these names).
ENV_EMULATOR = names.ENV_EMULATOR
ENV_EMULATOR_SECRET = names.ENV_EMULATOR_SECRET
SUBSCRIPTION_MASK = "<subscription>"

# MLClient.from_config's search order: these folders, then these names, walking up 20 levels.
_CONFIG_DIRS = (".azureml", "aml_config", None)
_CONFIG_FILES = ("config.json", "project.json")


_ISOLATED: list[Path] = []


def isolated_az_config() -> Path:
    """A private, empty Azure CLI configuration folder for this process (removed at exit)."""
    if not _ISOLATED or not _ISOLATED[0].is_dir():
        folder = Path(tempfile.mkdtemp(prefix="amlgen-az-config-"))
        atexit.register(shutil.rmtree, folder, True)
        _ISOLATED[:] = [folder]
    return _ISOLATED[0]


@dataclass
class Workspace:
    """A resolved workspace target. Fields are None when nothing named them."""

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None
    config_file: Path | None = None
    emulator_url: str | None = None
    emulator_secret: str | None = field(default=None, repr=False)

    @property
    def emulated(self) -> bool:
        return self.emulator_url is not None

    def az_args(self) -> list[str]:
        """Global `az` flags for the fields that were given; the rest come from `az configure`."""
        args: list[str] = []
        if self.resource_group:
            args += ["-g", self.resource_group]
        if self.workspace_name:
            args += ["-w", self.workspace_name]
        if self.subscription_id:
            args += ["--subscription", self.subscription_id]
        return args

    def az_env(self) -> dict[str, str]:
        """Extra environment for `az` child processes. Against the emulator: its connection
        (which a stand-in az reads) and an empty Azure CLI configuration, so that the real
        az, which cannot reach the emulator, has no sign-in and no defaults and can never
        act on a real workspace during a rehearsal."""
        if not self.emulator_url:
            return {}
        return {
            ENV_EMULATOR: self.emulator_url,
            ENV_EMULATOR_SECRET: self.emulator_secret or "",
            "AZURE_CONFIG_DIR": str(isolated_az_config()),
        }

    def masks(self) -> dict[str, str]:
        """Values that must never appear in output, and what to show instead."""
        out: dict[str, str] = {}
        if self.subscription_id:
            out[self.subscription_id] = SUBSCRIPTION_MASK
        if self.emulator_secret:
            out[self.emulator_secret] = "<redacted>"
        return out

    def describe(self) -> str:
        """One line naming the target without the subscription id."""
        if self.emulator_url:
            return f"emulator at {self.emulator_url}"
        parts = [
            f"workspace {self.workspace_name or '(az default)'}",
            f"resource group {self.resource_group or '(az default)'}",
        ]
        if self.config_file:
            parts.append(f"from {self.config_file}")
        return ", ".join(parts)


def find_config(start: Path | str = ".") -> Path | None:
    """The config file `MLClient.from_config(path=start)` would read, or None."""
    begin = Path(start).resolve()
    if begin.is_file():
        return begin
    for folder, name in product(_CONFIG_DIRS, _CONFIG_FILES):
        here = begin
        for _ in range(21):
            candidate = here / folder / name if folder else here / name
            if candidate.is_file():
                return candidate
            if here.parent == here:
                break
            here = here.parent
    return None


def _read_config(path: Path) -> tuple[str, str, str]:
    try:
        config = json.loads(reading.read_text(path, 1024 * 1024))
    except reading.ReadRefused as exc:
        raise WorkflowError(f"{exc} (a workspace config.json)") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise WorkflowError(f"{path}: not a readable JSON workspace config ({exc})") from None
    if not isinstance(config, dict):
        raise WorkflowError(f"{path}: expected a JSON object with the workspace fields")
    scope = config.get("Scope")
    if scope:
        pieces = str(scope).split("/")
        if len(pieces) < 9:
            raise WorkflowError(f"{path}: Scope: expected an ARM workspace id")
        return pieces[2], pieces[4], pieces[8]
    keys = ("subscription_id", "resource_group", "workspace_name")
    missing = [k for k in keys if not config.get(k)]
    if missing:
        raise WorkflowError(f"{path}: missing {', '.join(missing)}")
    sub, rg, name = (str(config[k]) for k in keys)
    return sub, rg, name


def resolve_workspace(
    project_dir: Path | str = ".",
    *,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    workspace_name: str | None = None,
    config: Path | str | None = None,
    emulator: str | None = None,
    environ: dict[str, str] | None = None,
) -> Workspace:
    """Resolve the workspace target from flags, environment and config.json (in that order)."""
    env = os.environ if environ is None else environ
    connection = emulator_connection(emulator, env)
    if connection:
        url, secret = connection
        return Workspace(
            subscription_id=subscription_id,
            resource_group=resource_group,
            workspace_name=workspace_name,
            emulator_url=url,
            emulator_secret=secret,
        )
    ws = Workspace(
        subscription_id=subscription_id or env.get(ENV_SUBSCRIPTION) or None,
        resource_group=resource_group or env.get(ENV_RESOURCE_GROUP) or None,
        workspace_name=workspace_name or env.get(ENV_WORKSPACE) or None,
    )
    if ws.subscription_id and ws.resource_group and ws.workspace_name:
        return ws
    path = Path(config) if config else find_config(project_dir)
    if config and not Path(config).is_file():
        raise WorkflowError(f"{config}: workspace config file not found")
    if path is not None:
        sub, rg, name = _read_config(path)
        ws.subscription_id = ws.subscription_id or sub
        ws.resource_group = ws.resource_group or rg
        ws.workspace_name = ws.workspace_name or name
        ws.config_file = path
    return ws


def ml_client(ws: Workspace, registry_name: str | None = None) -> MLClient:
    """A real MLClient for the workspace (or a registry), emulator or Azure."""
    if ws.emulator_url:
        kwargs: dict[str, Any] = {"registry_name": registry_name}
        if ws.subscription_id:
            kwargs["subscription_id"] = ws.subscription_id
        if ws.resource_group:
            kwargs["resource_group"] = ws.resource_group
        if ws.workspace_name:
            kwargs["workspace"] = ws.workspace_name
        return emulator_client(ws.emulator_url, ws.emulator_secret or "", **kwargs)
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential()
    if registry_name:
        return MLClient(credential, registry_name=registry_name)
    missing = [
        flag
        for flag, value in (
            ("--subscription", ws.subscription_id),
            ("--resource-group", ws.resource_group),
            ("--workspace", ws.workspace_name),
        )
        if not value
    ]
    if missing:
        raise WorkflowError(
            f"no workspace: pass {', '.join(missing)} (or {ENV_SUBSCRIPTION}, "
            f"{ENV_RESOURCE_GROUP}, {ENV_WORKSPACE}), or put the workspace's config.json "
            "from Azure ML studio in the project"
        )
    return MLClient(
        credential,
        subscription_id=ws.subscription_id,
        resource_group_name=ws.resource_group,
        workspace_name=ws.workspace_name,
    )


def studio_link(url: str | None) -> str | None:
    """The Studio link without ids: the service's link carries the subscription in `wsid`."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if "subscriptions" in parts.query.lower() or "subscriptions" in parts.path.lower():
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return url


def redact(text: str, masks: dict[str, str]) -> str:
    """Mask secret values (subscription id, emulator key) in text meant for output."""
    for secret, mask in masks.items():
        text = text.replace(secret, mask)
    return text


__all__ = [
    "EMULATOR_SUBSCRIPTION",
    "ENV_EMULATOR",
    "ENV_EMULATOR_SECRET",
    "ENV_RESOURCE_GROUP",
    "ENV_SUBSCRIPTION",
    "ENV_WORKSPACE",
    "SUBSCRIPTION_MASK",
    "UPLOAD_ROUTE",
    "EmulatorCredential",
    "Workspace",
    "check_loopback",
    "connection_dir",
    "emulator_client",
    "emulator_connection",
    "emulator_uploads",
    "find_config",
    "forget_connection",
    "make_token",
    "ml_client",
    "record_connection",
    "redact",
    "resolve_workspace",
    "studio_link",
]

"""The Azure ML SDK's own environment settings that make it fail before it does anything.

`AZUREML_CURRENT_CLOUD` names the cloud the SDK works in. The SDK itself sets it in a process
that talked to a custom cloud (an in-process MLClient against the local emulator does), and a
child process inherits the name without the cloud, so it is easy to be left with a stale one;
the SDK then fails deep inside any call with a bare `Unknown cloud environment`. Checked once,
here, before amlgen first uses the SDK."""

from __future__ import annotations

import os

from .errors import AmlgenError
from .quiet import quiet
from .reading import clip

CLOUD_VARIABLE = "AZUREML_CURRENT_CLOUD"


def check_sdk_environment() -> None:
    """One line, instead of the SDK's traceback, when its cloud setting names no cloud it knows.
    The SDK decides: it resolves the cloud as it is imported (a cloud of the ARM metadata at
    ARM_CLOUD_METADATA_URL is fine too), so it is imported here, quietly, and asked."""
    name = os.environ.get(CLOUD_VARIABLE)
    if not name:
        return
    try:
        with quiet():
            from azure.ai.ml import _azure_environments as clouds

            clouds._get_cloud(name)
    except ImportError:  # no SDK: its absence is reported where it is needed
        return
    except Exception as exc:
        if "cloud" not in str(exc).lower():
            raise
        raise AmlgenError(
            f"{CLOUD_VARIABLE}={clip(name)}: not a cloud the Azure ML SDK knows (AzureCloud, "
            "AzureChinaCloud, AzureUSGovernment, or one of the ARM metadata): unset it (a "
            "process that used a custom cloud, such as the local emulator, leaves it behind) "
            "or name one of those"
        ) from None

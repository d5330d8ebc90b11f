"""A local emulator of the Azure ML REST API subset amlgen uses, for tests and demos.

`Emulator` serves ARM-shaped routes on 127.0.0.1 (bearer JWT required), runs jobs through a
timed lifecycle after checking them against the bundled component catalog, provisions online
deployments as real `azureml-inference-server-http` processes, and can inject faults.
`ml_client` builds a real `MLClient` pointed at it; `emulator_uploads` is the seam that sends the
SDK's local-file uploads to it instead of https blob storage.

A job that fails carries the service-like reason in its user properties:
`job.properties["error"]` (e.g. "UserError: ...") and `job.properties["error.code"]`.
"""

from __future__ import annotations

from ..errors import AmlgenError
from .client import EMULATOR_SUBSCRIPTION, EmulatorCredential, make_token, ml_client
from .uploads import emulator_uploads

ENV_URL = "AMLGEN_EMULATOR"
ENV_SECRET = "AMLGEN_EMULATOR_SECRET"


class EmulatorError(AmlgenError):
    """The emulator cannot start or serve as asked (e.g. a non-loopback address)."""


from .server import Emulator, run_foreground  # noqa: E402  (server imports EmulatorError)

__all__ = [
    "EMULATOR_SUBSCRIPTION",
    "ENV_SECRET",
    "ENV_URL",
    "Emulator",
    "EmulatorCredential",
    "EmulatorError",
    "emulator_uploads",
    "make_token",
    "ml_client",
    "run_foreground",
]

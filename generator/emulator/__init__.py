"""A local emulator of the Azure ML REST API subset amlgen uses, for tests and demos.

`Emulator` serves ARM-shaped routes on 127.0.0.1 (bearer JWT required), runs jobs through a
timed lifecycle after checking them against the bundled component catalog, provisions online
deployments as real `azureml-inference-server-http` processes, and can inject faults.

This package is a separate room: the product never imports it; `amlgen-emulator` starts it as
a process of its own (`python -m generator.emulator`, its command line in `command.py`). The
client side of the connection (the MLClient pointed at the emulator, the JWT, the upload seam)
is product code in generator/workspace/; it is re-exported here for tests.

A job that fails carries the service-like reason in its user properties:
`job.properties["error"]` (e.g. "UserError: ...") and `job.properties["error.code"]`.
"""

from __future__ import annotations

from ..workspace import EMULATOR_SUBSCRIPTION, EmulatorCredential, emulator_uploads, make_token
from ..workspace import ENV_EMULATOR as ENV_URL
from ..workspace import ENV_EMULATOR_SECRET as ENV_SECRET
from ..workspace import emulator_client as ml_client
from .errors import EmulatorError
from .server import Emulator, run_foreground

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

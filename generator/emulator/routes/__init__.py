"""The emulator's one route table: every resource family, in the order routes are matched.

Each module here is one family (see `arm.Family`): it defines plain handler functions
`(api, req) -> Response` and ends with `FAMILY = Family(name, routes, ...)` listing its routes
and the hooks it needs (its state sections, the finishers of its long-running operations, its
time-driven `advance`, its `resume` after a restart). Handlers raise `ApiError` for Azure-style
error answers and use only the public parts of `Api` (`data`, `store`, `faults`, `start_op`,
`op_headers`, ...) and the shared vocabulary in `arm`.

To add a family: write `routes/<family>.py` ending in `FAMILY = Family(...)`, import it below
and add it to FAMILIES. To add a route to a family: one `Route(...)` line in its FAMILY.
`Api` refuses two families claiming the same method + pattern or operation kind.
"""

from __future__ import annotations

from ..arm import Family
from . import (
    computes,
    data,
    debug,
    endpoints,
    jobs,
    marketplace,
    models,
    outofband,
    prices,
    registry,
    serverless,
    workspace,
)

FAMILIES: tuple[Family, ...] = (
    workspace.FAMILY,  # workspace, datastores, VM sizes, long-running operation status
    jobs.FAMILY,
    models.FAMILY,
    computes.FAMILY,
    endpoints.FAMILY,  # online endpoints, deployments, their real scoring servers
    serverless.FAMILY,  # serverless endpoints (chat completions on the same scoring stand-in)
    marketplace.FAMILY,  # marketplace subscriptions (non-Microsoft models served serverless)
    registry.FAMILY,  # the `azureml` registry: components and models from the bundled catalog
    debug.FAMILY,  # /_emulator/state, /_emulator/faults
    data.FAMILY,  # /_emulator/uploads: the server side of the client's upload seam
    outofband.FAMILY,  # /_emulator/change: portal-style edits behind the client's back (drift)
    prices.FAMILY,  # /api/retail/prices: the Retail Prices API's stand-in (fixture prices)
)

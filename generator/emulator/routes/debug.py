"""Debug family (emulator only): the whole state, and faults added while running."""

from __future__ import annotations

from ..arm import Family, Request, Response, Route, body_dict
from ..arm import Service as Api


def debug_state(api: Api, req: Request) -> Response:
    snap = api.store.snapshot()
    for ep in snap["endpoints"].values():
        ep.pop("_port", None)
    snap["faults_pending"] = api.faults.pending()
    return Response(200, snap)


def post_fault(api: Api, req: Request) -> Response:
    api.faults.add(body_dict(req))
    return Response(201, {"pending": api.faults.pending()})


FAMILY = Family(
    "debug",
    (
        Route("GET", r"/_emulator/state", debug_state),
        Route("POST", r"/_emulator/faults", post_fault),
    ),
)

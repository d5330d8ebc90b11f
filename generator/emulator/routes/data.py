"""Data family (emulator only): the server side of the client's upload seam
(generator/workspace/uploads.py). Files land under workdir/uploads/<datastore>/."""

from __future__ import annotations

from pathlib import Path

from ...workspace import UPLOAD_ROUTE
from ..arm import CONTAINER, DATASTORE, ApiError, Family, Request, Response, Route
from ..arm import Service as Api


def upload(api: Api, req: Request) -> Response:
    container, path = req.m["container"], req.m["path"]
    if container != CONTAINER:
        raise ApiError(404, "ContainerNotFound", f"Container '{container}' does not exist.")
    parts = Path(path).parts
    if not parts or ".." in parts or Path(path).is_absolute():
        raise ApiError(400, "InvalidPath", f"Invalid upload path '{path}'.")
    target = api.workdir / "uploads" / DATASTORE / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(req.raw)
    with api.store.lock:
        api.data["uploads"][f"{DATASTORE}/{path}"] = {"size": len(req.raw), "file": str(target)}
        api.store.save()
    return Response(201, {"datastore": DATASTORE, "path": path, "size": len(req.raw)})


FAMILY = Family(
    "data",
    (Route("POST", "/" + UPLOAD_ROUTE + r"(?P<container>[^/]+)/(?P<path>.+)", upload),),
    sections=("uploads",),
)

"""The Azure ML REST subset the flow uses, as state transitions on the emulator's Store.

`Api` owns the one route table (built from `routes.FAMILIES`), dispatches each request to its
family's handler, and runs the machinery the families share: long-running operations (answered
201/202 with Azure-AsyncOperation + Location + Retry-After headers; their status route reports
InProgress until the work is done) and time-driven state, advanced lazily by `tick()` at the
start of every request.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .arm import DEFAULT_REGION, PROVIDER, ApiError, Family, Finisher, Handler, Request, Response
from .faults import Faults
from .routes import FAMILIES
from .scoring import ScoringServer
from .state import Store

OPERATIONS = "operations"


def sections(families: tuple[Family, ...] = FAMILIES) -> tuple[str, ...]:
    """Every state section: the operations the machinery keeps, then each family's own."""
    out = [OPERATIONS]
    for family in families:
        out += [s for s in family.sections if s not in out]
    return tuple(out)


class Api:
    """Route table + shared machinery. All state lives in `store.data`; this object holds live
    parts (scoring processes, endpoint keys, threads) that are never written to the state file."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        workdir: Path,
        job_seconds: float,
        deploy_seconds: float,
        poll_seconds: int,
        families: tuple[Family, ...] = FAMILIES,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.store = store
        self.region = region  # the workspace's region (`--region`)
        self.faults = faults
        self.workdir = workdir
        self.job_seconds = job_seconds
        self.deploy_seconds = deploy_seconds
        self.poll_seconds = poll_seconds
        self.url = ""
        self.keys: dict[str, tuple[str, str]] = {}  # endpoint -> keys; memory only, never logged
        self.servers: dict[str, ScoringServer] = {}
        self.families = families
        # Keep every long-running operation InProgress while set (the conformance replay holds
        # them where a recording still polled them as running).
        self.hold = False
        self._gates: dict[str, threading.Event] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._finishers: dict[str, Finisher] = {}
        seen: set[tuple[str, str]] = set()
        for family in families:
            for route in family.routes:
                if (route.method, route.pattern) in seen:
                    raise ValueError(f"{family.name}: {route.method} {route.pattern} is taken")
                seen.add((route.method, route.pattern))
                pattern = re.compile("^" + route.pattern + "/?$", re.IGNORECASE)
                self._routes.append((route.method, pattern, route.handler))
            for kind, finisher in family.finish.items():
                if kind in self._finishers:
                    raise ValueError(f"{family.name}: operation kind {kind!r} is taken")
                self._finishers[kind] = finisher

    @property
    def data(self) -> dict[str, Any]:
        return self.store.data

    def handle(self, req: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            m = pattern.match(req.path)
            if not m:
                continue
            if method != req.method:
                allowed = True
                continue
            req.m = m.groupdict()
            if self.faults.throttle(req.method, req.path, kind="forbidden") is not None:
                with self.store.lock:
                    self.data["faults_fired"].append(["forbidden", req.method, req.path])
                raise ApiError(
                    403,
                    "AuthorizationFailed",
                    "The client does not have authorization to perform this action "
                    "(fault injected by the amlgen emulator).",
                )
            self.tick()
            return handler(self, req)
        if allowed:
            raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on {req.path}")
        raise ApiError(
            404, "NoRoute", f"The amlgen emulator does not serve {req.method} {req.path}."
        )

    # --- long-running operations ----------------------------------------------------------------

    def op_headers(
        self,
        req: Request,
        op_id: str,
        *,
        status: str | None = "mfeOperationsStatus",
        location: str | None = "result",
    ) -> dict[str, str]:
        """The headers of a 201/202 answer whose work goes on, as the service sends them for
        the resource (recordings/): Azure-AsyncOperation on the `status` route (None: none),
        Location on the operation's result (`result`), the resource itself (`resource`) or
        none, and Retry-After (the service sends none; see tests/conformance/accepted.yaml)."""
        base = (
            f"{self.url}subscriptions/{req.m['sub']}/providers/{PROVIDER}/locations/{self.region}"
        )
        q = "?api-version=2024-10-01"
        out: dict[str, str] = {}
        if status is not None:
            out["Azure-AsyncOperation"] = f"{base}/{status}/{op_id}{q}"
        if location == "result":
            out["Location"] = f"{base}/mfeOperationResults/{op_id}{q}"
        elif location == "resource":
            out["Location"] = self.url + urllib.parse.quote(req.path.lstrip("/")) + q
        out["Retry-After"] = str(self.poll_seconds)
        return out

    def start_op(
        self,
        kind: str,
        target: list[str],
        seconds: float,
        outcome: str = "Succeeded",
        error: str | None = None,
        gate: threading.Event | None = None,
        running: str = "InProgress",
    ) -> str:
        """Record an operation that ends `seconds` from now (and not before `gate` is set);
        the finisher its family registered for `kind` then applies the outcome. `running` is
        the status its status route reports meanwhile (online endpoints say Updating)."""
        op_id = uuid.uuid4().hex
        self.data[OPERATIONS][op_id] = {
            "kind": kind,
            "target": target,
            "status": "InProgress",
            "running": running,
            "outcome": outcome,
            "error": error,
            "started": time.time(),
            "ready_at": time.time() + seconds,
        }
        if gate is not None:
            self._gates[op_id] = gate
        return op_id

    def tick(self) -> None:
        """Advance time-driven state: finish operations whose work is done, then each family's."""
        now = time.time()
        changed = False
        after: list[Callable[[], None]] = []
        with self.store.lock:
            for op_id, op in self.data[OPERATIONS].items():
                if op["status"] != "InProgress" or now < op["ready_at"] or self.hold:
                    continue
                gate = self._gates.get(op_id)
                if gate is not None and not gate.is_set():
                    continue
                self._gates.pop(op_id, None)
                op["status"] = op["outcome"]
                op["ended"] = now
                finisher = self._finishers.get(op["kind"])
                work = finisher(self, op) if finisher is not None else None
                if work is not None:
                    after.append(work)
                changed = True
            for family in self.families:
                if family.advance is not None:
                    changed |= family.advance(self, now)
        for work in after:
            threading.Thread(target=work, daemon=True).start()
        if changed:
            self.store.save()

    def resume(self) -> None:
        """After a (re)start, let each family bring back its live parts (e.g. scoring servers)."""
        for family in self.families:
            if family.resume is not None:
                family.resume(self)

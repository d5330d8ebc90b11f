"""Progress a person can trust: during every long wait (job, compute, endpoint, deployment,
deletion) a line with the elapsed time and the current state, at least every 30 seconds.

The library never prints: it calls `status` (a transient line; a terminal shows one updating
line) or, without one, `log` (plain lines, for CI logs). The interval comes from the caller or
AMLGEN_HEARTBEAT_SECONDS.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import names

HEARTBEAT_SECONDS = 30.0  # the promise: never quiet for longer than this

Line = Callable[[str], None]


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def heartbeat_seconds(explicit: float | None = None) -> float:
    """The interval: explicit, else AMLGEN_HEARTBEAT_SECONDS, else 30 s (never above 30 s)."""
    value = explicit
    if value is None:
        try:
            value = float(os.environ.get(names.ENV_HEARTBEAT, HEARTBEAT_SECONDS))
        except ValueError:
            value = HEARTBEAT_SECONDS
    if not math.isfinite(value):  # nan compares false with everything: it would pass min/max
        value = HEARTBEAT_SECONDS
    return min(max(value, 0.05), HEARTBEAT_SECONDS)


@contextmanager
def heartbeat(what: Callable[[], str], emit: Line, interval: float) -> Iterator[None]:
    """While the block runs, emit `[h:mm:ss] <what()>` every `interval` seconds (a thread, so a
    blocking service call is covered too). The first line comes after one interval."""
    start = time.monotonic()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(interval):
            try:
                emit(f"[{elapsed(time.monotonic() - start)}] {what()}")
            except Exception:  # a broken sink must not kill the wait it reports on
                return

    thread = threading.Thread(target=beat, name="amlgen-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1)

"""Ctrl-C and SIGTERM: the same teardown, the conventional exit codes (130 and 143).

CI systems cancel a job with SIGTERM; the flow must delete a billing endpoint then exactly as it
does on Ctrl-C, and teardown itself must not be cut short by a second signal.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import WorkflowError

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that the same cleanup runs."""


class Interrupted(WorkflowError):
    """Ctrl-C or SIGTERM: the flow stopped (after tearing down what it had to)."""

    exit_code = EXIT_SIGINT

    def __init__(self, message: str, signal_exit: int = EXIT_SIGINT) -> None:
        super().__init__(message)
        self.exit_code = signal_exit


def exit_code_of(exc: BaseException) -> int:
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install_sigterm() -> None:
    """For the command line: SIGTERM anywhere raises Terminated (exit 143 after cleanup), and
    Ctrl-C raises KeyboardInterrupt even when the parent started us with SIGINT ignored (a
    shell's background job, some CI runners): the teardown guarantee must not depend on it."""
    if _main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For library callers too: SIGTERM inside the block raises Terminated."""
    if not _main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextmanager
def no_interrupts() -> Iterator[list[int]]:
    """Teardown itself must not be cut short by a Ctrl-C or SIGTERM, and must not swallow one
    either: a signal that arrives meanwhile is raised once the block is done (KeyboardInterrupt,
    or Terminated for SIGTERM), so a cancelled CI job still ends 130/143, never 0."""
    caught: list[int] = []  # yielded: the block may ask whether a signal came (to retry a call)
    if not _main_thread():
        yield caught
        return

    def remember(signum: int, frame: Any) -> None:
        caught.append(signum)

    old_int = signal.signal(signal.SIGINT, remember)
    old_term = signal.signal(signal.SIGTERM, remember)
    try:
        yield caught
    except BaseException as exc:
        # The signal wins over what it caused (CI's SIGTERM also stops a running `az`).
        if caught:
            raise _signal_exception(caught[0]) from exc
        raise
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    if caught:
        raise _signal_exception(caught[0])


def _signal_exception(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

"""The one place library noise is silenced: the SDK's notices, logs and progress dots, and the
dataset libraries' warnings, are not ours to show (stdout carries only plans and responses)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterable, Iterator
from typing import IO, Any


@contextlib.contextmanager
def quiet(
    *,
    loggers: Iterable[str] | None = None,
    stdout: IO[Any] | None = None,
    stderr: bool = True,
) -> Iterator[None]:
    """Silence logging (all of it, or just `loggers`), Python warnings and what the libraries
    print. `stdout=sys.stderr` keeps what they print (e.g. streamed job logs) off stdout;
    `stderr=False` leaves stderr alone, for callers whose own progress goes there."""
    sink = io.StringIO()
    saved: list[tuple[logging.Logger, int]] = []
    previous = logging.root.manager.disable
    if loggers is None:
        logging.disable(logging.CRITICAL)
    else:
        for name in loggers:
            logger = logging.getLogger(name)
            saved.append((logger, logger.level))
            logger.setLevel(logging.CRITICAL + 1)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore")
            stack.enter_context(contextlib.redirect_stdout(stdout or sink))
            if stderr:
                stack.enter_context(contextlib.redirect_stderr(sink))
            yield
    finally:
        if loggers is None:
            logging.disable(previous)
        for logger, level in saved:
            logger.setLevel(level)


def sdk_quiet(stdout: IO[Any] | None = None) -> contextlib.AbstractContextManager[None]:
    """Around MLClient calls: the `azure` loggers and stdout, not stderr (our progress)."""
    return quiet(loggers=("azure",), stdout=stdout, stderr=False)

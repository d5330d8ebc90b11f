"""Checks on the data: rows the fine-tuning service would reject, and splits the job cannot use.

`check_rows` is the chat-row rule (defined once, in generator.chatrows, and shared with
`validate`) applied to a whole Arrow column at once; the reason codes are what `amlgen data`
counts dropped rows by.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..chatrows import REASONS, column_reasons
from ..chatrows import is_string_type as is_string_type  # writer.py reads it from here
from ..errors import DataError
from .settings import MIN_TRAIN_ROWS

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def check_rows(messages: pa.Array) -> np.ndarray:
    """Reason code per row (0 = valid; see REASONS) for a `messages` column, vectorised."""
    return column_reasons(messages)


def first_invalid(
    reason: np.ndarray, rows: np.ndarray | None, start: int, source: str, split: str
) -> DataError:
    """The `--on-invalid fail` error for the first bad row of a batch (`rows`: source indices)."""
    import numpy as np

    i = int(np.flatnonzero(reason != 0)[0])
    row = int(rows[i]) if rows is not None else start + i
    return DataError(
        f"{source}: {split} row {row}: {REASONS[int(reason[i])][1]} "
        "(on_invalid: fail; use --on-invalid drop to drop such rows)"
    )


def check_splits(wanted: Iterable[str], available: Iterable[str], source: str) -> None:
    """Every split the params name exists in the source."""
    have = set(available)
    missing = [s for s in wanted if s not in have]
    if missing:
        names = ", ".join(sorted(have)) or "none"
        raise DataError(f"data.splits: {', '.join(missing)} not in {source} (it has: {names})")


def check_columns(columns: Iterable[str], source: str, split: str) -> None:
    """A split without a `messages` column cannot be chat data."""
    names = list(columns)
    if "messages" not in names:
        listed = f" (columns: {', '.join(names)})" if names else ""
        raise DataError(f"data.source: {source} split {split} has no `messages` column{listed}")


def check_train_rows(written: int, split: str) -> None:
    """The service refuses a training file with fewer rows."""
    if written < MIN_TRAIN_ROWS:
        raise DataError(
            f"data: only {written} valid rows left in {split} "
            f"(the service needs at least {MIN_TRAIN_ROWS}); raise --split-percent"
        )

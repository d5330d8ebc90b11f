"""Checks on the data: rows the fine-tuning service would reject, and splits the job cannot use.

`check_rows` is the chat-row rule applied to a whole Arrow column at once; the reason codes are
what `amlgen data` counts dropped rows by.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import DataError
from .settings import MIN_TRAIN_ROWS

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

ROLES = ("system", "user", "assistant")

# Why a row is dropped, in the order checks apply (a row counts under its first failure).
REASONS = {
    1: ("messages_missing", "messages is missing (null)"),
    2: ("messages_not_list", "messages is not a list"),
    3: ("too_few_messages", "messages has fewer than 2 messages"),
    4: ("bad_role", "a message has a role other than system, user or assistant"),
    5: ("bad_content", "a message content is not a non-empty string"),
    6: ("system_not_first", "a system message is not the first message"),
}


def check_rows(messages: pa.Array) -> np.ndarray:
    """Reason code per row (0 = valid; see REASONS) for a `messages` column, vectorised."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(messages)
    reason = np.zeros(n, dtype=np.int8)
    is_null = messages.is_null().to_numpy(zero_copy_only=False)
    if not (pa.types.is_list(messages.type) or pa.types.is_large_list(messages.type)):
        reason[:] = 2
        reason[is_null] = 1
        return reason
    lengths = pc.list_value_length(messages).fill_null(0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(messages)
    parents = pc.list_parent_indices(messages).to_numpy(zero_copy_only=False)
    m = len(flat)
    bad_role = np.ones(m, dtype=bool)
    bad_content = np.ones(m, dtype=bool)
    sys_late = np.zeros(m, dtype=bool)
    if m and pa.types.is_struct(flat.type):
        fields = {flat.type.field(i).name: a for i, a in enumerate(flat.flatten())}
        role = fields.get("role")
        content = fields.get("content")
        if role is not None and is_string_type(role.type):
            bad_role = ~_np_bool(pc.is_in(role, value_set=pa.array(ROLES, role.type)))
            is_system = _np_bool(pc.equal(role, "system"))
            starts = np.cumsum(lengths) - lengths
            position = np.arange(m) - starts[parents]
            sys_late = is_system & (position != 0)
        if content is not None and is_string_type(content.type):
            bad_content = ~_np_bool(pc.greater(pc.binary_length(content), 0))
    for code, element_bad in ((6, sys_late), (5, bad_content), (4, bad_role)):
        if element_bad.any():
            reason[np.unique(parents[element_bad])] = code
    reason[lengths < 2] = 3
    reason[is_null] = 1
    return reason


def _np_bool(arr: pa.Array) -> np.ndarray:
    return arr.fill_null(False).to_numpy(zero_copy_only=False)


def is_string_type(t: pa.DataType) -> bool:
    """Arrow string or large string."""
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


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

"""Checks on the data: rows the fine-tuning service would reject, and splits the job cannot use.

`check_rows` is the chat-row rule (defined once, in generator.chatrows, and shared with
`validate`) applied to a whole Arrow column at once; the reason codes are what `amlgen data`
counts dropped rows by.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..chatrows import REASONS, column_reasons, row_reason
from ..chatrows import is_string_type as is_string_type  # writer.py reads it from here
from ..errors import DataError
from .settings import MIN_TRAIN_ROWS

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def check_rows(messages: pa.Array) -> np.ndarray:
    """Reason code per row (0 = valid; see REASONS) for a `messages` column, vectorised."""
    return column_reasons(messages)


MESSAGE_KEYS = ("role", "content")


def chat_column(messages: pa.Array, source: str, split: str) -> tuple[pa.Array, np.ndarray]:
    """The `messages` column as it will be written, and each row's reason code.

    A source whose rows mix types (a content that is a list in one row, a number in another)
    reaches us as JSON values (`datasets` types such a column `Json`, Arrow `arrow.json`): those
    are decoded and judged by the same rule row by row, so a non-string content is a counted
    rejection and every other row keeps its strings as they are, never re-encoded as JSON text.
    A layout the rule does not know (a column of strings, messages with other keys) is one
    error naming the column, before anything is written.
    """
    import numpy as np
    import pyarrow as pa

    where = f"data.source: {source} split {split}: column `messages`"
    t = messages.type
    if is_string_type(t):
        raise DataError(
            f"{where} holds strings (JSON text?), not lists of {{role, content}} messages: "
            "store it as a list column"
        )
    if not _has_json(t):
        _check_keys(t, where)
        return messages, check_rows(messages)
    rows = python_values(messages)
    reasons = np.array([row_reason(r) for r in rows], dtype=np.int8)
    extra = sorted(
        {k for r in rows if isinstance(r, list) for m in r if isinstance(m, dict) for k in m}
        - set(MESSAGE_KEYS)
    )
    if extra:
        raise DataError(f"{where}: messages with keys {_keys(extra)}; {_KNOWN}")
    clean = [r if reason == 0 else None for r, reason in zip(rows, reasons, strict=True)]
    struct = pa.struct([(k, pa.string()) for k in MESSAGE_KEYS])
    return pa.array(clean, type=pa.list_(struct)), reasons


_KNOWN = "the chat rule knows role and content only: drop or map the others first"


def _keys(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
    return shown


def _check_keys(t: pa.DataType, where: str) -> None:
    import pyarrow as pa

    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_struct(t.value_type):
        extra = [f.name for f in t.value_type if f.name not in MESSAGE_KEYS]
        if extra:
            raise DataError(f"{where}: messages with keys {_keys(extra)}; {_KNOWN}")


def _has_json(t: pa.DataType) -> bool:
    """Whether a JSON-typed value occurs anywhere in the type."""
    import pyarrow as pa

    if isinstance(t, pa.BaseExtensionType):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_json(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_json(f.type) for f in t)
    return False


def python_values(arr: pa.Array) -> list[Any]:
    """The array's values as Python objects, decoding exactly the values Arrow types as JSON
    (a plain string is left alone even when it would parse as JSON)."""
    import pyarrow as pa

    valid = arr.is_valid().to_pylist()
    if isinstance(arr, pa.ExtensionArray):
        return [json.loads(v) if v is not None else None for v in arr.storage.to_pylist()]
    if isinstance(arr, pa.ListArray | pa.LargeListArray):
        offsets = arr.offsets.to_pylist()
        child = python_values(arr.values)
        return [child[offsets[i] : offsets[i + 1]] if ok else None for i, ok in enumerate(valid)]
    if isinstance(arr, pa.StructArray):
        names = [f.name for f in arr.type]
        fields = [python_values(f) for f in arr.flatten()]
        return [
            dict(zip(names, (f[i] for f in fields), strict=True)) if ok else None
            for i, ok in enumerate(valid)
        ]
    return arr.to_pylist()


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


def check_train_rows(written: int, split: str, dropped: dict[str, int] | None = None) -> None:
    """The service refuses a training file with fewer rows; say why rows went, if they did."""
    if written >= MIN_TRAIN_ROWS:
        return
    why = "raise --split-percent"
    if dropped:
        texts = {code: text for code, text in REASONS.values()}
        worst = max(dropped, key=lambda r: dropped[r])
        counts = ", ".join(f"{r} {n}" for r, n in sorted(dropped.items()))
        why = f"{sum(dropped.values())} rows dropped ({counts}; e.g. {texts[worst]})"
    raise DataError(
        f"data: only {written} valid rows left in {split} "
        f"(the service needs at least {MIN_TRAIN_ROWS}); {why}"
    )

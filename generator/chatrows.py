"""The chat-row rule of the fine-tuning service, in one place for `amlgen data` and `validate`.

What the service's chat preprocessing does (azureml-facts.md §8): the chat column is `messages`,
a list of at least two `{"role": system|user|assistant, "content": str}` messages, a system
message only first; rows that break it are dropped. "Empty" is empty: a content of only
whitespace is a non-empty string the chat template applies to, so the service keeps such a row
and so do we (`amlgen data` keeps it, `validate` does not flag it); a content of "" is dropped.

`row_reason` judges one row (validate reads the first lines of a JSONL file); `column_reasons`
judges a whole Arrow column at once (data prepares millions of rows). Both return the same
reason codes, the first rule a row breaks; a test pins that they agree row by row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

ROLES = ("system", "user", "assistant")
MIN_MESSAGES = 2

# Why a row is dropped, in the order the rules apply (a row counts under its first failure).
REASONS = {
    1: ("messages_missing", "messages is missing (null)"),
    2: ("messages_not_list", "messages is not a list"),
    3: ("too_few_messages", f"messages has fewer than {MIN_MESSAGES} messages"),
    4: ("bad_role", "a message has a role other than system, user or assistant"),
    5: ("bad_content", "a message content is not a non-empty string"),
    6: ("system_not_first", "a system message is not the first message"),
}


def content_ok(content: Any) -> bool:
    """A message content the service keeps: any non-empty string, whitespace included."""
    return isinstance(content, str) and len(content) > 0


def row_reason(messages: Any) -> int:
    """Reason code of one row's `messages` value (0 = valid; see REASONS)."""
    if messages is None:
        return 1
    if not isinstance(messages, list):
        return 2
    if len(messages) < MIN_MESSAGES:
        return 3
    codes: set[int] = set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            codes.update((4, 5))
            continue
        if msg.get("role") not in ROLES:
            codes.add(4)
        if not content_ok(msg.get("content")):
            codes.add(5)
        if msg.get("role") == "system" and i > 0:
            codes.add(6)
    return min(codes) if codes else 0


def column_reasons(messages: pa.Array) -> np.ndarray:
    """Reason code per row (0 = valid) for a whole `messages` column, vectorised."""
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
            # content_ok, vectorised: a non-empty string (whitespace counts as content)
            bad_content = ~_np_bool(pc.greater(pc.binary_length(content), 0))
        null_item = ~flat.is_valid().to_numpy(zero_copy_only=False)
        bad_role |= null_item
        bad_content |= null_item
    for code, element_bad in ((6, sys_late), (5, bad_content), (4, bad_role)):
        if element_bad.any():
            reason[np.unique(parents[element_bad])] = code
    reason[lengths < MIN_MESSAGES] = 3
    reason[is_null] = 1
    return reason


def _np_bool(arr: pa.Array) -> np.ndarray:
    return arr.fill_null(False).to_numpy(zero_copy_only=False)


def is_string_type(t: pa.DataType) -> bool:
    """Arrow string or large string."""
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))

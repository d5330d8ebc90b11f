"""The one chat-row rule: the per-row and the vectorised forms agree on every kind of row, and
whitespace-only content is kept, as the service keeps it (both `data` and `validate` are tested
against it in test_data.py and test_validate.py)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from generator.chatrows import REASONS, column_reasons, row_reason

U = {"role": "user", "content": "hi"}
A = {"role": "assistant", "content": "hello"}
S = {"role": "system", "content": "be brief"}

ROWS = [
    ([U, A], 0),
    ([S, U, A], 0),
    ([U, {"role": "assistant", "content": "   "}], 0),  # whitespace is content
    ([{"role": "user", "content": "\n\t"}, A], 0),
    (None, 1),
    ([], 3),
    ([U], 3),
    ([U, {"role": "bot", "content": "x"}], 4),
    ([U, {"role": None, "content": "x"}], 4),
    ([U, None], 4),
    ([U, {"role": "assistant", "content": ""}], 5),
    ([{"role": "user", "content": None}, A], 5),
    ([U, S, A], 6),
    ([U, {"role": "bot", "content": ""}], 4),  # the first rule broken is the one counted
    ([U, {"role": "system", "content": ""}], 5),
]


@pytest.mark.parametrize(("messages", "code"), ROWS)
def test_row_reason(messages: object, code: int) -> None:
    assert row_reason(messages) == code
    assert code == 0 or code in REASONS


def test_the_vectorised_rule_agrees_with_the_row_rule() -> None:
    column = pa.array([m for m, _ in ROWS])
    assert column_reasons(column).tolist() == [row_reason(m) for m, _ in ROWS]
    assert column_reasons(pa.array(["[]", None])).tolist() == [2, 1]
    assert [row_reason(v) for v in ("[]", None)] == [2, 1]
    numbers = [[{"content": 1, "role": "user"}, {"content": 2, "role": "assistant"}]]
    assert column_reasons(pa.array(numbers)).tolist() == [row_reason(numbers[0])] == [5]

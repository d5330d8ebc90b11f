"""Data is never changed silently (issue #20, principle 3): content that is not a string is a
counted rejection, never a rewrite of other rows; a layout the chat rule does not know is one
line naming the column. Real `datasets` loading of JSON Lines and Parquet files made here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from generator import data as D
from generator.cli import cli
from generator.data import source as data_source
from generator.rendering import render_environments
from generator.validation import validate_paths

SPLITS = ("train_sft", "test_sft", "train_gen", "test_gen")


_DEFAULT = object()


def _row(i: int, content: Any = _DEFAULT) -> dict[str, Any]:
    return {
        "prompt": f"question {i}",
        "prompt_id": f"id-{i}",
        "messages": [
            {"role": "user", "content": f"question {i}" if content is _DEFAULT else content},
            {"role": "assistant", "content": f'answer {i}: "quoted", \\ back'},
        ],
    }


def _jsonl_source(root: Path, rows: list[dict[str, Any]]) -> Path:
    (root / "data").mkdir(parents=True)
    for split in SPLITS:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (root / "data" / f"{split}-00000-of-00001.jsonl").write_text(text, encoding="utf-8")
    return root


def _written(project: Path, split: str = "train_sft") -> list[dict[str, Any]]:
    path = project / "data" / "ultrachat_200k" / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _prepare(project: Path, source: Path, cache: Path) -> D.DataReport:
    render_environments(["dev"], project)
    return D.prepare_data("dev", project, source=str(source), split_percent=100, cache_dir=cache)


@pytest.mark.parametrize(
    "bad",
    [["a", "list"], 5, {"an": "object"}, None, 2.5, True],
    ids=["list", "int", "object", "null", "float", "bool"],
)
def test_a_row_whose_content_is_not_a_string_is_dropped_and_counted_the_rest_unchanged(
    project: Path, tmp_path: Path, bad: Any
) -> None:
    rows = [_row(i) for i in range(20)]
    rows[3] = _row(3, bad)
    source = _jsonl_source(tmp_path / "src", rows)
    report = _prepare(project, source, tmp_path / "cache")
    train = next(s for s in report.splits if s.name == "train_sft")
    assert train.dropped == {"bad_content": 1} and train.written == 19
    assert _written(project) == [r for i, r in enumerate(rows) if i != 3]  # byte-for-byte values
    assert "dropped: bad_content 4" in report.summary()
    assert not validate_paths(["azureml/dev"], project, sdk=False).failed()


def test_mixed_types_in_other_columns_are_written_as_the_values_they_are(
    project: Path, tmp_path: Path
) -> None:
    rows = [_row(i) for i in range(20)]
    rows[5]["prompt_id"] = 5  # a number among strings: datasets types the column JSON
    source = _jsonl_source(tmp_path / "src", rows)
    _prepare(project, source, tmp_path / "cache")
    written = _written(project)
    assert written[5]["prompt_id"] == 5 and written[6]["prompt_id"] == "id-6"
    assert written == rows


def test_every_content_a_number_is_an_error_that_says_why(project: Path, tmp_path: Path) -> None:
    msg = pa.struct([("role", pa.string()), ("content", pa.int64())])
    schema = pa.schema([("prompt", pa.string()), ("messages", pa.list_(msg))])
    (tmp_path / "src" / "data").mkdir(parents=True)
    rows = [{"prompt": "p", "messages": [{"role": "user", "content": i}] * 2} for i in range(20)]
    for split in SPLITS:
        pq.write_table(
            pa.Table.from_pylist(rows, schema=schema),
            tmp_path / "src" / "data" / f"{split}-00000-of-00001.parquet",
        )
    args = ["data", "--source", str(tmp_path / "src"), "--split-percent", "100"]
    result = CliRunner().invoke(cli, ["-C", str(project), *args])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert line == (
        "error: data: only 0 valid rows left in train_sft (the service needs at least 10); "
        "20 rows dropped (bad_content 20; e.g. a message content is not a non-empty string)"
    )
    assert not (project / "data").exists()


def _parquet_source(root: Path, table: pa.Table) -> Path:
    (root / "data").mkdir(parents=True)
    for split in SPLITS:
        pq.write_table(table, root / "data" / f"{split}-00000-of-00001.parquet")
    return root


@pytest.mark.parametrize("layout", ["string-column", "extra-keys", "extra-keys-jsonl"])
def test_a_layout_the_rule_does_not_know_is_one_line_naming_the_column(
    project: Path, tmp_path: Path, layout: str
) -> None:
    rows = [_row(i) for i in range(20)]
    if layout == "string-column":
        table = pa.table(
            {"prompt": [r["prompt"] for r in rows], "messages": [json.dumps(r) for r in rows]}
        )
        source = _parquet_source(tmp_path / "src", table)
        expect = "column `messages` holds strings (JSON text?), not lists of {role, content}"
    elif layout == "extra-keys":
        for r in rows:
            for m in r["messages"]:
                m["name"] = "bob"
        source = _parquet_source(tmp_path / "src", pa.Table.from_pylist(rows))
        expect = "column `messages`: messages with keys name; the chat rule knows role and content"
    else:
        rows[2]["messages"][0]["weight"] = 0
        source = _jsonl_source(tmp_path / "src", rows)
        expect = "column `messages`: messages with keys weight"
    result = CliRunner().invoke(
        cli, ["-C", str(project), "data", "--source", str(source), "--split-percent", "100"]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: data.source: {source} split ") and expect in line, line
    assert not (project / "data").exists()


def test_big_rows_come_a_few_at_a_time(tmp_path: Path) -> None:
    files = []
    for name, size in (("a", 40 * 2**20), ("b", 20 * 2**20)):
        path = tmp_path / name
        with open(path, "wb") as fh:
            fh.truncate(size)
        files.append(str(path))
    assert data_source.batch_rows(files, 3) == 3  # 20 MB rows: 3 per 64 MB batch
    assert data_source.batch_rows(files, 3_000_000) == data_source.BATCH_ROWS
    assert data_source.batch_rows(["hf://datasets/x/y.parquet"], 10) == data_source.BATCH_ROWS

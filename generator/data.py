"""`amlgen data`: turn a chat dataset into the JSONL files the fine-tuning job uploads.

Why not the seed's `load_dataset(..., split="x[:5%]").to_json(...)`: that converts every split in
full into an Arrow cache before slicing, checks nothing, and its test request leaks the reference
answer. Here the source (a hub id or a local folder in the hub layout, both through the same
`datasets` builder that `load_dataset(..., streaming=True)` uses) is streamed batch by batch:
rows are checked with Arrow compute kernels the way the service's preprocessing checks them, the
JSON lines are assembled by Arrow string kernels (no Python object per row), and reading stops
once the slice is taken. Memory stays flat whatever the dataset size.

Everything written is deterministic (no timestamps, no absolute paths), so a rerun with the same
inputs gives byte-identical files, and `manifest.json`'s per-file sha256 feeds the `amlgen.data`
tag of the rendered pipeline job.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from .params import Resolved

Sample = Literal["first", "random"]
OnInvalid = Literal["drop", "fail"]

MANIFEST = "manifest.json"
SCORE_FILE = "sample_score.json"
MIN_TRAIN_ROWS = 10
ROLES = ("system", "user", "assistant")
# Output columns, in this order; every other column is dropped (as the service does).
KEEP_COLUMNS = ("prompt", "prompt_id", "messages", "tools")
BATCH_ROWS = 2048

# Why a row is dropped, in the order checks apply (a row counts under its first failure).
REASONS = {
    1: ("messages_missing", "messages is missing (null)"),
    2: ("messages_not_list", "messages is not a list"),
    3: ("too_few_messages", "messages has fewer than 2 messages"),
    4: ("bad_role", "a message has a role other than system, user or assistant"),
    5: ("bad_content", "a message content is not a non-empty string"),
    6: ("system_not_first", "a system message is not the first message"),
}


@dataclass(frozen=True)
class DataSettings:
    """Everything that decides the output: parameters with the command-line flags applied."""

    source: str
    split_percent: float
    sample: Sample
    seed: int
    out_dir: Path
    splits: tuple[str, ...]
    train_split: str
    test_split: str
    score_split: str
    on_invalid: OnInvalid
    inference_parameters: dict[str, Any]
    project_dir: Path = Path(".")


@dataclass
class SplitReport:
    name: str
    available: int = 0
    read: int = 0
    written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    sha256: str = ""
    bytes: int = 0

    @property
    def file(self) -> str:
        return f"{self.name}.jsonl"


@dataclass
class DataReport:
    """What `prepare_data` did; `summary()` is what the CLI prints."""

    settings: DataSettings
    revision: str | None
    splits: list[SplitReport]
    score: dict[str, Any]
    files: dict[str, dict[str, Any]]
    manifest: dict[str, Any]

    def summary(self) -> list[str]:
        s = self.settings
        pct = _number(s.split_percent)
        lines = [
            f"source {s.source}" + (f" @ {self.revision[:12]}" if self.revision else ""),
            f"{s.sample} {pct}% of each split, seed {s.seed}, invalid rows: {s.on_invalid}",
            f"{'split':<12} {'available':>10} {'read':>9} {'written':>9} {'dropped':>8}",
        ]
        for sp in self.splits:
            dropped = sum(sp.dropped.values())
            lines.append(
                f"{sp.name:<12} {sp.available:>10} {sp.read:>9} {sp.written:>9} {dropped:>8}"
            )
        totals: dict[str, int] = {}
        for sp in self.splits:
            for reason, count in sp.dropped.items():
                totals[reason] = totals.get(reason, 0) + count
        if totals:
            lines.append("dropped: " + ", ".join(f"{r} {c}" for r, c in sorted(totals.items())))
        sc = self.score
        lines.append(
            f"{SCORE_FILE}: {sc['split']} line {sc['line']}, {sc['messages']} messages"
            + (f" (trimmed {sc['trimmed']} after the last user turn)" if sc["trimmed"] else "")
        )
        lines.append(f"wrote {len(self.files) + 1} files to {_display(s.out_dir, s.project_dir)}")
        return lines


# --- settings ----------------------------------------------------------------------------------


def settings_from_params(
    resolved: Resolved,
    *,
    source: str | None = None,
    split_percent: float | None = None,
    sample: str | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    on_invalid: str | None = None,
) -> DataSettings:
    """Parameters of the environment, each overridden by its flag when one is given."""
    d = resolved.params.data
    root = Path(resolved.project_dir)
    pct = d.split_percent if split_percent is None else split_percent
    if not (0 < pct <= 100):
        raise DataError(f"data.split_percent: {_number(pct)} is outside (0, 100]")
    smp = d.sample if sample is None else sample
    if smp not in ("first", "random"):
        raise DataError(f"data.sample: {smp!r} is not one of first, random")
    inv = d.on_invalid if on_invalid is None else on_invalid
    if inv not in ("drop", "fail"):
        raise DataError(f"data.on_invalid: {inv!r} is not one of drop, fail")
    splits = tuple(d.splits)
    for key in ("train_split", "test_split", "score_split"):
        name = getattr(d, key)
        if name not in splits:
            raise DataError(f"data.{key}: {name!r} is not in data.splits ({', '.join(splits)})")
    out_dir = Path(out) if out is not None else Path(d.dir)
    src = d.source if source is None else source
    if not src.strip():
        raise DataError("data.source: empty; give a hub id or a local folder")
    return DataSettings(
        source=src,
        split_percent=float(pct),
        sample=smp,  # type: ignore[arg-type]
        seed=d.seed if seed is None else seed,
        out_dir=out_dir if out_dir.is_absolute() else root / out_dir,
        splits=splits,
        train_split=d.train_split,
        test_split=d.test_split,
        score_split=d.score_split,
        on_invalid=inv,  # type: ignore[arg-type]
        inference_parameters=dict(resolved.params.inference.parameters),
        project_dir=root,
    )


def prepare_data(
    env: str = "dev",
    project_dir: str | Path = ".",
    overrides: Sequence[str] = (),
    *,
    source: str | None = None,
    split_percent: float | None = None,
    sample: str | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    on_invalid: str | None = None,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> DataReport:
    """Prepare the environment's data: the one call behind `amlgen data`.

    Flags left as None take the environment's `data` parameters; relative paths (source, out)
    are relative to the project folder.
    """
    from .params import load_params

    resolved = load_params(env, project_dir, list(overrides))
    settings = settings_from_params(
        resolved,
        source=source,
        split_percent=split_percent,
        sample=sample,
        seed=seed,
        out=out,
        on_invalid=on_invalid,
    )
    return prepare(settings, progress=progress, cache_dir=cache_dir)


# --- loading -----------------------------------------------------------------------------------


@dataclass
class _Source:
    builder: Any
    revision: str | None
    files: dict[str, list[str]]


def _looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or "\\" in source or source.count("/") > 1


def open_source(
    source: str, project_dir: Path = Path("."), cache_dir: str | Path | None = None
) -> _Source:
    """Resolve a hub id or a local folder with the builder `load_dataset` itself uses.

    `load_dataset(path, streaming=True)` is exactly `load_dataset_builder(path)` followed by
    `as_streaming_dataset()`; going through the builder keeps that path and also gives the data
    files, whose Parquet footers hold the exact row counts percent slices are computed from.
    """
    local = Path(source).expanduser()
    if not local.is_absolute():
        local = project_dir / local
    if local.exists() and not local.is_dir():
        raise DataError(f"data.source: {source} is a file; give a folder in the hub layout")
    if not local.exists() and _looks_like_path(source):
        raise DataError(f"data.source: folder {source} does not exist")
    path = str(local) if local.is_dir() else source

    import datasets

    try:
        builder = datasets.load_dataset_builder(
            path, cache_dir=str(cache_dir) if cache_dir is not None else None
        )
    except Exception as exc:  # datasets raises many types for "not there"
        where = "folder" if local.is_dir() else "Hugging Face Hub dataset"
        raise DataError(f"data.source: cannot load {where} {source}: {_first_line(exc)}") from None
    _tune_parquet(builder.config)
    files = {str(k): [str(f) for f in v] for k, v in (builder.config.data_files or {}).items()}
    revision = None
    for paths in files.values():
        for f in paths:
            m = re.search(r"@([0-9a-f]{40})/", f)
            if m:
                revision = m.group(1)
                break
        if revision:
            break
    return _Source(builder=builder, revision=revision, files=files)


def _tune_parquet(config: Any) -> None:
    """Read Parquet in small batches without pre-buffering whole row groups (flat memory).

    These are the ParquetConfig fields `load_dataset(..., batch_size=, fragment_scan_options=)`
    would set; other formats keep their defaults.
    """
    from datasets.packaged_modules.parquet.parquet import ParquetConfig

    if isinstance(config, ParquetConfig):
        import pyarrow.dataset as pds

        config.batch_size = BATCH_ROWS
        if config.fragment_scan_options is None:
            config.fragment_scan_options = pds.ParquetFragmentScanOptions(pre_buffer=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _row_count(src: _Source, split: str, stream: Any) -> int:
    """Rows in a split: Parquet footers when the files are Parquet, else one counting pass."""
    files = src.files.get(split, [])
    if files and all(f.split("?")[0].endswith(".parquet") for f in files):
        import pyarrow.parquet as pq
        from datasets.utils.file_utils import xopen

        total = 0
        for f in files:
            with xopen(f, "rb") as fh:
                total += pq.ParquetFile(fh).metadata.num_rows
        return total
    first = stream.column_names[0] if stream.column_names else None
    counting = stream.select_columns([first]) if first else stream
    return sum(len(t) for t in counting.with_format("arrow").iter(batch_size=BATCH_ROWS))


def slice_rows(percent: float, available: int) -> int:
    """Rows `split[:P%]` takes: datasets rounds percent slices to the closest row ("closest")."""
    return min(available, round(percent * available / 100.0))


def sample_indices(n: int, k: int, seed: int, split: str) -> np.ndarray:
    """Sorted indices of a seeded random sample of k of n rows (independent per split)."""
    import numpy as np

    rng = random.Random(f"{seed}:{split}")
    return np.array(sorted(rng.sample(range(n), k)), dtype=np.int64)


# --- checks ------------------------------------------------------------------------------------


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
        if role is not None and _is_string(role.type):
            bad_role = ~_np_bool(pc.is_in(role, value_set=pa.array(ROLES, role.type)))
            is_system = _np_bool(pc.equal(role, "system"))
            starts = np.cumsum(lengths) - lengths
            position = np.arange(m) - starts[parents]
            sys_late = is_system & (position != 0)
        if content is not None and _is_string(content.type):
            bad_content = ~_np_bool(pc.greater(pc.binary_length(content), 0))
    for code, element_bad in ((6, sys_late), (5, bad_content), (4, bad_role)):
        if element_bad.any():
            reason[np.unique(parents[element_bad])] = code
    reason[lengths < 2] = 3
    reason[is_null] = 1
    return reason


def _np_bool(arr: pa.Array) -> np.ndarray:
    return arr.fill_null(False).to_numpy(zero_copy_only=False)


def _is_string(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


# --- JSON lines ----------------------------------------------------------------------------------

_RARE_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
# Bytes json.dumps escapes with a two-character sequence (the rest below 0x20 become \u00XX).
_SHORT_ESCAPES = (
    (0x5C, "\\", "\\\\"),
    (0x22, '"', '\\"'),
    (0x0A, "\n", "\\n"),
    (0x0D, "\r", "\\r"),
    (0x09, "\t", "\\t"),
)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _value_bytes(arr: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of a string array's values, without copying."""
    import numpy as np

    offsets = np.frombuffer(
        arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=4 * arr.offset
    )
    data = arr.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(
        data, dtype=np.uint8, count=int(offsets[-1] - offsets[0]), offset=int(offsets[0])
    )


def _escape(arr: pa.Array) -> pa.Array:
    """JSON string escaping of each value (no quotes), exactly as json.dumps(ensure_ascii=False).

    One vectorised scan finds which special bytes occur at all, so only the replacements that
    matter run; values holding rarer control characters are left to the json module.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    raw = _value_bytes(arr)
    if not len(raw):
        return arr
    present = set(np.flatnonzero(np.bincount(raw[raw < 0x20], minlength=32)).tolist())
    present.update(b for b in (0x22, 0x5C) if (raw == b).any())
    out = arr
    for byte, char, escaped in _SHORT_ESCAPES:
        if byte in present:
            out = pc.replace_substring(out, char, escaped)
    if present - {0x09, 0x0A, 0x0D, 0x22, 0x5C}:
        from json.encoder import encode_basestring

        rare = pc.match_substring_regex(arr, _RARE_CONTROL).fill_null(False)
        fixed = [
            encode_basestring(v)[1:-1] if hit else None
            for v, hit in zip(arr.to_pylist(), rare.to_pylist(), strict=True)
        ]
        out = pc.if_else(rare, pa.array(fixed, pa.string()), out)
    return out


class _Parts:
    """Arguments of one binary_join_element_wise call, with adjacent literals merged."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.text = ""

    def lit(self, text: str) -> None:
        self.text += text

    def string(self, arr: pa.Array) -> None:
        """A JSON string value (or null)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        esc = _escape(arr)
        if arr.null_count:
            quoted = pc.binary_join_element_wise('"', esc, '"', "")
            self.array(pc.if_else(arr.is_null(), pa.scalar("null"), quoted))
        else:
            self.lit('"')
            self.array(esc)
            self.lit('"')

    def array(self, arr: pa.Array) -> None:
        if self.text:
            self.items.append(self.text)
            self.text = ""
        self.items.append(arr)

    def join(self) -> pa.Array:
        import pyarrow.compute as pc

        if self.text:
            self.items.append(self.text)
        return pc.binary_join_element_wise(*self.items, "")


def _fast_path(table: pa.Table) -> bool:
    """True when every output value is a string, so Arrow kernels can write the JSON."""
    import pyarrow as pa

    for name in table.column_names:
        t = table.schema.field(name).type
        if name == "messages":
            if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
                return False
            vt = t.value_type
            if not pa.types.is_struct(vt) or not len(vt) or not all(_is_string(f.type) for f in vt):
                return False
        elif not _is_string(t):
            return False
    return True


def encode_lines(table: pa.Table) -> bytes | memoryview:
    """The rows of `table` (valid rows, output columns only) as UTF-8 JSON lines.

    Byte for byte what `json.dumps(row, ensure_ascii=False, separators=(",", ":"))` gives per
    row; Arrow string kernels do it when every value is a string (the chat layout), the json
    module otherwise.
    """
    if not len(table):
        return b""
    if not _fast_path(table) or table.column("messages").null_count:
        return "".join(_dumps(row) + "\n" for row in table.to_pylist()).encode("utf-8")
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    row = _Parts()
    for i, name in enumerate(table.column_names):
        col = table.column(name).combine_chunks()
        row.lit(("{" if i == 0 else ",") + _dumps(name) + ":")
        if name != "messages":
            row.string(col)
            continue
        flat = pc.list_flatten(col)
        msg = _Parts()
        for j, sub in enumerate(flat.flatten()):
            msg.lit(("{" if j == 0 else ",") + _dumps(flat.type.field(j).name) + ":")
            msg.string(sub)
        msg.lit("}")
        each = msg.join()
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        offsets = np.zeros(len(col) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        row.lit("[")
        row.array(pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), each), ","))
        row.lit("]")
    row.lit("}\n")
    lines = row.join()
    return _value_bytes(lines).data


# --- the run -------------------------------------------------------------------------------------


class _Outputs:
    """Temp files beside their targets, renamed into place only when everything succeeded."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.created_dir = not out_dir.exists()
        self.temps: dict[Path, Path] = {}

    def temp(self, name: str) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        target = self.out_dir / name
        tmp = self.out_dir / f".{name}.amlgen-tmp"
        self.temps[target] = tmp
        return tmp

    def commit(self) -> None:
        for target, tmp in self.temps.items():
            os.replace(tmp, target)
        self.temps.clear()

    def abort(self) -> None:
        for tmp in self.temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.temps.clear()
        if self.created_dir:
            with contextlib.suppress(OSError):
                self.out_dir.rmdir()


def _stream(src: _Source, split: str, source: str) -> Any:
    try:
        stream = src.builder.as_streaming_dataset(split=split)
    except Exception as exc:
        raise DataError(
            f"data.source: {source}: cannot stream split {split}: {_first_line(exc)}"
        ) from None
    # One shard per Parquet row group, read in order: a whole-file scan decodes row groups
    # ahead of a slow consumer, which costs hundreds of MB on large splits.
    try:
        return stream.reshard()
    except Exception:  # formats or datasets versions without resharding stream whole files
        return stream


def _batches(stream: Any, stop: int) -> Iterator[tuple[int, pa.Table]]:
    """(first row index, table) per batch, stopping as soon as `stop` rows have been read."""
    start = 0
    if stop <= 0:
        return
    for table in stream.with_format("arrow").iter(batch_size=BATCH_ROWS):
        if start + len(table) > stop:
            table = table.slice(0, stop - start)
        yield start, table
        start += len(table)
        if start >= stop:
            return


@contextlib.contextmanager
def _reading(source: str, split: str) -> Iterator[None]:
    """Unreadable data (a corrupt file, a dropped connection) is a user-facing error."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"data.source: {source}: cannot read {split}: {_first_line(exc)}") from None


def _guarded(batches: Iterator[Any], source: str, split: str) -> Iterator[Any]:
    # Only errors raised while reading land here: the consumer's own errors stay its own.
    with _reading(source, split):
        yield from batches


def _write_split(
    settings: DataSettings,
    src: _Source,
    split: str,
    path: Path,
    progress: bool,
) -> SplitReport:
    import numpy as np
    import pyarrow as pa
    from tqdm import tqdm

    report = SplitReport(name=split)
    stream = _stream(src, split, settings.source)
    columns = list(stream.column_names or [])
    if columns and "messages" not in columns:
        raise DataError(
            f"data.source: {settings.source} split {split} has no `messages` column "
            f"(columns: {', '.join(columns)})"
        )
    keep = [c for c in KEEP_COLUMNS if c in columns] if columns else list(KEEP_COLUMNS)
    with _reading(settings.source, split):
        report.available = _row_count(src, split, stream)
    k = slice_rows(settings.split_percent, report.available)
    picks = (
        sample_indices(report.available, k, settings.seed, split)
        if settings.sample == "random"
        else None
    )
    stop = k if picks is None else (int(picks[-1]) + 1 if len(picks) else 0)
    report.read = k
    digest = hashlib.sha256()
    dropped = np.zeros(len(REASONS) + 1, dtype=np.int64)
    with (
        open(path, "wb") as fh,
        tqdm(total=k, unit="rows", desc=split, disable=not progress, leave=False) as bar,
    ):
        for start, table in _guarded(_batches(stream, stop), settings.source, split):
            if "messages" not in table.column_names:
                raise DataError(
                    f"data.source: {settings.source} split {split} has no `messages` column"
                )
            if picks is not None:
                lo, hi = np.searchsorted(picks, [start, start + len(table)])
                table = table.take(pa.array(picks[lo:hi] - start))
                first_rows = picks[lo:hi]
            else:
                first_rows = None
            table = table.select([c for c in keep if c in table.column_names])
            reason = check_rows(table.column("messages").combine_chunks())
            bad = reason != 0
            if bad.any():
                if settings.on_invalid == "fail":
                    i = int(np.flatnonzero(bad)[0])
                    row = int(first_rows[i]) if first_rows is not None else start + i
                    raise DataError(
                        f"{settings.source}: {split} row {row}: {REASONS[int(reason[i])][1]} "
                        "(on_invalid: fail; use --on-invalid drop to drop such rows)"
                    )
                dropped += np.bincount(reason, minlength=len(REASONS) + 1)
                table = table.filter(pa.array(~bad))
            data = encode_lines(table)
            fh.write(data)
            digest.update(data)
            report.bytes += len(data)
            report.written += len(table)
            bar.update(len(bad))
    report.dropped = {REASONS[c][0]: int(dropped[c]) for c in REASONS if dropped[c]}
    report.sha256 = digest.hexdigest()
    return report


def _score_request(
    settings: DataSettings, path: Path, rows: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The endpoint test request: one seeded row, cut after its last user turn.

    The seed sent the whole conversation, reference answer included, so the model was asked to
    continue after the answer it should have produced.
    """
    split = settings.score_split
    if rows == 0:
        raise DataError(f"data.score_split: no valid rows in {split} to build {SCORE_FILE} from")
    first = random.Random(f"{settings.seed}:score").randrange(rows)
    for index, line in _lines_from(path, first):
        row = json.loads(line)
        messages = list(row["messages"])
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        if last_user < 0:
            continue
        kept = messages[: last_user + 1]
        request = {
            "input_data": {
                "input_string": [kept],
                "parameters": settings.inference_parameters,
            },
            "params": {},
        }
        info = {
            "split": split,
            "line": index + 1,
            "prompt_id": row.get("prompt_id"),
            "messages": len(kept),
            "trimmed": len(messages) - len(kept),
        }
        return request, info
    raise DataError(f"data.score_split: no row of {split} has a user message")


def _lines_from(path: Path, first: int) -> Iterator[tuple[int, str]]:
    """(index, line) from line `first` to the end, then from the start up to `first`."""
    with open(path, encoding="utf-8") as fh:
        yield from enumerate(islice(fh, first, None), start=first)
    with open(path, encoding="utf-8") as fh:
        yield from enumerate(islice(fh, first))


def prepare(
    settings: DataSettings, progress: bool = False, cache_dir: str | Path | None = None
) -> DataReport:
    """Stream, check and write every split, the test request and the manifest, atomically.

    `cache_dir` is the datasets cache (default: datasets' own); streaming writes no data there.
    """
    with _quiet_datasets():
        return _prepare(settings, progress, cache_dir)


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    # datasets logs a failure before raising it; the user should see our one error line only.
    import datasets  # noqa: F401  (its import resets its logger's level)

    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _prepare(settings: DataSettings, progress: bool, cache_dir: str | Path | None) -> DataReport:
    src = open_source(settings.source, settings.project_dir, cache_dir)
    missing = [s for s in settings.splits if s not in src.files]
    if missing:
        have = ", ".join(sorted(src.files)) or "none"
        raise DataError(
            f"data.splits: {', '.join(missing)} not in {settings.source} (it has: {have})"
        )
    outputs = _Outputs(settings.out_dir)
    try:
        reports: list[SplitReport] = []
        temps: dict[str, Path] = {}
        for split in settings.splits:
            temps[split] = outputs.temp(f"{split}.jsonl")
            reports.append(_write_split(settings, src, split, temps[split], progress))
        by_name = {r.name: r for r in reports}
        train = by_name[settings.train_split]
        if train.written < MIN_TRAIN_ROWS:
            raise DataError(
                f"data: only {train.written} valid rows left in {settings.train_split} "
                f"(the service needs at least {MIN_TRAIN_ROWS}); raise --split-percent"
            )
        score = by_name[settings.score_split]
        request, score_info = _score_request(settings, temps[score.name], score.written)
        score_bytes = (json.dumps(request, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        outputs.temp(SCORE_FILE).write_bytes(score_bytes)
        files = {r.file: {"sha256": r.sha256, "rows": r.written, "bytes": r.bytes} for r in reports}
        files[SCORE_FILE] = {
            "sha256": hashlib.sha256(score_bytes).hexdigest(),
            "rows": 1,
            "bytes": len(score_bytes),
        }
        manifest = {
            "source": settings.source,
            "revision": src.revision,
            "split_percent": _number(settings.split_percent),
            "sample": settings.sample,
            "seed": settings.seed,
            "on_invalid": settings.on_invalid,
            "splits": {
                r.name: {
                    "available": r.available,
                    "read": r.read,
                    "written": r.written,
                    "dropped": r.dropped,
                }
                for r in reports
            },
            "score": score_info,
            "files": dict(sorted(files.items())),
        }
        text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        outputs.temp(MANIFEST).write_text(text, encoding="utf-8")
        outputs.commit()
    except BaseException:
        outputs.abort()
        raise
    return DataReport(
        settings=settings,
        revision=src.revision,
        splits=reports,
        score=score_info,
        files=manifest["files"],  # type: ignore[arg-type]
        manifest=manifest,
    )


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


__all__ = [
    "REASONS",
    "DataReport",
    "DataSettings",
    "SplitReport",
    "check_rows",
    "encode_lines",
    "open_source",
    "prepare",
    "prepare_data",
    "settings_from_params",
    "slice_rows",
]

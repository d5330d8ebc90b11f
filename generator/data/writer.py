"""Writing the prepared data: JSON lines assembled by Arrow kernels, the test request, the manifest.

The JSON lines are byte for byte what `json.dumps(row, ensure_ascii=False, separators=(",", ":"))`
gives per row, without a Python object per row. Everything written is deterministic (no
timestamps, no absolute paths), so a rerun with the same inputs gives byte-identical files, and
`manifest.json`'s per-file sha256 feeds the `amlgen.data` tag of the rendered pipeline job.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic, outputs
from ..errors import DataError
from .checks import (
    REASONS,
    chat_column,
    check_columns,
    check_splits,
    check_train_rows,
    first_invalid,
    is_string_type,
    python_values,
)
from .settings import KEEP_COLUMNS, MANIFEST, OWNED, SCORE_FILE, DataSettings, display, number
from .source import (
    Source,
    batch_rows,
    batches,
    guarded,
    open_source,
    quiet_libraries,
    reading,
    row_count,
    sample_indices,
    slice_rows,
    stream_split,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


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
    rendered: list[Path] = field(default_factory=list)  # job files re-rendered for the new data
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        s = self.settings
        pct = number(s.split_percent)
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
        lines.append(f"wrote {len(self.files) + 1} files to {display(s.out_dir, s.project_dir)}")
        for path in self.rendered:
            lines.append(f"updated {display(path, s.project_dir)} (its amlgen.data tag)")
        return lines + self.notes


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
            if (
                not pa.types.is_struct(vt)
                or not len(vt)
                or not all(is_string_type(f.type) for f in vt)
            ):
                return False
        elif not is_string_type(t):
            return False
    return True


ENCODE_BYTES = 32 * 1024 * 1024  # Arrow bytes encoded at once: the kernels copy a few times


def _pieces(table: pa.Table) -> Iterator[pa.Table]:
    """The table in slices of about ENCODE_BYTES (at least one row each)."""
    total = table.nbytes
    if total <= ENCODE_BYTES or len(table) <= 1:
        yield table
        return
    step = max(1, int(len(table) * ENCODE_BYTES / total))
    for start in range(0, len(table), step):
        yield table.slice(start, step)


def encode_lines(table: pa.Table) -> bytes | memoryview:
    """The rows of `table` (valid rows, output columns only) as UTF-8 JSON lines.

    Byte for byte what `json.dumps(row, ensure_ascii=False, separators=(",", ":"))` gives per
    row; Arrow string kernels do it when every value is a string (the chat layout), the json
    module otherwise.
    """
    if not len(table):
        return b""
    if not _fast_path(table) or table.column("messages").null_count:
        # Columns typed JSON (rows of mixed types) are written as the values they hold.
        names = table.column_names
        columns = [python_values(table.column(n).combine_chunks()) for n in names]
        rows = (dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True))
        return "".join(_dumps(row) + "\n" for row in rows).encode("utf-8")
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


def write_split(
    settings: DataSettings,
    src: Source,
    split: str,
    path: Path,
    progress: bool,
) -> SplitReport:
    """Stream one split's slice into `path`, checking each batch; returns its counts and hash."""
    import numpy as np
    import pyarrow as pa
    from tqdm import tqdm

    report = SplitReport(name=split)
    stream = stream_split(src, split, settings.source)
    columns = list(stream.column_names or [])
    if columns:
        check_columns(columns, settings.source, split)
    keep = [c for c in KEEP_COLUMNS if c in columns] if columns else list(KEEP_COLUMNS)
    with reading(settings.source, split):
        report.available = row_count(src, split, stream)
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
        atomic.named(path),
        open(path, "wb") as fh,
        tqdm(total=k, unit="rows", desc=split, disable=not progress, leave=False) as bar,
    ):
        size = batch_rows(src.files.get(split, []), report.available)
        for start, table in guarded(batches(stream, stop, size), settings.source, split):
            check_columns(table.column_names, settings.source, split)
            if picks is not None:
                lo, hi = np.searchsorted(picks, [start, start + len(table)])
                table = table.take(pa.array(picks[lo:hi] - start))
                first_rows = picks[lo:hi]
            else:
                first_rows = None
            table = table.select([c for c in keep if c in table.column_names])
            messages, reason = chat_column(
                table.column("messages").combine_chunks(), settings.source, split
            )
            table = table.set_column(table.column_names.index("messages"), "messages", messages)
            bad = reason != 0
            if bad.any():
                if settings.on_invalid == "fail":
                    raise first_invalid(reason, first_rows, start, settings.source, split)
                dropped += np.bincount(reason, minlength=len(REASONS) + 1)
                table = table.filter(pa.array(~bad))
            for piece in _pieces(table):  # bounded: a batch of 20 MB rows is encoded row by row
                data = encode_lines(piece)
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


# Given the new manifest, more files to write in the same transaction: {path: text}.
Extra = Callable[[dict[str, Any]], dict[Path, str]]


def prepare(
    settings: DataSettings,
    progress: bool = False,
    cache_dir: str | Path | None = None,
    extra: Extra | None = None,
) -> DataReport:
    """Stream, check and write every split, the test request and the manifest, atomically.

    `cache_dir` is the datasets cache (default: datasets' own); streaming writes no data there.
    `extra` adds files (the re-rendered job files) to the same transaction.
    """
    with quiet_libraries():
        try:
            return _prepare(settings, progress, cache_dir, extra)
        except OSError as exc:  # a full disk, a read-only or busy folder: nothing was changed
            raise DataError(atomic.failure(exc, settings.project_dir)) from None


def _prepare(
    settings: DataSettings, progress: bool, cache_dir: str | Path | None, extra: Extra | None
) -> DataReport:
    out_dir = settings.out_dir
    outputs.check_root(out_dir, settings.project_dir, settings.out_flag, owned=OWNED)
    src = open_source(settings.source, settings.project_dir, cache_dir)
    check_splits(settings.splits, src.files, settings.source)
    # One transaction: the data folder is staged beside itself (with the job files that read
    # it) and swapped in whole, so a crash at any moment leaves the old data or the new.
    with atomic.FolderTransaction(settings.project_dir) as txn:
        reports: list[SplitReport] = []
        temps: dict[str, Path] = {}
        for split in settings.splits:
            temps[split] = txn.path(out_dir / f"{split}.jsonl")
            reports.append(write_split(settings, src, split, temps[split], progress))
        by_name = {r.name: r for r in reports}
        train = by_name[settings.train_split]
        check_train_rows(train.written, settings.train_split, train.dropped)
        score = by_name[settings.score_split]
        request, score_info = _score_request(settings, temps[score.name], score.written)
        score_bytes = (json.dumps(request, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        txn.write(out_dir / SCORE_FILE, score_bytes)
        files = {r.file: {"sha256": r.sha256, "rows": r.written, "bytes": r.bytes} for r in reports}
        files[SCORE_FILE] = {
            "sha256": hashlib.sha256(score_bytes).hexdigest(),
            "rows": 1,
            "bytes": len(score_bytes),
        }
        manifest = {
            "source": settings.source,
            "revision": src.revision,
            "split_percent": number(settings.split_percent),
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
        txn.write(out_dir / MANIFEST, text)
        written = extra(manifest) if extra else {}
        for path, body in written.items():
            txn.write(path, body)
        txn.commit()
    return DataReport(
        settings=settings,
        revision=src.revision,
        splits=reports,
        score=score_info,
        files=manifest["files"],  # type: ignore[arg-type]
        manifest=manifest,
        rendered=[Path(p) for p in written],
    )

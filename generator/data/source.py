"""Reading a chat dataset: a hub id or a local folder in the hub layout, streamed batch by batch.

Both go through the builder `load_dataset(..., streaming=True)` itself uses, so a local folder
and the hub read the same way; reading stops once the slice is taken.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from ..reading import check_walkable, kind_of, shown_text

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

BATCH_ROWS = 2048
# Libraries whose log lines and warnings are not ours to print ("Repo card metadata block was
# not found", resolver notes, retries): our errors say what went wrong in one line.
QUIET_LOGGERS = ("datasets", "huggingface_hub", "fsspec", "filelock", "urllib3")


@dataclass
class Source:
    """An opened dataset: the streaming builder, the hub revision if any, data files per split."""

    builder: Any
    revision: str | None
    files: dict[str, list[str]]


def _looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or "\\" in source or source.count("/") > 1


def open_source(
    source: str, project_dir: Path = Path("."), cache_dir: str | Path | None = None
) -> Source:
    """Resolve a hub id or a local folder with the builder `load_dataset` itself uses.

    `load_dataset(path, streaming=True)` is exactly `load_dataset_builder(path)` followed by
    `as_streaming_dataset()`; going through the builder keeps that path and also gives the data
    files, whose Parquet footers hold the exact row counts percent slices are computed from.
    """
    local = Path(source).expanduser()
    if not local.is_absolute():
        local = project_dir / local
    kind = kind_of(local)
    if kind == "loop":
        raise DataError(f"data.source: {shown_text(source)}: a symlink loop, not a folder")
    if kind in ("file", "other"):
        what = "a file" if kind == "file" else "a FIFO, device or socket"
        raise DataError(
            f"data.source: {shown_text(source)} is {what}; give a folder in the hub layout"
        )
    if kind is None and _looks_like_path(source):
        raise DataError(f"data.source: folder {shown_text(source)} does not exist")
    if kind == "folder":  # datasets walks it for data files: /proc would take forever
        check_walkable(local, f"data.source: {shown_text(source)}")
    path = str(local) if kind == "folder" else source
    offline = False
    if kind != "folder":
        offline = _hub_offline()
        if not offline:
            _reach_hub(source)

    import datasets

    try:
        builder = datasets.load_dataset_builder(
            path, cache_dir=str(cache_dir) if cache_dir is not None else None
        )
    except Exception as exc:  # datasets raises many types for "not there"
        where = "folder" if kind == "folder" else "Hugging Face Hub dataset"
        hint = f" (HF_HUB_OFFLINE is set: {SAMPLE_HINT})" if offline else ""
        raise DataError(
            f"data.source: cannot load {where} {shown_text(source)}: {first_line(exc)}{hint}"
        ) from None
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
    return Source(builder=builder, revision=revision, files=files)


# The shipped synthetic sample in the hub layout (scripts/make_sample_dataset.py).
OFFLINE_SAMPLE = "samples/ultrachat_200k_sample"
SAMPLE_HINT = (
    f"without network, prepare the offline sample: `amlgen data --source {OFFLINE_SAMPLE}`"
)
OFFLINE_HINT = f"{SAMPLE_HINT}; or set HF_HUB_OFFLINE=1 to use a copy the Hugging Face cache holds"
HUB_PROBE_SECONDS = 5.0


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _reach_hub(source: str) -> None:
    """One request without retries to the hub the loader will use: no network fails here, in
    seconds, instead of after huggingface_hub's ~25 s of retries of a connection that cannot work.

    Only "cannot connect at all" stops here (refused, unresolvable, unreachable, timed out);
    any answer, even an HTTP error or a TLS failure, is left to the loader, which says more.
    Proxies come from the environment, as for the loader.
    """
    import http.client
    import socket
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    endpoint = str(constants.ENDPOINT).rstrip("/")
    request = urllib.request.Request(f"{endpoint}/api/datasets/{source}", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=HUB_PROBE_SECONDS).close()
        return
    except urllib.error.HTTPError:
        return  # an answer: the hub is there
    except urllib.error.URLError as exc:
        reason: object = exc.reason
    except (OSError, http.client.HTTPException) as exc:
        reason = exc
    no_network = (ConnectionRefusedError, socket.gaierror, TimeoutError)
    unreachable = isinstance(reason, no_network) or (
        isinstance(reason, OSError) and reason.errno in _UNREACHABLE
    )
    if not unreachable:
        return
    why = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    raise DataError(
        f"data.source: cannot reach the Hugging Face Hub at {endpoint} to read {source} "
        f"({why or type(reason).__name__}): {OFFLINE_HINT}"
    )


def _unreachable_errnos() -> frozenset[int]:
    import errno

    names = ("ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "EHOSTDOWN", "ECONNREFUSED", "ETIMEDOUT")
    return frozenset(getattr(errno, n) for n in names if hasattr(errno, n))


_UNREACHABLE = _unreachable_errnos()


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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: what one error line can carry."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else f"{line[:300]}..."  # it may quote a long source again


def row_count(src: Source, split: str, stream: Any) -> int:
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


def stream_split(src: Source, split: str, source: str) -> Any:
    """The split as an IterableDataset, one shard per Parquet row group where possible."""
    try:
        stream = src.builder.as_streaming_dataset(split=split)
    except Exception as exc:
        raise DataError(
            f"data.source: {source}: cannot stream split {split}: {first_line(exc)}"
        ) from None
    # One shard per Parquet row group, read in order: a whole-file scan decodes row groups
    # ahead of a slow consumer, which costs hundreds of MB on large splits.
    try:
        return stream.reshard()
    except Exception:  # formats or datasets versions without resharding stream whole files
        return stream


BATCH_BYTES = 64 * 1024 * 1024  # source bytes per batch: rows of 20 MB come a few at a time


def batch_rows(files: list[str], rows: int) -> int:
    """Rows per batch: BATCH_ROWS, fewer when the split's local files hold big rows (their size
    over their row count), so a batch stays near BATCH_BYTES whatever one row weighs."""
    try:
        size = sum(os.path.getsize(f) for f in files)
    except (OSError, ValueError):
        return BATCH_ROWS  # remote files: the hub's datasets have rows of normal size
    if rows <= 0 or size <= 0:
        return BATCH_ROWS
    return max(1, min(BATCH_ROWS, int(BATCH_BYTES * rows / size)))


def batches(stream: Any, stop: int, size: int = BATCH_ROWS) -> Iterator[tuple[int, pa.Table]]:
    """(first row index, table) per batch of `size` rows, stopping as soon as `stop` rows have
    been read."""
    start = 0
    if stop <= 0:
        return
    for table in stream.with_format("arrow").iter(batch_size=size):
        if start + len(table) > stop:
            table = table.slice(0, stop - start)
        yield start, table
        start += len(table)
        if start >= stop:
            return


@contextlib.contextmanager
def reading(source: str, split: str) -> Iterator[None]:
    """Unreadable data (a corrupt file, a dropped connection) is a user-facing error."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"data.source: {source}: cannot read {split}: {first_line(exc)}") from None


def guarded(items: Iterator[Any], source: str, split: str) -> Iterator[Any]:
    """`items` with read errors turned into DataError; the consumer's own errors stay its own."""
    with reading(source, split):
        yield from items


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence the libraries' loggers and warnings for the call; our exceptions pass through.

    datasets logs a failure before raising it and huggingface_hub warns about missing dataset
    cards; the user should see our summary or our one error line only. Stderr stays ours (the
    progress bars).
    """
    import datasets  # noqa: F401  (its import resets its logger's level)

    from ..quiet import quiet

    with quiet(loggers=QUIET_LOGGERS, stderr=False):
        yield

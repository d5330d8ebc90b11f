"""`amlgen data`: turn a chat dataset into the JSONL files the fine-tuning job uploads.

Why not the seed's `load_dataset(..., split="x[:5%]").to_json(...)`: that converts every split in
full into an Arrow cache before slicing, checks nothing, and its test request leaks the reference
answer. Here the source is streamed batch by batch (`source`), rows are checked with Arrow
compute kernels the way the service's preprocessing checks them (`checks`), the JSON lines are
assembled by Arrow string kernels and written in one transaction (`writer`, with
generator.atomic) together with the job files that read the folder (re-rendered for the new
`amlgen.data` tag, so `render --check` passes right after), and reading stops once the slice is
taken. Memory stays flat whatever the dataset size. `settings` holds what
decides the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import reading
from .checks import REASONS, check_rows
from .settings import MANIFEST, SCORE_FILE, DataSettings, settings_from_params
from .source import open_source, slice_rows
from .writer import DataReport, SplitReport, encode_lines, prepare


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
    from ..outputs import require_project
    from ..params import files_fingerprint, load_params
    from ..rendering import data_readers  # rendering sits beside data: a sibling, not a layer up

    resolved = load_params(env, require_project(project_dir), list(overrides))
    settings = settings_from_params(
        resolved,
        source=source,
        split_percent=split_percent,
        sample=sample,
        seed=seed,
        out=out,
        on_invalid=on_invalid,
    )
    # The job files that read this folder carry the data's fingerprint: re-render them in the
    # same transaction (under its lock), so `render --check` and `run` agree with the data.
    notes: list[str] = []

    def job_files(manifest: dict[str, Any]) -> dict[Path, str]:
        refresh, skipped = data_readers(settings.project_dir, settings.out_dir)
        notes.extend(skipped)
        fingerprint = files_fingerprint(manifest["files"])
        texts = {settings.project_dir / item.rel: item.text(fingerprint) for item in refresh}
        return {
            path: text
            for path, text in texts.items()
            if reading.current_text(path, len(text.encode())) != text
        }

    report = prepare(settings, progress=progress, cache_dir=cache_dir, extra=job_files)
    report.notes.extend(notes)
    return report


__all__ = [
    "MANIFEST",
    "REASONS",
    "SCORE_FILE",
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

"""What decides `amlgen data`'s output: the environment's `data` parameters with the flags applied.

Also the names and limits every other part of the package shares (file names, output columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import names
from ..errors import DataError
from ..outputs import MAX_PATH as MAX_SOURCE
from ..outputs import check_root
from ..reading import shown_text

if TYPE_CHECKING:
    from ..params import Resolved

Sample = Literal["first", "random"]
OnInvalid = Literal["drop", "fail"]

MANIFEST = names.MANIFEST_FILE
SCORE_FILE = names.REQUEST_FILE
MIN_TRAIN_ROWS = 10
# Output columns, in this order; every other column is dropped (as the service does).
KEEP_COLUMNS = ("prompt", "prompt_id", "messages", "tools")
# Project folders another command owns: data never goes there.
OWNED = {names.OUTPUT_DIR: "render"}


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
    out_flag: str = "--out"  # what set out_dir (`--out` or `data.dir`), for error lines


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
        raise DataError(f"data.split_percent: {number(pct)} is outside (0, 100]")
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
    flag = "--out" if out is not None else "data.dir"
    # Checked as given (an empty --out must not become "."), and again by the writer.
    out_dir = check_root(out if out is not None else d.dir, root, flag, owned=OWNED)
    src = d.source if source is None else source
    if not src.strip():
        raise DataError("data.source: empty; give a hub id or a local folder")
    if not src.isprintable() or len(src) > MAX_SOURCE:
        why = "a control character" if not src.isprintable() else f"over {MAX_SOURCE:,} characters"
        raise DataError(f"data.source: {shown_text(src)}: {why}; give a hub id or a local folder")
    return DataSettings(
        source=src,
        split_percent=float(pct),
        sample=smp,  # type: ignore[arg-type]
        seed=d.seed if seed is None else seed,
        out_dir=out_dir,
        splits=splits,
        train_split=d.train_split,
        test_split=d.test_split,
        score_split=d.score_split,
        on_invalid=inv,  # type: ignore[arg-type]
        inference_parameters=dict(resolved.params.inference.parameters),
        project_dir=root,
        out_flag=flag,
    )


def number(value: float) -> float | int:
    """A percentage as people write it: 5, not 5.0."""
    return int(value) if float(value).is_integer() else value


def display(path: Path, root: Path) -> str:
    """`path` relative to the project when it is inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)

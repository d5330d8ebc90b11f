"""Make a synthetic chat dataset in the Hugging Face Hub layout (no network, no copied text).

The shipped sample (samples/ultrachat_200k_sample/) and the benchmark data both come from here:
rows shaped like HuggingFaceH4/ultrachat_200k (`prompt`, `prompt_id`, `messages` as a list of
`{"content", "role"}`) written as `data/<split>-00000-of-00001.parquet`, so `datasets` loads the
folder exactly as it loads the hub dataset. Text is assembled from a fixed word list by a seeded
RNG, so the same arguments always give the same bytes (for a given pyarrow version).

Run with no arguments to regenerate the shipped sample:
    .venv/bin/python scripts/make_sample_dataset.py
Benchmark data at a tenth of ultrachat_200k's size:
    .venv/bin/python scripts/make_sample_dataset.py --profile bench --scale 0.1 --out build/x
"""

from __future__ import annotations

import argparse
import hashlib
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "samples" / "ultrachat_200k_sample"

# ultrachat_200k's split sizes (the dataset card's figures).
FULL_SIZES = {"train_sft": 207865, "test_sft": 23110, "train_gen": 256032, "test_gen": 28304}
SAMPLE_SIZES = {"train_sft": 400, "test_sft": 100, "train_gen": 400, "test_gen": 100}

# Each kind of row the service's preprocessing rejects, placed on purpose in the sample.
INVALID_KINDS = (
    "messages_null",
    "one_message",
    "bad_role",
    "empty_content",
    "null_content",
    "system_not_first",
)

_WORDS_TEXT = (
    "the a model data river garden city music light history energy system question answer "
    "travel recipe market science planet ocean mountain story letter plan budget health sleep "
    "coffee bridge window network language team project design simple careful quick gentle "
    "bright quiet ancient modern local global small large early late often always never "
    "explain describe compare improve build write read learn teach share measure choose "
    "because however therefore while although since until unless before after during "
    "naïve café Zürich façade jalapeño smörgåsbord שלום 日本語 Ελληνικά 🙂"
)
WORDS = tuple(_WORDS_TEXT.split())

TOPICS = (
    "renewable energy",
    "urban gardening",
    "the history of jazz",
    "learning a second language",
    "budget travel in Europe",
    "baking sourdough bread",
    "sleep and health",
    "writing a cover letter",
    "ocean currents",
    "planning a small project",
    "the café culture of Zürich",
    "time management",
)

SCHEMA = pa.schema(
    [
        ("prompt", pa.string()),
        ("prompt_id", pa.string()),
        (
            "messages",
            pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())])),
        ),
    ]
)

# (min, max) sentences per user / assistant message and words per sentence, per profile.
PROFILES = {
    "sample": {"user": (1, 1), "assistant": (1, 2), "words": (4, 10), "turns": (1, 3)},
    # About 2 KB a row, the same order as ultrachat_200k's conversations.
    "bench": {"user": (1, 3), "assistant": (3, 12), "words": (6, 20), "turns": (1, 3)},
}


def _sentence_pool(rng: random.Random, words: tuple[int, int], size: int = 2048) -> list[str]:
    pool = []
    for _ in range(size):
        n = rng.randint(*words)
        text = " ".join(rng.choice(WORDS) for _ in range(n))
        pool.append(text[0].upper() + text[1:] + rng.choice((".", ".", ".", "?", "!")))
    return pool


def _text(rng: random.Random, pool: list[str], sentences: tuple[int, int]) -> str:
    return " ".join(rng.choices(pool, k=rng.randint(*sentences)))


def _conversation(rng: random.Random, pool: list[str], prof: dict[str, Any]) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    prompt = f"Tell me about {topic}. {_text(rng, pool, prof['user'])}"
    messages = []
    if rng.random() < 0.05:
        messages.append({"content": "You are a helpful assistant.", "role": "system"})
    for turn in range(rng.randint(*prof["turns"])):
        user = prompt if turn == 0 else _text(rng, pool, prof["user"])
        messages.append({"content": user, "role": "user"})
        messages.append({"content": _text(rng, pool, prof["assistant"]), "role": "assistant"})
    return {"prompt": prompt, "messages": messages}


def _make_invalid(row: dict[str, Any], kind: str) -> dict[str, Any]:
    msgs = [dict(m) for m in row["messages"] if m["role"] != "system"]
    if kind == "messages_null":
        row["messages"] = None
    elif kind == "one_message":
        row["messages"] = msgs[:1]
    elif kind == "bad_role":
        msgs[1]["role"] = "bot"
        row["messages"] = msgs
    elif kind == "empty_content":
        msgs[-1]["content"] = ""
        row["messages"] = msgs
    elif kind == "null_content":
        msgs[0]["content"] = None
        row["messages"] = msgs
    elif kind == "system_not_first":
        msgs.insert(1, {"content": "You are terse.", "role": "system"})
        row["messages"] = msgs
    return row


def _invalid_positions(n: int, per_kind: int) -> dict[int, str]:
    """Where each invalid kind goes: spread over the split, one of each near the start."""
    where: dict[int, str] = {}
    if per_kind <= 0 or n < 4 * len(INVALID_KINDS):
        return where
    for k in range(per_kind):
        base = 1 if k == 0 else (n * k) // per_kind
        for i, kind in enumerate(INVALID_KINDS):
            # Near the start only one row in three is invalid, so small slices keep valid rows.
            where[min(n - 1, base + 3 * i + 1)] = kind
    return where


def make_split(
    name: str, rows: int, seed: int, profile: str, invalid_per_kind: int, chunk: int = 20000
) -> list[pa.Table]:
    """One split's rows as Arrow tables of at most `chunk` rows (keeps memory small)."""
    prof = PROFILES[profile]
    rng = random.Random(f"{seed}:{name}")
    pool = _sentence_pool(rng, prof["words"])
    bad = _invalid_positions(rows, invalid_per_kind)
    tables = []
    for start in range(0, rows, chunk):
        batch = []
        for i in range(start, min(rows, start + chunk)):
            row = _conversation(rng, pool, prof)
            row["prompt_id"] = hashlib.sha256(f"{name}:{i}:{row['prompt']}".encode()).hexdigest()
            if i in bad:
                row = _make_invalid(row, bad[i])
            batch.append(row)
        tables.append(pa.Table.from_pylist(batch, schema=SCHEMA))
    return tables


def write_dataset(
    out: Path,
    sizes: dict[str, int],
    seed: int = 0,
    profile: str = "sample",
    invalid_per_kind: int = 2,
    row_group_size: int = 10000,
) -> list[Path]:
    """Write every split as `data/<split>-00000-of-00001.parquet` under `out`."""
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in sizes.items():
        path = data_dir / f"{name}-00000-of-00001.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
            for table in make_split(name, rows, seed, profile, invalid_per_kind):
                writer.write_table(table, row_group_size=row_group_size)
        tmp.replace(path)
        written.append(path)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=SAMPLE_DIR, help="dataset folder (hub layout)")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="sample")
    ap.add_argument(
        "--scale",
        type=float,
        default=None,
        help="fraction of ultrachat_200k's split sizes (default: the sample's few hundred rows)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--invalid-per-kind", type=int, default=2, help="invalid rows of each kind")
    args = ap.parse_args()
    if args.scale is None:
        sizes = dict(SAMPLE_SIZES)
    else:
        sizes = {k: max(1, round(v * args.scale)) for k, v in FULL_SIZES.items()}
    for path in write_dataset(args.out, sizes, args.seed, args.profile, args.invalid_per_kind):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

"""`amlgen data`: the real `datasets` loader on Parquet files the tests write, no mocks."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from generator import data as D
from generator.cli import cli
from generator.data import DataSettings, check_rows, encode_lines, prepare, slice_rows
from generator.data import source as data_source
from generator.errors import DataError
from generator.params import data_fingerprint, load_params

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "ultrachat_200k_sample"
MSG = pa.struct([("content", pa.string()), ("role", pa.string())])
SCHEMA = pa.schema(
    [("prompt", pa.string()), ("prompt_id", pa.string()), ("messages", pa.list_(MSG))]
)


def _row(i: int, turns: int = 1, system: bool = False) -> dict[str, Any]:
    prompt = f'question {i}: "quoted" \\ back\nslash, café 🙂'
    msgs = [{"content": "be brief", "role": "system"}] if system else []
    for t in range(turns):
        msgs.append({"content": prompt if t == 0 else f"more {i}.{t}", "role": "user"})
        msgs.append({"content": f"answer {i}.{t}\ttab", "role": "assistant"})
    return {"prompt": prompt, "prompt_id": f"{i:064x}", "messages": msgs}


def _write_hub(root: Path, splits: dict[str, list[dict[str, Any]]], schema: Any = SCHEMA) -> Path:
    """A dataset folder in the hub layout, small row groups so reads cross their boundaries."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, root / "data" / f"{name}-00000-of-00001.parquet", row_group_size=4)
    return root


def _settings(src: Path, out: Path, **kw: Any) -> DataSettings:
    base: dict[str, Any] = {
        "source": str(src),
        "split_percent": 100.0,
        "sample": "first",
        "seed": 42,
        "out_dir": out,
        "splits": ("train", "test"),
        "train_split": "train",
        "test_split": "test",
        "score_split": "test",
        "on_invalid": "drop",
        "inference_parameters": {"temperature": 0.6, "do_sample": True, "max_new_tokens": 200},
        "project_dir": out.parent,
    }
    base.update(kw)
    return DataSettings(**base)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several batches per split, so slicing and sampling cross batch boundaries."""
    monkeypatch.setattr(data_source, "BATCH_ROWS", 5)


# --- selecting rows ------------------------------------------------------------------------


def test_slice_rows_rounds_like_datasets_percent_slices() -> None:
    from datasets import ReadInstruction

    for n in (0, 1, 7, 19, 33, 99, 101, 257, 1001, 28304, 207865):
        for pct in range(1, 101):
            (abs_instr,) = ReadInstruction.from_spec(f"x[:{pct}%]").to_absolute({"x": n})
            assert slice_rows(pct, n) == abs_instr.to - abs_instr.from_, (n, pct)


@pytest.mark.usefixtures("small_batches")
def test_first_takes_exactly_what_load_dataset_slices(tmp_path: Path, cache: Path) -> None:
    from datasets import load_dataset

    src = _write_hub(
        tmp_path / "ds",
        {"train": [_row(i, 1 + i % 3) for i in range(37)], "test": [_row(i) for i in range(23)]},
    )
    for pct in (33, 50, 97):
        out = tmp_path / f"out{pct}"
        report = prepare(_settings(src, out, split_percent=float(pct)), cache_dir=cache)
        for split in ("train", "test"):
            expected = load_dataset(str(src), split=f"{split}[:{pct}%]", cache_dir=str(cache))
            assert _lines(out / f"{split}.jsonl") == expected.to_list()
            got = next(r for r in report.splits if r.name == split)
            assert got.read == got.written == len(expected)


@pytest.mark.usefixtures("small_batches")
def test_random_is_a_seeded_ordered_sample(tmp_path: Path, cache: Path) -> None:
    rows = [_row(i) for i in range(60)]
    src = _write_hub(tmp_path / "ds", {"train": rows, "test": rows[:20]})
    order = {r["prompt_id"]: i for i, r in enumerate(rows)}

    def run(name: str, seed: int) -> list[int]:
        settings = _settings(src, tmp_path / name, split_percent=40.0, sample="random", seed=seed)
        prepare(settings, cache_dir=cache)
        return [order[r["prompt_id"]] for r in _lines(tmp_path / name / "train.jsonl")]

    first, again, other = run("a", 1), run("b", 1), run("c", 2)
    assert len(first) == slice_rows(40, 60) == 24
    assert first == sorted(set(first))  # source order, no repeats
    assert first != list(range(24))  # not the head of the split
    assert first == again
    assert first != other
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")


# --- checking rows -------------------------------------------------------------------------


def test_invalid_rows_are_dropped_and_counted_by_reason(tmp_path: Path, cache: Path) -> None:
    good = [_row(i) for i in range(12)] + [_row(100, system=True)]  # system first is fine
    u = {"content": "hi", "role": "user"}
    a = {"content": "hello", "role": "assistant"}
    bad = [
        {"prompt": "p", "prompt_id": "x1", "messages": None},
        {"prompt": "p", "prompt_id": "x2", "messages": []},
        {"prompt": "p", "prompt_id": "x3", "messages": [u]},
        {"prompt": "p", "prompt_id": "x4", "messages": [u, {"content": "x", "role": "bot"}]},
        {"prompt": "p", "prompt_id": "x5", "messages": [u, {"content": "x", "role": None}]},
        {"prompt": "p", "prompt_id": "x6", "messages": [u, None]},
        {"prompt": "p", "prompt_id": "x7", "messages": [u, {"content": "", "role": "assistant"}]},
        {"prompt": "p", "prompt_id": "x8", "messages": [{"content": None, "role": "user"}, a]},
        {"prompt": "p", "prompt_id": "x9", "messages": [u, {"content": "s", "role": "system"}, a]},
    ]
    mixed = [r for pair in zip(good, bad, strict=False) for r in pair] + good[len(bad) :]
    src = _write_hub(tmp_path / "ds", {"train": mixed, "test": good[:3]})
    report = prepare(_settings(src, tmp_path / "out"), cache_dir=cache)
    train = report.splits[0]
    assert train.dropped == {
        "messages_missing": 1,
        "too_few_messages": 2,
        "bad_role": 3,
        "bad_content": 2,
        "system_not_first": 1,
    }
    assert train.read == len(mixed) and train.written == len(good)
    written = _lines(tmp_path / "out" / "train.jsonl")
    assert [r["prompt_id"] for r in written] == [r["prompt_id"] for r in good]
    assert report.manifest["splits"]["train"]["dropped"] == train.dropped

    with pytest.raises(DataError, match=r"train row 1: messages is missing"):
        prepare(_settings(src, tmp_path / "fail", on_invalid="fail"), cache_dir=cache)
    assert not (tmp_path / "fail").exists()


def test_whitespace_only_content_is_kept_as_the_service_keeps_it() -> None:
    # The shared rule (generator.chatrows): "" is dropped, "  " is content.
    rows = [
        [{"content": "q", "role": "user"}, {"content": c, "role": "assistant"}] for c in ("  ", "")
    ]
    assert check_rows(pa.array(rows)).tolist() == [0, 5]


def test_check_rows_handles_other_column_shapes() -> None:
    assert check_rows(pa.array(["[]", None])).tolist() == [2, 1]
    no_role = pa.array([[{"content": "a"}, {"content": "b"}]])
    assert check_rows(no_role).tolist() == [4]
    numbers = pa.array([[{"content": 1, "role": "user"}, {"content": 2, "role": "assistant"}]])
    assert check_rows(numbers).tolist() == [5]


# --- writing JSON ----------------------------------------------------------------------------

TRICKY = [
    'quotes " and \\ backslashes \\" ',
    "controls \n \r \t \b \f \x00 \x01 \x1f \x7f end",
    "windows line\r\nnext\ttab",  # the common escapes alone take the Arrow path
    "unicode café 日本語 שלום 🙂 \u2028 \u2029 </script>",
    "",
]


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def test_arrow_json_lines_match_json_dumps_byte_for_byte() -> None:
    rows = [
        {
            "prompt": text,
            "prompt_id": None if i == 1 else f"id{i}",
            "messages": [{"content": text, "role": "user"}, {"content": "ok", "role": "assistant"}],
        }
        for i, text in enumerate(TRICKY)
    ]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    expected = "".join(_dumps(r) for r in rows).encode("utf-8")
    assert bytes(encode_lines(table)) == expected
    # Sliced input (as streaming batches are) encodes only the slice.
    assert bytes(encode_lines(table.slice(1, 2))) == "".join(map(_dumps, rows[1:3])).encode()


def test_non_string_columns_take_the_json_module_path() -> None:
    tools_type = pa.list_(pa.struct([("name", pa.string()), ("n", pa.int64())]))
    schema = SCHEMA.append(pa.field("tools", tools_type))
    rows = [
        {"prompt": "p", "prompt_id": "i", "messages": [{"content": TRICKY[1], "role": "user"}],
         "tools": [{"name": "calc", "n": 2}]}
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=schema)
    assert bytes(encode_lines(table)) == _dumps(rows[0]).encode("utf-8")


# --- outputs ---------------------------------------------------------------------------------


def test_outputs_are_deterministic_and_feed_the_job_tag(project: Path, cache: Path) -> None:
    overrides = [f"data.source={SAMPLE}"]
    report = D.prepare_data("dev", project, overrides, cache_dir=cache)
    out = project / "data" / "ultrachat_200k"
    first = _snapshot(out)
    assert set(first) == {
        "train_sft.jsonl", "test_sft.jsonl", "train_gen.jsonl", "test_gen.jsonl",
        "sample_score.json", "manifest.json",
    }  # fmt: skip
    D.prepare_data("dev", project, overrides, cache_dir=cache)
    assert _snapshot(out) == first

    manifest = json.loads(first["manifest.json"])
    assert manifest["source"] == str(SAMPLE) and manifest["split_percent"] == 5
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256(first[name]).hexdigest()
        assert entry["bytes"] == len(first[name])
        if name.endswith(".jsonl"):
            assert entry["rows"] == len(first[name].splitlines())
    assert manifest["splits"]["train_sft"] == {
        "available": 400, "read": 20, "written": 14,
        "dropped": {"messages_missing": 1, "too_few_messages": 1, "bad_role": 1,
                    "bad_content": 2, "system_not_first": 1},
    }  # fmt: skip
    for line in first["train_sft.jsonl"].decode("utf-8").splitlines():
        assert list(json.loads(line)) == ["prompt", "prompt_id", "messages"]

    # The endpoint request: inference parameters from params, one test_gen conversation cut
    # after its last user turn (the seed sent the reference answer too).
    score = json.loads(first["sample_score.json"])
    resolved = load_params("dev", project)
    assert score["params"] == {}
    assert score["input_data"]["parameters"] == resolved.params.inference.parameters
    (conversation,) = score["input_data"]["input_string"]
    assert conversation[-1]["role"] == "user"
    source_row = _lines(out / "test_gen.jsonl")[manifest["score"]["line"] - 1]
    assert source_row["messages"][: len(conversation)] == conversation
    assert report.score["trimmed"] == len(source_row["messages"]) - len(conversation) > 0

    # The rendered pipeline job carries the data fingerprint; other data, another fingerprint.
    from generator.rendering import render

    fp = resolved.data_fingerprint
    assert fp and fp == data_fingerprint(out)
    job = next(text for path, text in render(resolved).items() if "pipeline-job" in path)
    assert f"amlgen.data: {fp}" in job
    D.prepare_data("dev", project, [*overrides, "data.split_percent=50"], cache_dir=cache)
    assert data_fingerprint(out) not in (None, fp)


def _cli(project: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["-C", str(project), "data", *args])


def test_bad_input_is_one_error_line_and_leaves_outputs(
    project: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    no_messages = tmp_path / "nomsg"
    (no_messages / "data").mkdir(parents=True)
    pq.write_table(
        pa.table({"prompt": ["a"], "text": ["b"]}),
        no_messages / "data" / "train_sft-00000-of-00001.parquet",
    )
    corrupt = _write_hub(tmp_path / "corrupt", {"train_sft": [_row(0)]})
    (corrupt / "data" / "train_sft-00000-of-00001.parquet").write_bytes(b"PAR1 not parquet")
    sample = str(SAMPLE)
    ok = _cli(project, "--source", sample)
    assert ok.exit_code == 0, ok.output
    assert "train_sft" in ok.stderr and "wrote 6 files" in ok.stderr
    before = _snapshot(project / "data" / "ultrachat_200k")
    cases = {
        "does not exist": ["--source", str(tmp_path / "missing")],
        "is a file": ["--source", str(SAMPLE / "README.md")],
        "not in": ["--source", sample, "--set", "data.splits=[train_sft,test_sft,test_gen,val]"],
        "outside (0, 100]": ["--source", sample, "--split-percent", "0"],
        "101 is outside": ["--source", sample, "--split-percent", "101"],
        "no `messages` column": ["--source", str(no_messages), "--set", "data.splits=[train_sft]",
                                 "--set", "data.test_split=train_sft",
                                 "--set", "data.score_split=train_sft"],
        "on_invalid: fail": ["--source", sample, "--on-invalid", "fail"],
        "corrupt": ["--source", str(corrupt), "--set", "data.splits=[train_sft]",
                    "--set", "data.test_split=train_sft", "--set", "data.score_split=train_sft"],
        "at least 10": ["--source", sample, "--split-percent", "1"],
    }  # fmt: skip
    for expect, args in cases.items():
        result = _cli(project, *args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], lines
        assert "Traceback" not in result.output
        assert _snapshot(project / "data" / "ultrachat_200k") == before
    assert not list((project / "data").rglob("*.amlgen-tmp"))


# --- the shipped sample and the command as users run it -------------------------------------


def test_shipped_sample_is_what_the_script_makes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "mksample", ROOT / "scripts/make_sample_dataset.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    made = mod.write_dataset(tmp_path, mod.SAMPLE_SIZES)
    shipped = sorted((SAMPLE / "data").glob("*.parquet"))
    assert [p.name for p in shipped] == sorted(p.name for p in made)
    for path in shipped:
        assert path.read_bytes() == (tmp_path / "data" / path.name).read_bytes(), path.name
    assert sum(p.stat().st_size for p in shipped) < 200_000
    reasons = check_rows(pq.read_table(shipped[0]).column("messages").combine_chunks())
    assert set(reasons.tolist()) == {0, *range(1, 7)} - {2}  # every kind Parquet can hold


@pytest.mark.slow
def test_cli_end_to_end_offline(project: Path, tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, project / "sample")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"),
    }
    amlgen = [sys.executable, "-m", "generator", "-C", str(project), "data"]
    args = ["--source", "sample", "--sample", "random", "--seed", "7", "--split-percent", "50"]
    run = subprocess.run([*amlgen, *args], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((project / "data" / "ultrachat_200k" / "manifest.json").read_text())
    assert manifest["source"] == "sample" and manifest["sample"] == "random"
    assert manifest["splits"]["test_gen"]["read"] == 50
    hub = subprocess.run(
        [*amlgen, "--source", "nobody/no-such-dataset"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert hub.returncode == 1
    assert hub.stderr.startswith("error: data.source: cannot load Hugging Face Hub dataset")
    # datasets logs read failures itself; the user still gets one line.
    corrupt = _write_hub(project / "corrupt", {"train_sft": [_row(0)]})
    (corrupt / "data" / "train_sft-00000-of-00001.parquet").write_bytes(b"PAR1 not parquet")
    one_split = ["--set", "data.splits=[train_sft]", "--set", "data.test_split=train_sft"]
    bad = subprocess.run(
        [*amlgen, "--source", "corrupt", *one_split, "--set", "data.score_split=train_sft"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 1
    assert (
        bad.stderr.startswith("error: data.source: corrupt: cannot") and bad.stderr.count("\n") == 1
    )
    assert (project / "data" / "ultrachat_200k" / "manifest.json").read_text() == json.dumps(
        manifest, ensure_ascii=False, indent=2
    ) + "\n"


# --- data and render agree (#10.1) ----------------------------------------------------------

NON_JOB_FILES = ("compute.yml", "model.yml", "endpoint.yml", "deployment.yml")


def _fresh_copy(tmp_path: Path) -> Path:
    """The project as a fresh clone has it: params, the committed azureml/, the sample."""
    project = tmp_path / "clone"
    for name in ("params", "azureml", "samples"):
        shutil.copytree(ROOT / name, project / name)
    (project / "data").mkdir()
    return project


def _amlgen(project: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"),
    }
    env.pop("AMLGEN_EMULATOR", None)
    env.pop("AZUREML_CURRENT_CLOUD", None)  # an in-process SDK test leaves it
    return subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(project), *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_data_then_render_check_and_run_agree_with_no_other_command(tmp_path: Path) -> None:
    project = _fresh_copy(tmp_path)
    before = {p: p.read_bytes() for p in sorted((project / "azureml").rglob("*.yml"))}
    # The sample's dataset card has no metadata block: huggingface_hub would warn about it.
    assert not (SAMPLE / "README.md").read_text(encoding="utf-8").startswith("---")

    data = _amlgen(project, tmp_path, "data", "--env", "dev", "--source", str(SAMPLE))
    assert data.returncode == 0, data.stderr
    assert "Repo card metadata" not in data.stderr and "Traceback" not in data.stderr
    fp = data_fingerprint(project / "data" / "ultrachat_200k")
    assert fp
    # dev, notebook and serverless read data/ultrachat_200k: their job files, and only those,
    # now carry the data's fingerprint; prod reads another folder.
    jobs = {
        project / "azureml" / env / name
        for env, name in (
            ("dev", "pipeline-job.yml"),
            ("notebook", "pipeline-job.yml"),
            ("serverless", "finetuning-job.yml"),
        )
    }
    for path, old in before.items():
        now = path.read_bytes()
        if path in jobs:
            assert f"amlgen.data: {fp}\n".encode() in now and now != old, path
            assert f"updated {path.relative_to(project)}" in data.stderr
        else:
            assert now == old, path
    for env in ("dev", "prod", "notebook"):
        for name in NON_JOB_FILES:
            assert b"amlgen.data" not in (project / "azureml" / env / name).read_bytes()

    check = _amlgen(project, tmp_path, "render", "--all", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    dry = _amlgen(project, tmp_path, "run", "--env", "dev", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "az ml job create -f azureml/dev/pipeline-job.yml" in dry.stdout

    # A rerun with the same inputs writes the same bytes and re-renders nothing.
    after = {p: p.read_bytes() for p in before}
    again = _amlgen(project, tmp_path, "data", "--env", "dev", "--source", str(SAMPLE))
    assert again.returncode == 0 and "updated azureml" not in again.stderr
    assert {p: p.read_bytes() for p in before} == after


def test_data_leaves_a_job_file_that_does_not_match_its_params(project: Path, cache: Path) -> None:
    from generator.rendering import render_environments

    render_environments(["dev"], project)
    job = project / "azureml" / "dev" / "pipeline-job.yml"
    (project / "params" / "dev.yaml").write_text(
        (project / "params" / "dev.yaml").read_text(encoding="utf-8")
        + "\njob:\n  display_name: edited-not-rendered\n",
        encoding="utf-8",
    )
    old = job.read_bytes()
    report = D.prepare_data("dev", project, source=str(SAMPLE), cache_dir=cache)
    assert job.read_bytes() == old and report.rendered == []
    assert report.notes == [
        "note: azureml/dev/pipeline-job.yml does not match its params: left as it is; run "
        "`amlgen render --env dev` to render it with the new data"
    ]
    assert report.summary()[-1] == report.notes[0]


def test_out_that_is_a_file_or_holds_the_project_is_one_line(project: Path, cache: Path) -> None:
    (project / "README.md").write_text("mine\n")
    cases = (
        ("README.md", "is a file"),
        (".", "holds the project"),
        ("azureml/dev", "inside azureml/, which render owns"),
    )
    for out, expect in cases:
        result = _cli(project, "--source", str(SAMPLE), "--out", out)
        assert result.exit_code == 1, result.output
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: --out: {out}") and expect in line, line
    assert (project / "README.md").read_text() == "mine\n"
    assert {p.name for p in project.iterdir()} - {".amlgen"} == {"README.md", "params"}


def test_a_symlinked_data_folder_stays_a_symlink(
    project: Path, tmp_path: Path, cache: Path
) -> None:
    real = tmp_path / "big-disk" / "ultrachat"
    real.mkdir(parents=True)
    (project / "data").mkdir()
    (project / "data" / "ultrachat_200k").symlink_to(real)
    D.prepare_data("dev", project, source=str(SAMPLE), cache_dir=cache)
    link = project / "data" / "ultrachat_200k"
    assert link.is_symlink() and (real / "manifest.json").is_file()
    assert sorted(p.name for p in real.parent.iterdir()) == ["ultrachat"]  # no strays beside it

"""Reads are bounded (issue #20, principle 2): every file amlgen reads goes through
generator.reading (regular files only, opened without blocking, size and line budgets), and an
error echoes at most a short prefix of a value. Each case: one line, no traceback, no hang."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import reading
from generator.cli import cli
from generator.params import load_params
from generator.validation import validate_paths

ROOT = Path(__file__).resolve().parent.parent
TEN_GB = 10 * 1024**3


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "p"
    for name in ("params", "azureml"):
        shutil.copytree(ROOT / name, project / name)
    (project / "data" / "ultrachat_200k").mkdir(parents=True)
    return project


def _errors(report: object) -> list[str]:
    return [f.text() for f in report.findings if f.severity == "error"]  # type: ignore[attr-defined]


def _amlgen(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A real process: a hang fails on the timeout, a traceback shows on stderr."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("AMLGEN_EMULATOR", None)
    # The SDK records the cloud of an emulator an earlier test in this process used here; a child
    # that inherits it looks that cloud up and fails with a KeyError.
    env.pop("AZUREML_CURRENT_CLOUD", None)
    return subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(project), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def test_a_data_file_of_10_gb_without_a_newline_is_refused_after_one_bounded_piece(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    data = project / "data" / "ultrachat_200k"
    with open(data / "train_sft.jsonl", "wb") as fh:  # sparse: 10 GB on paper, nothing on disk
        fh.truncate(TEN_GB)
    report = validate_paths(["azureml/dev", "azureml/serverless"], project, sdk=False)
    errors = _errors(report)
    assert any(
        "inputs.train_file_path.path" in e and "line 1: a line longer than 32 MiB: refused" in e
        for e in errors
    ), errors
    assert any("training_data.path" in e and "a line longer than 32 MiB" in e for e in errors)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "loop", "device", "folder-loop"])
def test_a_data_path_that_is_not_a_regular_file_is_one_finding(tmp_path: Path, kind: str) -> None:
    project = _project(tmp_path)
    path = project / "data" / "ultrachat_200k" / "train_sft.jsonl"
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")  # never ends
    else:
        (path.parent / "a").symlink_to(path.parent / "b")
        (path.parent / "b").symlink_to(path.parent / "a")
        path.symlink_to(path.parent / "a" / "x.jsonl")
    run = _amlgen(project, "validate", "azureml/dev", "azureml/serverless", timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    why = "not a regular file" if kind in ("fifo", "device") else "symlink loop"
    lines = [ln for ln in run.stdout.splitlines() if "train_file_path" in ln]
    assert lines and why in lines[0], run.stdout
    assert any("training_data.path" in ln and why in ln for ln in run.stdout.splitlines())


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b"])
def test_a_control_character_in_params_or_an_asset_is_one_line(tmp_path: Path, char: str) -> None:
    project = _project(tmp_path)
    dev = project / "params" / "dev.yaml"
    good = dev.read_text(encoding="utf-8")
    dev.write_text(good + f"# a comment{char}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["-C", str(project), "render", "--env", "dev"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: params/dev.yaml:") and "control character" in (
        result.stderr
    )
    dev.write_text(good, encoding="utf-8")
    asset = project / "azureml" / "dev" / "model.yml"
    asset.write_text(asset.read_text(encoding="utf-8") + f"description: a{char}b\n")
    report = validate_paths(["azureml/dev/model.yml"], project, sdk=False)
    assert any("control character" in e for e in _errors(report)), _errors(report)


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x,x,x,x,x,x,x,x,x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "{" + ", ".join(lines) + "}"


def test_a_set_value_gets_the_params_readers_limits(project: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-C", str(project), "render", "--env", "dev", "--set", f"job.tags={_bomb()}"]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --set job.tags: more than 20,000 YAML nodes"), line
    with pytest.raises(Exception, match="nesting deeper than 100"):
        load_params("dev", project, ["job.tags=" + "[" * 200 + "]" * 200])


def test_duplicate_keys_in_a_set_value_are_refused_and_blamed_on_it(project: Path) -> None:
    with pytest.raises(Exception) as err:
        load_params("dev", project, ["job.tags={a: 1, a: 2}"])
    assert str(err.value) == (
        "--set job.tags: malformed YAML: duplicate key 'a' (first at line 1); YAML would keep "
        "only the last"
    )
    # A value under a path that base.yaml also sets is blamed on --set, not on base.yaml's line.
    with pytest.raises(Exception) as err:
        load_params("dev", project, ["finetune={num_train_epochs: 0}"])
    assert str(err.value).startswith("--set: finetune.num_train_epochs: must be at least 1"), err


def test_error_messages_echo_only_a_short_prefix_of_a_value(project: Path) -> None:
    huge = "x" * 200_000
    for expr in (
        f"job.display_name={huge}",
        f"finetune.optim={huge}",
        f"job.experiment_name={huge}",
        f"{huge}=1",
        huge,
    ):
        result = CliRunner().invoke(cli, ["-C", str(project), "render", "--set", expr])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert 0 < len(result.stderr) < 600, (expr[:30], len(result.stderr))
    result = CliRunner().invoke(cli, ["-C", str(project), "render", "--set", "a.b=" + "9" * 5000])
    assert result.exit_code == 1 and len(result.stderr) < 600, result.stderr[:200]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["params/base.yaml", "params/dev.yaml", "state"])
def test_a_fifo_where_amlgen_reads_its_own_files_is_one_line(tmp_path: Path, target: str) -> None:
    project = _project(tmp_path)
    if target == "state":
        (project / ".amlgen" / "dev").mkdir(parents=True)
        os.mkfifo(project / ".amlgen" / "dev" / "state.json")
        run = _amlgen(project, "teardown", "--env", "dev", timeout=60)
    else:
        (project / target).unlink()
        os.mkfifo(project / target)
        run = _amlgen(project, "render", "--env", "dev", timeout=60)
    assert run.returncode == 1, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: ") and "not a regular file" in line, line


@pytest.mark.slow
def test_a_rendered_file_replaced_by_a_fifo_does_not_hang_render(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "azureml" / "dev" / "model.yml").unlink()
    os.mkfifo(project / "azureml" / "dev" / "model.yml")
    run = _amlgen(project, "render", "--all", "--check", timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "azureml/dev/model.yml: not a regular file" in run.stderr


def test_validate_refuses_kernel_folders_at_once() -> None:
    report = validate_paths(["/proc", "/sys"], "/")
    assert [f.code for f in report.findings] == ["yaml.unreadable", "yaml.unreadable"]
    assert "kernel or device folder" in report.findings[0].message


def test_the_reader_itself(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a\n" + b"b" * 100 + b"\nc")
    with (
        reading.open_regular(path, None) as fh,
        pytest.raises(reading.ReadRefused, match=r"f:2: a line longer than 50 bytes"),
    ):
        list(reading.lines(fh, 50, "f"))
    assert reading.read_text(path, 1000).startswith("a\n")
    with pytest.raises(reading.ReadRefused, match="larger than 10 bytes"):
        reading.read_bytes(path, 10)
    assert reading.current_text(tmp_path / "missing", 10) is None
    assert reading.kind_of(tmp_path) == "folder" and reading.kind_of("/dev/null") == "other"
    assert reading.clip("y" * 10_000).endswith("... (str, cut)")
    assert len(reading.clip(10**5000)) < 100  # an integer too long for str() in Python 3.11


@pytest.mark.slow
def test_kernel_folders_are_refused_as_assets_and_data_sources(tmp_path: Path) -> None:
    project = _project(tmp_path)
    run = _amlgen(project, "submit", "--assets", "/proc", "--dry-run", timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "/proc: error: a kernel or device folder" in run.stderr
    run = _amlgen(project, "data", "--source", "/proc", timeout=60)  # datasets would walk it
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "error: data.source: /proc: a kernel or device folder (/proc, /sys, /dev), not files to "
        "read: refused"
    ]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1e400"])
def test_a_timeout_must_be_a_finite_number_of_minutes(project: Path, value: str) -> None:
    result = CliRunner().invoke(cli, ["-C", str(project), "status", "--timeout", value])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "Invalid value for '--timeout'" in result.stderr


def test_nan_intervals_from_the_environment_fall_back_to_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from generator.progress import HEARTBEAT_SECONDS, heartbeat_seconds

    monkeypatch.setenv("AMLGEN_HEARTBEAT_SECONDS", "nan")
    assert heartbeat_seconds() == HEARTBEAT_SECONDS
    assert heartbeat_seconds(float("nan")) == HEARTBEAT_SECONDS


# --- saved failure logs (`amlgen logs`) -----------------------------------------------------------


class _Logs:
    """A backend whose deployment returns one line of logs per container."""

    def deployment_logs(self, endpoint: str, deployment: str, container: str, lines: int) -> str:
        return f"{container} ok\n"


def _where(project: Path) -> object:
    from generator import diagnose

    return diagnose.Where(_Logs(), project, "dev", "ep-dev", "demo", {})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["binary", "huge", "fifo"])
def test_a_saved_log_that_is_binary_huge_or_a_fifo_is_one_line(tmp_path: Path, kind: str) -> None:
    from generator import diagnose
    from generator.errors import WorkflowError
    from generator.state import State

    logs = tmp_path / ".amlgen" / "dev" / "logs"
    logs.mkdir(parents=True)
    path = logs / "demo.inference-server.log"
    if kind == "binary":
        path.write_bytes(b"\x83\xff\x00" * 100)
    elif kind == "huge":  # sparse: read whole, it took 9 GB of memory
        with path.open("wb") as fh:
            fh.truncate(TEN_GB)
    else:
        os.mkfifo(path)
    with pytest.raises(WorkflowError) as err:
        diagnose.logs(_where(tmp_path), State.of(tmp_path, "dev"))  # type: ignore[arg-type]
    text = str(err.value)
    assert text.startswith(".amlgen/dev/logs/demo.inference-server.log: ") and "\n" not in text


@pytest.mark.parametrize("name", ["../../../../escape", "a/b", "x\n", "d" * 300, 5])
def test_a_state_naming_an_odd_deployment_reads_and_writes_no_log_file(
    tmp_path: Path, name: object
) -> None:
    import json

    from generator import diagnose
    from generator.errors import WorkflowError
    from generator.state import State

    state = tmp_path / ".amlgen" / "dev" / "state.json"
    state.parent.mkdir(parents=True)
    record = {"endpoint": {"name": "ep-dev"}, "deployment": {"name": name}}
    state.write_text(json.dumps(record))
    before = sorted(p for p in tmp_path.parent.rglob("*") if "escape" in p.name)
    with pytest.raises(WorkflowError) as err:
        diagnose.logs(_where(tmp_path), State.of(tmp_path, "dev"), live=True)  # type: ignore[arg-type]
    text = str(err.value)
    assert "deployment.name" in text and "\n" not in text and len(text) < 400
    assert sorted(p for p in tmp_path.parent.rglob("*") if "escape" in p.name) == before
    assert not (tmp_path / ".amlgen" / "dev" / "logs").exists()


# --- the data source (`amlgen data --source`) ----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("fifo", "is a FIFO, device or socket"),  # it said "is a file"
        ("/dev/zero", "is a FIFO, device or socket"),
        ("loop", "a symlink loop, not a folder"),  # it went to the Hub as a dataset id
        ("samples\n", "a control character"),  # the newline split the error in two
        ("a" * 5000, "over 1,024 characters"),  # it was echoed whole, as `cannot write` it
    ],
)
def test_an_odd_data_source_is_one_short_line_before_any_read(
    tmp_path: Path, source: str, says: str
) -> None:
    import generator
    from generator.errors import DataError

    project = _project(tmp_path)
    os.mkfifo(project / "fifo")
    (project / "loop").symlink_to(project / "loop")
    with pytest.raises(DataError) as err:
        generator.prepare_data("dev", project_dir=project, source=source)
    text = str(err.value)
    assert text.startswith("data.source: ") and says in text, text
    assert "\n" not in text and len(text) < 400, text
    assert not (project / "data" / "ultrachat_200k" / "train_sft.jsonl").exists()


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("endpoint", "name", "--help"),  # passed to `az ... -n` and the SDK as it was
        ("endpoint", "name", "ep;rm -rf x"),
        ("endpoint", "name", "ep\nx"),  # `status` printed it on two lines
        ("deployment", "name", "../../x"),
        ("job", "name", "j" * 5000),
        ("job", "status", "Completed\x1b[2J"),
        ("model", "name", 7),
    ],
)
def test_a_state_file_recording_what_amlgen_never_writes_is_one_line(
    tmp_path: Path, section: str, key: str, value: object
) -> None:
    import json

    from generator.errors import WorkflowError
    from generator.state import State

    state = tmp_path / ".amlgen" / "dev" / "state.json"
    state.parent.mkdir(parents=True)
    record = {"endpoint": {"name": "ep-dev", "status": "created"}, "job": {"name": "j1"}}
    record.setdefault(section, {})[key] = value
    state.write_text(json.dumps(record))
    with pytest.raises(WorkflowError) as err:
        State.of(tmp_path, "dev")
    text = str(err.value)
    assert f"{section}.{key} " in text and "\n" not in text and len(text) < 400, text

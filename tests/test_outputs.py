"""Outputs stay where the user meant (issue #20, principle 1): every output folder is checked by
generator.outputs before a byte is written; a refused one is one line and nothing is written,
inside the project or outside it."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.errors import OutputRefused
from generator.outputs import check_root

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "ultrachat_200k_sample"


def _tree(folder: Path) -> dict[str, float]:
    return {
        str(p.relative_to(folder)): p.lstat().st_mtime
        for p in sorted(folder.rglob("*"))
        if ".amlgen/" not in str(p.relative_to(folder)) + "/"
    }


def one_error(project: Path | str, *args: str) -> str:
    """Run amlgen in-process: exit 1, exactly one `error:` line on stderr, no traceback."""
    result = CliRunner().invoke(cli, ["-C", str(project), *args])
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_an_empty_out_writes_nothing_at_the_filesystem_root(project: Path) -> None:
    # An unset $OUT in a script: `--out ''` once joined into /<env>/*.yml. The environment gets a
    # name of its own, so a regression writes into a folder this test can find and remove.
    env = f"zz{secrets.token_hex(4)}"
    shutil.copy(project / "params" / "dev.yaml", project / "params" / f"{env}.yaml")
    before = _tree(project)
    try:
        line = one_error(project, "render", "--env", env, "--out", "")
        assert line == "error: --out: empty: give a folder inside the project"
        assert not os.path.lexists(f"/{env}")
    finally:
        if os.path.isdir(f"/{env}"):
            shutil.rmtree(f"/{env}")
    assert _tree(project) == before


@pytest.mark.parametrize(
    ("out", "why"),
    [
        ("/", "outside the project"),
        ("/dev", "outside the project"),
        ("/etc/amlgen", "outside the project"),
        ("..", "outside the project"),
        (".", "holds the project"),
        ("azureml/..", "holds the project"),
        ("azureml/../..", "outside the project"),
        ("params", "inside params/, a source or tool folder"),
        ("params/out", "inside params/, a source or tool folder"),
        ("generator", "inside generator/"),
        (".git/x", "inside .git/"),
        (".amlgen", "inside .amlgen/"),
        ("   ", "empty"),
    ],
)
def test_render_refuses_an_output_folder_in_one_line(project: Path, out: str, why: str) -> None:
    before = _tree(project)
    line = one_error(project, "render", "--env", "dev", "--out", out)
    assert why in line, line
    assert _tree(project) == before


@pytest.mark.parametrize(
    ("out", "why"),
    [
        ("", "empty"),
        ("/tmp", "outside the project"),
        ("azureml/dev", "inside azureml/, which render owns"),
        ("params", "inside params/"),
        (".", "holds the project"),
    ],
)
def test_data_refuses_an_output_folder_before_reading_the_source(
    project: Path, out: str, why: str
) -> None:
    before = _tree(project)
    line = one_error(project, "data", "--source", str(SAMPLE), "--out", out)
    assert line.startswith("error: --out") and why in line, line
    assert _tree(project) == before


def test_data_dir_in_params_is_checked_the_same_way(project: Path) -> None:
    dev = project / "params" / "dev.yaml"
    dev.write_text(dev.read_text(encoding="utf-8") + "\ndata:\n  dir: /etc/amlgen\n")
    line = one_error(project, "data", "--source", str(SAMPLE))
    assert line.startswith("error: data.dir: /etc/amlgen: outside the project"), line


def test_a_symlink_in_the_project_may_not_lead_into_a_system_folder(project: Path) -> None:
    (project / "out").symlink_to("/etc")
    line = one_error(project, "render", "--env", "dev", "--out", "out")
    assert "inside /etc, a system folder" in line
    (project / "data").mkdir()
    (project / "data" / "mine").symlink_to("/usr/share")
    line = one_error(project, "data", "--source", str(SAMPLE), "--out", "data/mine")
    assert "inside /usr, a system folder" in line


def test_a_symlink_loop_or_a_file_as_output_is_one_line(project: Path) -> None:
    (project / "loop").symlink_to(project / "loop")
    assert "symlink loop" in one_error(project, "render", "--out", "loop")
    (project / "file").write_text("x")
    assert "is a file, not a folder" in one_error(project, "render", "--out", "file")


def test_render_and_data_outside_a_project_write_nothing(tmp_path: Path) -> None:
    for args in (["render", "--all"], ["render"], ["data"], ["schema", "--write"]):
        line = one_error(tmp_path, *args)
        assert "no params/base.yaml in" in line and "not an amlgen project" in line, line
        assert list(tmp_path.iterdir()) == [], args  # no params/params.schema.json, no .amlgen


@pytest.mark.parametrize(
    "args",
    [["render"], ["run", "--dry-run"], ["teardown"], ["validate"], ["plan"], ["data"]],
)
def test_a_missing_project_folder_says_so(args: list[str]) -> None:
    line = one_error("/nonexistent-amlgen-project", *args)
    assert line == "error: -C /nonexistent-amlgen-project: the folder does not exist"


@pytest.mark.parametrize(
    ("folder", "says"),
    [
        ("a" * 5000, "the folder does not exist"),  # ENAMETOOLONG: was echoed whole
        ("/nonexistent\n", "the folder does not exist"),  # the newline split the error in two
        ("/dev/null", "not a folder"),
    ],
)
def test_an_odd_project_folder_is_one_short_line(folder: str, says: str) -> None:
    line = one_error(folder, "plan")
    assert line.startswith("error: -C ") and line.endswith(says) and len(line) < 400, line


def test_a_project_folder_in_a_symlink_loop_says_so(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert one_error(tmp_path / "loop", "plan").endswith(": a symlink loop, not a folder")


@pytest.mark.parametrize("env", ["../x", "..", ".hidden", "a/b"])
def test_an_environment_name_cannot_climb_out_of_its_folders(project: Path, env: str) -> None:
    line = one_error(project, "teardown", "--env", env)
    assert "not an environment name" in line or "unknown environment" in line, line
    assert not (project.parent / "x").exists()


@pytest.mark.parametrize("env", ["dev\n", "\x1b[31mred", "a" * 5000])
@pytest.mark.parametrize(
    "args", [["render"], ["data"], ["plan"], ["teardown", "--dry-run"], ["lock", "--check"]]
)
def test_an_environment_name_with_control_characters_or_5000_long_is_one_short_line(
    project: Path, env: str, args: list[str]
) -> None:
    # `dev\n` split the error in two and printed the escape raw; 5,000 characters were echoed twice
    line = one_error(project, *args, "--env", env)
    assert "not an environment name (printable" in line and len(line) < 300, line
    assert "\x1b[" not in line.replace("\\x1b", "")


def _can_mount(folder: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    ok = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "none", str(folder)], capture_output=True
    )
    return ok.returncode == 0


@pytest.mark.slow
def test_a_mount_point_is_refused_before_anything_is_written(project: Path) -> None:
    mnt = project / "data" / "mounted"
    mnt.mkdir(parents=True)
    if not _can_mount(mnt):
        pytest.skip("needs root and tmpfs mounts (the rule is unit-tested below)")
    try:
        line = one_error(project, "data", "--source", str(SAMPLE), "--out", "data/mounted")
        assert "data/mounted: a mount point" in line
        assert not (project / ".amlgen").exists()  # no journal: nothing to recover, no wedge
        assert list(mnt.iterdir()) == []
        ok = CliRunner().invoke(cli, ["-C", str(project), "render", "--all"])
        assert ok.exit_code == 0, ok.output
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_the_rule_itself(project: Path) -> None:
    assert check_root("azureml", project, "--out") == project / "azureml"
    assert check_root("data/x/../y", project, "--out") == project / "data" / "y"
    assert check_root(project / "data", project, "--out") == project / "data"
    with pytest.raises(OutputRefused, match="a mount point"):
        check_root("/proc", "/", "--out")
    with pytest.raises(OutputRefused, match="a control character"):
        check_root("a\0b", project, "--out")
    with pytest.raises(OutputRefused, match=r"'x{10}.*\.\.\. \(str, cut\): a control"):
        check_root("x" * 5000 + "\n", project, "--out")
    with pytest.raises(OutputRefused, match=r"longer than 1024"):
        check_root("x" * 5000, project, "--out")


@pytest.mark.parametrize(
    ("link", "target"),
    [(".amlgen", "params"), (".amlgen/dev", "params"), (".amlgen/dev/logs", ".")],
)
def test_a_records_folder_symlinked_into_the_project_writes_nothing_there(
    project: Path, link: str, target: str
) -> None:
    from generator import diagnose
    from generator.state import State

    (project / link).parent.mkdir(parents=True, exist_ok=True)
    (project / link).symlink_to(project / target)
    before = sorted(p.name for p in (project / target).iterdir())
    with pytest.raises(OutputRefused) as err:
        state = State.of(project, "dev")
        state.update("job", name="j")
        diagnose.log_file(project, "dev", "demo", "inference-server")
    assert "not into .amlgen/: refused" in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in (project / target).iterdir()) == before


def test_a_records_folder_on_another_disk_is_fine(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from generator.state import State

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (project / ".amlgen").symlink_to(elsewhere)
    State.of(project, "dev").update("job", name="j")
    assert (elsewhere / "dev" / "state.json").is_file()

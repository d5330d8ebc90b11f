"""No wedge (issue #20, principle 4): a folder transaction that fails part-way, whatever the
error, is rolled back at once or by the next command; staging folders of dead processes are
removed by any command that owns the folder, `render --check` included; a failed write says
which file. Real failures where the machine allows them (a full tmpfs, a read-only mount),
injected OSErrors for the swap itself."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import atomic
from generator.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "ultrachat_200k_sample"
OLD = {"one.yml": "old 1\n", "two.yml": "old 2\n"}


def _tree(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}


def _strays(root: Path) -> list[str]:
    found = [str(p.relative_to(root)) for p in root.rglob("*") if ".amlgen-" in p.name]
    return found + [str(p) for p in atomic.journal_dir(root).glob("*")]


def _folders(root: Path) -> tuple[Path, Path]:
    a, b = root / "out" / "dev", root / "data" / "set"
    for folder in (a, b):
        folder.mkdir(parents=True)
        for name, text in OLD.items():
            (folder / name).write_text(text)
    return a, b


def _change(txn: atomic.FolderTransaction, *folders: Path) -> None:
    for folder in folders:
        txn.write(folder / "one.yml", "new 1\n")
        txn.remove(folder / "two.yml")


@pytest.mark.parametrize("code", [errno.EBUSY, errno.EROFS, errno.ENOSPC, errno.EACCES])
@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_swap_that_fails_part_way_is_rolled_back_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, exchange: bool
) -> None:
    if not exchange:
        monkeypatch.setattr(atomic, "_renameat2", [None])
    a, b = _folders(tmp_path)
    real = atomic._swap_in
    calls: list[Path] = []

    def swap_in(stage: Path, target: Path, old: Path) -> None:
        calls.append(target)
        if len(calls) == 2:  # the first folder is swapped in already
            raise OSError(code, os.strerror(code), str(target))
        real(stage, target, old)

    monkeypatch.setattr(atomic, "_swap_in", swap_in)
    with pytest.raises(OSError) as err, atomic.FolderTransaction(tmp_path) as txn:
        _change(txn, a, b)
        txn.commit()
    assert err.value.errno == code
    assert _tree(a) == _tree(b) == OLD  # all old: the first swap was undone
    assert _strays(tmp_path) == [] and not (tmp_path / ".amlgen").exists()
    monkeypatch.setattr(atomic, "_swap_in", real)
    with atomic.FolderTransaction(tmp_path) as txn:  # nothing to fix by hand
        _change(txn, a, b)
        txn.commit()
    assert _tree(a) == _tree(b) == {"one.yml": "new 1\n"}


KILLED_AFTER_JOURNAL = """
import os, signal, sys
from pathlib import Path
from generator import atomic
root = Path(sys.argv[1])
atomic._swap_in = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
with atomic.FolderTransaction(root) as txn:
    for folder in (root / "out" / "dev", root / "data" / "set"):
        txn.write(folder / "one.yml", "new 1\\n")
        txn.remove(folder / "two.yml")
    txn.commit()
"""


@pytest.mark.slow
def test_a_journal_that_cannot_be_rolled_forward_is_rolled_back_by_the_next_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _folders(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_JOURNAL, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert list(atomic.journal_dir(tmp_path).glob("*.journal.json"))  # committed, not swapped
    real = atomic._swap_in
    calls: list[Path] = []

    def busy_second(stage: Path, target: Path, old: Path) -> None:
        calls.append(target)
        if len(calls) == 2:
            raise OSError(errno.EBUSY, "Device or resource busy", str(target))
        real(stage, target, old)

    monkeypatch.setattr(atomic, "_swap_in", busy_second)  # e.g. a folder became a mount point
    assert atomic.recover(tmp_path)
    assert _tree(a) == _tree(b) == OLD and _strays(tmp_path) == []


@pytest.mark.slow
def test_staging_folders_of_dead_processes_go_with_render_check(project: Path) -> None:
    assert CliRunner().invoke(cli, ["-C", str(project), "render", "--all"]).exit_code == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    azureml = project / "azureml"
    strays = [
        azureml / f".dev.amlgen-stage-{dead.pid}-0badc0de",  # its pid is gone
        azureml / f".prod.amlgen-old-{dead.pid}-0badc0de",
        azureml / "dev" / f".model.yml.{dead.pid}-0badc0de.amlgen-tmp",
        azureml / ".dev.amlgen-stage-1-0badc0de",  # pid 1 lives, but started long after this
    ]
    for path in strays:
        if path.name.endswith("amlgen-tmp"):
            path.write_text("half")
        else:
            path.mkdir()
            (path / "model.yml").write_text("half")
    os.utime(strays[3], (946684800, 946684800))  # made in 2000: no process of today owns it
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        mine = azureml / f".dev.amlgen-stage-{live.pid}-0badc0de"  # a running writer's
        mine.mkdir()
        check = CliRunner().invoke(cli, ["-C", str(project), "render", "--all", "--check"])
        assert check.exit_code == 0, check.output
        assert [p for p in strays if os.path.lexists(p)] == []
        assert mine.is_dir()
    finally:
        live.kill()
        live.wait()


RECORDED_STAGE = """
import os, signal, sys
from pathlib import Path
from generator import atomic
root = Path(sys.argv[1])
with atomic.FolderTransaction(root) as txn:
    txn.write(root / "data" / "set" / "one.yml", "new 1\\n")
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_recorded_staging_folder_goes_even_when_its_pid_was_given_again(
    tmp_path: Path,
) -> None:
    # The intent in .amlgen/.txn names the staging folder, so recovery does not need the pid.
    _folders(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", RECORDED_STAGE, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    (stage,) = [p for p in (tmp_path / "data").iterdir() if ".amlgen-stage-" in p.name]
    # Pretend its pid belongs to a live process again: name it after this test's own parent.
    reused = stage.with_name(stage.name.replace(f"-{child_pid(stage)}-", f"-{os.getppid()}-"))
    stage.rename(reused)
    intent = next(atomic.journal_dir(tmp_path).glob("*.stages.json"))
    intent.write_text(intent.read_text().replace(str(stage), str(reused)))
    atomic.recover(tmp_path)
    assert _strays(tmp_path) == [] and not (tmp_path / ".amlgen").exists()


def child_pid(stage: Path) -> str:
    return stage.name.split("amlgen-stage-")[1].split("-")[0]


def test_a_mount_point_is_never_staged(tmp_path: Path) -> None:
    with pytest.raises(OSError) as err, atomic.FolderTransaction(tmp_path) as txn:
        txn.folder(Path("/proc"))
    assert err.value.errno == errno.EBUSY and _strays(tmp_path) == []


def test_a_failed_write_names_its_file() -> None:
    with pytest.raises(OSError) as err, atomic.named("/p/azureml/.dev.amlgen-stage-1-ab/x.yml"):
        raise OSError(errno.ENOSPC, "No space left on device")  # as os.write raises it
    assert atomic.failure(err.value, "/p") == (
        "cannot write azureml/dev/x.yml: No space left on device"
    )


# --- real file systems ---------------------------------------------------------------------------


def _tmpfs(folder: Path, *options: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    opts = ",".join(("size=4m", *options))
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "none", str(folder)]).returncode == 0


def _fill(folder: Path, leave: int) -> None:
    st = os.statvfs(folder)
    with open(folder / f"filler{len(list(folder.glob('filler*')))}", "wb") as fh:
        fh.write(b"\0" * max(st.f_bavail * st.f_frsize - leave, 0))


def _one_error(project: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(project), *args])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    (line,) = result.stderr.splitlines()
    return line


@pytest.mark.slow
def test_a_full_disk_is_one_line_naming_the_file_and_changes_nothing(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    if not _tmpfs(disk):
        pytest.skip("needs root and tmpfs mounts (the injected ENOSPC above covers the rule)")
    try:
        project = disk / "p"
        for name in ("params", "azureml"):
            shutil.copytree(ROOT / name, project / name)
        ok = CliRunner().invoke(cli, ["-C", str(project), "data", "--source", str(SAMPLE)])
        assert ok.exit_code == 0, ok.output
        data = {p.name: p.read_bytes() for p in (project / "data" / "ultrachat_200k").iterdir()}
        jobs = (project / "azureml" / "dev" / "pipeline-job.yml").read_bytes()
        _fill(disk, 8 * 1024)
        line = _one_error(project, "data", "--source", str(SAMPLE), "--split-percent", "50")
        assert line.startswith("error: cannot write data/ultrachat_200k/"), line
        assert line.endswith(": No space left on device")
        _fill(disk, 0)
        line = _one_error(project, "render", "--env", "dev", "--set", "job.display_name=x")
        assert line.startswith("error: cannot write ") and "No space left" in line, line
        now = {p.name: p.read_bytes() for p in (project / "data" / "ultrachat_200k").iterdir()}
        assert now == data
        assert (project / "azureml" / "dev" / "pipeline-job.yml").read_bytes() == jobs
        assert _strays(project) == []
        for filler in disk.glob("filler*"):
            filler.unlink()
        again = CliRunner().invoke(
            cli, ["-C", str(project), "data", "--source", str(SAMPLE), "--split-percent", "50"]
        )
        assert again.exit_code == 0, again.output
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.slow
def test_a_read_only_project_is_one_line_and_render_check_still_works(tmp_path: Path) -> None:
    disk = tmp_path / "ro"
    if os.geteuid() != 0:
        disk.mkdir()
        shutil.copytree(ROOT / "params", disk / "params")
        shutil.copytree(ROOT / "azureml", disk / "azureml")
        for path in [disk, *disk.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
    elif _tmpfs(disk):
        shutil.copytree(ROOT / "params", disk / "params")
        shutil.copytree(ROOT / "azureml", disk / "azureml")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    else:
        pytest.skip("no way to make a read-only folder here")
    try:
        line = _one_error(disk, "render", "--env", "dev", "--set", "job.display_name=x")
        assert line.startswith("error: cannot write ") and (
            "Read-only file system" in line or "Permission denied" in line
        ), line
        line = _one_error(disk, "data", "--source", str(SAMPLE))
        assert line.startswith("error: cannot write "), line
        check = CliRunner().invoke(cli, ["-C", str(disk), "render", "--all", "--check"])
        assert check.exit_code == 0, check.output
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(disk)], check=False)
        else:
            for path in [disk, *disk.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)


def test_a_failed_write_names_a_long_file_clipped() -> None:
    from generator import atomic

    line = atomic.failure(OSError(errno.ENAMETOOLONG, "File name too long", "a" * 5000))
    assert line.startswith("cannot write 'aaa") and line.endswith(": File name too long")
    assert len(line) < 400  # the name was echoed whole


def test_a_records_folder_symlinked_into_params_gets_no_journal(tmp_path: Path) -> None:
    from generator import atomic
    from generator.errors import OutputRefused

    (tmp_path / "params").mkdir()
    (tmp_path / ".amlgen").symlink_to(tmp_path / "params")
    with pytest.raises(OutputRefused, match="points into the project's params/"):
        atomic.journal_dir(tmp_path)  # render wrote (and removed) params/.txn/ through it
    assert list((tmp_path / "params").iterdir()) == []

"""generator.atomic: unique temp names, folder transactions, recovery after SIGKILL at each step.

Crashes are real: a child process runs a transaction and SIGKILLs itself at a chosen step.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from generator import atomic

ROOT = Path(__file__).resolve().parent.parent


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones included) -> its text."""
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _strays(*folders: Path) -> list[str]:
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p.name for p in folder.iterdir() if ".amlgen-" in p.name]
    return found


# --- single files --------------------------------------------------------------------------------


def test_write_atomic_uses_a_unique_temp_name_and_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    atomic.write_atomic(target, "one\n")
    atomic.write_atomic(target, b"two\n")
    assert target.read_text() == "two\n" and os.listdir(target.parent) == ["state.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open() gives, not 0600


@pytest.mark.slow
def test_write_atomic_removes_temps_of_dead_writers_and_keeps_live_ones(tmp_path: Path) -> None:
    dead = tmp_path / f".registry.lock.{_dead_pid()}-0badc0de.amlgen-tmp"
    legacy = tmp_path / ".registry.lock.amlgen-tmp"  # the fixed name older versions used
    live = tmp_path / f".registry.lock.{os.getppid()}-0badc0de.amlgen-tmp"
    other = tmp_path / f".other.yml.{_dead_pid()}-0badc0de.amlgen-tmp"
    for path in (dead, legacy, live, other):
        path.write_text("half")
    atomic.write_atomic(tmp_path / "registry.lock", "x")
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and other.exists()  # a running writer's, and another file's


@pytest.mark.slow
def test_concurrent_writers_of_one_file_do_not_clash(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from generator.atomic import write_atomic
        me = sys.argv[2]
        for i in range(150):
            write_atomic(Path(sys.argv[1]), (me * 5000) + "\\n")
        """
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(target), tag], cwd=ROOT)
        for tag in "abcd"
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0, 0]
    text = target.read_text()
    assert text in {tag * 5000 + "\n" for tag in "abcd"}  # one writer's, whole
    assert os.listdir(tmp_path) == ["state.json"]


@pytest.mark.slow
def test_state_and_lock_files_are_written_through_it(tmp_path: Path) -> None:
    from generator.state import State

    path = tmp_path / ".amlgen" / "dev" / "state.json"
    path.parent.mkdir(parents=True)
    stray = path.with_name(f".state.json.{_dead_pid()}-12345678.amlgen-tmp")
    stray.write_text("{")
    State(path).update("job", name="x")
    assert json.loads(path.read_text()) == {"job": {"name": "x"}}
    assert os.listdir(path.parent) == ["state.json"]

    import shutil

    shutil.copytree(ROOT / "params", tmp_path / "params")
    lock_stray = tmp_path / "params" / f".registry.lock.{_dead_pid()}-12345678.amlgen-tmp"
    lock_stray.write_text("half")
    (tmp_path / "params" / "registry.lock").unlink()
    run = subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(tmp_path), "lock", "--seed"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "params" / "registry.lock").is_file() and not lock_stray.exists()


# --- folder transactions -------------------------------------------------------------------------


def _two_folders(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "out" / "dev", tmp_path / "data" / "set"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    for folder in (a, b):
        (folder / "one.yml").write_text("old 1\n")
        (folder / "two.yml").write_text("old 2\n")
        (folder / "NOTES.md").write_text("hand-written\n")
        (folder / "sub").mkdir()
        (folder / "sub" / "deep.txt").write_text("deep\n")
    return a, b


OLD = {"NOTES.md": "hand-written\n", "one.yml": "old 1\n", "two.yml": "old 2\n",
       "sub/deep.txt": "deep\n"}  # fmt: skip
NEW = {"NOTES.md": "hand-written\n", "one.yml": "new 1\n", "three.yml": "new 3\n",
       "sub/deep.txt": "deep\n"}  # fmt: skip


def _change(txn: atomic.FolderTransaction, folder: Path) -> None:
    txn.write(folder / "one.yml", "new 1\n")
    txn.write(folder / "three.yml", "new 3\n")
    txn.remove(folder / "two.yml")


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_transaction_changes_every_folder_or_none(
    tmp_path: Path, exchange: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not exchange:
        monkeypatch.setattr(atomic, "_renameat2", [None])
    a, b = _two_folders(tmp_path)
    journal = atomic.journal_dir(tmp_path)
    inode = os.stat(a / "NOTES.md").st_ino
    with atomic.FolderTransaction(tmp_path) as txn:
        _change(txn, a)
        _change(txn, b)
        txn.write(tmp_path / "fresh" / "new.yml", "created\n")  # a folder that did not exist
        assert _tree(a) == OLD  # nothing visible before commit
        txn.commit()
    assert _tree(a) == _tree(b) == NEW
    assert _tree(tmp_path / "fresh") == {"new.yml": "created\n"}
    assert os.stat(a / "NOTES.md").st_ino == inode  # kept files are the same files (hard links)
    assert not _strays(a.parent, b.parent, a, b) and not journal.exists()
    assert not (tmp_path / ".amlgen").exists()  # nothing left for the lock or the journal

    with pytest.raises(RuntimeError), atomic.FolderTransaction(tmp_path) as txn:
        txn.write(a / "one.yml", "never\n")
        raise RuntimeError("no commit")
    assert _tree(a) == NEW and not _strays(a.parent)


CHILD = """
import os, signal, sys
from pathlib import Path
from generator import atomic

root, point, exchange = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
if not exchange:
    atomic._renameat2[:] = [None]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point == "mid-rename":  # between the two renames of the first folder (no exchange)
    real = os.rename
    calls = []
    def rename(a, b):
        real(a, b)
        calls.append(a)
        if len(calls) == 1:
            die()
    atomic.os.rename = rename
swap = atomic._swap_in
count = []
def swap_in(stage, target, old):
    if point == "after-journal":
        die()
    swap(stage, target, old)
    count.append(1)
    if point == "between-folders":
        die()
atomic._swap_in = swap_in
with atomic.FolderTransaction(root) as txn:
    for folder in (root / "out" / "dev", root / "data" / "set"):
        txn.write(folder / "one.yml", "new 1\\n")
        txn.write(folder / "three.yml", "new 3\\n")
        txn.remove(folder / "two.yml")
    if point == "before-journal":
        die()
    txn.commit()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "exchange", "outcome"),
    [
        ("before-journal", True, OLD),
        ("after-journal", True, NEW),
        ("between-folders", True, NEW),
        ("between-folders", False, NEW),
        ("mid-rename", False, NEW),
    ],
)
def test_sigkill_at_each_step_is_rolled_back_or_forward(
    tmp_path: Path, point: str, exchange: bool, outcome: dict[str, str]
) -> None:
    a, b = _two_folders(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), point, "1" if exchange else "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    # Right after the kill each folder is whole (the exchange swaps a folder in one step);
    # only two renames can leave a target missing for a moment.
    for folder in (a, b):
        if folder.exists():
            assert _tree(folder) in (OLD, NEW)
        else:
            assert point == "mid-rename"
    # The next run (any transaction, or recover) makes the pair consistent and tidies up.
    journals = atomic.recover(tmp_path)
    assert bool(journals) == (outcome is NEW)
    with atomic.FolderTransaction(tmp_path) as txn:
        txn.folder(a)
        txn.folder(b)
    assert _tree(a) == _tree(b) == outcome
    assert not _strays(a.parent, b.parent, a, b)


def test_nested_folders_in_one_transaction_are_refused(tmp_path: Path) -> None:
    with atomic.FolderTransaction(tmp_path) as txn:
        txn.write(tmp_path / "out" / "a.yml", "x")
        with pytest.raises(ValueError, match="nested folders"):
            txn.write(tmp_path / "out" / "sub" / "b.yml", "y")
    assert not (tmp_path / "out").exists()

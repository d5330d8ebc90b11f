"""Crash-safe writes: one file (temp + fsync + rename) or whole folders (stage + swap + journal).

`write_atomic(path, data)`: the data goes to a temp file of a unique name in the same folder
(`.<name>.<pid>-<random>.amlgen-tmp`), is fsynced and renamed over the target, and the folder is
fsynced. Concurrent writers of one file never share a temp file: the last rename wins, whole.

`FolderTransaction`: several folders change as one, all old or all new, whenever the process
dies (SIGKILL included) and whatever fails. Each changed folder is built as a sibling staging
folder (`.<name>.amlgen-stage-<pid>-<random>`, recorded as an intent in `.amlgen/.txn/` before
it is made: unchanged entries hard-linked, new files written and fsynced); then a journal naming
every (target, staging folder, staging folder's inode) is written atomically, which is the
commit point; then each staging folder is swapped in. On Linux the swap is one
`renameat2(RENAME_EXCHANGE)`, so the target path always holds a complete folder; elsewhere it is
two renames (target aside to `.<name>.amlgen-old-...`, staging folder in). A swap that fails
(EBUSY, EROFS, ENOSPC, EACCES, ...) undoes the swaps made and removes the journal. The next
transaction (or `recover`) takes the same lock, rolls every journal forward (a target whose inode
is the staged one is done; otherwise the staging folder is swapped in) or, when that fails, back;
removes the staging folders intents record (their process is gone: it held the lock), and old
folders and temp files whose process is gone (by pid, and by start time where /proc tells, so a
pid given to another process does not keep a dead writer's leftovers).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from . import reading
from .names import STATE_DIR
from .outputs import check_state_folder

TMP_SUFFIX = ".amlgen-tmp"
_STRAY = re.compile(
    r"^\.(?P<name>.+?)\.(?:amlgen-(?:stage|old)-(?P<pid>\d+)-[0-9a-f]+"
    r"|(?P<tpid>\d+)-[0-9a-f]+\.amlgen-tmp|amlgen-tmp)$"
)
_JOURNAL_SUFFIX = ".journal.json"
_INTENT_SUFFIX = ".stages.json"


def journal_dir(project_dir: Path) -> Path:
    """Where a project's folder transactions keep their lock and journals (git-ignored); a
    `.amlgen` symlinked into params/ or a system folder is refused (outputs.check_state_folder)."""
    return check_state_folder(Path(project_dir) / STATE_DIR / ".txn", project_dir)


# --- single files --------------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


def _alive(pid: int, since: float | None = None) -> bool:
    """Whether process `pid` may still own something made at `since` (epoch seconds): it runs,
    and (where /proc tells) it did not start after that moment, which would make it another
    process that was given the same pid."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # exists, owned by someone else
    started = _start_time(pid)
    return started is None or since is None or started <= since + 1.0


def _start_time(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), from /proc; None where that cannot be told."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            boot = next(float(ln.split()[1]) for ln in fh if ln.startswith(b"btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def sweep(folder: Path, name: str | None = None) -> list[Path]:
    """Remove what dead writers left in `folder` (temp files, staging and old folders); with
    `name`, only those of that entry. A writer still running keeps its own."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _STRAY.match(entry.name)
        if not m or (name is not None and m["name"] != name):
            continue
        pid = m["pid"] or m["tpid"]
        try:
            made = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if pid is not None and _alive(int(pid), made):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            _remove(path)
            removed.append(path)
    return removed


def _create(path: Path, data: bytes) -> None:
    """Write a new file (umask permissions, as open() gives) and fsync it; an OSError names it
    (a full disk fails in os.write, which names no file)."""
    with named(path):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def named(path: Path | str) -> Iterator[None]:
    """OSErrors inside carry `path` when they name no file (os.write, fsync, a buffered write)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise


def failure(exc: OSError, project_dir: Path | str = ".") -> str:
    """One line for a failed write: which file (relative to the project), and why."""
    name = exc.filename
    shown = "a file"
    if name is not None:
        path = os.fsdecode(name)
        try:
            shown = os.path.relpath(path, os.path.abspath(project_dir))
        except ValueError:
            shown = path
        if shown.startswith(".."):
            shown = path
        for part in Path(shown).parts:  # a staging folder stands for its target
            m = _STRAY.match(part)
            if m:
                shown = shown.replace(part, m["name"], 1)
    return f"cannot write {reading.shown_text(shown)}: {exc.strerror or exc}"


def _encode(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a uniquely named temp file in the same folder, fsync, rename: readers see the
    old file or the new one, and concurrent writers do not clash. Text is UTF-8, as given (LF)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent, path.name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")
    try:
        _create(tmp, _encode(data))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


# --- swapping folders ----------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_renameat2: list[Any] = []  # [function], [None] when the system has none


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where the system cannot."""
    if not _renameat2:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(None, use_errno=True).renameat2
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
                fn.argtypes.append(ctypes.c_uint)
                fn.restype = ctypes.c_int
            except (OSError, AttributeError):
                fn = None
        _renameat2.append(fn)
    fn = _renameat2[0]
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        _renameat2[0] = None  # this file system cannot: two renames from now on
        return False
    raise OSError(code, os.strerror(code), str(a))


def _ident(path: Path) -> list[int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return [st.st_dev, st.st_ino]


def _swap_in(stage: Path, target: Path, old: Path) -> None:
    """Put `stage` at `target`; the previous target ends at `stage` (exchange) or `old`."""
    if not os.path.lexists(target):
        os.rename(stage, target)
    elif not _exchange(stage, target):
        os.rename(target, old)
        os.rename(stage, target)
    _fsync_dir(target.parent)


def _link_tree(src: Path, dst: Path) -> None:
    """`dst` (exists) gets `src`'s entries: files hard-linked (copied where links fail),
    symlinks as symlinks, folders recursively."""
    for entry in os.scandir(src):
        s, d = Path(entry.path), dst / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(s), d)
        elif entry.is_dir():
            d.mkdir()
            shutil.copymode(s, d)
            _link_tree(s, d)
        else:
            try:
                os.link(s, d)
            except OSError:
                if entry.is_file():  # a FIFO or device is never copied: reading it may block
                    shutil.copy2(s, d)


class _Staged:
    def __init__(self, target: Path, stage: Path) -> None:
        self.target, self.stage = target, stage
        self.old = target.with_name(stage.name.replace(".amlgen-stage-", ".amlgen-old-", 1))
        self.written: list[Path] = []


class FolderTransaction:
    """Change files in several folders as one transaction (see the module's docstring).

    with FolderTransaction(project) as txn:
        txn.write(project / "azureml/dev/model.yml", text)
        txn.remove(project / "azureml/dev/compute.yml")
        txn.commit()            # leaving the block without commit() changes nothing

    The lock (flock on the project folder itself, so nothing is created for it) is held from
    entry to exit: transactions of one project run one after another. Before a staging folder
    is made, its path is recorded in `.amlgen/.txn/` (an intent), so whoever takes the lock next
    removes the staging folders of a process that died, wherever they are and whatever became
    of its pid. A commit whose swap fails (a busy, read-only or full file system) is rolled back
    and leaves no journal; a journal the next transaction cannot roll forward is rolled back.
    The `.amlgen/.txn/` folder exists only while a transaction runs or a dead one awaits
    recovery.
    """

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir)
        self.journal_folder = journal_dir(self.project_dir)
        self._staged: dict[Path, _Staged] = {}
        self._lock_fd: int | None = None
        self._intent: Path | None = None
        self._made: list[Path] = []
        self._parents: list[Path] = []  # folders made for the targets' parents
        self.committed = False

    # -- the lock and recovery

    def __enter__(self) -> FolderTransaction:
        self._lock_fd = _lock(self.project_dir)
        try:
            _recover(self.journal_folder)
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                left = False
                for staged in self._staged.values():
                    try:
                        _remove(staged.stage)
                    except OSError:
                        left = True  # the intent stays: the next transaction removes it
                if not left:
                    self._forget()
                for folder in reversed(self._parents):
                    with contextlib.suppress(OSError):
                        folder.rmdir()  # only when empty: a failed run leaves no new folders
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _record(self, stage: Path) -> None:
        """Write down a staging folder before it exists (the intent a recovery reads)."""
        if self._intent is None:
            folder = self.journal_folder
            self._made = [p for p in (folder.parent, folder) if not p.exists()]
            name = f"{os.getpid()}-{secrets.token_hex(4)}{_INTENT_SUFFIX}"
            self._intent = folder / name
        stages = [str(s.stage) for s in self._staged.values()] + [str(stage)]
        write_atomic(self._intent, json.dumps({"stages": stages}) + "\n")

    def _forget(self) -> None:
        """Drop the intent and the folders made for it (a render leaves no `.amlgen/`)."""
        if self._intent is not None:
            with contextlib.suppress(OSError):
                self._intent.unlink()
            self._intent = None
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        self._made = []

    # -- staging

    def folder(self, target: Path) -> Path:
        """The staging folder for `target` (a folder, existing or not) holding its current
        entries; created on first use. Write into it only through this transaction."""
        target = Path(os.path.realpath(target))
        staged = self._staged.get(target)
        if staged is not None:
            return staged.stage
        if os.path.lexists(target) and not target.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(target))
        if os.path.ismount(target):  # a rename cannot replace it: refuse before staging
            raise OSError(errno.EBUSY, "a mount point cannot be replaced whole", str(target))
        for other in self._staged:
            if target.is_relative_to(other) or other.is_relative_to(target):
                # the outer folder's swap would bring the inner one's old content back
                raise ValueError(f"{target} and {other}: nested folders in one transaction")
        missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        self._parents += reversed(missing)  # outermost first; removed again without a commit
        sweep(target.parent, target.name)
        if target.is_dir():
            sweep(target)
        while True:
            token = secrets.token_hex(4)
            stage = target.with_name(f".{target.name}.amlgen-stage-{os.getpid()}-{token}")
            if os.path.lexists(stage):
                continue
            self._record(stage)
            try:
                os.mkdir(stage)
                break
            except FileExistsError:
                continue
        self._staged[target] = staged = _Staged(target, stage)
        if target.is_dir():
            shutil.copymode(target, stage)
            _link_tree(target, stage)
        return stage

    def path(self, target: Path) -> Path:
        """Where to write the new content of file `target` (e.g. a streaming writer's open()):
        its staged copy, unlinked so the current file is never written through a hard link."""
        target = Path(target)
        stage = self.folder(target.parent)
        path = stage / target.name
        with contextlib.suppress(FileNotFoundError):
            _remove(path)
        self._staged[Path(os.path.realpath(target.parent))].written.append(path)
        return path

    def write(self, target: Path, data: str | bytes) -> None:
        """The new content of file `target`, written (and fsynced) into the staging folder."""
        path = self.path(target)
        _create(path, _encode(data))

    def remove(self, target: Path) -> None:
        """Delete file `target` as part of the transaction."""
        stage = self.folder(Path(target).parent)
        with contextlib.suppress(FileNotFoundError):
            _remove(stage / Path(target).name)

    # -- committing

    def commit(self) -> None:
        """Swap every staged folder in; once the journal is written the change is made, or,
        when a swap fails, rolled back (the error is raised and nothing has changed)."""
        if self.committed:
            return
        entries: list[dict[str, Any]] = []
        for staged in self._staged.values():
            for path in staged.written:
                _fsync_file(path)
            _fsync_dir(staged.stage)
            entries.append(
                {
                    "target": str(staged.target),
                    "stage": str(staged.stage),
                    "old": str(staged.old),
                    "id": _ident(staged.stage),
                }
            )
        if not entries:
            self.committed = True
            self._forget()
            return
        journal = self.journal_folder / f"{os.getpid()}-{secrets.token_hex(4)}{_JOURNAL_SUFFIX}"
        write_atomic(journal, json.dumps({"folders": entries}, indent=2) + "\n")
        self.committed = True  # the commit point: from here on, forward (or all the way back)
        try:
            _roll_forward(entries)
        except OSError:
            _roll_back(entries)  # raises when even that fails: the journal stays for recovery
            self.committed = False  # the staging folders hold the new content: __exit__ drops
            journal.unlink()
            raise
        journal.unlink()
        _fsync_dir(self.journal_folder)
        for entry in entries:
            _cleanup(entry)
        self._forget()


def _fsync_file(path: Path) -> None:
    with named(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lock(folder: Path) -> int | None:
    """An exclusive flock on the folder itself; None where folders cannot be locked (Windows:
    one writer at a time is then the user's care)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return None
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _roll_forward(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        target, stage, old = Path(entry["target"]), Path(entry["stage"]), Path(entry["old"])
        if _ident(target) == entry["id"]:
            continue  # swapped in already
        if _ident(stage) == entry["id"]:
            _swap_in(stage, target, old)


def _roll_back(entries: list[dict[str, Any]]) -> None:
    """Undo the swaps of a commit that cannot finish: every target gets its old content back
    and every staging path holds the new content (the caller removes it)."""
    for entry in reversed(entries):
        target, stage, old = Path(entry["target"]), Path(entry["stage"]), Path(entry["old"])
        if _ident(target) == entry["id"]:  # swapped in: swap back
            if os.path.lexists(stage):  # the exchange left the old content at the stage path
                if not _exchange(target, stage):
                    os.rename(stage, old)
                    os.rename(target, stage)
                    os.rename(old, target)
            else:
                os.rename(target, stage)
                if os.path.lexists(old):  # two renames: the old content waits aside
                    os.rename(old, target)
        elif not os.path.lexists(target) and os.path.lexists(old):
            os.rename(old, target)  # killed between the two renames: put the old one back
        _fsync_dir(target.parent)


def _cleanup(entry: dict[str, Any]) -> None:
    for key in ("stage", "old"):
        path = Path(entry[key])
        if _ident(path) != entry["id"]:  # never the new content
            with contextlib.suppress(OSError):
                _remove(path)


def _drop(entry: dict[str, Any]) -> None:
    """After a roll back: the staging path holds the new content, which goes."""
    for key in ("stage", "old"):
        path = Path(entry[key])
        if path != Path(entry["target"]) and _ident(path) == entry["id"]:
            with contextlib.suppress(OSError):
                _remove(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(reading.read_text(path, 16 * 1024 * 1024))
    except (reading.ReadRefused, ValueError):
        return None  # written atomically, so never half: not ours


def _recover(folder: Path) -> list[Path]:
    """Finish or undo every transaction of a dead process (the caller holds the lock): journals
    are rolled forward (or back, when forward fails), then staging folders that intents record
    are removed, then temp files. Returns the journals handled."""
    done: list[Path] = []
    if not folder.is_dir():
        return done
    for journal in sorted(folder.glob(f"*{_JOURNAL_SUFFIX}")):
        data = _read_json(journal)
        entries = data.get("folders", []) if isinstance(data, dict) else []
        entries = [
            e for e in entries if isinstance(e, dict) and {"target", "stage", "old", "id"} <= set(e)
        ]
        try:
            _roll_forward(entries)
        except OSError:
            _roll_back(entries)  # when this fails too, the error says which folder; retry later
            for entry in entries:
                _drop(entry)
        else:
            for entry in entries:
                _cleanup(entry)
        journal.unlink()
        done.append(journal)
    for intent in sorted(folder.glob(f"*{_INTENT_SUFFIX}")):
        data = _read_json(intent)
        stages = data.get("stages", []) if isinstance(data, dict) else []
        for stage in stages:
            if isinstance(stage, str) and _STRAY.match(Path(stage).name):
                with contextlib.suppress(OSError):
                    _remove(Path(stage))
        intent.unlink()
    sweep(folder)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # `.amlgen/` too, when nothing else lives there
    return done


def recover(project_dir: Path, folders: tuple[Path, ...] | list[Path] = ()) -> list[Path]:
    """Roll forward (or back) what a killed transaction of the project left, remove its staging
    folders, and remove dead writers' temp files in `folders`; the journals handled. Takes the
    lock only when there is a journal folder (a checkout that never crashed needs nothing, and
    a read-only one is left alone)."""
    for folder in folders:
        sweep(folder)
    journal_folder = journal_dir(project_dir)
    if not journal_folder.is_dir():
        return []
    fd = _lock(Path(project_dir))
    try:
        return _recover(journal_folder)
    finally:
        if fd is not None:
            os.close(fd)

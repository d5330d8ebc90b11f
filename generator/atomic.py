"""Crash-safe writes: one file (temp + fsync + rename) or whole folders (stage + swap + journal).

`write_atomic(path, data)`: the data goes to a temp file of a unique name in the same folder
(`.<name>.<pid>-<random>.amlgen-tmp`), is fsynced and renamed over the target, and the folder is
fsynced. Concurrent writers of one file never share a temp file: the last rename wins, whole.

`FolderTransaction`: several folders change as one, all old or all new, whenever the process
dies (SIGKILL included). Each changed folder is built as a sibling staging folder
(`.<name>.amlgen-stage-<pid>-<random>`: unchanged entries hard-linked, new files written and
fsynced); then a journal naming every (target, staging folder, staging folder's inode) is written
atomically, which is the commit point; then each staging folder is swapped in. On Linux the swap
is one `renameat2(RENAME_EXCHANGE)`, so the target path always holds a complete folder; elsewhere
it is two renames (target aside to `.<name>.amlgen-old-...`, staging folder in). The next
transaction (or `recover`) takes the same lock, rolls every journal forward (a target whose inode
is the staged one is done; otherwise the staging folder is swapped in), and removes staging
folders without a journal (rolled back), old folders and temp files whose process is gone.
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
from pathlib import Path
from types import TracebackType
from typing import Any

from .names import STATE_DIR

TMP_SUFFIX = ".amlgen-tmp"
_STRAY = re.compile(
    r"^\.(?P<name>.+?)\.(?:amlgen-(?:stage|old)-(?P<pid>\d+)-[0-9a-f]+"
    r"|(?P<tpid>\d+)-[0-9a-f]+\.amlgen-tmp|amlgen-tmp)$"
)
_JOURNAL_SUFFIX = ".journal.json"


def journal_dir(project_dir: Path) -> Path:
    """Where a project's folder transactions keep their lock and journals (git-ignored)."""
    return Path(project_dir) / STATE_DIR / ".txn"


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
    """Whether writer `pid` still runs. With `since` (when its file or folder last changed), a
    process of that pid that started later is another one: pids are reused, within minutes on
    a busy machine, and a dead writer's leftovers must not be kept for a stranger."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    started = _started_at(pid) if since is not None else None
    # The slack absorbs the start time's rounding (btime is whole seconds) and small clock steps.
    return started is None or since is None or started <= since + _START_SLACK_SECONDS


_START_SLACK_SECONDS = 2.0


def _started_at(pid: int) -> float | None:
    """When process `pid` started, on the wall clock (Linux /proc; None elsewhere)."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
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
            changed: float | None = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            changed = None
        if pid is not None and _alive(int(pid), changed):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            _remove(path)
            removed.append(path)
    return removed


def _create(path: Path, data: bytes) -> None:
    """Write a new file (umask permissions, as open() gives) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


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
    entry to exit: transactions of one project run one after another. The journal folder
    (`.amlgen/.txn/`) exists only while a commit is under way or a killed one awaits recovery.
    """

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir)
        self.journal_folder = journal_dir(self.project_dir)
        self._staged: dict[Path, _Staged] = {}
        self._lock_fd: int | None = None
        self.committed = False

    # -- the lock and recovery

    def __enter__(self) -> FolderTransaction:
        self._lock_fd = _lock(self.project_dir)
        _recover(self.journal_folder)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                for staged in self._staged.values():
                    _remove(staged.stage)
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the lock
                self._lock_fd = None

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
        for other in self._staged:
            if target.is_relative_to(other) or other.is_relative_to(target):
                # the outer folder's swap would bring the inner one's old content back
                raise ValueError(f"{target} and {other}: nested folders in one transaction")
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep(target.parent, target.name)
        if target.is_dir():
            sweep(target)
        while True:
            token = secrets.token_hex(4)
            stage = target.with_name(f".{target.name}.amlgen-stage-{os.getpid()}-{token}")
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
        """Swap every staged folder in; after the journal is written, nothing can undo it."""
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
            return
        made = [p for p in (self.journal_folder.parent, self.journal_folder) if not p.exists()]
        journal = self.journal_folder / f"{os.getpid()}-{secrets.token_hex(4)}{_JOURNAL_SUFFIX}"
        write_atomic(journal, json.dumps({"folders": entries}, indent=2) + "\n")
        self.committed = True  # the commit point: from here on, forward only
        _roll_forward(entries)
        journal.unlink()
        _fsync_dir(self.journal_folder)
        for entry in entries:
            _cleanup(entry)
        for folder in reversed(made):  # a render leaves no `.amlgen/` behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def _fsync_file(path: Path) -> None:
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


def _cleanup(entry: dict[str, Any]) -> None:
    for key in ("stage", "old"):
        path = Path(entry[key])
        if _ident(path) != entry["id"]:  # never the new content
            with contextlib.suppress(OSError):
                _remove(path)


def _recover(folder: Path) -> list[Path]:
    """Finish every journaled transaction of a dead process (the caller holds the lock)."""
    done: list[Path] = []
    if not folder.is_dir():
        return done
    for journal in sorted(folder.glob(f"*{_JOURNAL_SUFFIX}")):
        try:
            entries = json.loads(journal.read_text(encoding="utf-8"))["folders"]
        except (OSError, ValueError, KeyError, TypeError):
            entries = []  # written atomically, so never half: not ours
        _roll_forward(entries)
        for entry in entries:
            _cleanup(entry)
        journal.unlink()
        done.append(journal)
    sweep(folder)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
    return done


def recover(project_dir: Path) -> list[Path]:
    """Roll forward what a killed transaction of the project committed; the journals handled.
    Takes the lock only when there is a journal folder (a checkout that never crashed needs
    nothing, and a read-only one is left alone)."""
    journal_folder = journal_dir(project_dir)
    if not journal_folder.is_dir():
        return []
    fd = _lock(Path(project_dir))
    try:
        return _recover(journal_folder)
    finally:
        if fd is not None:
            os.close(fd)

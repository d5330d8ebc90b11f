"""Bounded reads: the one way amlgen opens a file it did not just write itself.

Every file amlgen reads (params, YAML assets, the registry lock, state, manifests, the data files
`validate` inspects, a DeepSpeed config, a request file) may be anything a careless or hostile
user points at: a FIFO that never answers, a device that never ends, a symlink loop, a 10 GB file
without a newline. So a read here
- opens without blocking (`O_NONBLOCK`, then `fstat` on the open file: what is checked is what
  is read) and refuses anything but a regular file,
- refuses a file over the caller's size budget before reading it, and never reads past it,
- reads lines in bounded pieces: a line longer than the budget is refused after reading at most
  the budget, whatever the file's size,
- says what went wrong in one line (`ReadRefused`), echoing at most a short prefix of any value
  (`clip`).
Pseudo file systems (/proc, /sys, /dev) are refused as folders to walk (`check_walkable`): their
files lie about their sizes and some block or never end.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import AmlgenError

MIB = 1024 * 1024
CHUNK = 64 * 1024
CLIP = 60  # characters of a user's value an error message echoes
# Folders whose files are not files: kernel and device views. Walking them reads forever.
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")


class ReadRefused(AmlgenError):
    """A file amlgen will not read (or could not): `where: reason`, one line.

    `code` is a stable tag for validators: missing, unreadable (not a regular file, a loop,
    permissions, not UTF-8) or limit (too large, a line too long)."""

    def __init__(self, where: str, reason: str, code: str) -> None:
        self.where, self.reason, self.code = where, reason, code
        super().__init__(f"{where}: {reason}")


def clip(value: object, limit: int = CLIP) -> str:
    """`repr(value)` cut to a short prefix: error messages never echo a value unbounded."""
    if isinstance(value, str | bytes) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # repr of a huge value would cost its whole size first
    try:
        text = repr(value)
    except ValueError:  # an integer of thousands of digits
        return "a number too large to print"
    return text if len(text) <= limit else f"{text[:limit]}... ({_size(value)})"


def shown_text(text: str, limit: int = 4 * CLIP) -> str:
    """A name or path as typed when it is printable and not absurdly long, else clipped."""
    return text if len(text) <= limit and text.isprintable() else clip(text, limit)


def _size(value: object) -> str:
    if isinstance(value, str | bytes | list | dict | tuple):
        return f"{type(value).__name__}, cut"
    return "cut"


def _refuse(where: str, exc: OSError) -> ReadRefused:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return ReadRefused(where, "file not found", "missing")
    if exc.errno == errno.ELOOP:
        return ReadRefused(where, "symlink loop: refused", "unreadable")
    return ReadRefused(where, f"cannot read: {exc.strerror}", "unreadable")


def in_pseudo_fs(path: Path | str) -> bool:
    """True for a path in /proc, /sys or /dev (after resolving symlinks)."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return any(real == root or real.startswith(root + os.sep) for root in PSEUDO_ROOTS)


def check_walkable(path: Path | str, where: str | None = None) -> None:
    """A folder amlgen may walk for files: not a kernel or device view."""
    if in_pseudo_fs(path):
        raise ReadRefused(
            where or str(path),
            "a kernel or device folder (/proc, /sys, /dev), not files to read: refused",
            "unreadable",
        )


def kind_of(path: Path | str) -> str | None:
    """'file', 'folder', 'other' (FIFO, device, socket), 'loop', or None when nothing is there.
    Never opens, so it never blocks; never raises."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return "loop" if exc.errno == errno.ELOOP else None
    except ValueError:  # a NUL in the name
        return None
    if stat.S_ISREG(info.st_mode):
        return "file"
    return "folder" if stat.S_ISDIR(info.st_mode) else "other"


@contextlib.contextmanager
def open_regular(
    path: Path | str, max_bytes: int | None, where: str | None = None
) -> Iterator[BinaryIO]:
    """The file, opened for binary reading, if it is a regular file within `max_bytes`."""
    name = where or str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise _refuse(name, exc) from None
    except ValueError:
        raise ReadRefused(name, "a NUL character in the file name: refused", "unreadable") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
            raise ReadRefused(name, f"not a regular file ({what}): refused", "unreadable")
        if max_bytes is not None and info.st_size > max_bytes:
            raise ReadRefused(
                name,
                f"larger than {_budget(max_bytes)} ({info.st_size:,} bytes): refused",
                "limit",
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        try:
            yield fh
        except OSError as exc:
            raise _refuse(name, exc) from None


def _budget(max_bytes: int) -> str:
    return f"{max_bytes / MIB:g} MiB" if max_bytes >= MIB else f"{max_bytes:,} bytes"


def read_bytes(path: Path | str, max_bytes: int, where: str | None = None) -> bytes:
    """A regular file's bytes, refused beyond `max_bytes` (never reading more than that + 1)."""
    name = where or str(path)
    with open_regular(path, max_bytes, name) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise ReadRefused(name, f"larger than {_budget(max_bytes)}: refused", "limit")
    return data


def read_text(path: Path | str, max_bytes: int, where: str | None = None) -> str:
    """A regular file's UTF-8 text within `max_bytes`."""
    name = where or str(path)
    raw = read_bytes(path, max_bytes, name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        why = f"not UTF-8 text (byte {exc.start}): refused"
        raise ReadRefused(name, why, "unreadable") from None


def current_text(path: Path | str, max_bytes: int, where: str | None = None) -> str | None:
    """What a file amlgen manages holds now, to compare with what it would write: None when
    there is nothing; at most `max_bytes` + 1 bytes, decoded with replacement (a larger or
    non-UTF-8 file then differs from anything amlgen writes and is replaced or reported).
    A FIFO, device or symlink loop in its place is refused."""
    name = where or str(path)
    try:
        with open_regular(path, None, name) as fh:
            return fh.read(max_bytes + 1).decode("utf-8", errors="replace")
    except ReadRefused as exc:
        if exc.code == "missing":
            return None
        raise


def head(path: Path | str, size: int) -> bytes:
    """The first `size` bytes of a regular file; b"" for anything else (never blocks)."""
    try:
        with open_regular(path, None) as fh:
            return fh.read(size)
    except ReadRefused:
        return b""


def lines(fh: BinaryIO, max_line: int, where: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its end) read in pieces of at most `max_line` + 1 bytes: a
    line longer than `max_line` is refused, so memory stays bounded whatever the file holds."""
    number = 0
    while True:
        line = fh.readline(max_line + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line and not line.endswith(b"\n"):
            raise ReadRefused(
                f"{where}:{number}",
                f"a line longer than {_budget(max_line)}: refused",
                "limit",
            )
        yield number, line.rstrip(b"\r\n")

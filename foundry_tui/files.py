"""Files written so that a reader, a crash or Ctrl-C never sees half of one, with the permissions the umask asks for.

`write_atomic` replaces a whole file (results.json, the catalog); `open_append` + `append_line` grow a log one line
at a time (the benchmark journal), each line one write(2) on an O_APPEND descriptor.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path

_umask_lock = threading.Lock()
_umask_cached: int | None = None


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows.

    os.umask can only be read by setting it, and a file another thread creates in between would get the
    temporary mask; Linux shows it in /proc/self/status ("Umask:", since 4.7), so it is read there on every call.
    Elsewhere (and on older kernels) it is read once by set-and-restore, under a lock, and cached."""
    global _umask_cached
    if sys.platform.startswith("linux"):
        with (
            contextlib.suppress(OSError, ValueError),
            open("/proc/self/status", encoding="ascii", errors="replace") as fh,
        ):
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split(":", 1)[1].strip(), 8)
    with _umask_lock:
        if _umask_cached is None:
            _umask_cached = os.umask(0o022)
            os.umask(_umask_cached)
        return _umask_cached


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, fsync, then os.replace: readers see the old or the new file.

    The file gets mode 0o666 & ~umask, as open() would give a new file (mkstemp alone gives 0o600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mode = 0o666 & ~current_umask()
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        else:  # pragma: no cover - Windows before 3.13: only the read-only bit means anything there
            os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_append(path: Path) -> int:
    """A write-only O_APPEND descriptor on `path` (created with 0o666 & ~umask: the kernel applies the umask);
    the caller closes it. Every write lands at the end of the file, whatever else has the file open."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    return os.open(path, flags, 0o666)


def append_line(fd: int, text: str) -> None:
    """`text` + "\\n" appended to `fd` (from `open_append`) in one os.write.

    One write(2) on an O_APPEND descriptor puts the whole line at the end of the file, never interleaved with
    another writer's line. There is no user-space buffer: once os.write returns, the line is in the kernel's page
    cache and survives the process being killed (SIGKILL, a crash, the OOM killer); only a power cut or a kernel
    crash can lose it, which fsync would guard against at a cost per line that a benchmark should not pay. A
    short write (disk full mid-line) is finished by further writes; the caller serializes its writers so that
    such a rest cannot interleave either. OSError propagates (ENOSPC, EIO, EBADF)."""
    data = (text + "\n").encode("utf-8")
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


def dir_size_bytes(path: str | Path) -> int | None:
    """Bytes in the regular files under `path` (symlinks not followed); None when it cannot be listed. A file that
    vanishes mid-walk (a download finishing, a cache being cleaned) is skipped, not an error."""
    total = 0
    try:
        items = list(Path(path).rglob("*"))
    except OSError:
        return None
    for item in items:
        with contextlib.suppress(OSError):
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
    return total


__all__ = ["append_line", "current_umask", "dir_size_bytes", "open_append", "write_atomic"]

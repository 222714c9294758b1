"""Files written so that a reader, a crash or Ctrl-C never sees half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, fsync, then os.replace: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


__all__ = ["dir_size_bytes", "write_atomic"]

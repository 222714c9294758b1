"""The runtime's own log file, read for what its exceptions leave out (why a catalog fetch failed, which URL a
download was on). The native logger writes asynchronously, to `<data_dir>/logs/foundry_local_<date>.log`."""

from __future__ import annotations

import re
import time
from pathlib import Path

from foundry_tui.backends.foundry_errors import strip_native_prefix
from foundry_tui.errors import one_line

_CATALOG_FAILURE = re.compile(r"failed to fetch catalog from (?P<url>\S+?):\s(?P<rest>.*)")
_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def log_lines_since(logs_dir: Path, since: float) -> list[str]:
    """The runtime's log lines (of its newest log file's last 64 KiB) stamped at or after `since` - 1 s."""
    try:
        files = sorted(logs_dir.glob("foundry_local_*.log"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []
    if not files:
        return []
    try:
        with files[-1].open("rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 65536))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    cutoff = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since - 1))
    kept: list[str] = []
    for line in reversed(lines):
        stamp = _LOG_TIME.match(line)
        if stamp and stamp.group(1) < cutoff:
            break
        kept.append(line)
    return kept[::-1]


def catalog_failure_from_logs(logs_dir: Path, since: float) -> str | None:
    """The runtime's last 'failed to fetch catalog' log line written after `since`, as a short reason."""
    for line in reversed(log_lines_since(logs_dir, since)):
        match = _CATALOG_FAILURE.search(line)
        if not match:
            continue
        rest = strip_native_prefix(match.group("rest"))
        # "… operation failed after 4 attempts: transport failure: transport error: <the actual cause>"
        cause = rest.rsplit("transport error: ", 1)[-1] if "transport error: " in rest else rest
        return one_line(f"cannot reach {match.group('url')}: {cause}", 300)
    return None


__all__ = ["catalog_failure_from_logs", "log_lines_since"]

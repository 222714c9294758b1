"""Keep the Foundry Local runtime's native log lines off the terminal.

The runtime writes coloured `[warning] …` lines straight to file descriptor 2, below Python. A TUI drawing on the
terminal, or a CLI whose stderr a script reads, must never see them. So fd 2 is pointed at a log file, and
Python's `sys.stderr` / `sys.__stderr__` (which Textual draws through) are rebound to a duplicate of the
original terminal descriptor.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

_redirected_to: Path | None = None


def redirect_native_stderr(log_file: Path) -> Path:
    """Send fd 2 to `log_file` (appending); Python-level stderr keeps the terminal. Idempotent."""
    global _redirected_to
    if _redirected_to is not None:
        return _redirected_to
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    stream = open(terminal_fd, "w", buffering=1, encoding=encoding, errors="backslashreplace")  # noqa: SIM115
    sys.stderr = stream
    sys.__stderr__ = stream  # type: ignore[misc]
    _redirected_to = log_file
    route_sdk_logger(log_file)
    return log_file


def route_sdk_logger(log_file: Path) -> None:
    """The SDK's Python logger prints to *stdout* with its own handler; send it to our log file instead."""
    logger = logging.getLogger("foundry_local_sdk")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s] [python:%(levelname)s] %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False


def redirected_log_file() -> Path | None:
    return _redirected_to

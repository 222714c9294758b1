"""Error types with one-line, user-facing messages.

Everything the user can get wrong or the runtime can refuse ends up as one of these; the CLI prints
`foundry-tui: <message>` and exits with `exit_code`, never a traceback.
"""

from __future__ import annotations

from foundry_tui.text import safe_line


class FoundryTuiError(Exception):
    """Base class: `str(err)` is a complete one-line message for the user."""

    exit_code = 1


class BadInputError(FoundryTuiError):
    """A flag, file, path or id the user gave is wrong (exit code 2)."""

    exit_code = 2


class ModelNotFoundError(BadInputError):
    """No model with that alias or id is known to the backend."""


class NotSupportedError(FoundryTuiError):
    """The backend cannot do this (e.g. management actions on a plain OpenAI endpoint)."""


class BackendError(FoundryTuiError):
    """The runtime or the server failed an operation. `kind` says what class of failure it was."""

    def __init__(self, message: str, kind: str = "internal") -> None:
        super().__init__(message)
        self.kind = kind


class CancelledError(BackendError):
    """The user cancelled the operation (download, stream)."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message, kind="cancelled")


def one_line(text: str, limit: int = 400) -> str:
    """A message from a server or the runtime as one printable line (controls escaped, whitespace collapsed)."""
    return safe_line(text, limit)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread by a command that handles it (bench): stops the work as Ctrl-C does;
    the CLI exits 143."""

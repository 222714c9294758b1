"""The chat's prompt history, walked like a shell's: Up recalls older prompts, Down comes back to the draft.

In memory, capped. `read_history` / `write_history` keep it in a file (`<data_dir>/chat_history`: JSON lines, newest
last) so that prompts survive a restart; the TUI calls them on worker threads. The file is rewritten atomically (a
temporary file, fsync, then `os.replace`), so a crash never leaves half a history; an unreadable file is treated as
empty, never as an error.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from foundry_tui.files import write_atomic

MAX_ENTRIES = 200
MAX_CHARS = 4000  # a pasted document is not worth recalling whole


def read_history(path: Path, *, limit: int = MAX_ENTRIES) -> list[str]:
    """The prompts in the file, oldest first; a missing or damaged file gives an empty history."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    entries: list[str] = []
    for line in lines:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, str) and value.strip():
            entries.append(value)
    return entries[-limit:]


def write_history(path: Path, entries: list[str]) -> None:
    """Write the file atomically; a failure (read-only disk) loses only the history, never the chat."""
    with contextlib.suppress(OSError):
        write_atomic(path, "".join(json.dumps(entry) + "\n" for entry in entries))


class PromptHistory:
    def __init__(self, *, limit: int = MAX_ENTRIES) -> None:
        self.limit = limit
        self.entries: list[str] = []  # oldest first
        self._cursor: int | None = None  # index into entries while walking; None: at the draft
        self._draft = ""

    def restore(self, earlier: list[str]) -> None:
        """Put prompts of earlier runs before the ones sent since (they arrive from a worker after start-up)."""
        self.entries = [*earlier, *self.entries][-self.limit :]
        self.reset()

    # -- recording and walking ---------------------------------------------------------------------------------

    def add(self, prompt: str) -> bool:
        """Remember a sent prompt (a repeat of the newest one is kept once) and go back to an empty draft; True
        when the history changed (then it is worth saving)."""
        self.reset()
        if not prompt.strip() or len(prompt) > MAX_CHARS:
            return False
        if self.entries and self.entries[-1] == prompt:
            return False
        self.entries = [*self.entries, prompt][-self.limit :]
        return True

    def reset(self) -> None:
        self._cursor = None
        self._draft = ""

    @property
    def walking(self) -> bool:
        return self._cursor is not None

    def older(self, current: str) -> str | None:
        """The prompt before the one shown (None at the oldest); `current` is kept as the draft on the first step."""
        if not self.entries:
            return None
        if self._cursor is None:
            self._draft = current
            self._cursor = len(self.entries)
        if self._cursor == 0:
            return None
        self._cursor -= 1
        return self.entries[self._cursor]

    def newer(self) -> str | None:
        """The prompt after the one shown, then the draft; None when already at the draft."""
        if self._cursor is None:
            return None
        self._cursor += 1
        if self._cursor >= len(self.entries):
            draft = self._draft
            self.reset()
            return draft
        return self.entries[self._cursor]


__all__ = ["MAX_CHARS", "MAX_ENTRIES", "PromptHistory", "read_history", "write_history"]

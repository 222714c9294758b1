"""The chat's prompt history, walked like a shell's: Up recalls older prompts, Down comes back to the draft.

In memory, capped, with an optional file (`<data_dir>/chat_history`: JSON lines, newest last) so that prompts
survive a restart. The file is rewritten atomically (a temporary file, then `os.replace`), so a crash never leaves
half a history; an unreadable file is treated as empty, never as an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

MAX_ENTRIES = 200
MAX_CHARS = 4000  # a pasted document is not worth recalling whole


class PromptHistory:
    def __init__(self, path: Path | None = None, *, limit: int = MAX_ENTRIES) -> None:
        self.path = path
        self.limit = limit
        self.entries: list[str] = []  # oldest first
        self._cursor: int | None = None  # index into entries while walking; None: at the draft
        self._draft = ""

    # -- persistence -------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the file (when there is one); a missing or damaged file gives an empty history."""
        if self.path is None:
            return
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return
        entries: list[str] = []
        for line in lines:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, str) and value.strip():
                entries.append(value)
        self.entries = entries[-self.limit :]

    def save(self) -> None:
        """Write the file atomically; a failure (read-only disk) loses only the history, never the chat."""
        if self.path is None:
            return
        text = "".join(json.dumps(entry) + "\n" for entry in self.entries)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".chat_history.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass

    # -- recording and walking ---------------------------------------------------------------------------------

    def add(self, prompt: str) -> None:
        """Remember a sent prompt (a repeat of the newest one is kept once) and go back to an empty draft."""
        self.reset()
        if not prompt.strip() or len(prompt) > MAX_CHARS:
            return
        if self.entries and self.entries[-1] == prompt:
            return
        self.entries = [*self.entries, prompt][-self.limit :]
        self.save()

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


__all__ = ["MAX_CHARS", "MAX_ENTRIES", "PromptHistory"]

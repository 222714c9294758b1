"""The chat's message input with a shell-like history: Up recalls the previous prompt, Down walks back to the draft.

The input is one line, so Up and Down have no other use in it. The history itself (engine.prompt_history) is plain
data; this widget only moves its entries in and out of the field.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from foundry_tui.engine.prompt_history import PromptHistory


class PromptInput(Input):
    BINDINGS = [
        Binding("up", "history_older", "Previous prompt", show=False),
        Binding("down", "history_newer", "Next prompt", show=False),
    ]

    def __init__(self, history: PromptHistory, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id, compact=True)
        self.history = history

    def remember(self, prompt: str) -> bool:
        """A prompt was sent: it becomes the newest entry and the field is a fresh draft again (True: the history
        changed)."""
        return self.history.add(prompt)

    def action_history_older(self) -> None:
        recalled = self.history.older(self.value)
        if recalled is not None:
            self._show(recalled)

    def action_history_newer(self) -> None:
        recalled = self.history.newer()
        if recalled is not None:
            self._show(recalled)

    def _show(self, text: str) -> None:
        self.value = text
        self.cursor_position = len(text)


__all__ = ["PromptInput"]

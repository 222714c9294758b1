"""What every pane repeats: which tab it is, where the keyboard goes when it is shown, its status line, and telling
the app which model is highlighted in it.

A pane is a view: it renders the data messages the app posts to it and posts intents (tui.messages) up. It never
calls the engine session and never reaches into the app or another pane.
"""

from __future__ import annotations

from typing import ClassVar

from textual.widget import Widget
from textual.widgets import Static, Tabs

from foundry_tui.tui.messages import ModelSelected
from foundry_tui.tui.widgets.literal import literal

_UNSET = object()


class Pane(Widget):
    TAB: ClassVar[str] = ""  # the id of the TabPane that holds it ("catalog", "chat", …)
    STATUS: ClassVar[str | None] = None  # selector of its one-line status Static, if it has one

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._posted_model: object = _UNSET

    def focus_target(self) -> Widget | None:
        """The widget that gets the keyboard when the pane is shown (None: the pane itself, if focusable)."""
        return None

    def on_show(self) -> None:
        """Arriving on the tab puts the keyboard in the pane, so its keys work at once — unless the user is on the
        tab bar (browsing tabs with the arrows) or already inside the pane."""
        focused = self.app.focused
        if focused is not None and isinstance(focused, Tabs):
            return
        self.focus_pane()

    def focus_pane(self) -> None:
        """Put the keyboard in the pane (its `focus_target`) unless it is already inside it. The app calls this when
        a key or a command chose the tab (1–5, the palette), the tab bar included."""
        focused = self.app.focused
        if focused is not None and (focused is self or self in focused.ancestors):
            return
        target = self.focus_target() or (self if self.can_focus else None)
        if target is not None:
            self.call_after_refresh(target.focus)

    def set_status(self, text: str) -> None:
        """Repaint the one-line status (fixed height: no relayout of the screen, it may change 10 times a second)."""
        if self.STATUS is not None:
            self.query_one(self.STATUS, Static).update(literal(text), layout=False)

    def select_model(self, model_id: str | None) -> None:
        """Tell the app which model `l` / `u` act on while this pane is visible (only when it changed)."""
        if model_id != self._posted_model:
            self._posted_model = model_id
            self.post_message(ModelSelected(model_id, self.TAB))


__all__ = ["Pane"]

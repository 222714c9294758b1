"""What every pane repeats: which tab it is, where the keyboard goes when it is shown, its status line, and telling
the app which model is highlighted in it.

The focus model (README "Keys", the `?` help): choosing a tab (1–5, alt+1…5, the palette) puts the keyboard on the
pane's primary widget; inside a text input every key is text, alt+1…5 still switch tabs and Esc leaves the input for
the pane's next widget (its table, list or transcript), where the pane's and the app's single keys work again.

A pane is a view: it renders the data messages the app posts to it and posts intents (tui.messages) up. It never
calls the engine session and never reaches into the app or another pane.
"""

from __future__ import annotations

from typing import ClassVar

from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Static, Tabs, TextArea

from foundry_tui.tui.messages import ModelSelected
from foundry_tui.tui.widgets.literal import literal

_UNSET = object()

FOCUS_HELP = """
**Keys.** 1–5 (F2–F6 from anywhere): a tab, keyboard on its main widget. In a text box keys are text: Esc
leaves it.
"""


def is_text_input(widget: Widget | None) -> bool:
    """Widgets where every printable key is text (the app's single-key bindings must not fire there)."""
    return isinstance(widget, Input | TextArea)


class Pane(Widget):
    TAB: ClassVar[str] = ""  # the id of the TabPane that holds it ("catalog", "chat", …)
    STATUS: ClassVar[str | None] = None  # selector of its one-line status Static, if it has one

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._posted_model: object = _UNSET

    HELP = FOCUS_HELP

    def focus_target(self) -> Widget | None:
        """The widget that gets the keyboard when the pane is shown (None: the pane itself, if focusable)."""
        return None

    def leave_target(self) -> Widget | None:
        """Where Esc from a text input goes: the primary widget when it is not itself a text input, else the first
        focusable widget of the pane that is not one."""
        primary = self.focus_target()
        if primary is not None and not is_text_input(primary) and primary.focusable:
            return primary
        for widget in self.query("*").results(Widget):
            if widget.focusable and not is_text_input(widget):
                return widget
        return self if self.focusable else None

    def on_show(self) -> None:
        """Arriving on the tab puts the keyboard in the pane, so its keys work at once — unless the user is on the
        tab bar (browsing tabs with the arrows) or already inside the pane. (A tab key or command focuses the
        primary widget itself: the app's `_focus_pane`.)"""
        focused = self.app.focused
        if focused is not None and (isinstance(focused, Tabs) or focused is self or self in focused.ancestors):
            return
        target = self.focus_target() or (self if self.can_focus else None)
        if target is not None:
            self.call_after_refresh(self._focus_if_still_shown, target)

    def _focus_if_still_shown(self, target: Widget) -> None:
        """Focusing a widget in a hidden tab makes TabbedContent show that tab again: when the user moved on to
        another tab before this callback ran, leave the keyboard where it is."""
        for node in self.ancestors:
            if isinstance(node, ContentSwitcher) and node.current != self.TAB:
                return
        target.focus()

    def set_status(self, text: str) -> None:
        """Repaint the one-line status (fixed height: no relayout of the screen, it may change 10 times a second)."""
        if self.STATUS is not None:
            self.query_one(self.STATUS, Static).update(literal(text), layout=False)

    def select_model(self, model_id: str | None) -> None:
        """Tell the app which model `l` / `u` act on while this pane is visible (only when it changed)."""
        if model_id != self._posted_model:
            self._posted_model = model_id
            self.post_message(ModelSelected(model_id, self.TAB))


__all__ = ["FOCUS_HELP", "Pane", "is_text_input"]

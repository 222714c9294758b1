"""A yes/no confirmation dialog: `push_screen(ConfirmScreen(...), callback)` gets True (y) or False (n, Esc).

The message is rendered literally: it usually names a model, and model ids come from a catalog or a server.
It fits 80×24: 76 columns at most, and it grows with its message up to the screen's height (then it scrolls).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from foundry_tui.tui.widgets.literal import literal


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > #dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        padding: 1 2;
        border: thick $warning 70%;
        background: $surface;
    }
    ConfirmScreen #confirm-title {
        text-style: bold;
        color: $text;
    }
    ConfirmScreen #confirm-message {
        margin: 1 0;
    }
    ConfirmScreen #confirm-buttons {
        height: auto;
        align-horizontal: right;
    }
    ConfirmScreen Button {
        margin: 0 0 0 2;
    }
    """

    BINDINGS = [
        Binding("y", "confirm", "Yes"),
        Binding("n,escape", "cancel", "No"),
    ]

    def __init__(self, message: str, *, title: str = "Are you sure?", confirm_label: str = "Yes") -> None:
        super().__init__()
        self.message = message
        self.title_text = title
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(literal(self.title_text), id="confirm-title")
            yield Static(literal(self.message), id="confirm-message")
            with Horizontal(id="confirm-buttons"):
                yield Button(literal(f"{self.confirm_label} (y)"), id="confirm-yes", variant="error", compact=True)
                yield Button("Cancel (n)", id="confirm-no", variant="primary", compact=True)

    def on_mount(self) -> None:
        # The safe choice has the focus: Enter on a fresh dialog does nothing destructive.
        self.query_one("#confirm-no", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)


__all__ = ["ConfirmScreen"]

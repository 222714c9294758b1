"""Untrusted text for Textual: no markup parsing, control characters made visible."""

from __future__ import annotations

from textual.content import Content

from foundry_tui.text import escape_controls


def literal(text: str) -> Content:
    """A Content that shows `text` exactly: `[bold]` stays brackets, ESC becomes `\\x1b`."""
    return Content(escape_controls(text))

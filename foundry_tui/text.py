"""Untrusted text (model output, server error bodies) made safe to print on a terminal.

Control characters are shown as visible escapes instead of being obeyed: a model that emits `\\x1b[2J` must not
clear the user's screen, and an OSC sequence must not retitle the window or plant a hyperlink.
"""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, and C1 controls (0x80-0x9f; 0x9b is a one-byte CSI on some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """Replace terminal control characters with visible `\\xNN` escapes; keep newlines and tabs."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def safe_line(text: str, limit: int = 400) -> str:
    """One printable line: controls escaped, whitespace runs collapsed, long text cut with an ellipsis."""
    flat = " ".join(escape_controls(str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

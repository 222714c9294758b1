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


# Whole terminal sequences, so that no parameter text is left behind: CSI (ESC [ or the one-byte 0x9b) up to its
# final byte, OSC / DCS / APC / PM / SOS strings (ESC ] P _ ^ X or 0x9d 0x90 0x9f 0x9e 0x98) up to BEL or the
# string terminator, and two-byte ESC sequences (ESC 7, ESC c …).
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|(?:\x1b[\]P_^X]|[\x9d\x90\x9f\x9e\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]"
)


def strip_controls(text: str) -> str:
    """Text fit for the clipboard or a file: escape sequences and every other control character removed (C0 except
    newline and tab, DEL, C1); `\\r\\n` becomes `\\n`. Printable text, newlines and tabs are kept as they were."""
    return _CONTROL.sub("", _SEQUENCE.sub("", text.replace("\r\n", "\n")))


def middle_ellipsis(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut in the middle so both ends stay readable:
    `smollm2-135m-ins…-generic-cpu:1`. Meant for ids and paths (one character per cell)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2  # the tail (device and version) gets the odd character
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]

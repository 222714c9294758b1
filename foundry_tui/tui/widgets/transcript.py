"""The chat transcript: one scrollable widget that draws only the lines on screen (Textual's line API).

Streaming appends re-wrap only the last wrapped line of the reply, so a 100 KB reply at thousands of tokens a
second costs the same per update as a short one, and no screen-wide relayout happens. Text is untrusted: it is
stored with control characters escaped and drawn as plain segments (no markup is ever parsed).

Each turn says who wrote it: `you › …` for the user, and a `model ›` line above each reply naming the model (cut
in the middle when the id is wider than the transcript, so its device and version stay visible).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rich.cells import get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from foundry_tui.text import escape_controls, middle_ellipsis

Kind = Literal["user", "model", "assistant", "stats", "error", "note"]
INDENT = {"user": "", "model": "", "assistant": "  ", "stats": "  ", "error": "  ", "note": ""}
STYLED = ("user", "model", "stats", "error", "note")
PREFIX = {"user": "you › ", "model": "", "assistant": "", "stats": "", "error": "error: ", "note": ""}
MODEL_SUFFIX = " ›"


def wrap_offsets(text: str, width: int) -> list[tuple[int, str]]:
    """Greedy word wrap by terminal cells: (start offset, line) pairs. Newlines end lines; long words break."""
    width = max(width, 1)
    out: list[tuple[int, str]] = []
    start = 0
    while True:
        end = text.find("\n", start)
        para_end = len(text) if end < 0 else end
        i = start
        if i == para_end:
            out.append((i, ""))
        while i < para_end:
            j, cells, last_space = i, 0, -1
            while j < para_end:
                size = get_character_cell_size(text[j])
                if cells + size > width:
                    break
                if text[j] == " ":
                    last_space = j
                cells += size
                j += 1
            if j >= para_end:
                out.append((i, text[i:para_end]))
                i = para_end
            elif last_space > i:
                out.append((i, text[i:last_space]))
                i = last_space + 1
            else:
                out.append((i, text[i:j]))
                i = j
        if end < 0:
            return out
        start = end + 1


@dataclass
class Entry:
    kind: Kind
    text: str = ""  # escaped, prefix included
    lines: list[tuple[int, str]] = field(default_factory=list)


class TranscriptView(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "transcript--user",
        "transcript--model",
        "transcript--stats",
        "transcript--error",
        "transcript--note",
    }
    DEFAULT_CSS = """
    TranscriptView { height: 1fr; overflow-x: hidden; overflow-y: scroll; }
    TranscriptView > .transcript--user { color: $accent; text-style: bold; }
    TranscriptView > .transcript--model { color: $text-secondary; text-style: bold; }
    TranscriptView > .transcript--stats { color: $text-muted; }
    TranscriptView > .transcript--error { color: $error; }
    TranscriptView > .transcript--note { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[Entry] = []
        self._flat: list[tuple[Kind, str]] = []  # every drawn line, spacers included
        self._wrap_width = 0
        self._base_style = Style()
        self._styles: dict[str, Style] = {}
        self._strips: dict[int, Strip] = {}  # flat line index → drawn strip, for the current width and styles

    # -- content -------------------------------------------------------------------------------------------

    def add(self, kind: Kind, text: str = "") -> None:
        """Start a new entry; a user turn gets a blank line above it."""
        if kind == "user" and self._flat:
            self._flat.append(("note", ""))
        entry = Entry(kind, PREFIX[kind] + escape_controls(text.expandtabs(4)))
        self.entries.append(entry)
        self._wrap_entry(entry, full=True)
        self._flat.extend((kind, line) for _, line in entry.lines)
        self._changed()

    def append(self, text: str) -> None:
        """Add streamed text to the last entry."""
        if not text or not self.entries:
            return
        entry = self.entries[-1]
        old_count = len(entry.lines)
        entry.text += escape_controls(text.expandtabs(4))
        kept = self._wrap_entry(entry, full=False)
        del self._flat[len(self._flat) - (old_count - kept) :]
        self._forget_strips_from(len(self._flat))
        self._flat.extend((entry.kind, line) for _, line in entry.lines[kept:])
        self._changed()

    def remove_last_if_empty(self) -> None:
        if self.entries and not self.entries[-1].text:
            entry = self.entries.pop()
            del self._flat[len(self._flat) - len(entry.lines) :]
            self._forget_strips_from(len(self._flat))
            self._changed()

    def clear(self) -> None:
        self.entries.clear()
        self._flat.clear()
        self._strips.clear()
        self._changed()

    def last_text(self, kind: Kind) -> str:
        entry = next((e for e in reversed(self.entries) if e.kind == kind), None)
        return "" if entry is None else entry.text[len(PREFIX[kind]) :]

    @property
    def plain_lines(self) -> list[str]:
        return [INDENT[kind] + line for kind, line in self._flat]

    # -- wrapping ------------------------------------------------------------------------------------------

    def _width_for(self, kind: Kind) -> int:
        return max(self._wrap_width - len(INDENT[kind]), 8)

    def _wrap_entry(self, entry: Entry, *, full: bool) -> int:
        """Re-wrap the entry (or only its last line); returns how many old lines were kept unchanged."""
        width = self._width_for(entry.kind)
        if entry.kind == "model":  # one line whatever the width: the id cut in the middle
            entry.lines = [(0, middle_ellipsis(entry.text, width - len(MODEL_SUFFIX)) + MODEL_SUFFIX)]
            return 0
        if full or not entry.lines:
            entry.lines = wrap_offsets(entry.text, width)
            return 0
        # Greedy wrapping never changes a finished line when text is appended: redo the last line onwards.
        tail_start = entry.lines[-1][0]
        kept = len(entry.lines) - 1
        tail = wrap_offsets(entry.text[tail_start:], width)
        entry.lines = entry.lines[:kept] + [(tail_start + offset, line) for offset, line in tail]
        return kept

    def _rewrap_all(self) -> None:
        self._flat.clear()
        self._strips.clear()
        for index, entry in enumerate(self.entries):
            if entry.kind == "user" and index:
                self._flat.append(("note", ""))
            self._wrap_entry(entry, full=True)
            self._flat.extend((entry.kind, line) for _, line in entry.lines)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width - 1
        if width != self._wrap_width:
            self._wrap_width = width
            self._rewrap_all()
            self._changed()

    def on_mount(self) -> None:
        self._wrap_width = max(self.scrollable_content_region.width - 1, 20)

    def _forget_strips_from(self, index: int) -> None:
        for key in [k for k in self._strips if k >= index]:
            del self._strips[key]

    def _changed(self) -> None:
        follow = self.scroll_y >= self.max_scroll_y - 1
        # Setting `virtual_size` normally relayouts the whole screen. The scrollbar is always shown (CSS above),
        # so a longer transcript changes nothing outside this widget: update the size and the scrollbar only.
        self.set_reactive(ScrollView.virtual_size, Size(self._wrap_width, len(self._flat)))
        self.vertical_scrollbar.window_virtual_size = len(self._flat)
        if follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

    # -- drawing -------------------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles are resolved once per frame: `rich_style` walks the DOM and would dominate a per-line cost.
        base = self.rich_style
        if base != self._base_style:  # theme or style change: every cached strip is stale
            self._strips.clear()
        self._styles = {kind: base + self.get_component_rich_style(f"transcript--{kind}") for kind in STYLED}
        self._styles["assistant"] = base
        self._base_style = base
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self._base_style
        if index >= len(self._flat):
            return Strip.blank(width, base)
        strip = self._strips.get(index)
        if strip is None or strip.cell_length != width:
            kind, line = self._flat[index]
            segments = [Segment(INDENT[kind], base), Segment(line, self._styles[kind])]
            strip = Strip(segments).adjust_cell_length(width, base)
            self._strips[index] = strip
        return strip

"""A timeline chart drawn with the line API: one series as eighth-block columns, event markers as glyphs.

Layout (height H): a title line, H−2 plot rows with the scale on the left, and a marker row where each event's
glyph sits under its column (a dotted rule marks the same column in the plot's empty cells). Each column is the
highest sample in its time bucket, so short peaks stay visible when a long window is squeezed into few columns.
Strips are built once per data update (~4 Hz) and per resize; `render_line` only indexes them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"
_BLOCK_ARRAY = np.array(list(BLOCKS))
AXIS_WIDTH = 8


def bucket_max(t: np.ndarray, values: np.ndarray, t0: float, t1: float, columns: int) -> np.ndarray:
    """The highest finite value of each of `columns` equal time buckets over [t0, t1]; NaN where none."""
    out = np.full(columns, np.nan)
    if columns <= 0 or len(t) == 0 or t1 <= t0:
        return out
    edges = t0 + (t1 - t0) * np.arange(columns + 1) / columns
    starts = np.searchsorted(t, edges[:-1], side="left")
    ends = np.searchsorted(t, edges[1:], side="left")
    ends[-1] = np.searchsorted(t, t1, side="right")
    nonempty = ends > starts
    if not nonempty.any():
        return out
    clean = np.where(np.isfinite(values), values, -np.inf)[: int(ends[-1])]
    reduced = np.maximum.reduceat(clean, starts[nonempty])
    reduced[np.isneginf(reduced)] = np.nan
    out[nonempty] = reduced
    return out


def fit_title(parts: Sequence[str], width: int) -> str:
    """The first part, then as many of the others as fit in `width`, joined by " · " (nothing cut mid-figure)."""
    out = parts[0] if parts else ""
    for part in parts[1:]:
        if len(out) + 3 + len(part) > width:
            break
        out += " · " + part
    return out


def scale_for(values: np.ndarray) -> tuple[float, float] | None:
    """A lower and upper bound that leave room around the data (a flat line sits mid-height)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    low, high = float(finite.min()), float(finite.max())
    span = max(high - low, abs(high) * 0.02, 1.0)
    return max(0.0, low - span * 0.25), high + span * 0.25


class TimelineChart(Widget):
    DEFAULT_CSS = """
    TimelineChart { height: 1fr; min-height: 3; }
    TimelineChart > .timeline-chart--title { text-style: bold; }
    TimelineChart > .timeline-chart--bar { color: $accent; }
    TimelineChart > .timeline-chart--axis { color: $text-muted; }
    TimelineChart > .timeline-chart--marker { color: $warning; }
    TimelineChart > .timeline-chart--rule { color: $warning-darken-2; }
    """
    COMPONENT_CLASSES = {
        "timeline-chart--title",
        "timeline-chart--bar",
        "timeline-chart--axis",
        "timeline-chart--marker",
        "timeline-chart--rule",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._title: tuple[str, ...] = ()
        self._t = np.empty(0)
        self._values = np.empty(0)
        self._span = (0.0, 1.0)
        self._markers: Sequence[tuple[float, str]] = ()
        self._fmt: Callable[[float], str] = lambda v: f"{v:.0f}"
        self._strips: list[Strip] | None = None
        self._built_for: tuple[int, int] = (0, 0)
        self._style_cache: tuple[Style, Style, Style, Style, Style] | None = None

    def show(
        self,
        title: str | Sequence[str],
        t: np.ndarray,
        values: np.ndarray,
        span: tuple[float, float],
        markers: Sequence[tuple[float, str]],
        fmt: Callable[[float], str],
    ) -> None:
        """New data: `span` is the time range (t0, t1) the width covers; markers are (time, glyph). A title given
        as parts keeps the first and as many of the rest as the width holds."""
        self._title = (title,) if isinstance(title, str) else tuple(title)
        self._t, self._values, self._span, self._markers, self._fmt = t, values, span, markers, fmt
        old = self._strips if self._built_for == (self.size.width, self.size.height) else None
        self._strips = None
        if old is None or not self.size.area:
            self.refresh()
            return
        # Repaint only the lines that changed: between two column steps most of a chart stays the same.
        new = self._build()
        changed = [Region(0, y, self.size.width, 1) for y, strip in enumerate(new) if y >= len(old) or strip != old[y]]
        if changed:
            self.refresh(*changed)

    @property
    def plain_lines(self) -> list[str]:
        """The chart as text (for tests)."""
        return [strip.text for strip in self._build()]

    def _build(self) -> list[Strip]:
        width, height = self.size.width, self.size.height
        if self._strips is not None and self._built_for == (width, height):
            return self._strips
        self._built_for = (width, height)
        self._strips = self._draw(width, height)
        return self._strips

    def _styles(self) -> tuple[Style, Style, Style, Style, Style]:
        if self._style_cache is None:
            self._style_cache = tuple(  # type: ignore[assignment]
                self.get_component_rich_style(f"timeline-chart--{name}")
                for name in ("title", "bar", "axis", "marker", "rule")
            )
        assert self._style_cache is not None
        return self._style_cache

    def _draw(self, width: int, height: int) -> list[Strip]:
        if width <= 0 or height <= 0:
            return []
        title_style, bar, axis, marker, rule = self._styles()
        title = fit_title(self._title, width)
        strips = [Strip([Segment(title[:width].ljust(width), title_style)], width)]
        rows = max(height - 2, 0)
        columns = max(width - AXIS_WIDTH, 0)
        t0, t1 = self._span
        if columns and t1 > t0:
            # Snap the right edge to whole columns: the chart then scrolls one column at a time, and the lines
            # between two steps repaint only where the data changed.
            step = (t1 - t0) / columns
            shift = math.ceil(t1 / step) * step - t1
            t0, t1 = t0 + shift, t1 + shift
        buckets = bucket_max(self._t, self._values, t0, t1, columns)
        scale = scale_for(buckets)
        marker_cols: dict[int, str] = {}
        for t, glyph in sorted(self._markers):
            if t0 <= t <= t1 and columns:
                column = min(columns - 1, int((t - t0) / (t1 - t0) * columns)) if t1 > t0 else columns - 1
                if column in marker_cols and column + 1 < columns and column + 1 not in marker_cols:
                    column += 1  # two markers in one column (a fast load): show both, side by side
                marker_cols.setdefault(column, glyph)  # otherwise the earliest marker of a column wins
        marked = np.zeros(columns, dtype=bool)
        marked[list(marker_cols)] = True
        if scale is None:
            level = np.zeros(columns)
        else:
            low, high = scale
            level = np.nan_to_num((buckets - low) / (high - low) * rows * 8, nan=0.0)
        for row in range(rows):
            from_bottom = rows - 1 - row
            fill = np.clip(level - from_bottom * 8, 0, 8).astype(np.int64)
            cells = _BLOCK_ARRAY[fill]
            rules = marked & (fill == 0)
            cells[rules] = "┊"
            label = ""
            if scale is not None and row == 0:
                label = self._fmt(scale[1])
            elif scale is not None and row == rows - 1:
                label = self._fmt(scale[0])
            segments = [Segment(label[: AXIS_WIDTH - 1].rjust(AXIS_WIDTH - 1) + "┤", axis)]
            # Runs of bar cells and rule cells (markers are few: a handful of segments per row).
            edges = [0, *(np.flatnonzero(np.diff(rules.astype(np.int8))) + 1).tolist(), columns]
            for lo, hi in itertools.pairwise(edges):
                if hi > lo:
                    segments.append(Segment("".join(cells[lo:hi].tolist()), rule if rules[lo] else bar))
            strips.append(Strip(segments, width))
        if height >= 2:
            cells_row = "".join(marker_cols.get(column, " ") for column in range(columns))
            strips.append(Strip([Segment(" " * AXIS_WIDTH, axis), Segment(cells_row, marker)], width))
        if scale is None and rows:
            message = " no samples in this window"
            strips[1] = Strip([Segment(" " * AXIS_WIDTH + message[: max(columns, 0)], axis)], width)
        return [strip.adjust_cell_length(width) for strip in strips[:height]]

    def render_line(self, y: int) -> Strip:
        strips = self._build()
        if y < len(strips):
            return strips[y]
        return Strip.blank(self.size.width)

    def on_resize(self) -> None:
        self._strips = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None
        self._style_cache = None  # a theme change: draw again with the new colours


__all__ = ["AXIS_WIDTH", "TimelineChart", "bucket_max", "fit_title", "scale_for"]

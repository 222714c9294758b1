"""The Benchmark pane's results table: every figure of every model readable from 80 columns up.

`layout(rows, width, columns)` decides how (a pure function, tested on its own): when the figures and a model
column of useful width fit on one line, one line per model; otherwise the model's name on a line of its own (cut
with "…" only when it is wider than the whole table) and its figures under it, aligned under the header — on one
line where they fit, else on as many lines as it takes, with the header split the same way. The figures are never
dropped or cut; a model name cut in the model column or on its line is whole in the detail line under the table,
which follows the highlighted row (↑/↓) and also says how its memory was counted.

The columns are COLUMNS, with `prefill ≈` after the TTFTs when the run measured a prefill rate and `goodput` after
e2e when it had an SLO (`columns_for`). `BenchTable.show(rows, columns)` renders rows the pane built (every number
already formatted by engine.metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.events import Resize
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from foundry_tui.tui.widgets.literal import literal

# The figures, in the order read; every one of them is shown at any width from 80 columns.
COLUMNS = ("TTFT p50", "TTFT p95", "decode", "e2e p95", "memory", "load", "status")
PREFILL = "prefill ≈"  # prompt tokens / TTFT: an approximation (it includes queueing and scheduling)
GOODPUT = "goodput"  # the share of requests meeting every SLO target
LEFT = {"status"}  # words, left-aligned; numbers are right-aligned so their units line up
MODEL = "model"
GAP = 2  # spaces between columns (1 when that is what it takes to fit)
INDENT = 2  # the figures' lines under a model's name, in the layout with the name on its own line
NAME_MIN = 24  # the narrowest model column worth a one-line layout


def columns_for(prefill: bool, goodput: bool) -> tuple[str, ...]:
    """COLUMNS with the prefill rate beside decode's latency figures and the goodput share after e2e, when there."""
    out = list(COLUMNS)
    if goodput:
        out.insert(out.index("e2e p95") + 1, GOODPUT)
    if prefill:
        out.insert(out.index("decode"), PREFILL)
    return tuple(out)


@dataclass(frozen=True)
class BenchRow:
    key: str  # the model id (unique)
    name: str  # what to show for the model (control characters already escaped)
    cells: tuple[str, ...]  # one per column of the table (COLUMNS unless told otherwise), formatted
    detail: str  # the whole story of the row: full name, requests, memory note, error


@dataclass(frozen=True)
class TableLayout:
    header: str  # one line per line of figures (several when a model's figures take several lines)
    lines: dict[str, list[str]]  # row key → its lines
    two_line: bool  # the model's name on a line of its own, its figures under it


def fit(text: str, width: int) -> str:
    """`text` cut to `width` cells with "…" when it is wider."""
    if cell_len(text) <= width:
        return text
    return Content(text).truncate(max(width, 1), ellipsis=True).plain


def _pad(text: str, width: int, left: bool) -> str:
    space = " " * max(0, width - cell_len(text))
    return text + space if left else space + text


def _figures(cells: Sequence[str], widths: Sequence[int], names: Sequence[str], gap: int) -> str:
    parts = [_pad(c, w, name in LEFT) for c, w, name in zip(cells, widths, names, strict=True)]
    return (" " * gap).join(parts).rstrip()


def _span(widths: Sequence[int], gap: int) -> int:
    return sum(widths) + gap * (len(widths) - 1)


def _groups(widths: Sequence[int], room: int) -> tuple[list[list[int]], int]:
    """The columns of each figures line and the gap: one line (at GAP, else at 1), else as few lines as fit."""
    every = list(range(len(widths)))
    for gap in (GAP, 1):
        if _span(widths, gap) <= room:
            return [every], gap
    groups: list[list[int]] = [[]]
    for index in every:
        if groups[-1] and _span([widths[i] for i in [*groups[-1], index]], GAP) > room:
            groups.append([])
        groups[-1].append(index)
    return groups, GAP


def layout(rows: Sequence[BenchRow], width: int, columns: Sequence[str] = COLUMNS) -> TableLayout:
    """How `rows` (their cells one per `columns`) read in `width` cells (see the module docstring)."""
    widths = [max([cell_len(h)] + [cell_len(r.cells[i]) for r in rows]) for i, h in enumerate(columns)]
    figures = _span(widths, GAP)
    longest = max([cell_len(MODEL)] + [cell_len(r.name) for r in rows])
    room = width - figures - GAP
    if room >= min(longest, NAME_MIN):
        name_w = min(longest, room)
        header = _pad(MODEL, name_w, True) + " " * GAP + _figures(columns, widths, columns, GAP)
        lines = {r.key: [_pad(fit(r.name, name_w), name_w, True) + " " * GAP + _figures(r.cells, widths, columns, GAP)]
                 for r in rows}  # fmt: skip
        return TableLayout(header.rstrip(), lines, two_line=False)
    groups, gap = _groups(widths, width - INDENT)
    indent = " " * INDENT

    def split(cells: Sequence[str]) -> list[str]:
        return [indent + _figures([cells[i] for i in g], [widths[i] for i in g], [columns[i] for i in g], gap)
                for g in groups]  # fmt: skip

    header = "\n".join(split(columns))
    lines = {r.key: [fit(r.name, width), *split(r.cells)] for r in rows}
    return TableLayout(header, lines, two_line=True)


class BenchTable(Vertical):
    """Header, one option per model (highlight with ↑/↓), and the highlighted model's detail line."""

    DEFAULT_CSS = """
    BenchTable { height: 1fr; }
    BenchTable > #bench-table-header { height: auto; color: $text-muted; text-style: bold; }
    BenchTable > OptionList {
        height: 1fr; border: none; padding: 0; background: transparent;
        scrollbar-gutter: stable; scrollbar-size-vertical: 1;
    }
    BenchTable > OptionList:focus { border: none; }  /* the header stays over its columns */
    BenchTable > OptionList > .option-list--option { padding: 0; }
    BenchTable > #bench-table-detail { height: auto; min-height: 2; max-height: 4; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[BenchRow] = []
        self.columns: tuple[str, ...] = COLUMNS
        self.current: TableLayout | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="bench-table-header", markup=False)
        yield OptionList(id="bench-table-rows")
        yield Static("", id="bench-table-detail", markup=False)

    @property
    def options(self) -> OptionList:
        return self.query_one("#bench-table-rows", OptionList)

    def show(self, rows: Sequence[BenchRow], columns: Sequence[str] = COLUMNS) -> None:
        """`rows`' cells are one per `columns`."""
        self.rows = list(rows)
        self.columns = tuple(columns)
        self._render_rows()

    def clear(self) -> None:
        self.show([])

    def on_resize(self, event: Resize) -> None:
        self._render_rows()

    def _width(self) -> int:
        """The rows' width: the table's, less the scroll bar's gutter (kept, so a scroll bar never shifts them)."""
        return max(self.size.width - 1, 1)

    def _render_rows(self) -> None:
        if not self.is_mounted:
            return
        current = layout(self.rows, self._width(), self.columns)
        self.current = current
        self.query_one("#bench-table-header", Static).update(Content(current.header) if self.rows else "")
        options = self.options
        keys = [r.key for r in self.rows]
        same = keys == [options.get_option_at_index(i).id for i in range(options.option_count)]
        prompts = {key: self._prompt(lines, current.two_line) for key, lines in current.lines.items()}
        if same:
            for key in keys:
                options.replace_option_prompt(key, prompts[key])
        else:
            highlighted = self.highlighted_key
            options.clear_options()
            options.add_options([Option(prompts[key], id=key) for key in keys])
            if keys:
                options.highlighted = keys.index(highlighted) if highlighted in keys else 0
        self._show_detail()

    @staticmethod
    def _prompt(lines: list[str], two_line: bool) -> Content:
        if two_line:  # the model's name line stands out from its figures
            return Content("\n").join([Content.styled(lines[0], "bold"), *(Content(line) for line in lines[1:])])
        return Content(lines[0])

    @property
    def highlighted_key(self) -> str | None:
        option = self.options.highlighted_option
        return option.id if option is not None else None

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._show_detail()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()  # Enter on a row: nothing more to open than its detail line

    def _show_detail(self) -> None:
        key = self.highlighted_key
        row = next((r for r in self.rows if r.key == key), None)
        self.query_one("#bench-table-detail", Static).update(literal(row.detail) if row else "")

    def row_lines(self, key: str) -> list[str]:
        """The lines a model's row reads as now (KeyError: no such row)."""
        return self.current.lines[key] if self.current is not None else []


__all__ = ["COLUMNS", "GOODPUT", "PREFILL", "BenchRow", "BenchTable", "TableLayout", "columns_for", "fit", "layout"]

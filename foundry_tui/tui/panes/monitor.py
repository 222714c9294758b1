"""Monitor pane: memory timelines with event markers, per-process figures and per-model memory reports.

It only renders: every number comes from a `TimelineSource` (the app's live sampler, or a replayed recording)
and from engine.timeline (peaks, per-model reports). `z` cycles the window (1 min / 5 min / all), `p` pauses the
view (sampling goes on). Model names and labels from a recording are untrusted and shown literally.
"""

from __future__ import annotations

import time

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from foundry_tui.engine import metrics as m
from foundry_tui.engine import units
from foundry_tui.engine.events import MARKER_GLYPHS
from foundry_tui.engine.metrics import Metric, gpu_key
from foundry_tui.engine.timeline import ModelMemoryReport, Timeline, TimelineSource, memory_reports
from foundry_tui.text import safe_line
from foundry_tui.tui.panes.base import Pane
from foundry_tui.tui.widgets.literal import literal
from foundry_tui.tui.widgets.timeline_chart import TimelineChart

ZOOMS: tuple[tuple[str, float | None], ...] = (("1 min", 60.0), ("5 min", 300.0), ("all", None))
REFRESH_S = 0.25
# A wider window puts more seconds in each column: redraw it less often (it would look the same anyway).
REDRAW_EVERY_S = {"1 min": 0.25, "5 min": 0.5, "all": 1.0}
LEGEND = "markers: L/l load · U/u unload · F first token · S stream end · D/d download (start/end)"
PROC_COLUMNS = ("process", "RSS", "USS", "CPU", "peak RSS", "GPU mem")
# before: at load start · peak: during the load · steady: after it · after: after the unload · residue: after − before
MODEL_COLUMNS = ("model", "state", "load", "before", "peak", "steady", "after", "residue")
GPU_MODEL_COLUMNS = ("GPU peak", "GPU resid.")
EMPTY_MODELS = "per-model memory: nothing loaded yet (load a model: peak during load, steady after, residue)"


# -- formatting (pure) -------------------------------------------------------------------------------------------


def now(view: Timeline, metric: Metric, gpu: int | None = None) -> str:
    """The latest value of a registered series (a GPU's when `gpu` is given), formatted by the registry."""
    return metric.fmt(view.latest(metric.key if gpu is None else gpu_key(gpu, metric)))


def peak(view: Timeline, metric: Metric, gpu: int | None = None) -> str:
    return metric.fmt(view.peak(metric.key if gpu is None else gpu_key(gpu, metric)))


def axis_mb(mb: float) -> str:
    """Chart axes: `300M`, `1.2G`."""
    return units.size(mb, compact=True)


def seconds_ago(t: float, end: float) -> str:
    delta = max(0.0, end - t)
    return f"−{delta:.1f} s" if delta < 100 else f"−{delta / 60:.1f} min"


def process_rows(view: Timeline) -> list[tuple[str, ...]]:
    """Cells for this process and the server process (untrusted labels made safe)."""
    gpus = view.gpu_indices()

    def gpu_cell(metric: Metric) -> str:
        if not gpus:
            return "–"
        values = [(i, view.latest(gpu_key(i, metric))) for i in gpus]
        if all(v is None for _, v in values):
            return "n/a"
        if len(values) == 1:
            return units.size(values[0][1])
        return " ".join(f"{i}:{axis_mb(v)}" for i, v in values if v is not None)

    rows: list[tuple[str, ...]] = [
        (
            "this process",
            now(view, m.PROCESS_RSS),
            now(view, m.PROCESS_USS),
            now(view, m.CPU_PROCESS),
            peak(view, m.PROCESS_RSS),
            gpu_cell(m.GPU_PROCESS),
        )
    ]
    server = safe_line(view.server or "unknown", 60)
    if view.server.startswith("this process"):
        rows.append(("server: this process (in-process runtime)", "=", "=", "=", "=", "="))
    elif view.has(m.SERVER_RSS.key):
        rows.append(
            (
                f"server {server}",
                now(view, m.SERVER_RSS),
                now(view, m.SERVER_USS),
                now(view, m.SERVER_CPU),
                peak(view, m.SERVER_RSS),
                gpu_cell(m.GPU_SERVER),
            )
        )
    else:
        rows.append((f"server: {server}", "–", "–", "–", "–", "–"))
    return rows


def report_cells(report: ModelMemoryReport, with_gpu: bool) -> tuple[str, ...]:
    memory = report.memory
    cells: tuple[str, ...] = (
        safe_line(report.model, 60),
        report.state,
        "–" if report.load_s is None else f"{report.load_s:.2f} s",
        units.size(memory.before_mb),
        units.size(memory.peak_load_mb),
        units.size(memory.steady_mb),
        units.size(memory.after_unload_mb),
        units.size(memory.residue_mb, signed=True),
    )
    if with_gpu:
        gpu = report.gpu
        cells += (
            units.size(gpu.peak_load_mb if gpu else None),
            units.size(gpu.residue_mb if gpu else None, signed=True),
        )
    return cells


def text_table(headers: tuple[str, ...], rows: list[tuple[str, ...]], width: int | None) -> list[str]:
    """Aligned columns; numbers align right. With a `width`, the first column (names) shrinks with an ellipsis
    to fit; without, lines are as long as they need (the container scrolls sideways)."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    if width is None:
        width = sum(widths) + 2 * (len(widths) - 1)
    others = sum(widths[1:]) + 2 * (len(widths) - 1)
    widths[0] = max(8, min(widths[0], width - others))

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0] if len(cells[0]) <= widths[0] else cells[0][: widths[0] - 1] + "…"
        rest = [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first.ljust(widths[0]), *rest])[:width]

    return [line(headers), *(line(row) for row in rows)]


def table_text(lines: list[str]) -> Text:
    """The header bold, the rows plain; Text is never parsed as markup."""
    text = Text(no_wrap=True, overflow="crop")
    for index, line in enumerate(lines):
        text.append(line, style="bold" if index == 0 else "")
        if index < len(lines) - 1:
            text.append("\n")
    return text


def chart_span(view: Timeline, seconds: float | None) -> tuple[float, float]:
    end = view.stop
    if seconds is not None:
        return end - seconds, end
    start = float(view.t[0]) if len(view) else end - 1.0
    return start, max(end, start + 1.0)


# -- the pane ----------------------------------------------------------------------------------------------------


class MonitorPane(Pane, can_focus=True):
    DEFAULT_CSS = """
    MonitorPane { layout: vertical; height: 1fr; }
    MonitorPane #monitor-status { height: 1; color: $text-muted; }
    MonitorPane #monitor-charts { height: 1fr; min-height: 6; }
    MonitorPane #monitor-legend { height: 1; color: $text-muted; }
    MonitorPane #monitor-events { height: 1; color: $text-muted; }
    MonitorPane #monitor-procs { height: auto; }
    MonitorPane #monitor-models { height: auto; max-height: 6; overflow-x: auto; scrollbar-size-horizontal: 0; }
    MonitorPane #monitor-models:focus { background-tint: $foreground 5%; }
    MonitorPane #monitor-models-text { height: auto; width: auto; }
    """

    BINDINGS = [
        Binding("z", "zoom", "Zoom"),
        Binding("p", "pause", "Pause"),
    ]

    TAB = "monitor"
    STATUS = "#monitor-status"

    def __init__(self, source: TimelineSource, *, title: str = "", classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._source = source
        self._title = title
        self._zoom = 0
        self._paused: Timeline | None = None
        self._gpu_charts: list[int] = []
        self._texts: dict[str, str] = {}
        self._drawn_at = 0.0

    @property
    def source(self) -> TimelineSource:
        return self._source

    @property
    def zoom_label(self) -> str:
        return ZOOMS[self._zoom][0]

    @property
    def paused(self) -> bool:
        return self._paused is not None

    def compose(self) -> ComposeResult:
        yield Static("", id="monitor-status", markup=False)
        with Vertical(id="monitor-charts"):
            yield TimelineChart(id="chart-ram")
            yield TimelineChart(id="chart-rss")
            yield TimelineChart(id="chart-server")
        yield Static(LEGEND, id="monitor-legend", markup=False)
        yield Static("", id="monitor-events", markup=False)
        yield Static("", id="monitor-procs", markup=False)
        with VerticalScroll(id="monitor-models", can_focus=True):  # arrows scroll it: many models, wide rows
            yield Static("", id="monitor-models-text", markup=False)

    def on_mount(self) -> None:
        self.query_one("#chart-server").display = False
        self.set_interval(REFRESH_S, self._tick)
        self.refresh_view()

    def on_show(self) -> None:
        super().on_show()
        self.refresh_view()

    # -- actions ---------------------------------------------------------------------------------------------

    def action_zoom(self) -> None:
        self._zoom = (self._zoom + 1) % len(ZOOMS)
        self.refresh_view()

    def action_pause(self) -> None:
        self._paused = None if self._paused is not None else self.source.timeline()
        self.refresh_view()

    # -- rendering -------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if (
            self._paused is None
            and now - self._drawn_at >= REDRAW_EVERY_S[self.zoom_label] - 0.01
            and self.is_on_screen
        ):
            self.refresh_view()

    def refresh_view(self) -> None:
        self._drawn_at = time.monotonic()
        full = self._paused if self._paused is not None else self.source.timeline()
        seconds = ZOOMS[self._zoom][1]
        view = full.window(seconds)
        span = chart_span(view, seconds)
        markers = [(e.t, MARKER_GLYPHS.get(e.kind, "?")) for e in view.events]
        self._status(full)
        self._charts(view, span, markers)
        self._events_line(view)
        width = max(self.size.width, 40)
        self._set_table("#monitor-procs", text_table(PROC_COLUMNS, process_rows(view), width))
        self._reports(full, width)

    def _status(self, full: Timeline) -> None:
        source = self.source
        if self._paused is not None:
            state = "❚❚ paused (p resumes)"
        elif source.live:
            state = "● live"
        else:
            state = f"▶ replay {self._title}".rstrip()
        parts = [state, f"window {self.zoom_label}"]
        interval = getattr(source, "interval_s", None)
        fast = getattr(source, "fast_interval_s", None)
        if source.live and interval and fast:
            parts.append(f"{1 / interval:.0f} Hz ({1 / fast:.0f} Hz while loading)")
        else:
            parts.append(f"{len(full)} samples · {len(full.events)} markers")
        if not full.gpu_indices():
            parts.append(f"GPU: {full.gpu_reason or 'none'}")
        self._set_text("#monitor-status", " · ".join(parts))

    def _charts(self, view: Timeline, span: tuple[float, float], markers: list[tuple[float, str]]) -> None:
        t = view.t
        ram_title = (
            f"RAM used {now(view, m.RAM_USED)} of {now(view, m.RAM_TOTAL)} · peak {peak(view, m.RAM_USED)}"
            f" · available {now(view, m.RAM_AVAILABLE)} · swap {now(view, m.SWAP_USED)} of {now(view, m.SWAP_TOTAL)}"
            f" · CPU {now(view, m.CPU_SYSTEM)}"
        )
        self.query_one("#chart-ram", TimelineChart).show(ram_title, t, view.get(m.RAM_USED.key), span, markers, axis_mb)
        rss_title = (
            f"RSS this process {now(view, m.PROCESS_RSS)} · peak {peak(view, m.PROCESS_RSS)}"
            f" · USS {now(view, m.PROCESS_USS)} · CPU {now(view, m.CPU_PROCESS)}"
        )
        self.query_one("#chart-rss", TimelineChart).show(
            rss_title, t, view.get(m.PROCESS_RSS.key), span, markers, axis_mb
        )
        server_chart = self.query_one("#chart-server", TimelineChart)
        separate = view.has(m.SERVER_RSS.key) and not view.server.startswith("this process")
        if server_chart.display != separate:
            server_chart.display = separate
        if separate:
            server_title = (
                f"RSS server {safe_line(view.server, 50)} {now(view, m.SERVER_RSS)}"
                f" · peak {peak(view, m.SERVER_RSS)} · CPU {now(view, m.SERVER_CPU)}"
            )
            server_chart.show(server_title, t, view.get(m.SERVER_RSS.key), span, markers, axis_mb)
        for index in view.gpu_indices():
            if index not in self._gpu_charts:
                self._gpu_charts.append(index)
                self.query_one("#monitor-charts", Vertical).mount(TimelineChart(id=f"chart-gpu{index}"))
                continue  # drawn on the next refresh, once mounted
            self._gpu_chart(view, index, span, markers)

    def _gpu_chart(
        self, view: Timeline, index: int, span: tuple[float, float], markers: list[tuple[float, str]]
    ) -> None:
        name = safe_line(view.gpu_names.get(index, ""), 30)
        extras = []
        for label, metric in (("util ", m.GPU_UTIL), ("", m.GPU_POWER), ("", m.GPU_TEMP)):
            if view.latest(gpu_key(index, metric)) is not None:
                extras.append(label + now(view, metric, index))
        energy = view.get(gpu_key(index, m.GPU_ENERGY))
        finite = energy[np.isfinite(energy)]
        if len(finite) >= 2:
            extras.append(f"{(finite[-1] - finite[0]) / 1000:.2f} kJ in window")
        used, total = now(view, m.GPU_USED, index), now(view, m.GPU_TOTAL, index)
        title = " · ".join(
            [f"GPU{index} {name} used {used} of {total}", f"peak {peak(view, m.GPU_USED, index)}", *extras]
        )
        chart = self.query_one(f"#chart-gpu{index}", TimelineChart)
        chart.show(title, view.t, view.get(gpu_key(index, m.GPU_USED)), span, markers, axis_mb)

    def _events_line(self, view: Timeline) -> None:
        recent = list(reversed(view.events[-6:]))
        if not recent:
            text = "no markers in this window (load, chat, unload or download a model)"
        else:
            end = view.stop
            text = "last: " + " · ".join(
                f"{MARKER_GLYPHS.get(e.kind, '?')} {safe_line(e.model or e.kind, 40)} {seconds_ago(e.t, end)}"
                for e in recent
            )
        self._set_text("#monitor-events", text)

    def _reports(self, full: Timeline, width: int) -> None:
        reports = memory_reports(full)
        if not reports:
            self._set_table("#monitor-models-text", [EMPTY_MODELS], header=False)
            return
        with_gpu = bool(full.gpu_indices())
        columns = MODEL_COLUMNS + (GPU_MODEL_COLUMNS if with_gpu else ())
        rows = [report_cells(report, with_gpu) for report in reports]
        self._set_table("#monitor-models-text", text_table(columns, rows, None))

    def _set_text(self, selector: str, text: str) -> None:
        """One-line statics: repaint only when the text changed, and never relayout the screen for it."""
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(literal(text), layout=False)

    def _set_table(self, selector: str, lines: list[str], *, header: bool = True) -> None:
        """A text table (cheaper to repaint than a DataTable at 4 Hz); only when its text changed."""
        key = "\n".join(lines)
        old = self._texts.get(selector)
        if old != key:
            self._texts[selector] = key
            relayout = old is None or old.count("\n") != key.count("\n")  # a row came or went
            content = table_text(lines) if header else Text(key, no_wrap=True)
            self.query_one(selector, Static).update(content, layout=relayout)

    def on_resize(self) -> None:
        self.refresh_view()


__all__ = ["ZOOMS", "MonitorPane", "process_rows", "report_cells"]

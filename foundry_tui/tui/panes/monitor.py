"""Monitor pane: per-model memory reports first, then memory timelines with event markers and per-process figures.

It only renders: every number comes from a `TimelineSource` (the app's live sampler, or a replayed recording),
from engine.timeline (peaks, per-model reports) and from the fit estimates the app delivers (`FitEstimated`).
The per-model table lists each model's own memory (growth since right before its load) and the estimate's error;
its highlighted row is the model `l` / `u` act on while the tab is shown. Layout follows the size: the table fits
the width (one line per model when it can, else a name line and figure lines), and the charts give up height first,
then the legend and the per-process table are left out. `z` cycles the window (1 min / 5 min / all), `p` pauses the
view (sampling goes on). Model names and labels from a recording are untrusted and shown literally.

The tables' text is formatted by pure functions in tui/widgets/monitor_tables.py.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from foundry_tui.engine import metrics as m
from foundry_tui.engine.events import MARKER_GLYPHS
from foundry_tui.engine.fit import FitCheck
from foundry_tui.engine.metrics import gpu_key
from foundry_tui.engine.timeline import Timeline, TimelineSource, memory_reports
from foundry_tui.engine.variants import group_by_alias
from foundry_tui.text import safe_line
from foundry_tui.tui.messages import ChatFinished, FitEstimated, ModelLoaded, ModelsUpdated, ModelUnloaded
from foundry_tui.tui.panes.base import Pane
from foundry_tui.tui.widgets.literal import literal
from foundry_tui.tui.widgets.monitor_tables import (
    FIGURE_COLUMNS,
    GPU_FIGURE_COLUMNS,
    PROC_COLUMNS,
    ModelRow,
    axis_mb,
    model_table,
    now,
    peak,
    process_rows,
    report_row,
    runs_on,
    seconds_ago,
    table_text,
    text_table,
)
from foundry_tui.tui.widgets.timeline_chart import TimelineChart

ZOOMS: tuple[tuple[str, float | None], ...] = (("1 min", 60.0), ("5 min", 300.0), ("all", None))
REFRESH_S = 0.25
# A wider window puts more seconds in each column: redraw it less often (it would look the same anyway).
REDRAW_EVERY_S = {"1 min": 0.25, "5 min": 0.5, "all": 1.0}
LEGEND = "markers: L/l load · U/u unload · F first token · S stream end · D/d download (start/end)"
EMPTY_MODELS = "per-model memory: nothing loaded yet (load a model: peak during load, steady after, residue)"
CHART_ROWS = 4  # a chart's comfortable height: title, two plot rows, markers (3 is its minimum)


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
    MonitorPane #monitor-models-head { height: auto; }
    MonitorPane #monitor-models { height: auto; border: none; padding: 0; scrollbar-size-vertical: 1; }
    MonitorPane #monitor-models:focus { border: none; }
    MonitorPane #monitor-fit { height: 1; color: $text-muted; }
    MonitorPane #monitor-charts { height: 1fr; min-height: 3; }
    MonitorPane #monitor-legend { height: 1; color: $text-muted; }
    MonitorPane #monitor-events { height: 1; color: $text-muted; }
    MonitorPane #monitor-procs { height: auto; }
    """

    BINDINGS = [
        Binding("z", "zoom", "Zoom"),
        Binding("p", "pause", "Pause"),
        Binding("up", "pick(-1)", "Previous model", show=False),  # from the pane itself: the list's own keys
        Binding("down", "pick(1)", "Next model", show=False),  # take over when it has the focus
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
        self._estimates: dict[str, FitCheck] = {}  # model id → the latest fit estimate made before its load
        self._rows: list[tuple[str, str]] = []  # (model id, its option's text) as shown in the model list
        self._layout: tuple[int, ...] = ()
        self._runs_on: dict[str, str] = {}  # model id → "GPU · CUDA" (+ a CPU-fallback flag), from the catalog

    @property
    def source(self) -> TimelineSource:
        return self._source

    @property
    def zoom_label(self) -> str:
        return ZOOMS[self._zoom][0]

    @property
    def paused(self) -> bool:
        return self._paused is not None

    @property
    def highlighted_model(self) -> str | None:
        models = self.query_one("#monitor-models", OptionList)
        option = models.highlighted_option if models.option_count else None
        return option.id if option is not None else None

    def compose(self) -> ComposeResult:
        yield Static("", id="monitor-status", markup=False)
        yield Static(EMPTY_MODELS, id="monitor-models-head", markup=False)
        yield OptionList(id="monitor-models", markup=False, compact=True)
        yield Static("", id="monitor-fit", markup=False)
        with Vertical(id="monitor-charts"):
            yield TimelineChart(id="chart-ram")
            yield TimelineChart(id="chart-rss")
            yield TimelineChart(id="chart-server")
        yield Static(LEGEND, id="monitor-legend", markup=False)
        yield Static("", id="monitor-events", markup=False)
        yield Static("", id="monitor-procs", markup=False)

    def on_mount(self) -> None:
        self.query_one("#chart-server").display = False
        self.query_one("#monitor-models").display = False
        self.query_one("#monitor-fit").display = False
        self.set_interval(REFRESH_S, self._tick)
        self.refresh_view()

    def on_show(self) -> None:
        super().on_show()
        self.refresh_view()

    def focus_target(self) -> Widget | None:
        models = self.query_one("#monitor-models", OptionList)
        return models if models.display else None

    # -- what the app delivers -------------------------------------------------------------------------------

    def on_fit_estimated(self, message: FitEstimated) -> None:
        self._estimates[message.check.model] = message.check
        self.refresh_view()

    def on_models_updated(self, message: ModelsUpdated) -> None:
        """Which device and EP each model runs on: the loaded entry's (its alias' other variants for the flag)."""
        runs: dict[str, str] = {}
        for group in group_by_alias(message.snapshot.all_models()):
            for variant in group.variants:
                where = runs_on(variant, group.variants)
                if where:
                    runs[variant.id] = where
        if runs != self._runs_on:
            self._runs_on = runs
            self.refresh_view()

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.refresh_view()

    def on_model_unloaded(self, message: ModelUnloaded) -> None:
        self.refresh_view()

    def on_chat_finished(self, message: ChatFinished) -> None:
        self.refresh_view()  # its end was sampled: the KV cache shows in "after req"

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.select_model(event.option.id)
        self._fit_line()

    # -- actions ---------------------------------------------------------------------------------------------

    def action_zoom(self) -> None:
        self._zoom = (self._zoom + 1) % len(ZOOMS)
        self.refresh_view()

    def action_pick(self, step: int) -> None:
        models = self.query_one("#monitor-models", OptionList)
        if models.option_count:
            index = models.highlighted if models.highlighted is not None else models.option_count - 1
            models.highlighted = min(max(index + step, 0), models.option_count - 1)

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
        width = max(self.size.width, 40)
        self._status(full)
        self._reports(full, width)
        self._charts(view, span, markers)
        self._events_line(view)
        self._set_table("#monitor-procs", text_table(PROC_COLUMNS, process_rows(view), width))
        self._reflow()

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
        ram_title = [
            f"RAM used {now(view, m.RAM_USED)} of {now(view, m.RAM_TOTAL)}",
            f"peak {peak(view, m.RAM_USED)}",
            f"available {now(view, m.RAM_AVAILABLE)}",
            f"CPU {now(view, m.CPU_SYSTEM)}",
            f"swap {now(view, m.SWAP_USED)} of {now(view, m.SWAP_TOTAL)}",
        ]
        self.query_one("#chart-ram", TimelineChart).show(ram_title, t, view.get(m.RAM_USED.key), span, markers, axis_mb)
        rss_title = [
            f"RSS this process {now(view, m.PROCESS_RSS)}",
            f"peak {peak(view, m.PROCESS_RSS)}",
            f"USS {now(view, m.PROCESS_USS)}",
            f"CPU {now(view, m.CPU_PROCESS)}",
        ]
        self.query_one("#chart-rss", TimelineChart).show(
            rss_title, t, view.get(m.PROCESS_RSS.key), span, markers, axis_mb
        )
        server_chart = self.query_one("#chart-server", TimelineChart)
        separate = view.has(m.SERVER_RSS.key) and not view.server.startswith("this process")
        if server_chart.display != separate:
            server_chart.display = separate
        if separate:
            server_title = [
                f"RSS server {safe_line(view.server, 50)} {now(view, m.SERVER_RSS)}",
                f"peak {peak(view, m.SERVER_RSS)}",
                f"CPU {now(view, m.SERVER_CPU)}",
            ]
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
        title = [f"GPU{index} {name} used {used} of {total}", f"peak {peak(view, m.GPU_USED, index)}", *extras]
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
        models = self.query_one("#monitor-models", OptionList)
        if not reports:
            self._set_table("#monitor-models-head", [EMPTY_MODELS], header_lines=0)
            models.display = False
            self._rows = []
            return
        with_gpu = bool(full.gpu_indices())
        headers = FIGURE_COLUMNS + (GPU_FIGURE_COLUMNS if with_gpu else ())
        rows = [report_row(r, self._estimates.get(r.model), with_gpu) for r in reports]
        rows = [
            replace(row, state=f"{row.state} · {where}") if (where := self._runs_on.get(report.model)) else row
            for row, report in zip(rows, reports, strict=True)
        ]
        if not any(r.model in self._estimates for r in reports):  # a replay, or loads from before this session
            keep = [i for i, h in enumerate(headers) if h != "vs est"]
            headers = tuple(headers[i] for i in keep)
            rows = [replace(r, figures=tuple(r.figures[i] for i in keep)) for r in rows]
        header, lines = model_table(rows, headers, width - 1)  # a column for the list's scrollbar
        self._set_table("#monitor-models-head", header, header_lines=len(header))
        new = [(r.model, "\n".join(text)) for r, text in zip(reports, lines, strict=True)]
        if new != self._rows:
            self._update_options(models, new)
        models.display = True
        self._fit_line()

    def _update_options(self, models: OptionList, new: list[tuple[str, str]]) -> None:
        if [model for model, _ in new] == [model for model, _ in self._rows]:
            for index, ((_, text), (_, old)) in enumerate(zip(new, self._rows, strict=True)):
                if text != old:
                    models.replace_option_prompt_at_index(index, Text(text, no_wrap=True, overflow="crop"))
        else:
            keep = self.highlighted_model
            models.set_options(Option(Text(text, no_wrap=True, overflow="crop"), id=model) for model, text in new)
            ids = [model for model, _ in new]
            models.highlighted = ids.index(keep) if keep in ids else len(ids) - 1  # else the latest load
        self._rows = new

    def _fit_line(self) -> None:
        """The highlighted model's fit estimate, as the one line the fit check wrote (it names the numbers)."""
        model = self.highlighted_model
        check = self._estimates.get(model) if model else None
        line = self.query_one("#monitor-fit", Static)
        shown = check is not None and bool(check.message)
        if line.display != shown:
            line.display = shown
        if check is not None:
            self._set_text("#monitor-fit", f"before load: {check.message}")

    def _reflow(self) -> None:
        """Charts give up height first (to 3 rows each), then the legend, then the per-process table; the model
        list scrolls only when even that leaves it too little room."""
        height = self.size.height
        models = self.query_one("#monitor-models", OptionList)
        charts = [c for c in self.query(TimelineChart) if c.display]
        head = self._texts.get("#monitor-models-head", "").count("\n") + 1
        fit = 1 if self.query_one("#monitor-fit").display else 0
        fixed = 1 + head + fit + 1  # status, table head, fit line, events
        per_row = self._rows[0][1].count("\n") + 1 if self._rows else 0
        wanted = per_row * len(self._rows)
        room = max(per_row, height - fixed - 3 * len(charts))
        listed = min(wanted, room) if models.display else 0
        left = height - fixed - listed
        procs = self._texts.get("#monitor-procs", "").count("\n") + 1
        show_procs = left - procs >= CHART_ROWS * len(charts)
        show_legend = left - procs * show_procs - 1 >= CHART_ROWS * len(charts)
        layout = (listed, show_procs, show_legend)
        if layout == self._layout:
            return
        self._layout = layout
        if models.display:
            models.styles.height = listed
        self.query_one("#monitor-procs").display = show_procs
        self.query_one("#monitor-legend").display = show_legend

    def _set_text(self, selector: str, text: str) -> None:
        """One-line statics: repaint only when the text changed, and never relayout the screen for it."""
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(literal(text), layout=False)

    def _set_table(self, selector: str, lines: list[str], *, header_lines: int = 1) -> None:
        """A text table (cheaper to repaint than a DataTable at 4 Hz); only when its text changed."""
        key = "\n".join(lines)
        old = self._texts.get(selector)
        if old != key:
            self._texts[selector] = key
            static = self.query_one(selector, Static)
            static.update(table_text(lines, header_lines), layout=False)
            if old is None or old.count("\n") != key.count("\n"):  # a row came or went
                # An explicit height: Textual's partial relayout can keep an auto height's old value.
                static.styles.height = len(lines)

    def on_resize(self) -> None:
        self._layout = ()
        # After this layout pass: a relayout asked for inside it (the table's new height) would be lost.
        self.call_after_refresh(self.refresh_view)


__all__ = ["ZOOMS", "ModelRow", "MonitorPane", "model_table", "process_rows", "report_row", "runs_on"]

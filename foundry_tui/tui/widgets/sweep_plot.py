"""The Benchmark pane's second view (`p`): the prompt-length sweep as a plot, and what else the run measured.

One figure at a time over the whole width (←/→ change it): TTFT, prefill rate ≈, decode rate or the model's
memory against the prompt's length in tokens, one series per model; the x axis is log2 with a tick at each length
of the sweep. Under the plot: the figure's values per model, one line per model for the usable context
(--find-context) and the cold starts (--cold), then the run's warnings. Pure functions build every series and line
(tested on their own); the widgets only draw them. Model names and errors are untrusted: controls are escaped
(safe_line) before they reach plotext, whose output is read as ANSI, or a Static.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench import BenchResults
from foundry_tui.engine.bench.phase_tables import cold_phrase, context_line
from foundry_tui.engine.bench.results import ColdSummary, SweepSummary
from foundry_tui.engine.metrics import Metric
from foundry_tui.text import safe_line
from foundry_tui.tui.widgets.bench_table import fit
from foundry_tui.tui.widgets.literal import literal

LEGEND_NAME = 32  # cells of a model's name in the plot's legend (its values line below has it whole)


@dataclass(frozen=True)
class SweepFigure:
    title: str  # what the plot's title and values lines call it
    metric: Metric  # its unit and formatter
    value: Callable[[SweepSummary], float | None]  # the figure of one model × length


# The figures the sweep reports per length, as the CLI's sweep table and the HTML report's plot read them.
FIGURES = (
    SweepFigure("TTFT p50", metrics.TTFT, lambda s: s.ttft_ms.p50),
    SweepFigure("prefill ≈ p50", metrics.PREFILL, lambda s: s.prefill_tps.p50),
    SweepFigure("decode p50", metrics.DECODE, lambda s: s.decode_tps.p50),
    SweepFigure("model memory", metrics.MODEL_MEMORY, lambda s: s.memory_mb),
)


@dataclass(frozen=True)
class SweepSeries:
    model: str  # the model id, as results.json has it (untrusted)
    points: tuple[tuple[int, float], ...]  # (prompt tokens asked for, the figure), shortest prompt first
    failed: tuple[int, ...] = ()  # lengths whose every request failed (a prompt past the context, say): no point


def sweep_series(results: BenchResults, figure: SweepFigure) -> list[SweepSeries]:
    """One series per model with the lengths that have the figure (at least one request answered), in run order,
    and the lengths it failed at."""
    by_model: dict[str, list[tuple[int, float]]] = {}
    failed: dict[str, list[int]] = {}
    for point in results.sweep:
        value = figure.value(point)
        if point.n_ok and value is not None:
            by_model.setdefault(point.model, []).append((point.prompt_tokens_target, value))
        elif not point.n_ok and point.status not in ("pending", "running", "skipped"):
            failed.setdefault(point.model, []).append(point.prompt_tokens_target)
    models = list(dict.fromkeys(p.model for p in results.sweep if p.model in by_model or p.model in failed))
    return [
        SweepSeries(model, tuple(sorted(by_model.get(model, ()))), tuple(sorted(failed.get(model, ()))))
        for model in models
    ]


def sweep_lengths(results: BenchResults) -> list[int]:
    return sorted({point.prompt_tokens_target for point in results.sweep})


def length_label(tokens: int, approximate: bool = False) -> str:
    """'512', '2k' (a multiple of 1024 from 1024 up, as --prompt-tokens takes it); '~' when the length is estimated."""
    text = f"{tokens // 1024}k" if tokens >= 1024 and tokens % 1024 == 0 else str(tokens)
    return ("~" if approximate else "") + text


def approximate_lengths(results: BenchResults, model: str | None = None) -> bool:
    """Some lengths (of `model`, or of any model: the shared axis) were estimated from characters: no tokenizer
    for that model (docs/metrics.md)."""
    return any(point.exact is False for point in results.sweep if model is None or point.model == model)


def values_line(series: SweepSeries, figure: SweepFigure, approximate: bool = False) -> str:
    """'smollm2…: 128 80.0 ms · 512 120 ms · 2k 410 ms': the plotted values, formatted by the metric registry."""
    shown = [(n, f"{length_label(n, approximate)} {figure.metric.fmt(v)}") for n, v in series.points]
    shown += [(n, f"{length_label(n, approximate)} failed") for n in series.failed]
    values = " · ".join(text for _, text in sorted(shown))
    return f"{safe_line(series.model, 120)}: {values}"


def cold_line(cold: ColdSummary) -> str:
    """'m: cold TTFT p50 812 ms over 3 reloads, load p50 1.20 s, warm TTFT p50 95.0 ms (8.5× warm)'."""
    name = safe_line(cold.model, 120)
    if cold.note and not cold.n:
        return f"{name}: {safe_line(cold.note, 200)}"
    line = (
        f"{name}: {cold_phrase(cold)}, "
        f"load p50 {metrics.COLD_LOAD.fmt(cold.load_s.p50)}, warm TTFT p50 {metrics.TTFT.fmt(cold.warm_ttft_p50_ms)}"
    )
    if cold.cold_over_warm is not None:
        line += f" ({cold.cold_over_warm:.1f}× warm)"
    if cold.status not in ("ok", "skipped"):
        line += f" · {cold.status}"
    return line


def phase_lines(results: BenchResults) -> list[str]:
    """The usable context and the cold starts, one line per model under a heading, then the warnings."""
    lines: list[str] = []
    if results.context:
        limit = results.settings.context_ttft_limit_s
        within = f", first token within {units.seconds(limit)}" if limit is not None else ""
        lines += [f"usable context (longest prompt answered{within}):", *(context_line(c) for c in results.context)]
    if results.cold_starts:
        lines += ["cold starts (reload, then one request):", *(cold_line(c) for c in results.cold_starts)]
    if results.warnings:
        lines += ["warnings:", *(safe_line(w, 400) for w in results.warnings)]
    return lines


def value_ticks(values: list[float]) -> tuple[float, float]:
    """The y axis' ends: 0 (rates, memory and latencies start there) to a quarter above the largest value (the
    legend sits in the top rows: the highest point stays under it), rounded up to 2 significant digits, so the
    labels are exact and a flat series still gets a scale."""
    top = max(values) * 1.25
    if top <= 0:
        return 0.0, 1.0
    step = 10 ** (math.floor(math.log10(top)) - 1)
    return 0.0, math.ceil(top / step) * step


class SweepPlot(PlotextPlot):
    """One figure of the sweep: the series it was given, drawn on a log2 length axis."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.figure = FIGURES[0]
        self.series: list[SweepSeries] = []
        self.lengths: list[int] = []
        self.approximate = False

    def show(self, figure: SweepFigure, series: list[SweepSeries], lengths: list[int], approximate: bool) -> None:
        self.figure, self.series, self.lengths, self.approximate = figure, series, lengths, approximate
        plt = self.plt
        plt.clear_figure()
        plt.title(f"{figure.title} ({figure.metric.unit}) vs prompt tokens")
        for one in (s for s in series if s.points):
            xs = [math.log2(n) for n, _ in one.points]
            plt.plot(xs, [v for _, v in one.points], label=fit(safe_line(one.model, 200), LEGEND_NAME),
                     marker="braille")  # fmt: skip
        if lengths:
            ticks = [math.log2(n) for n in lengths]
            plt.xticks(ticks, [length_label(n, approximate) for n in lengths])
            plt.xlim(min(ticks) - 0.5, max(ticks) + 0.5)  # a lone length still gets an axis
        values = [v for one in series for _, v in one.points]
        if values:
            low, high = value_ticks(values)
            ticks = [low, (low + high) / 2, high]
            plt.yticks(ticks, [f"{t:.4g}" for t in ticks])  # plotext's own labels are unevenly spaced values
            plt.ylim(low, high)
        self.refresh()


class PhasesView(Vertical):
    """The plot, its values and the phases' lines; ←/→ choose the figure, ↑/↓ scroll the lines."""

    DEFAULT_CSS = """
    PhasesView { height: 1fr; }
    PhasesView > #bench-phases-title { height: 1; color: $text-muted; }
    PhasesView > SweepPlot { height: 1fr; min-height: 8; }
    PhasesView > #bench-phase-notes { height: auto; max-height: 40%; scrollbar-size-vertical: 1; }
    PhasesView.-no-sweep > #bench-phase-notes { height: 1fr; max-height: 100%; }
    PhasesView > #bench-phase-notes > Static { color: $text-muted; }
    """

    BINDINGS = [
        Binding("right,]", "figure(1)", "Next figure"),
        Binding("left,[", "figure(-1)", "Prev figure", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.figure_index = 0
        self.results: BenchResults | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="bench-phases-title", markup=False)
        yield SweepPlot(id="bench-sweep-plot")
        with PhaseNotes(id="bench-phase-notes"):
            yield Static("", id="bench-phase-lines", markup=False)

    @property
    def plot(self) -> SweepPlot:
        return self.query_one(SweepPlot)

    @property
    def notes(self) -> PhaseNotes:
        return self.query_one(PhaseNotes)

    def show(self, results: BenchResults | None) -> None:
        self.results = results
        if not self.is_mounted:
            return
        figure = FIGURES[self.figure_index]
        title = self.query_one("#bench-phases-title", Static)
        lines = phase_lines(results) if results is not None else []
        lengths = sweep_lengths(results) if results is not None else []
        approximate = results is not None and approximate_lengths(results)
        series = sweep_series(results, figure) if results is not None else []
        self.set_class(not lengths, "-no-sweep")
        self.plot.display = bool(lengths)
        if lengths:
            title.update(f"prompt-length sweep: figure {self.figure_index + 1}/{len(FIGURES)} (←/→) · p: the table")
            self.plot.show(figure, series, lengths, approximate)
            values = [values_line(s, figure, results is not None and approximate_lengths(results, s.model))
                      for s in series] or [f"{figure.title}: no answer yet"]  # fmt: skip
            lines = [f"{figure.title} per prompt length:", *values, *lines]
        elif results is None:
            title.update("no run yet · p: the table")
        else:
            title.update("no prompt-length sweep in this run (m: options) · p: the table")
            lines = lines or ["no usable-context search, cold starts or warnings in this run (m: options)"]
        self.query_one("#bench-phase-lines", Static).update(literal("\n".join(lines)))

    def action_figure(self, step: int) -> None:
        self.figure_index = (self.figure_index + step) % len(FIGURES)
        self.show(self.results)


class PhaseNotes(VerticalScroll, inherit_bindings=False):
    """The lines under the plot: it scrolls up and down only, so ←/→ reach the view's figure keys."""

    BINDINGS = [
        Binding("up", "scroll_up", "Scroll up", show=False),
        Binding("down", "scroll_down", "Scroll down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Home", show=False),
        Binding("end", "scroll_end", "End", show=False),
    ]


__all__ = [
    "FIGURES",
    "PhaseNotes",
    "PhasesView",
    "SweepFigure",
    "SweepPlot",
    "SweepSeries",
    "cold_line",
    "length_label",
    "phase_lines",
    "sweep_lengths",
    "sweep_series",
    "values_line",
]

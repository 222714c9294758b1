"""The HTML report's figures: matplotlib drawings rendered to inline SVG strings (engine.bench.html_report).

matplotlib is imported inside the rendering function only, so no command but the report pays its import. No
pyplot and no GUI backend: each figure is a bare `Figure` saved by the SVG backend, with text kept as text
(`svg.fonttype: none`), math parsing off (a `$` in a model name stays a `$`) and labels from untrusted text passed
through `safe_line` (matplotlib escapes `<` and `&` in SVG text). Every id in an SVG is prefixed with the figure's
name, so several SVGs inline in one page never share a clip path or marker id; the hash salt is fixed, so the same
results give the same bytes.

Each `*_svg` function returns None when its data is absent (no sweep, one level): the page says why instead. A
model keeps its colour in every figure and table (`model_colours`). Figures from estimated token counts say so
(`~` in the legend). Definitions of what is drawn: docs/metrics.md.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from foundry_tui.engine.bench.results import COLD, BenchResults
from foundry_tui.text import middle_ellipsis, safe_line

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# matplotlib's tab10: distinct, readable on white, and familiar from other benchmark plots.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # fmt: skip
WIDTH_IN = 12.0  # figure width in inches (matplotlib's 72 pt each); the page scales it to the column
LABEL_WIDTH = 40  # characters of a model name in a legend or tick label (cut in the middle)
LOG_SPAN = 20.0  # a value axis spanning more than this factor is drawn on a log scale

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
}


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """One colour per model, in run order (the palette repeats after ten models)."""
    return {model: PALETTE[i % len(PALETTE)] for i, model in enumerate(dict.fromkeys(models))}


def label(text: str, width: int = LABEL_WIDTH) -> str:
    """Untrusted text as a figure label: one printable line, cut in the middle to `width` characters."""
    return middle_ellipsis(safe_line(text, 300), width)


# -- rendering -----------------------------------------------------------------------------------------------

_ID = re.compile(r'\bid="([^"]+)"')
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_HREF_REF = re.compile(r'(xlink:href|href)="#([^"]+)"')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_STYLE = re.compile(r'<style type="text/css">.*?</style>\s*', re.S)
_SIZE = re.compile(r'^<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"')


def render(name: str, height_in: float, draw: Callable[[Figure], None], title: str) -> str:
    """`draw` on a fresh WIDTH_IN × `height_in` figure, as an `<svg>` element to put inline in HTML. `name`: a
    token unique in the page ([a-z-]), prefixed to every id; `title`: the SVG's accessible name."""
    import matplotlib
    from matplotlib.figure import Figure

    settings: Any = {**_RC, "svg.hashsalt": name}  # typed by matplotlib as a Literal of every key
    with matplotlib.rc_context(settings):
        figure = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
        draw(figure)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _inline(buffer.getvalue(), name, title)


def _inline(svg: str, name: str, title: str) -> str:
    """matplotlib's SVG document as an element for an HTML page: no XML prolog, no RDF metadata (it names web
    addresses), no page-wide style rule, ids and their references prefixed with `name`, sized by the page."""
    svg = svg[svg.index("<svg") :]
    svg = _METADATA.sub("", svg, count=1)
    svg = _STYLE.sub("", svg, count=1)
    svg = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', svg)
    svg = _URL_REF.sub(lambda m: f"url(#{name}-{m.group(1)})", svg)
    svg = _HREF_REF.sub(lambda m: f'{m.group(1)}="#{name}-{m.group(2)}"', svg)
    accessible = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    # The page scales the figure to its column (CSS width: 100%); the viewBox keeps its proportions.
    svg = _SIZE.sub(lambda m: f'<svg{m.group(1)} role="img" aria-label="{accessible}" class="plot" '
                              f'style="max-width: {float(m.group(2)):.0f}pt"', svg, count=1)  # fmt: skip
    return svg.strip()


def _plain(value: float, _pos: object = None) -> str:
    """A tick label without math text (parsing it is off): 20, 500, 2k, 1.5M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _log_if_wide(ax: Axes, which: str, values: Sequence[float], *, zero: bool = False) -> None:
    """A log scale for values spanning more than LOG_SPAN (a 5 ms and a 5 s model on one axis), ticked at
    1, 2, 5 × 10ⁿ with plain labels. `zero`: a linear axis starts at 0, so a 1 % change does not fill the plot."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    positive = [v for v in values if v > 0]
    if not positive or max(positive) / min(positive) <= LOG_SPAN:
        if zero:
            _from_zero(ax, which, values)
        return
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_locator(NullLocator())


def _from_zero(ax: Axes, which: str, values: Sequence[float]) -> None:
    """A linear axis from 0 to a little above the largest value (so no point sits on the frame)."""
    top = max(values, default=0.0)
    if top > 0:
        (ax.set_xlim if which == "x" else ax.set_ylim)(0, top * 1.08)


def _line(ax: Axes, points: Sequence[tuple[float, float]], **style: Any) -> None:
    """One series of (x, y) points; nothing for none (a model without the figure)."""
    if points:
        ax.plot(*zip(*points, strict=True), **style)


def _model_legend(figure: Figure, models: Sequence[str], colours: dict[str, str], notes: dict[str, str]) -> None:
    """One legend of the models' colours under the figure (`notes`: text after a model's name, e.g. `~`)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colours.get(m, PALETTE[0]), marker="o", label=label(m) + notes.get(m, ""))
               for m in models]  # fmt: skip
    figure.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)))


def _length_axis(ax: Axes, lengths: Sequence[int], exact: bool) -> None:
    """Prompt lengths on a log2 axis, ticked at the lengths that ran (`~` on each when every model's are
    estimates; when only some models' are, their legend entries say so)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(list(lengths)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{'' if exact else '~'}{n}" for n in lengths])
    ax.set_xlabel("prompt length (tokens" + (")" if exact else ", ~ estimated from characters)"))


# -- 1. TTFT per model ---------------------------------------------------------------------------------------


def _warm_ttft(results: BenchResults) -> list[tuple[str, int, list[float]]]:
    """(model, concurrency, TTFTs) of the streamed prompt-set levels' warm ok requests, in run order."""
    groups: dict[tuple[str, int], list[float]] = {}
    for r in results.level_requests():
        if r.ok and not r.cold and r.mode == "stream" and r.ttft_ms is not None:
            groups.setdefault((r.model, r.concurrency), []).append(r.ttft_ms)
    order = {m.model: i for i, m in enumerate(results.models)}
    keys = sorted(groups, key=lambda k: (order.get(k[0], len(order)), k[1]))
    return [(model, concurrency, groups[(model, concurrency)]) for model, concurrency in keys]


def ttft_distribution_svg(results: BenchResults, colours: dict[str, str]) -> str | None:
    groups = _warm_ttft(results)
    if not groups:
        return None
    import numpy as np

    several_levels = len({c for _, c, _ in groups}) > 1

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        for row, (model, _level, values) in enumerate(groups):
            y = len(groups) - 1 - row  # the first model on top
            colour = colours.get(model, PALETTE[0])
            q1, p50, q3 = (float(v) for v in np.percentile(values, [25, 50, 75], method="linear"))
            ax.plot([min(values), max(values)], [y, y], color=colour, linewidth=1, zorder=2)
            ax.barh(y, q3 - q1, left=q1, height=0.5, color=colour, alpha=0.25, edgecolor=colour, zorder=2)
            ax.plot([p50, p50], [y - 0.25, y + 0.25], color=colour, linewidth=2.4, zorder=3)
            # Each request a dot, spread vertically by a fixed pattern (the same file draws the same picture).
            offsets = [((i * 0.618034) % 1.0 - 0.5) * 0.36 for i in range(len(values))]
            ax.scatter(values, [y + o for o in offsets], s=9, color=colour, alpha=0.7, linewidths=0, zorder=4)
        names = [label(m) + (f"  c={c}" if several_levels else "") for m, c, _ in groups]
        ax.set_yticks(range(len(groups)))
        ax.set_yticklabels(list(reversed(names)))
        ax.set_ylim(-0.6, len(groups) - 0.4)
        ax.grid(axis="y", visible=False)
        _log_if_wide(ax, "x", [v for _, _, values in groups for v in values])
        ax.set_xlabel("TTFT (ms)")
        ax.set_title("TTFT of warm streamed requests")

    height = 1.2 + 0.4 * len(groups)
    return render("ttft", height, draw, "TTFT distribution per model")


# -- 2. the prompt-length sweep ------------------------------------------------------------------------------


def sweep_svg(results: BenchResults, colours: dict[str, str]) -> str | None:
    by_model: dict[str, list[tuple[int, float | None, float | None, float | None]]] = {}
    inexact: set[str] = set()  # models whose prompt lengths are estimates (no tokenizer)
    estimated: set[str] = set()  # models whose decode rates come from estimated token counts
    for s in results.sweep:
        if s.n_ok:
            by_model.setdefault(s.model, []).append((s.prompt_tokens_target, s.ttft_ms.p50, s.prefill_tps.p50,
                                                     s.decode_tps.p50))  # fmt: skip
            inexact.update([s.model] if s.exact is False else [])
            estimated.update([s.model] if s.tokens_estimated else [])
    if not by_model:
        return None
    lengths = sorted({n for points in by_model.values() for n, *_ in points})
    notes = {m: " (" + ", ".join(x for x, on in (("lengths ~", m in inexact), ("decode ~", m in estimated)) if on) + ")"
             for m in inexact | estimated}  # fmt: skip

    def draw(figure: Figure) -> None:
        left, right = figure.subplots(1, 2)
        for model, points in by_model.items():
            colour = colours.get(model, PALETTE[0])
            ttft = [(n, t) for n, t, _, _ in points if t is not None]
            prefill = [(n, p) for n, _, p, _ in points if p is not None]
            decode = [(n, d) for n, _, _, d in points if d is not None]
            _line(left, ttft, marker="o", color=colour)
            _line(right, prefill, marker="o", color=colour)
            _line(right, decode, marker="s", linestyle="--", color=colour)
        _log_if_wide(left, "y", [t for p in by_model.values() for _, t, _, _ in p if t is not None], zero=True)
        _log_if_wide(right, "y", [v for p in by_model.values() for _, _, a, b in p for v in (a, b) if v], zero=True)
        for ax in (left, right):
            _length_axis(ax, lengths, exact=not inexact or len(inexact) < len(by_model))
        left.set_ylabel("TTFT p50 (ms)")
        left.set_title("TTFT vs prompt length")
        right.set_ylabel("rate p50 (tok/s)")
        right.set_title("prefill and decode rate vs prompt length")
        from matplotlib.lines import Line2D

        styles = [
            Line2D([], [], color="#444", marker="o", label="prefill ≈ prompt tokens / TTFT (incl. scheduling)"),
            Line2D([], [], color="#444", marker="s", linestyle="--", label="decode"),
        ]
        right.legend(handles=styles, loc="best")
        _model_legend(figure, list(by_model), colours, notes)

    return render("sweep", 4.0, draw, "TTFT, prefill and decode rate vs prompt length")


# -- 3. throughput vs concurrency ----------------------------------------------------------------------------


def throughput_svg(results: BenchResults, colours: dict[str, str]) -> str | None:
    levels = sorted({s.concurrency for s in results.summaries})
    if len(levels) < 2:
        return None
    modes = list(dict.fromkeys(s.mode for s in results.summaries))
    series = [
        (m.model, mode, sorted((s for s in results.summaries if (s.model, s.mode) == (m.model, mode)),
                               key=lambda s: s.concurrency))
        for m in results.models
        for mode in modes
    ]  # fmt: skip
    if not any(s.output_throughput_tps or s.steady_output_throughput_tps for _, _, rows in series for s in rows):
        return None

    def draw(figure: Figure) -> None:
        tokens, requests = figure.subplots(1, 2)
        for model, mode, rows in series:
            colour = colours.get(model, PALETTE[0])
            dotted = mode != "stream"
            for ax, whole, steady in (
                (tokens, [s.output_throughput_tps for s in rows], [s.steady_output_throughput_tps for s in rows]),
                (requests, [s.request_throughput_rps for s in rows], [s.steady_request_throughput_rps for s in rows]),
            ):
                xs = [s.concurrency for s in rows]
                points = [(x, v) for x, v in zip(xs, whole, strict=True) if v is not None]
                steady_points = [(x, v) for x, v in zip(xs, steady, strict=True) if v is not None]
                _line(ax, points, marker="o", color=colour, linestyle=":" if dotted else "-")
                _line(ax, steady_points, marker="x", color=colour, linestyle="--", alpha=0.8)
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FixedLocator, NullLocator

        for ax in (tokens, requests):
            if levels[-1] / levels[0] >= 4:
                ax.set_xscale("log", base=2)
            ax.xaxis.set_major_locator(FixedLocator(levels))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticklabels([str(c) for c in levels])
            ax.set_xlabel("concurrency (streams in flight)")
            ax.set_ylim(bottom=0)
        tokens.set_ylabel("output throughput (tok/s)")
        tokens.set_title("output tokens per second")
        requests.set_ylabel("request throughput (req/s)")
        requests.set_title("requests per second")
        styles = [
            Line2D([], [], color="#444", marker="o", label="whole level (ok levels only)"),
            Line2D([], [], color="#444", marker="x", linestyle="--", label="steady: all streams busy"),
        ]
        if len(modes) > 1:
            styles.append(Line2D([], [], color="#444", marker="o", linestyle=":", label="non-streamed, whole level"))
        requests.legend(handles=styles, loc="best")
        estimated = {m for m, _, rows in series if any(s.tokens_estimated for s in rows)}
        _model_legend(figure, list(dict.fromkeys(m for m, _, _ in series)), colours,
                      {m: " (~ tokens estimated)" for m in estimated})  # fmt: skip

    return render("throughput", 4.0, draw, "Throughput vs concurrency")


# -- 5. cold starts (4. the memory timelines: engine.bench.plots_memory) ------------------------------------


def cold_starts_svg(results: BenchResults, colours: dict[str, str]) -> str | None:
    cold = [r for r in results.requests if r.phase == COLD and r.load_index is not None]
    if not results.cold_starts or not cold:
        return None
    warm = {c.model: c.warm_ttft_p50_ms for c in results.cold_starts}
    reloads = sorted({(r.load_index or 0) + 1 for r in cold})

    def draw(figure: Figure) -> None:
        loads, ttfts = figure.subplots(1, 2)
        for model in results.models:
            rows = sorted((r for r in cold if r.model == model.model), key=lambda r: r.load_index or 0)
            if not rows:
                continue
            colour = colours.get(model.model, PALETTE[0])
            load = [((r.load_index or 0) + 1, r.load_s) for r in rows if r.load_s is not None]
            ttft = [((r.load_index or 0) + 1, r.ttft_ms) for r in rows if r.ok and r.ttft_ms is not None]
            _line(loads, load, marker="o", color=colour)
            _line(ttfts, ttft, marker="o", color=colour)
            if warm.get(model.model) is not None:
                ttfts.axhline(warm[model.model], color=colour, linestyle="--", linewidth=1)
        from matplotlib.lines import Line2D

        _from_zero(loads, "y", [r.load_s for r in cold if r.load_s is not None])
        _from_zero(ttfts, "y", [v for v in [*(r.ttft_ms for r in cold if r.ok), *warm.values()] if v is not None])
        for ax in (loads, ttfts):
            ax.set_xticks(reloads)
            ax.set_xlabel("reload")
        loads.set_ylabel("load time (s)")
        loads.set_title("load time per reload")
        ttfts.set_ylabel("TTFT (ms)")
        ttfts.set_title("cold TTFT: the first request after each reload")
        styles = [
            Line2D([], [], color="#444", marker="o", label="cold TTFT"),
            Line2D([], [], color="#444", linestyle="--", label="warm TTFT p50 (levels, concurrency 1)"),
        ]
        ttfts.legend(handles=styles, loc="lower right")
        _model_legend(figure, list(dict.fromkeys(r.model for r in cold)), colours, {})

    return render("cold", 3.8, draw, "Load time and cold TTFT per reload")


__all__ = [
    "PALETTE",
    "cold_starts_svg",
    "label",
    "model_colours",
    "render",
    "sweep_svg",
    "throughput_svg",
    "ttft_distribution_svg",
]

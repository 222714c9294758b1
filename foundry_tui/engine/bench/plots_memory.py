"""The HTML report's memory timelines: one plot per model with its memory series and markers for its load, first
token, last request, reloads and unload, derived from what results.json records (`timeline_markers`). Rendering,
labels and colours: engine.bench.plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from foundry_tui.engine import units
from foundry_tui.engine.bench.plots import PALETTE, label, render
from foundry_tui.engine.bench.results import COLD, BenchResults, ModelResult, RequestResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _size_axis(ax: Axes) -> None:
    """MB on the y axis written the way chart axes write sizes: 300M, 1.2G (docs/metrics.md, Units)."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: units.size(v, compact=True)))


@dataclass(frozen=True)
class Marker:
    """A moment (`end` None) or a span on a model's memory timeline, in seconds since the run started."""

    kind: str  # one of MARKERS
    start: float
    end: float | None = None


# What each marker means, as its legend says it (how it is derived from results.json: `timeline_markers`).
MARKERS = {
    "load": "load: first sample → + load time",
    "first_token": "first token: the earliest recorded (warmups are not recorded)",
    "last_end": "last request ended",
    "unload": "unload: last sample − unload time",
    "reload": "reload (--cold): request sent − its load time",
}


def _ends(requests: Sequence[RequestResult]) -> tuple[float | None, float | None]:
    """(first token of the earliest recorded request, end of the last one), seconds since the run started."""
    firsts = [r.t_start_s + r.ttft_ms / 1000 for r in requests if r.t_start_s is not None and r.ttft_ms is not None]
    ends = [r.t_start_s + r.e2e_ms / 1000 for r in requests if r.t_start_s is not None and r.e2e_ms is not None]
    return (min(firsts) if firsts else None), (max(ends) if ends else None)


def timeline_markers(results: BenchResults, model: ModelResult) -> list[Marker]:
    """Markers derived from what the runner records: the timeline's first sample is taken right before the load
    call and its last right after the unload; LoadInfo has the two calls' durations; requests have their send time
    (t_start_s) and TTFT / e2e. Warmups are not recorded, so the first token is the first *recorded* one."""
    timeline = model.memory_timeline
    if not timeline:
        return []
    out: list[Marker] = []
    first, last = timeline[0].t, timeline[-1].t
    if model.load.load_s is not None:
        out.append(Marker("load", first, first + model.load.load_s))
    requests = [r for r in results.requests if r.model == model.model and first <= (r.t_start_s or -1.0) <= last]
    first_token, last_end = _ends(requests)
    if first_token is not None:
        out.append(Marker("first_token", first_token))
    if last_end is not None:
        out.append(Marker("last_end", last_end))
    for r in requests:
        if r.phase == COLD and r.load_s is not None and r.t_start_s is not None:
            out.append(Marker("reload", r.t_start_s - r.load_s, r.t_start_s))
    if model.load.unload_s is not None:
        out.append(Marker("unload", last - model.load.unload_s, last))
    return out


_MARKER_STYLE: dict[str, dict[str, Any]] = {
    "load": {"color": "#2ca02c", "alpha": 0.18},
    "reload": {"color": "#9467bd", "alpha": 0.18},
    "unload": {"color": "#7f7f7f", "alpha": 0.22},
    "first_token": {"color": "#d62728", "linestyle": "--", "linewidth": 1.2},
    "last_end": {"color": "#444444", "linestyle": ":", "linewidth": 1.2},
}


def _draw_timeline(ax: Axes, results: BenchResults, model: ModelResult, colour: str) -> set[str]:
    """One model's memory series and its markers; returns the kinds of markers drawn."""
    points = model.memory_timeline
    ts = [p.t for p in points]
    client = " (the client, not the model)" if model.endpoint else ""
    ax.plot(ts, [p.rss_mb for p in points], color=colour, label=f"RSS, this process{client}")
    server = [(p.t, p.server_rss_mb) for p in points if p.server_rss_mb is not None]
    if server:
        ax.plot(*zip(*server, strict=True), color=colour, linestyle="--", label="RSS, the endpoint's server")
    gpus = max((len(p.gpu_used_mb or []) for p in points), default=0)
    for index in range(gpus):
        used = [(p.t, p.gpu_used_mb[index]) for p in points if p.gpu_used_mb and len(p.gpu_used_mb) > index]
        ax.plot(*zip(*used, strict=True), color=colour, linestyle=":", label=f"GPU {index} used (whole device)")
    markers = timeline_markers(results, model)
    for marker in markers:
        if marker.end is None:
            ax.axvline(marker.start, **_MARKER_STYLE[marker.kind])
        else:
            ax.axvspan(marker.start, marker.end, linewidth=0, **_MARKER_STYLE[marker.kind])
    _size_axis(ax)
    ax.set_ylabel("memory")
    ax.set_title(label(model.model, 90) + (f" — {label(model.endpoint, 60)}" if model.endpoint else ""), loc="left")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return {m.kind for m in markers}


def _marker_legend(figure: Figure, kinds: set[str]) -> None:
    """What each marker means, once for every model, under the figure."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    for kind, meaning in MARKERS.items():
        if kind in kinds:
            style = _MARKER_STYLE[kind]
            handles.append(Line2D([], [], label=meaning, **style) if "linestyle" in style
                           else Patch(label=meaning, linewidth=0, **style))  # fmt: skip
    if handles:
        figure.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)))


def memory_timeline_svg(results: BenchResults, colours: dict[str, str]) -> str | None:
    models = [m for m in results.models if m.memory_timeline]
    if not models:
        return None

    def draw(figure: Figure) -> None:
        axes = figure.subplots(len(models), 1, squeeze=False)[:, 0]
        kinds: set[str] = set()
        for ax, model in zip(axes, models, strict=True):
            kinds |= _draw_timeline(ax, results, model, colours.get(model.model, PALETTE[0]))
        axes[-1].set_xlabel("time since the run started (s)")
        _marker_legend(figure, kinds)

    return render("memory", 0.9 + 2.4 * len(models), draw, "Memory timeline per model")


__all__ = ["MARKERS", "Marker", "memory_timeline_svg", "timeline_markers"]

"""A timeline: aligned sample series plus event markers on one clock, and what we compute from it.

The live sampler and a replayed recording both produce `Timeline`s, so the Monitor pane and the per-model
memory report cannot tell them apart. Definitions of every figure are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from foundry_tui.engine.events import MonitorEvent

STEADY_AFTER_S = 5.0  # "steady after load": median over this long after the load ended (or until the unload)
REQUEST_GUARD_S = 0.5  # "steady" ends this long before a first request's first token (its KV cache comes first)
AFTER_UNLOAD_S = 2.0  # "after unload": median over the sample taken at the unload's end and this long after it
MODEL_SERIES = "server_rss"  # the model's memory lives in the server process (this process when in-process)


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class Timeline:
    series: Mapping[str, np.ndarray]  # "t" (monotonic s) plus value series of the same length
    events: tuple[MonitorEvent, ...] = ()
    gpu_reason: str | None = None  # why there are no GPU series
    server: str = ""  # which process holds the model, in words
    end: float | None = None  # "now" for this timeline (live: the clock; replay: the last record)
    gpu_names: Mapping[int, str] = field(default_factory=dict)

    @property
    def t(self) -> np.ndarray:
        return self.series.get("t", np.empty(0))

    def __len__(self) -> int:
        return len(self.t)

    @property
    def stop(self) -> float:
        """The right edge: `end`, else the last sample or event."""
        if self.end is not None:
            return self.end
        last = [float(self.t[-1])] if len(self.t) else []
        last += [self.events[-1].t] if self.events else []
        return max(last) if last else 0.0

    def get(self, key: str) -> np.ndarray:
        """A series by name; all-NaN when this timeline does not have it."""
        values = self.series.get(key)
        return np.full(len(self), np.nan) if values is None else values

    def has(self, key: str) -> bool:
        values = self.series.get(key)
        return values is not None and bool(np.isfinite(values).any())

    def gpu_indices(self) -> list[int]:
        out = []
        for key in self.series:
            if key.startswith("gpu") and key.endswith("_used") and key[3:-5].isdigit() and self.has(key):
                out.append(int(key[3:-5]))
        return sorted(out)

    def window(self, seconds: float | None) -> Timeline:
        """The last `seconds` before `stop` (None: everything)."""
        if seconds is None:
            return self
        since = self.stop - seconds
        first = int(np.searchsorted(self.t, since, side="left"))
        return Timeline(
            series={key: values[first:] for key, values in self.series.items()},
            events=tuple(e for e in self.events if e.t >= since),
            gpu_reason=self.gpu_reason,
            server=self.server,
            end=self.stop,
            gpu_names=self.gpu_names,
        )

    def latest(self, key: str) -> float | None:
        values = self.get(key)
        finite = values[np.isfinite(values)]
        return float(finite[-1]) if len(finite) else None

    def peak(self, key: str) -> float | None:
        values = self.get(key)
        return float(np.nanmax(values)) if np.isfinite(values).any() else None

    def gpu_total_used(self) -> np.ndarray:
        """Memory used on all NVIDIA GPUs together (every process), per sample."""
        indices = self.gpu_indices()
        if not indices:
            return np.full(len(self), np.nan)
        total: np.ndarray = np.nansum(np.vstack([self.get(f"gpu{i}_used") for i in indices]), axis=0)
        return total


class TimelineSource(Protocol):
    """What the Monitor pane draws from: the live sampler or a replayed recording."""

    live: bool

    def timeline(self, last_s: float | None = None) -> Timeline: ...


class StaticTimeline:
    """A finished timeline (a replayed file) as a source."""

    live = False

    def __init__(self, timeline: Timeline, label: str = "") -> None:
        self._timeline = timeline
        self.label = label

    def timeline(self, last_s: float | None = None) -> Timeline:
        return self._timeline.window(last_s)


# -- per-model memory report -------------------------------------------------------------------------------

ModelState = Literal["loading", "loaded", "unloaded", "failed"]


@dataclass(frozen=True)
class MemoryFigures:
    """One memory series around a model's load (MB); None where the timeline has no sample for it."""

    before_mb: float | None  # the last sample at or before the load started
    peak_load_mb: float | None  # the highest sample between load start and load end
    steady_mb: float | None  # median after the load (STEADY_AFTER_S, the unload or its first request cut it short)
    after_unload_mb: float | None  # median from the unload's end over AFTER_UNLOAD_S
    residue_mb: float | None  # after unload − before: what the unload did not give back
    after_first_request_mb: float | None = None  # the first sample at or after its first request's end
    after_requests_mb: float | None = None  # the most among the first samples at or after each request's end

    def _own(self, value: float | None) -> float | None:
        return None if value is None or self.before_mb is None else value - self.before_mb

    @property
    def load_delta_mb(self) -> float | None:
        """The model's own memory after the load: steady − before."""
        return self._own(self.steady_mb)

    @property
    def peak_delta_mb(self) -> float | None:
        return self._own(self.peak_load_mb)

    @property
    def first_request_delta_mb(self) -> float | None:
        return self._own(self.after_first_request_mb)

    @property
    def requests_delta_mb(self) -> float | None:
        """The model's own memory with its requests' KV cache: after requests − before."""
        return self._own(self.after_requests_mb)


@dataclass(frozen=True)
class ModelMemoryReport:
    model: str
    state: ModelState
    load_s: float | None
    memory: MemoryFigures  # the server process's RSS (this process for the in-process runtime)
    gpu: MemoryFigures | None  # GPU memory used, all GPUs and processes together; None without NVIDIA GPUs
    note: str = ""  # e.g. "server memory not measurable (remote)"


def _first(events: list[MonitorEvent], kind: str, model: str, after: float) -> MonitorEvent | None:
    return next((e for e in events if e.kind == kind and e.model == model and e.t >= after), None)


def _median(values: np.ndarray, lo: int, hi: int) -> float | None:
    chunk = values[lo:hi]
    chunk = chunk[np.isfinite(chunk)]
    return float(np.median(chunk)) if len(chunk) else None


@dataclass(frozen=True)
class _Cycle:
    """One load cycle's markers (times on the timeline's clock)."""

    load_start: float
    load_end: float | None
    unload_start: float | None
    unload_end: float | None
    next_load: float | None
    first_token: float | None  # of its first request after the load
    request_ends: tuple[float, ...]  # stream ends of its requests, from the load to the unload
    others_from: float | None = None  # another model's load or unload began in the cycle: later figures hold it


def _figures(t: np.ndarray, values: np.ndarray, cycle: _Cycle) -> MemoryFigures:
    load_start, load_end, unload_start = cycle.load_start, cycle.load_end, cycle.unload_start
    unload_end, next_load = cycle.unload_end, cycle.next_load
    if not np.isfinite(values).any():
        return MemoryFigures(None, None, None, None, None)
    i_before = int(np.searchsorted(t, load_start, side="right")) - 1
    before = _finite(float(values[i_before])) if i_before >= 0 else None
    lo = int(np.searchsorted(t, load_start, side="left"))
    hi = int(np.searchsorted(t, load_end if load_end is not None else math.inf, side="right"))
    during = values[lo:hi]
    during = during[np.isfinite(during)]
    peak = float(during.max()) if len(during) else None
    if before is None and len(during):
        before = float(during[0])
    steady = None
    if load_end is not None:
        stop = load_end + STEADY_AFTER_S
        if unload_start is not None:
            stop = min(stop, unload_start)
        if cycle.first_token is not None:
            stop = min(stop, cycle.first_token - REQUEST_GUARD_S)
        if cycle.others_from is not None:
            stop = min(stop, cycle.others_from)
        lo = max(0, int(np.searchsorted(t, load_end, side="right")) - 1)  # the sample that closed the load
        steady = _median(values, lo, max(lo + 1, int(np.searchsorted(t, stop, side="right"))))
    after_requests: list[float] = []
    others_from = cycle.others_from if cycle.others_from is not None else math.inf
    for end in (e for e in cycle.request_ends if e < others_from):
        i = int(np.searchsorted(t, end, side="left"))
        while i < len(t) and not np.isfinite(values[i]):
            i += 1
        if i < len(t) and (unload_start is None or t[i] <= unload_start):
            after_requests.append(float(values[i]))
    after = None
    if unload_end is not None:
        stop = unload_end + AFTER_UNLOAD_S
        if next_load is not None:
            stop = min(stop, next_load)
        lo = max(0, int(np.searchsorted(t, unload_end, side="right")) - 1)  # the sample that closed the unload
        after = _median(values, lo, int(np.searchsorted(t, stop, side="right")))
    if others_from < math.inf:
        after = None  # what another model's load or unload did is in it: not this model's residue
    residue = None if after is None or before is None else after - before
    first = after_requests[0] if after_requests else None
    most = max(after_requests) if after_requests else None
    return MemoryFigures(before, peak, steady, after, residue, first, most)


def model_memory_report(timeline: Timeline, model: str) -> ModelMemoryReport | None:
    """Memory around the model's most recent load: before, peak during, steady after, after unload, residue."""
    events = sorted(timeline.events, key=lambda e: e.t)
    starts = [e for e in events if e.kind == "load_start" and e.model == model]
    if not starts:
        return None
    # The latest load cycle: the first load after the model's last completed unload (loading an already
    # loaded model again changes nothing, so it does not start a new cycle).
    unloads = [e.t for e in events if e.kind == "unload_end" and e.model == model and e.t < starts[-1].t]
    start = next(e for e in starts if e.t > (unloads[-1] if unloads else -math.inf))
    end = _first(events, "load_end", model, start.t)
    unload_start = _first(events, "unload_start", model, end.t) if end else None
    unload_end = _first(events, "unload_end", model, unload_start.t if unload_start else math.inf)
    after_unload = unload_end.t if unload_end else math.inf
    next_load = next((e.t for e in events if e.kind == "load_start" and e.t > after_unload), None)
    state: ModelState
    if end is None:
        state = "loading"
    elif end.detail.startswith("failed"):
        state = "failed"
    elif unload_end is not None and not unload_end.detail.startswith("failed"):
        state = "unloaded"
    else:
        state = "loaded"
    requests_until = unload_start.t if unload_start else math.inf
    mine = [e for e in events if e.model == model and end is not None and end.t <= e.t <= requests_until]
    cycle_end = unload_end.t if unload_end else math.inf
    others_from = next(
        (
            e.t
            for e in events
            if e.model != model
            and e.kind in ("load_start", "unload_start")
            and end is not None
            and end.t < e.t
            and e.t <= cycle_end
        ),
        None,
    )
    cycle = _Cycle(
        start.t,
        end.t if end else None,
        unload_start.t if unload_start else None,
        unload_end.t if unload_end else None,
        next_load,
        next((e.t for e in mine if e.kind == "first_token"), None),
        tuple(e.t for e in mine if e.kind == "stream_end" and not e.detail.startswith("error")),
        others_from,
    )
    t = timeline.t
    memory = _figures(t, timeline.get(MODEL_SERIES), cycle)
    gpu = _figures(t, timeline.gpu_total_used(), cycle) if timeline.gpu_indices() else None
    note = "" if timeline.has(MODEL_SERIES) else f"server memory not measurable ({timeline.server or 'unknown'})"
    return ModelMemoryReport(model, state, (end.t - start.t) if end else None, memory, gpu, note)


def memory_reports(timeline: Timeline) -> list[ModelMemoryReport]:
    """One report per model that was loaded in this timeline, the most recently loaded last."""
    order: dict[str, float] = {}
    for event in timeline.events:
        if event.kind == "load_start" and event.model:
            order[event.model] = event.t
    reports = (model_memory_report(timeline, model) for model in sorted(order, key=order.__getitem__))
    return [r for r in reports if r is not None]


__all__ = [
    "AFTER_UNLOAD_S",
    "REQUEST_GUARD_S",
    "STEADY_AFTER_S",
    "MemoryFigures",
    "ModelMemoryReport",
    "StaticTimeline",
    "Timeline",
    "TimelineSource",
    "memory_reports",
    "model_memory_report",
]

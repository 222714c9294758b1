"""One model's part of a benchmark run: which models (resolving names and variants), loading and unloading them
through the lifecycle, and the memory timeline sampled while each one runs.

`ModelRun` is the runner's mutable state for one model; `snapshot()` gives the typed `ModelResult` (a copy) with
what the catalog and the models file say about it, its memory peaks so far and the memory attributed to it
(engine.bench.memory: decided at its load, counted from its timeline's peaks).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from foundry_tui.backends.base import Backend, ModelEntry
from foundry_tui.backends.routing import split_model_id
from foundry_tui.engine.bench import memory as attribution
from foundry_tui.engine.bench.config import BenchConfig
from foundry_tui.engine.bench.memory import Attribution, Placement
from foundry_tui.engine.bench.results import LoadInfo, MemoryInfo, MemoryPoint, ModelResult
from foundry_tui.engine.lifecycle import LoadReport, ModelLifecycle
from foundry_tui.engine.monitor import MemorySample, MemorySampler, ServerTarget
from foundry_tui.engine.prompts import ModelTags, tags_for
from foundry_tui.errors import FoundryTuiError, NotSupportedError
from foundry_tui.text import safe_line


@dataclass
class ModelRun:
    """One model's result so far, plus what only the runner needs."""

    result: ModelResult
    entry: ModelEntry | None = None
    tags: ModelTags | None = None
    loaded_by_us: bool = False
    attribution: Attribution | None = None  # how its memory is counted (None: not loaded, e.g. not found)

    @property
    def model(self) -> str:
        return self.result.model

    @property
    def error(self) -> str | None:
        return self.result.error

    def fail(self, message: str, kind: str | None) -> None:
        """The first failure is the model's error."""
        if self.result.error is None:
            self.result.error, self.result.error_kind = message, kind

    def snapshot(self, server_label: str = "") -> ModelResult:
        """`server_label`: the sampler's server now (the note says why a server figure is missing)."""
        entry, tags, r = self.entry, self.tags, self.result
        timeline = list(r.memory_timeline)
        memory = with_peaks(r.memory, timeline)
        if self.attribution is not None:
            figure = self.attribution.figure(memory.rss_peak_mb, memory.server_rss_peak_mb)
            note = self.attribution.note_for(figure, server_label)
            memory = replace(memory, model_memory_mb=figure, model_memory_note=note)
        return replace(
            r,
            alias=entry.alias if entry else None,
            device=entry.device if entry else None,
            execution_provider=entry.execution_provider if entry else None,
            source=entry.source if entry else None,
            size_mb=entry.size_mb if entry and entry.size_mb is not None else (tags.size_mb if tags else None),
            license=entry.license if entry and entry.license else (tags.license if tags else None),
            capabilities=list(tags.capabilities) if tags else [],
            tags=tags,
            notes=list(r.notes),
            load=replace(r.load),
            memory=memory,
            memory_timeline=timeline,
            levels=[replace(level) for level in r.levels],
        )


def with_peaks(memory: MemoryInfo, timeline: list[MemoryPoint]) -> MemoryInfo:
    """`memory` with the largest RSS, RAM used, server RSS and (per GPU) GPU memory of the timeline."""
    if not timeline:
        return replace(memory, rss_peak_mb=None, ram_used_peak_mb=None, gpu_used_peak_mb=None, server_rss_peak_mb=None)
    gpu: list[float] | None = None
    for point in timeline:
        if point.gpu_used_mb:
            gpu = [max(a, b) for a, b in zip(gpu, point.gpu_used_mb, strict=False)] if gpu else list(point.gpu_used_mb)
    return replace(
        memory,
        rss_peak_mb=max(p.rss_mb for p in timeline),
        ram_used_peak_mb=max(p.ram_used_mb for p in timeline),
        gpu_used_peak_mb=gpu,
        server_rss_peak_mb=max((p.server_rss_mb for p in timeline if p.server_rss_mb is not None), default=None),
    )


# -- which models --------------------------------------------------------------------------------------------


def resolve_targets(backend: Backend, config: BenchConfig) -> list[ModelRun]:
    """Every requested name resolved (variants expanded); an unknown name becomes a failed model, not an
    exception."""
    out: list[ModelRun] = []
    seen: set[str] = set()
    for name in config.models:
        try:
            entry = backend.resolve(name)
        except FoundryTuiError as exc:
            failed = ModelResult(model=name, requested=name, status="error", error=str(exc), error_kind="not_found")
            out.append(ModelRun(failed))
            continue
        entries = [entry]
        if config.variants and len(entry.variants) > 1:
            entries = _cached_variants(backend, entry)
            if not entries:
                failed = ModelResult(model=entry.id, requested=name, status="error", error_kind="not_found")
                failed.error = f"no cached variant of {name}"
                out.append(ModelRun(failed, entry))
                continue
        for item in entries:
            if item.id in seen:
                continue
            seen.add(item.id)
            tags = tags_for(config.model_tags, item.id, item.alias)
            out.append(ModelRun(ModelResult(model=item.id, requested=name, status="pending"), item, tags))
    return out


def _cached_variants(backend: Backend, entry: ModelEntry) -> list[ModelEntry]:
    try:
        # An endpoint's model (URL#MODEL in a mixed run) has its variants on its server: it serves what it lists.
        cached = set(entry.variants) if split_model_id(entry.id)[0] else {e.id for e in backend.list_cached()}
    except NotSupportedError:
        cached = set(entry.variants)  # an endpoint serves what it lists
    entries = []
    for variant in entry.variants:
        if variant in cached:
            try:
                entries.append(backend.resolve(variant))
            except FoundryTuiError:
                continue
    return entries


# -- load and unload -----------------------------------------------------------------------------------------


def load(
    run: ModelRun,
    lifecycle: ModelLifecycle,
    sampler: MemorySampler,
    *,
    managed: bool,
    place: Placement,
    server: ServerTarget | None = None,
) -> LoadReport | None:
    """Load through the lifecycle (timed, memory bracketed); not when the model is already loaded or the backend
    cannot load models (then RSS is sampled once and the load time is not measured). None: not loaded by us
    (`run.result.load.note` says why; a failed load also fails the model). `place`: where the models live, which
    decides how the model's memory is counted (`run.attribution`); `server`: the process a "server" figure is of
    (None: the one the sampler watches)."""
    entry = run.entry
    assert entry is not None
    memory = run.result.memory
    if entry.loaded or not managed:
        sample = sampler.sample_now()
        cause = "already loaded" if entry.loaded else "backend cannot load models"
        note = f"{cause}: load time not measured"
        run.result.notes.append(note)
        run.result.load = LoadInfo(note=note)
        memory.rss_before_load_mb = memory.rss_after_load_mb = sample.process_rss_mb
        memory.ram_used_before_load_mb = sample.ram_used_mb
        run.attribution = _attribution(run, lifecycle, server or sampler.server, place, rss_before_mb=None)
        return None
    try:
        loaded, report = lifecycle.load(entry.id)
    except FoundryTuiError as exc:
        run.fail(f"load failed: {exc}", getattr(exc, "kind", "load"))
        run.result.load = LoadInfo(note="load failed")
        run.attribution = Attribution("none", attribution.NOT_LOADED)
        return None
    run.entry = loaded
    run.loaded_by_us = True
    run.result.load = LoadInfo(load_s=report.load_s)
    memory.rss_before_load_mb, memory.rss_after_load_mb = report.rss_before_mb, report.rss_after_mb
    memory.ram_used_before_load_mb, memory.ram_used_after_load_mb = report.ram_used_before_mb, report.ram_used_after_mb
    run.attribution = _attribution(run, lifecycle, server or sampler.server, place, rss_before_mb=report.rss_before_mb)
    return report


def _attribution(
    run: ModelRun, lifecycle: ModelLifecycle, server: ServerTarget, place: Placement, *, rss_before_mb: float | None
) -> Attribution:
    """`rss_before_mb`: the RSS right before the run loaded it (None: it was loaded before the run)."""
    if place != "in-process":
        return attribution.for_placement(place, server)
    loaded_by_run = rss_before_mb is not None
    # Loaded before the run: its pre-load RSS holds only while nothing was loaded or unloaded since.
    earlier = None if loaded_by_run else lifecycle.rss_before_load(run.model)
    return attribution.in_process(loaded_by_run=loaded_by_run, rss_before_mb=rss_before_mb, earlier_base_mb=earlier)


def unload(run: ModelRun, lifecycle: ModelLifecycle) -> None:
    """Unload what `load` loaded (RSS after unload, RSS kept); a failure is a note, not a failed model."""
    if not run.loaded_by_us:
        return
    run.loaded_by_us = False
    try:
        report = lifecycle.unload(run.model)
    except FoundryTuiError as exc:
        run.result.notes.append(f"unload failed: {safe_line(str(exc), 200)}")
        return
    run.result.memory.rss_after_unload_mb = report.rss_after_mb
    run.result.memory.rss_kept_after_unload_mb = report.residue_mb
    run.result.load.unload_s = report.unload_s


# -- memory timeline -----------------------------------------------------------------------------------------


class MemoryTimeline:
    """Memory samples during one model's run, from the shared sampler (`latest()`; `sample_now()` only when the
    sampler has not produced a new sample for 1.5 intervals, e.g. when it was never started). `server`: also keep
    the server process's RSS (an endpoint on this machine): read by `server_rss` when given (one of several
    endpoints), else the sampler's watched server."""

    def __init__(
        self,
        sampler: MemorySampler,
        interval_s: float,
        t0_mono: float,
        out: list[MemoryPoint],
        *,
        server: bool = False,
        server_rss: Callable[[], float | None] | None = None,
    ) -> None:
        self._sampler = sampler
        self._server = server
        self._server_rss = server_rss
        self._interval = interval_s
        self._t0 = t0_mono
        self._out = out
        self._last_t = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)
        self._lock = threading.Lock()

    def add(self, sample: MemorySample) -> None:
        with self._lock:
            if sample.t <= self._last_t:
                return
            self._last_t = sample.t
            server_rss = sample.server_rss_mb
            if self._server_rss is not None:
                own = self._server_rss()
                server_rss = math.nan if own is None else own
            self._out.append(
                MemoryPoint(
                    t=round(sample.t - self._t0, 3),
                    rss_mb=round(sample.process_rss_mb, 1),
                    ram_used_mb=round(sample.ram_used_mb, 1),
                    gpu_used_mb=[round(g.used_mb, 1) for g in sample.gpus] if sample.gpus else None,
                    server_rss_mb=round(server_rss, 1) if self._server and math.isfinite(server_rss) else None,
                )
            )

    def start(self) -> None:
        self.add(self._sampler.sample_now())
        self._thread.start()

    def seconds_at(self, perf_ns: int | None) -> float:
        """A perf_counter_ns() stamp on this timeline's clock (seconds since the run started); None → now."""
        now_mono, now_perf = time.monotonic(), time.perf_counter_ns()
        at = now_mono if perf_ns is None else now_mono - (now_perf - perf_ns) / 1e9
        return at - self._t0

    def points_since(self, t: float) -> list[MemoryPoint]:
        """The samples taken at or after `t` (seconds since the run started)."""
        with self._lock:
            return [p for p in self._out if p.t >= t - 1e-3]

    def _run(self) -> None:
        while not self._stop.wait(self._interval / 2):
            latest = self._sampler.latest()
            if latest is not None and latest.t > self._last_t:
                self.add(latest)
            elif time.monotonic() - self._last_t >= 1.5 * self._interval:
                self.add(self._sampler.sample_now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.add(self._sampler.sample_now())

"""Load and unload with the numbers people pick models by: how long, and what it did to memory.

Memory is bracketed with immediate samples (not the sampler's last tick), so a fast load still gets a real
before/after. "Residue" is what an unload left behind compared with before the load: the runtime is known to keep
memory after unload, and this makes it visible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from foundry_tui.backends.base import Backend, ModelEntry
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.text import safe_line


@dataclass(frozen=True)
class LoadReport:
    model: str
    load_s: float
    rss_before_mb: float
    rss_after_mb: float
    ram_used_before_mb: float
    ram_used_after_mb: float

    @property
    def rss_delta_mb(self) -> float:
        return self.rss_after_mb - self.rss_before_mb


@dataclass(frozen=True)
class UnloadReport:
    model: str
    unload_s: float
    rss_before_mb: float
    rss_after_mb: float
    residue_mb: float | None  # RSS after unload − RSS before this model's load (None: load not seen)


class ModelLifecycle:
    """Remembers each model's pre-load RSS so the unload can report the residue."""

    def __init__(self, backend: Backend, sampler: MemorySampler) -> None:
        self.backend = backend
        self.sampler = sampler
        self._rss_before_load: dict[str, float] = {}

    def rss_before_load(self, model: str) -> float | None:
        """The process RSS (MB) right before `model` was loaded, while it stays loaded (None: its load not seen)."""
        return self._rss_before_load.get(model)

    def load(self, model: str) -> tuple[ModelEntry, LoadReport]:
        # The sampler runs at its fast rate during the load, and the load is bracketed by event markers on the
        # samples' clock (engine.timeline turns them into peak / steady / residue figures).
        with self.sampler.fast():
            t_start = self.sampler.mark("load_start", model)
            before = self.sampler.sample_now()
            started = time.perf_counter()
            try:
                entry = self.backend.load(model)
            except Exception as exc:
                self.sampler.mark("load_end", model, f"failed: {safe_line(str(exc), 200)}")
                raise
            load_s = time.perf_counter() - started
            after = self.sampler.sample_now()
            if entry.id != model:  # loaded by alias: the markers carry the exact id
                self.sampler.events.relabel(t_start, "load_start", entry.id)
            self.sampler.mark("load_end", entry.id)
        self._rss_before_load.setdefault(entry.id, before.process_rss_mb)
        report = LoadReport(
            entry.id, load_s, before.process_rss_mb, after.process_rss_mb, before.ram_used_mb, after.ram_used_mb
        )
        return entry, report

    def unload(self, model: str) -> UnloadReport:
        self.sampler.mark("unload_start", model)
        before = self.sampler.sample_now()
        started = time.perf_counter()
        try:
            self.backend.unload(model)
        except Exception as exc:
            self.sampler.mark("unload_end", model, f"failed: {safe_line(str(exc), 200)}")
            raise
        unload_s = time.perf_counter() - started
        after = self.sampler.sample_now()
        self.sampler.mark("unload_end", model)
        baseline = self._rss_before_load.pop(model, None)
        residue = None if baseline is None else after.process_rss_mb - baseline
        return UnloadReport(model, unload_s, before.process_rss_mb, after.process_rss_mb, residue)

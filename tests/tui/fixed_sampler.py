"""A deterministic memory sampler for TUI tests and snapshots: no thread, no psutil, the same numbers every run."""

from __future__ import annotations

import dataclasses

import numpy as np

from foundry_tui.engine.monitor import GpuMemory, MemorySample, MemorySampler
from foundry_tui.engine.monitor.gpu import NO_DEVICES
from foundry_tui.engine.monitor.sampler import sample_row

FIXED_SAMPLE = MemorySample(
    t=0.0,
    ram_used_mb=8192.0,
    ram_total_mb=32768.0,
    ram_available_mb=24576.0,
    process_rss_mb=256.0,
    gpus=(),
)


class FixedSampler(MemorySampler):
    """Always reports `sample` (and a flat history of it); `start`/`stop` do nothing. With `record`, each immediate
    sample (the lifecycle's, around loads and at the ends of requests) also goes into the timeline, stamped now,
    with the server's RSS equal to this process's (the in-process runtime)."""

    def __init__(self, sample: MemorySample = FIXED_SAMPLE, *, points: int = 8, record: bool = False) -> None:
        super().__init__()
        self._fixed = sample
        self._points = points
        self._record = record

    @property
    def gpu_reason(self) -> str | None:
        return None if self._fixed.gpus else NO_DEVICES

    def start(self) -> FixedSampler:
        return self

    def stop(self) -> None:
        pass

    def grow(self, mb: float) -> None:
        """This process's RSS changes by `mb` from now on (a load, a KV cache, an unload)."""
        rss = self._fixed.process_rss_mb + mb
        self._fixed = dataclasses.replace(self._fixed, process_rss_mb=rss, ram_used_mb=self._fixed.ram_used_mb + mb)

    def sample_now(self) -> MemorySample:
        if not self._record:
            return self._fixed
        sample = dataclasses.replace(self._fixed, t=self.clock(), server_rss_mb=self._fixed.process_rss_mb)
        with self._lock:
            self._rings.push(sample_row(sample))
            self._samples += 1
        return sample

    def latest(self) -> MemorySample | None:
        return self._fixed

    def history(self, last_s: float | None = None) -> dict[str, np.ndarray]:
        out = {
            "ram_used": np.full(self._points, self._fixed.ram_used_mb),
            "process_rss": np.full(self._points, self._fixed.process_rss_mb),
        }
        for gpu in self._fixed.gpus:
            out[f"gpu{gpu.index}_used"] = np.full(self._points, gpu.used_mb)
        return out


__all__ = ["FIXED_SAMPLE", "FixedSampler", "GpuMemory"]

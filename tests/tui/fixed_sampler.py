"""A deterministic memory sampler for TUI tests and snapshots: no thread, no psutil, the same numbers every run."""

from __future__ import annotations

import numpy as np

from foundry_tui.engine.monitor import GpuMemory, MemorySample, MemorySampler
from foundry_tui.engine.monitor.gpu import NO_DEVICES

FIXED_SAMPLE = MemorySample(
    t=0.0,
    ram_used_mb=8192.0,
    ram_total_mb=32768.0,
    ram_available_mb=24576.0,
    process_rss_mb=256.0,
    gpus=(),
)


class FixedSampler(MemorySampler):
    """Always reports `sample` (and a flat history of it); `start`/`stop` do nothing."""

    def __init__(self, sample: MemorySample = FIXED_SAMPLE, *, points: int = 8) -> None:
        super().__init__()
        self._fixed = sample
        self._points = points

    @property
    def gpu_reason(self) -> str | None:
        return None if self._fixed.gpus else NO_DEVICES

    def start(self) -> FixedSampler:
        return self

    def stop(self) -> None:
        pass

    def sample_now(self) -> MemorySample:
        return self._fixed

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

"""One background sampler for memory: system RAM, this process, NVIDIA GPU memory via NVML.

Samples go into fixed-size numpy ring buffers (the last `window_s` seconds), so readers (the TUI strip, load
reports) never wait on psutil or NVML and never see a list that grows without bound.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import psutil

MB = 1_048_576


@dataclass(frozen=True)
class GpuMemory:
    index: int
    name: str
    used_mb: float
    total_mb: float


@dataclass(frozen=True)
class MemorySample:
    t: float  # time.monotonic() seconds
    ram_used_mb: float
    ram_total_mb: float
    ram_available_mb: float
    process_rss_mb: float
    gpus: tuple[GpuMemory, ...] = field(default_factory=tuple)


class Ring:
    """A fixed-capacity float ring buffer; `values()` returns the samples oldest first."""

    def __init__(self, capacity: int) -> None:
        self._data = np.full(capacity, np.nan)
        self._next = 0
        self._count = 0

    def push(self, value: float) -> None:
        self._data[self._next] = value
        self._next = (self._next + 1) % len(self._data)
        self._count = min(self._count + 1, len(self._data))

    def values(self) -> np.ndarray:
        if self._count < len(self._data):
            return self._data[: self._count].copy()
        return np.concatenate((self._data[self._next :], self._data[: self._next]))

    def __len__(self) -> int:
        return self._count


class GpuReader:
    """NVML handles opened once; any NVML failure turns into `reason` (and no GPU rows), never an exception."""

    def __init__(self, nvml: ModuleType | None = None) -> None:
        self.reason: str | None = None
        self._nvml: Any = nvml
        self._handles: list[tuple[int, str, Any]] = []
        if self._nvml is None:
            try:
                self._nvml = importlib.import_module("pynvml")
            except ImportError:
                self.reason = "no NVIDIA GPU (pynvml not installed)"
                return
        try:
            self._nvml.nvmlInit()
            for index in range(int(self._nvml.nvmlDeviceGetCount())):
                handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
                name = self._nvml.nvmlDeviceGetName(handle)
                self._handles.append((index, name.decode() if isinstance(name, bytes) else str(name), handle))
        except Exception as exc:
            self.reason = f"no NVIDIA GPU ({exc or type(exc).__name__})"
            self._handles = []
            return
        if not self._handles:
            self.reason = "no NVIDIA GPU"

    def read(self) -> tuple[GpuMemory, ...]:
        rows = []
        for index, name, handle in self._handles:
            try:
                memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception as exc:  # a GPU that fell off the bus: report it and stop polling it
                self.reason = f"GPU {index} unavailable ({exc or type(exc).__name__})"
                self._handles = [h for h in self._handles if h[0] != index]
                continue
            rows.append(GpuMemory(index, name, int(memory.used) / MB, int(memory.total) / MB))
        return tuple(rows)

    def close(self) -> None:
        if self._handles or self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._handles = []


class MemorySampler:
    """Samples at `interval_s` on a daemon thread; keeps the last `window_s` seconds."""

    def __init__(self, interval_s: float = 0.25, window_s: float = 60.0, nvml: ModuleType | None = None) -> None:
        self.interval_s = interval_s
        self.window_s = window_s
        capacity = max(2, int(window_s / interval_s))
        self._process = psutil.Process()
        self._gpu_module = nvml
        self._gpu: GpuReader | None = None
        self._lock = threading.Lock()
        self._latest: MemorySample | None = None
        self.ram_used = Ring(capacity)
        self.process_rss = Ring(capacity)
        self.gpu_used: dict[int, Ring] = {}
        self._capacity = capacity
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def gpu_reason(self) -> str | None:
        return self._gpu.reason if self._gpu else None

    def start(self) -> MemorySampler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._gpu is not None:
            self._gpu.close()

    def _run(self) -> None:
        self._gpu = GpuReader(self._gpu_module)  # NVML init can take a moment: never on the caller's thread
        while not self._stop.is_set():
            self.sample_now()
            self._stop.wait(self.interval_s)

    def sample_now(self) -> MemorySample:
        """Take one sample immediately (also used to bracket a load/unload precisely)."""
        memory = psutil.virtual_memory()
        try:
            rss = self._process.memory_info().rss / MB
        except psutil.Error:
            rss = float("nan")
        gpus = self._gpu.read() if self._gpu is not None else ()
        sample = MemorySample(
            t=time.monotonic(),
            ram_used_mb=(memory.total - memory.available) / MB,
            ram_total_mb=memory.total / MB,
            ram_available_mb=memory.available / MB,
            process_rss_mb=rss,
            gpus=gpus,
        )
        with self._lock:
            self._latest = sample
            self.ram_used.push(sample.ram_used_mb)
            self.process_rss.push(rss)
            for gpu in gpus:
                self.gpu_used.setdefault(gpu.index, Ring(self._capacity)).push(gpu.used_mb)
        return sample

    def latest(self) -> MemorySample | None:
        with self._lock:
            return self._latest

    def history(self) -> dict[str, np.ndarray]:
        """Copies of the ring buffers, oldest first: 'ram_used', 'process_rss', 'gpu0_used', …"""
        with self._lock:
            out = {"ram_used": self.ram_used.values(), "process_rss": self.process_rss.values()}
            for index, ring in self.gpu_used.items():
                out[f"gpu{index}_used"] = ring.values()
            return out

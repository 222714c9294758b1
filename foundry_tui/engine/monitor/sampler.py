"""The background sampler: one `MemorySample` at a time into the rings, on its own thread, on one clock.

A sample is RAM and swap, this process, the model server's process, CPU, and NVIDIA GPUs. Its timeline series are
the registry's (engine.metrics SAMPLE_SERIES / GPU_SERIES): each ring row is read off the sample through the
registry, so the sample's attributes, the timeline series and the recording fields cannot drift apart.

The sampler runs at `interval_s` (4 Hz by default) and at `fast_interval_s` (20 Hz) while someone holds `fast()`
— a model load. The costlier reads — USS (psutil `memory_full_info`, a walk of the page tables, ~1 ms for a
300 MB process), the GPU per-process lists, and swap where there is no /proc — refresh every `slow_interval_s`
(1 s, at any rate); a sample carries their last value meanwhile.

Every "now" comes from `clock` (`time.monotonic` unless a test injects one), and the event log is handed the same
clock, so a `Timeline` of samples and markers answers "peak during load" and "residue after unload".
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import psutil

from foundry_tui.engine.events import EventKind, EventLog
from foundry_tui.engine.metrics import GPU_SERIES, SAMPLE_SERIES, gpu_key, series_field
from foundry_tui.engine.monitor.gpu import GpuMemory, GpuReader
from foundry_tui.engine.monitor.procfs import NAN, PROC_ERRORS, CpuClock, ProcFiles, open_proc_files, system_busy
from foundry_tui.engine.monitor.rings import RingSet
from foundry_tui.engine.monitor.server import (
    REMOTE,
    ServerTarget,
    in_process_server,
    is_local_endpoint,
    pid_server,
    server_for_endpoint,
)
from foundry_tui.engine.timeline import Timeline
from foundry_tui.engine.units import MB

DEFAULT_INTERVAL_S = 0.25  # 4 Hz
FAST_INTERVAL_S = 0.05  # 20 Hz while a model loads
SLOW_INTERVAL_S = 1.0  # USS, swap, GPU process lists
SERVER_RETRY_S = 5.0  # how often to look for an endpoint's server process again when it is not found

Clock = Callable[[], float]

# (series key, MemorySample attribute) and (metric key, GpuMemory attribute): the registry, resolved once.
_SAMPLE_COLUMNS = tuple((m.key, series_field(m)) for m in SAMPLE_SERIES)
_GPU_COLUMNS = tuple((m, series_field(m)) for m in GPU_SERIES)


@dataclass(frozen=True)
class MemorySample:
    """One sample; the value attributes are SAMPLE_SERIES' `field`s in engine.metrics (NaN: not measurable)."""

    t: float  # the sampler's clock (time.monotonic() seconds unless injected)
    ram_used_mb: float
    ram_total_mb: float
    ram_available_mb: float
    process_rss_mb: float
    gpus: tuple[GpuMemory, ...] = field(default_factory=tuple)
    swap_used_mb: float = NAN
    swap_total_mb: float = NAN
    process_uss_mb: float = NAN  # refreshed every slow interval
    cpu_system_pct: float = NAN  # all cores, 0–100
    cpu_process_pct: float = NAN  # % of one core: 0 – 100 × logical cores
    server_pid: int | None = None
    server_rss_mb: float = NAN  # NaN: no server process measurable (remote, gone, not found)
    server_uss_mb: float = NAN
    server_cpu_pct: float = NAN


class MemorySampler:
    """Samples at `interval_s` on a daemon thread (and at `fast_interval_s` inside `fast()`).

    `window_s` is what `history()` returns by default (the strip's last minute); `keep_s` is how much the rings
    hold (the Monitor pane's "all"), counted at the base rate. Fast bursts use capacity faster.
    """

    live = True

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        window_s: float = 60.0,
        nvml: ModuleType | None = None,
        *,
        keep_s: float | None = None,
        fast_interval_s: float = FAST_INTERVAL_S,
        slow_interval_s: float = SLOW_INTERVAL_S,
        server: ServerTarget | None = None,
        pid: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.fast_interval_s = min(fast_interval_s, interval_s)
        self.slow_interval_s = slow_interval_s
        self.window_s = window_s
        self.keep_s = max(window_s, keep_s or window_s)
        self.clock = clock
        self.events = EventLog(clock=clock)  # markers on the samples' clock
        self._process = psutil.Process(pid) if pid is not None else psutil.Process()
        self._gpu_module = nvml
        self._gpu: GpuReader | None = None
        self._lock = threading.Lock()  # guards the rings, `_latest` and `_samples`
        self._sampled = threading.Condition(self._lock)  # notified after each sample
        self._sample_lock = threading.RLock()  # one sample at a time, so samples enter the rings in time order
        self._latest: MemorySample | None = None
        self._rings = RingSet(max(2, int(self.keep_s / interval_s)))
        self._samples = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._fast = 0
        self._fast_lock = threading.Lock()
        cpus = psutil.cpu_count() or 1
        self._cpu_system = CpuClock(100.0 / cpus, limit=100.0)  # busy s of all cores / (elapsed × cores)
        self._cpu_process = CpuClock(100.0, limit=100.0 * cpus)  # % of one core: every core at most
        self._cpu_server = CpuClock(100.0, limit=100.0 * cpus)
        self._slow_at = -math.inf
        # The slow reads' last values, carried between slow ticks.
        self._process_uss = NAN
        self._server_uss = NAN
        self._swap = (NAN, NAN)  # (used, total) MB
        self._server = server or in_process_server()
        self._server_endpoint: str | None = None
        self._server_process: psutil.Process | None = None
        self._server_checked = -math.inf
        self._files_opened = False
        self._system_files: ProcFiles | None = None
        self._process_files: ProcFiles | None = None
        self._server_files: ProcFiles | None = None
        self._no_proc: set[int] = set()

    # -- configuration -------------------------------------------------------------------------------------

    @property
    def gpu_reason(self) -> str | None:
        return self._gpu.reason if self._gpu else None

    @property
    def server(self) -> ServerTarget:
        return self._server

    def watch_server(self, *, endpoint: str | None = None, pid: int | None = None) -> None:
        """Which process holds the model: the endpoint's server (found on the next sample), a pid, or (neither)
        this process — the in-process runtime."""
        with self._sample_lock:
            self._server_process = None
            self._server_uss = NAN  # the previous server's
            self._close_files("_server_files")
            self._server_checked = -math.inf
            self._server_endpoint = endpoint if pid is None else None
            if pid is not None:
                self._server = pid_server(pid)
            elif endpoint:
                remote = not is_local_endpoint(endpoint)
                label = REMOTE if remote else "local server — looking for its process…"
                self._server = ServerTarget("remote" if remote else "local", None, label, endpoint)
                if remote:
                    self._server_endpoint = None
            else:
                self._server = in_process_server()

    @property
    def is_fast(self) -> bool:
        return self._fast > 0

    def current_interval(self) -> float:
        return self.fast_interval_s if self._fast else self.interval_s

    @contextlib.contextmanager
    def fast(self) -> Iterator[None]:
        """Sample at the fast rate while inside (nestable; e.g. around a model load)."""
        with self._fast_lock:
            self._fast += 1
        self._wake.set()
        try:
            yield
        finally:
            with self._fast_lock:
                self._fast -= 1

    def mark(self, kind: EventKind, model: str | None = None, detail: str = "") -> float:
        """Record an event marker on the samples' clock; returns its time."""
        return self.events.mark(kind, model, detail)

    # -- the thread ----------------------------------------------------------------------------------------

    def open_gpus(self) -> None:
        """Open NVML now, on this thread (the sampler thread does it on its own otherwise): for one-shot readers
        such as the fit check and the headless recorder."""
        with self._sample_lock:
            if self._gpu is None:
                self._gpu = GpuReader(self._gpu_module)

    def start(self) -> MemorySampler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._gpu is not None:
            self._gpu.close()
        with self._sample_lock:
            for attr in ("_system_files", "_process_files", "_server_files"):
                self._close_files(attr)
            self._files_opened = False

    def _run(self) -> None:
        self.open_gpus()  # NVML init can take a moment: never on the caller's thread
        next_t = self.clock()
        while not self._stop.is_set():
            self.sample_now()
            now = self.clock()
            # One interval after the planned time; when behind (a slow read, a suspended laptop), now: no burst.
            next_t = max(next_t + self.current_interval(), now)
            if self._wake.wait(next_t - now):
                self._wake.clear()
                next_t = self.clock()  # fast mode just began: sample at once

    def wait_for_samples(self, count: int, timeout: float | None = None) -> bool:
        """Block until `samples_taken` reaches `count` (False when `timeout` seconds passed first)."""
        with self._sampled:
            return self._sampled.wait_for(lambda: self._samples >= count, timeout)

    # -- one sample ----------------------------------------------------------------------------------------

    def _resolve_server(self, now: float) -> None:
        """Find (or find again) the server process; endpoints are looked up at most every SERVER_RETRY_S."""
        server = self._server
        if server.kind == "in-process" or server.kind == "remote":
            self._server_process = None
            return
        if self._server_process is not None:
            return
        if server.kind == "pid" and server.pid is not None:
            try:
                self._server_process = psutil.Process(server.pid)
            except psutil.Error:
                self._server = ServerTarget("pid", None, f"pid {server.pid} — not running")
            return
        if self._server_endpoint and now - self._server_checked >= SERVER_RETRY_S:
            self._server_checked = now
            self._server = server_for_endpoint(self._server_endpoint)
            if self._server.pid is not None:
                with contextlib.suppress(psutil.Error):
                    self._server_process = psutil.Process(self._server.pid)

    def _read_server(self, now: float, slow: bool) -> tuple[int | None, float, float]:
        """(pid, RSS MB, CPU %) of a server other than this process; (None, NaN, NaN) when not measurable."""
        process = self._server_process
        if process is None:
            return None, NAN, NAN
        try:
            rss, cpu_s = self._read_process(process, "_server_files")
            cpu = self._cpu_server.percent(now, cpu_s)
            if slow:
                try:
                    self._server_uss = process.memory_full_info().uss / MB
                except psutil.AccessDenied:
                    self._server_uss = NAN
        except psutil.Error as exc:  # it exited (look for it again later), or it is not ours to read
            self._server_process = None
            self._close_files("_server_files")
            self._server_uss = NAN
            if isinstance(exc, psutil.AccessDenied):
                label = f"pid {process.pid} — not readable (no permission)"
                self._server = ServerTarget(self._server.kind, None, label, self._server.endpoint)
            elif self._server.kind == "pid":
                self._server = ServerTarget("pid", None, f"pid {process.pid} — exited")
            else:
                self._server = ServerTarget("local", None, "local server — its process exited", self._server.endpoint)
            return None, NAN, NAN
        return int(process.pid), rss, cpu

    def _close_files(self, attr: str) -> None:
        files = getattr(self, attr)
        if files is not None:
            files.close()
            setattr(self, attr, None)

    def _read_process(self, process: psutil.Process, attr: str) -> tuple[float, float]:
        """(RSS MB, CPU s) through the /proc fast path when open for this pid, else psutil (raises psutil.Error)."""
        files: ProcFiles | None = getattr(self, attr)
        if files is not None and files.pid != process.pid:
            self._close_files(attr)
            files = None
        if files is None and self._files_opened and attr != "_process_files" and process.pid not in self._no_proc:
            files = open_proc_files(process.pid)
            setattr(self, attr, files)
            if files is None:
                self._no_proc.add(process.pid)  # psutil for this one from now on; do not retry every sample
        if files is not None:
            try:
                return files.process()
            except PROC_ERRORS:
                self._close_files(attr)
                if not process.is_running():
                    raise psutil.NoSuchProcess(process.pid) from None
        cpu = process.cpu_times()
        return process.memory_info().rss / MB, cpu.user + cpu.system

    def _read_system(self) -> tuple[float, float, float | None, float | None, float]:
        """(total MB, available MB, swap total MB, swap free MB, busy CPU s); swap None without /proc."""
        files = self._system_files
        if files is not None:
            try:
                total, available, swap_total, swap_free = files.memory()
                return total, available, swap_total, swap_free, files.cpu_busy()
            except PROC_ERRORS:
                self._close_files("_system_files")
        memory = psutil.virtual_memory()
        busy, _ = system_busy()
        return memory.total / MB, memory.available / MB, None, None, busy

    def sample_now(self) -> MemorySample:
        """Take one sample immediately (also used to bracket a load/unload precisely)."""
        with self._sample_lock:
            now = self.clock()
            slow = now - self._slow_at >= self.slow_interval_s
            if slow:
                self._slow_at = now
            if not self._files_opened:  # lazily: a sampler that never samples holds no file descriptors
                self._files_opened = True
                self._system_files = open_proc_files()
                self._process_files = open_proc_files(self._process.pid)
            total, available, swap_total, swap_free, busy = self._read_system()
            try:
                rss, cpu_s = self._read_process(self._process, "_process_files")
                cpu = self._cpu_process.percent(now, cpu_s)
                if slow:
                    self._process_uss = self._process.memory_full_info().uss / MB
            except psutil.Error:
                rss = cpu = self._process_uss = NAN
            if swap_total is not None and swap_free is not None:
                self._swap = (swap_total - swap_free, swap_total)
            elif slow:
                with contextlib.suppress(Exception):
                    swap = psutil.swap_memory()
                    self._swap = (swap.used / MB, swap.total / MB)
            self._resolve_server(now)
            if self._server.kind == "in-process":  # the watched process is the server
                server_pid: int | None = int(self._process.pid)
                server_rss, server_cpu, server_uss = rss, cpu, self._process_uss
            else:
                server_pid, server_rss, server_cpu = self._read_server(now, slow)
                server_uss = self._server_uss if server_pid is not None else NAN
            gpus = (
                self._gpu.read(our_pid=self._process.pid, server_pid=server_pid, processes=slow)
                if self._gpu is not None
                else ()
            )
            sample = MemorySample(
                t=now,
                ram_used_mb=total - available,
                ram_total_mb=total,
                ram_available_mb=available,
                process_rss_mb=rss,
                gpus=gpus,
                swap_used_mb=self._swap[0],
                swap_total_mb=self._swap[1],
                process_uss_mb=self._process_uss,
                cpu_system_pct=self._cpu_system.percent(now, busy),
                cpu_process_pct=cpu,
                server_pid=server_pid,
                server_rss_mb=server_rss,
                server_uss_mb=server_uss,
                server_cpu_pct=server_cpu,
            )
            row = sample_row(sample)
            with self._lock:
                self._latest = sample
                self._rings.push(row)
                self._samples += 1
                self._sampled.notify_all()
            return sample

    # -- readers -------------------------------------------------------------------------------------------

    def latest(self) -> MemorySample | None:
        with self._lock:
            return self._latest

    @property
    def samples_taken(self) -> int:
        with self._lock:
            return self._samples

    def _tail(self, last_s: float | None) -> dict[str, np.ndarray]:
        with self._lock:
            t = self._rings.column("t")
            if t is None:
                return {"t": np.empty(0)}
            n = len(t)
            if last_s is not None:
                n -= int(np.searchsorted(t, self.clock() - last_s, side="left"))
            return self._rings.tail(n)

    def history(self, last_s: float | None = None) -> dict[str, np.ndarray]:
        """Copies of the series over the last `last_s` seconds (default `window_s`), oldest first:
        't', 'ram_used', 'process_rss', 'gpu0_used', … (see docs/metrics.md for every name)."""
        out = self._tail(self.window_s if last_s is None else last_s)
        out.setdefault("ram_used", np.empty(0))
        out.setdefault("process_rss", np.empty(0))
        return out

    def timeline(self, last_s: float | None = None) -> Timeline:
        """Samples (everything kept, or the last `last_s` seconds) and every event marker, as one snapshot."""
        series = self._tail(last_s)
        latest = self.latest()
        return Timeline(
            series=series,
            events=self.events.events(),
            gpu_reason=self.gpu_reason,
            server=self._server.label,
            end=self.clock(),
            gpu_names={gpu.index: gpu.name for gpu in latest.gpus} if latest else {},
        )


_gpu_columns: dict[int, tuple[tuple[str, str], ...]] = {}  # GPU index → its (series key, attribute) pairs


def sample_row(sample: MemorySample) -> dict[str, float]:
    """A sample as one row of timeline series ("t", then the registry's keys; None → NaN)."""
    row = {"t": sample.t}
    for key, name in _SAMPLE_COLUMNS:
        row[key] = getattr(sample, name)
    for gpu in sample.gpus:
        columns = _gpu_columns.get(gpu.index)
        if columns is None:
            columns = _gpu_columns[gpu.index] = tuple((gpu_key(gpu.index, m), name) for m, name in _GPU_COLUMNS)
        for key, name in columns:
            value = getattr(gpu, name)
            row[key] = NAN if value is None else value
    return row


__all__ = [
    "DEFAULT_INTERVAL_S",
    "FAST_INTERVAL_S",
    "SLOW_INTERVAL_S",
    "Clock",
    "MemorySample",
    "MemorySampler",
    "sample_row",
]

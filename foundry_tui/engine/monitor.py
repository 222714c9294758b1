"""One background sampler: system RAM and swap, this process, the model server's process, CPU, NVIDIA GPUs.

Samples go into fixed-size numpy ring buffers, so readers (the TUI strip and Monitor pane, load reports, the
recorder) never wait on psutil or NVML and never see a list that grows without bound. The sampler runs at
`interval_s` (4 Hz by default) and at `fast_interval_s` (20 Hz) while someone holds `fast()` — a model load.

The costlier reads — USS (psutil `memory_full_info`, a walk of the page tables, ~1 ms for a 300 MB process) and
the GPU per-process lists (and swap where there is no /proc) — refresh every `slow_interval_s` (1 s, at any rate);
the other fields of a sample carry their last value meanwhile. On Linux the per-sample reads go through /proc
files kept open (`_ProcFiles`): ~0.1 ms a sample instead of ~0.25 ms through psutil.

The "server" is the process that holds the model: this process for the in-process runtime, the process
listening on the endpoint's port when the endpoint is on this machine, or nothing ("remote — not measurable").

Event markers (engine.events) are kept on the same clock (`time.monotonic()`), so a `Timeline` of samples and
markers answers "peak during load" and "residue after unload" (engine.timeline).
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import psutil

from foundry_tui.engine.events import EventKind, EventLog
from foundry_tui.engine.timeline import Timeline

MB = 1_048_576
NAN = float("nan")

DEFAULT_INTERVAL_S = 0.25  # 4 Hz
FAST_INTERVAL_S = 0.05  # 20 Hz while a model loads
SLOW_INTERVAL_S = 1.0  # USS, swap, GPU process lists
SERVER_RETRY_S = 5.0  # how often to look for an endpoint's server process again when it is not found


@dataclass(frozen=True)
class GpuMemory:
    index: int
    name: str
    used_mb: float
    total_mb: float
    util_pct: float | None = None  # GPU utilisation over NVML's last sample period
    power_w: float | None = None
    temp_c: float | None = None
    energy_j: float | None = None  # NVML's energy counter (since the driver loaded), joules
    process_mb: float | None = None  # this process's GPU memory (None: not listed / not measurable)
    server_mb: float | None = None  # the server process's GPU memory
    processes_note: str | None = None  # why per-process memory is unknown ("no permission", "not supported")


@dataclass(frozen=True)
class MemorySample:
    t: float  # time.monotonic() seconds
    ram_used_mb: float
    ram_total_mb: float
    ram_available_mb: float
    process_rss_mb: float
    gpus: tuple[GpuMemory, ...] = field(default_factory=tuple)
    swap_used_mb: float = NAN
    swap_total_mb: float = NAN
    process_uss_mb: float = NAN  # refreshed every slow interval
    cpu_system_pct: float = NAN  # all cores, 0–100
    cpu_process_pct: float = NAN  # % of one core (can exceed 100)
    server_pid: int | None = None
    server_rss_mb: float = NAN  # NaN: no server process measurable (remote, gone, not found)
    server_uss_mb: float = NAN
    server_cpu_pct: float = NAN


# -- ring buffers ------------------------------------------------------------------------------------------


class Ring:
    """A fixed-capacity float ring buffer; `values()` returns the samples oldest first."""

    def __init__(self, capacity: int, *, fill: int = 0) -> None:
        self._data = np.full(capacity, np.nan)
        self._next = fill % capacity
        self._count = min(fill, capacity)  # `fill` NaNs already pushed (a series that appeared late)

    def push(self, value: float) -> None:
        self._data[self._next] = value
        self._next = (self._next + 1) % len(self._data)
        self._count = min(self._count + 1, len(self._data))

    def values(self) -> np.ndarray:
        if self._count < len(self._data):
            return self._data[: self._count].copy()
        return np.concatenate((self._data[self._next :], self._data[: self._next]))

    def tail(self, n: int) -> np.ndarray:
        """The last `n` values (at most `len(self)`), oldest first."""
        n = max(0, min(n, self._count))
        if n == 0:
            return np.empty(0)
        start = self._next - n
        if start >= 0:
            return self._data[start : self._next].copy()
        return np.concatenate((self._data[start:], self._data[: self._next]))

    def __len__(self) -> int:
        return self._count


class RingSet:
    """Aligned series in one 2-D ring (a row per sample, a column per series name): one row write per push.

    A series that appears late is NaN for the samples before it; a row without a series gets NaN there.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys: list[str] = []
        self._column: dict[str, int] = {}
        self._data = np.empty((capacity, 0))
        self._next = 0
        self.count = 0

    def push(self, row: dict[str, float]) -> None:
        new = [key for key in row if key not in self._column]
        if new:
            for key in new:
                self._column[key] = len(self.keys)
                self.keys.append(key)
            self._data = np.hstack((self._data, np.full((self.capacity, len(new)), np.nan)))
        values = np.full(len(self.keys), np.nan)
        column = self._column
        for key, value in row.items():
            values[column[key]] = value
        self._data[self._next] = values
        self._next = (self._next + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def column(self, key: str) -> np.ndarray | None:
        """One series, oldest first (a copy); None when it never appeared."""
        index = self._column.get(key)
        return None if index is None else self._rows(self.count)[:, index].copy()

    def _rows(self, n: int) -> np.ndarray:
        n = max(0, min(n, self.count))
        if self.count < self.capacity:
            return self._data[self.count - n : self.count]
        return np.take(self._data, np.arange(self._next - n, self._next) % self.capacity, axis=0)

    def tail(self, n: int) -> dict[str, np.ndarray]:
        """The last `n` samples of every series, oldest first (copies)."""
        block = np.array(self._rows(n))
        return {key: block[:, index] for key, index in self._column.items()}

    def __len__(self) -> int:
        return self.count


# -- NVIDIA GPUs -------------------------------------------------------------------------------------------


def _nvml_text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _nvml_kind(exc: BaseException) -> str:
    """'lost', 'unsupported', 'permission' or 'other', from the error code or its text."""
    code = getattr(exc, "value", None)
    text = str(exc).lower()
    if code == 15 or "lost" in text or code == 16 or "requires restart" in text:
        return "lost"
    if code in (3, 13) or "not supported" in text or "function not found" in text:
        return "unsupported"
    if code == 4 or "permission" in text:
        return "permission"
    return "other"


class GpuReader:
    """NVML handles opened once; any NVML failure turns into `reason` (and no GPU rows), never an exception.

    Optional readings (utilisation, power, temperature, energy, per-process memory) that a GPU does not support
    are skipped from then on; a GPU whose memory cannot be read any more (fell off the bus) is dropped.
    """

    def __init__(self, nvml: ModuleType | None = None) -> None:
        self.reason: str | None = None
        self._nvml: Any = nvml
        self._handles: list[tuple[int, str, Any]] = []
        self._unsupported: set[tuple[int, str]] = set()
        self._processes: dict[int, tuple[dict[int, float], str | None]] = {}  # index → (pid → MB, note)
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
                self._handles.append((index, _nvml_text(name), handle))
        except Exception as exc:
            self.reason = f"no NVIDIA GPU ({exc or type(exc).__name__})"
            self._handles = []
            return
        if not self._handles:
            self.reason = "no NVIDIA GPU"

    @property
    def available(self) -> bool:
        return bool(self._handles)

    def _optional(self, index: int, what: str, call: Any, *args: Any) -> Any:
        if (index, what) in self._unsupported:
            return None
        try:
            return call(*args)
        except Exception as exc:
            if _nvml_kind(exc) in ("unsupported", "permission"):
                self._unsupported.add((index, what))  # it will not start working: stop asking
            return None

    def _read_processes(self, index: int, handle: Any) -> tuple[dict[int, float], str | None]:
        usage: dict[int, float] = {}
        notes = []
        for what in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            call = getattr(self._nvml, what, None)
            if call is None:
                notes.append("not supported")
                continue
            try:
                rows = call(handle)
            except Exception as exc:
                kind = _nvml_kind(exc)
                notes.append({"permission": "no permission", "unsupported": "not supported"}.get(kind, "error"))
                continue
            for row in rows:
                used = getattr(row, "usedGpuMemory", None)
                if used is None:  # Windows WDDM and some containers report no per-process figure
                    continue
                pid = int(row.pid)
                usage[pid] = max(usage.get(pid, 0.0), int(used) / MB)
        # A list the GPU does not support is fine when the other one was read; a denied or failed one is not:
        # a partial list would under-report.
        failed = [n for n in notes if n != "not supported"]
        note = failed[0] if failed else ("not supported" if len(notes) == 2 else None)
        return usage, note

    def read(
        self, *, our_pid: int | None = None, server_pid: int | None = None, processes: bool = True
    ) -> tuple[GpuMemory, ...]:
        rows = []
        nvml = self._nvml
        for index, name, handle in list(self._handles):
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception as exc:  # a GPU that fell off the bus: report it and stop polling it
                self.reason = f"GPU {index} unavailable ({exc or type(exc).__name__})"
                self._handles = [h for h in self._handles if h[0] != index]
                continue
            util = self._optional(index, "util", getattr(nvml, "nvmlDeviceGetUtilizationRates", None), handle)
            power = self._optional(index, "power", getattr(nvml, "nvmlDeviceGetPowerUsage", None), handle)
            temp = self._optional(
                index,
                "temp",
                getattr(nvml, "nvmlDeviceGetTemperature", None),
                handle,
                getattr(nvml, "NVML_TEMPERATURE_GPU", 0),
            )
            energy = self._optional(index, "energy", getattr(nvml, "nvmlDeviceGetTotalEnergyConsumption", None), handle)
            if processes or index not in self._processes:
                self._processes[index] = self._read_processes(index, handle)
            usage, note = self._processes[index]
            rows.append(
                GpuMemory(
                    index,
                    name,
                    int(memory.used) / MB,
                    int(memory.total) / MB,
                    util_pct=None if util is None else float(util.gpu),
                    power_w=None if power is None else int(power) / 1000.0,
                    temp_c=None if temp is None else float(temp),
                    energy_j=None if energy is None else int(energy) / 1000.0,
                    process_mb=None if note else usage.get(our_pid, 0.0) if our_pid is not None else None,
                    server_mb=None if note or server_pid is None else usage.get(server_pid, 0.0),
                    processes_note=note,
                )
            )
        return tuple(rows)

    def close(self) -> None:
        if self._handles or self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._handles = []


# -- the server process ------------------------------------------------------------------------------------

ServerKind = Literal["in-process", "pid", "local", "remote"]


@dataclass(frozen=True)
class ServerTarget:
    """Which process holds the model, and how we know."""

    kind: ServerKind
    pid: int | None = None
    label: str = ""
    endpoint: str | None = None

    @property
    def measurable(self) -> bool:
        return self.pid is not None


def in_process_server() -> ServerTarget:
    return ServerTarget("in-process", os.getpid(), "this process (in-process runtime)")


def pid_server(pid: int) -> ServerTarget:
    try:
        name = psutil.Process(pid).name()
    except psutil.Error:
        return ServerTarget("pid", None, f"pid {pid} — not running")
    return ServerTarget("pid", pid, f"pid {pid} ({name})")


def _local_addresses() -> set[str]:
    out = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", socket.gethostname().lower()}
    with contextlib.suppress(Exception):
        for addresses in psutil.net_if_addrs().values():
            out.update(a.address.split("%")[0].lower() for a in addresses)
    return out


def is_local_host(host: str) -> bool:
    """True when `host` names this machine (loopback, one of its addresses, its hostname). No DNS lookups."""
    host = host.strip("[]").lower()
    if not host:
        return False
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return True
    return host in _local_addresses()


def is_local_endpoint(url: str) -> bool:
    return is_local_host(urlsplit(url).hostname or "")


def _endpoint_port(url: str) -> int:
    parts = urlsplit(url)
    if parts.port is not None:
        return parts.port
    return 443 if parts.scheme == "https" else 80


def listening_pid(port: int) -> tuple[int | None, str | None]:
    """The pid listening on TCP `port` here (None, why) when it cannot be seen."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None, "listening sockets not readable (no permission)"
    except Exception as exc:
        return None, f"listening sockets not readable ({type(exc).__name__})"
    listening = [c for c in connections if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]
    for connection in listening:
        if connection.pid is not None:
            return connection.pid, None
    if listening:
        return None, f"port {port} is open but its process is not visible (another user's?)"
    return None, f"nothing listens on port {port}"


def server_for_endpoint(url: str) -> ServerTarget:
    """The endpoint's server process when it runs on this machine (scans sockets: ~10 ms; not on the UI thread)."""
    host = urlsplit(url).hostname or ""
    if not is_local_host(host):
        return ServerTarget("remote", None, "remote — not measurable", url)
    port = _endpoint_port(url)
    pid, why = listening_pid(port)
    if pid is None:
        return ServerTarget("local", None, f"local server on :{port} — {why}", url)
    try:
        name = psutil.Process(pid).name()
    except psutil.Error:
        name = "?"
    return ServerTarget("local", pid, f"pid {pid} ({name}) on :{port}", url)


# -- the sampler -------------------------------------------------------------------------------------------


class _ProcFiles:
    """Linux: /proc files kept open and re-read with pread, parsing only the fields we use.

    psutil opens, reads and parses whole files on every call (virtual_memory alone ~100 µs); at 20 Hz that is
    most of the sampler's cost. Any surprise (another OS, a file that cannot be read) → psutil from then on.
    """

    PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pid: int | None = None) -> None:
        self._fds: dict[str, int] = {}
        self.pid = pid
        try:
            if pid is None:
                self._fds["meminfo"] = os.open("/proc/meminfo", os.O_RDONLY)
                self._fds["stat"] = os.open("/proc/stat", os.O_RDONLY)
            else:
                self._fds["statm"] = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
                self._fds["pstat"] = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        except (OSError, AttributeError):
            self.close()
            raise

    def _read(self, name: str, size: int = 4096) -> bytes:
        data = os.pread(self._fds[name], size, 0)
        if not data:
            raise OSError(f"/proc {name} is empty (the process exited?)")
        return data

    def memory(self) -> tuple[float, float, float, float]:
        """(total, available, swap total, swap free) in MB, from /proc/meminfo."""
        found: dict[bytes, float] = {}
        for line in self._read("meminfo", 8192).splitlines():
            key, _, rest = line.partition(b":")
            if key in (b"MemTotal", b"MemAvailable", b"SwapTotal", b"SwapFree"):
                found[key] = int(rest.split()[0]) / 1024  # kB → MB
                if len(found) == 4:
                    break
        return found[b"MemTotal"], found[b"MemAvailable"], found[b"SwapTotal"], found[b"SwapFree"]

    def cpu_busy(self) -> float:
        """Busy CPU seconds of all cores (total − idle − iowait), from the first line of /proc/stat."""
        fields = [int(v) for v in self._read("stat", 256).split(b"\n", 1)[0].split()[1:9]]
        return (sum(fields) - fields[3] - fields[4]) / self.TICK

    def process(self) -> tuple[float, float]:
        """(RSS MB, CPU seconds user+system) of the process."""
        rss_pages = int(self._read("statm", 256).split()[1])
        after_name = self._read("pstat", 1024).rpartition(b")")[2].split()
        cpu = (int(after_name[11]) + int(after_name[12])) / self.TICK  # utime, stime (fields 14, 15)
        return rss_pages * self.PAGE / MB, cpu

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}

    def __del__(self) -> None:
        self.close()


_PROC_ERRORS = (OSError, ValueError, IndexError, KeyError)


def _proc_files(pid: int | None = None) -> _ProcFiles | None:
    """Open (and try once) the /proc fast path; None where there is none."""
    if not os.path.isdir("/proc/self"):
        return None
    try:
        files = _ProcFiles(pid)
    except _PROC_ERRORS:
        return None
    try:
        if pid is None:
            files.memory()
            files.cpu_busy()
        else:
            files.process()
    except _PROC_ERRORS:
        files.close()
        return None
    return files


class _CpuClock:
    """CPU % between two calls, from cumulative CPU times (independent of psutil's per-thread state)."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def percent(self, now: float, busy_s: float, scale: float) -> float:
        last, self._last = self._last, (now, busy_s)
        if last is None or now <= last[0]:
            return NAN
        return max(0.0, (busy_s - last[1]) / (now - last[0]) * scale)


def _system_busy() -> tuple[float, float]:
    times = psutil.cpu_times()
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


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
    ) -> None:
        self.interval_s = interval_s
        self.fast_interval_s = min(fast_interval_s, interval_s)
        self.slow_interval_s = slow_interval_s
        self.window_s = window_s
        self.keep_s = max(window_s, keep_s or window_s)
        capacity = max(2, int(self.keep_s / interval_s))
        self._process = psutil.Process(pid) if pid is not None else psutil.Process()
        self._gpu_module = nvml
        self._gpu: GpuReader | None = None
        self._lock = threading.Lock()  # guards the rings and `_latest`
        self._sample_lock = threading.RLock()  # one sample at a time, so samples enter the rings in time order
        self._latest: MemorySample | None = None
        self._rings = RingSet(capacity)
        self._capacity = capacity
        self.events = EventLog()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._fast = 0
        self._fast_lock = threading.Lock()
        self._cpu_system = _CpuClock()
        self._cpu_process = _CpuClock()
        self._cpu_server = _CpuClock()
        self._cpus = psutil.cpu_count() or 1
        self._slow_at = -math.inf
        self._slow: dict[str, float] = {}
        self._server = server or in_process_server()
        self._server_endpoint: str | None = None
        self._server_process: psutil.Process | None = None
        self._server_checked = -math.inf
        self._samples = 0
        self._files_opened = False
        self._system_files: _ProcFiles | None = None
        self._process_files: _ProcFiles | None = None
        self._server_files: _ProcFiles | None = None
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
            self._close_files("_server_files")
            self._server_checked = -math.inf
            self._server_endpoint = endpoint if pid is None else None
            if pid is not None:
                self._server = pid_server(pid)
            elif endpoint:
                remote = not is_local_endpoint(endpoint)
                label = "remote — not measurable" if remote else "local server — looking for its process…"
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
        next_t = time.monotonic()
        while not self._stop.is_set():
            self.sample_now()
            next_t += self.current_interval()
            now = time.monotonic()
            if next_t < now:  # fell behind (a slow read, a suspended laptop): do not burst to catch up
                next_t = now
            if self._wake.wait(next_t - now):
                self._wake.clear()
                next_t = time.monotonic()  # fast mode just began: sample at once

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

    def _read_server(self, now: float, slow: bool, row: dict[str, float]) -> int | None:
        if self._server.kind == "in-process":
            row["server_rss"] = row["process_rss"]
            row["server_cpu"] = row["cpu_process"]
            return int(self._process.pid)
        process = self._server_process
        if process is None:
            return None
        try:
            rss, cpu = self._read_process(process, "_server_files")
            row["server_rss"] = rss
            row["server_cpu"] = self._cpu_server.percent(now, cpu, 100.0)
            if slow:
                try:
                    self._slow["server_uss"] = process.memory_full_info().uss / MB
                except psutil.AccessDenied:
                    self._slow["server_uss"] = NAN
        except psutil.Error as exc:  # it exited (look for it again later), or it is not ours to read
            self._server_process = None
            self._close_files("_server_files")
            self._slow.pop("server_uss", None)
            if isinstance(exc, psutil.AccessDenied):
                label = f"pid {process.pid} — not readable (no permission)"
                self._server = ServerTarget(self._server.kind, None, label, self._server.endpoint)
            elif self._server.kind == "pid":
                self._server = ServerTarget("pid", None, f"pid {process.pid} — exited")
            else:
                self._server = ServerTarget("local", None, "local server — its process exited", self._server.endpoint)
            return None
        return int(process.pid)

    def _close_files(self, attr: str) -> None:
        files = getattr(self, attr)
        if files is not None:
            files.close()
            setattr(self, attr, None)

    def _read_process(self, process: psutil.Process, attr: str) -> tuple[float, float]:
        """(RSS MB, CPU s) through the /proc fast path when open for this pid, else psutil (raises psutil.Error)."""
        files: _ProcFiles | None = getattr(self, attr)
        if files is not None and files.pid != process.pid:
            self._close_files(attr)
            files = None
        if files is None and self._files_opened and attr != "_process_files" and process.pid not in self._no_proc:
            files = _proc_files(process.pid)
            setattr(self, attr, files)
            if files is None:
                self._no_proc.add(process.pid)  # psutil for this one from now on; do not retry every sample
        if files is not None:
            try:
                return files.process()
            except _PROC_ERRORS:
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
            except _PROC_ERRORS:
                self._close_files("_system_files")
        memory = psutil.virtual_memory()
        busy, _ = _system_busy()
        return memory.total / MB, memory.available / MB, None, None, busy

    def sample_now(self) -> MemorySample:
        """Take one sample immediately (also used to bracket a load/unload precisely)."""
        with self._sample_lock:
            now = time.monotonic()
            slow = now - self._slow_at >= self.slow_interval_s
            if slow:
                self._slow_at = now
            if not self._files_opened:  # lazily: a sampler that never samples holds no file descriptors
                self._files_opened = True
                self._system_files = _proc_files()
                self._process_files = _proc_files(self._process.pid)
            total, available, swap_total, swap_free, busy = self._read_system()
            row: dict[str, float] = {
                "t": now,
                "ram_used": total - available,
                "ram_total": total,
                "ram_available": available,
            }
            try:
                row["process_rss"], cpu = self._read_process(self._process, "_process_files")
                row["cpu_process"] = self._cpu_process.percent(now, cpu, 100.0)
                if slow:
                    self._slow["process_uss"] = self._process.memory_full_info().uss / MB
            except psutil.Error:
                row["process_rss"] = row["cpu_process"] = NAN
                self._slow["process_uss"] = NAN
            row["cpu_system"] = self._cpu_system.percent(now, busy, 100.0 / self._cpus)
            if swap_total is not None and swap_free is not None:
                self._slow["swap_used"] = swap_total - swap_free
                self._slow["swap_total"] = swap_total
            elif slow:
                with contextlib.suppress(Exception):
                    swap = psutil.swap_memory()
                    self._slow["swap_used"] = swap.used / MB
                    self._slow["swap_total"] = swap.total / MB
            self._resolve_server(now)
            server_pid = self._read_server(now, slow, row)
            if self._server.kind == "in-process":
                self._slow["server_uss"] = self._slow.get("process_uss", NAN)
            row.update(self._slow)
            gpus = (
                self._gpu.read(our_pid=self._process.pid, server_pid=server_pid, processes=slow)
                if self._gpu is not None
                else ()
            )
            for gpu in gpus:
                prefix = f"gpu{gpu.index}_"
                row[prefix + "used"] = gpu.used_mb
                row[prefix + "total"] = gpu.total_mb
                for key, value in (
                    ("util", gpu.util_pct),
                    ("power", gpu.power_w),
                    ("temp", gpu.temp_c),
                    ("energy", gpu.energy_j),
                    ("process", gpu.process_mb),
                    ("server", gpu.server_mb),
                ):
                    row[prefix + key] = NAN if value is None else value
            sample = MemorySample(
                t=now,
                ram_used_mb=row["ram_used"],
                ram_total_mb=row["ram_total"],
                ram_available_mb=row["ram_available"],
                process_rss_mb=row["process_rss"],
                gpus=gpus,
                swap_used_mb=row.get("swap_used", NAN),
                swap_total_mb=row.get("swap_total", NAN),
                process_uss_mb=row.get("process_uss", NAN),
                cpu_system_pct=row["cpu_system"],
                cpu_process_pct=row["cpu_process"],
                server_pid=server_pid,
                server_rss_mb=row.get("server_rss", NAN),
                server_uss_mb=row.get("server_uss", NAN) if server_pid is not None else NAN,
                server_cpu_pct=row.get("server_cpu", NAN),
            )
            with self._lock:
                self._latest = sample
                self._rings.push(row)
                self._samples += 1
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
                n -= int(np.searchsorted(t, time.monotonic() - last_s, side="left"))
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
            end=time.monotonic(),
            gpu_names={gpu.index: gpu.name for gpu in latest.gpus} if latest else {},
        )


__all__ = [
    "MB",
    "GpuMemory",
    "GpuReader",
    "MemorySample",
    "MemorySampler",
    "Ring",
    "RingSet",
    "ServerTarget",
    "in_process_server",
    "is_local_endpoint",
    "is_local_host",
    "listening_pid",
    "pid_server",
    "server_for_endpoint",
]

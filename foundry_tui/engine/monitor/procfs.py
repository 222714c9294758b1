"""The Linux /proc fast path and CPU-% arithmetic: what one sample reads about the system and a process.

psutil opens, reads and parses whole files on every call (virtual_memory alone ~100 µs); at 20 Hz that is most of
the sampler's cost. Here the few /proc files we need stay open and are re-read with pread, parsing only the fields
we use (~0.1 ms a sample instead of ~0.25 ms). Any surprise (another OS, a file that cannot be read) → the caller
falls back to psutil from then on. CPU % is computed from cumulative CPU seconds between two samples, so it does not
depend on psutil's per-object state.
"""

from __future__ import annotations

import contextlib
import os

import psutil

from foundry_tui.engine.units import MB

NAN = float("nan")

# What a /proc read can raise when the file vanished, changed shape or the OS has none.
PROC_ERRORS = (OSError, ValueError, IndexError, KeyError)


_MEMINFO_KEYS = (b"MemTotal:", b"MemAvailable:", b"SwapTotal:", b"SwapFree:")  # each unique in the file


def meminfo_kb(data: bytes, key: bytes) -> int:
    """The number after `key` in /proc/meminfo ("MemTotal:   24684084 kB"); ValueError when it is not there.
    Finding four keys is ~5× cheaper than splitting the whole file into lines."""
    start = data.index(key) + len(key)
    return int(data[start : data.index(b"k", start)])


class ProcFiles:
    """Linux: /proc files of the system (`pid=None`) or of one process, kept open and re-read with pread."""

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
        data = self._read("meminfo", 8192)
        total, available, swap_total, swap_free = (meminfo_kb(data, key) / 1024 for key in _MEMINFO_KEYS)  # kB → MB
        return total, available, swap_total, swap_free

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


def open_proc_files(pid: int | None = None) -> ProcFiles | None:
    """Open (and try once) the /proc fast path for the system or a process; None where there is none."""
    if not os.path.isdir("/proc/self"):
        return None
    try:
        files = ProcFiles(pid)
    except PROC_ERRORS:
        return None
    try:
        if pid is None:
            files.memory()
            files.cpu_busy()
        else:
            files.process()
    except PROC_ERRORS:
        files.close()
        return None
    return files


def system_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores through psutil, where there is no /proc."""
    times = psutil.cpu_times()
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuClock:
    """CPU % between two calls, from cumulative CPU seconds: busy seconds per elapsed second × `scale`, at most
    `limit`.

    The cap is needed because the two sides come from different clocks: busy time is counted in whole scheduler
    ticks (10 ms) while the elapsed time is exact, so a fully busy stretch can read a tick over (100.42 % seen).
    """

    def __init__(self, scale: float, *, limit: float) -> None:
        self.scale = scale
        self.limit = limit
        self._last: tuple[float, float] | None = None

    def percent(self, now: float, busy_s: float) -> float:
        last, self._last = self._last, (now, busy_s)
        if last is None or now <= last[0]:
            return NAN
        return min(self.limit, max(0.0, (busy_s - last[1]) / (now - last[0]) * self.scale))


__all__ = ["NAN", "PROC_ERRORS", "CpuClock", "ProcFiles", "meminfo_kb", "open_proc_files", "system_busy"]

"""One endpoint's server process memory, read on demand: for a benchmark whose models live in several servers.

The sampler watches one process (this one, or one endpoint's server). A run over several endpoints needs the RSS
of each model's own server while that model runs: `server_rss_reader(endpoint)` finds the process listening on the
endpoint's port once (a socket scan, ~10 ms) and then reads its RSS cheaply (psutil, tens of µs) on each call.
A server that exits or restarts is looked for again; a remote endpoint is never scanned ("remote — not
measurable"). Definitions: docs/metrics.md#model-memory. `watched_sampler`: the session's sampler, watching the
configured endpoint's server (or this process).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import psutil

from foundry_tui.config import Settings
from foundry_tui.engine.monitor.sampler import SERVER_RETRY_S, MemorySampler
from foundry_tui.engine.monitor.server import REMOTE, ServerTarget, is_local_endpoint, server_for_endpoint
from foundry_tui.engine.units import MB


def watched_sampler(settings: Settings, *, keep_s: float | None = None) -> MemorySampler:
    """A sampler that watches the process holding the model: the endpoint's server when it runs on this
    machine, else this process (the in-process runtime)."""
    sampler = MemorySampler(keep_s=keep_s)
    sampler.watch_server(endpoint=settings.endpoint)
    return sampler


def server_target_for(endpoint: str) -> ServerTarget:
    """Which process serves `endpoint`: kind "local" with its pid (None when not found, the label says why), or
    "remote". Scans sockets for a local one: not on the UI thread."""
    return server_for_endpoint(endpoint)


class ServerRssReader:
    """Callable: the RSS (MB) of the process serving `endpoint` now; None when remote, not found or not readable.

    `target` is what the latest look found (its label says why there is no figure). The process is looked for
    again when it exits, at once the first time and then at most every `retry_s` while it is not found."""

    def __init__(
        self, endpoint: str, *, retry_s: float = SERVER_RETRY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.endpoint = endpoint
        self._retry_s = retry_s
        self._clock = clock
        self._lock = threading.Lock()
        self._process: psutil.Process | None = None
        self._checked = -math.inf
        self.target = ServerTarget("remote", None, REMOTE, endpoint)
        if is_local_endpoint(endpoint):
            self.target = ServerTarget("local", None, "local server — looking for its process…", endpoint)
            self._find()

    def __call__(self) -> float | None:
        if self.target.kind == "remote":
            return None
        with self._lock:
            rss = self._read()
            if rss is None and self._clock() - self._checked >= self._retry_s:
                self._find()
                rss = self._read()
            return rss

    def _find(self) -> None:
        self._checked = self._clock()
        self.target = server_target_for(self.endpoint)
        self._process = None
        if self.target.pid is not None:
            try:
                self._process = psutil.Process(self.target.pid)
            except psutil.Error:
                self.target = ServerTarget("local", None, f"local server — pid {self.target.pid} exited", self.endpoint)

    def _read(self) -> float | None:
        process = self._process
        if process is None:
            return None
        try:
            # is_running compares the start time too: a pid reused by another program is not our server.
            if not process.is_running():
                raise psutil.NoSuchProcess(process.pid)
            return float(process.memory_info().rss) / MB
        except psutil.AccessDenied:
            label = f"pid {process.pid} — not readable (no permission)"
        except psutil.Error:
            label = "local server — its process exited"
            self._checked = -math.inf  # a restarted server is looked for at once
        self._process = None
        self.target = ServerTarget("local", None, label, self.endpoint)
        return None


def server_rss_reader(endpoint: str) -> ServerRssReader:
    """A cheap callable giving the RSS (MB) of the process serving `endpoint` on this machine, or None (remote,
    not found, not readable). Its `target` labels the figure ("pid 4242 (ollama) on :11434")."""
    return ServerRssReader(endpoint)


__all__ = ["REMOTE", "ServerRssReader", "server_rss_reader", "server_target_for", "watched_sampler"]

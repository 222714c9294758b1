"""A download queue: one download at a time (the runtime allows one per process), with speed, ETA and cancel.

Speed and ETA come from the last few seconds of progress, so a stall shows up as a falling speed instead of a
frozen average.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from foundry_tui.backends.base import Backend, DownloadProgress
from foundry_tui.engine.events import EventKind
from foundry_tui.errors import CancelledError, FoundryTuiError

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
SPEED_WINDOW_S = 5.0
MIN_SPAN_S = 0.25  # no speed or ETA from progress points closer together than this


@dataclass(frozen=True)
class DownloadJob:
    model: str
    state: JobState = "queued"
    percent: float = 0.0
    total_mb: int | None = None
    mb_per_s: float | None = None  # None until measurable (size unknown or too early)
    eta_s: float | None = None
    error: str | None = None
    elapsed_s: float = 0.0

    @property
    def connecting(self) -> bool:
        """Running, but no byte has arrived yet (the runtime's 0 % heartbeats while it resolves and connects)."""
        return self.state == "running" and self.percent <= 0.0


@dataclass
class _Running:
    job: DownloadJob
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0
    points: deque[tuple[float, float]] = field(default_factory=deque)  # (monotonic s, percent)


def rate_and_eta(
    points: deque[tuple[float, float]], percent: float, total_mb: int | None
) -> tuple[float | None, float | None]:
    """MB/s (when the size is known) and seconds left, from progress points in the speed window."""
    if len(points) < 2:
        return None, None
    (t0, p0), (t1, p1) = points[0], points[-1]
    if t1 - t0 < MIN_SPAN_S:
        return None, None  # a first chunk in a few milliseconds says nothing about the rate
    if p1 <= p0:
        return (0.0 if total_mb else None), None
    percent_per_s = (p1 - p0) / (t1 - t0)
    eta = (100.0 - percent) / percent_per_s
    speed = percent_per_s / 100.0 * total_mb if total_mb else None
    return speed, eta


class DownloadQueue:
    def __init__(
        self,
        backend: Backend,
        on_change: Callable[[list[DownloadJob]], None],
        on_event: Callable[[EventKind, str, str], object] | None = None,
    ) -> None:
        self._backend = backend
        self._on_change = on_change
        self._on_event = on_event  # (kind, model, detail): download start/end markers for the monitor
        self._lock = threading.Lock()
        self._jobs: dict[str, _Running] = {}  # insertion order = queue order
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="downloads", daemon=True)
        self._thread.start()

    def jobs(self) -> list[DownloadJob]:
        with self._lock:
            return [r.job for r in self._jobs.values()]

    def enqueue(self, model: str) -> None:
        with self._lock:
            current = self._jobs.get(model)
            if current is not None and current.job.state in ("queued", "running"):
                return
            self._jobs.pop(model, None)
            self._jobs[model] = _Running(DownloadJob(model))
            self._wake.notify()
        self._changed()

    def retry(self, model: str) -> None:
        self.enqueue(model)

    def cancel(self, model: str) -> None:
        with self._lock:
            running = self._jobs.get(model)
            if running is None:
                return
            running.cancel.set()
            if running.job.state == "queued":
                running.job = dataclasses.replace(running.job, state="cancelled")
        self._changed()

    def forget(self, model: str) -> None:
        """Drop a finished job from the list."""
        with self._lock:
            running = self._jobs.get(model)
            if running is not None and running.job.state not in ("queued", "running"):
                del self._jobs[model]
        self._changed()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for running in self._jobs.values():
                running.cancel.set()
            self._wake.notify()

    def _changed(self) -> None:
        self._on_change(self.jobs())

    def _next(self) -> _Running | None:
        with self._lock:
            while not self._closed:
                for running in self._jobs.values():
                    if running.job.state == "queued":
                        running.job = dataclasses.replace(running.job, state="running")
                        running.started = time.monotonic()
                        return running
                self._wake.wait()
            return None

    def _run(self) -> None:
        while (running := self._next()) is not None:
            self._changed()
            self._download(running)
            self._changed()

    def _download(self, running: _Running) -> None:
        def progress(update: DownloadProgress) -> None:
            # Chunks finish in parallel and a resume restarts its count at 0: show the running maximum.
            update = dataclasses.replace(update, percent=max(update.percent, running.job.percent))
            now = time.monotonic()
            if update.percent > 0:  # 0 % heartbeats are connecting time, not transfer: keep them out of the rate
                running.points.append((now, update.percent))
            while running.points and now - running.points[0][0] > SPEED_WINDOW_S:
                running.points.popleft()
            speed, eta = rate_and_eta(running.points, update.percent, update.total_mb)
            with self._lock:
                running.job = dataclasses.replace(
                    running.job,
                    percent=update.percent,
                    total_mb=update.total_mb,
                    mb_per_s=speed,
                    eta_s=eta,
                    elapsed_s=now - running.started,
                )
            self._changed()

        if self._on_event is not None:
            self._on_event("download_start", running.job.model, "")
        try:
            self._backend.download(running.job.model, progress, running.cancel)
            state: JobState = "done"
            error = None
        except CancelledError:
            state, error = "cancelled", None
        except FoundryTuiError as exc:
            state, error = ("cancelled", None) if running.cancel.is_set() else ("failed", str(exc))
        except Exception as exc:  # a bug or an SDK surprise must not kill the queue thread
            state, error = "failed", f"{type(exc).__name__}: {exc}"
        with self._lock:
            percent = 100.0 if state == "done" else running.job.percent
            running.job = dataclasses.replace(
                running.job,
                state=state,
                error=error,
                percent=percent,
                eta_s=None,
                elapsed_s=time.monotonic() - running.started,
            )
        if self._on_event is not None:
            self._on_event("download_end", running.job.model, state)

"""Event markers on the sampler's clock: downloads, loads, the first token, the end of a stream, unloads.

Every marker is stamped with the log's clock — the sampler hands its own (`time.monotonic` unless a test injects
one) — so markers and memory samples share one clock, and "peak during load" or "residue after unload" is a lookup
in the sample series between two markers (see engine.timeline).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from foundry_tui.backends.base import DoneEvent, ErrorEvent, StreamEvent, TokenEvent

EventKind = Literal[
    "download_start",
    "download_end",
    "load_start",
    "load_end",
    "first_token",
    "stream_end",
    "unload_start",
    "unload_end",
]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

# One glyph per kind for the chart's marker row (upper case: something starts; lower case: it ended).
MARKER_GLYPHS: dict[str, str] = {
    "download_start": "D",
    "download_end": "d",
    "load_start": "L",
    "load_end": "l",
    "first_token": "F",
    "stream_end": "S",
    "unload_start": "U",
    "unload_end": "u",
}
MARKER_LABELS: dict[str, str] = {
    "download_start": "download start",
    "download_end": "download end",
    "load_start": "load start",
    "load_end": "load end",
    "first_token": "first token",
    "stream_end": "stream end",
    "unload_start": "unload start",
    "unload_end": "unload end",
}


@dataclass(frozen=True)
class MonitorEvent:
    t: float  # seconds on the log's clock (the samples' clock: time.monotonic() unless injected)
    kind: str  # one of EVENT_KINDS (a replayed file may carry others; they are shown, never trusted)
    model: str | None = None
    detail: str = ""  # e.g. "failed: …", "cancelled"


class EventLog:
    """A bounded, thread-safe list of markers (any thread may add; readers get a copy), stamped by `clock`."""

    def __init__(self, capacity: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._events: deque[MonitorEvent] = deque(maxlen=capacity)
        self._listeners: list[Callable[[MonitorEvent], None]] = []

    def mark(self, kind: EventKind, model: str | None = None, detail: str = "", *, t: float | None = None) -> float:
        """Record a marker now (or at `t`, a time on this log's clock); returns its time."""
        event = MonitorEvent(self.clock() if t is None else t, kind, model, detail)
        with self._lock:
            self._events.append(event)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        return event.t

    def subscribe(self, listener: Callable[[MonitorEvent], None]) -> None:
        """Call `listener(event)` for every marker from now on (on the marking thread: keep it short)."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[MonitorEvent], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def events(self, since: float | None = None) -> tuple[MonitorEvent, ...]:
        with self._lock:
            if since is None:
                return tuple(self._events)
            return tuple(e for e in self._events if e.t >= since)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


class StreamMarker:
    """Feed it every stream event: it marks the first answer token once, and the stream's end.

    The chat pane and the CLI hand it their stream callbacks; the pane itself holds no measurement logic.
    """

    def __init__(self, log: EventLog, model: str) -> None:
        self._log = log
        self._model = model
        self._first = False
        self._ended = False

    def __call__(self, event: StreamEvent) -> None:
        if isinstance(event, TokenEvent):
            if not self._first and not event.reasoning and event.text:
                self._first = True
                self._log.mark("first_token", self._model)
        elif isinstance(event, DoneEvent | ErrorEvent):
            detail = event.finish_reason if isinstance(event, DoneEvent) else f"error: {event.kind}"
            self.end(detail)

    def after(self, forward: Callable[[TokenEvent], None]) -> Callable[[TokenEvent], None]:
        """A token callback that calls `forward` first (the display), then marks."""

        def both(event: TokenEvent) -> None:
            forward(event)
            self(event)

        return both

    def end(self, detail: str = "") -> None:
        """Mark the end of the stream (once), e.g. after `measure_stream` returned."""
        if not self._ended:
            self._ended = True
            self._log.mark("stream_end", self._model, detail)


__all__ = ["EVENT_KINDS", "MARKER_GLYPHS", "MARKER_LABELS", "EventKind", "EventLog", "MonitorEvent", "StreamMarker"]

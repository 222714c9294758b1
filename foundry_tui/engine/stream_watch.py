"""First-token and stall timeouts for any ChatStream (endpoint or in-process), enforced by one watcher thread.

`StreamWatch().watch(stream, options)` returns a stream with the same interface. While it is iterated, the
watcher ends it when no first piece (answer or reasoning) came within `options.first_token_timeout_s` of sending
(a long prompt's prefill gets its own, generous limit), or no piece came within `options.stall_timeout_s` of the
previous one: it cancels the stream and ends it with an ErrorEvent of kind "first_token_timeout" or "stalled"
instead of the cancelled end. Time the consumer spends on a piece (a slow terminal, a paused pipe) is not counted.

Cheap at any rate: no timer per piece. The consumer's thread only stores a time and a flag per piece; the one
watcher thread looks once a second, or sooner when a deadline is sooner (a later piece only moves a deadline
later; a stream's start, and its first piece, which switches it to the stall limit, wake the watcher only when
they bring a deadline before its next look), however fast the pieces come.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

from foundry_tui.backends.base import (
    ChatOptions,
    ChatStream,
    DoneEvent,
    ErrorEvent,
    StreamEvent,
    TokenEvent,
    WrappedStream,
)

NS_PER_S = 1_000_000_000
POLL_NS = NS_PER_S  # the watcher looks at least this often (deadlines further out need no wake-up call)


def _limit_ns(seconds: float) -> int | None:
    """A timeout in ns; None (no limit) for one that is not a positive finite number."""
    return int(seconds * NS_PER_S) if math.isfinite(seconds) and seconds > 0 else None


class WatchedStream(WrappedStream):
    """A ChatStream whose waits are bounded by the watch that made it (`StreamWatch.watch`)."""

    def __init__(self, watch: StreamWatch, stream: ChatStream, options: ChatOptions) -> None:
        super().__init__(stream, stream.model_id)
        self._watch = watch
        self.first_token_timeout_s = options.first_token_timeout_s
        self.stall_timeout_s = options.stall_timeout_s
        self._first_limit_ns = _limit_ns(options.first_token_timeout_s)
        self.stall_limit_ns = _limit_ns(options.stall_timeout_s)
        self._lock = threading.Lock()
        self._cancelled = False  # by the caller: the end stays "cancelled"
        self._expired: ErrorEvent | None = None  # by the watcher
        # Written by the consumer's thread, read by the watcher's (plain attribute stores: no lock per piece).
        self._started_ns = 0
        self._got_piece = False
        self._waiting = False  # True while the stream is waited on; False while the consumer holds a piece
        self._wait_from_ns = 0  # when the current wait began (after a piece: when the consumer asked for the next)

    def cancel(self) -> None:
        with self._lock:
            if self._expired is None:
                self._cancelled = True
        self.inner.cancel()

    def __iter__(self) -> Iterator[StreamEvent]:
        self._started_ns = self._wait_from_ns = time.perf_counter_ns()
        self._waiting = True
        self._watch._add(self)
        try:
            for event in self.inner:
                if isinstance(event, TokenEvent):
                    self._waiting = False
                    if not self._got_piece:
                        self._got_piece = True
                        if self.stall_limit_ns is not None:  # the stall limit may end sooner than the first one
                            self._watch._due_by(event.t_ns + self.stall_limit_ns)
                    yield event
                    self._wait_from_ns = time.perf_counter_ns()
                    self._waiting = True
                    continue
                self._waiting = False
                self._watch._remove(self)
                expired = self._expired
                if expired is not None and isinstance(event, DoneEvent | ErrorEvent):
                    yield expired  # the cancel's "cancelled" (or the cut connection) was ours: say why
                else:
                    yield event
        finally:
            self._waiting = False
            self._watch._remove(self)

    # -- the watcher's side ----------------------------------------------------------------------------------

    def deadline_ns(self) -> int | None:
        """When the current wait runs out; None while the consumer holds a piece or without a limit."""
        if not self._waiting:
            return None
        if self._got_piece:
            limit = self.stall_limit_ns
            start = self._wait_from_ns
        else:
            limit = self._first_limit_ns
            start = max(self._started_ns, self.inner.t_sent_ns)  # the wire stamp, once the backend has it
        return None if limit is None else start + limit

    def expire(self, now_ns: int) -> None:
        """Called by the watcher once a wait ran out: cancel the inner stream, remembering why."""
        if self._got_piece:
            event = ErrorEvent(now_ns, f"stalled: no data for {self.stall_timeout_s:g} s", "stalled")
        else:
            event = ErrorEvent(now_ns, f"no first token within {self.first_token_timeout_s:g} s", "first_token_timeout")
        with self._lock:
            if self._cancelled or self._expired is not None:
                return
            self._expired = event
        self.inner.cancel()


class StreamWatch:
    """One daemon thread that bounds the waits of every stream it watches."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._streams: set[WatchedStream] = set()
        self._thread: threading.Thread | None = None
        self._wake_ns: int | None = None  # when the watcher looks next; None: it is looking now

    def start(self) -> StreamWatch:
        """Start the watcher thread if it is not running. `watch` does it too; a front end may do it sooner, so
        that the thread's start-up does not overlap its first timed request."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stream-watch", daemon=True)
                self._thread.start()
        return self

    def watch(self, stream: ChatStream, options: ChatOptions) -> WatchedStream:
        """Wrap `stream`; its waits are bounded while it is iterated."""
        self.start()
        return WatchedStream(self, stream, options)

    def _add(self, stream: WatchedStream) -> None:
        with self._cond:
            self._streams.add(stream)
            deadline = stream.deadline_ns()
            if deadline is not None:
                self._due_locked(deadline)

    def _due_by(self, deadline_ns: int) -> None:
        """A watched stream's next deadline is no sooner than `deadline_ns`."""
        with self._cond:
            self._due_locked(deadline_ns)

    def _due_locked(self, deadline_ns: int) -> None:
        # Waking the watcher costs the timed thread the GIL for a moment, right as its request goes out: only when
        # it would look too late. It looks at least once a second, so limits of a second or more never wake it.
        wake = self._wake_ns
        if wake is not None and deadline_ns < wake:
            self._cond.notify()

    def _remove(self, stream: WatchedStream) -> None:
        with self._cond:
            self._streams.discard(stream)

    def _run(self) -> None:
        while True:
            due: list[WatchedStream] = []
            with self._cond:
                now = time.perf_counter_ns()
                wake = now + POLL_NS
                for stream in self._streams:
                    deadline = stream.deadline_ns()
                    if deadline is None:
                        # Held by its consumer: its next wait starts later than now, so it runs out no sooner
                        # than now + the stall limit; look again then.
                        limit = stream.stall_limit_ns
                        if limit is not None:
                            wake = min(wake, now + limit)
                        continue
                    if deadline <= now:
                        due.append(stream)
                    else:
                        wake = min(wake, deadline)
                for stream in due:
                    self._streams.discard(stream)
                if not due:
                    self._wake_ns = wake
                    self._cond.wait((wake - now) / NS_PER_S)
                    self._wake_ns = None  # looking now: a stream added meanwhile is seen without a notify
            for stream in due:  # outside the lock: a cancel may block briefly
                stream.expire(now)


_shared: StreamWatch | None = None
_shared_lock = threading.Lock()


def shared_watch() -> StreamWatch:
    """The process's watch: one thread serves every chat and benchmark stream (started here)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = StreamWatch()
    return _shared.start()


def watch(stream: ChatStream, options: ChatOptions) -> WatchedStream:
    """`shared_watch().watch(stream, options)`."""
    return shared_watch().watch(stream, options)


__all__ = ["StreamWatch", "WatchedStream", "shared_watch", "watch"]

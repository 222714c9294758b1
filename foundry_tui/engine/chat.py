"""One probe chat, the same for the CLI and the TUI: resolve → fit → load if needed → stream → markers → record.

`run_chat` is what `Session.chat` runs. Progress that a front end shows before the first token (a fit warning, the
load, the request leaving) arrives as typed `ChatEvent`s; tokens arrive through `on_token` on the stream's thread,
already stamped. `StreamBuffer` batches them for a display that redraws a few times a second, never per token.
Every stream is watched (engine.stream_watch): no first token within the first-token timeout, or no piece within
the stall timeout of the previous one, ends it with an error that says which.

A reply is *cold* when it is the first request to its model through this backend (in the CLI: in this process):
its TTFT may include one-time setup on either side. A *cold start* is a cold reply that also had to load the
model first (the load is timed apart, never inside TTFT).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from foundry_tui.backends.base import Backend, ChatMessage, ChatOptions, ModelEntry, TokenEvent
from foundry_tui.engine import metrics
from foundry_tui.engine.events import StreamMarker
from foundry_tui.engine.fit import FitCheck
from foundry_tui.engine.lifecycle import LoadReport, ModelLifecycle
from foundry_tui.engine.stream_watch import shared_watch
from foundry_tui.engine.timing import LiveRate, RequestRecord, measure_stream


class Cancel:
    """A stop button any thread may press: what is bound to it (a stream's cancel) runs once, at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._bound: list[Callable[[], None]] = []

    def set(self) -> None:
        with self._lock:
            if self._set:
                return
            self._set = True
            bound, self._bound = self._bound, []
        for fn in bound:
            fn()

    def is_set(self) -> bool:
        return self._set

    def bind(self, fn: Callable[[], None]) -> None:
        """Run `fn` when cancelled (now, if it already was)."""
        with self._lock:
            if not self._set:
                self._bound.append(fn)
                return
        fn()


@dataclass(frozen=True)
class LoadStarting:
    """The model is not loaded: it is loaded first. `fit` says whether it may not fit (a warning, never a no)."""

    entry: ModelEntry
    fit: FitCheck


@dataclass(frozen=True)
class Loaded:
    report: LoadReport


@dataclass(frozen=True)
class Sending:
    model: str  # exact id


ChatEvent = LoadStarting | Loaded | Sending
TokenCallback = Callable[[TokenEvent, int], None]


@dataclass(frozen=True)
class ChatResult:
    record: RequestRecord
    load: LoadReport | None = None  # set when this reply had to load the model first (a cold start)
    first_request: bool = False  # the first request to this model through this backend (this process, in the CLI)

    @property
    def cold(self) -> bool:
        """Its TTFT may include one-time setup: the first request to the model, or one that loaded it."""
        return self.first_request or self.load is not None

    @property
    def cold_start(self) -> bool:
        """Cold because the model had to be loaded first."""
        return self.load is not None


class _FirstRequests:
    """Which models each backend has already been sent a request for (one set per live backend object)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[int, set[str]] = {}

    def claim(self, backend: object, model: str) -> bool:
        """True the first time `model` is asked for on `backend`."""
        key = id(backend)
        with self._lock:
            sent = self._sent.get(key)
            if sent is None:
                sent = self._sent[key] = set()
                # Forget a backend when it goes, so a new one at the same address starts cold.
                with contextlib.suppress(TypeError):  # not weakly referenceable: remembered for good
                    weakref.finalize(backend, self._forget, key)
            if model in sent:
                return False
            sent.add(model)
            return True

    def _forget(self, key: int) -> None:
        with self._lock:
            self._sent.pop(key, None)


first_requests = _FirstRequests()


def with_system(system: str | None, turns: list[ChatMessage]) -> list[ChatMessage]:
    """The request's messages: the system prompt first when there is one, then the conversation."""
    return ([ChatMessage("system", system)] if system else []) + turns


def run_chat(
    backend: Backend,
    lifecycle: ModelLifecycle,
    model: str,
    messages: list[ChatMessage],
    options: ChatOptions,
    *,
    fit: Callable[[ModelEntry], FitCheck],
    on_event: Callable[[ChatEvent], None] | None = None,
    on_token: TokenCallback | None = None,
    cancel: Cancel | None = None,
) -> ChatResult:
    """Blocking; raises FoundryTuiError when the model cannot be resolved or loaded (the stream's own failures
    end up in the record instead). `on_token(event, t_sent_ns)` runs on the stream's thread for every piece."""
    emit = on_event or (lambda event: None)
    watcher = shared_watch()  # its thread starts while the model is resolved, not while the request goes out
    entry = backend.resolve(model)
    load: LoadReport | None = None
    if not entry.loaded and backend.info().management:
        emit(LoadStarting(entry, fit(entry)))
        entry, load = lifecycle.load(entry.id)
        emit(Loaded(load))
    stream = watcher.watch(backend.stream_chat(entry.id, messages, options), options)
    first = first_requests.claim(backend, entry.id)
    if cancel is not None:
        cancel.bind(stream.cancel)  # also when it was pressed during the load: the stream then ends at once
    emit(Sending(entry.id))
    marker = StreamMarker(lifecycle.sampler.events, entry.id)  # first token / stream end on the monitor's clock

    def forward(event: TokenEvent) -> None:
        if on_token is not None:
            on_token(event, stream.t_sent_ns)  # stamped inside the stream right before the request left

    record = measure_stream(stream, marker.after(forward))
    marker.end(record.finish_reason or record.status)
    return ChatResult(record, load, first)


def reply_summary(record: RequestRecord, load_s: float | None = None, *, cold: bool = False) -> str:
    """`TTFT 1.93 ms · 43.7 tok/s · 6 tokens · finish stop · e2e 140 ms`, then `· load 0.02 s (cold start)` after
    a cold start, or `· cold (first request)` for a cold reply that loaded nothing."""
    tokens = f"{record.completion_tokens}{'~' if record.tokens_estimated else ''} tokens"
    parts = [
        f"TTFT {metrics.TTFT.fmt(record.ttft_ms)}",
        metrics.DECODE.fmt(record.decode_tps),
        tokens,
        f"finish {record.finish_reason or record.status}",
        f"e2e {metrics.E2E.fmt(record.e2e_ms)}",
    ]
    if load_s is not None:
        parts.append(f"load {metrics.LOAD_TIME.fmt(load_s)} (cold start)")
    elif cold:
        parts.append("cold (first request)")
    return " · ".join(parts)


def cold_start_note(load_s: float) -> str:
    """What a cold reply's numbers mean, in one line: the load ran before the request (not in TTFT or e2e), and
    the TTFT includes the runtime's first-request setup (docs/metrics.md#load-time)."""
    return f"cold start: loaded in {metrics.LOAD_TIME.fmt(load_s)} first · TTFT includes first-run setup"


def reply_status(result: ChatResult) -> str:
    """A reply's summary for a one-line status bar: a cold reply says so first, so a narrow terminal that cuts the
    line's end still shows it (`cold start (load 0.31 s) · TTFT 2106 ms · …`, `cold · TTFT 2.4 ms · …`)."""
    summary = reply_summary(result.record)
    if result.load is not None:
        return f"cold start (load {metrics.LOAD_TIME.fmt(result.load.load_s)}) · {summary}"
    if result.first_request:
        return f"cold · {summary}"
    return summary


@dataclass(frozen=True)
class StreamSlice:
    """What arrived since the last drain, and the live figures for a gauge."""

    text: str
    rate_tps: float  # live rate (docs/metrics.md#live-rate)
    ttft_ms: float | None
    tokens: int  # answer pieces so far


class StreamBuffer:
    """Filled on the stream's thread (`add`), drained by a display timer (`drain`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self._rate = LiveRate()
        self._ttft_ms: float | None = None

    def add(self, event: TokenEvent, t_sent_ns: int) -> None:
        """A `TokenCallback`: reasoning text is not part of the answer and not counted."""
        if event.reasoning:
            return
        with self._lock:
            self._parts.append(event.text)
            if self._ttft_ms is None and t_sent_ns:
                self._ttft_ms = (event.t_ns - t_sent_ns) / 1e6
            self._rate.add(event.t_ns)

    def drain(self, now_ns: int | None = None) -> StreamSlice:
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
            now = time.perf_counter_ns() if now_ns is None else now_ns
            return StreamSlice(text, self._rate.rate(now), self._ttft_ms, self._rate.count)


__all__ = [
    "Cancel",
    "ChatEvent",
    "ChatMessage",
    "ChatResult",
    "LoadStarting",
    "Loaded",
    "Sending",
    "StreamBuffer",
    "StreamSlice",
    "TokenCallback",
    "cold_start_note",
    "first_requests",
    "reply_status",
    "reply_summary",
    "run_chat",
    "with_system",
]

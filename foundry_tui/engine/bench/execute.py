"""One benchmark request: send it (streamed or not), time it, cancel it, and turn its record into a RequestResult.

`RequestExecutor` keeps the streams in flight so that `cancel_all()` (the runner's stop) reaches every one of
them from any thread, and applies the whole-request timeout. Timing is `engine.timing.measure_stream`: stamps are
taken where each piece arrives; nothing here adds time to a measurement.
"""

from __future__ import annotations

import contextlib
import threading

from foundry_tui.backends.base import Backend, ChatMessage, ChatOptions, ChatStream
from foundry_tui.backends.routing import completes
from foundry_tui.engine.bench.results import RequestResult
from foundry_tui.engine.bench.tokens import TokenCounter
from foundry_tui.engine.chat import with_system
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.quality import AnswerQuality
from foundry_tui.engine.stream_watch import shared_watch
from foundry_tui.engine.timing import RequestRecord, measure_stream
from foundry_tui.errors import FoundryTuiError


def chat_messages(spec: PromptSpec) -> list[ChatMessage]:
    return with_system(spec.system, [ChatMessage("user", spec.prompt)])


def _timeout_error(record: RequestRecord, timeout: float) -> None:
    record.status, record.error_kind = "error", "timeout"
    record.error = f"timed out: no complete reply within {timeout:g} s"


class RequestExecutor:
    def __init__(self, backend: Backend, *, request_timeout_s: float | None = None) -> None:
        self.backend = backend
        self.request_timeout_s = request_timeout_s
        self._lock = threading.Lock()
        self._inflight: set[ChatStream] = set()
        self._cancelled = threading.Event()
        self.cancel_reason = "stop"
        self._watch = shared_watch()  # its thread starts now, not while a timed request goes out

    def cancel_all(self, reason: str = "stop") -> None:
        """From any thread: cancel the streams in flight, and every stream opened from now on. `reason` (SIGINT,
        SIGTERM, stop) is what their records say."""
        self.cancel_reason = reason
        self._cancelled.set()
        with self._lock:
            streams = list(self._inflight)
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.cancel()

    def run(self, model_id: str, messages: list[ChatMessage], options: ChatOptions, mode: str) -> RequestRecord:
        """One request in `mode` ("stream" / "non-stream"); a backend bug becomes an error record, not an
        exception (it fails this model, not the runner)."""
        try:
            record = self.stream(model_id, messages, options) if mode == "stream" else self.complete(
                model_id, messages, options)  # fmt: skip
            if record.status == "cancelled" and not record.error:
                record.error = f"the benchmark was stopped ({self.cancel_reason}) before this request finished"
            return record
        except Exception as exc:
            record = RequestRecord(model=model_id, status="error", error=f"{type(exc).__name__}: {exc}")
            record.error_kind = "internal"
            return record

    def _track(self, stream: ChatStream, add: bool) -> None:
        with self._lock:
            if add:
                self._inflight.add(stream)
            else:
                self._inflight.discard(stream)
        if add and self._cancelled.is_set():
            stream.cancel()

    def stream(self, model_id: str, messages: list[ChatMessage], options: ChatOptions) -> RequestRecord:
        try:
            # The watch fails a stream with no first piece within the first-token timeout, or no piece within the
            # stall timeout after the previous one (engine.stream_watch).
            stream = self._watch.watch(self.backend.stream_chat(model_id, messages, options), options)
        except FoundryTuiError as exc:
            return RequestRecord(
                model=model_id, status="error", error=str(exc), error_kind=getattr(exc, "kind", "input")
            )
        timed_out = threading.Event()
        timer: threading.Timer | None = None
        timeout = self.request_timeout_s
        if timeout is not None:

            def expire() -> None:
                timed_out.set()
                stream.cancel()

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
        self._track(stream, True)
        try:
            if timer is not None:
                timer.start()
            record = measure_stream(stream)
        finally:
            if timer is not None:
                timer.cancel()
            self._track(stream, False)
        if timeout is not None and timed_out.is_set() and record.status != "ok":
            _timeout_error(record, timeout)
        return record

    def complete(self, model_id: str, messages: list[ChatMessage], options: ChatOptions) -> RequestRecord:
        """Non-streamed: the backend's `complete_chat` when it has one, else a stream drained without per-token
        stamps (in-process there is no transport difference; only e2e and token counts are kept)."""
        backend = self.backend
        if completes(backend, model_id):  # a routing backend: the backend this model routes to decides
            try:
                reply = backend.complete_chat(model_id, messages, options)
            except FoundryTuiError as exc:
                return RequestRecord(
                    model=model_id, status="error", error=str(exc), error_kind=getattr(exc, "kind", "http")
                )
            record = RequestRecord(model=model_id, t_sent_ns=reply.t_sent_ns, t_end_ns=reply.t_done_ns)
            record.text = reply.text
            record.finish_reason = reply.finish_reason
            if reply.usage is not None:
                record.prompt_tokens = reply.usage.prompt_tokens
                record.usage_completion_tokens = reply.usage.completion_tokens
            else:
                record.pieces_exact = False
        else:
            record = self.stream(model_id, messages, options)
            record.token_times_ns = []  # not a per-token measurement in this mode
        timeout = self.request_timeout_s
        if record.status == "ok" and timeout is not None and (record.e2e_ms or 0) > timeout * 1000:
            _timeout_error(record, timeout)
        return record


def needs_count(record: RequestRecord) -> bool:
    """An ok answer whose pieces may hold several tokens each (in-process every piece is one token already)."""
    return record.status == "ok" and not (record.pieces_exact and record.token_times_ns)


def count_tokens(record: RequestRecord, counter: TokenCounter | None) -> str | None:
    """When the pieces may hold several tokens each, count the answer's tokens (when no usage came) and the first
    piece's (for the decode rate) with `counter`, after the stream ended. Returns why counting failed (one line)."""
    if counter is None or not needs_count(record):
        return None
    try:
        if record.usage_completion_tokens is None:  # with usage, only the first piece needs counting
            record.counted_tokens = counter.count(record.text)
        record.first_piece_tokens = counter.count(record.first_piece) if record.first_piece else None
    except FoundryTuiError as exc:
        record.counted_tokens = record.first_piece_tokens = None
        return f"counting tokens with {counter.label} failed: {exc}"
    record.count_source = counter.source
    return None


def request_result(
    record: RequestRecord,
    *,
    model: str,
    spec: PromptSpec,
    prompt_index: int,
    round_index: int,
    concurrency: int,
    mode: str,
    t0_ns: int,
    energy_j: tuple[float | None, float | None] = (None, None),
    cold: bool = False,
    slot: int | None = None,
    session: int = 0,
    t_offset_s: float = 0.0,
) -> RequestResult:
    """The results.json view of one timed request (`round_index` 0-based; energy: GPU and CPU joules;
    `t_offset_s`: where this process's clock starts on the run's, for a resumed run)."""
    non_stream = mode != "stream"
    tokens: int | None = record.completion_tokens
    if non_stream and record.usage_completion_tokens is None and record.counted_tokens is None:
        tokens = None  # no usage and no pieces to count: unknown, not 0
    e2e = record.e2e_ms
    gpu_j, cpu_j = energy_j
    ok = record.status == "ok"
    ttft = None if non_stream else record.ttft_ms
    # Prompt tokens over the time to the first piece: prefill plus queueing and scheduling, so a lower bound of the
    # true prefill rate (docs/metrics.md#prefill-rate).
    prefill = record.prompt_tokens / (ttft / 1000) if ok and ttft and record.prompt_tokens else None
    return RequestResult(
        model=model,
        prompt_index=prompt_index,
        round=round_index + 1,
        concurrency=concurrency,
        mode=mode,
        t_start_s=t_offset_s + (record.t_sent_ns - t0_ns) / 1e9 if record.t_sent_ns else None,
        ttft_ms=None if non_stream else record.ttft_ms,
        e2e_ms=e2e,
        decode_tps=None if non_stream else record.decode_tps,
        e2e_tps=tokens / (e2e / 1000) if tokens and e2e else None,
        itl_ms=[] if non_stream else record.itl_ms,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=tokens,
        tokens_estimated=record.tokens_estimated if tokens is not None else False,
        tokens_source=record.tokens_source if tokens is not None else None,
        chunks=None if non_stream else record.pieces,
        cold=cold,
        slot=slot,
        session=session,
        finish_reason=record.finish_reason,
        status=record.status,
        error=record.error,
        error_kind=record.error_kind,
        text=record.text,
        gpu_energy_j=gpu_j,
        cpu_energy_j=cpu_j,
        gpu_j_per_token=gpu_j / tokens if gpu_j is not None and tokens else None,
        cpu_j_per_token=cpu_j / tokens if cpu_j is not None and tokens else None,
        quality=AnswerQuality.scored(record.text, spec.expect) if ok else AnswerQuality(),
        prefill_tps=prefill,
    )

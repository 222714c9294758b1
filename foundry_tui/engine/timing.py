"""Turn a backend stream into a timed request record. Definitions live in docs/metrics.md.

Every timestamp is the `perf_counter_ns()` the backend took where the token arrived; nothing here adds time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from foundry_tui.backends.base import ChatStream, DoneEvent, ErrorEvent, TokenEvent

NS_PER_MS = 1_000_000


@dataclass
class RequestRecord:
    model: str
    t_sent_ns: int = 0
    token_times_ns: list[int] = field(default_factory=list)  # arrival of each answer piece (reasoning excluded)
    first_any_ns: int | None = None  # first piece of any kind, reasoning included
    text: str = ""
    reasoning_text: str = ""
    pieces: int = 0  # answer pieces received (tokens in-process, chunks from a server)
    pieces_exact: bool = True  # every piece was known to be exactly one token
    first_piece: str = ""  # the first answer piece's text (a server chunk may hold several tokens)
    # Counted after the stream ended, off the timed path, when no usage came (engine.bench.tokens):
    counted_tokens: int | None = None  # tokens in the answer text
    first_piece_tokens: int | None = None  # tokens in the first piece
    count_source: str | None = None  # "tokenizer" | "server"
    t_end_ns: int = 0
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    usage_completion_tokens: int | None = None
    status: str = "ok"  # ok | error | cancelled
    error: str | None = None
    error_kind: str | None = None

    # -- derived metrics (see docs/metrics.md) ------------------------------------------------------------

    @property
    def completion_tokens(self) -> int:
        """From the backend's usage report when present, else counted in the text, else the pieces received."""
        if self.usage_completion_tokens is not None:
            return self.usage_completion_tokens
        return self.counted_tokens if self.counted_tokens is not None else self.pieces

    @property
    def tokens_source(self) -> str:
        """usage | tokenizer | server | runtime (pieces known to be one token each) | chunks (pieces: an estimate)."""
        if self.usage_completion_tokens is not None:
            return "usage"
        if self.counted_tokens is not None and self.count_source:
            return self.count_source
        return "runtime" if self.pieces_exact else "chunks"

    @property
    def tokens_estimated(self) -> bool:
        """True when the count is the number of pieces and some piece may have held several tokens."""
        return self.tokens_source == "chunks"

    @property
    def ttft_ms(self) -> float | None:
        """Request sent → first non-empty answer token."""
        if not self.token_times_ns:
            return None
        return (self.token_times_ns[0] - self.t_sent_ns) / NS_PER_MS

    @property
    def e2e_ms(self) -> float | None:
        """Request sent → stream ended."""
        if not self.t_end_ns:
            return None
        return (self.t_end_ns - self.t_sent_ns) / NS_PER_MS

    @property
    def decode_tps(self) -> float | None:
        """(completion tokens − tokens of the first piece) / (t_last − t_first): the first piece's wait is TTFT,
        not decoding. The first piece counts as one token unless it was counted (docs/metrics.md)."""
        first = self.first_piece_tokens if self.first_piece_tokens is not None else 1
        if len(self.token_times_ns) < 2 or self.completion_tokens - first < 1:
            return None
        span_ns = self.token_times_ns[-1] - self.token_times_ns[0]
        if span_ns <= 0:
            return None
        return (self.completion_tokens - first) / (span_ns / 1e9)

    @property
    def itl_ms(self) -> list[float]:
        """Gaps between successive answer pieces, in ms."""
        times = self.token_times_ns
        return [(b - a) / NS_PER_MS for a, b in itertools.pairwise(times)]


def measure_stream(
    stream: ChatStream,
    on_token: Callable[[TokenEvent], None] | None = None,
) -> RequestRecord:
    """Drain `stream` into a RequestRecord, calling `on_token` for each piece (after it is stamped)."""
    record = RequestRecord(model=stream.model_id)
    # Pieces are joined once at the end: `record.text += piece` copies the whole text every time (quadratic;
    # ~25 µs a piece at 40k pieces), which made long fast streams look slower than they were.
    answer: list[str] = []
    thinking: list[str] = []
    for event in stream:
        if isinstance(event, TokenEvent):
            if record.first_any_ns is None:
                record.first_any_ns = event.t_ns
            if event.reasoning:
                thinking.append(event.text)
            else:
                record.token_times_ns.append(event.t_ns)
                if not answer:
                    record.first_piece = event.text
                answer.append(event.text)
                record.pieces += 1
                if event.tokens != 1:
                    record.pieces_exact = False
            if on_token is not None:
                on_token(event)
        elif isinstance(event, DoneEvent):
            record.t_end_ns = event.t_ns
            record.finish_reason = event.finish_reason
            if event.finish_reason == "cancelled":
                record.status = "cancelled"
            if event.usage is not None:
                record.prompt_tokens = event.usage.prompt_tokens
                record.usage_completion_tokens = event.usage.completion_tokens
        elif isinstance(event, ErrorEvent):
            record.t_end_ns = event.t_ns
            record.status = "error"
            record.error = event.message
            record.error_kind = event.kind
    record.text = "".join(answer)
    record.reasoning_text = "".join(thinking)
    # t_sent is stamped inside the stream right before the request leaves, so read it after iterating.
    record.t_sent_ns = stream.t_sent_ns
    return record


class LiveRate:
    """Token rate while a stream runs: tokens over the last `window_s` seconds of arrivals (for gauges)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_ns = int(window_s * 1e9)
        self._times: list[int] = []
        self.first_ns: int | None = None
        self.count = 0

    def add(self, t_ns: int) -> None:
        if self.first_ns is None:
            self.first_ns = t_ns
        self.count += 1
        self._times.append(t_ns)
        cutoff = t_ns - self.window_ns
        if self._times[0] < cutoff:
            self._times = [t for t in self._times if t >= cutoff]

    def rate(self, now_ns: int) -> float:
        """Tokens per second over the window ending at `now_ns` (0 when nothing arrived lately)."""
        cutoff = now_ns - self.window_ns
        recent = [t for t in self._times if t >= cutoff]
        if len(recent) < 2:
            return 0.0
        span = max(now_ns - recent[0], 1)
        return (len(recent) - 1) / (span / 1e9)

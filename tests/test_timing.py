"""RequestRecord metrics from known event times (definitions: docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from foundry_tui.backends.base import DoneEvent, ErrorEvent, StreamEvent, TokenEvent, Usage
from foundry_tui.engine.timing import measure_stream

MS = 1_000_000


class ScriptedStream:
    def __init__(self, events: list[StreamEvent], t_sent_ns: int = 0) -> None:
        self.model_id = "m"
        self.t_sent_ns = t_sent_ns
        self._events = events

    def __iter__(self) -> Iterator[StreamEvent]:
        yield from self._events

    def cancel(self) -> None:
        pass


def test_metrics_with_usage() -> None:
    # Sent at 0; tokens at 100, 110, …, 190 ms; done at 200 ms; usage says 10 tokens.
    events: list[StreamEvent] = [TokenEvent(f"t{i}", (100 + 10 * i) * MS) for i in range(10)]
    events.append(DoneEvent(200 * MS, "stop", Usage(5, 10, 15)))
    record = measure_stream(ScriptedStream(events))
    assert record.ttft_ms == 100
    assert record.e2e_ms == 200
    assert record.decode_tps == pytest.approx(9 / 0.090)
    assert record.itl_ms == [10.0] * 9
    assert record.completion_tokens == 10 and not record.tokens_estimated
    assert record.prompt_tokens == 5


def test_multi_token_chunks_use_usage_for_the_rate() -> None:
    # 3 chunks of (unknown) several tokens; usage says 9 tokens over 40 ms from first to last chunk.
    events: list[StreamEvent] = [TokenEvent("abc", t * MS, tokens=None) for t in (50, 70, 90)]
    events.append(DoneEvent(95 * MS, "stop", Usage(1, 9, 10)))
    record = measure_stream(ScriptedStream(events))
    assert record.completion_tokens == 9 and not record.tokens_estimated
    assert record.decode_tps == pytest.approx(8 / 0.040)


def test_without_usage_chunk_counts_are_estimates() -> None:
    events: list[StreamEvent] = [TokenEvent("ab", t * MS, tokens=None) for t in (10, 20)]
    events.append(DoneEvent(30 * MS, "stop"))
    record = measure_stream(ScriptedStream(events))
    assert record.completion_tokens == 2 and record.tokens_estimated


def test_reasoning_is_kept_apart_and_does_not_start_ttft() -> None:
    events: list[StreamEvent] = [
        TokenEvent("thinking", 5 * MS, reasoning=True),
        TokenEvent("answer", 50 * MS),
        DoneEvent(60 * MS, "stop", Usage(1, 2, 3)),
    ]
    record = measure_stream(ScriptedStream(events))
    assert record.ttft_ms == 50
    assert record.text == "answer" and record.reasoning_text == "thinking"
    assert record.first_any_ns == 5 * MS


def test_error_and_cancel_status() -> None:
    error = measure_stream(ScriptedStream([TokenEvent("a", MS), ErrorEvent(2 * MS, "boom", "dropped")]))
    assert error.status == "error" and error.error == "boom" and error.error_kind == "dropped"
    assert error.decode_tps is None
    cancelled = measure_stream(ScriptedStream([DoneEvent(MS, "cancelled")]))
    assert cancelled.status == "cancelled" and cancelled.ttft_ms is None


def test_on_token_sees_every_piece() -> None:
    seen: list[str] = []
    measure_stream(
        ScriptedStream([TokenEvent("a", 1), TokenEvent("b", 2), DoneEvent(3, "stop")]), lambda e: seen.append(e.text)
    )
    assert seen == ["a", "b"]

"""engine.stream_watch: the first-token and stall timeouts on any stream (a plain Python one like the in-process
runtime's, the in-memory backend's, the endpoint's against real sockets), and what chat reports (cold, timeouts)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_tui.backends.base import ChatMessage, ChatOptions, DoneEvent, StreamEvent, TokenEvent
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.commands.chat import result_json
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend, Script, entry
from foundry_tui.devtools.sse_server import DEFAULT_TOKENS, FakeOpenAIServer, StreamScript
from foundry_tui.engine.chat import reply_status, reply_summary
from foundry_tui.engine.session import Session
from foundry_tui.engine.stream_watch import StreamWatch, shared_watch
from foundry_tui.engine.timing import RequestRecord, measure_stream
from tests.test_endpoint_backend import MODEL, MSGS, RawServer
from tests.tui.fixed_sampler import FixedSampler


class Scripted:
    """A ChatStream in plain Python, like the in-process runtime's: piece i after `waits[i]` s; cancel wakes it."""

    def __init__(self, waits: list[float]) -> None:
        self.model_id = "plain-model"
        self.t_sent_ns = 0
        self.waits = waits
        self.cancels = 0
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancels += 1
        self._cancelled.set()

    def __iter__(self) -> Iterator[StreamEvent]:
        self.t_sent_ns = time.perf_counter_ns()
        for i, wait in enumerate(self.waits):
            if self._cancelled.wait(wait):
                yield DoneEvent(time.perf_counter_ns(), "cancelled")
                return
            yield TokenEvent(f"t{i} ", time.perf_counter_ns(), 1)
        yield DoneEvent(time.perf_counter_ns(), "stop")


def options(first_token: float = 5.0, stall: float = 5.0) -> ChatOptions:
    return ChatOptions(max_tokens=100, first_token_timeout_s=first_token, stall_timeout_s=stall)


def timed(stream: Any, on_token: Any = None) -> tuple[RequestRecord, float]:
    started = time.perf_counter()
    record = measure_stream(stream, on_token)
    return record, time.perf_counter() - started


# -- a plain Python stream -----------------------------------------------------------------------------------


def test_a_stream_within_both_limits_is_left_alone() -> None:
    inner = Scripted([0.02] * 5)
    watched = StreamWatch().watch(inner, options(first_token=1.0, stall=1.0))
    assert watched.model_id == "plain-model"
    record, _ = timed(watched)
    assert record.status == "ok" and record.finish_reason == "stop" and record.pieces == 5
    assert inner.cancels == 0
    assert watched.t_sent_ns == inner.t_sent_ns == record.t_sent_ns > 0


def test_no_first_token_within_the_first_token_timeout() -> None:
    inner = Scripted([30.0])
    record, elapsed = timed(StreamWatch().watch(inner, options(first_token=0.2, stall=30.0)))
    assert record.status == "error" and record.error_kind == "first_token_timeout"
    assert record.error == "no first token within 0.2 s"
    assert inner.cancels == 1 and elapsed < 2.0
    assert record.t_end_ns - record.t_sent_ns >= 200_000_000  # it ends where the limit ran out, not before


@pytest.mark.parametrize("waits", [[0.0, 0.0, 30.0], [0.2, 30.0]], ids=["at-once", "after-the-watcher-slept"])
def test_no_piece_within_the_stall_timeout_after_the_first(waits: list[float]) -> None:
    # The first piece switches the stream to the (here much shorter) stall limit: the watcher, asleep until the
    # first-token deadline, must look sooner.
    record, elapsed = timed(StreamWatch().watch(Scripted(waits), options(first_token=30.0, stall=0.2)))
    assert record.status == "error" and record.error_kind == "stalled"
    assert record.error == "stalled: no data for 0.2 s"
    assert record.text == "".join(f"t{i} " for i in range(len(waits) - 1)) and elapsed < 2.0


def test_a_slow_first_token_is_not_a_stall() -> None:
    # The case: a long prompt's prefill outlasts the stall timeout; only the first-token timeout applies.
    record, _ = timed(StreamWatch().watch(Scripted([0.5, 0.01, 0.01]), options(first_token=5.0, stall=0.2)))
    assert record.status == "ok", record.error
    assert record.pieces == 3


def test_time_the_consumer_spends_on_a_piece_is_not_counted() -> None:
    record, _ = timed(StreamWatch().watch(Scripted([0.0, 0.0]), options(stall=0.1)), lambda _event: time.sleep(0.3))
    assert record.status == "ok", record.error


def test_the_callers_cancel_stays_a_cancel() -> None:
    watched = StreamWatch().watch(Scripted([30.0]), options(first_token=1.0))
    threading.Timer(0.1, watched.cancel).start()
    record, elapsed = timed(watched)
    assert record.status == "cancelled" and record.finish_reason == "cancelled" and record.error is None
    assert elapsed < 1.0


def test_one_thread_watches_many_streams_at_once() -> None:
    before = sum(t.name == "stream-watch" for t in threading.enumerate())
    watch = StreamWatch()
    streams = [Scripted([0.0, 30.0] if i % 2 else [0.02] * 10) for i in range(16)]
    records: dict[int, RequestRecord] = {}

    def run(i: int) -> None:
        records[i] = measure_stream(watch.watch(streams[i], options(first_token=2.0, stall=0.3)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(t.name == "stream-watch" for t in threading.enumerate()) == before + 1
    assert [records[i].status for i in range(16)] == ["ok", "error"] * 8
    assert {records[i].error_kind for i in range(1, 16, 2)} == {"stalled"}


def test_the_in_memory_backend_stream() -> None:
    backend = MemoryBackend(catalog=[entry("m-generic-cpu:1")], cached={"m-generic-cpu:1"}, loaded={"m-generic-cpu:1"})
    backend.script = Script(first_token_s=30.0)
    stream = backend.stream_chat("m-generic-cpu:1", MSGS, options(first_token=0.2))
    record, elapsed = timed(shared_watch().watch(stream, options(first_token=0.2)))
    assert record.error_kind == "first_token_timeout" and elapsed < 2.0


# -- the endpoint, over real sockets ---------------------------------------------------------------------------


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=[MODEL]) as server:
        yield server


@pytest.fixture
def backend(srv: FakeOpenAIServer) -> Iterator[EndpointBackend]:
    b = EndpointBackend(Settings(endpoint=srv.base_url))
    yield b
    b.close()


def endpoint_chat(backend: EndpointBackend, opts: ChatOptions) -> tuple[RequestRecord, float]:
    return timed(shared_watch().watch(backend.stream_chat(MODEL, MSGS, opts), opts))


@pytest.mark.slow
def test_endpoint_slow_prefill_within_the_first_token_timeout(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(first_token_delay_s=2.0)  # the headers and the role chunk come at once
    record, _ = endpoint_chat(backend, options(first_token=5.0, stall=0.5))
    assert record.status == "ok", record.error
    assert record.text == "".join(DEFAULT_TOKENS)
    assert record.ttft_ms is not None and record.ttft_ms >= 2000


def test_endpoint_first_token_timeout(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(first_token_delay_s=2.0)
    record, elapsed = endpoint_chat(backend, options(first_token=0.5, stall=30.0))
    assert record.error_kind == "first_token_timeout" and record.error == "no first token within 0.5 s"
    assert elapsed < 1.5


def test_endpoint_stall_mid_stream(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(fault="stall", fault_after=2)
    record, elapsed = endpoint_chat(backend, options(first_token=30.0, stall=0.3))
    assert record.error_kind == "stalled" and record.error == "stalled: no data for 0.3 s"
    assert record.text == "".join(DEFAULT_TOKENS[:2])  # what came before the stall is kept
    assert elapsed < 1.5


def test_endpoint_first_token_timeout_while_the_headers_are_held_back() -> None:
    with RawServer("hold") as server:
        backend = EndpointBackend(Settings(endpoint=server.url))
        record, elapsed = endpoint_chat(backend, options(first_token=0.3, stall=30.0))
        backend.close()
    assert record.error_kind == "first_token_timeout" and elapsed < 1.5


# -- chat ------------------------------------------------------------------------------------------------------

LOADED = "alpha-generic-cpu:1"


@pytest.fixture
def session(tmp_path: Path) -> Session:
    backend = MemoryBackend(catalog=[entry(LOADED)], cached={LOADED}, loaded={LOADED})
    return Session(Settings(data_dir=tmp_path), backend=backend, sampler=FixedSampler())


def test_chat_reports_its_first_request_cold(session: Session) -> None:
    first = session.chat(LOADED, [ChatMessage("user", "hi")], options())
    assert first.cold and first.first_request and not first.cold_start  # loaded already: no cold start
    assert reply_status(first).startswith("cold · TTFT ")
    assert reply_summary(first.record, cold=True).endswith(" · cold (first request)")
    data = result_json(first)
    assert data["cold"] is True and data["cold_start"] is False
    second = session.chat(LOADED, [ChatMessage("user", "again")], options())
    assert not second.cold and reply_status(second).startswith("TTFT ")
    assert result_json(second)["cold"] is False


def test_chat_streams_are_watched(session: Session) -> None:
    backend = session.backend
    assert isinstance(backend, MemoryBackend)
    backend.script = Script(tokens=("a", "b", "c"), gap_s=30.0)
    result, elapsed = timed_chat(session, options(stall=0.2))
    assert result.record.error_kind == "stalled" and result.record.text == "a" and elapsed < 2.0
    backend.script = Script(first_token_s=30.0)
    result, elapsed = timed_chat(session, options(first_token=0.2))
    assert result.record.error_kind == "first_token_timeout" and elapsed < 2.0


def timed_chat(session: Session, opts: ChatOptions) -> tuple[Any, float]:
    started = time.perf_counter()
    result = session.chat(LOADED, [ChatMessage("user", "hi")], opts)
    return result, time.perf_counter() - started


def test_cli_chat_says_cold(cli_env: dict[str, str], srv: FakeOpenAIServer) -> None:
    command = [sys.executable, "-m", "foundry_tui", "chat", MODEL, "hi", "--endpoint", srv.url]
    result = subprocess.run([*command, "--json"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cold"] is True and data["cold_start"] is False and data["status"] == "ok"
    result = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith(" · cold (first request)")

"""EndpointBackend against the real fake server (a socket on 127.0.0.1, no mocked transport)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from foundry_tui.backends.base import ChatMessage, ChatOptions, DownloadProgress
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.sse_server import DEFAULT_TOKENS, FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.engine.timing import RequestRecord, measure_stream
from foundry_tui.errors import BackendError, ModelNotFoundError, NotSupportedError

MODEL = "fake-model"
MSGS = [ChatMessage("user", "say hello")]
TEXT = "".join(DEFAULT_TOKENS)


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=[MODEL]) as server:
        yield server


def make_backend(endpoint: str, **kw: Any) -> EndpointBackend:
    return EndpointBackend(Settings(endpoint=endpoint, **kw))


@pytest.fixture
def backend(srv: FakeOpenAIServer) -> Iterator[EndpointBackend]:
    b = make_backend(srv.base_url)
    yield b
    b.close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def chat(backend: EndpointBackend, model: str = MODEL, **opts: Any) -> RequestRecord:
    opts.setdefault("max_tokens", 100)
    return measure_stream(backend.stream_chat(model, MSGS, ChatOptions(**opts)))


def chat_bodies(srv: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r["body"] for r in srv.requests if r["path"] == "/v1/chat/completions"]


# -- catalog -----------------------------------------------------------------------------------------------


def test_list_catalog_plain_server() -> None:
    with FakeOpenAIServer(models=["alpha", "beta:2"]) as server:
        b = make_backend(server.base_url)
        listing = b.list_catalog()
        b.close()
    assert listing.state == "ok"
    assert listing.reason is None
    assert sorted(m.id for m in listing.models) == ["alpha", "beta:2"]
    assert all(m.source == "endpoint" for m in listing.models)


def test_list_catalog_dead_port_is_unreachable() -> None:
    url = dead_url()
    b = make_backend(url)
    t0 = time.perf_counter()
    listing = b.list_catalog()
    b.close()
    assert time.perf_counter() - t0 < 5
    assert listing.state == "unreachable"
    assert listing.models == ()
    assert listing.reason is not None and url in listing.reason
    assert "\n" not in listing.reason


def test_resolve_unknown_model_lists_served_ids() -> None:
    with FakeOpenAIServer(models=["alpha", "beta:2"]) as server:
        b = make_backend(server.base_url)
        assert b.resolve("beta:2").id == "beta:2"
        with pytest.raises(ModelNotFoundError) as info:
            b.resolve("gamma")
        b.close()
    message = str(info.value)
    assert "gamma" in message and "alpha" in message and "beta:2" in message


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_endpoint_with_or_without_v1(srv: FakeOpenAIServer, suffix: str) -> None:
    b = make_backend(srv.url + suffix)
    try:
        assert b.root == srv.url
        listing = b.list_catalog()
        assert listing.state == "ok", listing.reason
        assert [m.id for m in listing.models] == [MODEL]
        record = chat(b)
    finally:
        b.close()
    assert record.status == "ok", record.error
    assert record.text == TEXT
    paths = {r["path"] for r in srv.requests}
    assert paths <= {"/v1/models", "/v1/chat/completions", "/openai/loadedmodels", "/models/loaded"}


# -- streaming chat ----------------------------------------------------------------------------------------


def test_stream_text_and_usage(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(tokens_per_chunk=3)  # 6 tokens in 2 pieces
    record = chat(backend)
    assert record.status == "ok", record.error
    assert record.text == TEXT
    assert record.finish_reason == "stop"
    assert record.pieces == 2
    assert record.completion_tokens == len(DEFAULT_TOKENS)  # from usage, not the piece count
    assert record.tokens_estimated is False
    assert record.prompt_tokens == 2
    assert chat_bodies(srv)[-1]["stream_options"] == {"include_usage": True}


def test_usage_absent_counts_pieces(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(usage=False)
    record = chat(backend)
    assert record.status == "ok", record.error
    assert record.text == TEXT
    assert record.usage_completion_tokens is None
    assert record.completion_tokens == len(DEFAULT_TOKENS)

    srv.script = StreamScript(usage=False, tokens_per_chunk=3)
    record = chat(backend)
    assert record.text == TEXT
    assert record.completion_tokens == 2  # pieces, not tokens
    assert record.tokens_estimated is True


def test_role_and_empty_chunks_do_not_count_or_set_ttft(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(first_token_delay_s=0.2, role_chunk=True, empty_chunks=True, usage=False)
    record = chat(backend)
    assert record.status == "ok", record.error
    assert record.text == TEXT
    assert record.pieces == len(DEFAULT_TOKENS)
    assert record.completion_tokens == len(DEFAULT_TOKENS)
    assert record.first_any_ns == record.token_times_ns[0]
    assert record.ttft_ms is not None
    assert 190 <= record.ttft_ms <= 450, record.ttft_ms


def test_decode_rate_with_known_gaps(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(tokens=make_tokens(11), gap_s=0.04)  # 10 gaps of 40 ms → 25 tokens/s
    record = chat(backend)
    assert record.status == "ok", record.error
    assert record.completion_tokens == 11
    assert record.decode_tps is not None
    assert abs(record.decode_tps - 25) / 25 < 0.15, record.decode_tps
    sent = srv.send_log[-1]
    server_tps = (len(sent) - 1) / ((sent[-1] - sent[0]) / 1e9)
    assert abs(record.decode_tps - server_tps) / server_tps < 0.10, (record.decode_tps, server_tps)


def test_max_tokens_and_temperature_always_sent(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    record = chat(backend, max_tokens=3, temperature=0.7)
    body = chat_bodies(srv)[-1]
    assert body["max_tokens"] == 3
    assert body["temperature"] == 0.7
    assert body["stream"] is True
    assert record.text == "".join(DEFAULT_TOKENS[:3])
    assert record.finish_reason == "length"

    chat(backend, max_tokens=512)  # defaults still go over the wire
    body = chat_bodies(srv)[-1]
    assert body["max_tokens"] == 512
    assert body["temperature"] == 0.0


def test_stream_options_rejected_retries_without(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(reject_stream_options=True)
    record = chat(backend)
    assert record.status == "ok", record.error
    assert record.text == TEXT
    assert record.usage_completion_tokens is None
    assert backend.include_usage is False
    bodies = chat_bodies(srv)
    assert len(bodies) == 2
    assert "stream_options" in bodies[0] and "stream_options" not in bodies[1]

    record = chat(backend)
    assert record.status == "ok", record.error
    bodies = chat_bodies(srv)
    assert len(bodies) == 3  # no second rejected attempt
    assert "stream_options" not in bodies[2]


# -- faults ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "kind", "words"),
    [
        (StreamScript(fault="http500"), "http", "500"),
        (StreamScript(fault="malformed"), "malformed", "malformed"),
        (StreamScript(fault="drop"), "dropped", "dropped"),
        (StreamScript(fault="drop", chunked=False), "dropped", "without a finish reason"),
    ],
    ids=["http500", "malformed", "drop", "drop-clean-eof"],
)
def test_fault_becomes_error_record(
    srv: FakeOpenAIServer, backend: EndpointBackend, script: StreamScript, kind: str, words: str
) -> None:
    srv.script = script
    record = chat(backend)
    assert record.status == "error"
    assert record.error_kind == kind
    assert record.error is not None and words in record.error
    assert "\n" not in record.error
    assert record.t_end_ns > 0


def test_stall_times_out_as_stalled(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(fault="stall", fault_after=2)
    t0 = time.perf_counter()
    record = chat(backend, stall_timeout_s=0.3)
    elapsed = time.perf_counter() - t0
    assert record.status == "error"
    assert record.error_kind == "stalled"
    assert record.error is not None and "stalled" in record.error and "\n" not in record.error
    assert record.text == "".join(DEFAULT_TOKENS[:2])  # what came before the stall is kept
    assert 0.25 <= elapsed < 1.5, elapsed


def test_connection_refused_is_network_error() -> None:
    url = dead_url()
    b = make_backend(url)
    record = chat(b)
    b.close()
    assert record.status == "error"
    assert record.error_kind == "network"
    assert record.error is not None and url in record.error and "\n" not in record.error


def test_terminal_escapes_in_error_body_are_made_visible(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    # The fake server echoes the unknown model name in its 404 error message.
    record = chat(backend, model="evil\x1b[2J\x1b]0;owned\x07model")
    assert record.status == "error"
    assert record.error_kind == "http"
    assert record.error is not None and "404" in record.error
    assert "\x1b" not in record.error and "\x07" not in record.error
    assert "\\x1b[2J" in record.error


# -- cancellation ------------------------------------------------------------------------------------------


def run_cancelled(backend: EndpointBackend, after_tokens: int, **opts: Any) -> tuple[RequestRecord, float]:
    """Cancel from another thread once `after_tokens` pieces arrived; return the record and cancel→end seconds."""
    stream = backend.stream_chat(MODEL, MSGS, ChatOptions(max_tokens=100, **opts))
    reached = threading.Event()
    cancelled_at: list[float] = []
    seen = 0

    def on_token(_event: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == after_tokens:
            reached.set()

    def canceller() -> None:
        if reached.wait(5):
            cancelled_at.append(time.perf_counter())
            stream.cancel()

    thread = threading.Thread(target=canceller, daemon=True)
    thread.start()
    record = measure_stream(stream, on_token)
    ended = time.perf_counter()
    thread.join(1)
    assert cancelled_at, "the stream never reached the cancel point"
    return record, ended - cancelled_at[0]


def test_cancel_mid_stream_from_another_thread(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    srv.script = StreamScript(tokens=make_tokens(40), gap_s=0.05)
    record, latency = run_cancelled(backend, 3)
    assert record.finish_reason == "cancelled"
    assert record.status == "cancelled"
    assert record.error is None
    assert 3 <= record.pieces < 15
    assert latency < 1.0, latency


def test_cancel_unblocks_a_stalled_read(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    # Nothing more arrives after the 3rd token: cancel must not wait for the (long) stall timeout.
    srv.script = StreamScript(tokens=make_tokens(40), fault="stall", fault_after=3)
    record, latency = run_cancelled(backend, 3, stall_timeout_s=30)
    assert record.finish_reason == "cancelled"
    assert record.pieces == 3
    assert latency < 1.0, latency


# -- management --------------------------------------------------------------------------------------------


def test_plain_server_has_no_management(srv: FakeOpenAIServer, backend: EndpointBackend) -> None:
    assert backend.info().management is False
    actions: list[Callable[[], object]] = [
        lambda: backend.load(MODEL),
        lambda: backend.unload(MODEL),
        backend.list_loaded,
        lambda: backend.download(MODEL),
    ]
    for action in actions:
        with pytest.raises(NotSupportedError, match="not supported by this endpoint"):
            action()
    assert srv.loaded == [MODEL]  # nothing changed on the server


def test_openai_family_management() -> None:
    with FakeOpenAIServer(models=[MODEL], foundry_routes="openai") as server:
        server.download_duration_s = 0.1
        b = make_backend(server.base_url)
        try:
            info = b.info()
            assert info.management is True
            assert info.details["routes"] == "/openai/*"
            assert [m.id for m in b.list_loaded()] == [MODEL]

            server.loaded.clear()
            assert b.list_loaded() == []
            entry = b.load(MODEL)
            assert entry.id == MODEL and entry.loaded is True
            assert server.loaded == [MODEL]
            assert any(r["path"] == f"/openai/load/{MODEL}" for r in server.requests)

            b.unload(MODEL)
            assert server.loaded == []
            assert any(r["path"] == f"/openai/unload/{MODEL}" for r in server.requests)

            server.catalog.append("new-model:1")  # in the catalog, not downloaded yet
            progress: list[DownloadProgress] = []
            entry = b.download("new-model:1", progress=progress.append)
            assert entry.id == "new-model:1"
            assert "new-model:1" in server.cached
            percents = [p.percent for p in progress]
            assert len(percents) >= 2
            assert percents == sorted(percents)
            assert percents[-1] == 100.0

            server.catalog.append("broken:1")
            server.download_error = "disk full"
            with pytest.raises(BackendError, match="disk full"):
                b.download("broken:1")
            assert "broken:1" not in server.cached
        finally:
            b.close()


def test_models_family_management() -> None:
    with FakeOpenAIServer(models=[MODEL], foundry_routes="models") as server:
        b = make_backend(server.base_url)
        try:
            info = b.info()
            assert info.management is True
            assert info.details["routes"] == "/models/*"
            assert [m.id for m in b.list_loaded()] == [MODEL]

            server.loaded.clear()
            b.load(MODEL)
            assert server.loaded == [MODEL]
            b.unload(MODEL)
            assert server.loaded == []
            assert b.list_loaded() == []
            paths = [r["path"] for r in server.requests]
            assert f"/models/load/{MODEL}" in paths and f"/models/unload/{MODEL}" in paths
            assert not any(p.startswith(("/openai/load/", "/openai/unload/")) for p in paths)
        finally:
            b.close()

"""EndpointBackend against the real fake server (a socket on 127.0.0.1, no mocked transport).

Size: catalog, streaming, faults, the wire stamp (with its own raw-socket server, which test_stream_watch also
uses), cancellation and both management families share the fixtures and helpers at the top.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from foundry_tui.backends import endpoint_stream, openai_compat
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


def test_the_context_a_server_lists_is_the_models_advertised_context() -> None:
    with FakeOpenAIServer(models=["alpha"], script=StreamScript(context=2048)) as server:
        b = make_backend(server.base_url)
        entry = b.resolve("alpha")
        b.close()
    assert entry.context_length == 2048  # vLLM's max_model_len
    with FakeOpenAIServer(models=["alpha"]) as server:
        b = make_backend(server.base_url)
        entry = b.resolve("alpha")
        b.close()
    assert entry.context_length is None  # listed none: unknown, not a guess


@pytest.mark.parametrize(
    ("item", "context"),
    [
        ({"id": "m", "meta": {"n_ctx_train": 8192, "n_params": 1}}, 8192),  # llama.cpp server
        ({"id": "m", "max_context_length": 4096}, 4096),  # LM Studio
        ({"id": "m", "max_model_len": "4096"}, None),  # not a number: ignored
        ({"id": "m", "max_model_len": True}, None),
        ({"id": "m", "meta": None}, None),
    ],
)
def test_listed_context_shapes(item: dict[str, Any], context: int | None) -> None:
    assert openai_compat._listed_context(item) == context


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


@pytest.mark.parametrize(
    ("fault_after", "kind", "words"), [(2, "stalled", "stalled"), (0, "first_token_timeout", "no first token")]
)
def test_unwatched_stream_ends_at_the_read_backstop(
    srv: FakeOpenAIServer,
    backend: EndpointBackend,
    monkeypatch: pytest.MonkeyPatch,
    fault_after: int,
    kind: str,
    words: str,
) -> None:
    # Unwatched, the HTTP read timeout (the longer timeout + a margin) still ends a silent stream, and says whether
    # anything had come. (Watched streams end at the right timeout first: test_stream_watch.)
    monkeypatch.setattr(endpoint_stream, "BACKSTOP_MARGIN_S", 0.1)
    srv.script = StreamScript(fault="stall", fault_after=fault_after)
    t0 = time.perf_counter()
    record = chat(backend, stall_timeout_s=0.2, first_token_timeout_s=0.3)
    elapsed = time.perf_counter() - t0
    assert record.status == "error"
    assert record.error_kind == kind
    assert record.error is not None and words in record.error and "0.4 s" in record.error
    assert "\n" not in record.error
    assert record.text == "".join(DEFAULT_TOKENS[:fault_after])  # what came before the stall is kept
    assert 0.35 <= elapsed < 1.5, elapsed


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


# -- the send stamp, at the wire ---------------------------------------------------------------------------


class RawServer:
    """HTTP/1.1 on a plain socket, one connection at a time: stamps (`perf_counter_ns`, one clock with the client)
    the moment each request's first bytes arrive, and answers with a short stream ("sse"), a non-streamed reply
    ("json"), or nothing at all, holding the connection open until the client hangs up ("hold")."""

    def __init__(self, mode: Literal["sse", "json", "hold"]) -> None:
        self.mode = mode
        self.first_recv_ns: list[int] = []
        self.got_request = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < self._request_length(data):
            try:
                piece = conn.recv(1 << 20)
            except TimeoutError:
                if self._stop.is_set():
                    return
                continue
            if not piece:
                return
            if not data:
                self.first_recv_ns.append(time.perf_counter_ns())
            data += piece
        self.got_request.set()
        if self.mode == "hold":
            while not self._stop.is_set():
                try:
                    if not conn.recv(1024):
                        return  # the client hung up
                except TimeoutError:
                    continue
                except OSError:
                    return
            return
        conn.sendall(self._reply())

    @staticmethod
    def _request_length(data: bytes) -> int:
        head, _, _ = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                return len(head) + 4 + int(value)
        return len(head) + 4

    def _reply(self) -> bytes:
        if self.mode == "json":
            body = json.dumps(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": MODEL,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
                    ],
                }
            ).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            return (head + "Connection: close\r\n\r\n").encode() + body
        events = [{"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + body


def test_priming_the_stream_path_sends_nothing(srv: FakeOpenAIServer) -> None:
    # The backend runs its streamed-chat code on canned bytes when it is built (so a process's first request is
    # not slowed by code running for the first time): nothing of that may reach the server or change settings.
    backend = make_backend(srv.base_url)
    assert srv.requests == [] and backend.include_usage is True
    record = chat(backend)
    backend.close()
    assert record.status == "ok" and record.text == TEXT
    assert [r["path"] for r in srv.requests] == ["/v1/chat/completions"]
    assert chat_bodies(srv)[0]["model"] == MODEL


BIG = [ChatMessage("user", "word " * 1_000_000)]  # 5 MB: building and encoding the request takes a while


def test_send_stamp_is_taken_after_connect_and_build() -> None:
    with RawServer("sse") as server:
        backend = make_backend(server.url)
        stream = backend.stream_chat(MODEL, BIG, ChatOptions(max_tokens=5))
        before = time.perf_counter_ns()
        record = measure_stream(stream)
        backend.close()
    assert record.status == "ok", record.error
    assert record.text == "Hi"
    arrived = server.first_recv_ns[0]
    # Between the connection being made (httpcore's own trace event) and the first byte reaching the server.
    assert 0 < stream.wire.connected_ns <= stream.t_sent_ns <= arrived
    # Building the 5 MB request came before the stamp: the stamp sits at the end of the window, not its start.
    assert stream.t_sent_ns - before > (arrived - before) / 2
    assert record.t_sent_ns == stream.t_sent_ns


def test_non_streamed_send_stamp_is_taken_at_the_wire() -> None:
    with RawServer("json") as server:
        backend = make_backend(server.url)
        before = time.perf_counter_ns()
        reply = backend.complete_chat(MODEL, BIG, ChatOptions(max_tokens=5))
        backend.close()
    assert reply.text == "Hi" and reply.finish_reason == "stop"
    arrived = server.first_recv_ns[0]
    assert before < reply.t_sent_ns <= arrived < reply.t_done_ns
    assert reply.t_sent_ns - before > (arrived - before) / 2


def test_cancel_while_the_server_holds_back_its_headers() -> None:
    # Some servers send no response headers until the prefill is done: a cancel must not wait for them.
    with RawServer("hold") as server:
        backend = make_backend(server.url)
        # Without a working cancel, only the read backstop (2 + 5 s) would end it.
        stream = backend.stream_chat(MODEL, MSGS, ChatOptions(max_tokens=5, stall_timeout_s=2, first_token_timeout_s=2))
        cancelled_at: list[float] = []

        def canceller() -> None:
            if server.got_request.wait(5):
                cancelled_at.append(time.perf_counter())
                stream.cancel()

        thread = threading.Thread(target=canceller, daemon=True)
        thread.start()
        record = measure_stream(stream)
        ended = time.perf_counter()
        thread.join(1)
        backend.close()
    assert cancelled_at, "the request never reached the server"
    assert record.status == "cancelled" and record.finish_reason == "cancelled", record.error
    assert ended - cancelled_at[0] < 1.0


def test_a_cancel_after_the_end_leaves_the_pooled_connection_alone(
    srv: FakeOpenAIServer, backend: EndpointBackend
) -> None:
    first = backend.stream_chat(MODEL, MSGS, ChatOptions(max_tokens=100))
    assert measure_stream(first).status == "ok"
    srv.script = StreamScript(tokens=make_tokens(5), gap_s=0.05)
    second = backend.stream_chat(MODEL, MSGS, ChatOptions(max_tokens=100))
    pieces: list[Any] = []

    def on_token(event: Any) -> None:
        pieces.append(event)
        if len(pieces) == 2:
            first.cancel()  # late: the first stream is over; its socket may now carry the second request

    record = measure_stream(second, on_token)
    assert record.status == "ok", record.error
    assert record.pieces == 5


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

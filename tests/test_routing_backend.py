"""backends.routing: one Backend over the main backend and the endpoints `URL#MODEL` ids name, against real fake
servers on 127.0.0.1 (the in-memory backend plays the main one here; the real runtime: test_bench_mixed)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from foundry_tui.backends.base import Backend, ChatMessage, ChatOptions
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.backends.routing import (
    RoutingBackend,
    completes,
    endpoint_model_id,
    endpoint_url,
    server_counter,
    split_model_id,
)
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import ANSWER, MemoryBackend, entry
from foundry_tui.devtools.sse_server import DEFAULT_TOKENS, FakeOpenAIServer, fake_tokenize
from foundry_tui.engine.timing import measure_stream
from foundry_tui.errors import BackendError, BadInputError, ModelNotFoundError, NotSupportedError

MAIN_MODEL = "alpha-generic-cpu:1"
MSGS = [ChatMessage("user", "say hello")]
OPTIONS = ChatOptions(max_tokens=100)
TEXT = "".join(DEFAULT_TOKENS)


@pytest.fixture
def main() -> MemoryBackend:
    return MemoryBackend(catalog=[entry(MAIN_MODEL)], cached={MAIN_MODEL})


@pytest.fixture
def phi() -> Iterator[FakeOpenAIServer]:
    """An endpoint with Foundry management routes (load / unload) and a tokenize route."""
    with FakeOpenAIServer(models=["phi-4-mini"], foundry_routes="openai", tokenize_route=True) as server:
        yield server


@pytest.fixture
def llama() -> Iterator[FakeOpenAIServer]:
    """A plain OpenAI-compatible endpoint (no management routes)."""
    with FakeOpenAIServer(models=["llama3.2"]) as server:
        yield server


class Opened:
    """The default opener, counting what it opened and closed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.opened: list[str] = []
        self.closed: list[str] = []

    def __call__(self, url: str) -> Backend:
        self.opened.append(url)
        backend = EndpointBackend(Settings(endpoint=url, api_key=self.settings.api_key))
        real_close = backend.close

        def close() -> None:
            self.closed.append(url)
            real_close()

        backend.close = close  # type: ignore[method-assign]
        return backend


@pytest.fixture
def opener() -> Opened:
    return Opened(Settings())


@pytest.fixture
def routing(main: MemoryBackend, opener: Opened) -> Iterator[RoutingBackend]:
    backend = RoutingBackend(main, Settings(), open_endpoint=opener)
    yield backend
    backend.close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_ids_split_and_join() -> None:
    assert split_model_id("http://h:5273/v1#phi-4-mini") == ("http://h:5273/v1", "phi-4-mini")
    assert split_model_id("http://h:5273/v1/#phi") == ("http://h:5273/v1", "phi")  # one endpoint, one spelling
    assert split_model_id("https://h/v1#org/model#2") == ("https://h/v1", "org/model#2")
    assert split_model_id("qwen2.5-0.5b") == (None, "qwen2.5-0.5b")
    assert split_model_id("odd#name") == (None, "odd#name")  # no scheme before the '#': a plain name
    assert endpoint_model_id("http://h:5273/v1/", "phi") == "http://h:5273/v1#phi"
    assert endpoint_url(" http://h:5273/v1/ ") == "http://h:5273/v1"
    for bad, why in (("ftp://h/v1", "http:// or https://"), ("http://h:99999/v1", "bad port"), ("http://", "no host")):
        with pytest.raises(BadInputError, match=why):
            endpoint_url(bad)


def test_resolve_routes_by_prefix_and_prefixes_every_id(
    routing: RoutingBackend, main: MemoryBackend, phi: FakeOpenAIServer, llama: FakeOpenAIServer, opener: Opened
) -> None:
    assert routing.resolve(MAIN_MODEL) == main.resolve(MAIN_MODEL)  # the main backend's, untouched
    assert routing.resolve("alpha") == main.resolve(MAIN_MODEL)  # by alias too
    assert opener.opened == []  # no endpoint opened for a main model

    phi_entry = routing.resolve(f"{phi.base_url}#phi-4-mini")
    assert phi_entry.id == phi_entry.alias == f"{phi.base_url}#phi-4-mini"
    assert phi_entry.variants == (f"{phi.base_url}#phi-4-mini",)
    assert phi_entry.source == "endpoint"
    llama_entry = routing.resolve(f"{llama.base_url}/#llama3.2")  # trailing slash: the same endpoint
    assert llama_entry.id == f"{llama.base_url}#llama3.2"
    routing.resolve(f"{llama.base_url}#llama3.2")
    assert opener.opened == [phi.base_url, llama.base_url]  # each opened once, on first use
    assert set(routing.backends()) == {None, phi.base_url, llama.base_url}
    assert routing.backends()[None] is main

    assert routing.endpoint_of(phi_entry.id) == phi.base_url
    assert routing.endpoint_of(MAIN_MODEL) is None
    with pytest.raises(ModelNotFoundError, match=r"no model 'phi-4-mini' at .*it serves: llama3\.2"):
        routing.resolve(f"{llama.base_url}#phi-4-mini")  # the endpoint's own error, naming it


def test_streams_go_to_the_named_server_under_the_prefixed_id(
    routing: RoutingBackend, phi: FakeOpenAIServer, llama: FakeOpenAIServer
) -> None:
    phi_id, llama_id = f"{phi.base_url}#phi-4-mini", f"{llama.base_url}#llama3.2"
    record = measure_stream(routing.stream_chat(phi_id, MSGS, OPTIONS))
    assert (record.status, record.text, record.model) == ("ok", TEXT, phi_id)
    assert record.t_sent_ns > 0 and record.ttft_ms is not None and record.ttft_ms > 0
    record = measure_stream(routing.stream_chat(llama_id, MSGS, OPTIONS))
    assert (record.status, record.text, record.model) == ("ok", TEXT, llama_id)
    record = measure_stream(routing.stream_chat(MAIN_MODEL, MSGS, OPTIONS))
    assert (record.status, record.text, record.model) == ("ok", ANSWER, MAIN_MODEL)
    # Each server saw its own model's request, by the id it serves it under.
    assert [r["body"]["model"] for r in phi.requests if r["path"] == "/v1/chat/completions"] == ["phi-4-mini"]
    assert [r["body"]["model"] for r in llama.requests if r["path"] == "/v1/chat/completions"] == ["llama3.2"]


def test_a_cancelled_routed_stream_ends_cancelled(routing: RoutingBackend, phi: FakeOpenAIServer) -> None:
    stream = routing.stream_chat(f"{phi.base_url}#phi-4-mini", MSGS, OPTIONS)
    stream.cancel()
    record = measure_stream(stream)
    assert record.status == "cancelled"


def test_non_streamed_requests_go_where_the_backend_sends_them(
    routing: RoutingBackend, main: MemoryBackend, phi: FakeOpenAIServer
) -> None:
    phi_id = f"{phi.base_url}#phi-4-mini"
    reply = routing.complete_chat(phi_id, MSGS, OPTIONS)
    assert (reply.model_id, reply.text, reply.finish_reason) == (phi_id, TEXT, "stop")
    assert reply.usage is not None and reply.usage.completion_tokens == len(DEFAULT_TOKENS)
    assert completes(routing, phi_id)
    # The in-memory main backend only streams: the executor must stream its models (completes() says so).
    assert not completes(routing, MAIN_MODEL)
    assert not completes(main, MAIN_MODEL)
    with pytest.raises(NotSupportedError, match="streamed requests only"):
        routing.complete_chat(MAIN_MODEL, MSGS, OPTIONS)
    assert not completes(routing, "ftp://h/v1#x")  # a URL that is not one: no backend, stream (and fail) instead


def test_load_and_unload_reach_the_endpoints_management_routes(
    routing: RoutingBackend, main: MemoryBackend, phi: FakeOpenAIServer, llama: FakeOpenAIServer
) -> None:
    phi_id = f"{phi.base_url}#phi-4-mini"
    assert routing.info_for(phi_id).management
    assert routing.info_for(phi_id).endpoint == phi.url
    assert not routing.info_for(f"{llama.base_url}#llama3.2").management
    assert routing.info_for(MAIN_MODEL) == main.info() == routing.info()

    routing.unload(phi_id)
    assert phi.loaded == []
    loaded = routing.load(phi_id)
    assert (loaded.id, loaded.loaded) == (phi_id, True)
    assert phi.loaded == ["phi-4-mini"]
    routing.load(MAIN_MODEL)
    assert [e.id for e in main.list_loaded()] == [MAIN_MODEL]  # the main model on the main backend
    routing.unload(MAIN_MODEL)
    assert main.list_loaded() == []
    with pytest.raises(NotSupportedError, match="no management routes"):
        routing.load(f"{llama.base_url}#llama3.2")


def test_what_names_no_model_is_the_main_backends(routing: RoutingBackend, main: MemoryBackend) -> None:
    assert routing.list_catalog().models == main.list_catalog().models
    assert [e.id for e in routing.list_cached()] == [MAIN_MODEL]
    assert routing.list_loaded() == main.list_loaded()
    assert routing.execution_providers() == main.execution_providers()
    assert routing.model_versions(MAIN_MODEL) == [main.resolve(MAIN_MODEL)]


def test_close_closes_the_endpoints_it_opened_not_the_main_one(
    routing: RoutingBackend, main: MemoryBackend, phi: FakeOpenAIServer, llama: FakeOpenAIServer, opener: Opened
) -> None:
    routing.resolve(f"{phi.base_url}#phi-4-mini")
    routing.resolve(f"{llama.base_url}#llama3.2")
    routing.close()
    assert sorted(opener.closed) == sorted([phi.base_url, llama.base_url])
    assert routing.backends() == {None: main}
    assert routing.resolve(MAIN_MODEL).id == MAIN_MODEL  # the main backend is still open
    # A later use opens the endpoint again.
    assert measure_stream(routing.stream_chat(f"{phi.base_url}#phi-4-mini", MSGS, OPTIONS)).status == "ok"
    assert opener.opened.count(phi.base_url) == 2


def test_an_unreachable_or_unopenable_endpoint_is_one_line_naming_it(main: MemoryBackend) -> None:
    url = dead_url()
    routing = RoutingBackend(main, Settings())
    try:
        with pytest.raises(BackendError, match="cannot reach") as caught:
            routing.resolve(f"{url}#phi")
        message = str(caught.value)
        assert url.removesuffix("/v1") in message and "\n" not in message
        with pytest.raises(BadInputError, match="must start with http"):
            routing.resolve("ftp://h/v1#phi")
        record = measure_stream(routing.stream_chat(f"{url}#phi", MSGS, OPTIONS))
        assert record.status == "error" and record.error_kind == "network"
    finally:
        routing.close()

    def broken(url: str) -> Backend:
        raise RuntimeError("no client\nfor you")

    routing = RoutingBackend(main, Settings(), open_endpoint=broken)
    with pytest.raises(BackendError, match=r"^cannot open endpoint http://127\.0\.0\.1:9/v1: no client for you$"):
        routing.resolve("http://127.0.0.1:9/v1#phi")

    def refused(url: str) -> Backend:
        raise BackendError(f"{url}: refused by policy", kind="network")

    routing = RoutingBackend(main, Settings(), open_endpoint=refused)
    with pytest.raises(BackendError, match="refused by policy"):  # the opener's own error, as it was
        routing.resolve("http://127.0.0.1:9/v1#phi")
    assert routing.backends() == {None: main}  # nothing kept: a later call tries again


def test_the_default_opener_copies_the_settings(main: MemoryBackend, phi: FakeOpenAIServer) -> None:
    settings = Settings(api_key="sk-test")
    routing = RoutingBackend(main, settings)
    try:
        assert measure_stream(routing.stream_chat(f"{phi.base_url}#phi-4-mini", MSGS, OPTIONS)).status == "ok"
        chat = [r for r in phi.requests if r["path"] == "/v1/chat/completions"][-1]
        headers = {k.lower(): v for k, v in chat["headers"].items()}
        assert headers["authorization"] == "Bearer sk-test"
    finally:
        routing.close()


def test_server_counter_asks_the_models_own_server(phi: FakeOpenAIServer, llama: FakeOpenAIServer) -> None:
    text = "Hello world, tokens counted here."
    counter = server_counter(Settings(), f"{phi.base_url}#phi-4-mini")
    assert counter is not None
    with counter:
        assert counter.count(text) == len(fake_tokenize(text))
        assert counter.model == "phi-4-mini"  # the id the server knows
    assert server_counter(Settings(), f"{llama.base_url}#llama3.2") is None  # no tokenize route there
    assert server_counter(Settings(), MAIN_MODEL) is None  # in-process: nothing to ask
    with server_counter(Settings(endpoint=phi.base_url), "phi-4-mini") as configured:  # type: ignore[union-attr]
        assert configured.count(text) == len(fake_tokenize(text))

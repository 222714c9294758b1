"""The fake server's prompt side (devtools.sse_prompt): token-exact prompt counts, template tokens, prefill pacing
and vLLM's context-length refusal, over real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from foundry_tui.backends.endpoint_tokenize import server_tokenizer
from foundry_tui.devtools.sse_prompt import (
    context_error,
    count_prompt,
    first_token_delay,
    requested_completion_tokens,
)
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, fake_tokenize
from foundry_tui.engine.bench.prompt_synth import synth_prompt
from tests.test_sse_server import cli_server

TEXT = "Hello, world: a prompt's text (with punctuation) counts by pieces!"


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(StreamScript(prompt_count="tokens"), tokenize_route=True) as server:
        yield server


def client(server: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def tokenize_count(server: FakeOpenAIServer, text: str) -> int:
    """The server's own /tokenize count (llama.cpp shape, no BOS)."""
    status, body = post(server, "/tokenize", {"content": text, "add_special": False})
    assert status == 200
    return len(body["tokens"])


def post(server: FakeOpenAIServer, path: str, body: Any) -> tuple[int, Any]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_request(path, body))
        head, rest = _read_head(sock)
        length = int(next(v for k, v in _headers(head) if k == "content-length"))
        while len(rest) < length:
            rest += sock.recv(65536)
    return int(head.split()[1]), json.loads(rest[:length])


def _request(path: str, body: Any) -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return head.encode() + f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the response head"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode().split("\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]


def first_content_s(server: FakeOpenAIServer, body: dict[str, Any]) -> float:
    """Seconds from the request's last byte leaving to the first content chunk arriving, on a raw socket."""
    data = _request("/v1/chat/completions", body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(data[:-1])  # all but the last byte: the server cannot start before the clock does
        started = time.perf_counter()
        sock.sendall(data[-1:])
        buf = b""
        marker = b'"content": "' if body.get("stream") else b'"message"'
        while True:
            chunk = sock.recv(65536)
            assert chunk, "closed before the first token"
            arrived = time.perf_counter()
            buf += chunk
            events = buf.split(marker)[1:]
            if any(not event.startswith(b'"') for event in events):  # a non-empty content (the role chunk's is "")
                return arrived - started


# -- the prompt count --------------------------------------------------------------------------------------------


def test_count_prompt_by_words_or_tokens() -> None:
    messages: list[Any] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": TEXT}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant"},
        "not a message",
    ]
    assert count_prompt(messages, "words", fake_tokenize) == 2 + len(TEXT.split())
    assert count_prompt(messages, "tokens", fake_tokenize) == 2 + len(fake_tokenize(TEXT))
    assert count_prompt(messages, "tokens", fake_tokenize, template_tokens=9) == 11 + len(fake_tokenize(TEXT))
    # Messages are counted apart: "be" + "brief" are not merged with the next message's first piece.
    assert count_prompt(user("a") + user("b"), "tokens", fake_tokenize) == 2


def test_requested_completion_tokens_and_delay() -> None:
    assert requested_completion_tokens({"max_completion_tokens": 7, "max_tokens": 99}) == 7
    assert requested_completion_tokens({"max_tokens": 99}) == 99
    assert requested_completion_tokens({"max_tokens": True}) == requested_completion_tokens({}) == 0
    assert first_token_delay(0.1, 500, 1000.0) == pytest.approx(0.6)
    assert first_token_delay(0.1, 500, None) == first_token_delay(0.1, 500, 0.0) == 0.1
    assert first_token_delay(-1.0, 0, 5.0) == 0.0


def test_context_error_is_vllms() -> None:
    assert context_error(None, 10**6, 10) is None
    assert context_error(100, 90, 10) is None
    assert context_error(100, 91, 10) == {
        "error": {
            "message": "This model's maximum context length is 100 tokens. However, you requested 101 tokens "
            "(91 in the messages, 10 in the completion). Please reduce the length of the messages or completion.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def test_usage_prompt_tokens_is_the_tokenize_count_plus_the_template(srv: FakeOpenAIServer) -> None:
    srv.script.template_tokens = 5
    with client(srv) as c:
        for text in (TEXT, "one", "  spaced   out\n\nlines\t.", "ünïcödé → pieces"):
            reply = c.chat.completions.create(model="fake-model", messages=user(text))
            assert reply.usage is not None
            assert reply.usage.prompt_tokens == tokenize_count(srv, text) + 5
            assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
            assert srv.requests[-2]["prompt_tokens"] == reply.usage.prompt_tokens  # [-1] is the /tokenize call
        chunks = list(
            c.chat.completions.create(
                model="fake-model", messages=user(TEXT), stream=True, stream_options={"include_usage": True}
            )
        )
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens == len(fake_tokenize(TEXT)) + 5


def test_default_script_still_counts_words() -> None:
    with FakeOpenAIServer() as server, client(server) as c:
        reply = c.chat.completions.create(model="fake-model", messages=user(TEXT))
        assert reply.usage is not None and reply.usage.prompt_tokens == len(TEXT.split())
        assert server.requests[-1]["prompt_tokens"] == len(TEXT.split())
        models = c.models.list().data
        assert "max_model_len" not in (models[0].model_extra or {})


def test_synthesized_prompts_count_exactly_on_the_server(srv: FakeOpenAIServer) -> None:
    """A prompt sized with the server's tokenize route is exactly that long in the server's usage."""
    srv.script.template_tokens = 7
    counter = server_tokenizer(srv.url, "fake-model")
    assert counter is not None
    with counter, client(srv) as c:
        for target in (16, 300, 5000):
            prompt = synth_prompt(target, counter.count, variant=target)
            assert prompt.exact
            reply = c.chat.completions.create(model="fake-model", messages=user(prompt.text), max_tokens=2)
            assert reply.usage is not None and reply.usage.prompt_tokens == target + 7


# -- prefill pacing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_first_token_waits_for_the_prefill(srv: FakeOpenAIServer, stream: bool) -> None:
    srv.script.prefill_tps = 20_000.0
    srv.script.first_token_delay_s = 0.02
    for target in (1000, 4000):
        text = synth_prompt(target, lambda t: len(fake_tokenize(t))).text
        body = {"model": "fake-model", "messages": user(text), "stream": stream}
        measured = first_content_s(srv, body)
        expected = 0.02 + target / 20_000.0
        assert srv.requests[-1]["prompt_tokens"] == target
        # Never early; late only by the loopback round-trip and the scheduler (a few ms).
        assert expected <= measured < expected + 0.015, (target, measured, expected)


def test_without_a_prefill_rate_the_delay_is_the_scripts(srv: FakeOpenAIServer) -> None:
    srv.script.first_token_delay_s = 0.05
    text = synth_prompt(4000, lambda t: len(fake_tokenize(t))).text
    measured = first_content_s(srv, {"model": "fake-model", "messages": user(text), "stream": True})
    assert 0.05 <= measured < 0.065


# -- the context limit -------------------------------------------------------------------------------------------


def test_context_limit_refuses_above_it_and_not_at_it(srv: FakeOpenAIServer) -> None:
    srv.script.context = 64
    srv.script.template_tokens = 4
    text = synth_prompt(50, lambda t: len(fake_tokenize(t))).text  # 54 prompt tokens with the template
    with client(srv) as c:
        reply = c.chat.completions.create(model="fake-model", messages=user(text), max_tokens=10)  # 64: fits
        assert reply.usage is not None and reply.usage.prompt_tokens == 54
        with pytest.raises(openai.BadRequestError) as err:
            c.chat.completions.create(model="fake-model", messages=user(text), max_tokens=11)
        assert err.value.status_code == 400 and err.value.code == "context_length_exceeded"
        sends = len(srv.send_log)
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(
                model="fake-model", messages=user(text), max_completion_tokens=11, max_tokens=1, stream=True
            )
        assert len(srv.send_log) == sends  # refused before any streaming
        assert srv.requests[-1]["prompt_tokens"] == 54
        c.chat.completions.create(model="fake-model", messages=user(text))  # no max tokens: 54 fits
        models = c.models.list().data
    assert (models[0].model_extra or {})["max_model_len"] == 64
    status, body = post(srv, "/v1/chat/completions", {"model": "fake-model", "messages": user(text), "max_tokens": 20})
    assert (status, body) == (400, context_error(64, 54, 20))
    assert "However, you requested 74 tokens (54 in the messages, 20 in the completion)" in body["error"]["message"]
    status, body = post(srv, "/tokenize", {"prompt": "x"})
    assert (status, body["max_model_len"]) == (200, 64)


@pytest.mark.slow
def test_cli_prompt_flags() -> None:
    args = ["--prompt-count", "tokens", "--template-tokens", "3", "--prefill-tps", "1000", "--context", "40"]
    with cli_server(*args) as base, openai.OpenAI(base_url=base, api_key="x", max_retries=0) as c:
        started = time.perf_counter()
        reply = c.chat.completions.create(model="fake-model", messages=user(TEXT), max_tokens=2)
        elapsed = time.perf_counter() - started
        assert reply.usage is not None and reply.usage.prompt_tokens == len(fake_tokenize(TEXT)) + 3
        assert elapsed >= reply.usage.prompt_tokens / 1000
        with pytest.raises(openai.BadRequestError, match="maximum context length is 40 tokens"):
            c.chat.completions.create(model="fake-model", messages=user(TEXT), max_tokens=40)

"""Tests for the fake OpenAI-compatible server used by backend tests and benchmarks."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from foundry_tui.devtools.sse_server import (
    DEFAULT_TOKENS,
    FAKE_VOCAB,
    FakeOpenAIServer,
    StreamScript,
    fake_tokenize,
    make_tokens,
)

MSGS: list[Any] = [{"role": "user", "content": "say hello to me"}]
TEXT = "Hello from the fake server."


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def foundry() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["phi-mini:1"], foundry_routes=True) as server:
        server.download_duration_s = 0.1
        yield server


def client(server: FakeOpenAIServer, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, **kw)


def stream_chunks(server: FakeOpenAIServer, **kw: Any) -> list[Any]:
    with client(server) as c:
        return list(c.chat.completions.create(model="fake-model", messages=MSGS, stream=True, **kw))


def contents(chunks: list[Any]) -> list[str]:
    return [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]


def post_raw(server: FakeOpenAIServer, body: Any, timeout: float = 5.0) -> tuple[http.client.HTTPConnection, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", "/v1/chat/completions", body=data, headers={"Content-Type": "application/json"})
    return conn, conn.getresponse()


def read_lines(resp: http.client.HTTPResponse) -> tuple[list[str], BaseException | None]:
    """Non-empty lines until EOF, plus the error that ended the read (if any)."""
    lines: list[str] = []
    try:
        while line := resp.readline():
            if line.strip():
                lines.append(line.decode().strip())
    except (http.client.IncompleteRead, OSError) as exc:
        return lines, exc
    return lines, None


def read_all(resp: http.client.HTTPResponse) -> tuple[list[str], BaseException | None]:
    """Whole body as non-empty lines; unlike readline(), read() reports a cut-short chunked body."""
    err: BaseException | None = None
    try:
        data = resp.read()
    except http.client.IncompleteRead as exc:
        data, err = exc.partial, exc
    return [line for line in data.decode().splitlines() if line.strip()], err


def get_json(server: FakeOpenAIServer, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# -- OpenAI surface ---------------------------------------------------------------------------


def test_models_list(srv: FakeOpenAIServer) -> None:
    with client(srv) as c:
        assert [m.id for m in c.models.list()] == ["fake-model"]
    status, body = get_json(srv, "/v1/models")
    assert status == 200 and body["object"] == "list"
    assert body["data"][0] == {
        "id": "fake-model",
        "object": "model",
        "created": body["data"][0]["created"],
        "owned_by": "fake",
    }


def test_stream_text_role_finish_and_usage(srv: FakeOpenAIServer) -> None:
    chunks = stream_chunks(srv, stream_options={"include_usage": True})
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content == ""
    assert "".join(contents(chunks)) == TEXT
    assert len(contents(chunks)) == 6
    finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 6, 10)
    assert srv.requests[-1]["path"] == "/v1/chat/completions"
    assert srv.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    assert len(srv.send_log) == 1 and len(srv.send_log[0]) == 6


def test_usage_chunk_absent(srv: FakeOpenAIServer) -> None:
    assert all(ch.usage is None for ch in stream_chunks(srv))  # not requested
    srv.script.usage = False
    chunks = stream_chunks(srv, stream_options={"include_usage": True})  # requested but disabled
    assert all(ch.choices for ch in chunks) and all(ch.usage is None for ch in chunks)


def test_multi_token_chunks_no_role_and_empty_chunks(srv: FakeOpenAIServer) -> None:
    srv.script.tokens_per_chunk = 4
    srv.script.role_chunk = False
    chunks = stream_chunks(srv, stream_options={"include_usage": True})
    assert contents(chunks) == ["Hello from the fake", " server."]
    assert chunks[0].choices[0].delta.content == "Hello from the fake"
    assert chunks[-1].usage.completion_tokens == 6

    srv.script.tokens_per_chunk = 1
    srv.script.empty_chunks = True
    chunks = stream_chunks(srv)
    assert "".join(contents(chunks)) == TEXT
    empties = [
        ch for ch in chunks if ch.choices and not ch.choices[0].delta.content and not ch.choices[0].finish_reason
    ]
    assert len(empties) == 6  # one after every content chunk
    assert len(srv.send_log[-1]) == 6  # empties are not content chunks


def test_max_tokens_truncates_with_length(srv: FakeOpenAIServer) -> None:
    chunks = stream_chunks(srv, max_tokens=2, stream_options={"include_usage": True})
    assert "".join(contents(chunks)) == "Hello from"
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 2
    with client(srv) as c:
        resp = c.chat.completions.create(model="fake-model", messages=MSGS, max_completion_tokens=3)
    assert resp.choices[0].message.content == "Hello from the"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 3


def test_non_stream_completion(srv: FakeOpenAIServer) -> None:
    srv.script.tokens = make_tokens(4)
    with client(srv) as c:
        resp = c.chat.completions.create(model="fake-model", messages=MSGS)
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == " lorem ipsum dolor sit"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (4, 4)


def test_first_token_delay_is_not_buffered(srv: FakeOpenAIServer) -> None:
    with client(srv) as c:
        list(c.chat.completions.create(model="fake-model", messages=MSGS, stream=True))  # warm up
        srv.script.first_token_delay_s = 0.2
        srv.script.gap_s = 0.03
        t0 = time.perf_counter()
        stream = c.chat.completions.create(model="fake-model", messages=MSGS, stream=True)
        arrivals: list[float] = []
        for ch in stream:
            if ch.choices and ch.choices[0].delta.content:
                arrivals.append(time.perf_counter() - t0)
    assert arrivals[0] == pytest.approx(0.2, abs=0.05)
    # Each chunk arrives on its own: the stream lasts at least first delay + 5 gaps.
    assert arrivals[-1] - arrivals[0] >= 5 * 0.03 - 0.005
    sent = srv.send_log[-1]
    assert all(b - a >= 0.03e9 - 2e6 for a, b in itertools.pairwise(sent))


def test_gap_list_and_callable() -> None:
    assert StreamScript(gap_s=[0.1, 0.2]).gap(0) == 0.1
    assert StreamScript(gap_s=[0.1, 0.2]).gap(5) == 0.2
    assert StreamScript(gap_s=lambda i: i * 0.01).gap(3) == pytest.approx(0.03)
    assert StreamScript(gap_s=0.5).gap(7) == 0.5


def test_bad_json_unknown_model_and_bad_route(srv: FakeOpenAIServer) -> None:
    conn, resp = post_raw(srv, b"{not json")
    assert resp.status == 400
    assert json.loads(resp.read())["error"]["type"] == "invalid_request_error"
    conn.close()
    with client(srv) as c, pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="nope", messages=MSGS)
    status, body = get_json(srv, "/openai/models")  # foundry routes off by default
    assert status == 404 and "error" in body


def test_reject_stream_options(srv: FakeOpenAIServer) -> None:
    srv.script.reject_stream_options = True
    with client(srv) as c:
        with pytest.raises(openai.BadRequestError) as err:
            c.chat.completions.create(
                model="fake-model", messages=MSGS, stream=True, stream_options={"include_usage": True}
            )
        assert "stream_options" in str(err.value)
        assert (
            "".join(contents(list(c.chat.completions.create(model="fake-model", messages=MSGS, stream=True)))) == TEXT
        )


# -- faults -----------------------------------------------------------------------------------


def test_fault_http500(srv: FakeOpenAIServer) -> None:
    srv.script.fault = "http500"
    conn, resp = post_raw(srv, {"model": "fake-model", "messages": MSGS, "stream": True})
    assert resp.status == 500
    assert json.loads(resp.read())["error"]["type"] == "server_error"
    conn.close()
    with client(srv) as c, pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="fake-model", messages=MSGS, stream=True)


def test_fault_malformed_line_mid_stream(srv: FakeOpenAIServer) -> None:
    srv.script.fault = "malformed"
    srv.script.fault_after = 2
    conn, resp = post_raw(srv, {"model": "fake-model", "messages": MSGS, "stream": True})
    assert resp.status == 200 and resp.getheader("Content-Type", "").startswith("text/event-stream")
    lines, err = read_all(resp)
    conn.close()
    assert err is None
    assert all(line.startswith("data: ") for line in lines)
    bad = [i for i, line in enumerate(lines) if line != "data: [DONE]" and not _is_json(line[6:])]
    assert bad == [3]  # role chunk, two content chunks, then garbage
    assert lines[-1] == "data: [DONE]"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_fault_drop(srv: FakeOpenAIServer) -> None:
    srv.script.fault = "drop"
    conn, resp = post_raw(srv, {"model": "fake-model", "messages": MSGS, "stream": True})
    lines, err = read_all(resp)
    conn.close()
    assert isinstance(err, http.client.IncompleteRead)  # chunked body cut short
    assert len(lines) == 3 and "data: [DONE]" not in lines
    with client(srv) as c, pytest.raises(openai.APIConnectionError):
        list(c.chat.completions.create(model="fake-model", messages=MSGS, stream=True))

    srv.script.chunked = False  # no framing: looks like a clean EOF without [DONE]
    conn, resp = post_raw(srv, {"model": "fake-model", "messages": MSGS, "stream": True})
    lines, err = read_all(resp)
    conn.close()
    assert err is None and len(lines) == 3 and "data: [DONE]" not in lines


def test_fault_stall_times_out_and_stop_is_prompt() -> None:
    server = FakeOpenAIServer(StreamScript(fault="stall", fault_after=2)).start()
    try:
        conn, resp = post_raw(server, {"model": "fake-model", "messages": MSGS, "stream": True}, timeout=0.2)
        lines, err = read_lines(resp)
        assert isinstance(err, TimeoutError)
        assert len(lines) == 3  # role + 2 content chunks, then silence
        with client(server, timeout=0.2) as c, pytest.raises(openai.APITimeoutError):
            list(c.chat.completions.create(model="fake-model", messages=MSGS, stream=True))
    finally:
        t0 = time.perf_counter()
        server.stop()  # `conn` is still open and its handler still stalled
        elapsed = time.perf_counter() - t0
    conn.close()
    assert elapsed < 1.0


# -- Foundry Local management routes ------------------------------------------------------------


def test_foundry_openai_family(foundry: FakeOpenAIServer) -> None:
    assert get_json(foundry, "/openai/models") == (200, ["phi-mini:1"])
    assert get_json(foundry, "/openai/loadedmodels") == (200, ["phi-mini:1"])
    assert get_json(foundry, "/openai/unload/phi-mini%3A1?force=true") == (
        200,
        {"status": "unloaded", "model": "phi-mini:1"},
    )
    assert foundry.loaded == []
    assert get_json(foundry, "/openai/load/phi-mini:1?ttl=600")[0] == 200
    assert foundry.loaded == ["phi-mini:1"]
    assert get_json(foundry, "/openai/load/not-cached")[0] == 404
    assert get_json(foundry, "/openai/unload/not-cached")[0] == 404
    status, body = get_json(foundry, "/openai/status")
    assert status == 200 and body["endpoints"] == [foundry.url] and "modelDirPath" in body
    status, body = get_json(foundry, "/foundry/list")
    assert status == 200 and body[0]["name"] == "phi-mini:1"


def test_foundry_download_progress(foundry: FakeOpenAIServer) -> None:
    foundry.aliases["qwen"] = "qwen-0.5b:2"
    conn = http.client.HTTPConnection("127.0.0.1", foundry.port, timeout=5)
    body = {"model": {"Name": "qwen", "Uri": "x", "ProviderType": "AzureFoundry"}, "IgnorePipeReport": True}
    t0 = time.perf_counter()
    conn.request("POST", "/openai/download", body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    lines, err = read_lines(resp)
    elapsed = time.perf_counter() - t0
    conn.close()
    assert err is None and resp.status == 200
    progress, final = lines[:-1], json.loads(lines[-1])
    assert final == {"success": True, "errorMessage": None}
    assert len(progress) == 6 and all("%" in line for line in progress)
    assert progress[0] == "Total 0.0% Downloading model.onnx" and "100.0%" in progress[-1]
    assert elapsed >= 0.09
    assert "qwen-0.5b:2" in foundry.cached
    assert get_json(foundry, "/openai/load/qwen")[0] == 200  # alias resolves
    with client(foundry) as c:  # a loaded model can be chatted with
        assert c.chat.completions.create(model="qwen-0.5b:2", messages=MSGS).choices[0].message.content

    foundry.download_error = "disk full"
    req = urllib.request.Request(
        foundry.url + "/openai/download", data=json.dumps({"name": "other"}).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        last = r.read().decode().strip().splitlines()[-1]
    assert json.loads(last) == {"success": False, "errorMessage": "disk full"}
    assert "other" not in foundry.cached


def test_foundry_models_family_only() -> None:
    with FakeOpenAIServer(models=["m1"], foundry_routes="models") as server:
        assert get_json(server, "/models/loaded") == (200, ["m1"])
        assert get_json(server, "/models/unload/m1")[0] == 200
        assert get_json(server, "/models/loaded") == (200, [])
        assert get_json(server, "/models/load/m1")[0] == 200
        assert get_json(server, "/models/load/zzz")[0] == 404
        status, body = get_json(server, "/status")
        assert status == 200 and body["status"] == "running" and body["loadedModels"] == ["m1"]
        assert get_json(server, "/openai/models")[0] == 404


# -- CLI --------------------------------------------------------------------------------------


def test_cli_serves_until_interrupted() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "foundry_tui.devtools.sse_server", "--tokens", "3", "--ttft", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
        with openai.OpenAI(base_url=base, api_key="x", max_retries=0) as c:
            out = c.chat.completions.create(model="fake-model", messages=MSGS)
        assert out.choices[0].message.content == " lorem ipsum dolor"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- tokenize routes --------------------------------------------------------------------------------------------


def post_json(server: FakeOpenAIServer, path: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        server.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_fake_tokenizer_pieces_are_the_streamed_pieces() -> None:
    for pieces in (list(DEFAULT_TOKENS), make_tokens(40)):
        assert fake_tokenize("".join(pieces)) == pieces
    text = "naïve  x\t\n<s>😀,y"
    assert "".join(fake_tokenize(text)) == text
    assert fake_tokenize(text) == ["na", "ï", "ve", "  ", "x", "\t\n", "<", "s", ">", "😀", ",", "y"]
    assert FAKE_VOCAB[:2] == ("<unk>", "<s>") and len(set(FAKE_VOCAB)) == len(FAKE_VOCAB)


def test_tokenize_routes_are_off_by_default(srv: FakeOpenAIServer) -> None:
    assert srv.tokenize_paths == ()
    status, body = post_json(srv, "/tokenize", {"content": "Hello"})
    assert status == 404 and "error" in body


def test_tokenize_llama_cpp_shape() -> None:
    with FakeOpenAIServer(tokenize_route=True) as server:
        assert server.tokenize_paths == ("/tokenize",)
        status, body = post_json(server, "/tokenize", {"content": TEXT})
        assert status == 200 and body == {"tokens": [2, 3, 4, 5, 6, 7]}
        status, body = post_json(
            server, "/tokenize", {"content": "Hello you", "add_special": True, "with_pieces": True}
        )
        assert body == {"tokens": [{"id": 1, "piece": "<s>"}, {"id": 2, "piece": "Hello"}, {"id": 0, "piece": " you"}]}
        assert post_json(server, "/tokenize", {"content": ""}) == (200, {"tokens": []})


def test_tokenize_vllm_shape() -> None:
    with FakeOpenAIServer(tokenize_route="/v1/tokenize/") as server:
        assert server.tokenize_paths == ("/v1/tokenize",)
        status, body = post_json(server, "/v1/tokenize", {"model": "fake-model", "prompt": TEXT})
        assert status == 200
        assert body == {"count": 7, "max_model_len": 4096, "tokens": [1, 2, 3, 4, 5, 6, 7], "token_strs": None}
        status, body = post_json(
            server, "/v1/tokenize", {"prompt": " lorem.", "add_special_tokens": False, "return_token_strs": True}
        )
        assert body == {"count": 2, "max_model_len": 4096, "tokens": [8, 7], "token_strs": [" lorem", "."]}
        status, body = post_json(server, "/v1/tokenize", {"model": "nope", "prompt": "x"})
        assert status == 404 and body["error"]["code"] == "model_not_found"
        assert post_json(server, "/tokenize", {"prompt": "x"})[0] == 404  # only the paths asked for


def test_tokenize_llama_cpp_python_shape_and_bad_bodies() -> None:
    with FakeOpenAIServer(tokenize_route=["/extras/tokenize", "extras/tokenize/count"]) as server:
        assert post_json(server, "/extras/tokenize", {"input": "Hello."}) == (200, {"tokens": [1, 2, 7]})
        assert post_json(server, "/extras/tokenize/count", {"input": "Hello.", "model": "x"}) == (200, {"count": 3})
        status, body = post_json(server, "/extras/tokenize", {"text": "Hello."})
        assert status == 400 and "'content', 'prompt' or 'input'" in body["error"]["message"]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("POST", "/extras/tokenize", body=b"{not json")
        resp = conn.getresponse()
        assert resp.status == 400 and json.loads(resp.read())["error"]["type"] == "invalid_request_error"
        conn.close()
        server.tokenize_paths = ()
        assert post_json(server, "/extras/tokenize", {"input": "Hello."})[0] == 404


@contextlib.contextmanager
def cli_server(*args: str) -> Iterator[str]:
    """`python -m foundry_tui.devtools.sse_server ARGS` as a person starts it: yields its base URL (…/v1, the
    line it prints), then stops it with Ctrl-C and checks it exits 0."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "foundry_tui.devtools.sse_server", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_cli_multi_token_chunks_without_usage_and_tokenize() -> None:
    args = ["--tokens", "9", "--tokens-per-chunk", "3", "--no-usage", "--tokenize", "--tokenize-path", "/v1/tokenize"]
    with cli_server(*args) as base:
        with openai.OpenAI(base_url=base, api_key="x", max_retries=0) as c:
            chunks = list(
                c.chat.completions.create(
                    model="fake-model", messages=MSGS, stream=True, stream_options={"include_usage": True}
                )
            )
        assert contents(chunks) == [" lorem ipsum dolor", " sit amet,", " consectetur adipiscing elit"]
        assert all(ch.usage is None for ch in chunks)
        url = base.removesuffix("/v1")
        for path in ("/tokenize", "/v1/tokenize"):
            req = urllib.request.Request(url + path, data=json.dumps({"content": "".join(contents(chunks))}).encode())
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert len(json.loads(resp.read())["tokens"]) == 9

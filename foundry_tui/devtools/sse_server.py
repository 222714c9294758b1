"""A small, real OpenAI-compatible HTTP server for tests and benchmarks.

Size: one request handler whose routes share the body parsing, the timing script and the fault switches, plus
the protocol notes below (a sixth of the file); split, each part would need the others' state.  The optional
tokenize routes live here too: their tokenizer must be the very one the chat route streams with.

Stdlib only (``http.server.ThreadingHTTPServer``), bound to 127.0.0.1 on an ephemeral
port.  It streams chat completions with controllable timing and injectable faults so the
endpoint backend can be exercised over a real socket, and it optionally mimics the Foundry
Local service-management routes.

Usage::

    with FakeOpenAIServer(StreamScript(first_token_delay_s=0.2, gap_s=0.01)) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="x")
        ...
        srv.script.fault = "drop"          # the script may be changed between requests
        srv.send_log[-1]                   # server-side perf_counter_ns() per content chunk

CLI (prints the base URL, serves until Ctrl-C)::

    python -m foundry_tui.devtools.sse_server [--port N] [--tokens N] [--ttft S] [--gap S]
        [--tokens-per-chunk N] [--no-usage] [--tokenize] [--tokenize-path PATH ...]
        [--model ID ...] [--foundry openai|models|both]
        [--prompt-count words|tokens] [--template-tokens N] [--prefill-tps R] [--context N]

e.g. a server that streams 3 tokens per event, never sends usage, and can count tokens like
llama.cpp / vLLM (``POST /tokenize``)::

    python -m foundry_tui.devtools.sse_server --tokens 300 --gap 0.01 --tokens-per-chunk 3 --no-usage --tokenize

OpenAI routes (always on)
-------------------------
``GET /v1/models``
    ``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by": "fake"}]}``
    listing ``server.models``.
``POST /v1/chat/completions``
    * body not JSON / not an object / no ``model`` / ``messages`` not a list → 400
    * ``script.reject_stream_options`` and the body has ``stream_options`` → 400
    * model not in ``server.models`` nor ``server.loaded`` (aliases resolved) → 404,
      ``code: "model_not_found"``
    * ``script.fault == "http500"`` → 500 (``type: "server_error"``)
    * ``max_completion_tokens`` (preferred) or ``max_tokens`` truncates the token pieces;
      if that cut anything, ``finish_reason`` is ``"length"``, else ``script.finish_reason``.
    * ``prompt_tokens`` = whitespace-separated words over all messages' text content (or the fake tokenizer's
      pieces, plus chat-template tokens: ``devtools.sse_prompt``, which also paces the prefill and refuses a
      prompt over ``script.context`` with vLLM's 400 ``context_length_exceeded``);
      ``completion_tokens`` = token pieces sent.
    * ``stream: true``: ``Content-Type: text/event-stream``, HTTP/1.1 chunked transfer
      (``script.chunked=False`` → no framing, ``Connection: close``, body ends at EOF),
      one ``data: {json}\\n\\n`` event per write, each flushed immediately (TCP_NODELAY).
      Event order: role chunk (``delta: {"role": "assistant", "content": ""}``, sent right
      after the headers, *before* the first-token delay), content chunks (optionally each
      followed by an empty chunk alternating ``delta: {"content": ""}`` / ``delta: {}``),
      finish chunk (``delta: {}``, ``finish_reason``), usage chunk
      (``{"choices": [], "usage": {...}}``, only if ``stream_options.include_usage`` and
      ``script.usage``), ``data: [DONE]``.
    * ``stream: false``: a ``chat.completion`` object with ``usage``, sent after the same
      total delay the stream would take (first-token delay + all gaps).

Faults (``script.fault``; ``fault_after`` = content chunks sent before it fires; when it is
>= the number of chunks it fires after the last content chunk, before the finish chunk):
    ``"http500"``    500 with an OpenAI error body, before any streaming.
    ``"malformed"``  one ``data: {"id": "chatcmpl-broken", oops not json`` event, then the
                     stream carries on normally to ``[DONE]``.  Non-stream: 200 with a
                     non-JSON body.
    ``"drop"``       the socket is shut down mid-stream: no finish chunk, no ``[DONE]``, no
                     chunked terminator (clients see an incomplete body / early EOF).
                     Non-stream: closed without any response.
    ``"stall"``      sends nothing more and holds the connection open until the client
                     disconnects or ``stop()`` is called.  Non-stream: stalls before the
                     response.

Tokenize routes (``tokenize_route``: ``False`` (default) → none, they 404; ``True`` →
``POST /tokenize``; a path or a sequence of paths → ``POST`` on those, e.g. ``"/v1/tokenize"``
(SGLang, some vLLM builds) or ``("/extras/tokenize", "/extras/tokenize/count")``
(llama-cpp-python).  The server keeps them in ``tokenize_paths``, which tests may change).
The fake's tokenizer is :func:`fake_tokenize`: the regex :data:`FAKE_TOKEN_PATTERN` (a run of
ASCII word characters with at most one ASCII whitespace before it, one other character, or a
run of ASCII whitespace).  Every piece of ``DEFAULT_TOKENS`` / ``make_tokens`` is one match, and
pieces joined never merge, so it counts a streamed answer exactly as ``completion_tokens`` does,
however many pieces a chunk carries.  Ids: index in :data:`FAKE_VOCAB` (0 ``<unk>`` for any
piece not in it, 1 ``<s>`` the BOS).  The body's keys pick the answer's shape, on any of the paths:
    ``{"content": text, "add_special"?: false, "with_pieces"?: false}`` (llama.cpp)
        → ``{"tokens": [ids]}``, or ``{"tokens": [{"id", "piece"}]}`` with ``with_pieces``;
        ``add_special: true`` puts the BOS first.
    ``{"model"?: id, "prompt": text, "add_special_tokens"?: true, "return_token_strs"?: false}``
        (vLLM) → ``{"count", "max_model_len": 4096, "tokens": [ids], "token_strs": [str] | null}``;
        the BOS comes first unless ``add_special_tokens`` is false (vLLM's default is true);
        a ``model`` that chat would refuse → 404 ``model_not_found``.
    ``{"input": text, "model"?: id}`` (llama-cpp-python: the BOS always comes first)
        → ``{"count": n}`` on a path ending in ``/count``, else ``{"tokens": [ids]}``.
    anything else → 400 with an OpenAI error body.

Foundry Local management routes (``foundry_routes``: ``"openai"`` → older family,
``"models"`` → newer family, ``True`` → both; otherwise they 404).  State lives on the
server object: ``catalog``, ``cached``, ``loaded`` (lists of model ids) and ``aliases``
(alias → id; every ``{name}`` below is resolved through it, then URL-unquoted ids match
as-is).  Defaults: ``catalog == cached == loaded == models``.
    ``GET /openai/models``          → JSON array of cached ids.
    ``GET /openai/loadedmodels``    → JSON array of loaded ids.
    ``GET /openai/load/{name}``     → (after ``load_delay_s``) 200
                                      ``{"status": "loaded", "model": id}`` and id is appended
                                      to ``loaded``; 404 error body if id is not cached.
                                      Query parameters (``ttl``, ``ep``) are ignored.
    ``GET /openai/unload/{name}``   → 200 ``{"status": "unloaded", "model": id}`` and id is
                                      removed from ``loaded`` (idempotent); 404 if id is
                                      neither cached nor loaded.
    ``GET /openai/status``          → ``{"endpoints": [url], "modelDirPath": str,
                                      "pipeName": "inference_agent",
                                      "isAutoRegistrationResolved": true}``.
    ``POST /openai/download``       → body ``{"model": {"Name": id, ...}}``,
                                      ``{"model": {"name": id}}``, ``{"model": id}`` or
                                      ``{"name": id}`` (400 if none).  200 ``text/plain``,
                                      chunked; ``download_steps + 1`` lines over
                                      ``download_duration_s`` like
                                      ``Total 40.0% Downloading model.onnx`` (0.0 … 100.0),
                                      then one JSON line
                                      ``{"success": true, "errorMessage": null}``.  On
                                      success id is appended to ``cached`` (and ``catalog``).
                                      Set ``download_error`` to a string to get
                                      ``{"success": false, "errorMessage": "<it>"}`` instead.
    ``GET /foundry/list``           → JSON array of minimal catalog entries
                                      ``{"name", "displayName", "alias", "version": "1",
                                      "modelType": "ONNX", "task": "chat-completion",
                                      "publisher": "fake", "uri", "fileSizeMb": 1,
                                      "runtime": {"deviceType": "CPU", "executionProvider":
                                      "CPUExecutionProvider"}}``.
    ``GET /models/loaded``          → JSON array of loaded ids.
    ``GET /models/load/{name}``     → as ``/openai/load``.
    ``GET /models/unload/{name}``   → as ``/openai/unload``.
    ``GET /status``                 → ``{"status": "running", "endpoints": [url],
                                      "modelDirPath": str, "loadedModels": [ids]}``.

Unknown paths → 404 with an OpenAI-style error body.

Recording: ``requests`` gets one dict per request ``{"method", "path" (no query), "query",
"headers", "body"}`` where body is the parsed JSON, the raw text if it did not parse, or
None when empty; a chat request whose prompt was counted also gets ``"prompt_tokens"``.
``send_log`` gets one list per chat completion that passed validation
(streamed or not, in arrival order): ``time.perf_counter_ns()`` taken right before each
content chunk is written (non-stream: one stamp before the body is written).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qs, unquote, urlsplit

from foundry_tui.devtools import sse_prompt

__all__ = [
    "DEFAULT_TOKENS",
    "FAKE_TOKEN_PATTERN",
    "FAKE_VOCAB",
    "FakeOpenAIServer",
    "StreamScript",
    "fake_tokenize",
    "main",
    "make_tokens",
]

DEFAULT_TOKENS: tuple[str, ...] = ("Hello", " from", " the", " fake", " server", ".")

FaultKind = Literal["http500", "malformed", "drop", "stall"]
GapSpec = float | Sequence[float] | Callable[[int], float]

_LOREM = (" lorem", " ipsum", " dolor", " sit", " amet", ",", " consectetur", " adipiscing", " elit", ".")


def make_tokens(n: int) -> list[str]:
    """n deterministic token pieces (for benchmarks that want a long reply)."""
    return [_LOREM[i % len(_LOREM)] for i in range(n)]


# Explicit ASCII classes, not \w / \s: Python's re and the tokenizers library's Oniguruma disagree on Unicode
# word and space characters, and devtools.fake_tokenizer must count exactly like this server.
FAKE_TOKEN_PATTERN = r"[ \t\n\r\f\v]?[A-Za-z0-9_]+|[^A-Za-z0-9_ \t\n\r\f\v]|[ \t\n\r\f\v]+"
"""One fake token: ASCII word characters after at most one ASCII space, one other character, or ASCII spaces."""

FAKE_VOCAB: tuple[str, ...] = ("<unk>", "<s>", *dict.fromkeys((*DEFAULT_TOKENS, *_LOREM)))
"""The fake tokenizer's vocabulary: a token's id is its index (0 unknown piece, 1 BOS)."""

_FAKE_TOKEN_RE = re.compile(FAKE_TOKEN_PATTERN)
_FAKE_IDS = {piece: i for i, piece in enumerate(FAKE_VOCAB)}
_FAKE_BOS = 1
_MAX_MODEL_LEN = 4096


def fake_tokenize(text: str) -> list[str]:
    """The fake's tokenizer: `text` cut into its token pieces (they join back to `text`)."""
    return _FAKE_TOKEN_RE.findall(text)


@dataclass
class StreamScript:
    """How chat completions are answered.

    Read (shallow-copied) at the start of each request, so tests may mutate the server's
    script between requests without racing an in-flight stream.
    """

    tokens: list[str] = field(default_factory=lambda: list(DEFAULT_TOKENS))
    first_token_delay_s: float = 0.0
    # float, or a per-gap sequence (last value repeats), or a callable(gap_index) for jitter.
    gap_s: GapSpec = 0.0
    tokens_per_chunk: int = 1
    role_chunk: bool = True
    empty_chunks: bool = False
    usage: bool = True
    reject_stream_options: bool = False
    fault: FaultKind | None = None
    fault_after: int = 2
    finish_reason: str = "stop"
    # False → stream without chunked framing (Connection: close) so "drop" looks like a clean EOF.
    chunked: bool = True
    # The prompt side (devtools.sse_prompt): how prompts are counted, prefill pacing, the context limit.
    prompt_count: sse_prompt.PromptCount = "words"
    template_tokens: int = 0
    prefill_tps: float | None = None
    context: int | None = None

    def gap(self, index: int) -> float:
        """Delay between content chunk ``index`` and ``index + 1``."""
        spec = self.gap_s
        if callable(spec):
            return max(0.0, float(spec(index)))
        if isinstance(spec, int | float):
            return max(0.0, float(spec))
        if not spec:
            return 0.0
        return max(0.0, float(spec[min(index, len(spec) - 1)]))


def _error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _download_name(body: Any) -> str | None:
    """Be lenient about the download body: the SDK, older SDKs and hand-written clients differ."""
    if not isinstance(body, dict):
        return None
    model = body.get("model")
    if isinstance(model, str) and model:
        return model
    if isinstance(model, dict):
        for key in ("Name", "name", "id", "Id"):
            if isinstance(model.get(key), str) and model[key]:
                return cast(str, model[key])
    for key in ("name", "Name", "id"):
        if isinstance(body.get(key), str) and body[key]:
            return cast(str, body[key])
    return None


def _tokenize_paths(route: bool | str | Sequence[str]) -> tuple[str, ...]:
    if route is True:
        return ("/tokenize",)
    if route is False:
        return ()
    paths = (route,) if isinstance(route, str) else tuple(route)
    return tuple("/" + path.strip("/") for path in paths)  # the handler matches paths without a trailing "/"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for stalled handlers; it unblocks them instead
    request_queue_size = 128  # benchmark scripts open many connections at once

    def __init__(self, addr: tuple[str, int], owner: FakeOpenAIServer) -> None:
        self.owner = owner
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects are normal here (faults, timeouts); keep test output clean.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + chunked streaming, like real servers
    disable_nagle_algorithm = True  # small SSE writes must leave immediately
    server_version = "FakeOpenAI/1.0"

    @property
    def owner(self) -> FakeOpenAIServer:
        return cast(_HTTPServer, self.server).owner

    # -- plumbing ---------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        raw = self._read_body()
        body: Any = None
        parsed_ok = True
        if raw:
            text = raw.decode("utf-8", "replace")
            try:
                body = json.loads(text)
            except ValueError:
                body, parsed_ok = text, False
        self._entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": {k: v[-1] for k, v in parse_qs(parts.query).items()},
            "headers": dict(self.headers.items()),
            "body": body,
        }
        self.owner._record(self._entry)
        try:
            self._route(method, path, body, parsed_ok)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        # Chunked request bodies too (curl/streaming uploads); leftovers would poison keep-alive.
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _route(self, method: str, path: str, body: Any, parsed_ok: bool) -> None:
        owner = self.owner
        fam = owner.foundry_routes
        old = fam is True or fam == "openai"
        new = fam is True or fam == "models"
        if method == "GET" and path == "/v1/models":
            return self._models()
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(body, parsed_ok)
        if method == "POST" and path in owner.tokenize_paths:
            return self._tokenize(path, body, parsed_ok)
        if old:
            if method == "GET" and path == "/openai/models":
                return self._send_json(200, owner._snapshot("cached"))
            if method == "GET" and path == "/openai/loadedmodels":
                return self._send_json(200, owner._snapshot("loaded"))
            if method == "GET" and path.startswith("/openai/load/"):
                return self._load(path.removeprefix("/openai/load/"))
            if method == "GET" and path.startswith("/openai/unload/"):
                return self._unload(path.removeprefix("/openai/unload/"))
            if method == "GET" and path == "/openai/status":
                return self._send_json(200, owner._status(newer=False))
            if method == "POST" and path == "/openai/download":
                return self._download(body)
            if method == "GET" and path == "/foundry/list":
                return self._send_json(200, owner._catalog_entries())
        if new:
            if method == "GET" and path == "/models/loaded":
                return self._send_json(200, owner._snapshot("loaded"))
            if method == "GET" and path.startswith("/models/load/"):
                return self._load(path.removeprefix("/models/load/"))
            if method == "GET" and path.startswith("/models/unload/"):
                return self._unload(path.removeprefix("/models/unload/"))
            if method == "GET" and path == "/status":
                return self._send_json(200, owner._status(newer=True))
        self._send_json(404, _error_body(f"No route for {method} {path}", "invalid_request_error"))

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _write(self, data: bytes, chunked: bool) -> None:
        # One socket write per event (wfile is unbuffered), so nothing sits in a buffer.
        if chunked:
            data = b"%X\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)

    def _end_chunked(self, chunked: bool) -> None:
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stall(self) -> None:
        """Hold the connection until the client hangs up or the server stops."""
        self.close_connection = True
        sock = self.connection
        while not self.owner._stopping.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.05)
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    return  # client gave up
                if readable:
                    # Unexpected bytes from the client; don't spin on them.
                    self.owner._stopping.wait(0.05)
            except (OSError, ValueError):
                return

    def _wait_until(self, deadline: float) -> bool:
        """Sleep until perf_counter() >= deadline; False if the server is stopping."""
        remaining = deadline - time.perf_counter()
        if remaining > 0:
            return not self.owner._stopping.wait(remaining)
        return not self.owner._stopping.is_set()

    # -- OpenAI routes ----------------------------------------------------------------------

    def _models(self) -> None:
        created = int(self.owner._started_at)
        data: list[dict[str, Any]] = [
            {"id": m, "object": "model", "created": created, "owned_by": "fake"} for m in self.owner.models
        ]
        context = self.owner.script.context
        for entry in data if context is not None else ():
            entry["max_model_len"] = context  # as vLLM lists it
        self._send_json(200, {"object": "list", "data": data})

    def _chat(self, body: Any, parsed_ok: bool) -> None:
        t0 = time.perf_counter()  # "request received" for first_token_delay_s
        owner = self.owner
        script = copy.copy(owner.script)
        if not parsed_ok or not isinstance(body, dict):
            return self._send_json(
                400, _error_body("We could not parse the JSON body of your request.", "invalid_request_error")
            )
        if script.reject_stream_options and "stream_options" in body:
            return self._send_json(
                400,
                _error_body("Unrecognized request argument supplied: stream_options", "invalid_request_error"),
            )
        model = body.get("model")
        messages = body.get("messages")
        if not isinstance(model, str) or not model:
            return self._send_json(400, _error_body("you must provide a model parameter", "invalid_request_error"))
        if not isinstance(messages, list):
            return self._send_json(400, _error_body("'messages' must be an array", "invalid_request_error"))
        if not owner._chat_model_ok(model):
            return self._send_json(
                404,
                _error_body(f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"),
            )
        if script.fault == "http500":
            return self._send_json(500, _error_body("Injected internal server error", "server_error"))

        tokens = list(script.tokens)
        finish = script.finish_reason
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        n = max(1, script.tokens_per_chunk)
        chunks = ["".join(tokens[i : i + n]) for i in range(0, len(tokens), n)]
        prompt_tokens = sse_prompt.count_prompt(messages, script.prompt_count, fake_tokenize, script.template_tokens)
        self._entry["prompt_tokens"] = prompt_tokens
        too_long = sse_prompt.context_error(script.context, prompt_tokens, sse_prompt.requested_completion_tokens(body))
        if too_long is not None:
            return self._send_json(400, too_long)
        script.first_token_delay_s = sse_prompt.first_token_delay(
            script.first_token_delay_s, prompt_tokens, script.prefill_tps
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        meta = {"id": owner._next_id(), "created": int(time.time()), "model": model}
        log = owner._new_send_log()
        if body.get("stream"):
            opts = body.get("stream_options")
            want_usage = script.usage and isinstance(opts, dict) and bool(opts.get("include_usage"))
            self._stream(script, t0, chunks, finish, usage if want_usage else None, meta, log)
        else:
            self._complete(script, t0, chunks, finish, usage, meta, log)

    def _stream(
        self,
        script: StreamScript,
        t0: float,
        chunks: list[str],
        finish: str,
        usage: dict[str, int] | None,
        meta: dict[str, Any],
        log: list[int],
    ) -> None:
        chunked = script.chunked
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

        def event(delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any) -> None:
            obj: dict[str, Any] = {
                "id": meta["id"],
                "object": "chat.completion.chunk",
                "created": meta["created"],
                "model": meta["model"],
            }
            if delta is None:
                obj["choices"] = []
            else:
                obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
            obj.update(extra)
            self._write(b"data: " + json.dumps(obj).encode() + b"\n\n", chunked)

        def fire_fault() -> bool:
            """Apply script.fault; True if the response is over."""
            if script.fault == "malformed":
                self._write(b'data: {"id": "chatcmpl-broken", oops not json\n\n', chunked)
                return False
            if script.fault == "drop":
                self._drop()
                return True
            if script.fault == "stall":
                self._stall()
                return True
            return False

        if script.role_chunk:
            event({"role": "assistant", "content": ""})
        deadline = t0 + max(0.0, script.first_token_delay_s)
        for i, piece in enumerate(chunks):
            if i == script.fault_after and fire_fault():
                return
            if not self._wait_until(deadline):
                return self._drop()
            stamp = time.perf_counter_ns()
            log.append(stamp)
            event({"content": piece})
            if script.empty_chunks:
                event({"content": ""} if i % 2 == 0 else {})
            deadline = stamp / 1e9 + script.gap(i)
        if script.fault_after >= len(chunks) and fire_fault():
            return
        event({}, finish)
        if usage is not None:
            event(None, usage=usage)
        self._write(b"data: [DONE]\n\n", chunked)
        self._end_chunked(chunked)

    def _complete(
        self,
        script: StreamScript,
        t0: float,
        chunks: list[str],
        finish: str,
        usage: dict[str, int],
        meta: dict[str, Any],
        log: list[int],
    ) -> None:
        total = max(0.0, script.first_token_delay_s) + sum(script.gap(i) for i in range(max(0, len(chunks) - 1)))
        if script.fault == "stall":
            return self._stall()
        if not self._wait_until(t0 + total):
            return self._drop()
        if script.fault == "drop":
            return self._drop()
        log.append(time.perf_counter_ns())
        if script.fault == "malformed":
            data = b'{"id": "chatcmpl-broken", oops not json'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send_json(
            200,
            {
                "id": meta["id"],
                "object": "chat.completion",
                "created": meta["created"],
                "model": meta["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(chunks)},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": usage,
            },
        )

    # -- tokenize routes (llama.cpp, vLLM, llama-cpp-python shapes) ---------------------------

    def _tokenize(self, path: str, body: Any, parsed_ok: bool) -> None:
        if not parsed_ok or not isinstance(body, dict):
            return self._send_json(
                400, _error_body("We could not parse the JSON body of your request.", "invalid_request_error")
            )
        if isinstance(body.get("content"), str):  # llama.cpp
            pieces = fake_tokenize(body["content"])
            if body.get("add_special", False):
                pieces.insert(0, FAKE_VOCAB[_FAKE_BOS])
            ids = [_FAKE_IDS.get(piece, 0) for piece in pieces]
            if body.get("with_pieces", False):
                with_pieces = [{"id": i, "piece": p} for i, p in zip(ids, pieces, strict=True)]
                return self._send_json(200, {"tokens": with_pieces})
            return self._send_json(200, {"tokens": ids})
        if isinstance(body.get("prompt"), str):  # vLLM
            model = body.get("model")
            if model is not None and not (isinstance(model, str) and self.owner._chat_model_ok(model)):
                return self._send_json(
                    404,
                    _error_body(f"The model `{model}` does not exist.", "NotFoundError", "model_not_found"),
                )
            pieces = fake_tokenize(body["prompt"])
            if body.get("add_special_tokens", True):
                pieces.insert(0, FAKE_VOCAB[_FAKE_BOS])
            ids = [_FAKE_IDS.get(piece, 0) for piece in pieces]
            strs = pieces if body.get("return_token_strs", False) else None
            max_len = self.owner.script.context or _MAX_MODEL_LEN
            answer = {"count": len(ids), "max_model_len": max_len, "tokens": ids, "token_strs": strs}
            return self._send_json(200, answer)
        if isinstance(body.get("input"), str):  # llama-cpp-python: add_bos is not a request option there
            ids = [_FAKE_BOS] + [_FAKE_IDS.get(piece, 0) for piece in fake_tokenize(body["input"])]
            return self._send_json(200, {"count": len(ids)} if path.endswith("/count") else {"tokens": ids})
        self._send_json(
            400, _error_body("tokenize needs a 'content', 'prompt' or 'input' string", "invalid_request_error")
        )

    # -- Foundry Local management routes ----------------------------------------------------

    def _load(self, name: str) -> None:
        owner = self.owner
        model_id = owner._resolve(unquote(name))
        if model_id not in owner._snapshot("cached"):
            return self._send_json(
                404,
                _error_body(f"Model {model_id} is not downloaded", "invalid_request_error", "model_not_found"),
            )
        if owner.load_delay_s > 0 and not self._wait_until(time.perf_counter() + owner.load_delay_s):
            return self._drop()
        with owner._lock:
            if model_id not in owner.loaded:
                owner.loaded.append(model_id)
        self._send_json(200, {"status": "loaded", "model": model_id})

    def _unload(self, name: str) -> None:
        owner = self.owner
        model_id = owner._resolve(unquote(name))
        with owner._lock:
            known = model_id in owner.cached or model_id in owner.loaded
            if known and model_id in owner.loaded:
                owner.loaded.remove(model_id)
        if not known:
            return self._send_json(
                404, _error_body(f"Model {model_id} not found", "invalid_request_error", "model_not_found")
            )
        self._send_json(200, {"status": "unloaded", "model": model_id})

    def _download(self, body: Any) -> None:
        owner = self.owner
        name = _download_name(body)
        if name is None:
            return self._send_json(400, _error_body("download body names no model", "invalid_request_error"))
        model_id = owner._resolve(name)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        steps = max(1, owner.download_steps)
        step_s = max(0.0, owner.download_duration_s) / steps
        deadline = time.perf_counter()
        for k in range(steps + 1):
            if not self._wait_until(deadline):
                return self._drop()
            self._write(f"Total {100.0 * k / steps:.1f}% Downloading model.onnx\n".encode(), True)
            deadline += step_s
        error = owner.download_error
        if error is None:
            with owner._lock:
                for lst in (owner.cached, owner.catalog):
                    if model_id not in lst:
                        lst.append(model_id)
        self._write(json.dumps({"success": error is None, "errorMessage": error}).encode() + b"\n", True)
        self._end_chunked(True)


class FakeOpenAIServer:
    """OpenAI-compatible fake on 127.0.0.1; see the module docstring for routes and shapes."""

    def __init__(
        self,
        script: StreamScript | None = None,
        *,
        models: Sequence[str] = ("fake-model",),
        foundry_routes: bool | str = False,
        tokenize_route: bool | str | Sequence[str] = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.script = script if script is not None else StreamScript()
        self.models: list[str] = list(models)
        self.foundry_routes = foundry_routes
        # Paths answered by the tokenize handler; a tuple, so tests may swap it between requests.
        self.tokenize_paths: tuple[str, ...] = _tokenize_paths(tokenize_route)
        # Foundry-like state; tests assert transitions on these (mutate under no contention only).
        self.catalog: list[str] = list(models)
        self.cached: list[str] = list(models)
        self.loaded: list[str] = list(models)
        self.aliases: dict[str, str] = {}
        self.model_dir = "/tmp/fake-foundry/models"
        self.download_duration_s = 0.2
        self.download_steps = 5
        self.download_error: str | None = None
        self.load_delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.send_log: list[list[int]] = []
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0
        self._started_at = time.time()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._started_at = time.time()
        # Short poll interval so stop() returns promptly.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes delayed / stalled handlers
        httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # unblock keep-alive handlers waiting for a next request
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def reset(self) -> None:
        """Forget recorded requests and send logs (state lists are left alone)."""
        with self._lock:
            self.requests.clear()
            self.send_log.clear()

    # -- helpers used by the handler --------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def _new_send_log(self) -> list[int]:
        log: list[int] = []
        with self._lock:
            self.send_log.append(log)
        return log

    def _next_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"chatcmpl-fake-{self._ids}"

    def _snapshot(self, name: Literal["cached", "loaded", "catalog"]) -> list[str]:
        with self._lock:
            return list(getattr(self, name))

    def _resolve(self, name: str) -> str:
        return self.aliases.get(name, name)

    def _chat_model_ok(self, model: str) -> bool:
        with self._lock:
            return any(m in self.models or m in self.loaded for m in (model, self._resolve(model)))

    def _status(self, *, newer: bool) -> dict[str, Any]:
        if newer:
            return {
                "status": "running",
                "endpoints": [self.url],
                "modelDirPath": self.model_dir,
                "loadedModels": self._snapshot("loaded"),
            }
        return {
            "endpoints": [self.url],
            "modelDirPath": self.model_dir,
            "pipeName": "inference_agent",
            "isAutoRegistrationResolved": True,
        }

    def _catalog_entries(self) -> list[dict[str, Any]]:
        reverse = {v: k for k, v in self.aliases.items()}
        return [
            {
                "name": m,
                "displayName": m,
                "alias": reverse.get(m, m),
                "version": "1",
                "modelType": "ONNX",
                "task": "chat-completion",
                "publisher": "fake",
                "uri": f"fake://{m}",
                "fileSizeMb": 1,
                "runtime": {"deviceType": "CPU", "executionProvider": "CPUExecutionProvider"},
            }
            for m in self._snapshot("catalog")
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible streaming server (for tests/benchmarks).")
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--tokens", type=int, default=None, help="reply length in token pieces (default: short)")
    parser.add_argument("--ttft", type=float, default=0.0, help="first-token delay in seconds")
    parser.add_argument("--gap", type=float, default=0.0, help="delay between content chunks in seconds")
    parser.add_argument("--tokens-per-chunk", type=int, default=1, help="token pieces per SSE content event")
    parser.add_argument(
        "--no-usage", action="store_true", help="never send the usage chunk, even when the client asks for it"
    )
    parser.add_argument("--tokenize", action="store_true", help="serve POST /tokenize (llama.cpp and vLLM shapes)")
    parser.add_argument(
        "--tokenize-path",
        action="append",
        default=None,
        metavar="PATH",
        help="serve the tokenize route at PATH (repeatable; adds to --tokenize), e.g. /v1/tokenize",
    )
    parser.add_argument("--model", action="append", default=None, help="model id to serve (repeatable)")
    parser.add_argument(
        "--foundry",
        choices=["openai", "models", "both"],
        default=None,
        help="also serve Foundry Local management routes",
    )
    sse_prompt.add_prompt_arguments(parser)
    args = parser.parse_args(argv)
    script = StreamScript(
        first_token_delay_s=args.ttft,
        gap_s=args.gap,
        tokens_per_chunk=args.tokens_per_chunk,
        usage=not args.no_usage,
        **sse_prompt.prompt_script_fields(args),
    )
    if args.tokens is not None:
        script.tokens = make_tokens(args.tokens)
    routes: bool | str = True if args.foundry == "both" else (args.foundry or False)
    tokenize = (["/tokenize"] if args.tokenize else []) + (args.tokenize_path or [])
    srv = FakeOpenAIServer(
        script,
        models=args.model or ["fake-model"],
        foundry_routes=routes,
        tokenize_route=tokenize or False,
        port=args.port,
    )
    srv.start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

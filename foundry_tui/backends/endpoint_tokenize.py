"""Count tokens with an OpenAI-compatible server's own tokenize route, for answers streamed without usage.

No OpenAI route counts tokens, but the servers people benchmark locally have one, beside /v1 (``root`` is the
server without /v1). :func:`server_tokenizer` asks once, in this order, and keeps the first that counts a known
text to at least one token:

* ``POST /tokenize``, llama.cpp's shape: ``{"content", "add_special": false, "parse_special": true,
  "with_pieces": false}`` → ``{"tokens": [ids, or {"id", "piece"} objects]}``;
* ``POST /tokenize``, vLLM's shape: ``{"model", "prompt", "add_special_tokens": false}``
  → ``{"count", "max_model_len", "tokens", "token_strs"}``;
* ``POST /v1/tokenize``, vLLM's shape (SGLang, and vLLM builds that serve it under /v1);
* ``POST /extras/tokenize/count``, llama-cpp-python's shape: ``{"input", "model"}`` → ``{"count"}``.

llama.cpp answers a body without ``content`` with no tokens and vLLM refuses one without ``prompt`` (400), so
trying llama.cpp's shape first and checking the count tells them apart. llama-cpp-python always adds the model's
BOS and has no option against it; every route is therefore asked to count the empty text once too, and that
constant is taken off each count (a server told to add nothing that refuses an empty text counts 0 for it).
``parse_special: true`` (llama.cpp's default, said out loud): a "<|im_end|>" in an answer counts as the one special
token, as the tokenizers library, vLLM and llama-cpp-python count it; a server shows one in the text when the
model generated it.

A 404/405, an error status, an answer that is not a count, or no connection while probing → no counter (None): the
caller marks its figures as estimated instead. Once a route answered, a failure is a BackendError with one line.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx2 as httpx

from foundry_tui.errors import BackendError, one_line

__all__ = ["ServerTokenCounter", "Shape", "server_tokenizer"]

Shape = Literal["llama.cpp", "vllm", "llama-cpp-python"]

# (path, shape), in probe order; see the module docstring for why this order.
_ROUTES: tuple[tuple[str, Shape], ...] = (
    ("/tokenize", "llama.cpp"),
    ("/tokenize", "vllm"),
    ("/v1/tokenize", "vllm"),
    ("/extras/tokenize/count", "llama-cpp-python"),
)
_PROBE_TEXT = "Hello world, tokens."
_MAX_OFFSET = 4  # BOS/EOS a server adds to any text; more than this is not a constant we trust


class ServerTokenCounter:
    """A TokenCounter (engine.bench.tokens) backed by one server route; thread-safe (one pooled client)."""

    source = "server"

    def __init__(
        self, client: httpx.Client, root: str, path: str, shape: Shape, model: str, *, offset: int = 0
    ) -> None:
        self._client = client
        self.path = path
        self.shape: Shape = shape
        self.model = model
        self.offset = offset  # tokens the server adds to any text (llama-cpp-python's BOS)
        self.label = one_line(f"{root}{path}", 300)

    def count(self, text: str) -> int:
        if not text:
            return 0
        return max(0, self._ask(text) - self.offset)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ServerTokenCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TokenCounter {self.source}: {self.label} ({self.shape})>"

    def _ask(self, text: str) -> int:
        try:
            response = self._client.post(self.path, json=_body(self.shape, text, self.model))
        except httpx.TimeoutException as exc:
            raise BackendError(f"tokenize at {self.label} timed out", kind="network") from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"tokenize at {self.label} failed: {_cause(exc)}", kind="network") from exc
        except RuntimeError as exc:  # the client was closed
            raise BackendError(f"tokenize at {self.label} failed: {one_line(str(exc), 200)}") from exc
        if response.status_code != 200:
            raise BackendError(
                f"tokenize at {self.label}: HTTP {response.status_code}: {_error_text(response)}", kind="http"
            )
        n = _parse_count(response)
        if n is None:
            raise BackendError(
                f"tokenize at {self.label}: the answer holds no token count: {one_line(response.text, 120)}",
                kind="malformed",
            )
        return n


def server_tokenizer(
    root: str, model: str, *, api_key: str | None = None, timeout_s: float = 5.0
) -> ServerTokenCounter | None:
    """Probe `root`'s tokenize routes once; a counter for the first that works, None when the server has none.

    `root` is the server without /v1 ("http://127.0.0.1:8080"); `model` is sent where the route takes one. Never
    raises for a server without a route: a probe that fails in any way moves on to the next route, and a refused
    connection ends the probe.
    """
    root = root.rstrip("/")
    root = root.removesuffix("/v1")  # the routes live beside /v1, not under it
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = httpx.Client(base_url=root, headers=headers, timeout=httpx.Timeout(timeout_s))
    try:
        for path, shape in _ROUTES:
            counter = ServerTokenCounter(client, root, path, shape, model)
            try:
                n = counter._ask(_PROBE_TEXT)
            except BackendError as exc:
                if exc.kind == "network":
                    break  # the server itself is unreachable or too slow: no other route will do better
                continue
            try:
                offset = counter._ask("")
            except BackendError as exc:
                if exc.kind == "network" or shape == "llama-cpp-python":
                    continue
                offset = 0  # asked to add no special tokens, so an empty text is none
            if n - offset >= 1 and 0 <= offset <= _MAX_OFFSET:
                counter.offset = offset
                return counter
    except BaseException:
        client.close()
        raise
    client.close()
    return None


def _body(shape: Shape, text: str, model: str) -> dict[str, Any]:
    if shape == "llama.cpp":
        return {"content": text, "add_special": False, "parse_special": True, "with_pieces": False}
    named = {"model": model} if model else {}  # both take a missing model as the one they serve
    if shape == "vllm":
        return {**named, "prompt": text, "add_special_tokens": False}
    return {"input": text, **named}


def _parse_count(response: httpx.Response) -> int | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    count = data.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    tokens = data.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None


def _error_text(response: httpx.Response) -> str:
    """The server's own message (OpenAI, vLLM and FastAPI error shapes), as one line."""
    try:
        data = response.json()
    except ValueError:
        return one_line(response.text, 200) or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return one_line(str(error["message"]), 200)
        for key in ("message", "detail"):
            if data.get(key):
                value = data[key]
                return one_line(value if isinstance(value, str) else json.dumps(value), 200)
    return one_line(json.dumps(data), 200)


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    text = str(inner) if inner is not None and str(inner) else str(exc)
    return one_line(text, 200) or type(inner or exc).__name__

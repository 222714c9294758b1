"""Reading a chat completion stream from an OpenAI-compatible server: our own SSE parsing, every piece stamped
where it arrived, and faults (HTTP status, malformed line, dropped connection, stall) turned into one-line events.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import openai

from foundry_tui.backends.base import ChatMessage, ChatOptions, DoneEvent, ErrorEvent, StreamEvent, TokenEvent, Usage
from foundry_tui.backends.sse import iter_sse, parse_chunk
from foundry_tui.errors import one_line

if TYPE_CHECKING:
    from foundry_tui.backends.openai_compat import EndpointBackend


class EndpointChatStream:
    def __init__(self, backend: EndpointBackend, model: str, messages: list[ChatMessage], options: ChatOptions) -> None:
        self._backend = backend
        self.model_id = model
        self._messages = messages
        self._options = options
        self._cancelled = threading.Event()
        self._response: Any = None
        self.t_sent_ns = 0

    def cancel(self) -> None:
        self._cancelled.set()
        response = self._response
        if response is not None:
            # Closing the response from another thread does not wake a read blocked on a slow or stalled server;
            # shutting the socket down does (the reader then sees EOF and reports "cancelled").
            with contextlib.suppress(Exception):
                network = response.http_response.extensions.get("network_stream")
                sock = network.get_extra_info("socket") if network is not None else None
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):
                response.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        root = self._backend.root
        self.t_sent_ns = time.perf_counter_ns()
        try:
            stack, self._response = self._backend.open_stream(self.model_id, self._messages, self._options)
        except openai.APIStatusError as exc:
            yield ErrorEvent(
                time.perf_counter_ns(), f"HTTP {exc.status_code} from {root}: {api_error_text(exc)}", "http"
            )
            return
        except openai.APITimeoutError:
            yield ErrorEvent(time.perf_counter_ns(), f"{root} sent no response within the timeout", "stalled")
            return
        except openai.APIConnectionError as exc:
            yield ErrorEvent(time.perf_counter_ns(), f"cannot connect to {root}: {cause(exc)}", "network")
            return
        with stack:
            if self._cancelled.is_set():
                yield DoneEvent(time.perf_counter_ns(), "cancelled")
                return
            yield from self._read()

    def _read(self) -> Iterator[StreamEvent]:
        root = self._backend.root
        finish: str | None = None
        usage: Usage | None = None
        try:
            for event in iter_sse(self._response.iter_lines()):
                t_ns = time.perf_counter_ns()
                if event.data.startswith("[DONE]"):
                    break
                try:
                    fields = parse_chunk(event.data)
                except ValueError as exc:
                    yield ErrorEvent(
                        t_ns, f"{root} sent a malformed stream line: {one_line(str(exc), 120)}", "malformed"
                    )
                    return
                if fields.error is not None or event.event == "error":
                    yield ErrorEvent(
                        t_ns, f"{root} reported an error mid-stream: {one_line(fields.error or event.data)}", "http"
                    )
                    return
                if fields.usage is not None:
                    u = fields.usage
                    usage = Usage(
                        int(u.get("prompt_tokens") or 0),
                        int(u.get("completion_tokens") or 0),
                        int(u.get("total_tokens") or 0),
                    )
                if fields.reasoning:
                    yield TokenEvent(fields.reasoning, t_ns, None, reasoning=True)
                if fields.content:
                    yield TokenEvent(fields.content, t_ns, None)
                if fields.finish_reason:
                    finish = fields.finish_reason
        except Exception as exc:
            now = time.perf_counter_ns()
            if self._cancelled.is_set():
                yield DoneEvent(now, "cancelled", usage)
            elif isinstance(exc, httpx.TimeoutException):
                yield ErrorEvent(
                    now, f"stream from {root} stalled: no data for {self._options.stall_timeout_s:g} s", "stalled"
                )
            elif isinstance(exc, httpx.TransportError | httpx.StreamError):
                yield ErrorEvent(now, f"connection to {root} dropped mid-stream ({cause(exc)})", "dropped")
            else:
                yield ErrorEvent(
                    now, f"stream from {root} failed: {type(exc).__name__}: {one_line(str(exc))}", "dropped"
                )
            return
        if self._cancelled.is_set():
            yield DoneEvent(time.perf_counter_ns(), "cancelled", usage)
        elif finish is None:
            yield ErrorEvent(time.perf_counter_ns(), f"stream from {root} ended without a finish reason", "dropped")
        else:
            yield DoneEvent(time.perf_counter_ns(), finish, usage)


def cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    text = str(inner) if inner is not None and str(inner) else str(exc)
    return one_line(text, 200) or type(inner or exc).__name__


def api_error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
        if message:
            return one_line(str(message), 300)
    return one_line(exc.message, 300)


__all__ = ["EndpointChatStream", "api_error_text", "cause"]

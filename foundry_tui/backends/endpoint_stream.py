"""Reading a chat completion stream from an OpenAI-compatible server: our own SSE parsing, every piece stamped
where it arrived, and faults (HTTP status, malformed line, dropped connection, timeout) turned into one-line events.

The send stamp is taken at the wire: `Wire` is attached to the request (httpcore's `trace` extension, through an
httpx request hook) and stamps the moment the request's bytes start going out on an established connection, after
the request was built and connected ("send_request_headers.started"). A tracking network backend refines it to
the request's first socket write (after the headers are serialized, as a raw-socket client stamps) and tells the
same `Wire` which socket carries the request, so a cancel wakes a read that is still waiting for the response
headers (a server that holds them back until its prefill is done).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpcore2 as httpcore
import httpx2 as httpx
import openai

from foundry_tui.backends.base import ChatMessage, ChatOptions, DoneEvent, ErrorEvent, StreamEvent, TokenEvent, Usage
from foundry_tui.backends.sse import iter_sse, parse_chunk
from foundry_tui.errors import one_line

if TYPE_CHECKING:
    from foundry_tui.backends.openai_compat import EndpointBackend

# The HTTP read timeout is only a backstop: the first-token and stall timeouts are enforced per piece by
# engine.stream_watch, which ends the stream first and says which one ran out.
BACKSTOP_MARGIN_S = 5.0
# The connection pool openai's own client would use (its DefaultHttpxClient's limits; ours replaces its transport).
POOL_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)

_SENDING: ContextVar[Wire | None] = ContextVar("foundry_tui_sending", default=None)
_SEND_STARTED = ("http11.send_request_headers.started", "http2.send_request_headers.started")


def read_backstop_s(first_token_timeout_s: float, stall_timeout_s: float) -> float:
    """The HTTP read timeout of a stream: no byte for this long ends it even when nothing watches it."""
    return max(first_token_timeout_s, stall_timeout_s) + BACKSTOP_MARGIN_S


def _shutdown(sock: socket.socket) -> None:
    # Closing a response from another thread does not wake a blocked read; shutting the socket down does.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Wire:
    """What the HTTP client reports about one request sent on this thread (inside `sending()`): when its bytes
    started going out, when its connection was made (0: a kept-alive one was reused), and its socket."""

    __slots__ = ("_cancelled", "_sending", "_sock", "connected_ns", "sent_ns")

    def __init__(self) -> None:
        self.connected_ns = 0
        self.sent_ns = 0
        self._sock: socket.socket | None = None
        self._cancelled = False
        self._sending = False

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's `trace` request extension, called at every step of the request on the sending thread."""
        if name in _SEND_STARTED:
            # Connected, request built: its headers are serialized and written now. The first socket write refines
            # the stamp (`wrote`) where the connection is ours; a proxy's keeps this one.
            self.sent_ns = time.perf_counter_ns()
            self._sending = True
        elif name == "connection.connect_tcp.complete":
            self.connected_ns = time.perf_counter_ns()

    def wrote(self, sock: socket.socket) -> None:
        """The tracking stream is about to write on `sock` for this request."""
        if self._sending:
            self.sent_ns = time.perf_counter_ns()  # the request's first bytes, as a raw socket client would stamp
            self._sending = False
        self._sock = sock
        if self._cancelled:  # cancelled before the socket was known
            _shutdown(sock)

    def cancel(self) -> bool:
        """From any thread: shut the request's socket down; False when no socket is known (yet, or any more)."""
        self._cancelled = True
        sock = self._sock
        if sock is None:
            return False
        _shutdown(sock)
        return True

    def release(self) -> None:
        """The request is over: forget its socket, and do not cut it on a later cancel."""
        self._sock = None

    @contextlib.contextmanager
    def sending(self) -> Iterator[Wire]:
        token = _SENDING.set(self)
        try:
            yield self
        finally:
            _SENDING.reset(token)


def _attach_trace(request: httpx.Request) -> None:
    """httpx request hook: runs after the request is built, before it is sent."""
    wire = _SENDING.get()
    if wire is not None:
        request.extensions["trace"] = wire.trace


class _TrackedStream(httpcore.NetworkStream):
    """A connection's stream that tells the request being written on this thread which socket carries it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        sock = inner.get_extra_info("socket")
        self._sock = sock if isinstance(sock, socket.socket) else None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        wire = _SENDING.get()
        if wire is not None and self._sock is not None:
            wire.wrote(self._sock)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _TrackedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _TrackingBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def wire_http_client(timeout: httpx.Timeout, *, network: httpcore.NetworkBackend | None = None) -> httpx.Client:
    """The HTTP client for chat requests: openai's defaults, plus the wire stamp and socket tracking.
    `network` replaces the sockets (priming runs on canned bytes)."""
    # Canned connections carry no TLS: skip loading the CA bundle (~20 ms).
    transport = httpx.HTTPTransport(limits=POOL_LIMITS, verify=network is None)
    # httpx has no public way to pass httpcore a network backend; without one, a cancel still works once the
    # response headers are in (through the response's stream), only not while they are awaited.
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if isinstance(inner, httpcore.NetworkBackend):
        pool._network_backend = _TrackingBackend(network or inner)  # type: ignore[union-attr]
    return openai.DefaultHttpxClient(transport=transport, timeout=timeout, event_hooks={"request": [_attach_trace]})


def _sse_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_CANNED_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    + _sse_chunk(b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}\n\n')
    + _sse_chunk(b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}\n\n')
    + _sse_chunk(b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n')
    + _sse_chunk(b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}\n\n')
    + _sse_chunk(b"data: [DONE]\n\n")
    + b"0\r\n\r\n"
)


class _CannedStream(httpcore.NetworkStream):
    """A connection that swallows the request and answers a short chat stream, from memory."""

    def __init__(self) -> None:
        self._left = _CANNED_REPLY

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data, self._left = self._left[:max_bytes], self._left[max_bytes:]
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return self

    def get_extra_info(self, info: str) -> Any:
        return None


class CannedNetwork(httpcore.NetworkBackend):
    """Connections that never touch the network (see `_CannedStream`): for priming the client's code."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _CannedStream()

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _CannedStream()


class StreamRejected(Exception):
    """The server answered the chat request with an HTTP error status."""

    def __init__(self, status: int, message: str, body: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message  # one line, from the error body
        self.body = body  # the raw body (its start), to recognise a rejected field


class EndpointChatStream:
    def __init__(self, backend: EndpointBackend, model: str, messages: list[ChatMessage], options: ChatOptions) -> None:
        self._backend = backend
        self.model_id = model
        self._messages = messages
        self._options = options
        self._cancelled = threading.Event()
        self._response: Any = None
        self.wire = Wire()
        self.t_sent_ns = 0
        self._over = False

    def cancel(self) -> None:
        self._cancelled.set()
        if self._over or self.wire.cancel():
            return
        response = self._response
        if response is not None:  # a connection the tracking backend did not make (a proxy's)
            with contextlib.suppress(Exception):
                network = response.extensions.get("network_stream")
                sock = network.get_extra_info("socket") if network is not None else None
                if sock is not None:
                    _shutdown(sock)
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._cancelled.is_set():
            yield DoneEvent(time.perf_counter_ns(), "cancelled")
            return
        try:
            opened = self._open()
            if not isinstance(opened, ExitStack):
                yield opened
                return
            with opened:
                if self._cancelled.is_set():
                    yield DoneEvent(time.perf_counter_ns(), "cancelled")
                    return
                yield from self._read()
        finally:
            # The connection goes back to the pool: a late cancel must not cut whichever request uses it next.
            self._over = True
            self.wire.release()

    def _open(self) -> ExitStack | StreamEvent:
        """Send the request (outside the generator: the wire's context must not span a yield)."""
        root = self._backend.root
        self.t_sent_ns = time.perf_counter_ns()  # kept only if the wire stamp did not fire (e.g. a custom transport)
        event: StreamEvent
        try:
            with self.wire.sending():
                stack, self._response = self._backend.open_stream(self.model_id, self._messages, self._options)
        except StreamRejected as exc:
            event = ErrorEvent(time.perf_counter_ns(), f"HTTP {exc.status} from {root}: {exc.message}", "http")
        except httpx.TimeoutException as exc:
            event = self._timeout_event(exc)
        except httpx.HTTPError as exc:
            event = ErrorEvent(time.perf_counter_ns(), f"cannot connect to {root}: {_text(exc)}", "network")
        else:
            self._restamp()
            return stack
        self._restamp()
        if self._cancelled.is_set():
            return DoneEvent(time.perf_counter_ns(), "cancelled")
        return event

    def _restamp(self) -> None:
        if self.wire.sent_ns:
            self.t_sent_ns = self.wire.sent_ns

    def _timeout_event(self, exc: httpx.TimeoutException) -> ErrorEvent:
        root = self._backend.root
        now = time.perf_counter_ns()
        if not isinstance(exc, httpx.ReadTimeout) or not self.wire.sent_ns:
            return ErrorEvent(now, f"cannot connect to {root}: timed out", "network")
        backstop = read_backstop_s(self._options.first_token_timeout_s, self._options.stall_timeout_s)
        return ErrorEvent(now, f"{root} sent no response within {backstop:g} s", "first_token_timeout")

    def _read(self) -> Iterator[StreamEvent]:
        root = self._backend.root
        finish: str | None = None
        usage: Usage | None = None
        started = False
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
                    started = True
                    yield TokenEvent(fields.reasoning, t_ns, None, reasoning=True)
                if fields.content:
                    started = True
                    yield TokenEvent(fields.content, t_ns, None)
                if fields.finish_reason:
                    finish = fields.finish_reason
        except Exception as exc:
            now = time.perf_counter_ns()
            if self._cancelled.is_set():
                yield DoneEvent(now, "cancelled", usage)
            elif isinstance(exc, httpx.TimeoutException):
                backstop = read_backstop_s(self._options.first_token_timeout_s, self._options.stall_timeout_s)
                if started:
                    yield ErrorEvent(now, f"stream from {root} stalled: no data for {backstop:g} s", "stalled")
                else:
                    yield ErrorEvent(now, f"no first token from {root} within {backstop:g} s", "first_token_timeout")
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


def _text(exc: BaseException) -> str:
    return one_line(str(exc), 200) or type(exc).__name__


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


__all__ = [
    "BACKSTOP_MARGIN_S",
    "CannedNetwork",
    "EndpointChatStream",
    "StreamRejected",
    "Wire",
    "api_error_text",
    "cause",
    "read_backstop_s",
    "wire_http_client",
]

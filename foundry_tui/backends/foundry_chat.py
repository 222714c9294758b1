"""One streamed chat request on the in-process runtime: its own ChatSession, the output budget fitted to the
context, tokens stamped where they arrive. A session that has streamed must not serve a non-streamed request (it
hangs), so every request gets a fresh session.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from foundry_tui.backends.base import ChatMessage, ChatOptions, DoneEvent, ErrorEvent, StreamEvent, TokenEvent, Usage
from foundry_tui.backends.foundry_errors import CANCELLED, map_sdk_error, strip_native_prefix
from foundry_tui.errors import one_line

_FINISH = {0: "unknown", 1: "error", 2: "stop", 3: "length", 4: "tool_calls"}


class FoundryChatStream:
    """One streamed request on its own ChatSession; the full message list goes into one Request."""

    def __init__(self, fl: Any, model: Any, model_id: str, messages: list[ChatMessage], options: ChatOptions) -> None:
        self._fl = fl
        self._model = model
        self.model_id = model_id
        self._messages = messages
        self._options = options
        self._cancelled = threading.Event()
        self._request: Any = None
        self.t_sent_ns = 0
        self.max_tokens_used = options.max_tokens  # lower when the context cannot hold prompt + max tokens

    def cancel(self) -> None:
        self._cancelled.set()
        request = self._request
        if request is not None:
            # The request may be closing right now; the flag still ends the stream.
            with contextlib.suppress(Exception):
                request.cancel()

    def __iter__(self) -> Iterator[StreamEvent]:
        fl = self._fl
        self.t_sent_ns = time.perf_counter_ns()  # restamped right before the request is processed
        roles = {"system": fl.MessageRole.SYSTEM, "user": fl.MessageRole.USER, "assistant": fl.MessageRole.ASSISTANT}
        search = fl.SearchOptions(
            temperature=self._options.temperature,
            max_output_tokens=self._options.max_tokens,
            top_p=self._options.top_p,
            seed=self._options.seed,
        )
        try:
            session = fl.ChatSession(self._model)
        except (fl.FoundryLocalException, RuntimeError, ValueError) as exc:
            yield ErrorEvent(time.perf_counter_ns(), one_line(strip_native_prefix(str(exc))), "runtime")
            return
        with session, fl.Request() as request:
            try:
                session.set_options(fl.RequestOptions(search=search))
                session.set_streaming(True)
                for message in self._messages:
                    request.add_item(fl.MessageItem(roles[message.role], message.content))
                problem = self._fit_output_budget(session, request, search)
            except fl.FoundryLocalException as exc:
                yield ErrorEvent(time.perf_counter_ns(), str(map_sdk_error(exc, "prepare request")), "runtime")
                return
            if problem:
                yield ErrorEvent(time.perf_counter_ns(), problem, "runtime")
                return
            self._request = request
            if self._cancelled.is_set():
                yield DoneEvent(time.perf_counter_ns(), "cancelled")
                return
            yield from self._run(session, request)
            self._request = None

    def _fit_output_budget(self, session: Any, request: Any, search: Any) -> str | None:
        """Clamp max tokens to the room the context leaves; the runtime rejects prompt + max > context outright.

        Returns a message when even one output token does not fit.
        """
        budget = session.preflight_request(request)
        self.max_tokens_used = search.max_output_tokens
        if budget.fits:
            return None
        room = budget.context_limit_tokens - budget.prompt_tokens
        if room < 1:
            return (
                f"the prompt is {budget.prompt_tokens} tokens, which fills the model's context of "
                f"{budget.context_limit_tokens} tokens"
            )
        search.max_output_tokens = room
        self.max_tokens_used = room
        session.set_options(self._fl.RequestOptions(search=search))
        return None

    def _run(self, session: Any, request: Any) -> Iterator[StreamEvent]:
        fl = self._fl
        reasoning = fl.TextItemType.REASONING
        self.t_sent_ns = time.perf_counter_ns()
        try:
            stream = session.process_streaming_request(request)
            for item in stream:
                t_ns = time.perf_counter_ns()
                if isinstance(item, fl.TextItem) and item.text:
                    yield TokenEvent(item.text, t_ns, 1, reasoning=item.type == reasoning)
            with stream.final_response as final:
                finish = _FINISH.get(int(final.finish_reason), "unknown")
                raw = final.get_usage()
            usage = Usage(raw.prompt_tokens, raw.completion_tokens, raw.total_tokens)
            if self._cancelled.is_set():
                yield DoneEvent(time.perf_counter_ns(), "cancelled", usage)
            elif finish == "error":
                yield ErrorEvent(time.perf_counter_ns(), "the runtime ended the response with an error", "runtime")
            else:
                yield DoneEvent(time.perf_counter_ns(), finish, usage)
        except fl.FoundryLocalException as exc:
            if self._cancelled.is_set() or getattr(exc, "error_code", 0) == CANCELLED:
                yield DoneEvent(time.perf_counter_ns(), "cancelled")
            else:
                yield ErrorEvent(time.perf_counter_ns(), str(map_sdk_error(exc, "chat")), "runtime")


__all__ = ["FoundryChatStream"]

"""Server-sent events from raw lines, and the chat-completion chunk fields we read from each.

The openai client turns every chunk into pydantic models (~280 µs each measured here); at thousands of chunks a
second that steals the GIL from the UI thread and caps what a benchmark can ingest. Reading the lines and
`json.loads`-ing each data field costs ~25 µs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SseEvent:
    event: str  # "message" unless the server named it
    data: str


def iter_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """SSE framing: `field: value` lines, events end at a blank line; `:` lines are comments."""
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:  # a stream that ended without the final blank line
        yield SseEvent(event, "\n".join(data))


@dataclass(frozen=True)
class ChunkFields:
    content: str | None
    reasoning: str | None
    finish_reason: str | None
    usage: dict[str, Any] | None
    error: str | None  # an error object sent inside the stream


def parse_chunk(data: str) -> ChunkFields:
    """One `chat.completion.chunk`; raises ValueError when the data is not a JSON object."""
    obj = json.loads(data)
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    error = obj.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        return ChunkFields(None, None, None, None, str(message or "error"))
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else None
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ChunkFields(None, None, None, usage, None)
    choice = choices[0]
    delta: dict[str, Any] = choice["delta"] if isinstance(choice.get("delta"), dict) else {}
    content = delta.get("content")
    # vLLM and llama.cpp send `reasoning_content`, Ollama `reasoning`.
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    finish = choice.get("finish_reason")
    return ChunkFields(
        content if isinstance(content, str) and content else None,
        reasoning if isinstance(reasoning, str) and reasoning else None,
        str(finish) if finish else None,
        usage,
        None,
    )

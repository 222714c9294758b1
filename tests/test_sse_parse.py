"""SSE framing and chunk fields, from raw lines."""

from __future__ import annotations

import pytest

from foundry_tui.backends.sse import SseEvent, iter_sse, parse_chunk


def test_framing_comments_multiline_and_named_events() -> None:
    lines = [
        ": keep-alive",
        'data: {"a": 1}',
        "",
        "event: error",
        "data: line one",
        "data: line two",
        "",
        "data: [DONE]",
    ]
    assert list(iter_sse(lines)) == [
        SseEvent("message", '{"a": 1}'),
        SseEvent("error", "line one\nline two"),
        SseEvent("message", "[DONE]"),  # no trailing blank line: still delivered
    ]


def test_chunk_fields() -> None:
    role_only = parse_chunk('{"choices": [{"delta": {"role": "assistant", "content": ""}}]}')
    assert role_only.content is None and role_only.finish_reason is None
    text = parse_chunk('{"choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]}')
    assert text.content == "Hi"
    thinking = parse_chunk('{"choices": [{"delta": {"reasoning_content": "hmm"}}]}')
    assert thinking.reasoning == "hmm" and thinking.content is None
    usage = parse_chunk('{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}')
    assert usage.usage == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    done = parse_chunk('{"choices": [{"delta": {}, "finish_reason": "length"}]}')
    assert done.finish_reason == "length"
    assert parse_chunk('{"error": {"message": "overloaded"}}').error == "overloaded"


@pytest.mark.parametrize("data", ["{oops", "[1, 2]", '"text"'])
def test_malformed_chunks_raise_value_error(data: str) -> None:
    with pytest.raises(ValueError):
        parse_chunk(data)

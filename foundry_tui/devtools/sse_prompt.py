"""The fake SSE server's prompt side: how it counts a chat request's prompt, how long its prefill takes, and when
the prompt and the answer do not fit its context.

Read by ``devtools.sse_server`` for each chat request, from the request's copy of its ``StreamScript``:

``prompt_count``
    ``"words"`` (default, the server's historic stand-in): whitespace-separated words of every message's text;
    ``"tokens"``: the fake tokenizer's pieces (``sse_server.fake_tokenize``, the very tokenizer of its tokenize
    routes and of ``devtools.fake_tokenizer``) of each message's text, counted per message (a chat template keeps
    messages apart, so no piece spans two). A client that sizes prompts with either gets exact counts.
``template_tokens``
    added to ``usage.prompt_tokens`` once per request: the tokens a chat template wraps around the messages.
``prefill_tps``
    the first-token delay becomes ``first_token_delay_s + prompt_tokens / prefill_tps`` (counted with the template
    tokens): a model whose prefill runs at a known rate. Non-stream answers wait the same.
``context``
    a request whose prompt tokens plus its max tokens (``max_completion_tokens``, else ``max_tokens``, else 0)
    exceed it is refused with vLLM's 400 (:func:`context_error`); the vLLM tokenize route reports it as
    ``max_model_len`` and ``/v1/models`` lists it as ``max_model_len`` too, as vLLM does.

The server records the prompt tokens it counted in the request's record (``server.requests[i]["prompt_tokens"]``),
for every chat request it counted, refused ones included.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any, Literal

__all__ = [
    "PromptCount",
    "add_prompt_arguments",
    "context_error",
    "count_prompt",
    "first_token_delay",
    "prompt_script_fields",
    "requested_completion_tokens",
]

PromptCount = Literal["words", "tokens"]


def _texts(messages: list[Any]) -> Iterator[str]:
    """Each message's text content: a string, or the text parts of a content list."""
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]


def count_prompt(
    messages: list[Any], mode: PromptCount, tokenize: Callable[[str], list[str]], template_tokens: int = 0
) -> int:
    """The prompt tokens the fake reports: words or tokenizer pieces of every text, plus the template's."""
    if mode == "tokens":
        body = sum(len(tokenize(text)) for text in _texts(messages))
    else:
        body = sum(len(text.split()) for text in _texts(messages))
    return body + max(0, template_tokens)


def first_token_delay(base_s: float, prompt_tokens: int, prefill_tps: float | None) -> float:
    """Seconds from the request to its first token: the script's delay plus the prefill at `prefill_tps`."""
    base = max(0.0, base_s)
    if prefill_tps is None or prefill_tps <= 0:
        return base
    return base + prompt_tokens / prefill_tps


def requested_completion_tokens(body: dict[str, Any]) -> int:
    """The answer's budget the request asked for (``max_completion_tokens`` first, as OpenAI prefers it); 0: none."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return 0


def context_error(context: int | None, prompt_tokens: int, completion_tokens: int) -> dict[str, Any] | None:
    """vLLM's 400 body when the prompt and the answer's budget exceed `context`; None when they fit."""
    total = prompt_tokens + completion_tokens
    if context is None or total <= context:
        return None
    message = (
        f"This model's maximum context length is {context} tokens. However, you requested {total} tokens "
        f"({prompt_tokens} in the messages, {completion_tokens} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def add_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    """The server CLI's prompt flags."""
    parser.add_argument(
        "--prompt-count",
        choices=["words", "tokens"],
        default="words",
        help="count prompt tokens as whitespace words (default) or with the fake tokenizer of /tokenize",
    )
    parser.add_argument(
        "--template-tokens", type=int, default=0, metavar="N", help="chat-template tokens added to each prompt"
    )
    parser.add_argument(
        "--prefill-tps",
        type=float,
        default=None,
        metavar="R",
        help="prefill rate in prompt tokens/s: the first token waits prompt_tokens / R longer",
    )
    parser.add_argument(
        "--context",
        type=int,
        default=None,
        metavar="N",
        help="context length: prompt + max tokens above N → HTTP 400 context_length_exceeded (as vLLM)",
    )


def prompt_script_fields(args: argparse.Namespace) -> dict[str, Any]:
    """StreamScript keyword arguments from the parsed prompt flags."""
    return {
        "prompt_count": args.prompt_count,
        "template_tokens": args.template_tokens,
        "prefill_tps": args.prefill_tps,
        "context": args.context,
    }

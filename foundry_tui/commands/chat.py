"""`chat`: one prompt, streamed; then TTFT, decode rate, tokens and finish reason."""

from __future__ import annotations

import argparse
import sys
import time

from foundry_tui.backends.base import Backend, ChatMessage, ChatOptions, TokenEvent
from foundry_tui.commands.output import print_json
from foundry_tui.config import Settings
from foundry_tui.engine.fit import check_model_fit
from foundry_tui.engine.timing import RequestRecord, measure_stream
from foundry_tui.errors import BackendError, BadInputError
from foundry_tui.text import escape_controls, safe_line


def _read_prompt(prompt: str) -> str:
    if prompt == "-":
        text = sys.stdin.read()
        if not text.strip():
            raise BadInputError("the prompt read from standard input is empty")
        return text
    if not prompt.strip():
        raise BadInputError("the prompt is empty")
    return prompt


def _fmt(value: float | None, spec: str, unit: str) -> str:
    return "n/a" if value is None else f"{value:{spec}} {unit}"


def summary_line(record: RequestRecord, load_s: float | None) -> str:
    tokens = f"{record.completion_tokens}{'~' if record.tokens_estimated else ''} tokens"
    parts = [
        record.model,
        f"TTFT {_fmt(record.ttft_ms, '.1f', 'ms')}",
        f"decode {_fmt(record.decode_tps, '.1f', 'tok/s')}",
        tokens,
        f"finish {record.finish_reason or record.status}",
        f"e2e {_fmt(record.e2e_ms, '.1f', 'ms')}",
    ]
    if load_s is not None:
        parts.append(f"load {load_s:.2f} s")
    return " · ".join(parts)


def record_json(record: RequestRecord, load_s: float | None) -> dict[str, object]:
    return {
        "model": record.model,
        "text": record.text,
        "ttft_ms": record.ttft_ms,
        "e2e_ms": record.e2e_ms,
        "decode_tps": record.decode_tps,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "tokens_estimated": record.tokens_estimated,
        "finish_reason": record.finish_reason,
        "status": record.status,
        "error": record.error,
        "load_s": load_s,
    }


def run_chat(backend: Backend, settings: Settings, args: argparse.Namespace) -> int:
    prompt = _read_prompt(args.prompt)
    entry = backend.resolve(args.model)
    load_s: float | None = None
    if not entry.loaded and backend.info().management:
        fit = check_model_fit(backend, entry)  # a warning with the numbers, never a refusal
        if fit.warn or fit.target == "remote":
            print(f"{'warning' if fit.warn else 'note'}: {safe_line(fit.message)}", file=sys.stderr)
        started = time.perf_counter()
        entry = backend.load(entry.id)
        load_s = time.perf_counter() - started
    messages = ([ChatMessage("system", args.system)] if args.system else []) + [ChatMessage("user", prompt)]
    options = ChatOptions(
        max_tokens=settings.max_tokens, temperature=settings.temperature, stall_timeout_s=settings.stall_timeout_s
    )
    stream = backend.stream_chat(entry.id, messages, options)
    # Model text is untrusted: on a terminal its control characters are shown, not obeyed.
    escape = sys.stdout.isatty()

    def show(event: TokenEvent) -> None:
        if not event.reasoning:
            sys.stdout.write(escape_controls(event.text) if escape else event.text)
            sys.stdout.flush()

    try:
        record = measure_stream(stream, None if args.json else show)
    except KeyboardInterrupt:
        stream.cancel()
        raise
    if args.json:
        print_json(record_json(record, load_s))
    else:
        if record.text and not record.text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
        print(summary_line(record, load_s), file=sys.stderr)
    if record.status == "error":
        if not args.json:
            raise BackendError(safe_line(record.error or "the stream failed"), kind=record.error_kind or "runtime")
        return 1
    return 0

"""`chat`: one prompt through the session (load if needed, streamed); then TTFT, decode rate, tokens, finish."""

from __future__ import annotations

import argparse
import sys

from foundry_tui.backends.base import ChatMessage, TokenEvent
from foundry_tui.commands.output import print_json
from foundry_tui.engine.chat import Cancel, ChatEvent, ChatResult, LoadStarting, reply_summary, with_system
from foundry_tui.engine.session import Session
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


def result_json(result: ChatResult) -> dict[str, object]:
    record = result.record
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
        "load_s": result.load.load_s if result.load else None,
        "cold": result.cold,  # the first request to this model in this process (its TTFT may include setup)
        "cold_start": result.cold_start,  # cold because the model had to be loaded first
    }


def _on_event(event: ChatEvent) -> None:
    if isinstance(event, LoadStarting) and (event.fit.warn or event.fit.target == "remote"):
        print(f"{'warning' if event.fit.warn else 'note'}: {safe_line(event.fit.message)}", file=sys.stderr)


def run_chat(session: Session, args: argparse.Namespace) -> int:
    prompt = _read_prompt(args.prompt)
    messages = with_system(args.system, [ChatMessage("user", prompt)])
    options = session.chat_options()  # --max-tokens / --temperature are in the settings already (flag layer)
    # Model text is untrusted: on a terminal its control characters are shown, not obeyed.
    escape = sys.stdout.isatty()

    def show(event: TokenEvent, t_sent_ns: int) -> None:
        if not event.reasoning:
            sys.stdout.write(escape_controls(event.text) if escape else event.text)
            sys.stdout.flush()

    cancel = Cancel()
    try:
        result = session.chat(
            args.model, messages, options, on_event=_on_event, on_token=None if args.json else show, cancel=cancel
        )
    except KeyboardInterrupt:
        cancel.set()
        raise
    record = result.record
    if args.json:
        print_json(result_json(result))
    else:
        if record.text and not record.text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
        summary = reply_summary(record, result.load.load_s if result.load else None, cold=result.cold)
        print(f"{record.model} · {summary}", file=sys.stderr)
    if record.status == "error":
        if not args.json:
            raise BackendError(safe_line(record.error or "the stream failed"), kind=record.error_kind or "runtime")
        return 1
    return 0

"""The judge run: after every measurement (so it cannot skew them), a model scores each distinct answer 1–5.

The prompt and the parsing of the reply are `engine.quality` (judge_messages, parse_judge_score); this module
loads the judge, sends one request per distinct (model, prompt, answer) through the runner's RequestExecutor (so
a stop cancels it), and writes the score into every request that gave that answer. A judge that cannot be found
or loaded is reported in the JudgeState; it never fails the benchmark. Definitions: docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from foundry_tui.backends.base import Backend, ChatOptions
from foundry_tui.engine.bench.execute import RequestExecutor
from foundry_tui.engine.bench.results import JudgeState, RequestResult
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.quality import judge_messages, parse_judge_score
from foundry_tui.errors import FoundryTuiError
from foundry_tui.text import safe_line

# (answering model, prompt index, score or None, note) after each distinct answer
ScoreCallback = Callable[[str, int, int | None, str | None], None]


def run_judge(
    state: JudgeState,
    *,
    backend: Backend,
    lifecycle: ModelLifecycle,
    executor: RequestExecutor,
    prompts: Sequence[PromptSpec],
    requests: Sequence[RequestResult],
    lock: AbstractContextManager[object],
    cancelled: Callable[[], bool],
    on_score: ScoreCallback,
    can_load: bool,
    max_tokens: int = 256,
    stall_timeout_s: float = 60.0,
    first_token_timeout_s: float = 300.0,
) -> None:
    """Judge with `state.model`; progress and the outcome go into `state` (under `lock`, which also guards
    `requests`)."""
    try:
        entry = backend.resolve(state.model)
    except FoundryTuiError as exc:
        state.status, state.error = "error", f"judge: {exc}"
        return
    state.model = entry.id
    loaded_here = False
    if not entry.loaded and can_load:
        try:
            lifecycle.load(entry.id)
            loaded_here = True
        except FoundryTuiError as exc:
            state.status, state.error = "error", f"judge: load failed: {exc}"
            return
    # One judge request per distinct answer: at temperature 0 the rounds usually repeat the same text.
    answers: dict[tuple[str, int, str], list[RequestResult]] = {}
    with lock:
        for request in requests:
            if request.ok and request.measured_level:  # generated prompts have nothing to judge against
                answers.setdefault((request.model, request.prompt_index, request.text), []).append(request)
    options = ChatOptions(
        max_tokens=max_tokens,
        temperature=0.0,
        stall_timeout_s=stall_timeout_s,
        first_token_timeout_s=first_token_timeout_s,
    )
    try:
        for (model_id, prompt_index, text), same in answers.items():
            if cancelled():
                state.status = "cancelled"
                return
            record = executor.stream(entry.id, judge_messages(prompts[prompt_index], text), options)
            if record.status == "ok":
                score, note = parse_judge_score(record.text)
            else:
                score, note = None, f"judge request failed: {safe_line(record.error or record.status, 200)}"
            with lock:
                for request in same:
                    request.quality.judge, request.quality.judge_note = score, note
                if score is not None:
                    state.scored += 1
                else:
                    state.unparsed += 1
            on_score(model_id, prompt_index, score, note)
        state.status = "ok"
    finally:
        if loaded_here:
            with contextlib.suppress(FoundryTuiError):
                lifecycle.unload(entry.id)

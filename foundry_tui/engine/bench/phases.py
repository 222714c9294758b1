"""The phases a model runs after its prompt-set levels, each one request at a time on a warm model:

- the prompt-length sweep (`--prompt-tokens`): per length, `rounds` generated prompts of that many tokens, each
  with its own filler (a prefix cache cannot reuse an earlier request's, not even a shorter length's start), so
  TTFT holds a whole prefill;
- cold starts (`--cold N`): N times unload, load (timed) and one request, whose TTFT is the cold TTFT;
- the usable-context search (`--find-context`, last: it is the phase most likely to exhaust memory): generated
  prompts of growing length (engine.bench.context_search) until one fails or its first token takes longer than the
  limit; each probe has its own filler too (a longer probe does not start with the previous one).

Each request is recorded like a level's (journal, events), with its phase's fields and the model's memory right
after it. Prompts are generated with the model's tokenizer (engine.bench.prompt_synth); without one their length
is an estimate and says so. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from foundry_tui.engine.bench.config import BenchConfig
from foundry_tui.engine.bench.context_search import ContextSearch
from foundry_tui.engine.bench.model_run import MemoryTimeline, ModelRun
from foundry_tui.engine.bench.phase_summaries import COLD_PROMPT, context_works
from foundry_tui.engine.bench.prompt_synth import SynthPrompt, synth_prompt
from foundry_tui.engine.bench.results import COLD, CONTEXT, SWEEP, LevelResult, RequestResult
from foundry_tui.engine.bench.sending import OneRequest, Sender
from foundry_tui.engine.bench.tokens import TokenCounter
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.timing import RequestRecord
from foundry_tui.errors import FoundryTuiError
from foundry_tui.text import safe_line

CONTEXT_PROBE_MAX_TOKENS = 16  # a probe needs an answer, not a long one: the context must hold it too
CONTEXT_START = 128
DEFAULT_CONTEXT_UPPER = 131_072  # when neither the model nor --context-max says how far to go
CONTEXT_VARIANTS = 50_000  # context probes' fillers start past any sweep's (lengths × rounds stay below this)
NO_RELOAD = "cold starts not measured: this backend cannot load and unload models"
NOT_RELOADED = "usable context not searched: the model could not be loaded again after a cold start"
COUNT_FAILED = "prompt lengths estimated (counting their tokens failed)"

# (phase, prompt_tokens_target or load index, round) of a request an earlier session already has: not sent again
Done = Callable[[str, int, int], RequestResult | None]


@dataclass
class PhaseContext:
    """What the phases of one model need from the runner."""

    model: ModelRun
    timeline: MemoryTimeline
    counter: TokenCounter | None  # counts prompt tokens the model's way (None: lengths are estimated)
    managed: bool  # the backend can load and unload this model
    done: Done


class Phases:
    def __init__(
        self,
        config: BenchConfig,
        sender: Sender,
        sampler: MemorySampler,
        lifecycle: ModelLifecycle,
        cancel: threading.Event,
        on_phase: Callable[[str, str, int], None],
    ) -> None:
        """`on_phase(model, phase, planned requests or 0 when unknown)`: a phase begins (progress)."""
        self.config = config
        self._sender = sender
        self._sampler = sampler
        self._lifecycle = lifecycle
        self._cancel = cancel
        self._on_phase = on_phase

    def run(self, ctx: PhaseContext) -> bool:
        """The phases asked for, in order; False when the cancel stopped them (a resumed run finishes them)."""
        c = self.config
        if c.prompt_tokens and self._going(ctx):
            self.sweep(ctx)
        loaded = True
        if c.cold and self._going(ctx):
            loaded = self.cold(ctx)
        if c.find_context and self._going(ctx):
            if loaded:
                self.find_context(ctx)
            else:  # its probes would all fail and read as a context limit
                ctx.model.result.notes.append(NOT_RELOADED)
        return not self._cancel.is_set()

    def _going(self, ctx: PhaseContext) -> bool:
        return not self._cancel.is_set() and ctx.model.error is None

    # -- pieces ----------------------------------------------------------------------------------------------

    def _prompt(self, ctx: PhaseContext, target: int, variant: int) -> SynthPrompt:
        """A prompt of `target` tokens (every request its own `variant`: nothing to reuse, so nothing is kept —
        a context search's long prompts would otherwise sit in the RSS that model memory is measured from)."""
        if ctx.counter is None:
            return synth_prompt(target, None, variant=variant)
        try:
            return synth_prompt(target, ctx.counter.count, variant=variant)
        except (FoundryTuiError, ValueError) as exc:  # a tokenize route that refused or timed out, say
            notes = ctx.model.result.notes
            if not any(n.startswith(COUNT_FAILED) for n in notes):
                notes.append(safe_line(f"{COUNT_FAILED} at {target} tokens and on: {exc}", 300))
            return synth_prompt(target, None, variant=variant)

    def _memory_after(self, ctx: PhaseContext, record: RequestRecord) -> float | None:
        """The model's memory (its attribution) at the largest sample during the request or right after it."""
        ctx.timeline.add(self._sampler.sample_now())
        attribution = ctx.model.attribution
        if attribution is None:
            return None
        points = ctx.timeline.points_since(ctx.timeline.seconds_at(record.t_sent_ns))
        rss = max((p.rss_mb for p in points), default=None)
        server = max((p.server_rss_mb for p in points if p.server_rss_mb is not None), default=None)
        return attribution.figure(rss, server)

    def _send(
        self,
        ctx: PhaseContext,
        level: LevelResult,
        spec: PromptSpec,
        max_tokens: int,
        round_index: int,
        fields: dict[str, Any],
        first_token_timeout_s: float | None = None,
    ) -> RequestResult | None:
        def extra(record: RequestRecord) -> dict[str, Any]:
            first = record.first_any_ns
            first_ms = (first - record.t_sent_ns) / 1e6 if first is not None and fields["phase"] == CONTEXT else None
            return {**fields, "prompt_index": -1, "memory_mb": self._memory_after(ctx, record),
                    "first_piece_ms": first_ms}  # fmt: skip

        one = OneRequest(spec, max_tokens, round_index, first_token_timeout_s, extra)
        return self._sender.send_one(ctx.model, level, one)

    @staticmethod
    def _level() -> LevelResult:
        """What the sender sends a phase's requests under: one stream, streamed (not a level of results.json)."""
        return LevelResult(concurrency=1, mode="stream")

    # -- the sweep -------------------------------------------------------------------------------------------

    def sweep(self, ctx: PhaseContext) -> None:
        c = self.config
        self._on_phase(ctx.model.model, SWEEP, len(c.prompt_tokens) * c.rounds)
        level = self._level()
        for length_index, target in enumerate(c.prompt_tokens):
            for round_index in range(c.rounds):
                if not self._going(ctx):
                    return
                if ctx.done(SWEEP, target, round_index + 1) is not None:
                    continue
                prompt = self._prompt(ctx, target, length_index * c.rounds + round_index)
                spec = PromptSpec(prompt.text, name=f"{target} tokens")
                fields = {"phase": SWEEP, "prompt_tokens_target": target, "prompt_tokens_exact": prompt.exact,
                          "round": round_index + 1}  # fmt: skip
                self._send(ctx, level, spec, c.sweep_max_tokens, round_index, fields)

    # -- cold starts -----------------------------------------------------------------------------------------

    def cold(self, ctx: PhaseContext) -> bool:
        """False when a reload failed and left the model unloaded."""
        model = ctx.model
        if not ctx.managed:
            if NO_RELOAD not in model.result.notes:
                model.result.notes.append(NO_RELOAD)
            return True
        self._on_phase(model.model, COLD, self.config.cold)
        level = self._level()
        spec = self.config.prompts[COLD_PROMPT]
        for index in range(self.config.cold):
            if not self._going(ctx):
                return True
            if ctx.done(COLD, index, 1) is not None:
                continue
            try:
                self._lifecycle.unload(model.model)
            except FoundryTuiError as exc:
                self._cold_stopped(model, index, "unload", exc)
                return True  # still loaded
            try:
                _, report = self._lifecycle.load(model.model)
            except FoundryTuiError as exc:
                self._cold_stopped(model, index, "load", exc)
                return False
            self._sender.forget_warm(model.model)
            fields = {"phase": COLD, "load_s": report.load_s, "load_index": index, "round": index + 1}
            self._send(ctx, level, spec, self.config.max_tokens_for(spec), index, fields)
        return True

    @staticmethod
    def _cold_stopped(model: ModelRun, index: int, step: str, exc: FoundryTuiError) -> None:
        note = f"cold starts stopped: reload {index + 1} failed to {step}: {exc}"
        model.result.notes.append(safe_line(note, 300))

    # -- the usable context ----------------------------------------------------------------------------------

    def find_context(self, ctx: PhaseContext) -> None:
        c = self.config
        advertised = ctx.model.result.context_length
        if c.context_max_tokens is not None:
            upper = c.context_max_tokens
        elif advertised:
            upper = advertised - CONTEXT_PROBE_MAX_TOKENS  # the context holds the prompt and the answer
        else:
            upper = DEFAULT_CONTEXT_UPPER
        search = ContextSearch(upper=max(upper, CONTEXT_START // 8), start=CONTEXT_START)
        self._on_phase(ctx.model.model, CONTEXT, 0)
        level = self._level()
        probe = 0
        while self._going(ctx):
            target = search.next_length()
            if target is None:
                return
            probe += 1
            request = ctx.done(CONTEXT, target, 1)
            if request is None:
                prompt = self._prompt(ctx, target, CONTEXT_VARIANTS + probe)
                spec = PromptSpec(prompt.text, name=f"{target} tokens")
                fields = {"phase": CONTEXT, "prompt_tokens_target": target, "prompt_tokens_exact": prompt.exact,
                          "round": 1}  # fmt: skip
                # A probe past the limit is cut there: waiting longer cannot make it count.
                request = self._send(ctx, level, spec, CONTEXT_PROBE_MAX_TOKENS, 0, fields, c.context_ttft_limit_s)
            if request is None or request.status == "cancelled":
                return
            search.record(target, context_works(request, c.context_ttft_limit_s))


__all__ = ["NO_RELOAD", "PhaseContext", "Phases"]

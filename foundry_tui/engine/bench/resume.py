"""`bench --resume DIR`: finish an interrupted run (Ctrl-C, SIGTERM, kill -9, a crash) from what it recorded.

The interrupted run's results come from its journal (engine.bench.journal). Its ok requests are kept; only the
missing (model, concurrency, mode, prompt, round) requests run, in a new session whose clock starts after the old
one's last request (`t_offset_s`), so durations and steady-state windows are computed per session
(engine.bench.throughput). Models that had finished ok are not loaded again. The settings and prompts are the
interrupted run's, never new flags: a resumed run measures the same workload.
"""

from __future__ import annotations

from dataclasses import replace

from foundry_tui.engine.bench.config import BenchConfig
from foundry_tui.engine.bench.journal import RequestKey, done_keys
from foundry_tui.engine.bench.model_run import ModelRun
from foundry_tui.engine.bench.results import COLD, BenchResults, RequestResult, RunSession
from foundry_tui.engine.bench.slo import parse_slo

GAP_S = 1.0  # between the old session's last moment and the new one's start on the run's clock


class Resume:
    """What the runner needs from the interrupted run; inert (nothing done, session 0) without one."""

    def __init__(self, prior: BenchResults | None) -> None:
        self.prior = prior
        self._kept = [r for r in prior.requests if r.ok] if prior is not None else []
        self._done: set[RequestKey] = done_keys(prior) if prior is not None else set()
        self._carried: set[str] = set()

    @property
    def active(self) -> bool:
        return self.prior is not None

    @property
    def session_index(self) -> int:
        if self.prior is None:
            return 0
        return max(len(self.prior.sessions), 1 + max((r.session for r in self.prior.requests), default=0))

    @property
    def started_at(self) -> str | None:
        return self.prior.started_at if self.prior is not None else None

    @property
    def t_offset_s(self) -> float:
        """Where the new session starts on the run's clock: after every request and memory sample of the old."""
        if self.prior is None:
            return 0.0
        ends = [r.t_start_s + (r.e2e_ms or 0) / 1000 for r in self.prior.requests if r.t_start_s is not None]
        ends += [p.t for m in self.prior.models for p in m.memory_timeline]
        return round(max(ends, default=0.0) + GAP_S, 3)

    def sessions(self) -> list[RunSession]:
        """The old sessions (one that never recorded its end crashed or was killed: `ended` stays null)."""
        if self.prior is None:
            return []
        return [replace(s) for s in self.prior.sessions] or [RunSession(started_at=self.prior.started_at)]

    def requests(self) -> list[RequestResult]:
        """The old run's ok requests (failed and cancelled ones run again)."""
        return [r.copy() for r in self._kept]

    def done(self, model: str, concurrency: int, mode: str, prompt_index: int, round_index: int) -> bool:
        """`round_index` 0-based, as the runner counts."""
        return (model, concurrency, mode, prompt_index, round_index + 1) in self._done

    def merge_models(self, targets: list[ModelRun]) -> list[ModelRun]:
        """A model that finished ok in the old run is carried over as it was; the others run (what is missing)."""
        if self.prior is None:
            return targets
        out = []
        for target in targets:
            old = self.prior.model(target.model)
            if old is not None and old.status == "ok" and target.result.status == "pending":
                self._carried.add(target.model)
                out.append(ModelRun(replace(old), target.entry, target.tags))
            else:
                out.append(target)
        return out

    def phase_done(self, model: str, phase: str, which: int, round_number: int) -> RequestResult | None:
        """The kept request of a phase: `which` is the prompt length (sweep, context) or the reload (cold)."""
        for r in self._kept:
            if r.model != model or r.phase != phase or r.round != round_number:
                continue
            if (r.load_index if phase == COLD else r.prompt_tokens_target) == which:
                return r
        return None

    def ran(self, model: ModelRun) -> bool:
        """False for a model carried over from the old run (its record is already in the journal)."""
        return model.model not in self._carried


def config_for_resume(prior: BenchResults, base: BenchConfig) -> BenchConfig:
    """The interrupted run's workload (`base`: what this invocation built, for what results do not record, such as
    the models file's tags)."""
    s = prior.settings
    return replace(
        base,
        models=tuple(s.models) or base.models,
        prompts=tuple(prior.prompts) or base.prompts,
        rounds=s.rounds,
        warmup=s.warmup,
        max_tokens=s.max_tokens,
        max_tokens_override=s.max_tokens_override,
        temperature=s.temperature,
        concurrency=tuple(s.concurrency) or base.concurrency,
        non_streamed=s.non_streamed,
        variants=s.variants,
        judge=s.judge,
        request_timeout_s=s.request_timeout_s,
        stall_timeout_s=s.stall_timeout_s or base.stall_timeout_s,
        first_token_timeout_s=s.first_token_timeout_s or base.first_token_timeout_s,
        min_waves=s.min_waves or base.min_waves,
        tokenizer=s.tokenizer,
        prompt_file=s.prompt_file,
        models_file=s.models_file,
        prompt_tokens=tuple(s.prompt_tokens),
        sweep_max_tokens=s.sweep_max_tokens or base.sweep_max_tokens,
        find_context=s.find_context,
        context_ttft_limit_s=s.context_ttft_limit_s or base.context_ttft_limit_s,
        context_max_tokens=s.context_max_tokens,
        cold=s.cold,
        slo=parse_slo(s.slo, "the recorded SLO"),
    )


__all__ = ["Resume", "config_for_resume"]

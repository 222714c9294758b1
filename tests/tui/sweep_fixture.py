"""A finished run with every phase of issue 13, with fixed numbers (no clock in it): the prompt set (prefill rates
and an SLO), a prompt-length sweep, a usable-context search and cold starts, for two models. Its summaries and phase
summaries are the engine's own (build_summaries, build_phase_summaries), so the pane is checked against them.
"""

from __future__ import annotations

from typing import Any

from foundry_tui.engine.bench import BenchResults, LevelResult, LoadInfo, MemoryInfo, ModelResult, RequestResult
from foundry_tui.engine.bench import memory as attribution
from foundry_tui.engine.bench.phase_summaries import build_phase_summaries
from foundry_tui.engine.bench.results import COLD, CONTEXT, SWEEP, RunSettings
from foundry_tui.engine.bench.summaries import build_summaries
from foundry_tui.engine.prompts import PromptSpec
from tests.tui.test_bench_layout import SMOL, TINY

LENGTHS = [128, 512, 2048]
SLO = "ttft_ms<=170,decode_tps>=20"
PROMPT_TOKENS = 20  # every prompt of the set, as the server counted it
# model → (TTFT ms at 128 tokens, TTFT growth per doubling, decode tok/s, memory MB at 128, advertised context)
SWEEP_SHAPE = {SMOL: (90.0, 1.6, 60.0, 700.0, 8192), TINY: (4.0, 1.2, 6000.0, 1.0, 4096)}
CONTEXT_OK_UP_TO = {SMOL: 4096, TINY: 4096}  # SMOL fails at 8192, TINY reaches its advertised context
COLD_TTFT = {SMOL: (820.0, 1.2), TINY: (30.0, 0.01)}  # (cold TTFT ms, reload s)


def _level_requests(model: str, base_ttft: float, rate: float, cached: bool) -> list[RequestResult]:
    """2 prompts × 2 rounds; `cached`: round 2 answers in a fifth of round 1's TTFT (a prompt cache's look)."""
    out = []
    for round_ in (1, 2):
        for index in range(2):
            ttft = base_ttft * (1 + 0.1 * index) * (0.2 if cached and round_ == 2 else 1.0)
            out.append(RequestResult(
                model=model, prompt_index=index, round=round_, concurrency=1, mode="stream", ttft_ms=ttft,
                e2e_ms=ttft + 40 / rate * 1000, decode_tps=rate, completion_tokens=40, prompt_tokens=PROMPT_TOKENS,
                prefill_tps=PROMPT_TOKENS / (ttft / 1000), finish_reason="stop", status="ok", text="An answer.",
                cold=round_ == 1 and index == 0,
            ))  # fmt: skip
    return out


def _phase_requests(model: str) -> list[RequestResult]:
    ttft0, growth, rate, memory, advertised = SWEEP_SHAPE[model]
    out = []

    def add(phase: str, target: int | None, ttft: float, **extra: Any) -> None:
        ok = extra.pop("ok", True)
        out.append(RequestResult(
            model=model, prompt_index=-1, round=1, concurrency=1, mode="stream", phase=phase,
            ttft_ms=ttft if ok else None,
            e2e_ms=ttft + 64 / rate * 1000 if ok else None, decode_tps=rate if ok else None,
            completion_tokens=64 if ok else None, prompt_tokens=(target or 0) + 9 if ok else None,
            prefill_tps=((target or 0) + 9) / (ttft / 1000) if ok else None, prompt_tokens_target=target,
            prompt_tokens_exact=True, status="ok" if ok else "error",
            error=None if ok else "context length exceeded", error_kind=None if ok else "server", **extra,
        ))  # fmt: skip

    for step, n in enumerate(LENGTHS):
        for round_ in (1, 2):
            add(SWEEP, n, ttft0 * growth ** (2 * step) * (1 + 0.05 * round_), memory_mb=memory + 10 * step)
    n = 1024
    while n <= advertised:
        works = n <= CONTEXT_OK_UP_TO[model]
        add(CONTEXT, n, ttft0 * n / 128, ok=works, memory_mb=memory + n / 100)
        n *= 2
    cold_ttft, reload_s = COLD_TTFT[model]
    for index in range(3):
        add(COLD, None, cold_ttft * (1 + 0.1 * index), load_s=reload_s * (1 + 0.1 * index), load_index=index)
    return out


def sweep_results(*, slo: str | None = SLO) -> BenchResults:
    """SmolLM2 and the tiny model through the prompt set, the sweep, the context search and 3 cold starts; the tiny
    model's repeated prompts look cached (a warning)."""
    requests = [*_level_requests(SMOL, 160.0, 60.0, cached=False), *_level_requests(TINY, 4.0, 6000.0, cached=True)]
    requests += [*_phase_requests(SMOL), *_phase_requests(TINY)]
    models = []
    for model, load_s, memory in ((SMOL, 0.58, 668.9), (TINY, 0.0037, 0.32)):
        models.append(ModelResult(
            model=model, requested=model, status="ok", load=LoadInfo(load_s=load_s),
            memory=MemoryInfo(model_memory_mb=memory, model_memory_note=attribution.IN_PROCESS),
            levels=[LevelResult(concurrency=1, mode="stream", status="ok")], context_length=SWEEP_SHAPE[model][4],
        ))  # fmt: skip
    results = BenchResults(
        started_at="2026-12-01T12:00:00+00:00", finished_at="2026-12-01T12:03:00+00:00",
        settings=RunSettings(models=[SMOL, TINY], rounds=2, warmup=1, prompt_tokens=LENGTHS, sweep_max_tokens=64,
                             find_context=True, context_ttft_limit_s=60.0, cold=3, slo=slo),
        prompts=[PromptSpec("Explain in two sentences what a large language model is."), PromptSpec("Say hello.")],
        models=models, requests=requests,
    )  # fmt: skip
    results.summaries = build_summaries(results)
    build_phase_summaries(results)
    return results


__all__ = ["LENGTHS", "SLO", "sweep_results"]

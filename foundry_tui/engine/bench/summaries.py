"""Summaries: one per model × concurrency level × mode, a pure function of the typed results.

Rebuilt on every snapshot, after the judge and after a manual score, so they always match the requests.
Definitions: docs/metrics.md ("Summaries", "Benchmarks").
"""

from __future__ import annotations

from collections.abc import Sequence

from foundry_tui.engine.bench.results import (
    BenchResults,
    EnergySummary,
    MetricSummary,
    ModelResult,
    RequestResult,
    Summary,
)
from foundry_tui.engine.bench.slo import SloTarget, goodput, parse_slo
from foundry_tui.engine.bench.throughput import level_duration, steady_state
from foundry_tui.engine.quality import quality_summary


def _per_token(joules: float | None, tokens: float) -> float | None:
    return joules / tokens if joules is not None and tokens else None


def level_status(level_status: str, planned: int | None, rows: Sequence[RequestResult]) -> str:
    """A finished level's status from what its requests did: ok (every planned request ok), partial (some ok),
    error (none ok), cancelled (stopped before it finished)."""
    if level_status in ("running", "cancelled"):
        return level_status
    ok = sum(1 for r in rows if r.ok)
    if ok == 0:
        return "error"
    if ok < (planned if planned is not None else len(rows)) or ok < len(rows):
        return "partial"
    return "ok"


def _status(model: ModelResult, concurrency: int, mode: str, rows: Sequence[RequestResult]) -> tuple[str, str | None]:
    level = model.level(concurrency, mode)
    if level is not None:
        status = level_status(level.status, level.planned, rows)
        return status, level.error or (model.error if status == "error" else None)
    if model.status in ("pending", "running"):
        return "pending", None
    if model.levels:  # the model failed or was stopped before this level
        return "skipped", f"not run: {model.error or model.status}"
    return model.status, model.error


def _tokens_source(ok: Sequence[RequestResult]) -> str | None:
    sources = {r.tokens_source for r in ok if r.tokens_source}
    return sources.pop() if len(sources) == 1 else ("mixed" if sources else None)


def build_summary(
    model: ModelResult,
    concurrency: int,
    mode: str,
    rows: Sequence[RequestResult],
    slo: Sequence[SloTarget] = (),
) -> Summary:
    """`rows`: every recorded request of this model, level and mode (failed and cancelled ones are counted, never
    summarized). `slo`: the run's targets (goodput is None without them)."""
    ok = [r for r in rows if r.ok]
    status, error = _status(model, concurrency, mode, rows)
    # Throughput only for a level whose every request succeeded: failed ones end early and flatter the rate.
    whole = status == "ok"
    duration = level_duration(rows)
    tokens = float(sum(r.completion_tokens for r in ok if r.completion_tokens is not None))
    steady = steady_state(rows, concurrency) if whole else None
    warm = [r for r in ok if not r.cold]
    cold = next((r for r in ok if r.cold), None)
    level = model.level(concurrency, mode)
    gpu_j = level.gpu_energy_j if level else None
    cpu_j = level.cpu_energy_j if level else None
    memory = model.memory

    def metric(name: str) -> MetricSummary:
        if name == "itl_ms":
            return MetricSummary.of(gap for r in ok for gap in r.itl_ms)
        if name in ("ttft_ms", "prefill_tps"):  # the cold request's wait is setup, not the steady TTFT: apart
            return MetricSummary.of(r.value(name) for r in warm)
        return MetricSummary.of(r.value(name) for r in ok)

    good = goodput(rows, slo, duration if whole else None)

    return Summary(
        model=model.model,
        alias=model.alias,
        concurrency=concurrency,
        mode=mode,
        status=status,
        error=error,
        n_planned=level.planned if level is not None else None,
        n_requests=len(rows),
        n_ok=len(ok),
        n_failed=sum(1 for r in rows if r.status == "error"),
        n_cancelled=sum(1 for r in rows if r.status == "cancelled"),
        ttft_ms=metric("ttft_ms"),
        ttft_cold_ms=cold.ttft_ms if cold is not None else None,
        itl_ms=metric("itl_ms"),
        e2e_ms=metric("e2e_ms"),
        decode_tps=metric("decode_tps"),
        completion_tokens=metric("completion_tokens"),
        prompt_tokens=metric("prompt_tokens"),
        e2e_tps=metric("e2e_tps"),
        tokens_estimated=any(r.tokens_estimated for r in ok),
        tokens_source=_tokens_source(ok),
        duration_s=duration,
        request_throughput_rps=len(ok) / duration if duration and whole else None,
        output_throughput_tps=tokens / duration if duration and whole else None,
        steady_window_s=steady.window_s if steady else None,
        steady_request_throughput_rps=steady.request_rps if steady else None,
        steady_output_throughput_tps=steady.output_tps if steady else None,
        load_s=model.load.load_s,
        rss_before_load_mb=memory.rss_before_load_mb,
        rss_after_load_mb=memory.rss_after_load_mb,
        rss_peak_mb=memory.rss_peak_mb,
        rss_after_unload_mb=memory.rss_after_unload_mb,
        rss_kept_after_unload_mb=memory.rss_kept_after_unload_mb,
        ram_used_peak_mb=memory.ram_used_peak_mb,
        gpu_used_peak_mb=list(memory.gpu_used_peak_mb) if memory.gpu_used_peak_mb is not None else None,
        server_rss_peak_mb=memory.server_rss_peak_mb,
        model_memory_mb=memory.model_memory_mb,
        model_memory_note=memory.model_memory_note,
        energy=EnergySummary(
            gpu_j=gpu_j,
            cpu_j=cpu_j,
            gpu_j_per_token=_per_token(gpu_j, tokens),
            cpu_j_per_token=_per_token(cpu_j, tokens),
        ),
        quality=quality_summary(r.quality for r in ok),
        size_mb=model.size_mb,
        license=model.license,
        capabilities=list(model.capabilities),
        prefill_tps=metric("prefill_tps"),
        n_good=good.good if good else None,
        n_slo_counted=good.counted if good else None,
        goodput_share=good.share if good else None,
        goodput_rps=good.rps if good else None,
        endpoint=model.endpoint,
    )


def build_summaries(results: BenchResults) -> list[Summary]:
    """One summary per model × concurrency level × mode, in run order."""
    levels = results.settings.concurrency or [1]
    modes = results.settings.modes or ["stream"]
    slo = parse_slo(results.settings.slo, "settings.slo")
    by_key: dict[tuple[str, int, str], list[RequestResult]] = {}
    for r in results.level_requests():
        by_key.setdefault((r.model, r.concurrency, r.mode), []).append(r)
    return [
        build_summary(model, concurrency, mode, by_key.get((model.model, concurrency, mode), []), slo)
        for model in results.models
        for concurrency in levels
        for mode in modes
    ]

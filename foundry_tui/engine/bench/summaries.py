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
from foundry_tui.engine.quality import quality_summary


def _per_token(joules: float | None, tokens: float) -> float | None:
    return joules / tokens if joules is not None and tokens else None


def _status(model: ModelResult, concurrency: int, mode: str) -> tuple[str, str | None]:
    level = model.level(concurrency, mode)
    if level is not None:
        return level.status, level.error or (model.error if level.status == "error" else None)
    if model.status in ("pending", "running"):
        return "pending", None
    if model.levels:  # the model failed or was stopped before this level
        return "skipped", f"not run: {model.error or model.status}"
    return model.status, model.error


def _duration(requests: Sequence[RequestResult]) -> float | None:
    """Last measured request's end − first measured request's send (failed requests count: they took time)."""
    spans = [
        (r.t_start_s, r.t_start_s + r.e2e_ms / 1000)
        for r in requests
        if r.status in ("ok", "error") and r.e2e_ms is not None and r.t_start_s is not None
    ]
    if not spans:
        return None
    start = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    return end - start if end > start else None


def build_summary(model: ModelResult, concurrency: int, mode: str, rows: Sequence[RequestResult]) -> Summary:
    """`rows`: every recorded request of this model, level and mode (failed and cancelled ones are counted, never
    summarized)."""
    ok = [r for r in rows if r.ok]
    status, error = _status(model, concurrency, mode)
    duration = _duration(rows)
    tokens = float(sum(r.completion_tokens for r in ok if r.completion_tokens is not None))
    level = model.level(concurrency, mode)
    gpu_j = level.gpu_energy_j if level else None
    cpu_j = level.cpu_energy_j if level else None
    memory = model.memory

    def metric(name: str) -> MetricSummary:
        if name == "itl_ms":
            return MetricSummary.of(gap for r in ok for gap in r.itl_ms)
        return MetricSummary.of(r.value(name) for r in ok)

    return Summary(
        model=model.model,
        alias=model.alias,
        concurrency=concurrency,
        mode=mode,
        status=status,
        error=error,
        n_requests=len(rows),
        n_ok=len(ok),
        n_failed=sum(1 for r in rows if r.status == "error"),
        ttft_ms=metric("ttft_ms"),
        itl_ms=metric("itl_ms"),
        e2e_ms=metric("e2e_ms"),
        decode_tps=metric("decode_tps"),
        completion_tokens=metric("completion_tokens"),
        prompt_tokens=metric("prompt_tokens"),
        e2e_tps=metric("e2e_tps"),
        tokens_estimated=any(r.tokens_estimated for r in ok),
        duration_s=duration,
        request_throughput_rps=len(ok) / duration if duration else None,
        output_throughput_tps=tokens / duration if duration else None,
        load_s=model.load.load_s,
        rss_before_load_mb=memory.rss_before_load_mb,
        rss_after_load_mb=memory.rss_after_load_mb,
        rss_peak_mb=memory.rss_peak_mb,
        rss_after_unload_mb=memory.rss_after_unload_mb,
        rss_kept_after_unload_mb=memory.rss_kept_after_unload_mb,
        ram_used_peak_mb=memory.ram_used_peak_mb,
        gpu_used_peak_mb=list(memory.gpu_used_peak_mb) if memory.gpu_used_peak_mb is not None else None,
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
    )


def build_summaries(results: BenchResults) -> list[Summary]:
    """One summary per model × concurrency level × mode, in run order."""
    levels = results.settings.concurrency or [1]
    modes = results.settings.modes or ["stream"]
    by_key: dict[tuple[str, int, str], list[RequestResult]] = {}
    for r in results.requests:
        by_key.setdefault((r.model, r.concurrency, r.mode), []).append(r)
    return [
        build_summary(model, concurrency, mode, by_key.get((model.model, concurrency, mode), []))
        for model in results.models
        for concurrency in levels
        for mode in modes
    ]

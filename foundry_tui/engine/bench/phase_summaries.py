"""Summaries of the phases after the prompt-set levels: the prompt-length sweep, the usable-context search and the
cold starts, plus the warnings the requests give reason for (a likely prompt cache). Pure functions of the typed
results, rebuilt on every snapshot like `summaries`. Definitions: docs/metrics.md ("Prompt-length sweep",
"Usable context", "Cold starts", "Prompt-cache effect").
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from foundry_tui.engine.bench.results import (
    COLD,
    CONTEXT,
    SWEEP,
    BenchResults,
    ColdSummary,
    ContextSummary,
    MetricSummary,
    ModelResult,
    RequestResult,
    SweepSummary,
)
from foundry_tui.engine.bench.summaries import level_status
from foundry_tui.text import safe_line

COLD_PROMPT = 0  # the cold starts send the prompt set's first prompt (engine.bench.phases)

# Repeated prompts answered this much faster than their first round look like a prompt (prefix) cache at work.
PROMPT_CACHE_RATIO = 0.5


def _max(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _by_model(results: BenchResults, phase: str) -> dict[str, list[RequestResult]]:
    out: dict[str, list[RequestResult]] = {}
    for r in results.requests:
        if r.phase == phase:
            out.setdefault(r.model, []).append(r)
    return out


def _phase_status(model: ModelResult, rows: Sequence[RequestResult], planned: int | None) -> str:
    if model.status in ("pending", "running") and len(rows) < (planned or 0):
        return "running" if rows else "pending"
    if not rows and model.status not in ("pending", "running"):  # the phase never ran: stopped, or not reached
        return "cancelled" if model.status == "cancelled" else "skipped"
    if any(r.status == "cancelled" for r in rows) or (model.status == "cancelled" and len(rows) < (planned or 0)):
        return "cancelled"
    return level_status("done", planned, rows)


# -- the prompt-length sweep ---------------------------------------------------------------------------------


def sweep_summaries(results: BenchResults) -> list[SweepSummary]:
    """One per model × --prompt-tokens length, in run order."""
    lengths = results.settings.prompt_tokens
    if not lengths:
        return []
    by_model = _by_model(results, SWEEP)
    out = []
    for model in results.models:
        rows = by_model.get(model.model, [])
        for target in lengths:
            out.append(_sweep_point(model, target, [r for r in rows if r.prompt_tokens_target == target],
                                    results.settings.rounds))  # fmt: skip
    return out


def _sweep_point(model: ModelResult, target: int, rows: list[RequestResult], rounds: int) -> SweepSummary:
    ok = [r for r in rows if r.ok]
    status = _phase_status(model, rows, rounds)
    error = next((r.error for r in rows if r.status == "error"), None)
    return SweepSummary(
        model=model.model,
        alias=model.alias,
        endpoint=model.endpoint,
        prompt_tokens_target=target,
        exact=all(r.prompt_tokens_exact for r in rows) if rows else None,
        status=status,
        error=safe_line(error, 300) if error else None,
        n_planned=rounds,
        n_ok=len(ok),
        n_failed=sum(1 for r in rows if r.status == "error"),
        prompt_tokens=MetricSummary.of(r.prompt_tokens for r in ok),
        ttft_ms=MetricSummary.of(r.ttft_ms for r in ok),
        prefill_tps=MetricSummary.of(r.prefill_tps for r in ok),
        decode_tps=MetricSummary.of(r.decode_tps for r in ok),
        e2e_ms=MetricSummary.of(r.e2e_ms for r in ok),
        memory_mb=_max([r.memory_mb for r in ok]),
        tokens_estimated=any(r.tokens_estimated for r in ok),
    )


# -- the usable context --------------------------------------------------------------------------------------


def probe_first_ms(request: RequestResult) -> float | None:
    """When a context probe's first piece came: its TTFT, or a reasoning piece's time when no answer text did."""
    return request.ttft_ms if request.ttft_ms is not None else request.first_piece_ms


def context_works(request: RequestResult, ttft_limit_s: float | None) -> bool:
    """A context probe worked: it was answered (answer or reasoning text), its first piece within the limit."""
    first = probe_first_ms(request)
    if not request.ok or first is None:
        return False
    return ttft_limit_s is None or first <= ttft_limit_s * 1000


def context_summaries(results: BenchResults) -> list[ContextSummary]:
    if not results.settings.find_context:
        return []
    by_model = _by_model(results, CONTEXT)
    limit = results.settings.context_ttft_limit_s
    return [_context(model, by_model.get(model.model, []), limit, results.settings.context_max_tokens)
            for model in results.models]  # fmt: skip


def _context(model: ModelResult, rows: list[RequestResult], limit_s: float | None, cap: int | None) -> ContextSummary:
    probes = [r for r in rows if r.status != "cancelled" and r.prompt_tokens_target is not None]
    good = [r for r in probes if context_works(r, limit_s)]
    best = max(good, key=lambda r: r.prompt_tokens_target or 0, default=None)
    top = best.prompt_tokens_target if best is not None else None
    above = [
        r for r in probes if not context_works(r, limit_s) and (top is None or (r.prompt_tokens_target or 0) > top)
    ]
    first_fail = min(above, key=lambda r: r.prompt_tokens_target or 0, default=None)
    advertised = model.context_length
    cancelled = any(r.status == "cancelled" for r in rows)
    if not probes:
        status = "cancelled" if cancelled else ("pending" if model.status in ("pending", "running") else "skipped")
    elif cancelled:
        status = "cancelled"
    else:
        status = "ok" if best is not None else "error"
    why: str | None = None
    failure: str | None = None
    if first_fail is not None:
        first = probe_first_ms(first_fail)
        if first_fail.ok and first is None:
            why, failure = "error", "answered with no text at all"
        elif first_fail.ok or first_fail.error_kind == "first_token_timeout":
            took = f"the first token took {first / 1000:.1f} s" if first_fail.ok and first else "no first token came"
            why, failure = "ttft_limit", f"{took}, over the {limit_s or 0:g} s limit"
        else:
            why, failure = "error", safe_line(first_fail.error or first_fail.status, 300)
    elif best is not None and status == "ok":
        why = "max" if cap is not None else "advertised" if advertised else "default"
    verdict = _verdict(advertised, best, first_fail, why, status)
    return ContextSummary(
        model=model.model,
        alias=model.alias,
        endpoint=model.endpoint,
        status=status,
        advertised=advertised,
        works_up_to=top,
        works_up_to_prompt_tokens=best.prompt_tokens if best is not None else None,
        failed_at=first_fail.prompt_tokens_target if first_fail is not None else None,
        stopped_because=why,
        failure=failure,
        ttft_ms_at_max=best.ttft_ms if best is not None else None,
        memory_mb_at_max=best.memory_mb if best is not None else None,
        exact=all(r.prompt_tokens_exact for r in probes) if probes else None,
        probes=len(probes),
        verdict=verdict,
    )


def _verdict(
    advertised: int | None, best: RequestResult | None, fail: RequestResult | None, why: str | None, status: str
) -> str:
    """'advertised 131072, works up to 8192 on this machine (failed at 8704: …)'."""
    head = f"advertised {advertised}" if advertised else "advertised: unknown"
    if status in ("pending", "skipped"):
        return f"{head}, not searched"
    if best is None:
        shortest = fail.prompt_tokens_target if fail is not None else None
        return f"{head}, failed even at {shortest} tokens" if shortest else f"{head}, no probe finished"
    approx = "" if best.prompt_tokens_exact else "~"
    sent = f" ({best.prompt_tokens} with the chat template)" if best.prompt_tokens else ""
    line = f"{head}, works up to {approx}{best.prompt_tokens_target}{sent} on this machine"
    if why == "ttft_limit" and fail is not None:
        line += f" (at {fail.prompt_tokens_target} the first token took over the limit)"
    elif why == "error" and fail is not None:
        line += f" (fails at {fail.prompt_tokens_target})"
    elif why in ("advertised", "max", "default"):
        line += " (the longest tried)"
    if status == "cancelled":
        line += " — search stopped early"
    return line


# -- cold starts ---------------------------------------------------------------------------------------------


def _warm_ttft_p50(results: BenchResults, model: str, prompt_index: int) -> float | None:
    """The warm TTFT p50 of one prompt at concurrency 1, streamed: what a cold start of that prompt compares with
    (another prompt's length would skew the ratio)."""
    rows = [r for r in results.level_requests() if r.model == model and r.prompt_index == prompt_index
            and r.concurrency == 1 and r.mode == "stream" and r.ok and not r.cold]  # fmt: skip
    return MetricSummary.of(r.ttft_ms for r in rows).p50


def cold_summaries(results: BenchResults, warm_ttft_p50: dict[str, float | None]) -> list[ColdSummary]:
    """`warm_ttft_p50`: model → the warm TTFT p50 of the prompt the cold starts send (COLD_PROMPT)."""
    planned = results.settings.cold
    if not planned:
        return []
    by_model = _by_model(results, COLD)
    out = []
    for model in results.models:
        rows = by_model.get(model.model, [])
        ok = [r for r in rows if r.ok]
        note = next((n for n in model.notes if n.startswith("cold starts")), None)
        status = "skipped" if note and not rows else _phase_status(model, rows, planned)
        ttft = MetricSummary.of(r.ttft_ms for r in ok)
        warm = warm_ttft_p50.get(model.model)
        out.append(
            ColdSummary(
                model=model.model,
                alias=model.alias,
                endpoint=model.endpoint,
                status=status,
                note=note,
                n=len(ok),
                load_s=MetricSummary.of(r.load_s for r in rows if r.load_s is not None),
                ttft_ms=ttft,
                e2e_ms=MetricSummary.of(r.e2e_ms for r in ok),
                warm_ttft_p50_ms=warm,
                cold_over_warm=ttft.p50 / warm if ttft.p50 is not None and warm else None,
                memory_mb=_max([r.memory_mb for r in ok]),
            )
        )
    return out


# -- warnings ------------------------------------------------------------------------------------------------


def note_first_ttft(model: ModelResult, warmup: RequestResult, prompts: int) -> None:
    """A warmup ended: keep its prompt's first warm TTFT on its level (what the repeats are compared with below)."""
    if not warmup.ok or warmup.cold or warmup.ttft_ms is None or not 0 <= warmup.prompt_index < prompts:
        return
    level = next((lv for lv in reversed(model.levels)
                  if (lv.concurrency, lv.mode) == (warmup.concurrency, warmup.mode)), None)  # fmt: skip
    if level is None:
        return
    if level.first_ttft_ms is None:
        level.first_ttft_ms = [None] * prompts
    if level.first_ttft_ms[warmup.prompt_index] is None:
        level.first_ttft_ms[warmup.prompt_index] = warmup.ttft_ms


def prompt_cache_warnings(results: BenchResults) -> list[str]:
    """Per model (concurrency 1, streamed): for each prompt, the median TTFT of its repeats over its first warm
    send's (its warmup's, else round 1's); when the median of those ratios is below PROMPT_CACHE_RATIO, a
    warning."""
    out = []
    for model in results.models:
        rows = [r for r in results.level_requests() if r.model == model.model and r.concurrency == 1
                and r.mode == "stream" and r.ok and not r.cold and r.ttft_ms]  # fmt: skip
        level = next((lv for lv in model.levels if (lv.concurrency, lv.mode) == (1, "stream")), None)
        warmed = level.first_ttft_ms if level is not None and level.first_ttft_ms else []
        ratios = []
        for prompt in sorted({r.prompt_index for r in rows}):
            ttfts = {r.round: r.ttft_ms for r in rows if r.prompt_index == prompt and r.ttft_ms}
            warmup = warmed[prompt] if prompt < len(warmed) else None
            # The baseline is the prompt's first send: its warmup when it had one (every round repeats it then).
            first = warmup or ttfts.get(1)
            later = [t for k, t in ttfts.items() if k >= (1 if warmup else 2)]
            if first and later:
                ratios.append(statistics.median(later) / first)
        if ratios and statistics.median(ratios) < PROMPT_CACHE_RATIO:
            share = statistics.median(ratios) * 100
            out.append(
                f"{safe_line(model.model, 120)}: likely prompt-cache effect: repeated prompts' TTFT is {share:.0f}% "
                f"of their first send's (median over {len(ratios)} prompts); TTFT may understate a fresh prompt's"
            )
    return out


def build_phase_summaries(results: BenchResults) -> None:
    """Fill results.sweep, .context, .cold_starts and .warnings from its requests (after `summaries`)."""
    warm = {model.model: _warm_ttft_p50(results, model.model, COLD_PROMPT) for model in results.models}
    results.sweep = sweep_summaries(results)
    results.context = context_summaries(results)
    results.cold_starts = cold_summaries(results, warm)
    results.warnings = prompt_cache_warnings(results)


__all__ = ["PROMPT_CACHE_RATIO", "build_phase_summaries", "context_works", "note_first_ttft"]

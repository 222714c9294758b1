"""Rows for the phases after the levels — the prompt-length sweep, cold starts, the usable context — shared by the
CLI's tables, the Markdown report and the TUI, so every front end writes each figure the same way."""

from __future__ import annotations

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench.results import BenchResults, ColdSummary, ContextSummary, RequestResult, SweepSummary
from foundry_tui.engine.bench.tables import estimated
from foundry_tui.text import safe_line

MISSING = units.MISSING

# What a phase is about to do (the CLI's progress and the TUI's status line), by PhaseStarted.phase.
PHASE_LINES = {
    "sweep": "prompt-length sweep: {n} requests",
    "cold": "cold starts: {n} reloads, one request after each",
    "context": "usable context: searching (doubling, then bisecting)",
}

PHASE_WORDS = {"sweep": "sweep", "context": "context probe", "cold": "cold start"}


def phase_line(phase: str, planned: int) -> str:
    return PHASE_LINES[phase].format(n=planned) if phase in PHASE_LINES else phase


def request_place(r: RequestResult) -> str:
    """Which request of its run this is, in words: 'prompt 2 round 1', '~512 tokens round 2', 'reload 3 (load …)'."""
    if r.phase == "cold":
        return f"reload {r.round} (load {metrics.LOAD_TIME.fmt(r.load_s)})"
    if r.prompt_tokens_target is not None:
        approx = "" if r.prompt_tokens_exact else "~"
        return f"{approx}{r.prompt_tokens_target} tokens" + (f" round {r.round}" if r.phase == "sweep" else "")
    return f"prompt {r.prompt_index} round {r.round}"


def phase_request_line(r: RequestResult) -> str:
    """One phase request's outcome for a status line: '~512 tokens round 2: TTFT 311 ms · prefill ≈1650 tok/s'."""
    where = f"{PHASE_WORDS.get(r.phase, r.phase)} {request_place(r)}"
    if not r.ok:
        return f"{where}: {r.status}: {safe_line(r.error or 'no reason given', 160)}"
    return f"{where}: TTFT {metrics.TTFT.fmt(r.ttft_ms)} · prefill ≈{metrics.PREFILL.fmt(r.prefill_tps)}"


SWEEP_HEADERS = (
    "MODEL",
    "PROMPT",  # the generated user message, tokens (~: estimated without the model's tokenizer)
    "SENT",  # prompt tokens as the server counted them, chat template in (p50)
    "STATUS",
    "TTFT P50",
    "PREFILL ≈",
    "DECODE",
    "E2E P50",
    "MEMORY",
)


def sweep_status(point: SweepSummary) -> str:
    if point.status in ("ok", "pending", "skipped"):
        return point.status
    return f"{point.status} {point.n_ok}/{point.n_planned or 0}"


def sweep_rows(results: BenchResults) -> list[list[str]]:
    return [_sweep_row(p) for p in results.sweep]


def _sweep_row(p: SweepSummary) -> list[str]:
    approx = "" if p.exact or p.exact is None else "~"
    return [
        p.model,
        f"{approx}{p.prompt_tokens_target}",
        metrics.PROMPT_TOKENS.fmt(p.prompt_tokens.p50).removesuffix(" tokens"),
        sweep_status(p),
        metrics.TTFT.fmt(p.ttft_ms.p50),
        metrics.PREFILL.fmt(p.prefill_tps.p50),
        estimated(metrics.DECODE.fmt(p.decode_tps.p50), p.tokens_estimated),
        metrics.E2E.fmt(p.e2e_ms.p50),
        metrics.MODEL_MEMORY.fmt(p.memory_mb),
    ]


COLD_HEADERS = ("MODEL", "RELOADS", "LOAD P50", "LOAD P95", "COLD TTFT P50", "COLD TTFT P95", "WARM TTFT P50",
                "COLD/WARM")  # fmt: skip


def cold_rows(results: BenchResults) -> list[list[str]]:
    return [_cold_row(c) for c in results.cold_starts]


def _cold_row(c: ColdSummary) -> list[str]:
    if c.note and not c.n:
        return [c.model, "not measured", *([MISSING] * (len(COLD_HEADERS) - 2))]  # why: cold_notes
    ratio = f"{c.cold_over_warm:.1f}×" if c.cold_over_warm is not None else MISSING
    return [
        c.model,
        str(c.n),
        metrics.COLD_LOAD.fmt(c.load_s.p50),
        metrics.COLD_LOAD.fmt(c.load_s.p95),
        metrics.COLD_TTFT.fmt(c.ttft_ms.p50),
        metrics.COLD_TTFT.fmt(c.ttft_ms.p95),
        metrics.TTFT.fmt(c.warm_ttft_p50_ms),
        ratio,
    ]


def cold_phrase(c: ColdSummary) -> str:
    """'cold TTFT p50 812 ms over 3 reloads': the cold starts in a few words (the pane's detail, the plots' lines)."""
    return f"cold TTFT p50 {metrics.COLD_TTFT.fmt(c.ttft_ms.p50)} over {units.count(c.n, 'reload')}"


def cold_notes(results: BenchResults) -> list[str]:
    """Why a model's cold starts were not measured, a line each (its row says "not measured")."""
    return [f"{safe_line(c.model, 120)}: {safe_line(c.note, 200)}" for c in results.cold_starts if c.note and not c.n]


def context_line(c: ContextSummary) -> str:
    """'smollm2…: advertised 8192, works up to 8176 on this machine (the longest tried) · TTFT 4.1 s · memory 650 MB'"""
    parts = [f"{safe_line(c.model, 120)}: {c.verdict}"]
    if c.works_up_to is not None:
        parts.append(f"TTFT {metrics.TTFT.fmt(c.ttft_ms_at_max)}")
        parts.append(f"memory {metrics.MODEL_MEMORY.fmt(c.memory_mb_at_max)}")
    if c.failure:
        parts.append(f"longer: {safe_line(c.failure, 200)}")
    parts.append(units.count(c.probes, "probe"))
    return " · ".join(parts)


def context_lines(results: BenchResults) -> list[str]:
    return [context_line(c) for c in results.context]


__all__ = [
    "COLD_HEADERS",
    "SWEEP_HEADERS",
    "cold_notes",
    "cold_rows",
    "context_line",
    "context_lines",
    "sweep_rows",
    "sweep_status",
]

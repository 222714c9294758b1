"""The benchmark's tables as text cells: the CLI prints them, the Markdown report and the TUI reuse them.

Every number goes through the metrics registry (engine.metrics). A figure made from an estimated token count
(a server that streams several tokens per chunk and sends no usage, with nothing to count them) carries `~` in
every table: tokens, decode rate and output throughput. Status cells say what happened with counts ("partial
9/16", "cancelled 7/12"), never a bare "ok" over requests that failed.
"""

from __future__ import annotations

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench.memory import REMOTE
from foundry_tui.engine.bench.results import BenchResults, Summary
from foundry_tui.engine.quality import QualitySummary

MISSING = units.MISSING
ESTIMATED = "~"


def quality_text(quality: QualitySummary) -> str:
    parts = []
    if quality.rubric_mean is not None:
        parts.append(units.percent(quality.rubric_mean * 100))
    if quality.judge_mean is not None:
        parts.append(f"judge {metrics.JUDGE.fmt(quality.judge_mean)}")
    if quality.manual_mean is not None:
        parts.append(f"manual {metrics.JUDGE.fmt(quality.manual_mean)}")
    return " · ".join(parts) or MISSING


def estimated(text: str, is_estimate: bool) -> str:
    """`~` before a figure made from an estimated token count (not before `–`)."""
    return ESTIMATED + text if is_estimate and text != MISSING else text


def tokens_text(mean: float | None, estimate: bool) -> str:
    """A mean token count with one decimal; `~` when the count is estimated (docs/metrics.md)."""
    return MISSING if mean is None else estimated(units.number(mean, 1), estimate)


def memory_text(summary: Summary) -> str:
    """The model's own memory; "remote" for an endpoint on another machine (its memory cannot be seen)."""
    if summary.model_memory_mb is None and summary.model_memory_note == REMOTE:
        return "remote"
    return metrics.MODEL_MEMORY.fmt(summary.model_memory_mb)


def level_status_text(summary: Summary) -> str:
    """'ok', 'partial 1/8', 'error 0/8', 'cancelled 5/12': the level's status and its ok / planned requests."""
    if summary.status in ("ok", "pending", "skipped"):
        return summary.status
    planned = summary.n_planned if summary.n_planned is not None else summary.n_requests
    return f"{summary.status} {summary.n_ok}/{planned}"


def model_counts(results: BenchResults, model: str) -> tuple[int, int]:
    """(ok requests, planned requests) of a model over all its levels."""
    rows = [s for s in results.summaries if s.model == model]
    planned = sum(s.n_planned if s.n_planned is not None else s.n_requests for s in rows)
    return sum(s.n_ok for s in rows), planned


def model_status_text(results: BenchResults, model: str) -> str:
    """A model's status with its counts, and where it went wrong: "partial 9/16 (concurrency 8: partial 1/8)"."""
    text = _short_status(results, model)
    if " " not in text:  # ok, pending, running, skipped: nothing to count
        return text
    bad = [s for s in results.summaries if s.model == model and s.status not in ("ok", "skipped")]
    where = ", ".join(f"concurrency {s.concurrency} {s.mode}: {level_status_text(s)}" for s in bad)
    return f"{text} ({where})" if where and len(bad) < len([s for s in results.summaries if s.model == model]) else text


SUMMARY_HEADERS = (
    "MODEL",
    "STATUS",
    "LATENCY AVG",
    "LATENCY P95",
    "TTFT P50",
    "PREFILL ≈",  # prompt tokens / TTFT: includes queueing and scheduling
    "TOK/S",
    "TOKENS",
    "MEMORY",  # the model's own (engine.bench.memory), never this process's RSS
    "LOAD",
    "QUALITY",
    "DISK",
    "LICENSE",
)


def goodput_text(summary: Summary) -> str:
    """'75% (9/12)': the share of requests meeting every SLO target, with the counts behind it."""
    if summary.goodput_share is None or summary.n_good is None or summary.n_slo_counted is None:
        return MISSING
    return f"{metrics.GOODPUT.fmt(summary.goodput_share * 100)} ({summary.n_good}/{summary.n_slo_counted})"


def with_goodput(results: BenchResults, headers: tuple[str, ...]) -> tuple[str, ...]:
    """The headers plus GOODPUT when the run had an SLO."""
    return (*headers, "GOODPUT") if results.settings.slo else headers


def summary_rows(results: BenchResults) -> list[list[str]]:
    """One row per model: its first concurrency level, streamed (latency = e2e; tok/s = mean decode rate); the
    status is the model's over every level. With an SLO, a last GOODPUT column (`with_goodput` for headers)."""
    first_level = (results.settings.concurrency or [1])[0]
    slo = bool(results.settings.slo)
    return [
        [
            s.model,
            _short_status(results, s.model),
            metrics.E2E.fmt(s.e2e_ms.mean),
            metrics.E2E.fmt(s.e2e_ms.p95),
            metrics.TTFT.fmt(s.ttft_ms.p50),
            metrics.PREFILL.fmt(s.prefill_tps.p50),
            estimated(metrics.DECODE.fmt(s.decode_tps.mean), s.tokens_estimated),
            tokens_text(s.completion_tokens.mean, s.tokens_estimated),
            memory_text(s),
            metrics.LOAD_TIME.fmt(s.load_s),
            quality_text(s.quality),
            units.size(s.size_mb),
            s.license or MISSING,
            *([goodput_text(s)] if slo else []),
        ]
        for s in results.summaries
        if s.concurrency == first_level and s.mode == "stream"
    ]


def _short_status(results: BenchResults, model: str) -> str:
    entry = results.model(model)
    status = entry.status if entry is not None else "pending"
    if status in ("ok", "pending", "running", "skipped"):
        return status
    ok, planned = model_counts(results, model)
    return f"{status} {ok}/{planned}" if planned else status


THROUGHPUT_HEADERS = (
    "MODEL",
    "MODE",
    "CONC",
    "STATUS",
    "REQ/S",
    "OUT TOK/S",
    "STEADY REQ/S",
    "STEADY TOK/S",
    "TTFT P50",
    "E2E P95",
)


def throughput_rows(results: BenchResults) -> list[list[str]]:
    """Per model × level × mode: whole-level throughput (over the level's duration) and steady-state throughput
    (over the window in which all its streams were busy; docs/metrics.md). With an SLO, a last GOODPUT column."""
    slo = bool(results.settings.slo)
    return [
        [
            s.model,
            s.mode,
            str(s.concurrency),
            level_status_text(s),
            metrics.REQUEST_THROUGHPUT.fmt(s.request_throughput_rps),
            estimated(metrics.OUTPUT_THROUGHPUT.fmt(s.output_throughput_tps), s.tokens_estimated),
            metrics.REQUEST_THROUGHPUT.fmt(s.steady_request_throughput_rps),
            estimated(metrics.OUTPUT_THROUGHPUT.fmt(s.steady_output_throughput_tps), s.tokens_estimated),
            metrics.TTFT.fmt(s.ttft_ms.p50),
            metrics.E2E.fmt(s.e2e_ms.p95),
            *([goodput_text(s)] if slo else []),
        ]
        for s in results.summaries
    ]


__all__ = [
    "SUMMARY_HEADERS",
    "THROUGHPUT_HEADERS",
    "estimated",
    "goodput_text",
    "level_status_text",
    "memory_text",
    "model_status_text",
    "quality_text",
    "summary_rows",
    "throughput_rows",
    "tokens_text",
    "with_goodput",
]

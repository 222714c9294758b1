"""A comparison (engine.bench.compare) as table rows and note lines, for the CLI and benchmark_report.md.

Values go through the metrics registry (engine.metrics) with their units. CHANGE is the row's paired effect (the
median over prompts of each prompt's median change), or for a comparison from an older file the change of the
pooled medians; PROMPTS is how many prompts were paired. Cells hold file text (model ids), so callers print them
through their own escaping (the CLI's table, the Markdown cells).
"""

from __future__ import annotations

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench.comparison import Comparison
from foundry_tui.text import safe_line

COMPARE_HEADERS = ("MODEL", "CONC", "MODE", "METRIC", "BASELINE P50", "NEW P50", "CHANGE", "PROMPTS", "VERDICT")


def change_text(pct: float | None) -> str:
    """A relative change: `+8.0%`, `−25.5%`."""
    if pct is None:
        return units.MISSING
    return f"{'+' if pct >= 0 else units.MINUS}{abs(pct):.1f}%"


def change_in(metric: str, pct: float | None) -> str:
    """A row's change: relative for a figure, in percentage points for a share (goodput)."""
    if metric == "goodput_share" and pct is not None:
        return f"{'+' if pct >= 0 else units.MINUS}{abs(pct):.1f} pts"
    return change_text(pct)


def comparison_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for row in comparison.rows:
        metric = metrics.REGISTRY.get(row.metric)
        a, b = (metric.fmt(row.a_median), metric.fmt(row.b_median)) if metric else (
            units.number(row.a_median, 2), units.number(row.b_median, 2))  # fmt: skip
        change = row.effect_pct if row.effect_pct is not None else row.change_pct
        rows.append(
            [
                row.model,
                str(row.concurrency),
                row.mode,
                row.metric,
                a,
                b,
                change_in(row.metric, change),
                units.MISSING if row.n_prompts is None else str(row.n_prompts),
                row.verdict,
            ]
        )
    return rows


def comparison_notes(comparison: Comparison) -> list[str]:
    """Lines to print with the table: every warning (settings that differ …), then how verdicts were reached."""
    lines = [f"warning: {safe_line(w)}" for w in comparison.warnings or []]
    gate = "" if comparison.min_effect_pct is None else f", min effect {comparison.min_effect_pct:g}%"
    correction = f", {comparison.correction}" if comparison.correction else ""
    lines.append(f"method: {safe_line(comparison.method)}; alpha {comparison.alpha:g}{gate}{correction}")
    return lines


__all__ = ["COMPARE_HEADERS", "change_text", "comparison_notes", "comparison_rows"]

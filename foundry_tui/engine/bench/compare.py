"""Compare two benchmark results (baseline A, new B) metric by metric with a significance verdict.

Samples are per request (ok requests of the same model id, concurrency level and mode). ITL is compared through
each request's median gap, because gaps inside one request are not independent samples. The test is the
two-sided Mann-Whitney U (stats.mann_whitney_u: normal approximation, tie and continuity corrections); the
verdict says "slower"/"faster" (or "more/fewer tokens") only when p < alpha, else "no significant change".
Definitions: docs/metrics.md, "Comparing runs".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foundry_tui.engine.bench.comparison import Comparison, ComparisonRow, Key
from foundry_tui.engine.bench.results import BenchResults
from foundry_tui.engine.stats import MannWhitney, mann_whitney_u

# metric → which direction is better: "lower", "higher", or None (neither: token counts)
COMPARED: dict[str, str | None] = {
    "ttft_ms": "lower",
    "itl_ms": "lower",
    "e2e_ms": "lower",
    "decode_tps": "higher",
    "completion_tokens": None,
}
MIN_SAMPLES = 2
METHOD = (
    "two-sided Mann-Whitney U on per-request values (ITL: each request's median gap), normal approximation "
    "with tie and continuity correction"
)


def _samples(results: BenchResults, key: Key, metric: str) -> list[float]:
    model, concurrency, mode = key
    out: list[float] = []
    for r in results.requests:
        if r.model != model or r.concurrency != concurrency or r.mode != mode or not r.ok:
            continue
        if metric == "itl_ms":
            if r.itl_ms:
                out.append(float(np.median(r.itl_ms)))
        else:
            value = r.value(metric)
            if value is not None:
                out.append(float(value))
    return out


def p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def verdict(metric: str, a: Sequence[float], b: Sequence[float], alpha: float) -> tuple[str, bool, MannWhitney | None]:
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return f"not enough data (n={len(a)} vs {len(b)}; need {MIN_SAMPLES} each)", False, None
    test = mann_whitney_u(a, b)
    if test.p >= alpha:
        return f"no significant change ({p_text(test.p)})", False, test
    a_med, b_med = float(np.median(a)), float(np.median(b))
    # Direction from the medians; if they tie, from U (U of A above its mean: A tends to be larger).
    b_larger = b_med > a_med if b_med != a_med else test.u < test.n1 * test.n2 / 2
    better = COMPARED[metric]
    if better is None:
        word = "more tokens" if b_larger else "fewer tokens"
    elif better == "lower":
        word = "slower" if b_larger else "faster"
    else:
        word = "faster" if b_larger else "slower"
    return f"{word} ({p_text(test.p)})", True, test


def _keys(results: BenchResults) -> list[Key]:
    seen: list[Key] = []
    for s in results.summaries:
        key = (s.model, s.concurrency, s.mode)
        if key not in seen:
            seen.append(key)
    return seen


def compare_results(
    baseline: BenchResults,
    new: BenchResults,
    *,
    alpha: float = 0.05,
    baseline_label: str = "A",
    new_label: str = "B",
) -> Comparison:
    """Rows for every (model, concurrency, mode) present in both, and lists of what only one side has."""
    a_keys, b_keys = _keys(baseline), _keys(new)
    rows = []
    for key in [k for k in b_keys if k in a_keys]:
        for metric in COMPARED:
            a = _samples(baseline, key, metric)
            b = _samples(new, key, metric)
            if not a and not b:
                continue
            text, significant, test = verdict(metric, a, b, alpha)
            a_med = float(np.median(a)) if a else None
            b_med = float(np.median(b)) if b else None
            change = (b_med - a_med) / a_med * 100 if a_med and b_med is not None else None
            rows.append(
                ComparisonRow(
                    model=key[0],
                    concurrency=key[1],
                    mode=key[2],
                    metric=metric,
                    a_n=len(a),
                    b_n=len(b),
                    a_median=a_med,
                    b_median=b_med,
                    change_pct=change,
                    u=test.u if test else None,
                    p=test.p if test else None,
                    significant=significant,
                    verdict=text,
                )
            )
    return Comparison(
        baseline=baseline_label,
        new=new_label,
        alpha=alpha,
        method=METHOD,
        rows=rows,
        only_in_baseline=[k for k in a_keys if k not in b_keys],
        only_in_new=[k for k in b_keys if k not in a_keys],
    )

"""Summaries and significance tests, in numpy. Definitions: docs/metrics.md ("Summaries", "Comparing runs").

Percentiles use numpy's default linear interpolation (method="linear"), like vLLM and most peers. The
Mann-Whitney U test uses the normal approximation with tie correction and continuity correction; it matches
`scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")`. `van_elteren` is its stratified
form (one stratum per prompt in `compare`): with a single stratum it gives the same p-value. `holm` and
`benjamini_hochberg` adjust a family of p-values for multiple testing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

SUMMARY_KEYS = ("mean", "p50", "p95", "p99", "min", "max", "stdev", "n")


def clean(values: Iterable[float | int | None]) -> np.ndarray:
    """Values as a float array without None / NaN / inf."""
    data = np.array([float(v) for v in values if v is not None], dtype=float)
    finite: np.ndarray = data[np.isfinite(data)]
    return finite


def summarize(values: Iterable[float | int | None]) -> dict[str, Any]:
    """{mean, p50, p95, p99, min, max, stdev, n}: stdev is the sample stdev (ddof=1), null below 2 values;
    every other figure is null when there are no values."""
    data = clean(values)
    n = int(data.size)
    if n == 0:
        return {key: (0 if key == "n" else None) for key in SUMMARY_KEYS}
    p50, p95, p99 = (float(x) for x in np.percentile(data, [50, 95, 99], method="linear"))
    return {
        "mean": float(data.mean()),
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "min": float(data.min()),
        "max": float(data.max()),
        "stdev": float(data.std(ddof=1)) if n >= 2 else None,
        "n": n,
    }


def rankdata(data: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties get the average of the ranks they span."""
    order = np.argsort(data, kind="mergesort")
    ranks = np.empty(data.size, dtype=float)
    ordered = data[order]
    # Start index of each run of equal values in sorted order.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], data.size]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0  # mean of ranks start+1 … end
    return ranks


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U statistic of the first sample (scipy's convention)
    z: float  # continuity-corrected z of max(U1, U2); 0 when every value is tied
    p: float  # two-sided p-value, normal approximation
    n1: int
    n2: int
    method: str = "mann-whitney-u, normal approximation, tie + continuity correction, two-sided"


def mann_whitney_u(a: Iterable[float | int | None], b: Iterable[float | int | None]) -> MannWhitney:
    """Two-sided Mann-Whitney U test (no scipy): are values in `b` shifted against values in `a`?"""
    x, y = clean(a), clean(b)
    n1, n2 = int(x.size), int(y.size)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs at least one value in each sample")
    ranks = rankdata(np.concatenate((x, y)))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    u2 = n1 * n2 - u1
    n = n1 + n2
    _, counts = np.unique(np.concatenate((x, y)), return_counts=True)
    tie_term = float((counts.astype(float) ** 3 - counts).sum())
    variance = n1 * n2 / 12.0 * ((n + 1) - (tie_term / (n * (n - 1)) if n > 1 else 0.0))
    if variance <= 0:
        return MannWhitney(u1, 0.0, 1.0, n1, n2)
    mean = n1 * n2 / 2.0
    z = (max(u1, u2) - mean - 0.5) / math.sqrt(variance)
    p = min(1.0, max(0.0, math.erfc(z / math.sqrt(2.0))))  # 2 × normal survival function
    return MannWhitney(u1, z, p, n1, n2)


@dataclass(frozen=True)
class StratifiedRankSum:
    """Van Elteren's stratified rank-sum test: B against A, ranked within each stratum."""

    t: float  # Σ over strata of (rank sum of B in the stratum) / (n_s + 1)
    expected: float  # E[t] when A and B have the same distribution in every stratum
    variance: float  # Var[t] under that hypothesis, with the tie correction; 0 when every stratum is all ties
    z: float  # continuity-corrected, signed: > 0 when B tends to be larger; 0 when |t − E| is within the correction
    p: float  # two-sided, normal approximation
    strata: int  # strata with values on both sides (the others carry no information)
    n1: int  # values of A in those strata
    n2: int  # values of B in those strata
    method: str = "van Elteren stratified rank-sum, normal approximation, tie + continuity correction, two-sided"


def _stratum_moments(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(rank sum of y, its mean, its variance with the tie correction) for one stratum."""
    a, b = int(x.size), int(y.size)
    n = a + b
    both = np.concatenate((x, y))
    ranks = rankdata(both)
    _, counts = np.unique(both, return_counts=True)
    tie_term = float((counts.astype(float) ** 3 - counts).sum())
    variance = a * b / 12.0 * ((n + 1) - (tie_term / (n * (n - 1)) if n > 1 else 0.0))
    return float(ranks[a:].sum()), b * (n + 1) / 2.0, max(variance, 0.0)


Strata = Iterable[tuple[Iterable[float | int | None], Iterable[float | int | None]]]


def van_elteren(strata: Strata) -> StratifiedRankSum:
    """Two-sided stratified rank-sum test: within each (a, b) stratum the values are ranked together and B's
    rank sum is weighted by 1 / (n_s + 1) (van Elteren 1960: locally most powerful for a shift of the same size
    in every stratum). Strata with no value on one side are skipped. The continuity correction is half the
    smallest weight: with one stratum (or equal-sized ones) exactly the Mann-Whitney correction of 0.5."""
    t = expected = variance = 0.0
    used, n1, n2 = 0, 0, 0
    weights: list[float] = []
    for a_values, b_values in strata:
        x, y = clean(a_values), clean(b_values)
        if x.size == 0 or y.size == 0:
            continue
        w = 1.0 / (x.size + y.size + 1)
        rank_sum, mean, var = _stratum_moments(x, y)
        t += w * rank_sum
        expected += w * mean
        variance += w * w * var
        weights.append(w)
        used, n1, n2 = used + 1, n1 + int(x.size), n2 + int(y.size)
    if used == 0:
        raise ValueError("the stratified rank-sum test needs a stratum with values on both sides")
    if variance <= 0:
        return StratifiedRankSum(t, expected, 0.0, 0.0, 1.0, used, n1, n2)
    correction = 0.5 * min(weights)
    excess = max(0.0, abs(t - expected) - correction)
    z = math.copysign(excess / math.sqrt(variance), t - expected) if excess > 0 else 0.0
    p = min(1.0, max(0.0, math.erfc(abs(z) / math.sqrt(2.0))))
    return StratifiedRankSum(t, expected, variance, z, p, used, n1, n2)


def van_elteren_floor(strata: Strata) -> float:
    """The smallest p-value `van_elteren` could give for these values: each stratum's values kept, but the larger
    ones all B's (or all A's, whichever is more extreme). The permutation variance depends only on the values, not
    on which side holds them, so this is exact. When it is not below alpha, no outcome with these sample sizes
    and ties could be significant: "not enough data" is the honest verdict."""
    ups: list[tuple[list[float], list[float]]] = []
    downs: list[tuple[list[float], list[float]]] = []
    for a_values, b_values in strata:
        x, y = clean(a_values), clean(b_values)
        ordered = sorted([*x.tolist(), *y.tolist()])
        a = int(x.size)
        ups.append((ordered[:a], ordered[a:]))
        downs.append((ordered[len(ordered) - a :], ordered[: len(ordered) - a]))
    return min(van_elteren(ups).p, van_elteren(downs).p)


def holm(p_values: Iterable[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order: p_(i) × (m − i + 1), made monotone, capped at 1.
    Rejecting where the adjusted p < alpha keeps the chance of any false alarm in the family ≤ alpha, under any
    dependence between the tests (latency metrics of one run move together)."""
    ps = [float(p) for p in p_values]
    m = len(ps)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda k: ps[k])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Iterable[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order: p_(i) × m / i, made monotone from the
    largest down, capped at 1. When no row truly changed it bounds the chance of any flag by alpha, as Holm does;
    when many rows changed together (a slower model: ITL, E2E and decode at every level) it keeps them all."""
    ps = [float(p) for p in p_values]
    m = len(ps)
    adjusted = [1.0] * m
    running = 1.0
    for rank, i in reversed(list(enumerate(sorted(range(m), key=lambda k: ps[k]), start=1))):
        running = min(running, m * ps[i] / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def fisher_exact(a_yes: int, a_n: int, b_yes: int, b_n: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2×2 table (yes, no) × (A, B): the probability, with the
    margins fixed, of a table at most as likely as the one seen (as scipy.stats.fisher_exact computes it)."""
    if not (0 <= a_yes <= a_n and 0 <= b_yes <= b_n) or a_n + b_n == 0:
        raise ValueError("counts must satisfy 0 <= yes <= n, with n > 0 on some side")
    yes, total = a_yes + b_yes, a_n + b_n
    denominator = math.comb(total, yes)

    def probability(k: int) -> float:  # k of the yes in A
        return math.comb(a_n, k) * math.comb(b_n, yes - k) / denominator

    seen = probability(a_yes)
    low, high = max(0, yes - b_n), min(a_n, yes)
    # 1e-7 relative slack: equal-probability tables must count as "at most as likely" despite rounding
    return min(1.0, sum(p for k in range(low, high + 1) if (p := probability(k)) <= seen * (1 + 1e-7)))

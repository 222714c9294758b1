"""Summaries and a significance test, in numpy. Definitions: docs/metrics.md ("Summaries", "Comparing runs").

Percentiles use numpy's default linear interpolation (method="linear"), like vLLM and most peers. The
Mann-Whitney U test uses the normal approximation with tie correction and continuity correction; it matches
`scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")`.
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

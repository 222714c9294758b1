"""Summaries, percentiles and the tests behind `bench` and `compare`: Mann-Whitney U, its stratified form (van
Elteren) and the multiple-testing corrections (docs/metrics.md)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from foundry_tui.engine.bench import BenchResults, RequestResult, Summary
from foundry_tui.engine.bench.compare import compare_results
from foundry_tui.engine.stats import (
    benjamini_hochberg,
    holm,
    mann_whitney_u,
    rankdata,
    summarize,
    van_elteren,
    van_elteren_floor,
)

# A fixed pair of samples with ties inside and across the samples.
A = [12.1, 13.4, 11.8, 12.1, 14.0, 12.9, 13.3, 12.1]
B = [13.9, 14.2, 12.1, 15.0, 14.8, 13.9, 16.1, 14.4, 13.3]
# Reference computed offline with scipy 1.17.1:
#   scipy.stats.mannwhitneyu(A, B, alternative="two-sided", method="asymptotic")  (use_continuity=True)
#   → statistic 10.0, pvalue 0.013436616682732022
#   scipy.stats.mannwhitneyu([1, 2, 3], [4, 5, 6], alternative="two-sided", method="asymptotic")
#   → statistic 0.0, pvalue 0.08085559837005224
SCIPY_U, SCIPY_P = 10.0, 0.013436616682732022
SCIPY_SMALL_P = 0.08085559837005224


def test_summary_matches_numpy_linear_percentiles() -> None:
    s = summarize(A)
    assert s["n"] == 8
    assert s["mean"] == pytest.approx(np.mean(A))
    assert [s["p50"], s["p95"], s["p99"]] == pytest.approx(list(np.percentile(A, [50, 95, 99])))
    assert s["p95"] == pytest.approx(13.79) and s["p99"] == pytest.approx(13.958)  # linear interpolation
    assert s["min"] == 11.8 and s["max"] == 14.0
    assert s["stdev"] == pytest.approx(np.std(A, ddof=1))


def test_summary_edge_cases() -> None:
    empty = summarize([])
    assert empty["n"] == 0 and empty["mean"] is None and empty["p99"] is None and empty["stdev"] is None
    one = summarize([5.0, None, float("nan")])  # None / NaN are not values
    assert one["n"] == 1 and one["p50"] == 5.0 and one["stdev"] is None


def test_rankdata_averages_ties() -> None:
    assert list(rankdata(np.array([3.0, 1.0, 3.0, 2.0]))) == [3.5, 1.0, 3.5, 2.0]


def test_mann_whitney_matches_scipy() -> None:
    result = mann_whitney_u(A, B)
    assert result.u == SCIPY_U
    assert result.p == pytest.approx(SCIPY_P, rel=1e-12)
    assert mann_whitney_u([1, 2, 3], [4, 5, 6]).p == pytest.approx(SCIPY_SMALL_P, rel=1e-12)


def test_mann_whitney_all_tied_and_symmetry() -> None:
    assert mann_whitney_u([1, 1, 1], [1, 1]).p == 1.0
    assert mann_whitney_u(B, A).p == pytest.approx(mann_whitney_u(A, B).p)
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])


def _results(model: str, values: list[float]) -> BenchResults:
    requests = [
        RequestResult(model=model, prompt_index=0, round=i + 1, concurrency=1, mode="stream", status="ok", e2e_ms=v,
                      ttft_ms=v / 10, decode_tps=1000 / v, completion_tokens=6, itl_ms=[v / 20, v / 20])
        for i, v in enumerate(values)
    ]  # fmt: skip
    summaries = [Summary(model=model, concurrency=1, mode="stream", status="ok")]
    return BenchResults(requests=requests, summaries=summaries)


def test_compare_results_rows() -> None:
    # Every request is prompt 0: one stratum, where the stratified test is Mann-Whitney's.
    comparison = compare_results(_results("m", A), _results("m", [x * 1.5 for x in B]))
    rows = {row.metric: row for row in comparison.rows}
    assert set(rows) == {"ttft_ms", "itl_ms", "e2e_ms", "decode_tps", "completion_tokens"}
    assert rows["e2e_ms"].verdict.startswith("slower (+") and rows["e2e_ms"].significant
    assert rows["e2e_ms"].p == pytest.approx(mann_whitney_u(A, [x * 1.5 for x in B]).p, rel=1e-12)
    assert rows["decode_tps"].verdict.startswith("slower (\N{MINUS SIGN}")
    assert rows["completion_tokens"].verdict == "no significant change (+0.0%, identical values)"
    assert rows["e2e_ms"].change_pct == pytest.approx((np.median(B) * 1.5 - np.median(A)) / np.median(A) * 100)
    assert rows["e2e_ms"].effect_pct == pytest.approx(rows["e2e_ms"].change_pct)  # one prompt: the same figure
    assert rows["itl_ms"].a_n == len(A) and rows["itl_ms"].n_prompts == 1  # one median gap per request
    other = compare_results(_results("m", A), _results("n", A))
    assert other.rows == [] and other.only_in_baseline == [("m", 1, "stream")]
    assert other.to_json()["only_in_baseline"] == [["m", 1, "stream"]]


# -- van Elteren ---------------------------------------------------------------------------------------------


def test_van_elteren_with_one_stratum_is_mann_whitney() -> None:
    for a, b in ((A, B), (B, A), ([1, 2, 3], [4, 5, 6]), ([1, 1, 2], [1, 2, 2, 2])):
        stratified = van_elteren([(a, b)])
        assert stratified.p == pytest.approx(mann_whitney_u(a, b).p, rel=1e-12)
    assert van_elteren([(A, B)]).p == pytest.approx(SCIPY_P, rel=1e-12)  # so: scipy's asymptotic p
    assert van_elteren([(A, B)]).z > 0 > van_elteren([(B, A)]).z  # signed: B larger → positive


def _exact_moments(strata: list[tuple[list[float], list[float]]]) -> tuple[float, float]:
    """Mean and variance of the van Elteren statistic over every relabelling within the strata (brute force)."""
    per_stratum = []
    for a, b in strata:
        values, n = a + b, len(a) + len(b)
        ranks = rankdata(np.array(values, dtype=float))
        sums = [sum(ranks[i] for i in chosen) / (n + 1) for chosen in itertools.combinations(range(n), len(b))]
        per_stratum.append(sums)
    totals = [sum(parts) for parts in itertools.product(*per_stratum)]
    return float(np.mean(totals)), float(np.var(totals))


def test_van_elteren_moments_match_the_exact_permutation_distribution() -> None:
    # Unequal strata, ties inside and across the two sides: the formulas against brute force.
    strata = [([3.0, 1.0], [2.0, 2.0]), ([5.0, 5.0, 7.0], [6.0, 5.0]), ([1.0, 2.0, 3.0], [9.0])]
    test = van_elteren(strata)
    mean, variance = _exact_moments(strata)
    assert test.expected == pytest.approx(mean, rel=1e-12) and test.variance == pytest.approx(variance, rel=1e-12)
    assert (test.strata, test.n1, test.n2) == (3, 8, 5)
    correction = 0.5 / 6  # half the smallest weight, 1 / (n_s + 1) of the largest stratum
    z = (abs(test.t - test.expected) - correction) / math.sqrt(test.variance)
    assert abs(test.z) == pytest.approx(z) and test.p == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_van_elteren_edge_cases() -> None:
    assert van_elteren([([1.0, 1.0], [1.0]), ([2.0], [2.0, 2.0])]).p == 1.0  # all tied within every stratum
    one_sided = van_elteren([([1.0, 2.0], []), ([1.0, 2.0], [3.0, 4.0])])
    assert one_sided.strata == 1 and one_sided.p == pytest.approx(mann_whitney_u([1, 2], [3, 4]).p)
    with pytest.raises(ValueError):
        van_elteren([([1.0], [])])


def test_van_elteren_floor_is_the_most_extreme_arrangement() -> None:
    separated = van_elteren([([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])] * 4)
    assert van_elteren_floor([([6.0, 1.0, 4.0], [2.0, 5.0, 3.0])] * 4) == pytest.approx(separated.p)
    assert separated.p == pytest.approx(1.34e-4, rel=0.01)  # exact permutation p: 2 / 20⁴ = 1.25e-5
    tied = van_elteren([([1.0] * 3, [2.0] * 3)] * 4)  # ties shrink the variance: a smaller floor
    floor = van_elteren_floor([([2.0, 1.0, 1.0], [1.0, 2.0, 2.0])] * 4)
    assert floor == pytest.approx(tied.p) and floor < separated.p
    below = van_elteren([([5.0, 6.0], [1.0])])  # B below A is as extreme as above, when the ties allow it
    assert van_elteren_floor([([1.0, 6.0], [5.0])]) == pytest.approx(below.p)
    # one round of four prompts can never reach 0.05; one prompt of three rounds neither (scipy: 0.081)
    assert van_elteren_floor([([1.0], [2.0])] * 4) == pytest.approx(math.erfc(1.5 / math.sqrt(2)))
    assert van_elteren_floor([([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])]) == pytest.approx(SCIPY_SMALL_P)


def test_multiple_testing_corrections_match_r_p_adjust() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") / "BH"
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and benjamini_hochberg([0.5, 0.9]) == pytest.approx([0.9, 0.9])
    assert holm([]) == [] and benjamini_hochberg([]) == []

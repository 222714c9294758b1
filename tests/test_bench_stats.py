"""Summaries, percentiles and the Mann-Whitney U test behind `bench` and `compare` (docs/metrics.md)."""

from __future__ import annotations

import numpy as np
import pytest

from foundry_tui.engine.bench import BenchResults, RequestResult, Summary
from foundry_tui.engine.bench.compare import compare_results, verdict
from foundry_tui.engine.stats import mann_whitney_u, rankdata, summarize

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


def test_verdicts() -> None:
    slow = [x * 2 for x in A]
    assert verdict("e2e_ms", A, slow, 0.05)[0].startswith("slower (p")
    assert verdict("e2e_ms", slow, A, 0.05)[0].startswith("faster (p")
    assert verdict("decode_tps", A, slow, 0.05)[0].startswith("faster (p")  # higher rate is better
    assert verdict("completion_tokens", A, slow, 0.05)[0].startswith("more tokens")
    assert verdict("e2e_ms", A, A, 0.05)[0] == "no significant change (p=1.000)"
    assert verdict("e2e_ms", [1.0], A, 0.05)[0].startswith("not enough data")


def _results(model: str, values: list[float]) -> BenchResults:
    requests = [
        RequestResult(model=model, prompt_index=0, round=i + 1, concurrency=1, mode="stream", status="ok", e2e_ms=v,
                      ttft_ms=v / 10, decode_tps=1000 / v, completion_tokens=6, itl_ms=[v / 20, v / 20])
        for i, v in enumerate(values)
    ]  # fmt: skip
    summaries = [Summary(model=model, concurrency=1, mode="stream", status="ok")]
    return BenchResults(requests=requests, summaries=summaries)


def test_compare_results_rows() -> None:
    comparison = compare_results(_results("m", A), _results("m", [x * 1.5 for x in B]))
    rows = {row.metric: row for row in comparison.rows}
    assert set(rows) == {"ttft_ms", "itl_ms", "e2e_ms", "decode_tps", "completion_tokens"}
    assert rows["e2e_ms"].verdict.startswith("slower") and rows["e2e_ms"].significant
    assert rows["decode_tps"].verdict.startswith("slower")
    assert rows["completion_tokens"].verdict.startswith("no significant change")
    assert rows["e2e_ms"].change_pct == pytest.approx((np.median(B) * 1.5 - np.median(A)) / np.median(A) * 100)
    assert rows["itl_ms"].a_n == len(A)  # one median gap per request
    other = compare_results(_results("m", A), _results("n", A))
    assert other.rows == [] and other.only_in_baseline == [("m", 1, "stream")]
    assert other.to_json()["only_in_baseline"] == [["m", 1, "stream"]]

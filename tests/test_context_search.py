"""The usable-context search (engine.bench.context_search) against simulated models with known limits."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from foundry_tui.engine.bench.context_search import ContextSearch


def run(search: ContextSearch, works: Callable[[int], bool], most: int = 200) -> list[int]:
    lengths: list[int] = []
    while (length := search.next_length()) is not None:
        assert length not in lengths, "a length is never probed twice"
        lengths.append(length)
        search.record(length, works(length))
        assert len(lengths) < most
    return lengths


LIMITS = [128, 129, 200, 255, 256, 257, 1000, 3000, 4095, 4096, 4097, 8000, 10_000, 32_767, 50_000, 100_000]
UPPERS = [4096, 8192, 32_768, 131_072 - 16, 131_072]


@pytest.mark.parametrize("upper", UPPERS)
@pytest.mark.parametrize("limit", LIMITS)
def test_hard_limit_is_bracketed_within_the_resolution(limit: int, upper: int) -> None:
    search = ContextSearch(upper=upper)
    lengths = run(search, lambda n: n <= limit)
    assert search.probes == [(n, n <= limit) for n in lengths]
    if limit >= upper:
        assert search.reached_upper and search.works_up_to == upper and search.failed_at is None
        assert lengths[-1] == upper and len(lengths) == math.ceil(math.log2(upper / 128)) + 1
        return
    assert not search.reached_upper
    ok, failed = search.works_up_to, search.failed_at
    assert ok is not None and failed is not None
    assert ok <= limit < failed
    gap = max(16, math.ceil(0.03 * ok))
    assert failed - ok <= gap
    # Doubling up to the first failure: 128, 256, … (or upper), ~log2(limit / 128) + 2 probes …
    first_failure = next(i for i, n in enumerate(lengths) if n > limit)
    assert lengths[:first_failure] == [128 << i for i in range(first_failure)]
    assert first_failure == math.floor(math.log2(limit / 128)) + 1
    # … then each bisection halves the gap, down to the resolution: ~log2(gap / resolution) more.
    first_gap = lengths[first_failure] - lengths[first_failure - 1]
    least_resolution = max(16, math.ceil(0.03 * lengths[first_failure - 1]))
    bisections = len(lengths) - first_failure - 1
    assert bisections <= max(0, math.ceil(math.log2(first_gap / least_resolution))), (lengths, bisections)


def test_the_sequence_for_one_known_model() -> None:
    search = ContextSearch(upper=131_056)
    assert run(search, lambda n: n <= 10_000) == [
        128, 256, 512, 1024, 2048, 4096, 8192, 16384,  # doubling until 16384 fails
        12288, 10240, 9216, 9728, 9984,  # bisecting 8192…16384 until the gap (256) is within 3 % of 9984
    ]  # fmt: skip
    assert (search.works_up_to, search.failed_at, search.resolution) == (9984, 10240, 300)


def test_doubling_stops_at_upper_and_probes_it() -> None:
    search = ContextSearch(upper=3000, start=128)
    assert run(search, lambda n: True) == [128, 256, 512, 1024, 2048, 3000]
    assert search.reached_upper and search.works_up_to == 3000 and search.failed_at is None
    assert search.next_length() is None and search.finished


def test_a_start_above_upper_probes_upper_only() -> None:
    search = ContextSearch(upper=100, start=128)
    assert run(search, lambda n: True) == [100]
    assert search.reached_upper


def test_start_failing_ends_the_search() -> None:
    search = ContextSearch(upper=8192)
    assert run(search, lambda n: False) == [128]
    assert (search.works_up_to, search.failed_at, search.reached_upper) == (None, 128, False)


def test_upper_failing_bisects_below_it() -> None:
    search = ContextSearch(upper=5000)
    run(search, lambda n: n <= 4500)
    assert search.works_up_to is not None and search.failed_at is not None
    assert search.works_up_to <= 4500 < search.failed_at <= 5000
    assert not search.reached_upper


def test_monotone_ttft_limit() -> None:
    """A model whose first token takes 2 ms per 100 prompt tokens plus 50 ms, with a 1.5 s limit."""

    def ttft_s(n: int) -> float:
        return 0.05 + n * 0.02 / 1000

    search = ContextSearch(upper=131_072)
    run(search, lambda n: ttft_s(n) <= 1.5)
    limit = 72_500  # ttft_s(72_500) == 1.5
    ok, failed = search.works_up_to, search.failed_at
    assert ok is not None and failed is not None and ok <= limit < failed
    assert failed - ok <= math.ceil(0.03 * ok)


def test_replaying_recorded_outcomes_resumes_the_same_search() -> None:
    limit = 23_456
    whole = ContextSearch(upper=65_536)
    lengths = run(whole, lambda n: n <= limit)
    resumed = ContextSearch(upper=65_536)
    for length, ok in whole.probes[:7]:  # what an interrupted run had recorded
        assert resumed.next_length() == length
        resumed.record(length, ok)
    assert run(resumed, lambda n: n <= limit) == lengths[7:]
    assert resumed.probes == whole.probes
    assert (resumed.works_up_to, resumed.failed_at) == (whole.works_up_to, whole.failed_at)


def test_next_length_does_not_advance_without_a_record() -> None:
    search = ContextSearch(upper=8192)
    assert search.next_length() == search.next_length() == 128


def test_an_ok_above_a_failure_moves_the_search_on() -> None:
    """Failures that are not monotone (a timeout that did not repeat): the later ok wins, as the fields say."""
    search = ContextSearch(upper=8192)
    for length, ok in [(128, True), (256, True), (512, False), (512, True)]:
        search.record(length, ok)
    assert (search.works_up_to, search.failed_at) == (512, None)
    assert search.next_length() == 1024
    search.record(1024, False)
    search.record(768, False)
    assert (search.works_up_to, search.failed_at) == (512, 768)
    assert search.next_length() == 640


def test_custom_resolution() -> None:
    search = ContextSearch(upper=1 << 20, start=1000, min_step=1, rel_step=0.0)
    run(search, lambda n: n <= 123_457)
    assert (search.works_up_to, search.failed_at) == (123_457, 123_458)


@pytest.mark.parametrize(
    "kwargs", [{"upper": 0}, {"upper": 100, "start": 0}, {"upper": 100, "min_step": 0}, {"upper": 9, "rel_step": -1}]
)
def test_bad_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="context search needs"):
        ContextSearch(**kwargs)

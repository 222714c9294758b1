"""Throughput of one concurrency level: over the whole level, and in the steady state.

Whole level: ok requests (or their tokens) / level duration (first send → last end). With c streams and a request
count that is not a whole number of waves, the last wave runs fewer than c streams, so this figure reads low (12
requests at c = 8: 25 % low). The steady-state figures count only the window in which every one of the c streams was
busy: from the moment the last stream received the first piece of its first request (the c prefills that start
together are a start-up burst) to the moment the first stream finished its last one. A stream is busy until its last
end (the microseconds between two of its requests are client bookkeeping). Within the window, each request
contributes the share of its tokens that arrived there (piece arrival times) and the share of its duration that lies
there (so c equal requests of e seconds give c / e req/s, Little's law). Requests of a resumed run (another process)
are windowed per session; the longest window wins. Definitions: docs/metrics.md ("output throughput", "steady
state").
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from foundry_tui.engine.bench.results import RequestResult


@dataclass(frozen=True)
class Steady:
    window_s: float
    request_rps: float
    output_tps: float | None  # None when no ok request has a token count


def _span(r: RequestResult) -> tuple[float, float] | None:
    if r.t_start_s is None or r.e2e_ms is None or r.status not in ("ok", "error"):
        return None
    return r.t_start_s, r.t_start_s + r.e2e_ms / 1000


def level_duration(requests: Sequence[RequestResult]) -> float | None:
    """Σ over sessions of (last end − first send) of the measured requests (failed ones took time too)."""
    total = 0.0
    for _, group in itertools.groupby(sorted(requests, key=lambda r: r.session), key=lambda r: r.session):
        spans = [s for s in map(_span, group) if s is not None]
        if spans:
            total += max(e for _, e in spans) - min(s for s, _ in spans)
    return total if total > 0 else None


def piece_times_s(r: RequestResult) -> list[float]:
    """Arrival of each answer piece, in seconds on the run's clock: send + TTFT, then every gap."""
    if r.t_start_s is None or r.ttft_ms is None:
        return []
    t = r.t_start_s + r.ttft_ms / 1000
    times = [t]
    for gap in r.itl_ms:
        t += gap / 1000
        times.append(t)
    return times


def _tokens_in(r: RequestResult, start: float, end: float) -> float:
    tokens = r.completion_tokens or 0
    times = piece_times_s(r)
    if times:  # each piece carries an equal share of the tokens, made over the time before it arrived: (start, end]
        inside = sum(1 for t in times if start < t <= end)
        return tokens * inside / len(times)
    span = _span(r)
    if span is None or span[1] <= span[0]:
        return 0.0
    return tokens * _overlap(span, start, end) / (span[1] - span[0])


def _overlap(span: tuple[float, float], start: float, end: float) -> float:
    return max(0.0, min(span[1], end) - max(span[0], start))


def _window(requests: Sequence[RequestResult], concurrency: int) -> tuple[float, float] | None:
    first: dict[int, tuple[float, float]] = {}  # slot → (its first send, its first piece)
    last: dict[int, float] = {}  # slot → its last end
    for r in requests:
        span = _span(r)
        if span is None or r.slot is None:
            continue
        if r.slot not in first or span[0] < first[r.slot][0]:
            first[r.slot] = (span[0], span[0] + (r.ttft_ms or 0) / 1000)
        last[r.slot] = max(last.get(r.slot, span[1]), span[1])
    if len(first) < concurrency:
        return None  # some stream never ran a request: never all busy at once
    # From the moment the last stream had its first piece: the c prefills that start together at the level's start
    # are a start-up burst, not the steady state (with 50 ms TTFTs the window read ~3 % low without this).
    start = max(piece for _, piece in first.values())
    end = min(last.values())
    return (start, end) if end > start else None


def steady_state(requests: Sequence[RequestResult], concurrency: int) -> Steady | None:
    """The steady-state figures of one level's measured requests; None when its streams were never all busy."""
    best: Steady | None = None
    for _, group in itertools.groupby(sorted(requests, key=lambda r: r.session), key=lambda r: r.session):
        rows = list(group)
        window = _window(rows, concurrency)
        if window is None:
            continue
        start, end = window
        ok = [r for r in rows if r.ok]
        done = 0.0
        for r in ok:
            span = _span(r)
            if span is not None and span[1] > span[0]:
                done += _overlap(span, start, end) / (span[1] - span[0])
        counted = [r for r in ok if r.completion_tokens is not None]
        tokens = sum(_tokens_in(r, start, end) for r in counted) if counted else None
        length = end - start
        steady = Steady(length, done / length, tokens / length if tokens is not None else None)
        if best is None or steady.window_s > best.window_s:
            best = steady
    return best


def planned_requests(prompts: int, rounds: int, concurrency: int, min_waves: int) -> int:
    """Measured requests at one level: prompts × rounds, and at concurrency c > 1 at least `min_waves` × c,
    rounded up to a whole number of waves (c requests each), so every stream stays busy (the prompt set
    repeats)."""
    base = prompts * rounds
    if concurrency <= 1:
        return base
    wanted = max(base, min_waves * concurrency)
    return -(-wanted // concurrency) * concurrency


def planned_per_model(prompts: int, rounds: int, levels: Sequence[int], modes: int, min_waves: int) -> int:
    """Measured requests of one model over every concurrency level and mode."""
    return modes * sum(planned_requests(prompts, rounds, c, min_waves) for c in levels)


__all__ = ["Steady", "level_duration", "piece_times_s", "planned_per_model", "planned_requests", "steady_state"]

"""The usable-context search: which prompt lengths a model still answers on this machine (pure, no I/O).

Lengths double from `start` (a doubling past `upper` probes `upper` itself) until one fails; then the gap between
the longest length that worked and the shortest that failed is bisected until it is within the resolution,
max(min_step, ceil(rel_step · works_up_to)). The search ends when `upper` works, when `start` fails, or at that
resolution. "Failed" is whatever the caller says (an error, or a first token later than its limit); the search
assumes failures are monotone in the length, and stays consistent when they are not (see `record`).

Deterministic given the outcomes: a resumed run replays its recorded outcomes through `record` and carries on.
"""

from __future__ import annotations

import math

__all__ = ["ContextSearch"]


class ContextSearch:
    def __init__(self, *, upper: int, start: int = 128, min_step: int = 16, rel_step: float = 0.03) -> None:
        if upper < 1 or start < 1 or min_step < 1 or rel_step < 0:
            raise ValueError(
                f"context search needs upper, start and min_step >= 1 and rel_step >= 0 "
                f"(got upper {upper}, start {start}, min_step {min_step}, rel_step {rel_step})"
            )
        self.upper = upper
        self.start = min(start, upper)
        self.min_step = min_step
        self.rel_step = rel_step
        self.probes: list[tuple[int, bool]] = []
        self.works_up_to: int | None = None  # longest length that was ok
        self.failed_at: int | None = None  # shortest length above works_up_to that failed (None: none failed)

    @property
    def reached_upper(self) -> bool:
        """`upper` itself was probed and was ok."""
        return self.works_up_to is not None and self.works_up_to >= self.upper

    @property
    def resolution(self) -> int:
        """The gap between works_up_to and failed_at at which the search stops."""
        return max(self.min_step, math.ceil(self.rel_step * (self.works_up_to or 0)))

    @property
    def finished(self) -> bool:
        return self.next_length() is None

    def next_length(self) -> int | None:
        """The next prompt length to probe; None: the search is over."""
        ok, failed = self.works_up_to, self.failed_at
        if failed is None:
            if ok is None:
                return None if self.probes else self.start
            return None if ok >= self.upper else min(2 * ok, self.upper)
        if ok is None or failed - ok <= self.resolution:
            return None
        return (ok + failed) // 2  # strictly between them: the gap is above min_step >= 1

    def record(self, length: int, ok: bool) -> None:
        """One probe's outcome (ok: answered within the TTFT limit).

        An ok at or above `failed_at` (a model whose failures are not monotone) moves works_up_to there and
        failed_at to the shortest failure above it, if any: the search goes on from there.
        """
        self.probes.append((length, ok))
        if ok:
            if self.works_up_to is None or length > self.works_up_to:
                self.works_up_to = length
        elif self.failed_at is None or length < self.failed_at:
            self.failed_at = length
        if self.failed_at is not None and self.works_up_to is not None and self.failed_at <= self.works_up_to:
            above = [n for n, good in self.probes if not good and n > self.works_up_to]
            self.failed_at = min(above, default=None)

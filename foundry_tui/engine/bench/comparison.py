"""The `comparison` object of results.json: baseline A against new B (computed by engine.bench.compare)."""

from __future__ import annotations

from dataclasses import dataclass, field

from foundry_tui.engine.bench.record import Record

Key = tuple[str, int, str]  # model, concurrency, mode


@dataclass(kw_only=True)
class ComparisonRow(Record):
    model: str
    concurrency: int
    mode: str
    metric: str
    a_n: int = 0
    b_n: int = 0
    a_median: float | None = None
    b_median: float | None = None
    change_pct: float | None = None
    u: float | None = None
    p: float | None = None
    significant: bool = False
    verdict: str


@dataclass(kw_only=True)
class Comparison(Record):
    """`comparison`: baseline A against new B, per model × level × mode and metric (engine.bench.compare)."""

    baseline: str = ""
    new: str = ""
    alpha: float = 0.05
    method: str = ""
    rows: list[ComparisonRow] = field(default_factory=list)
    only_in_baseline: list[Key] = field(default_factory=list)
    only_in_new: list[Key] = field(default_factory=list)


__all__ = ["Comparison", "ComparisonRow", "Key"]

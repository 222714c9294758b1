"""The `comparison` object of results.json: baseline A against new B (computed by engine.bench.compare).

Fields added after the first files (effect, prompts, adjusted p, the settings check) default to null, so an older
file loads and writes back unchanged: null there means "not computed by that version", not "none found".
"""

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
    a_n: int = 0  # values compared (prompts present on both sides); older files: every ok request
    b_n: int = 0
    a_median: float | None = None  # over the values compared
    b_median: float | None = None
    change_pct: float | None = None  # change of those pooled medians
    u: float | None = None  # Mann-Whitney U of A (older files); null for the stratified test
    p: float | None = None  # the test's own two-sided p-value
    significant: bool = False  # the verdict names a change: adjusted p < alpha and |effect_pct| ≥ min_effect_pct
    verdict: str
    n_prompts: int | None = None  # prompts with values on both sides: the strata of the test
    effect_pct: float | None = None  # median over those prompts of the change of the prompt's median, in %
    z: float | None = None  # the stratified test's signed z (> 0: B larger)
    p_adjusted: float | None = None  # Holm-adjusted over the comparison's tested rows; what alpha is held to


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
    min_effect_pct: float | None = None  # the effect-size gate, in %
    correction: str | None = None  # the multiple-testing correction across rows
    workload_differs: bool | None = None  # max tokens, temperature or the prompt set differ between A and B
    warnings: list[str] | None = None  # one line each: settings that differ, partial runs, token sources


__all__ = ["Comparison", "ComparisonRow", "Key"]

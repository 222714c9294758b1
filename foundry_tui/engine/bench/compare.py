"""Compare two benchmark results (baseline A, new B) metric by metric, with verdicts people can act on.

Rows: every (model id, concurrency, mode) measured in both runs × metric (COMPARED). Values are paired by
prompt: a prompt's ok requests (its rounds, more at higher concurrency) form one stratum, matched across the runs
by the prompt's text (system + prompt), so a reordered prompt file still pairs and a prompt only one run has is
left out. TTFT leaves out cold requests; ITL takes each request's median gap (gaps inside one request are not
independent samples).

The test is van Elteren's stratified rank-sum (stats.van_elteren: ranks within each prompt, normal approximation
with tie and continuity corrections), two-sided, so prompts of very different lengths neither hide a change nor
fake one. Its p-values are adjusted across the comparison's tested rows (Benjamini-Hochberg by default; Holm on
request). A row names a change ("slower"/"faster", "more/fewer tokens") only when the adjusted p < alpha AND the
effect, the median over prompts of the change of that prompt's median, is at least `min_effect_pct` (default 5 %)
and agrees with the test's direction. Otherwise "no significant change (…)" says which gate it missed, and "not
enough data (…)" says when there are too few values, or data of this shape could never reach alpha.

`settings_differences` says what differs between the runs: the workload (max tokens, temperature, the prompt set)
and the rest (models, backend, machine, concurrency levels, modes, token counting, partial runs). The `compare`
command refuses a workload difference unless told otherwise (commands.compare); `compare_results` never refuses:
every difference becomes a warning in the Comparison (`bench --baseline` goes through it). Definitions:
docs/metrics.md, "Comparing runs".
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from foundry_tui.engine.bench.compare_table import change_in, change_text
from foundry_tui.engine.bench.comparison import Comparison, ComparisonRow, Key
from foundry_tui.engine.bench.results import BenchResults, RequestResult, RunSettings, Summary
from foundry_tui.engine.stats import benjamini_hochberg, fisher_exact, holm, van_elteren, van_elteren_floor
from foundry_tui.text import safe_line

# metric → which direction is better: "lower", "higher", or None (neither: token counts)
COMPARED: dict[str, str | None] = {
    "ttft_ms": "lower",
    "itl_ms": "lower",
    "e2e_ms": "lower",
    "decode_tps": "higher",
    "completion_tokens": None,
    "goodput_share": "higher",  # with the same --slo on both sides: Fisher's exact test on good / counted
}
GOODPUT = "goodput_share"
MIN_SAMPLES = 2
DEFAULT_ALPHA = 0.05
DEFAULT_MIN_EFFECT_PCT = 5.0
METHOD = (
    "van Elteren rank-sum stratified by prompt (a prompt's requests are its samples; TTFT: warm requests; ITL: "
    "each request's median gap), normal approximation with tie and continuity correction, two-sided; a change "
    "needs adjusted p < alpha and |median per-prompt change| >= min effect"
)
CORRECTIONS: dict[str, Callable[[Sequence[float]], list[float]]] = {
    "benjamini-hochberg": benjamini_hochberg,
    "holm": holm,
}
DEFAULT_CORRECTION = "benjamini-hochberg"

PromptKey = Hashable
Strata = list[tuple[list[float], list[float]]]


# -- what differs between the runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsDifferences:
    """`workload`: what the runs asked the models to do differently ("max_tokens 512 → 256"); verdicts over a
    different workload measure the workload. `other`: differences worth a loud warning, one line each."""

    workload: tuple[str, ...] = ()
    other: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        lines = [f"workload differs: {'; '.join(self.workload)}"] if self.workload else []
        return lines + list(self.other)


def _num(value: float) -> str:
    return f"{value:g}"


def _listed(values: Sequence[object]) -> str:
    return ", ".join(safe_line(str(v), 80) for v in values) or "none"


def _spec_key(system: str | None, prompt: str) -> tuple[str, str]:
    return (system or "", prompt)


def _budgets(results: BenchResults) -> dict[tuple[str, str], int]:
    """The max tokens each prompt ran with (BenchConfig.max_tokens_for)."""
    s = results.settings
    return {
        _spec_key(p.system, p.prompt): s.max_tokens if s.max_tokens_override or p.max_tokens is None else p.max_tokens
        for p in results.prompts
    }


def _uses_setting(results: BenchResults) -> bool:
    """Whether some prompt ran with settings.max_tokens (no prompts recorded: assume so)."""
    s = results.settings
    return s.max_tokens_override or not results.prompts or any(p.max_tokens is None for p in results.prompts)


def _max_tokens_text(s: RunSettings) -> str:
    return f"{s.max_tokens}{' (all prompts)' if s.max_tokens_override else ''}"


def _workload(a: BenchResults, b: BenchResults) -> list[str]:
    sa, sb = a.settings, b.settings
    out: list[str] = []
    # The setting matters only where a prompt ran with it: not when every prompt has its own budget (a
    # difference there is a different prompt set).
    budgets_a, budgets_b = _budgets(a), _budgets(b)
    shared = budgets_a.keys() & budgets_b.keys()
    setting_differs = (sa.max_tokens, sa.max_tokens_override) != (sb.max_tokens, sb.max_tokens_override)
    used = _uses_setting(a) or _uses_setting(b)
    if setting_differs and used and (not shared or any(budgets_a[k] != budgets_b[k] for k in shared)):
        out.append(f"max_tokens {_max_tokens_text(sa)} → {_max_tokens_text(sb)}")
    if sa.temperature != sb.temperature:
        out.append(f"temperature {_num(sa.temperature)} → {_num(sb.temperature)}")
    if a.prompts and b.prompts:
        # The spec's own max_tokens is part of the workload; its expected aspects only score answers.
        specs_a = {(_spec_key(p.system, p.prompt), p.max_tokens) for p in a.prompts}
        specs_b = {(_spec_key(p.system, p.prompt), p.max_tokens) for p in b.prompts}
        if specs_a != specs_b:
            only_a, only_b = len(specs_a - specs_b), len(specs_b - specs_a)
            out.append(f"prompt set ({only_a} of {len(specs_a)} only in A, {only_b} of {len(specs_b)} only in B)")
    return out


def _model_ids(results: BenchResults) -> list[str]:
    return [m.model for m in results.models] or list(results.settings.models)


def _backend(results: BenchResults) -> str | None:
    backend = results.environment.get("backend")
    if not isinstance(backend, dict):
        return None
    label, kind = backend.get("label"), backend.get("kind")
    return str(label) if label else (str(kind) if kind else None)


def _machine(results: BenchResults) -> str | None:
    machine = results.environment.get("machine")
    if not isinstance(machine, dict):
        return None
    gpus = machine.get("gpus")
    names = [str(g.get("name")) for g in gpus if isinstance(g, dict)] if isinstance(gpus, list) else []
    cpu = machine.get("cpu")
    return f"{cpu or '?'}{' + ' + ', '.join(names) if names else ''}"


def _token_sources(results: BenchResults) -> set[str]:
    return {r.tokens_source for r in results.level_requests() if r.ok and r.tokens_source}


def _other(a: BenchResults, b: BenchResults) -> list[str]:
    out: list[str] = []
    ids_a, ids_b = _model_ids(a), _model_ids(b)
    if set(ids_a) != set(ids_b):
        only_a = [m for m in ids_a if m not in ids_b]
        only_b = [m for m in ids_b if m not in ids_a]
        out.append(f"models differ (only in A: {_listed(only_a)}; only in B: {_listed(only_b)})")
    for what, value_a, value_b in (("backend", _backend(a), _backend(b)), ("machine", _machine(a), _machine(b))):
        if value_a is not None and value_b is not None and value_a != value_b:
            out.append(f"{what} differs: {safe_line(value_a, 120)} → {safe_line(value_b, 120)}")
    if a.settings.slo != b.settings.slo and a.settings.slo and b.settings.slo:
        out.append(f"SLO differs: {a.settings.slo} → {b.settings.slo}; goodput not compared")
    if a.settings.concurrency != b.settings.concurrency:
        out.append(f"concurrency differs: {_listed(a.settings.concurrency)} → {_listed(b.settings.concurrency)}")
    if a.settings.modes != b.settings.modes:
        out.append(f"modes differ: {_listed(a.settings.modes)} → {_listed(b.settings.modes)}")
    sources_a, sources_b = _token_sources(a), _token_sources(b)
    if sources_a and sources_b and sources_a != sources_b:
        out.append(
            f"token counts come from {_listed(sorted(sources_a))} → {_listed(sorted(sources_b))}: "
            "completion_tokens and decode_tps compare different counts"
        )
    if not (a.prompts and b.prompts):
        out.append("a run does not record its prompts: prompts paired by their position and not checked")
    for label, results in (("A", a), ("B", b)):
        if results.partial:
            why = f" (stopped by {safe_line(results.stopped_by, 40)})" if results.stopped_by else ""
            out.append(f"{label} is a partial run{why}")
    return out


def settings_differences(a: BenchResults, b: BenchResults) -> SettingsDifferences:
    """What differs between baseline `a` and new `b` (see SettingsDifferences)."""
    return SettingsDifferences(tuple(_workload(a, b)), tuple(_other(a, b)))


# -- samples paired by prompt --------------------------------------------------------------------------------


def _prompt_keys(a: BenchResults, b: BenchResults) -> tuple[Callable[[int], PromptKey], Callable[[int], PromptKey]]:
    """How each run's prompt_index maps to a stratum: the prompt's text when both runs recorded every prompt
    they used, else its position."""

    def by_text(results: BenchResults) -> Callable[[int], PromptKey] | None:
        prompts = results.prompts
        if not prompts or any(not 0 <= r.prompt_index < len(prompts) for r in results.level_requests()):
            return None
        return lambda i: _spec_key(prompts[i].system, prompts[i].prompt)

    key_a, key_b = by_text(a), by_text(b)
    if key_a is None or key_b is None:
        return (lambda i: i), (lambda i: i)
    return key_a, key_b


Groups = dict[Key, dict[PromptKey, list[RequestResult]]]


def _groups(results: BenchResults, prompt_key: Callable[[int], PromptKey]) -> Groups:
    groups: Groups = {}
    for r in results.level_requests():
        if r.ok:
            by_prompt = groups.setdefault((r.model, r.concurrency, r.mode), {})
            by_prompt.setdefault(prompt_key(r.prompt_index), []).append(r)
    return groups


def _values(requests: Sequence[RequestResult], metric: str) -> list[float]:
    out: list[float] = []
    for r in requests:
        if metric == "itl_ms":
            if r.itl_ms:
                out.append(float(np.median(r.itl_ms)))
        elif metric == "ttft_ms" and r.cold:
            continue  # the first request of a process also pays for connecting and warming up
        else:
            value = r.value(metric)
            if value is not None:
                out.append(float(value))
    return out


def _strata(a: dict[PromptKey, list[RequestResult]], b: dict[PromptKey, list[RequestResult]], metric: str) -> Strata:
    """(A values, B values) per prompt with values on both sides, in A's prompt order."""
    strata: Strata = []
    for key, requests in a.items():
        a_values, b_values = _values(requests, metric), _values(b.get(key, []), metric)
        if a_values and b_values:
            strata.append((a_values, b_values))
    return strata


def paired_effect_pct(strata: Strata) -> float | None:
    """Median over prompts of (B's median − A's median) / A's median, in %; None when no prompt has a nonzero A."""
    changes = [
        (float(np.median(b)) - a_med) / abs(a_med) * 100 for a, b in strata if (a_med := float(np.median(a))) != 0
    ]
    return float(np.median(changes)) if changes else None


# -- verdicts ------------------------------------------------------------------------------------------------


def p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def change_word(metric: str, b_larger: bool) -> str:
    if metric == GOODPUT:
        return "better" if b_larger else "worse"
    better = COMPARED[metric]
    if better is None:
        return "more tokens" if b_larger else "fewer tokens"
    if better == "lower":
        return "slower" if b_larger else "faster"
    return "faster" if b_larger else "slower"


@dataclass
class _Row:
    row: ComparisonRow
    tested: bool = False  # in the family the correction runs over


def _row(key: Key, metric: str, strata: Strata, alpha: float) -> _Row:
    a_all = [v for a, _ in strata for v in a]
    b_all = [v for _, b in strata for v in b]
    a_med = float(np.median(a_all)) if a_all else None
    b_med = float(np.median(b_all)) if b_all else None
    effect = paired_effect_pct(strata)
    row = ComparisonRow(
        model=key[0],
        concurrency=key[1],
        mode=key[2],
        metric=metric,
        a_n=len(a_all),
        b_n=len(b_all),
        a_median=a_med,
        b_median=b_med,
        change_pct=(b_med - a_med) / abs(a_med) * 100 if a_med and b_med is not None else None,
        n_prompts=len(strata),
        effect_pct=effect,
        verdict="",
    )
    if not strata:
        row.verdict = "not enough data (no prompt has values in both runs)"
        return _Row(row)
    if len(a_all) < MIN_SAMPLES or len(b_all) < MIN_SAMPLES:
        row.verdict = f"not enough data (n={len(a_all)} vs {len(b_all)}; need {MIN_SAMPLES} each)"
        return _Row(row)
    test = van_elteren(strata)
    row.p, row.z = test.p, test.z
    if test.variance == 0:  # every prompt's values all equal (token counts at temperature 0)
        row.verdict = f"no significant change ({change_text(effect)}, identical values)"
        return _Row(row)
    floor = van_elteren_floor(strata)
    if floor >= alpha:
        prompts = f"{len(strata)} prompt{'s' if len(strata) != 1 else ''}"
        row.verdict = f"not enough data ({prompts}, n={len(a_all)} vs {len(b_all)}: p can't go below {floor:.2f})"
        return _Row(row)
    return _Row(row, tested=True)


def _decide(pending: _Row, adjusted: float, alpha: float, min_effect_pct: float) -> None:
    row = pending.row
    row.p_adjusted = adjusted
    effect, z = row.effect_pct, row.z or 0.0
    text = change_in(row.metric, effect)
    if adjusted >= alpha:
        row.verdict = f"no significant change ({text}, {p_text(adjusted)})"
    elif effect is None or abs(effect) < min_effect_pct:
        row.verdict = f"no significant change ({text}, below {min_effect_pct:g}%)"
    elif effect != 0 and z != 0 and (effect > 0) != (z > 0):
        row.verdict = f"no significant change ({text}, direction unclear)"
    else:
        row.significant = True
        b_larger = effect > 0 if effect != 0 else z > 0
        row.verdict = f"{change_word(row.metric, b_larger)} ({text}, {p_text(adjusted)})"


def _goodput_row(key: Key, a: Summary | None, b: Summary | None) -> _Row | None:
    """Share of requests meeting the SLO, A against B: Fisher's exact test; the effect is the change in
    percentage points (the min-effect gate reads it in points)."""
    if a is None or b is None or a.n_good is None or b.n_good is None or not a.n_slo_counted or not b.n_slo_counted:
        return None
    a_share, b_share = a.n_good / a.n_slo_counted, b.n_good / b.n_slo_counted
    row = ComparisonRow(
        model=key[0], concurrency=key[1], mode=key[2], metric=GOODPUT, a_n=a.n_slo_counted, b_n=b.n_slo_counted,
        a_median=a_share * 100, b_median=b_share * 100, change_pct=(b_share - a_share) * 100,
        effect_pct=(b_share - a_share) * 100, verdict="",
    )  # fmt: skip
    p = fisher_exact(a.n_good, a.n_slo_counted, b.n_good, b.n_slo_counted)
    row.p, row.z = p, (1.0 if b_share > a_share else -1.0 if b_share < a_share else 0.0)
    if a_share == b_share:
        row.verdict = f"no significant change ({a_share * 100:.0f}% both)"
        return _Row(row)
    return _Row(row, tested=True)


def _summary(results: BenchResults, key: Key) -> Summary | None:
    return next((s for s in results.summaries if (s.model, s.concurrency, s.mode) == key), None)


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
    alpha: float = DEFAULT_ALPHA,
    min_effect_pct: float = DEFAULT_MIN_EFFECT_PCT,
    baseline_label: str = "A",
    new_label: str = "B",
    correction: str = DEFAULT_CORRECTION,
) -> Comparison:
    """Rows for every (model, concurrency, mode) present in both, lists of what only one side has, and every
    settings difference as a warning (this never refuses: `compare` checks `settings_differences` first)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not np.isfinite(min_effect_pct) or min_effect_pct < 0:
        raise ValueError(f"min_effect_pct must be finite and >= 0, got {min_effect_pct!r}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    adjust = CORRECTIONS[correction]
    a_keys, b_keys = _keys(baseline), _keys(new)
    key_a, key_b = _prompt_keys(baseline, new)
    groups_a, groups_b = _groups(baseline, key_a), _groups(new, key_b)
    pending: list[_Row] = []
    for key in [k for k in b_keys if k in a_keys]:
        for metric in COMPARED:
            if metric == GOODPUT:
                same_slo = baseline.settings.slo == new.settings.slo
                row = _goodput_row(key, _summary(baseline, key), _summary(new, key)) if same_slo else None
                if row is not None:
                    pending.append(row)
                continue
            strata = _strata(groups_a.get(key, {}), groups_b.get(key, {}), metric)
            if strata or any(_values(rs, metric) for g in (groups_a, groups_b) for rs in g.get(key, {}).values()):
                pending.append(_row(key, metric, strata, alpha))
    tested = [p for p in pending if p.tested]
    for p, adjusted in zip(tested, adjust([1.0 if p.row.p is None else p.row.p for p in tested]), strict=True):
        _decide(p, adjusted, alpha, min_effect_pct)
    differences = settings_differences(baseline, new)
    return Comparison(
        baseline=baseline_label,
        new=new_label,
        alpha=alpha,
        method=METHOD,
        rows=[p.row for p in pending],
        only_in_baseline=[k for k in a_keys if k not in b_keys],
        only_in_new=[k for k in b_keys if k not in a_keys],
        min_effect_pct=min_effect_pct,
        correction=f"{correction} across the {len(tested)} tested rows",
        workload_differs=bool(differences.workload),
        warnings=differences.warnings(),
    )


def with_baseline(results: BenchResults, baseline: BenchResults) -> BenchResults:
    """`results` compared with an earlier run (`report --baseline`), unless it already holds a comparison (a
    `bench --baseline` run keeps the one it made)."""
    if results.comparison is not None:
        return results
    label = f"baseline run of {baseline.started_at or '–'}"
    comparison = compare_results(baseline, results, baseline_label=label, new_label="this run")
    return replace(results, comparison=comparison)

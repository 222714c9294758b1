"""`compare` and `bench --baseline` verdicts (engine.bench.compare, commands.compare): paired by prompt, a
significance test and an effect-size gate, and a settings check before anything is compared.

Runs are built with the real result types; values are deterministic (seeded noise). Nothing is measured here.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from foundry_tui.cli import build_parser
from foundry_tui.commands.compare import run_compare
from foundry_tui.engine.bench import BenchResults, RequestResult, Summary, load_results
from foundry_tui.engine.bench import compare as compare_engine
from foundry_tui.engine.bench.compare import compare_results, settings_differences
from foundry_tui.engine.bench.compare_table import COMPARE_HEADERS, comparison_notes, comparison_rows
from foundry_tui.engine.bench.report import results_json_text
from foundry_tui.engine.bench.results import RunSettings
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.stats import mann_whitney_u
from foundry_tui.errors import BadInputError

FIXTURES = Path(__file__).parent / "fixtures"
# Four prompts as different as real ones: short and long answers, short and long contexts.
TTFT_MS = (40.0, 80.0, 150.0, 300.0)
TOKENS = (64, 128, 256, 512)
DECODE_TPS = (200.0, 195.0, 185.0, 170.0)
LATENCY = ("ttft_ms", "itl_ms", "e2e_ms")


def make_run(
    *,
    seed: int,
    slower: float = 1.0,
    cv: float = 0.01,
    rounds: int = 3,
    prompts: int = 4,
    levels: tuple[int, ...] = (1,),
    model: str = "m",
    settings: RunSettings | None = None,
    environment: dict[str, object] | None = None,
) -> BenchResults:
    """A run of `prompts` × `rounds` requests per level; every time × `slower`, per-request noise N(1, cv)."""
    rng = np.random.default_rng(seed)
    requests = []
    for level in levels:
        for rnd in range(1, rounds + 1):
            for p in range(prompts):
                ttft = TTFT_MS[p] * slower * (1 + cv * rng.standard_normal())
                decode = DECODE_TPS[p] / slower * (1 + cv * rng.standard_normal())
                itl = 1000 / decode
                requests.append(
                    RequestResult(model=model, prompt_index=p, round=rnd, concurrency=level, mode="stream",
                                  status="ok", ttft_ms=ttft, decode_tps=decode, itl_ms=[itl, itl],
                                  completion_tokens=TOKENS[p], e2e_ms=ttft + TOKENS[p] * itl)
                )  # fmt: skip
    return BenchResults(
        requests=requests,
        summaries=[Summary(model=model, concurrency=level, mode="stream", status="ok") for level in levels],
        prompts=[PromptSpec(f"prompt number {i}") for i in range(prompts)],
        settings=settings or RunSettings(models=[model], concurrency=list(levels)),
        environment=environment or {"backend": {"kind": "endpoint", "label": "llama.cpp at 127.0.0.1:8080"}},
    )


def verdicts(results_a: BenchResults, results_b: BenchResults, min_effect_pct: float = 5.0) -> dict[str, str]:
    comparison = compare_results(results_a, results_b, min_effect_pct=min_effect_pct)
    return {row.metric: row.verdict for row in comparison.rows}


# -- verdicts ------------------------------------------------------------------------------------------------


def test_identical_setups_read_no_significant_change_on_every_row() -> None:
    for seed in range(10):
        comparison = compare_results(make_run(seed=2 * seed, cv=0.002), make_run(seed=2 * seed + 1, cv=0.002))
        assert len(comparison.rows) == 5
        assert all(r.verdict.startswith("no significant change") for r in comparison.rows), comparison.rows
        assert not any(r.significant for r in comparison.rows)
        assert comparison.warnings == [] and comparison.workload_differs is False
    tokens = verdicts(make_run(seed=1), make_run(seed=2))["completion_tokens"]
    assert tokens == "no significant change (+0.0%, identical values)"  # temperature 0: the same counts


def test_a_ten_percent_slower_model_is_flagged_and_a_faster_one_too() -> None:
    comparison = compare_results(make_run(seed=1), make_run(seed=2, slower=1.10))
    rows = {r.metric: r for r in comparison.rows}
    for metric in LATENCY:
        assert rows[metric].verdict.startswith("slower (+"), rows[metric].verdict
        assert rows[metric].significant and rows[metric].effect_pct == pytest.approx(10, abs=1.5)
    assert rows["decode_tps"].verdict.startswith("slower (\N{MINUS SIGN}9.")  # a lower rate is slower
    assert rows["completion_tokens"].verdict.startswith("no significant change")
    assert all(r.n_prompts == 4 and r.a_n == 12 and r.b_n == 12 for r in comparison.rows)
    assert all(r.p_adjusted is not None and r.p is not None and r.p_adjusted >= r.p for r in rows.values()
               if r.metric != "completion_tokens")  # fmt: skip
    faster = verdicts(make_run(seed=1), make_run(seed=2, slower=0.9))
    assert faster["e2e_ms"].startswith("faster (\N{MINUS SIGN}") and faster["decode_tps"].startswith("faster (+")


def test_a_real_but_tiny_change_is_below_the_effect_gate() -> None:
    # decode 199.95 → 199.90 with almost no noise: the test is sure, the change does not matter.
    a, b = make_run(seed=1, cv=1e-5), make_run(seed=2, cv=1e-5, slower=1.001)
    rows = {r.metric: r for r in compare_results(a, b).rows}
    for metric in (*LATENCY, "decode_tps"):
        adjusted = rows[metric].p_adjusted
        assert adjusted is not None and adjusted < 0.05  # significant …
        assert rows[metric].verdict.startswith("no significant change (")  # … but too small to name
        assert rows[metric].verdict.endswith(", below 5%)") and not rows[metric].significant
    assert rows["e2e_ms"].verdict == "no significant change (+0.1%, below 5%)"
    assert verdicts(a, b, min_effect_pct=0.05)["e2e_ms"].startswith("slower (+0.1%, p")  # a gate the user lowered


def test_noise_without_a_change_is_not_significant() -> None:
    rows = compare_results(make_run(seed=3, cv=0.2), make_run(seed=4, cv=0.2, slower=1.06)).rows
    assert all(r.verdict.startswith("no significant change") and "p=" in r.verdict for r in rows[:4])


def test_too_few_values_say_not_enough_data() -> None:
    one_round = verdicts(make_run(seed=1, rounds=1), make_run(seed=2, rounds=1, slower=2.0))
    # four prompts × one round can never reach p < 0.05, however large the change
    assert one_round["e2e_ms"] == "not enough data (4 prompts, n=4 vs 4: p can't go below 0.13)"
    lone = verdicts(make_run(seed=1, rounds=1, prompts=1), make_run(seed=2, rounds=1, prompts=1))
    assert lone["e2e_ms"] == "not enough data (n=1 vs 1; need 2 each)"


def test_many_rows_that_moved_together_are_all_kept() -> None:
    # Three levels: 12 tested rows. A per-row Bonferroni/Holm bar would drop some; Benjamini-Hochberg keeps them.
    a, b = make_run(seed=1, levels=(1, 2, 4)), make_run(seed=2, levels=(1, 2, 4), slower=1.10)
    comparison = compare_results(a, b)
    assert sum(r.significant for r in comparison.rows) == 12
    assert comparison.correction == "benjamini-hochberg across the 12 tested rows"
    holm = compare_results(a, b, correction="holm")
    assert holm.correction == "holm across the 12 tested rows" and sum(r.significant for r in holm.rows) == 12


def test_compare_results_rejects_impossible_options() -> None:
    a, b = make_run(seed=1), make_run(seed=2)
    for options in ({"alpha": 0.0}, {"alpha": float("nan")}, {"min_effect_pct": -1.0}, {"correction": "sidak"}):
        with pytest.raises(ValueError):
            compare_results(a, b, **options)


def test_cold_requests_are_left_out_of_ttft() -> None:
    b = make_run(seed=2)
    b.requests[0] = replace(b.requests[0], cold=True, ttft_ms=5000.0)
    rows = {r.metric: r for r in compare_results(make_run(seed=1), b).rows}
    assert rows["ttft_ms"].b_n == 11 and rows["e2e_ms"].b_n == 12
    assert rows["ttft_ms"].verdict.startswith("no significant change")


# -- pairing by prompt ---------------------------------------------------------------------------------------


def test_pairing_by_prompt_sees_a_change_that_pooling_hides() -> None:
    a, b = make_run(seed=1), make_run(seed=2, slower=1.10)
    pooled = mann_whitney_u([r.e2e_ms for r in a.requests], [r.e2e_ms for r in b.requests])
    assert pooled.p > 0.3  # prompts 40–300 ms apart drown a 10 % change when all values are ranked together
    assert verdicts(a, b)["e2e_ms"].startswith("slower (+10.")


def test_a_prompt_missing_from_one_run_does_not_fake_a_change() -> None:
    a, b = make_run(seed=1), make_run(seed=2)
    for i, r in enumerate(b.requests):
        if r.prompt_index == 3:  # the longest prompt failed in B: pooled, B's median would drop by a lot
            b.requests[i] = replace(r, status="error", error="stalled")
    pooled_a = np.median([r.e2e_ms for r in a.requests])
    pooled_b = np.median([r.e2e_ms for r in b.requests if r.ok])
    assert pooled_b < 0.8 * pooled_a  # what the previous CHANGE column showed: "−45 %"
    rows = {r.metric: r for r in compare_results(a, b).rows}
    assert rows["e2e_ms"].n_prompts == 3 and rows["e2e_ms"].a_n == 9
    assert abs(rows["e2e_ms"].change_pct or 0) < 2 and abs(rows["e2e_ms"].effect_pct or 0) < 2
    assert all(r.verdict.startswith("no significant change") for r in rows.values())


def test_prompts_pair_by_text_not_by_position() -> None:
    a, b = make_run(seed=1), make_run(seed=2, slower=1.10)
    order = [2, 0, 3, 1]  # B ran the same prompts from a reordered file
    b.prompts = [b.prompts[i] for i in order]
    b.requests = [replace(r, prompt_index=order.index(r.prompt_index)) for r in b.requests]
    assert settings_differences(a, b).workload == ()
    assert verdicts(a, b)["e2e_ms"].startswith("slower (+10.")
    same = verdicts(a, replace(make_run(seed=3), prompts=b.prompts,
                               requests=[replace(r, prompt_index=order.index(r.prompt_index))
                                         for r in make_run(seed=3).requests]))  # fmt: skip
    assert all(v.startswith("no significant change") for v in same.values())


# -- settings --------------------------------------------------------------------------------------------


def test_workload_differences_are_listed() -> None:
    a = make_run(seed=1)
    b = make_run(seed=2, settings=RunSettings(models=["m"], max_tokens=256, max_tokens_override=True, temperature=0.7))
    assert settings_differences(a, b).workload == ("max_tokens 512 → 256 (all prompts)", "temperature 0 → 0.7")
    b.prompts = [*b.prompts[:3], PromptSpec("another prompt")]
    assert settings_differences(a, b).workload[-1] == "prompt set (1 of 4 only in A, 1 of 4 only in B)"
    comparison = compare_results(a, b)  # what bench --baseline calls: never refuses, warns
    assert comparison.workload_differs is True
    assert comparison.warnings == [
        "workload differs: max_tokens 512 → 256 (all prompts); temperature 0 → 0.7; "
        "prompt set (1 of 4 only in A, 1 of 4 only in B)"
    ]
    assert {r.n_prompts for r in comparison.rows} == {3}  # the prompt only one run has is left out


def test_what_does_not_change_the_workload_is_not_a_difference() -> None:
    a = make_run(seed=1, settings=RunSettings(models=["m"], prompt_file="/a/prompts.json"))
    b = make_run(seed=2, settings=RunSettings(models=["m"], prompt_file="/elsewhere/copy.json", rounds=5))
    assert settings_differences(a, b).workload == () and settings_differences(a, b).other == ()
    # every prompt has its own budget: a different default budget changes nothing
    a.prompts = b.prompts = [replace(p, max_tokens=64) for p in a.prompts]
    b.settings = replace(b.settings, max_tokens=1024)
    assert settings_differences(a, b).workload == ()
    b.prompts = [replace(p, max_tokens=128) for p in a.prompts]
    assert settings_differences(a, b).workload == ("prompt set (4 of 4 only in A, 4 of 4 only in B)",)


def test_setup_differences_are_warnings() -> None:
    a = make_run(seed=1, levels=(1, 2), model="phi")
    b = make_run(seed=2, levels=(1, 4), model="phi",
                 environment={"backend": {"kind": "foundry-local", "label": "Foundry Local 2.2.1 (in-process)"},
                              "machine": {"cpu": "Xeon", "gpus": []}})  # fmt: skip
    b.settings.models, b.settings.modes = ["phi", "qwen"], ["stream", "non-stream"]
    b.requests = [replace(r, tokens_source="chunks", tokens_estimated=True) for r in b.requests]
    a.requests = [replace(r, tokens_source="usage") for r in a.requests]
    b.partial, b.stopped_by = True, "SIGTERM"
    differences = settings_differences(a, b)
    assert differences.workload == ()
    assert differences.other == (
        "models differ (only in A: none; only in B: qwen)",
        "backend differs: llama.cpp at 127.0.0.1:8080 → Foundry Local 2.2.1 (in-process)",
        "concurrency differs: 1, 2 → 1, 4",
        "modes differ: stream → stream, non-stream",
        "token counts come from usage → chunks: completion_tokens and decode_tps compare different counts",
        "B is a partial run (stopped by SIGTERM)",
    )
    assert compare_results(a, b).warnings == list(differences.other)


# -- the command -----------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["compare", *argv])  # the real CLI's flags


def write(path: Path, results: BenchResults) -> str:
    path.write_text(results_json_text(results), encoding="utf-8")
    return str(path)


def test_compare_refuses_a_different_workload_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a.json", make_run(seed=1))
    b = write(tmp_path / "b.json", make_run(seed=2, slower=1.2, settings=RunSettings(models=["m"], temperature=0.7)))
    with pytest.raises(BadInputError) as refused:
        run_compare(parse(a, b))
    assert str(refused.value) == (
        "settings differ: temperature 0 → 0.7 — compare runs of the same workload, or pass --allow-different"
    )
    assert capsys.readouterr().out == ""
    assert run_compare(parse(a, b, "--allow-different")) == 0
    out, err = capsys.readouterr()
    assert "foundry-tui: warning: workload differs: temperature 0 → 0.7" in err.splitlines()
    assert all(h in out for h in COMPARE_HEADERS) and "slower (+20." in out
    assert run_compare(parse(a, b, "--allow-different", "--json", "--min-effect", "25")) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["warnings"] == ["workload differs: temperature 0 → 0.7"] and data["min_effect_pct"] == 25
    assert {r["verdict"].split(" (")[0] for r in data["rows"]} == {"no significant change"}  # 20 % < 25 %
    assert "warning: workload differs" in err


def test_compare_of_identical_runs_and_warnings_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.json", make_run(seed=1))
    b = write(tmp_path / "b.json", make_run(seed=2, environment={"backend": {"label": "evil\x1b[31m label"}}))
    assert run_compare(parse(a, b, "--json")) == 0
    out, err = capsys.readouterr()
    assert {r["verdict"].split(" (")[0] for r in json.loads(out)["rows"]} == {"no significant change"}
    assert "\x1b" not in err and "backend differs: llama.cpp at 127.0.0.1:8080 → evil\\x1b[31m label" in err


def test_the_command_defaults_are_the_engine_defaults() -> None:
    args = parse("a", "b")
    assert (args.alpha, args.min_effect, args.allow_different, args.json) == (
        compare_engine.DEFAULT_ALPHA,
        compare_engine.DEFAULT_MIN_EFFECT_PCT,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--alpha", "0"), "--alpha must be between 0 and 1 (exclusive), got 0"),
        (("--alpha", "1.5"), "--alpha must be between 0 and 1 (exclusive), got 1.5"),
        (("--alpha", "nan"), "--alpha must be between 0 and 1 (exclusive), got nan"),
        (("--min-effect", "-1"), "--min-effect must be a finite percentage >= 0, got -1"),
        (("--min-effect", "inf"), "--min-effect must be a finite percentage >= 0, got inf"),
        (("--min-effect", "nan"), "--min-effect must be a finite percentage >= 0, got nan"),
    ],
)
def test_bad_flags_are_one_line_errors_before_reading_files(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(BadInputError) as bad:
        run_compare(parse("/nonexistent/a.json", "/nonexistent/b.json", *flags))
    assert str(bad.value) == message


# -- older files ---------------------------------------------------------------------------------------------


def test_files_from_before_still_compare(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = FIXTURES / "bench_results_v1_baseline.json", FIXTURES / "bench_results_v1.json"
    comparison = compare_results(load_results(old), load_results(new))
    assert [r.verdict.split(" (")[0] for r in comparison.rows] == ["not enough data"] * 4 + ["no significant change"]
    assert comparison.warnings == [
        "models differ (only in A: none; only in B: broken-generic-cpu:1)",
        "modes differ: stream → stream, non-stream",
    ]
    assert run_compare(parse(str(old), str(new))) == 0
    assert "not enough data (2 prompts, n=4 vs 2: p can't go below 0.19)" in capsys.readouterr().out
    stored = load_results(new).comparison  # written by the first version: the new fields are absent (null)
    assert stored is not None and stored.min_effect_pct is None and stored.warnings is None
    assert stored.rows[0].effect_pct is None and stored.rows[0].n_prompts is None
    cells = comparison_rows(stored)[1]
    assert cells[6:] == ["+50.1%", "\N{EN DASH}", "no significant change (p=0.817)"]  # the pooled change, as stored
    assert comparison_notes(stored) == [f"method: {stored.method}; alpha 0.05"]


def test_a_comparison_reads_back_from_results_json() -> None:
    results = make_run(seed=2, slower=1.1)
    results.comparison = compare_results(make_run(seed=1), results, baseline_label="a", new_label="b")
    again = BenchResults.from_json(json.loads(results_json_text(results)), "again")
    assert again.comparison == results.comparison
    assert comparison_rows(results.comparison)[2][6:8] == [
        f"+{results.comparison.rows[2].effect_pct:.1f}%",
        "4",
    ]

"""Typed results against a results.json written by the code before the typed results (schema foundry-tui.bench/1).

The fixtures are real runs kept as they were written: `bench_results_v1.json` (+ its `results.csv`) is
`foundry-tui bench --models broken,tiny --rounds 1 --warmup 0 --non-streamed --judge tiny --models-file …
--baseline <run a>` on the tiny model (a model that fails to load, a judge without a usable score, a rubric, a
comparison); `bench_results_v1_baseline.json` is that run a. Nothing here measures anything: fast lane.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from foundry_tui.engine.bench import BenchResults, build_summaries, compare_results, load_results, set_annotation
from foundry_tui.engine.bench.compare_table import comparison_rows
from foundry_tui.engine.bench.report import markdown_report, results_csv_text, results_json_text
from foundry_tui.engine.bench.results import MetricSummary
from foundry_tui.engine.bench.tables import summary_rows, throughput_rows
from foundry_tui.errors import BadInputError

FIXTURES = Path(__file__).parent / "fixtures"
V1 = FIXTURES / "bench_results_v1.json"
V1_BASELINE = FIXTURES / "bench_results_v1_baseline.json"
# What the typed results write that the old code left out when not measured (always written now, as null).
ADDED = {
    "models[0].memory.rss_before_load_mb",
    "models[0].memory.rss_after_load_mb",
    "models[0].memory.ram_used_before_load_mb",
    "models[0].memory.ram_used_after_load_mb",
    "models[0].memory.rss_after_unload_mb",
    "models[0].memory.rss_kept_after_unload_mb",
    "models[0].load.unload_s",
}
# Fields added since (the memory attributed to each model): null in a file written before them.
MEMORY_ADDED = {
    *(
        f"models[{i}].memory.{key}"
        for i in (0, 1)
        for key in ("server_rss_peak_mb", "model_memory_mb", "model_memory_note")
    ),
    *(f"summaries[{i}].{key}" for i in range(4) for key in ("model_memory_mb", "model_memory_note")),
}
# Fields added for issue 12 (token source, cold, streams, sessions, steady state, counts, the paired comparison):
# a file written before them reads them as their defaults (null, false, 0, []).
LATER_FIELDS = {
    "tokens_source", "chunks", "cold", "slot", "session", "n_planned", "n_cancelled", "ttft_cold_ms",
    "steady_window_s", "steady_request_throughput_rps", "steady_output_throughput_tps", "server_rss_peak_mb",
    "planned", "first_token_timeout_s", "min_waves", "tokenizer", "sessions", "stopped_by", "min_effect_pct",
    "correction", "workload_differs", "warnings", "n_prompts", "effect_pct", "z", "p_adjusted",
    # issue 13: prefill, phases (sweep, context, cold), goodput, several backends
    "prefill_tps", "phase", "prompt_tokens_target", "prompt_tokens_exact", "load_s", "load_index", "memory_mb",
    "endpoint", "context_length", "n_good", "n_slo_counted", "goodput_share", "goodput_rps", "prompt_tokens",
    "sweep_max_tokens", "find_context", "context_ttft_limit_s", "context_max_tokens", "slo", "endpoints",
    "sweep", "context", "cold_starts", "first_ttft_ms", "first_piece_ms",
}  # fmt: skip


def check_added(added: dict[str, Any], expected_null: set[str]) -> None:
    """`expected_null` were added as null; anything else added is a later field at its default."""
    assert expected_null <= set(added)
    for key, value in added.items():
        if key in expected_null:
            assert value is None, key
        else:
            default = value in (None, False, 0, []) or value == "levels" or value == MetricSummary().to_json()
            assert key.rsplit(".", 1)[-1] in LATER_FIELDS and default, (key, value)


def v1_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(V1.read_text(encoding="utf-8"))
    return data


def added_keys(old: Any, new: Any, where: str = "") -> dict[str, Any]:
    """Keys `new` has and `old` lacks (path → value); fails on any value that differs or any key `new` lost."""
    added: dict[str, Any] = {}
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        assert set(old) <= set(new), f"{where}: lost {set(old) - set(new)}"
        for key, value in new.items():
            path = f"{where}.{key}" if where else key
            if key in old:
                added.update(added_keys(old[key], value, path))
            else:
                added[path] = value
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            added.update(added_keys(a, b, f"{where}[{i}]"))
    else:
        assert type(old) is type(new) and old == new, f"{where}: {old!r} → {new!r}"
    return added


# -- the v1 file ---------------------------------------------------------------------------------------------


def test_v1_file_loads_typed() -> None:
    results = load_results(V1)
    assert results.schema == "foundry-tui.bench/1" and results.partial is False
    broken, tiny = results.models
    assert broken.status == "error" and broken.error is not None and "load failed" in broken.error
    assert broken.load.load_s is None and broken.levels == [] and broken.memory.rss_peak_mb == 75.0
    assert tiny.status == "ok" and tiny.load.load_s is not None and tiny.load.unload_s is not None
    assert tiny.tags is not None and tiny.tags.capabilities == ("chat",) and tiny.license == "MIT"
    assert [(x.concurrency, x.mode, x.status) for x in tiny.levels] == [(1, "stream", "ok"), (1, "non-stream", "ok")]
    assert tiny.memory_timeline[0].t > 0 and tiny.memory_timeline[0].gpu_used_mb is None
    first = results.requests[0]
    assert (first.model, first.prompt_index, first.round, first.mode) == ("tiny-generic-cpu:1", 0, 1, "stream")
    assert first.completion_tokens == 6 and len(first.itl_ms) == 5 and first.text == "Hello from the tiny model."
    assert first.quality.rubric == 0.5 and first.quality.rubric_covered == ["tiny"]
    assert first.quality.judge is None and (first.quality.judge_note or "").startswith("unparseable judge reply")
    plain = results.requests[2]
    assert plain.mode == "non-stream" and plain.ttft_ms is None and plain.itl_ms == []
    assert results.settings.modes == ["stream", "non-stream"] and results.settings.judge == "tiny"
    assert results.prompts[0].expect[0].any_of == ("Canberra", "ACT") and results.prompts[1].prompt == "Say hello."
    assert results.judge is not None and (results.judge.status, results.judge.unparsed) == ("ok", 2)
    summary = next(s for s in results.summaries if s.model == tiny.model and s.mode == "stream")
    assert summary.e2e_ms.n == 2 and summary.itl_ms.n == 10 and summary.quality.rubric_n == 1
    assert results.comparison is not None and [r.metric for r in results.comparison.rows][:2] == ["ttft_ms", "itl_ms"]
    assert results.comparison.only_in_new[-1] == ("tiny-generic-cpu:1", 1, "non-stream")
    assert results.environment["backend"]["kind"] == "foundry-local"


def test_v1_file_writes_back_the_same_keys_and_values() -> None:
    data = v1_data()
    out = load_results(V1).to_json()
    added = added_keys(data, out)
    check_added(added, ADDED | MEMORY_ADDED)  # only ever added, as null or a default
    assert list(out)[: len(data)] == list(data)  # same top-level order, new keys after
    again = BenchResults.from_json(json.loads(results_json_text(load_results(V1))), "again")
    assert again == load_results(V1)


def test_v1_csv_summaries_and_comparison_are_reproduced() -> None:
    results = load_results(V1)
    # The CSV gained a last column (the model's memory): empty for a file that did not record it.
    old_csv = (FIXTURES / "bench_results_v1.csv").read_text(encoding="utf-8").splitlines()
    # Then the token source, chunks, cold, slot and session (issue 12).
    new_columns = ",model_memory_mb,tokens_source,chunks,cold,slot,session"
    # Then prefill, the phase fields, the request's memory and the SLO verdict (issue 13).
    new_columns += ",prefill_tps,phase,prompt_tokens_target,prompt_tokens_exact,load_s,request_memory_mb,meets_slo"
    assert results_csv_text(results).splitlines() == [old_csv[0] + new_columns] + [
        f"{x},,,,false,,0,,levels,,,,," for x in old_csv[1:]
    ]
    summaries = [s.to_json() for s in build_summaries(results)]
    added = added_keys(v1_data()["summaries"], summaries, "summaries")
    check_added(added, {k for k in MEMORY_ADDED if k.startswith("summaries")})
    baseline = load_results(V1_BASELINE)
    assert results.comparison is not None
    comparison = compare_results(
        baseline, results, baseline_label=results.comparison.baseline, new_label=results.comparison.new
    )
    # The comparison is paired by prompt now (engine.bench.compare): its figures are the stored ones, its verdicts
    # say this file has too little data to conclude anything.
    stored = results.comparison
    enough = "not enough data (2 prompts, n=4 vs 2: p can't go below 0.19)"
    assert [r.verdict for r in comparison.rows] == [enough] * 4 + ["no significant change (+0.0%, identical values)"]
    same = ("model", "concurrency", "mode", "metric", "a_n", "b_n", "a_median", "b_median", "change_pct")
    assert [[getattr(r, k) for k in same] for r in comparison.rows] == [
        [getattr(r, k) for k in same] for r in stored.rows
    ]
    assert (comparison.only_in_baseline, comparison.only_in_new) == (stored.only_in_baseline, stored.only_in_new)
    assert comparison.warnings == [
        "models differ (only in A: none; only in B: broken-generic-cpu:1)",
        "modes differ: stream → stream, non-stream",
    ]


def test_tables_write_numbers_with_their_units() -> None:
    results = load_results(V1)
    rows = summary_rows(results)
    # MEMORY is the model's own: a file written before it was recorded has none (never the process's 75 MB).
    assert rows[0] == ["broken-generic-cpu:1", "error", "–", "–", "–", "–", "–", "–", "–", "–", "–", "1 MB", "–"]
    # PREFILL: the v1 file recorded no prompt tokens, so no prefill rate
    assert rows[1] == ["tiny-generic-cpu:1", "ok", "1.94 ms", "2.13 ms", "1.56 ms", "–", "125198.3 tok/s", "6.0", "–",
                       "0.006 s", "50%", "1 MB", "MIT"]  # fmt: skip
    row = throughput_rows(results)[2]
    assert [row[3], *row[4:6], row[9]] == ["ok", "402.99 req/s", "2418.0 tok/s", "2.13 ms"]
    assert row[6:8] == ["–", "–"]  # no stream slots recorded before issue 12: no steady-state window
    assert results.comparison is not None
    compared = comparison_rows(results.comparison)
    assert compared[3][4:7] == ["168157.6 tok/s", "125198.3 tok/s", "−25.5%"]
    assert compared[4][4:6] == ["6 tokens", "6 tokens"]
    report = markdown_report(results)
    assert (
        "| tiny-generic-cpu:1 | stream | 1 | ok | 1.56 ms |" in report
        and "| tiny-generic-cpu:1 | – | – | 75 MB | 84 MB | 86 MB | 86 MB | +11 MB | – |" in report
    )
    assert "## Against the baseline" in report and "Partial results" not in report


# -- bad files -----------------------------------------------------------------------------------------------


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("requests", 0, "e2e_ms"), "fast", "requests[0].e2e_ms: expected a number, got a string"),
        (("requests", 1, "itl_ms"), [0.1, None], "requests[1].itl_ms[1]: expected a number, got null"),
        (("requests", 0, "completion_tokens"), 6.5, "requests[0].completion_tokens: expected a whole number"),
        (("models", 0, "model"), _DELETE, "models[0].model: missing"),
        (("models", 1, "memory"), [], "models[1].memory: expected an object, got a list"),
        (("summaries", 0, "ttft_ms", "n"), True, "summaries[0].ttft_ms.n: expected a whole number, got true"),
        (("comparison", "only_in_new", 0, 1), "x", "comparison.only_in_new[0][1]: expected a whole number"),
        (("schema",), "foundry-tui.bench/2", "is a newer results format"),
        (("schema",), "something/1", "not a benchmark results schema"),
        (("requests",), {}, "not a foundry-tui benchmark results file"),
    ],
)
def test_bad_results_file_is_one_line_naming_file_and_place(
    tmp_path: Path, path: tuple[Any, ...], value: Any, words: str
) -> None:
    data = v1_data()
    _set(data, path, value)
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(BadInputError) as info:
        load_results(tmp_path)  # a directory holding results.json works too
    message = str(info.value)
    assert words in message and str(bad) in message and "\n" not in message


@pytest.mark.parametrize(("content", "words"), [("{", "is not valid JSON"), ("[1]", "is not a foundry-tui")])
def test_unreadable_results_file(tmp_path: Path, content: str, words: str) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(content)
    with pytest.raises(BadInputError, match=words):
        load_results(bad)
    with pytest.raises(BadInputError, match="does not exist"):
        load_results(tmp_path / "missing.json")


# -- rewriting a file ----------------------------------------------------------------------------------------


def test_annotation_keeps_fields_a_newer_writer_added(tmp_path: Path) -> None:
    data = v1_data()
    data["future_top"] = {"x": 1}
    data["requests"][0]["future_request"] = [1, 2]
    data["requests"][0]["quality"]["future_quality"] = "q"
    data["models"][1]["memory"]["future_memory_mb"] = 3.5
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    updated = set_annotation(path, "tiny-generic-cpu:1", 0, 4, "good")
    on_disk = json.loads(path.read_text())
    assert on_disk["future_top"] == {"x": 1} and on_disk["requests"][0]["future_request"] == [1, 2]
    assert on_disk["requests"][0]["quality"]["future_quality"] == "q"
    assert on_disk["models"][1]["memory"]["future_memory_mb"] == 3.5
    assert [r["quality"]["manual"] for r in on_disk["requests"]] == [4, None, 4, None]  # prompt 0, both modes
    assert on_disk == updated.to_json()
    stream = next(s for s in updated.summaries if s.model == "tiny-generic-cpu:1" and s.mode == "stream")
    assert stream.quality.manual_mean == 4 and stream.quality.manual_n == 1


def test_untrusted_text_never_reaches_files_raw() -> None:
    results = load_results(V1)
    results.models[0].error = "boom\x1b]0;owned\x07 | <b>\nnext line"
    results.requests[0].error = '=HYPERLINK("http://x")\x1b[2J'
    results.requests[0].finish_reason = "stop\r\n"
    markdown = markdown_report(results)
    csv_text = results_csv_text(results)
    for text in (markdown, csv_text):
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert r"boom\\x1b]0;owned\\x07 \| &lt;b&gt; next line" in markdown  # escaped, then Markdown-escaped
    assert "'=HYPERLINK" in csv_text


def test_results_are_copied_not_shared() -> None:
    results = load_results(V1)
    request = results.requests[0]
    clone = request.copy()
    clone.itl_ms.append(1.0)
    clone.quality.rubric_covered.append("x")
    assert len(request.itl_ms) == 5 and request.quality.rubric_covered == ["tiny"]
    assert copy.deepcopy(results) == results

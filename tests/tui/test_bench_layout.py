"""The Benchmark results table's layout (widgets.bench_table.layout) and the rows the pane builds: every figure of
every model whole at 80 columns, one line per model where there is room. Pure functions: no app runs here.

`two_model_results()` is a finished run with fixed numbers (no clock in it), shared with the pane's snapshots.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.cells import cell_len

from foundry_tui.engine.bench import (
    BenchResults,
    LevelResult,
    LoadInfo,
    MemoryInfo,
    ModelResult,
    RequestResult,
    load_results,
)
from foundry_tui.engine.bench import memory as attribution
from foundry_tui.engine.bench.results import RunSettings
from foundry_tui.engine.bench.summaries import build_summaries
from foundry_tui.engine.models import ModelsSnapshot
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.tui.panes.bench import bench_rows, default_choice, status_word
from foundry_tui.tui.widgets.bench_table import COLUMNS, BenchRow, fit, layout
from tests.tui.conftest import CACHED, LOADED, memory_catalog

SMOL = "smollm2-135m-instruct-int8-generic-cpu:1"
TINY = "tiny-generic-cpu:1"
# (model, TTFT ms, e2e ms, decode tok/s, completion tokens, answer) per request, two prompts × two rounds.
ANSWERS = {
    SMOL: (166.0, 2590.0, 66.4, 41, "A large language model is a neural network trained on a lot of text."),
    TINY: (3.71, 6.16, 67501.0, 6, "Hello from the tiny model."),
}


def two_model_results(*, status: str = "ok") -> BenchResults:
    """SmolLM2 and the tiny model, 2 prompts × 2 rounds, finished (`status` for the tiny model)."""
    prompts = [PromptSpec("Explain in two sentences what a large language model is."), PromptSpec("Say hello.")]
    requests: list[RequestResult] = []
    for model, (ttft, e2e, rate, tokens, text) in ANSWERS.items():
        for round_ in (1, 2):
            for index in range(len(prompts)):
                slower = 1.0 + 0.1 * (round_ - 1) + 0.05 * index
                requests.append(RequestResult(
                    model=model, prompt_index=index, round=round_, concurrency=1, mode="stream",
                    t_start_s=float(len(requests)), ttft_ms=ttft * slower, e2e_ms=e2e * slower,
                    decode_tps=rate / slower, completion_tokens=tokens, prompt_tokens=20, finish_reason="stop",
                    status="ok", text=text,
                ))  # fmt: skip
    smol = ModelResult(
        model=SMOL, requested=SMOL, status="ok", load=LoadInfo(load_s=0.58, unload_s=0.03),
        memory=MemoryInfo(rss_before_load_mb=110.5, rss_peak_mb=779.4, model_memory_mb=668.9,
                          model_memory_note=attribution.IN_PROCESS),
        levels=[LevelResult(concurrency=1, mode="stream", status="ok")],
    )  # fmt: skip
    tiny = ModelResult(
        model=TINY, requested=TINY, status=status, load=LoadInfo(load_s=0.0037, unload_s=0.0006),
        memory=MemoryInfo(rss_before_load_mb=679.2, rss_peak_mb=679.5, model_memory_mb=0.32,
                          model_memory_note=attribution.IN_PROCESS),
        levels=[LevelResult(concurrency=1, mode="stream", status=status)],
    )  # fmt: skip
    results = BenchResults(
        started_at="2026-12-01T12:00:00+00:00", finished_at="2026-12-01T12:00:09+00:00",
        settings=RunSettings(models=[SMOL, TINY], rounds=2, warmup=1), prompts=prompts, models=[smol, tiny],
        requests=requests,
    )  # fmt: skip
    results.summaries = build_summaries(results)
    return results


def row(name: str, *cells: str) -> BenchRow:
    return BenchRow(name, name, cells, f"{name} · detail")


WIDE = row(
    "a-very-long-model-name-generic-cpu:1",
    "1234 ms",
    "12345 ms",
    "125198.3 tok/s",
    "12345 ms",
    "1.21 GB",
    "12.3 s",
    "running 12/12",
)  # the widest each figure gets in practice


def test_a_finished_run_reads_whole_at_80_columns() -> None:
    rows = bench_rows(two_model_results())
    assert [r.cells for r in rows] == [
        # p50 and p95 of 1.0, 1.05, 1.1, 1.15 × the base figures (linear percentiles); tok/s: the mean rate
        ("178 ms", "190 ms", "61.9 tok/s", "2959 ms", "669 MB", "0.58 s", "done"),
        ("3.99 ms", "4.24 ms", "62962.2 tok/s", "7.04 ms", "328 KB", "0.004 s", "done"),
    ]
    table = layout(rows, 79)  # 80 columns less the scroll bar
    assert table.two_line
    assert table.header == "  TTFT p50  TTFT p95         decode  e2e p95  memory     load  status"
    for r in rows:
        name, figures = table.lines[r.key]
        assert name == r.name  # whole: the line is the model's own
        assert all(cell in figures for cell in r.cells)
        assert cell_len(name) <= 79 and cell_len(figures) <= 79
    # Figures sit under their headers (right-aligned numbers end where their header ends).
    header, figures = table.header, table.lines[TINY][1]
    assert figures.index("0.004 s") + len("0.004 s") == header.index("load") + len("load")


def test_one_line_per_model_where_there_is_room() -> None:
    rows = bench_rows(two_model_results())
    table = layout(rows, 119)
    assert not table.two_line and table.header.startswith("model ")
    (line,) = table.lines[SMOL]
    assert line.startswith(SMOL) and line.endswith("done") and cell_len(line) <= 119


def test_a_name_is_cut_only_in_its_column_and_the_detail_keeps_it_whole() -> None:
    rows = bench_rows(two_model_results())
    table = layout(rows, 99)  # room for a 31-cell model column, not for SmolLM2's 40
    (line,) = table.lines[SMOL]
    assert not table.two_line and line.startswith("smollm2-135m-instruct-") and "…" in line
    assert rows[0].detail.startswith(SMOL + " · 4/4 requests ok · memory: RSS peak during its run")


@pytest.mark.parametrize("width", [79, 72])
def test_the_widest_figures_still_fit(width: int) -> None:
    table = layout([WIDE, row("x", *(["–"] * len(COLUMNS)))], width)
    name, figures = table.lines[WIDE.key]
    assert table.two_line and cell_len(figures) <= width and all(c in figures for c in WIDE.cells)
    assert name == WIDE.name


def test_status_words_are_whole_words() -> None:
    statuses = ("ok", "error", "cancelled", "partial", "skipped", "pending", "running")
    assert [status_word(s, 3, 8) for s in statuses] == [
        "done", "failed", "cancelled 3/8", "partial 3/8", "skipped", "waiting", "running 3/8",
    ]  # fmt: skip
    rows = bench_rows(two_model_results(status="cancelled"))
    assert rows[1].cells[-1].startswith("cancelled ")
    assert "cancelled" in layout(rows, 79).lines[TINY][1]


def test_fit_cuts_with_an_ellipsis() -> None:
    assert fit("abcdef", 6) == "abcdef" and fit("abcdefg", 6) == "abcde…"


def test_the_default_choice_is_the_loaded_model_else_the_first() -> None:
    backend = memory_catalog()
    snapshot = ModelsSnapshot(backend.list_catalog(), (), tuple(backend.list_cached()), tuple(backend.list_loaded()))
    assert default_choice(snapshot) == ([LOADED], "the loaded model")
    none_loaded = dataclasses.replace(snapshot, loaded=())
    first = none_loaded.chat_models()[0].id
    assert default_choice(none_loaded) == ([first], "the first model") and first in (LOADED, CACHED)


def test_a_model_without_a_memory_figure_says_why() -> None:
    results = two_model_results(status="pending")
    tiny = results.models[1]
    tiny.memory.model_memory_mb = tiny.memory.model_memory_note = None
    results.summaries = build_summaries(results)
    row = bench_rows(results)[1]
    assert row.cells[4:] == ("–", "0.004 s", "waiting") and "memory: not measured yet" in row.detail
    old = load_results(Path(__file__).parents[1] / "fixtures" / "bench_results_v1.json")  # before model memory
    assert all(r.cells[4] == "–" and "memory: not recorded" in r.detail for r in bench_rows(old))

"""What the Benchmark pane shows of issue 13's measurements, with a hand-built run (tests.tui.sweep_fixture) whose
summaries are the engine's: prefill ≈ and goodput in the table, the sweep plot's series and values, the usable
context and cold-start lines, the warnings, untrusted names kept literal; the options dialog's values reaching
`BenchStartRequested` and the engine's config (a bad SLO: one line of status, nothing runs); snapshots at 80×24.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, SelectionList, Static

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.engine import metrics
from foundry_tui.engine.bench import build_summaries
from foundry_tui.engine.bench.phase_summaries import build_phase_summaries
from foundry_tui.engine.bench.phase_tables import context_line
from foundry_tui.tui.messages import BenchOptions, BenchStartRequested, BenchStatus
from foundry_tui.tui.panes.bench import PHASES, bench_columns, bench_rows
from foundry_tui.tui.screens.bench_options import BenchOptionsScreen, options_summary
from foundry_tui.tui.widgets.bench_table import GOODPUT, PREFILL, BenchTable, layout
from foundry_tui.tui.widgets.sweep_plot import (
    FIGURES,
    PhaseNotes,
    PhasesView,
    SweepPlot,
    SweepSeries,
    cold_line,
    length_label,
    phase_lines,
    sweep_series,
    value_ticks,
    values_line,
)
from tests.conftest import TINY_ID
from tests.tui.conftest import MakeApp
from tests.tui.helpers import settle, static_text, wait_for
from tests.tui.screen_lines import screen_lines
from tests.tui.sweep_fixture import LENGTHS, SLO, sweep_results
from tests.tui.test_bench_layout import SMOL, TINY
from tests.tui.test_bench_pane import home, on_bench_tab, show_finished_run, status_text

__all__ = ["home"]  # the fixture, shared with the pane's tests


# -- pure: rows, series, lines ---------------------------------------------------------------------------------


def test_the_table_has_prefill_beside_decode_and_goodput_with_an_slo() -> None:
    results = sweep_results()
    columns = bench_columns(results)
    assert columns == ("TTFT p50", "TTFT p95", PREFILL, "decode", "e2e p95", GOODPUT, "memory", "load", "status")
    for row, summary in zip(bench_rows(results), results.summaries, strict=True):
        cells = dict(zip(columns, row.cells, strict=True))
        assert cells[PREFILL] == metrics.PREFILL.fmt(summary.prefill_tps.p50)
        assert cells["decode"] == metrics.DECODE.fmt(summary.decode_tps.mean)
        assert summary.goodput_share is not None
        assert cells[GOODPUT] == metrics.GOODPUT.fmt(summary.goodput_share * 100)
    smol, tiny = bench_rows(results)
    # SmolLM2's warm requests: TTFT 176, 160, 176 ms against ttft_ms<=170 → 1 of 3 good (the cold one left out).
    assert dict(zip(columns, smol.cells, strict=True))[GOODPUT] == "33%"
    assert "goodput 33% (1/3)" in smol.detail and "goodput 100% (3/3)" in tiny.detail
    # Cold starts measured: their TTFT p50 and count on the detail line.
    cold = results.cold_starts[0]
    assert f"cold TTFT p50 {metrics.COLD_TTFT.fmt(cold.ttft_ms.p50)} over 3 reloads" in smol.detail


def test_without_an_slo_or_a_prefill_rate_the_columns_stay_as_they_were() -> None:
    results = sweep_results(slo=None)
    assert GOODPUT not in bench_columns(results) and PREFILL in bench_columns(results)
    for request in results.requests:
        request.prefill_tps = None
    assert bench_columns(results) == ("TTFT p50", "TTFT p95", "decode", "e2e p95", "memory", "load", "status")


def test_at_80_columns_the_figures_wrap_under_a_header_split_the_same_way() -> None:
    results = sweep_results()
    columns = bench_columns(results)
    rows = bench_rows(results)
    table = layout(rows, 79, columns)
    header = table.header.splitlines()
    assert table.two_line and len(header) == 2
    for row in rows:
        name, *figures = table.lines[row.key]
        assert name == row.name and len(figures) == 2
        assert all(len(line) <= 79 for line in [name, *figures, *header])
        # Every figure is whole, on the line under its header, ending where its header ends (numbers right-aligned).
        for cell, column in zip(row.cells, columns, strict=True):
            line = 0 if column in header[0] else 1
            assert column in header[line] and cell in figures[line]
            if column != "status":
                end = header[line].index(column) + len(column)
                assert figures[line][:end].endswith(cell)


def test_the_sweep_series_are_the_summaries_points() -> None:
    results = sweep_results()
    ttft, prefill, decode, memory = FIGURES
    by_model = {s.model: s for s in sweep_series(results, ttft)}
    assert list(by_model) == [SMOL, TINY]
    for model, series in by_model.items():
        points = {p.prompt_tokens_target: p for p in results.sweep if p.model == model}
        assert [n for n, _ in series.points] == LENGTHS
        assert series.points == tuple((n, points[n].ttft_ms.p50) for n in LENGTHS)
    smol_prefill = next(s for s in sweep_series(results, prefill) if s.model == SMOL)
    assert smol_prefill.points == tuple(
        (p.prompt_tokens_target, p.prefill_tps.p50) for p in results.sweep if p.model == SMOL
    )
    assert all(v == 60.0 for _, v in next(s for s in sweep_series(results, decode) if s.model == SMOL).points)
    assert next(s for s in sweep_series(results, memory) if s.model == SMOL).points == ((128, 700.0), (512, 710.0),
                                                                                          (2048, 720.0))  # fmt: skip
    # A length nobody answered has no point, the values line says it failed; the others keep theirs.
    results.sweep[0].n_ok, results.sweep[0].status = 0, "error"
    series = sweep_series(results, ttft)[0]
    assert [n for n, _ in series.points] == [512, 2048] and series.failed == (128,)
    assert values_line(series, ttft).startswith(f"{series.model}: 128 failed · 512 ")


def test_the_value_axis_starts_at_zero_with_room_above_the_highest_point() -> None:
    assert value_ticks([634.1, 4.3]) == (0.0, 800.0)  # 792.6 up to two significant digits
    assert value_ticks([16.9]) == (0.0, 22.0)  # a lone point stays below the legend's rows
    assert value_ticks([0.0, 0.0]) == (0.0, 1.0)  # nothing to scale: still an axis


def test_values_lines_lengths_and_cold_lines_read_as_documented() -> None:
    series = SweepSeries(SMOL, ((128, 96.8), (2048, 634.0)))
    assert values_line(series, FIGURES[0]) == f"{SMOL}: 128 {metrics.TTFT.fmt(96.8)} · 2k {metrics.TTFT.fmt(634.0)}"
    assert [length_label(n) for n in (128, 1000, 1024, 2048, 3000)] == ["128", "1000", "1k", "2k", "3000"]
    assert length_label(512, approximate=True) == "~512"
    cold = sweep_results().cold_starts[0]
    assert cold_line(cold) == (
        f"{SMOL}: cold TTFT p50 {metrics.COLD_TTFT.fmt(cold.ttft_ms.p50)} over 3 reloads, "
        f"load p50 {metrics.COLD_LOAD.fmt(cold.load_s.p50)}, warm TTFT p50 {metrics.TTFT.fmt(cold.warm_ttft_p50_ms)} "
        f"({cold.cold_over_warm:.1f}× warm)"
    )
    cold.note, cold.n = "cold starts: the endpoint cannot load models", 0
    assert cold_line(cold) == f"{SMOL}: cold starts: the endpoint cannot load models"


def test_phase_lines_hold_the_context_verdicts_cold_starts_and_warnings() -> None:
    results = sweep_results()
    lines = phase_lines(results)
    smol_context, tiny_context = results.context
    assert "advertised 8192, works up to 4096" in smol_context.verdict
    assert lines == [
        "usable context (longest prompt answered, first token within 60.0 s):",
        context_line(smol_context),
        context_line(tiny_context),
        "cold starts (reload, then one request):",
        *(cold_line(c) for c in results.cold_starts),
        "warnings:",
        *results.warnings,
    ]
    assert len(results.warnings) == 1 and results.warnings[0].startswith(f"{TINY}: likely prompt-cache effect")


def test_options_summary_says_what_is_on() -> None:
    assert options_summary(BenchOptions()) == ""
    on = BenchOptions(prompt_tokens="128,2k", find_context=True, cold="3", slo=SLO)
    assert options_summary(on) == "SLO · context · cold ×3 · sweep 128,2k"


# -- the pane, driven by Pilot --------------------------------------------------------------------------------


def test_the_plots_view_draws_the_sweep_and_lists_context_cold_and_warnings(home: Path, make_app: MakeApp) -> None:
    results = sweep_results()

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await show_finished_run(pilot, results, home / "runs" / "x")
            assert "p: sweep plots, usable context, cold starts, 1 warning" in status_text(app)
            await pilot.press("p")
            view = app.query_one(PhasesView)
            await wait_for(pilot, lambda: view.display and app.focused is app.query_one(PhaseNotes), "the plots")
            plot = app.query_one(SweepPlot)
            assert not app.query_one("#bench-setup").display  # the form makes way: the plot gets the height
            assert plot.figure is FIGURES[0] and plot.lengths == LENGTHS
            assert plot.series == sweep_series(results, FIGURES[0])
            lines = static_text(app.query_one("#bench-phase-lines", Static)).splitlines()
            assert lines[0] == "TTFT p50 per prompt length:"
            assert lines[1:3] == [values_line(s, FIGURES[0]) for s in plot.series]
            assert lines[3:] == phase_lines(results)
            text = "\n".join(screen_lines(pilot))
            assert "TTFT p50 (ms) vs prompt tokens" in text and "2k" in text  # the title and a length tick
            await pilot.press("right")  # the next figure: prefill ≈
            assert plot.figure is FIGURES[1] and plot.series == sweep_series(results, FIGURES[1])
            await pilot.press("left", "left")  # back past the first: the last (memory)
            assert plot.figure is FIGURES[-1]
            await pilot.press("p")  # back to the table and the form, the keyboard on the model list
            await wait_for(pilot, lambda: app.query_one(BenchTable).display, "the table")
            assert app.query_one("#bench-setup").display
            assert app.focused is app.query_one("#bench-models", SelectionList) and pane.view == "bench-table"
            await settle(pilot)

    asyncio.run(main())


def test_untrusted_names_are_shown_literally(home: Path, make_app: MakeApp) -> None:
    results = sweep_results()
    evil = "evil[bold]\x1b[2J:1"
    for model in results.models:
        model.model = evil if model.model == TINY else model.model
    for request in results.requests:
        request.model = evil if request.model == TINY else request.model
    results.summaries = build_summaries(results)
    build_phase_summaries(results)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await show_finished_run(pilot, results, home / "runs" / "x")
            await pilot.press("p")
            plot = app.query_one(SweepPlot)
            await wait_for(pilot, lambda: plot.display and plot.series, "the plot")
            drawn = plot.plt.build()
            assert "\x1b[2J" not in drawn and "evil[bold]\\x1b[2J:1" in plot.plt.uncolorize(drawn)
            lines = static_text(app.query_one("#bench-phase-lines", Static))
            assert "evil[bold]\\x1b[2J:1: 128 " in lines and "\x1b" not in lines
            assert "evil[bold]\\x1b[2J:1" in "\n".join(screen_lines(pilot))
            await settle(pilot)

    asyncio.run(main())


def test_no_sweep_says_so_and_still_lists_the_rest(home: Path, make_app: MakeApp) -> None:
    results = sweep_results()
    results.sweep = []

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await show_finished_run(pilot, results, home / "runs" / "x")
            await pilot.press("p")
            await wait_for(pilot, lambda: app.query_one(PhasesView).display, "the view")
            assert not app.query_one(SweepPlot).display
            title = static_text(app.query_one("#bench-phases-title", Static))
            assert title.startswith("no prompt-length sweep in this run")
            lines = static_text(app.query_one("#bench-phase-lines", Static)).splitlines()
            assert lines == phase_lines(results)
            await settle(pilot)

    asyncio.run(main())


# -- the options dialog -----------------------------------------------------------------------------------------


async def fill_options(pilot: Pilot[Any], **fields: str) -> None:
    """Open the dialog with `m`, type into its fields (by id suffix), tick the context box, save with Enter."""
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BenchOptionsScreen), "the dialog")
    screen = pilot.app.screen
    for name, value in fields.items():
        field = screen.query_one(f"#opt-{name}", Input)
        field.focus()
        field.value = ""
        await pilot.press(*value)  # typed, key by key
    box = screen.query_one("#opt-find-context", Checkbox)
    box.focus()
    await pilot.press("space")
    assert box.value
    screen.query_one("#opt-slo", Input).focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, BenchOptionsScreen), "the dialog to close")


def recorder(sent: list[BenchStartRequested]) -> Any:
    def hook(message: Message) -> None:
        if isinstance(message, BenchStartRequested):
            sent.append(message)

    return hook


def test_the_options_dialog_values_reach_the_run(home: Path, make_app: MakeApp) -> None:
    sent: list[BenchStartRequested] = []

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24), message_hook=recorder(sent)) as pilot:
            pane = await on_bench_tab(pilot)
            await fill_options(pilot, **{"prompt-tokens": "128,2k", "sweep-max-tokens": "16", "cold": "2",
                                         "context-ttft-limit": "30", "slo": "ttft_ms<=500,e2e_ms<=4000"})  # fmt: skip
            expected = BenchOptions(prompt_tokens="128,2k", sweep_max_tokens="16", find_context=True,
                                    context_ttft_limit_s="30", cold="2", slo="ttft_ms<=500,e2e_ms<=4000")  # fmt: skip
            assert pane.options == expected
            # The line over the buttons (32 cells) says which are on; the sweep's lengths are the part a cut takes.
            assert static_text(app.query_one("#bench-extra", Static)) == "SLO · context · cold ×2 · sweep…"
            assert status_text(app).startswith("next run: sweep 128,2k tokens")
            # The dialog opens again on what was saved; Esc keeps it.
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, BenchOptionsScreen), "the dialog")
            assert app.screen.query_one("#opt-slo", Input).value == "ttft_ms<=500,e2e_ms<=4000"
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, BenchOptionsScreen), "the dialog to close")
            assert pane.options == expected
            app.query_one("#bench-models", SelectionList).focus()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: sent, "the run's request")
            assert sent[0].options == expected
            await settle(pilot)

    asyncio.run(main())


def test_a_bad_slo_is_one_line_of_status_and_nothing_runs(home: Path, make_app: MakeApp) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await on_bench_tab(pilot)
            await fill_options(pilot, slo="ttft_ms=500")
            app.query_one("#bench-models", SelectionList).focus()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "SLO takes targets like" in status_text(app), "the error")
            assert "\n" not in status_text(app) and "cannot read 'ttft_ms=500'" in status_text(app)
            assert not pane.running and app.bench is None and pane.results is None
            await settle(pilot)

    asyncio.run(main())


# -- snapshots at 80×24 ------------------------------------------------------------------------------------------


def test_sweep_table_snapshot(snap_compare: Any, home: Path, make_app: MakeApp) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await show_finished_run(pilot, sweep_results(), home / ".local/share/foundry-tui/bench/20261201-120000")
        text = "\n".join(screen_lines(pilot))
        assert "prefill ≈" in text and "goodput" in text and "113.6 tok/s" in text and "33%" in text

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_sweep_plot_snapshot(snap_compare: Any, home: Path, make_app: MakeApp) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await show_finished_run(pilot, sweep_results(), home / ".local/share/foundry-tui/bench/20261201-120000")
        await pilot.press("p")
        await wait_for(pilot, lambda: app.query_one(SweepPlot).series, "the plot")
        await settle(pilot)
        text = "\n".join(screen_lines(pilot))
        assert "TTFT p50 (ms) vs prompt tokens" in text and "usable context" in text

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


# -- a real run on the tiny model ------------------------------------------------------------------------------


def test_a_real_run_says_which_phase_it_is_in_and_shows_its_figures(
    runtime: FoundryBackend, make_app: MakeApp, tmp_path: Path
) -> None:
    """Options from the dialog, a run on the real runtime: the status line follows the phases request by request
    (the table's row cannot say which length or probe is running), and the plots view holds what they measured."""
    sent: list[BenchStatus] = []

    def hook(message: Message) -> None:
        if isinstance(message, BenchStatus):
            sent.append(message)

    async def main() -> None:
        app = make_app(runtime)
        async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
            pane = await on_bench_tab(pilot)
            models = app.query_one("#bench-models", SelectionList)
            models.deselect_all()
            models.select(TINY_ID)
            app.query_one("#bench-rounds", Input).value = "1"
            app.query_one("#bench-warmup", Input).value = "0"
            await fill_options(pilot, **{"prompt-tokens": "64,128", "cold": "2", "slo": "ttft_ms<=10000"})
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "written to" in status_text(app), "the run", timeout=120)
            results = pane.results
            assert results is not None and not results.partial
            lines = [m.text for m in sent]
            assert f"{TINY_ID} · prompt-length sweep: 2 requests…" in lines
            assert f"{TINY_ID} · cold starts: 2 reloads, one request after each…" in lines
            assert f"{TINY_ID} · usable context: searching (doubling, then bisecting)…" in lines
            sweep = [line for line in lines if " · sweep " in line]
            assert [line.split(" · sweep ")[1].split(":")[0] for line in sweep] == [
                "64 tokens round 1",
                "128 tokens round 1",
            ]
            assert len([line for line in lines if " · cold start reload " in line]) == 2
            probes = [line for line in lines if " · context probe " in line]
            assert len(probes) == len([r for r in results.requests if r.phase == "context"]) >= 3
            # What the phases measured: both lengths, two cold starts, the context verdict (the tiny model: 512).
            assert [p.prompt_tokens_target for p in results.sweep] == [64, 128]
            assert results.cold_starts[0].n == 2 and results.context[0].advertised == 512
            await pilot.press("p")
            await wait_for(pilot, lambda: pane.view == PHASES, "the plots view")
            lines = static_text(app.query_one("#bench-phase-lines", Static)).splitlines()
            assert lines[2:] == phase_lines(results)  # under the header and the one model's values
            assert any(results.context[0].verdict in line for line in lines)

    asyncio.run(main())

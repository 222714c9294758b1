"""The Benchmark pane driven by Pilot: a small run on the real runtime, live rows, answers, scores, past runs; on the
in-memory backend: the form's errors, the default selection and its ✓ marks, a run read whole at 80×24, past runs
of the CLI; snapshots of a finished two-model run, its answers and the past runs at 80×24 and 120×40."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, SelectionList, Static, TabbedContent

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.devtools.memory_backend import MemoryBackend
from foundry_tui.devtools.tiny_model import TINY_ANSWER
from foundry_tui.engine import metrics
from foundry_tui.engine.bench import BenchResults, write_results
from foundry_tui.engine.bench import memory as attribution
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import BenchDone
from foundry_tui.tui.panes.bench import BenchPane, bench_columns
from foundry_tui.tui.screens.bench_answers import AnswerCard, AnswersScreen
from foundry_tui.tui.screens.past_runs import PastRunsScreen
from foundry_tui.tui.widgets.bench_models import BenchModelList
from foundry_tui.tui.widgets.bench_table import COLUMNS, PREFILL, BenchTable
from tests.conftest import TINY_ID
from tests.tui.conftest import CACHED, LOADED, MakeApp
from tests.tui.helpers import settle, static_text, wait_for
from tests.tui.test_bench_layout import SMOL, TINY, two_model_results

SIZES = [(80, 24), (120, 40)]
SIZE_IDS = ["80x24", "120x40"]


_SVG_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                       r'clip-path="url\(#[\w-]*-line-(\d+)\)">([^<]*)</text>')  # fmt: skip


def screen_rows(pilot: Pilot[Any]) -> str:
    """What the terminal shows, one line per row: the screenshot's text put back on its grid (12.2 px a cell)."""
    rows: dict[int, list[tuple[float, str]]] = {}
    for x, row, text in _SVG_TEXT.findall(pilot.app.export_screenshot()):
        rows.setdefault(int(row), []).append((float(x), html.unescape(text).replace("\xa0", " ")))
    lines = []
    for row in range(max(rows, default=-1) + 1):
        line = ""
        for x, text in sorted(rows.get(row, [])):
            line = line.ljust(round(x / 12.2)) + text
        lines.append(line.rstrip())
    return "\n".join(lines)


def status_text(app: FoundryTuiApp) -> str:
    return static_text(app.query_one("#bench-status", Static))


async def on_bench_tab(pilot: Pilot[Any]) -> BenchPane:
    """The Benchmark tab shown, its models listed, the keyboard in the pane (its keys work)."""
    app = pilot.app
    models = app.query_one("#bench-models", SelectionList)
    await wait_for(pilot, lambda: models.option_count > 0, "the models")
    await pilot.press("5")
    pane = app.query_one(BenchPane)
    await wait_for(pilot, lambda: app.focused is not None and pane in app.focused.ancestors, "the keyboard in the pane")
    return pane


def test_small_benchmark_end_to_end(runtime: FoundryBackend, make_app: MakeApp, tmp_path: Path) -> None:
    async def main() -> None:
        app = make_app(runtime)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(BenchPane)
            models = app.query_one("#bench-models", SelectionList)
            await wait_for(pilot, lambda: models.option_count > 0)  # the runtime is up and the app is ready
            await pilot.press("5")
            tabs = app.query_one("#tabs", TabbedContent)
            await wait_for(
                pilot, lambda: tabs.active == "bench" and app.focused is not None and pane in app.focused.ancestors
            )
            models.deselect_all()
            models.select(TINY_ID)
            app.query_one("#bench-rounds", Input).value = "2"
            app.query_one("#bench-warmup", Input).value = "0"
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "written to" in status_text(app), "the run", timeout=60)
            (row,) = app.query_one(BenchTable).rows
            assert row.key == TINY_ID and row.cells[-1] == "done" and "8/8 requests" in row.detail  # 4 prompts × 2
            assert pane.results is not None
            cells = dict(zip(bench_columns(pane.results), row.cells, strict=True))
            assert (
                cells["TTFT p50"].endswith(" ms")
                and cells["decode"].endswith(" tok/s")
                and cells["load"].endswith(" s")
            )
            # The prompt's tokens over the warm TTFT, labelled as an approximation (≈), beside the decode rate.
            summary = pane.results.summaries[0]
            assert cells[PREFILL] == metrics.PREFILL.fmt(summary.prefill_tps.p50) and summary.prefill_tps.n == 7
            run_dir = pane.results_path
            assert run_dir is not None and run_dir.parent == tmp_path / "app" / "bench"
            results_file = run_dir / "results.json"
            data = json.loads(results_file.read_text())  # written by the runner, as the CLI's
            assert data["partial"] is False and pane.results is not None and data == pane.results.to_json()
            assert {r["completion_tokens"] for r in data["requests"]} == {6}
            assert (run_dir / "benchmark_report.md").exists() and (run_dir / "results.csv").exists()
            # How the model's own memory is counted is on the row's detail line (the figures need a live sampler:
            # this app's is fixed; tests/test_bench_memory.py measures them on the runtime).
            assert data["models"][0]["memory"]["model_memory_note"] == attribution.IN_PROCESS
            assert f"memory: {attribution.IN_PROCESS}" in row.detail
            # The load went through the app's lifecycle: its markers are on the app's sampler.
            markers = [(e.kind, e.model) for e in app.session.sampler.events.events()]
            assert ("load_start", TINY_ID) in markers and ("unload_end", TINY_ID) in markers

            # Side by side answers, and a manual score written to results.json.
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, AnswersScreen) and app.screen.query(AnswerCard))
            card = app.screen.query_one(AnswerCard)
            assert card.request.text == TINY_ANSWER
            card.focus()
            await pilot.press("4")
            await wait_for(pilot, lambda: json.loads(results_file.read_text())["requests"][0]["quality"]["manual"] == 4)
            await pilot.press("escape")

            # Past runs list the run we just made (read on a worker) and open it again.
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, PastRunsScreen) and app.screen.runs is not None)
            options = app.screen.query_one(OptionList)
            assert options.option_count == 1
            options.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: "showing" in status_text(app))
            assert pane.results is not None and pane.results.requests[0].quality.manual == 4

    asyncio.run(main())


def test_bad_settings_and_no_models_are_reported(memory: MemoryBackend, make_app: MakeApp) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await on_bench_tab(pilot)
            models = app.query_one("#bench-models", SelectionList)
            models.deselect_all()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "pick at least one model" in status_text(app), "the hint")
            models.select(CACHED)
            app.query_one("#bench-rounds", Input).value = "many"
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "rounds must be a whole number" in status_text(app), "the error")
            assert not pane.running and app.bench is None
            assert f"load {CACHED}" not in memory.calls  # nothing ran
            await settle(pilot)

    asyncio.run(main())


def test_the_choice_shows_without_colour_and_the_defaults_run(home: Path, make_app: MakeApp) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await on_bench_tab(pilot)
            models = app.query_one(BenchModelList)
            # The loaded model starts selected, and the hint says so; the box reads ✓ / blank, not a coloured X.
            assert models.marks() == [f"✓ {LOADED}", f"  {CACHED}"]
            assert "the loaded model preselected" in status_text(app)
            text = screen_rows(pilot)
            assert f"▐✓▌ {LOADED}" in text and f"▐ ▌ {CACHED}" in text and "▐X▌" not in text
            await pilot.press("down", "space")
            assert models.marks() == [f"✓ {LOADED}", f"✓ {CACHED}"]
            await pilot.press("ctrl+r")  # the defaults (and the one added) run at once
            await wait_for(pilot, lambda: "written to" in status_text(app), "the run")
            assert pane.results is not None and [m.status for m in pane.results.models] == ["ok", "ok"]
            # At 80×24 every figure of both models is on screen, and the results path on its own line.
            text = screen_rows(pilot)
            for header in COLUMNS:
                assert header in text
            for row in app.query_one(BenchTable).rows:
                assert row.name in text and all(cell in text for cell in row.cells)
            assert pane.results_path is not None
            written = f"results written to ~/app/bench/{pane.results_path.name} "  # whole, ~ for $HOME
            assert any(line.strip().startswith(written) for line in text.splitlines())
            # The highlighted row's detail line: the loaded model's memory cannot be told apart from the process's.
            assert "memory: unknown — loaded before the run" in " ".join(text.split())
            await settle(pilot)

    asyncio.run(main())


def cli_run(root: Path, name: str, started_at: str, **changes: Any) -> Path:
    """A run as `foundry-tui bench` writes it (the three files), in `root/name`."""
    results = two_model_results()
    results.started_at = started_at
    for key, value in changes.items():
        setattr(results, key, value)
    write_results(root / name, results)
    return root / name


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the working directory under tmp_path, so the paths on screen are the same on every machine."""
    monkeypatch.setenv("HOME", str(tmp_path))
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return tmp_path


def test_past_runs_list_the_cli_runs_too(home: Path, make_app: MakeApp) -> None:
    tui_run = cli_run(home / "app" / "bench", "20261201-120000", "2026-12-01T12:00:00+00:00")
    cli_old = cli_run(home / "project" / "bench-results", "20261130-090000", "2026-11-30T09:00:00+00:00",
                      partial=True)  # fmt: skip

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await on_bench_tab(pilot)
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, PastRunsScreen) and app.screen.runs is not None)
            screen = app.screen
            assert isinstance(screen, PastRunsScreen) and screen.runs is not None
            assert [r.path for r in screen.runs] == [tui_run, cli_old]  # newest first, from both places
            text = screen_rows(pilot)
            assert "runs in ~/app/bench and ./bench-results" in text and "· ./bench-results" in text
            await pilot.press("down", "enter")
            pane = app.query_one(BenchPane)
            await wait_for(pilot, lambda: "showing ./bench-results/20261130-090000" in status_text(app))
            assert pane.results is not None and pane.results.partial and pane.results_path == cli_old
            await settle(pilot)

    asyncio.run(main())


# -- snapshots -----------------------------------------------------------------------------------------------


async def show_finished_run(pilot: Pilot[Any], results: BenchResults, path: Path) -> BenchPane:
    pane = await on_bench_tab(pilot)
    app = pilot.app
    # The title and the model list depend on the session: a snapshot taken before it is ready would differ.
    await wait_for(
        pilot,
        lambda: app.backend_state == "ready" and app.snapshot.catalog is not None,  # type: ignore[attr-defined]
        "the session and its models",
    )
    pane.post_message(BenchDone(results, path))
    await wait_for(pilot, lambda: len(pilot.app.query_one(BenchTable).rows) == len(results.models), "the rows")
    await settle(pilot)
    return pane


def test_the_detail_line_follows_the_highlighted_model(home: Path, make_app: MakeApp) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await show_finished_run(pilot, two_model_results(status="error"), home / "runs" / "x")
            table = app.query_one(BenchTable)
            detail = app.query_one("#bench-table-detail", Static)
            assert static_text(detail).startswith(f"{SMOL} · 4/4 requests ok · memory: {attribution.IN_PROCESS}")
            table.options.focus()
            await pilot.press("down")
            assert table.highlighted_key == TINY and static_text(detail).startswith(f"{TINY} · ")
            assert table.row_lines(TINY)[1].endswith("failed")  # the status in words
            header = static_text(app.query_one("#bench-table-header", Static))
            assert header == "  TTFT p50  TTFT p95         decode  e2e p95  memory     load  status"
            # Focused, the list gains no border: on screen the figures stay under their headers.
            lines = screen_rows(pilot).splitlines()
            top = next(line for line in lines if "TTFT p50" in line)
            figures = next(line for line in lines if "3.99 ms" in line)
            assert figures.index("3.99 ms") + len("3.99 ms") == top.index("TTFT p50") + len("TTFT p50")
            await settle(pilot)

    asyncio.run(main())


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_finished_two_model_run_snapshot(
    snap_compare: Any, home: Path, make_app: MakeApp, size: tuple[int, int]
) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await show_finished_run(pilot, two_model_results(), home / ".local/share/foundry-tui/bench/20261201-120000")
        text = screen_rows(pilot)
        assert "669 MB" in text and "62962.2 tok/s" in text and "done" in text
        assert "~/.local/share/foundry-tui/bench/20261201-120000" in text

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_answers_view_snapshot(snap_compare: Any, home: Path, make_app: MakeApp, size: tuple[int, int]) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await show_finished_run(pilot, two_model_results(), home / "runs" / "20261201-120000")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AnswersScreen) and len(app.screen.query(AnswerCard)) == 2)
        await settle(pilot)
        assert {c.request.model for c in app.screen.query(AnswerCard)} == {SMOL, TINY}

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_past_runs_snapshot(snap_compare: Any, home: Path, make_app: MakeApp, size: tuple[int, int]) -> None:
    cli_run(home / "app" / "bench", "20261201-120000", "2026-12-01T12:00:00+00:00")
    cli_run(home / "project" / "bench-results", "20261130-090000", "2026-11-30T09:00:00+00:00", partial=True)
    (home / "app" / "bench" / "20261129-080000").mkdir()
    broken = home / "app" / "bench" / "20261129-080000" / "results.json"
    broken.write_text("{")  # a broken file: listed, says why (ordered by its file's time)
    os.utime(broken, (1_795_939_200, 1_795_939_200))  # 2026-11-29 08:00 UTC
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await on_bench_tab(pilot)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, PastRunsScreen) and app.screen.runs is not None)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)

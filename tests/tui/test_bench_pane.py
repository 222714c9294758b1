"""The Benchmark pane driven by Pilot: a small run on the real runtime, live rows, answers, scores, past runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, SelectionList, Static

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.tiny_model import TINY_ANSWER
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.panes.bench import BenchPane
from foundry_tui.tui.screens.bench_answers import AnswerCard, AnswersScreen
from foundry_tui.tui.screens.past_runs import PastRunsScreen
from tests.conftest import TINY_ID
from tests.tui.fixed_sampler import FixedSampler


async def wait_for(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def test_small_benchmark_end_to_end(runtime: FoundryBackend, tmp_path: Path) -> None:
    async def main() -> None:
        app = FoundryTuiApp(Settings(data_dir=tmp_path), backend=runtime, sampler=FixedSampler())
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("5")
            pane = app.query_one(BenchPane)
            models = app.query_one("#bench-models", SelectionList)
            await wait_for(pilot, lambda: models.option_count > 0)
            models.select(TINY_ID)
            app.query_one("#bench-rounds", Input).value = "2"
            app.query_one("#bench-warmup", Input).value = "0"
            pane.action_start()
            await wait_for(pilot, lambda: pane.runner is not None and pane.runner.finished and pane.results_path)
            await wait_for(pilot, lambda: "written to" in str(app.query_one("#bench-status", Static).render()))
            table = app.query_one("#bench-table", DataTable)
            row = [str(cell) for cell in table.get_row(TINY_ID)]
            assert row[1] == "ok" and row[2] == "8/8"  # 4 prompts × 2 rounds
            assert row[3].endswith("ms") and row[5] != "-"
            results_file = pane.results_path / "results.json"
            data = json.loads(results_file.read_text())
            assert data["partial"] is False
            assert {r["completion_tokens"] for r in data["requests"]} == {6}
            assert (pane.results_path / "benchmark_report.md").exists() and (pane.results_path / "results.csv").exists()

            # Side by side answers, and a manual score written to results.json.
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, AnswersScreen) and app.screen.query(AnswerCard))
            card = app.screen.query_one(AnswerCard)
            assert card.request["text"] == TINY_ANSWER
            card.focus()
            await pilot.press("4")
            await wait_for(pilot, lambda: json.loads(results_file.read_text())["requests"][0]["quality"]["manual"] == 4)
            await pilot.press("escape")

            # Past runs list the run we just made and open it again.
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, PastRunsScreen))
            options = app.screen.query_one(OptionList)
            assert options.option_count == 1
            options.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: "showing" in str(app.query_one("#bench-status", Static).render()))
            assert pane.results is not None and pane.results["requests"][0]["quality"]["manual"] == 4

    asyncio.run(main())


def test_bad_settings_and_no_models_are_reported(runtime: FoundryBackend, tmp_path: Path) -> None:
    async def main() -> None:
        app = FoundryTuiApp(Settings(data_dir=tmp_path), backend=runtime, sampler=FixedSampler())
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            pane = app.query_one(BenchPane)
            await wait_for(pilot, lambda: app.query_one("#bench-models", SelectionList).option_count > 0)
            pane.action_start()
            assert "pick at least one model" in str(app.query_one("#bench-status", Static).render())
            app.query_one("#bench-models", SelectionList).select(TINY_ID)
            app.query_one("#bench-rounds", Input).value = "many"
            pane.action_start()
            assert "whole numbers" in str(app.query_one("#bench-status", Static).render())
            assert pane.runner is None

    asyncio.run(main())

"""The Benchmark pane driven by Pilot: a small run on the real runtime, live rows, answers, scores, past runs; the
form's errors on the in-memory backend."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.widgets import DataTable, Input, OptionList, SelectionList, Static, TabbedContent

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.devtools.memory_backend import MemoryBackend
from foundry_tui.devtools.tiny_model import TINY_ANSWER
from foundry_tui.tui.panes.bench import BenchPane
from foundry_tui.tui.screens.bench_answers import AnswerCard, AnswersScreen
from foundry_tui.tui.screens.past_runs import PastRunsScreen
from tests.conftest import TINY_ID
from tests.tui.conftest import CACHED, MakeApp
from tests.tui.helpers import settle, wait_for


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
            models.select(TINY_ID)
            app.query_one("#bench-rounds", Input).value = "2"
            app.query_one("#bench-warmup", Input).value = "0"
            await pilot.press("ctrl+r")
            status = app.query_one("#bench-status", Static)
            await wait_for(pilot, lambda: "written to" in str(status.render()), "the run", timeout=60)
            table = app.query_one("#bench-table", DataTable)
            row = [str(cell) for cell in table.get_row(TINY_ID)]
            assert row[1] == "ok" and row[2] == "8/8"  # 4 prompts × 2 rounds
            assert row[3].endswith(" ms") and row[5].endswith(" tok/s") and row[8].endswith(" s")
            run_dir = pane.results_path
            assert run_dir is not None and run_dir.parent == tmp_path / "app" / "bench"
            results_file = run_dir / "results.json"
            data = json.loads(results_file.read_text())  # written by the runner, as the CLI's
            assert data["partial"] is False and pane.results is not None and data == pane.results.to_json()
            assert {r["completion_tokens"] for r in data["requests"]} == {6}
            assert (run_dir / "benchmark_report.md").exists() and (run_dir / "results.csv").exists()
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

            # Past runs list the run we just made and open it again.
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, PastRunsScreen))
            options = app.screen.query_one(OptionList)
            assert options.option_count == 1
            options.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: "showing" in str(app.query_one("#bench-status", Static).render()))
            assert pane.results is not None and pane.results.requests[0].quality.manual == 4

    asyncio.run(main())


def test_bad_settings_and_no_models_are_reported(memory: MemoryBackend, make_app: MakeApp) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            pane = app.query_one(BenchPane)
            models = app.query_one("#bench-models", SelectionList)
            status = app.query_one("#bench-status", Static)
            await wait_for(pilot, lambda: models.option_count > 0, "the models")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "pick at least one model" in str(status.render()), "the hint")
            models.select(CACHED)
            app.query_one("#bench-rounds", Input).value = "many"
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "rounds must be a whole number" in str(status.render()), "the error")
            assert not pane.running and app.bench is None
            assert f"load {CACHED}" not in memory.calls  # nothing ran
            await settle(pilot)

    asyncio.run(main())

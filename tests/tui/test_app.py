"""App-wide behaviour: the command palette, the help panel, tab keys, and messages while a modal is open."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import TabbedContent

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.engine.lifecycle import LoadReport
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import ModelLoaded, StreamStats
from foundry_tui.tui.panes.chat import ChatPane
from tests.conftest import TINY_ID
from tests.tui.fixed_sampler import FixedSampler


async def wait_for(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def test_palette_help_tabs_and_modal_safety(runtime: FoundryBackend, tmp_path: Path) -> None:
    async def main() -> None:
        app = FoundryTuiApp(Settings(data_dir=tmp_path), backend=runtime, sampler=FixedSampler())
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.snapshot.find(TINY_ID) is not None)
            tabs = app.main_screen.query_one("#tabs", TabbedContent)
            for key, tab in (("2", "cache"), ("3", "chat"), ("4", "monitor"), ("5", "bench"), ("1", "catalog")):
                await pilot.press(key)
                assert tabs.active == tab
            # The palette lists our actions (it queries the panes while the palette screen is on top).
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press(*"Chat with tiny-gen")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.main_screen.query_one(ChatPane).model == TINY_ID)
            # Messages that update the strip arrive while a modal is open: no crash, and the strip shows them.
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            app.post_message(StreamStats(123.0, 45.0, streaming=False))
            app.post_message(ModelLoaded(LoadReport(TINY_ID, 0.5, 100.0, 120.0, 0.0, 0.0)))
            await pilot.pause(0.2)
            await pilot.press("escape")
            strip_text = " ".join(str(w.render()) for w in app.main_screen.query("MemoryStrip Label"))
            assert "123.0 tok/s" in strip_text and "loaded tiny-generic-cpu:1 in 0.50 s" in strip_text
            # Help: F1 toggles the key panel (works even while typing in an input).
            await pilot.press("f1")
            await wait_for(pilot, lambda: app.screen.query("HelpPanel"))
            await pilot.press("f1")
            await wait_for(pilot, lambda: not app.screen.query("HelpPanel"))

    asyncio.run(main())

"""App-wide behaviour: tab keys, the command palette, the help panel, messages while a modal is open, and the
one-way data flow (intents up, data down, nothing bounces back)."""

from __future__ import annotations

import pytest
from textual.command import CommandInput, CommandList
from textual.message import Message
from textual.widgets import Label, TabbedContent

from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.tui.messages import DownloadsUpdated, LoadRequested, ModelLoaded, ModelsUpdated
from foundry_tui.tui.panes.chat import ChatPane
from foundry_tui.tui.routes import JobsChanged
from tests.tui.conftest import CACHED, LOADED, MakeApp
from tests.tui.helpers import settle, wait_for

pytestmark = pytest.mark.anyio


async def test_palette_help_tabs_and_modal_safety(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.find(LOADED) is not None, "the models")
        tabs = app.main_screen.query_one("#tabs", TabbedContent)
        for key, tab in (("2", "cache"), ("3", "chat"), ("4", "monitor"), ("5", "bench"), ("1", "catalog")):
            app.main_screen.query_one("#catalog-table").focus()  # tab keys are app keys outside inputs
            await pilot.press(key)
            assert tabs.active == tab
        # The palette lists our actions (it queries the app's snapshot while the palette screen is on top).
        await pilot.press("ctrl+p")
        await pilot.press("C")
        app.screen.query_one(CommandInput).insert_text_at_cursor("hat with beta")  # the rest, pasted
        await wait_for(pilot, lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main_screen.query_one(ChatPane).model == CACHED, "the chat model")
        assert tabs.active == "chat"
        # A load finishes while a modal is open: no crash, and the strip shows it afterwards.
        await pilot.press("ctrl+p")
        app.post_message(LoadRequested(CACHED))
        await settle(pilot)
        await pilot.press("escape")
        strip = app.main_screen.query_one("#lifecycle", Label)
        await wait_for(pilot, lambda: str(strip.tooltip or "").startswith(f"{CACHED}: load "), "the strip's load line")
        # Help: F1 toggles the key panel (works even while typing in an input).
        await pilot.press("f1")
        await wait_for(pilot, lambda: app.screen.query("HelpPanel"))
        await pilot.press("f1")
        await wait_for(pilot, lambda: not app.screen.query("HelpPanel"))


async def test_data_goes_down_once_and_never_bubbles_back(make_app: MakeApp) -> None:
    """The queue's update reaches the app once and the Cache pane once; the pane's copy does not bubble up."""
    seen: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, JobsChanged | DownloadsUpdated | ModelsUpdated | ModelLoaded):
            seen.append(type(message).__name__)

    app = make_app()
    async with app.run_test(size=(100, 40), message_hook=hook) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.session.ready and app.snapshot.catalog is not None, "the catalog")
        await settle(pilot)
        seen.clear()
        app.post_message(JobsChanged([DownloadJob("x:1", "failed", error="boom")]))
        await settle(pilot)
        assert seen == ["JobsChanged", "DownloadsUpdated"]
        assert "boom" in str(app.main_screen.query_one("#download-errors").render())
        seen.clear()
        app.post_message(LoadRequested(CACHED))
        await wait_for(pilot, lambda: seen.count("ModelLoaded") >= 2 and seen.count("ModelsUpdated") >= 5, "the load")
        assert seen.count("ModelLoaded") == 2  # to the strip and the Monitor pane, once each


async def test_a_hostile_model_id_in_the_strip_is_text(make_app: MakeApp) -> None:
    """The strip's tooltip holds the model id: an id with markup stays text (a str tooltip would be parsed, and a
    malformed tag would crash the app on hover)."""
    from foundry_tui.engine.lifecycle import LoadReport
    from foundry_tui.tui.widgets.memory_strip import MemoryStrip

    app = make_app()
    async with app.run_test(size=(80, 24), tooltips=True) as pilot:
        strip = app.main_screen.query_one(MemoryStrip)
        strip.post_message(ModelLoaded(LoadReport("evil[/]id[bold]x", 0.5, 100.0, 350.0, 1000.0, 1250.0)))
        label = app.main_screen.query_one("#lifecycle", Label)
        await wait_for(pilot, lambda: label.tooltip is not None, "the tooltip")
        assert str(label.tooltip).startswith("evil[/]id[bold]x: load ")
        await pilot.hover("#lifecycle")
        await pilot.pause(0.6)
        await settle(pilot)
        assert app.is_running

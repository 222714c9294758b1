"""The focus model a keyboard user can predict (README "Keys"): a tab key puts the keyboard on the pane's primary
widget; in a text input every key is text and no app key fires; alt+1…5 switch tabs from inside inputs; Esc leaves
an input for the pane's next widget, where single keys are commands again."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Markdown, SelectionList, TabbedContent

from foundry_tui.tui.panes.base import Pane
from foundry_tui.tui.panes.cache import CachePane
from foundry_tui.tui.panes.catalog import CatalogPane
from foundry_tui.tui.panes.chat import ChatPane
from foundry_tui.tui.widgets.catalog_table import CatalogTable
from tests.tui.conftest import LOADED, MakeApp
from tests.tui.helpers import settle, wait_for

pytestmark = pytest.mark.anyio

SENTENCE = "i, l, u, q, 1, 5?"  # app keys, as text


def _tabs(app: object) -> TabbedContent:
    return app.main_screen.query_one("#tabs", TabbedContent)  # type: ignore[attr-defined, no-any-return]


async def test_three_right_after_launch_then_a_sentence_with_app_keys_is_sent_as_typed(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")  # the very first key, before the models arrive
        await wait_for(pilot, lambda: _tabs(app).active == "chat", "the Chat tab")
        prompt = app.main_screen.query_one("#prompt", Input)
        await wait_for(pilot, lambda: prompt.has_focus, "the message box to have the keyboard")
        await wait_for(pilot, lambda: app.main_screen.query_one(ChatPane).model == LOADED, "the chat model")
        await pilot.press(*SENTENCE)
        assert prompt.value == SENTENCE
        assert _tabs(app).active == "chat"
        assert len(app.screen_stack) == 1, "a key in the message box opened a dialog"
        assert app.is_running
        await pilot.press("enter")
        chat = app.main_screen.query_one(ChatPane)
        await wait_for(pilot, lambda: len(chat.conversation) == 2 and not chat.streaming, "the reply")
        await settle(pilot)
        assert [m.content for m in chat.conversation if m.role == "user"] == [SENTENCE]
        assert app.is_running and len(app.screen_stack) == 1


@pytest.mark.parametrize(
    ("key", "tab", "primary"),
    [("1", "catalog", CatalogTable), ("2", "cache", None), ("3", "chat", Input), ("5", "bench", SelectionList)],
)
async def test_a_tab_key_puts_the_keyboard_on_the_primary_widget(
    make_app: MakeApp, key: str, tab: str, primary: type | None
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.find(LOADED) is not None, "the models")
        start = "4" if key != "4" else "1"
        await pilot.press(start)
        await pilot.press(key)
        pane = app.main_screen.query_one(f"#{tab} Pane", Pane)
        target = pane.focus_target()
        assert target is not None
        if primary is not None:
            assert isinstance(target, primary)
        await wait_for(pilot, lambda: app.focused is target, f"{tab}'s primary widget to have the keyboard")


async def test_monitor_key_focuses_the_monitor(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        pane = app.main_screen.query_one("#monitor Pane", Pane)
        await wait_for(
            pilot,
            lambda: app.focused is not None and (app.focused is pane or pane in app.focused.ancestors),
            "the Monitor pane to have the keyboard",
        )
        await pilot.press("z")  # a pane key works at once
        await settle(pilot)
        assert _tabs(app).active == "monitor"


async def test_app_keys_are_text_in_inputs_and_alt_digits_switch_tabs(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.find(LOADED) is not None, "the models")
        await pilot.press("slash")
        box = app.main_screen.query_one("#catalog-filter", Input)
        await wait_for(pilot, lambda: box.has_focus, "the filter box")
        await pilot.press("l", "u", "i", "q", "2", "question_mark")
        assert box.value == "luiq2?"
        assert _tabs(app).active == "catalog" and len(app.screen_stack) == 1 and app.is_running
        await pilot.press("alt+3")
        await wait_for(pilot, lambda: _tabs(app).active == "chat", "alt+3 to show Chat")
        prompt = app.main_screen.query_one("#prompt", Input)
        await wait_for(pilot, lambda: prompt.has_focus, "the message box")
        await pilot.press("alt+1")
        await wait_for(pilot, lambda: _tabs(app).active == "catalog", "alt+1 to show the Catalog")
        await wait_for(pilot, lambda: isinstance(app.focused, CatalogTable), "the catalog table")
        await pilot.press("slash")
        await wait_for(pilot, lambda: box.has_focus, "the filter box again")
        await pilot.press("f6")  # F2–F6: the same from any terminal (tmux sends alt+4 as "¢")
        await wait_for(pilot, lambda: _tabs(app).active == "bench", "F6 to show the Benchmark")
        await pilot.press("f2")
        await wait_for(pilot, lambda: _tabs(app).active == "catalog", "F2 to show the Catalog")
        await wait_for(pilot, lambda: isinstance(app.focused, CatalogTable), "the catalog table")


async def test_escape_leaves_an_input_for_the_panes_next_widget(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.find(LOADED) is not None, "the models")
        await pilot.press("3")
        prompt = app.main_screen.query_one("#prompt", Input)
        await wait_for(pilot, lambda: prompt.has_focus, "the message box")
        await pilot.press("h", "i", "escape")
        await wait_for(pilot, lambda: not prompt.has_focus, "Esc to leave the message box")
        chat = app.main_screen.query_one(ChatPane)
        assert app.focused is not None and chat in app.focused.ancestors
        assert prompt.value == "hi", "leaving the box keeps the draft"
        await pilot.press("3")  # the tab's own key brings the keyboard back to its primary widget
        await wait_for(pilot, lambda: prompt.has_focus, "3 to return to the message box")
        await pilot.press("escape", "2")  # out of the box, digits switch tabs again
        await wait_for(pilot, lambda: _tabs(app).active == "cache", "2 to show the Cache tab")
        # The register form's inputs: Esc leaves them too.
        cache = app.main_screen.query_one(CachePane)
        cache.action_focus_register()
        await wait_for(pilot, lambda: isinstance(app.focused, Input), "the register form")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.focused, Input), "Esc to leave the register form")
        assert app.focused is not None and cache in app.focused.ancestors
        # The catalog filter: Esc clears it and returns to the table.
        await pilot.press("1", "slash", "x", "escape")
        await wait_for(pilot, lambda: isinstance(app.focused, CatalogTable), "the table after Esc")
        assert app.main_screen.query_one(CatalogPane).query_one("#catalog-filter", Input).value == ""


async def test_help_says_how_focus_works(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.find(LOADED) is not None, "the models")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.query("HelpPanel"), "the help panel")
        panel = app.screen.query_one("HelpPanel")
        await wait_for(pilot, lambda: panel.has_class("-show-help"), "the focused pane's help")
        source = panel.query_one("#widget-help", Markdown).source
        assert "F2–F6" in source and "Esc" in source and "**Catalog.**" in source


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_help_snapshot(size: tuple[int, int], snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None, "the catalog")
        await pilot.press("1", "question_mark")
        await wait_for(pilot, lambda: app.screen.query("HelpPanel"), "the help panel")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("keys", [("5",), ("2", "5"), ("1", "4", "5")])
async def test_quick_tab_keys_at_launch_end_on_the_last_tab(make_app: MakeApp, keys: tuple[str, ...]) -> None:
    """Focusing a widget in a hidden tab shows that tab: a focus scheduled for start-up's Catalog (or an earlier
    key) must not pull the user back after the last key chose another tab."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*keys)
        await wait_for(pilot, lambda: app.snapshot.catalog is not None, "the models")
        await settle(pilot)
        await pilot.pause(0.2)
        assert _tabs(app).active == "bench"
        pane = app.main_screen.query_one("#bench Pane", Pane)
        assert app.focused is pane.focus_target()

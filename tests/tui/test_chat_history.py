"""The chat's prompt history: walking it like a shell, its cap, and keeping it across runs in one file."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from foundry_tui.config import Settings
from foundry_tui.engine.prompt_history import MAX_CHARS, PromptHistory, read_history, write_history
from foundry_tui.tui.panes.chat import ChatPane
from tests.tui.conftest import MakeApp
from tests.tui.helpers import settle, wait_for

pytestmark = pytest.mark.anyio


def test_walks_back_and_returns_to_the_draft() -> None:
    history = PromptHistory()
    assert history.older("typing") is None  # nothing sent yet: Up does nothing
    for prompt in ("one", "two", "two", "three"):
        history.add(prompt)
    assert history.entries == ["one", "two", "three"]  # a repeat of the newest is kept once
    assert history.newer() is None  # at the draft already
    assert [history.older("draft"), history.older("ignored"), history.older("x")] == ["three", "two", "one"]
    assert history.older("x") is None  # the oldest
    assert [history.newer(), history.newer(), history.newer()] == ["two", "three", "draft"]
    assert not history.walking and history.newer() is None
    history.add("   ")
    history.add("x" * (MAX_CHARS + 1))
    assert history.entries == ["one", "two", "three"]  # blanks and pasted documents are not kept


def test_is_capped_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "chat_history"
    history = PromptHistory(limit=3)
    for prompt in ("a", "multi\nline", "c", "d"):
        history.add(prompt)
    assert history.entries == ["multi\nline", "c", "d"]
    write_history(path, history.entries)
    assert read_history(path, limit=3) == ["multi\nline", "c", "d"]
    assert read_history(path, limit=2) == ["c", "d"]
    assert [p.name for p in path.parent.iterdir()] == ["chat_history"]  # the temporary file was renamed
    again = PromptHistory(limit=3)
    again.add("typed before the file was read")
    again.restore(read_history(path))
    assert again.entries == ["c", "d", "typed before the file was read"]


def test_a_damaged_file_is_an_empty_history_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "chat_history"
    path.write_bytes(b'"kept"\n{not json\n\xff\xfe\n42\n')
    assert read_history(path) == []  # undecodable bytes: the whole file is ignored
    path.write_text('"kept"\n{not json\n42\n"also kept"\n', encoding="utf-8")
    assert read_history(path) == ["kept", "also kept"]
    assert read_history(tmp_path / "missing") == []


async def test_the_app_keeps_prompts_across_runs(make_app: MakeApp, tmp_path: Path) -> None:
    """The first run's prompts are written (on a worker) to <data_dir>/chat_history; the next run recalls them."""
    settings = Settings(data_dir=tmp_path / "data")
    app = make_app(settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        chat = app.main_screen.query_one(ChatPane)
        await wait_for(pilot, lambda: chat.model is not None, "the chat model")
        await pilot.press(*"from yesterday", "enter")
        await wait_for(pilot, lambda: len(chat.conversation) == 2 and not chat.streaming, "the reply")
        await settle(pilot)
    assert read_history(settings.data_dir / "chat_history") == ["from yesterday"]
    again = make_app(settings=settings)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        prompt = again.main_screen.query_one("#prompt", Input)
        await wait_for(pilot, lambda: prompt.has_focus, "the prompt")
        chat = again.main_screen.query_one(ChatPane)
        await wait_for(pilot, lambda: chat.history.entries == ["from yesterday"], "the history of the first run")
        await pilot.press("up")
        assert prompt.value == "from yesterday"
        await pilot.press("down")
        assert prompt.value == ""

"""The chat's prompt history: walking it like a shell, its cap, and keeping it across runs in one file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Input

from foundry_tui.engine.prompt_history import MAX_CHARS, PromptHistory
from foundry_tui.tui.panes.chat import ChatDefaults, ChatPane
from tests.tui.helpers import wait_for


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
    history = PromptHistory(path, limit=3)
    for prompt in ("a", "multi\nline", "c", "d"):
        history.add(prompt)
    assert history.entries == ["multi\nline", "c", "d"]
    again = PromptHistory(path, limit=3)
    again.load()
    assert again.entries == ["multi\nline", "c", "d"]
    assert [p.name for p in path.parent.iterdir()] == ["chat_history"]  # the temporary file was renamed


def test_a_damaged_file_is_an_empty_history_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "chat_history"
    path.write_bytes(b'"kept"\n{not json\n\xff\xfe\n42\n')
    history = PromptHistory(path)
    history.load()
    assert history.entries == []  # undecodable bytes: the whole file is ignored
    path.write_text('"kept"\n{not json\n42\n"also kept"\n', encoding="utf-8")
    history.load()
    assert history.entries == ["kept", "also kept"]
    history.add("new")
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == ["kept", "also kept", "new"]


class ChatOnly(App[None]):
    def __init__(self, history_path: Path) -> None:
        super().__init__()
        self.history_path = history_path

    def compose(self) -> ComposeResult:
        yield ChatPane(ChatDefaults(0.0, 64, history_path=self.history_path))


def test_the_pane_recalls_prompts_from_an_earlier_run(tmp_path: Path) -> None:
    path = tmp_path / "chat_history"
    PromptHistory(path).add("from yesterday")

    async def main() -> None:
        app = ChatOnly(path)
        async with app.run_test(size=(80, 24)) as pilot:
            prompt = app.query_one("#prompt", Input)
            prompt.focus()
            await wait_for(pilot, lambda: app.focused is prompt, "the prompt")
            await pilot.press("up")
            assert prompt.value == "from yesterday"
            await pilot.press("down")
            assert prompt.value == ""

    asyncio.run(main())

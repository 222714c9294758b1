"""The Chat pane driven by Pilot: real runtime with the tiny model, and a real local SSE server."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import ANSWER, MemoryBackend, Script
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript
from foundry_tui.devtools.tiny_model import TINY_ANSWER
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.panes.chat import ChatPane, parse_options
from foundry_tui.tui.widgets.transcript import TranscriptView
from tests.conftest import ENDLESS_ID, TINY_ID
from tests.tui.conftest import CACHED, LOADED, MakeApp
from tests.tui.helpers import run_on_tab, settle, wait_for


def run_app(
    app: FoundryTuiApp,
    body: Callable[[FoundryTuiApp, Pilot[None]], Awaitable[None]],
    size: tuple[int, int] = (80, 24),
) -> None:
    run_on_tab(app, "3", lambda: app.query_one(ChatPane).model is not None, lambda pilot: body(app, pilot), size)


async def send(app: FoundryTuiApp, pilot: Pilot[None], text: str) -> None:
    prompt = app.query_one("#prompt", Input)
    prompt.focus()
    prompt.value = text
    await pilot.press("enter")


def status(app: FoundryTuiApp) -> str:
    return str(app.query_one("#chat-status", Static).render())


def transcript_text(app: FoundryTuiApp) -> str:
    return "\n".join(app.query_one(TranscriptView).plain_lines)


def test_chat_streams_the_fixed_answer_and_shows_numbers(runtime: FoundryBackend, make_app: MakeApp) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(TINY_ID)
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: chat.last_reply)
        assert chat.last_reply == TINY_ANSWER
        assert TINY_ANSWER in transcript_text(app)
        line = status(app)
        assert "TTFT" in line and "tok/s" in line and "6 tokens" in line and "finish stop" in line
        # The model was loaded on demand; the strip shows the load and the reply's rate.
        await wait_for(pilot, lambda: "loaded" in str(app.query_one("#lifecycle", Label).render()))
        assert "tok/s" in str(app.query_one("#rate", Label).render())
        # Multi-turn: the second reply sees the whole history.
        await send(app, pilot, "again")
        await wait_for(pilot, lambda: len(chat.conversation) == 4)
        assert [m.role for m in chat.conversation] == ["user", "assistant", "user", "assistant"]
        # Unload from the keyboard (the chat's model is the selected one).
        app.query_one("#transcript").focus()
        await pilot.press("u")
        await wait_for(pilot, lambda: "unloaded" in str(app.query_one("#lifecycle", Label).render()))
        assert TINY_ID not in {m.id for m in runtime.list_loaded()}

    run_app(make_app(runtime), body)


def test_escape_stops_a_stream_mid_reply(tmp_path: Path, make_app: MakeApp) -> None:
    script = StreamScript(tokens=[f" w{i}" for i in range(200)], gap_s=0.02)
    with FakeOpenAIServer(script) as server:
        backend = EndpointBackend(Settings(endpoint=server.url, data_dir=tmp_path))

        async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
            chat = app.query_one(ChatPane)
            await send(app, pilot, "go")
            await wait_for(pilot, lambda: " w5" in app.query_one(TranscriptView).last_text("assistant"))
            await pilot.press("escape")
            await wait_for(pilot, lambda: status(app).startswith("stopped · "))
            assert "finish cancelled" in status(app)
            assert 5 < len(chat.last_reply.split()) < 150
            assert chat.conversation[-1].role == "assistant"  # the partial reply stays in the history

        run_app(make_app(backend), body)
        backend.close()


def test_escape_cancels_on_the_runtime(runtime: FoundryBackend, make_app: MakeApp) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        app.query_one(ChatPane).use_model(ENDLESS_ID)
        app.query_one("#max-tokens", Input).value = "30000"  # seconds of output even at ~15k tok/s
        await send(app, pilot, "go")
        await pilot.press("escape")
        await wait_for(pilot, lambda: status(app).startswith("stopped · "))
        assert "finish cancelled" in status(app)
        runtime.unload(ENDLESS_ID)  # the session was released: unloading works at once

    run_app(make_app(runtime), body)


def test_bad_settings_are_reported_inline(make_app: MakeApp) -> None:
    assert parse_options("0.7", "64") == (0.7, 64)
    assert parse_options("3", "64") == "temperature must be between 0 and 2"

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        app.query_one("#temperature", Input).value = "hot"
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: status(app) == "temperature must be a number")
        app.query_one("#temperature", Input).value = "0"
        app.query_one("#max-tokens", Input).value = "0"
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: status(app) == "max tokens must be at least 1")
        assert app.query_one(ChatPane).conversation == []

    run_app(make_app(), body)


def test_a_cold_start_is_labelled_and_the_strip_shows_the_load(memory: MemoryBackend, make_app: MakeApp) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(CACHED)  # cached, not loaded: the first reply loads it
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: chat.last_reply, "the reply")
        assert chat.last_reply == ANSWER
        assert "(cold start)" in status(app) and "load " in status(app)
        await wait_for(pilot, lambda: "loaded " + CACHED in str(app.query_one("#lifecycle", Label).render()))
        await send(app, pilot, "again")
        await wait_for(pilot, lambda: len(chat.conversation) == 4, "the second reply")
        assert "(cold start)" not in status(app)
        assert memory.calls.count(f"load {CACHED}") == 1

    run_app(make_app(), body)


def test_escape_before_the_first_token_stops_at_once(memory: MemoryBackend, make_app: MakeApp) -> None:
    memory.script = Script(gate=threading.Event())  # the model never answers until the gate opens

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(LOADED)
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: chat.streaming and "sending" in status(app), "the request")
        await pilot.press("escape")
        await wait_for(pilot, lambda: status(app).startswith("stopped · "), "the stop", timeout=3)
        assert not chat.streaming and "finish cancelled" in status(app)

    run_app(make_app(), body)


def test_a_load_failure_is_reported_inline_and_the_turn_dropped(memory: MemoryBackend, make_app: MakeApp) -> None:
    memory.fail["load"] = "not enough memory [red]for[/red] this"

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(CACHED)
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: "error:" in transcript_text(app), "the error")
        assert "not enough memory [red]for[/red] this" in transcript_text(app)
        assert chat.conversation == [] and not chat.streaming

    run_app(make_app(), body)


def test_endpoint_chat_and_server_error_inline(tmp_path: Path, make_app: MakeApp) -> None:
    with FakeOpenAIServer(StreamScript(tokens=["Hi", " there", "."]), models=["fake-model"]) as server:
        backend = EndpointBackend(Settings(endpoint=server.url, data_dir=tmp_path))

        async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
            chat = app.query_one(ChatPane)
            await send(app, pilot, "hello")
            await wait_for(pilot, lambda: chat.last_reply)
            assert chat.last_reply == "Hi there."
            assert server.requests[-1]["body"]["max_tokens"] == 512
            server.script.fault = "http500"
            await send(app, pilot, "again")
            await wait_for(pilot, lambda: "error:" in transcript_text(app))
            assert "HTTP 500" in transcript_text(app)
            assert [m.role for m in chat.conversation] == ["user", "assistant"]  # the failed turn is dropped
            server.script.fault = None
            # Copy the last reply.
            app.query_one("#prompt").focus()
            await pilot.press("ctrl+y")
            assert app.clipboard == "Hi there."

        run_app(make_app(backend), body)
        backend.close()


def test_model_output_is_rendered_literally(tmp_path: Path, make_app: MakeApp) -> None:
    hostile = ["\x1b[2J", "\x1b]0;pwned\x07", "[bold red]x[/]", " \x9b31m done"]
    with FakeOpenAIServer(StreamScript(tokens=hostile)) as server:
        backend = EndpointBackend(Settings(endpoint=server.url, data_dir=tmp_path))

        async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
            chat = app.query_one(ChatPane)
            await send(app, pilot, "be evil")
            await wait_for(pilot, lambda: chat.last_reply)
            shown = app.query_one(TranscriptView).last_text("assistant")
            assert shown == "\\x1b[2J\\x1b]0;pwned\\x07[bold red]x[/] \\x9b31m done"
            screen = app.export_screenshot()
            assert "[bold red]x[/]" in screen.replace("&#160;", " ")
            assert "\x1b" not in screen and "\x07" not in screen and "\x9b" not in screen

        run_app(make_app(backend), body)
        backend.close()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_chat_pane_snapshot(
    snap_compare: Any, runtime: FoundryBackend, make_app: MakeApp, size: tuple[int, int]
) -> None:
    # The in-process runtime's label is stable (an endpoint's would carry a random port).
    app = make_app(runtime)

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one(ChatPane).model is not None)
        app.query_one(ChatPane).use_model(TINY_ID)
        app.query_one("#system", Input).value = "You are terse."
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)

"""The Chat pane driven by Pilot: the in-memory backend, the real runtime with the tiny model, a real SSE server."""

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
from foundry_tui.devtools.memory_backend import ANSWER, MemoryBackend, Script, entry
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript
from foundry_tui.devtools.tiny_model import TINY_ANSWER
from foundry_tui.engine.chat import ChatResult, StreamSlice
from foundry_tui.engine.lifecycle import LoadReport
from foundry_tui.engine.timing import RequestRecord
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import ChatDelta, ChatFinished, ChatRequested, ChatStatus, StreamStats
from foundry_tui.tui.panes.chat import ChatPane, fit_parts, parse_options
from foundry_tui.tui.widgets.memory_strip import MemoryStrip
from foundry_tui.tui.widgets.transcript import TranscriptView
from tests.conftest import ENDLESS_ID, TINY_ID
from tests.tui.conftest import CACHED, LOADED, MakeApp
from tests.tui.fixed_sampler import FixedSampler
from tests.tui.helpers import run_on_tab, screen_text, settle, wait_for
from tests.tui.screen_lines import screen_lines


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
        line = app.query_one(TranscriptView).plain_lines[-1]  # the reply's figures, whole
        assert "TTFT" in line and "tok/s" in line and "6 tokens" in line and "finish stop" in line and "e2e" in line
        assert status(app).startswith("cold start (load ") and "6 tokens" in status(app)  # e2e and finish cut first
        # The model was loaded on demand; the strip shows the load and the reply's rate.
        await wait_for(pilot, lambda: TINY_ID in app.snapshot.loaded_ids, "the load")
        await wait_for(pilot, lambda: "load " in str(app.query_one("#lifecycle", Label).render()), "the strip")
        assert "tok/s" in str(app.query_one("#rate", Label).render())
        # Multi-turn: the second reply sees the whole history.
        await send(app, pilot, "again")
        await wait_for(pilot, lambda: len(chat.conversation) == 4)
        assert [m.role for m in chat.conversation] == ["user", "assistant", "user", "assistant"]
        # Unload from the keyboard (the chat's model is the selected one).
        app.query_one("#transcript").focus()
        await pilot.press("u")
        await wait_for(pilot, lambda: TINY_ID not in app.snapshot.loaded_ids, "the unload")
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
            assert "finish cancelled" in transcript_text(app)
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
        assert "finish cancelled" in transcript_text(app)
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
        # The cold start leads the status line (a narrow terminal cuts its end), the load time apart from TTFT.
        assert status(app).startswith("cold start (load ") and " s) · TTFT " in status(app)
        lines = app.query_one(TranscriptView).plain_lines
        note = next(i for i, line in enumerate(lines) if "cold start" in line)
        assert lines[note].startswith("  cold start: loaded in ") and "TTFT" not in lines[note].split("·")[0]
        assert lines[note + 1].startswith("  TTFT ")  # the reply's own figures on the next line, no load in them
        assert "load" not in lines[note + 1]
        await wait_for(pilot, lambda: CACHED in app.snapshot.loaded_ids, "the load")
        await wait_for(pilot, lambda: "load " in str(app.query_one("#lifecycle", Label).render()), "the strip")
        await send(app, pilot, "again")
        await wait_for(pilot, lambda: len(chat.conversation) == 4, "the second reply")
        assert status(app).startswith("TTFT ")
        assert transcript_text(app).count("cold start") == 1
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
        assert not chat.streaming and "finish cancelled" in transcript_text(app)

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


def test_replies_are_labelled_with_their_model_and_turns_with_you(memory: MemoryBackend, make_app: MakeApp) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(LOADED)
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: len(chat.conversation) == 2, "the first reply")
        chat.use_model(CACHED)
        await send(app, pilot, "and you?")
        await wait_for(pilot, lambda: len(chat.conversation) == 4, "the second reply")
        lines = app.query_one(TranscriptView).plain_lines
        first, second = lines.index("you › hi"), lines.index("you › and you?")
        assert lines[first + 1 : first + 3] == [f"{LOADED} ›", f"  {ANSWER}"]
        assert lines[second + 1] == f"{CACHED} ›"  # each reply names the model that wrote it
        assert lines[second + 2 : second + 4] == [f"  {ANSWER}", lines[second + 3]]
        assert lines[second + 3].startswith("  cold start: loaded in ")  # beta had to be loaded first
        assert f"{LOADED} ›" in screen_text(pilot)

    run_app(make_app(), body)


def test_a_long_model_id_is_cut_in_the_middle_at_80_columns(make_app: MakeApp) -> None:
    long_id = "smollm2-135m-instruct-int8-with-a-very-long-name-generic-cpu:1"
    backend = MemoryBackend(catalog=[entry(long_id)], cached={long_id}, loaded={long_id})

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: app.query_one(ChatPane).last_reply, "the reply")
        picker = next(line for line in screen_lines(pilot) if " model " in line)
        assert long_id not in picker
        assert "smollm2-135m-" in picker and "…" in picker and "-generic-cpu:1  ● loaded" in picker  # both ends
        assert " temp " in picker and " max " in picker  # the whole settings row fits
        label = next(line for line in app.query_one(TranscriptView).plain_lines if line.endswith(" ›"))
        assert label.startswith("smollm2-") and label.endswith("generic-cpu:1 ›") and "…" not in label  # it fits

    run_app(make_app(backend), body, size=(80, 24))


def test_up_and_down_walk_the_prompts_sent(make_app: MakeApp) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(LOADED)
        prompt = app.query_one("#prompt", Input)
        for text in ("first question", "second question"):
            await send(app, pilot, text)
            await wait_for(pilot, lambda: not chat.streaming and chat.last_reply, "the reply")
        assert prompt.value == ""
        await pilot.press("d", "r", "a", "f", "t")
        await pilot.press("up")
        assert prompt.value == "second question" and prompt.cursor_position == len("second question")
        await pilot.press("up")
        assert prompt.value == "first question"
        await pilot.press("up")  # the oldest stays
        assert prompt.value == "first question"
        await pilot.press("down")
        assert prompt.value == "second question"
        await pilot.press("down")  # back to what was being typed
        assert prompt.value == "draft"
        await pilot.press("down")
        assert prompt.value == "draft"
        # A recalled prompt is sent like a typed one.
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: len(chat.conversation) == 6, "the third reply")
        assert chat.conversation[-2].content == "second question"

    run_app(make_app(), body)


def test_copying_a_hostile_reply_strips_control_characters(memory: MemoryBackend, make_app: MakeApp) -> None:
    memory.script = Script(tokens=("\x1b[2J", "\x1b]0;pwned\x07", "[bold red]x[/]", " \x9b31m done", "\r\nline\ttwo"))

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(LOADED)
        await send(app, pilot, "be evil")
        await wait_for(pilot, lambda: chat.last_reply, "the reply")
        await pilot.press("ctrl+y")
        assert app.clipboard == "[bold red]x[/]  done\nline\ttwo"  # no ESC, BEL, C1 CSI or CR left

    run_app(make_app(), body)


def test_escape_is_left_to_the_app_unless_a_reply_streams(memory: MemoryBackend, make_app: MakeApp) -> None:
    memory.script = Script(gate=threading.Event())

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        chat = app.query_one(ChatPane)
        chat.use_model(LOADED)
        prompt = app.query_one("#prompt", Input)
        await wait_for(pilot, lambda: app.focused is prompt, "the prompt")
        await pilot.press("escape")  # nothing streams: the app's Esc leaves the input for the transcript
        assert app.focused is chat.transcript
        await send(app, pilot, "hi")
        await wait_for(pilot, lambda: chat.streaming and "sending" in status(app), "the request")
        await pilot.press("escape")  # now it is the pane's: stop (and the keyboard stays in the prompt)
        await wait_for(pilot, lambda: status(app).startswith("stopped · "), "the stop")
        assert app.focused is prompt  # type: ignore[comparison-overlap]  # mypy keeps the narrowing from above

    run_app(make_app(), body)


# -- a reply mid-stream, with fixed figures ------------------------------------------------------------------------

LONG_ID = "smollm2-135m-instruct-int8-generic-cpu:1"
OTHER_ID = "qwen2.5-coder-0.5b-instruct-generic-cpu:4"
FIRST_REPLY = (
    "ONNX Runtime GenAI runs generative models on ONNX Runtime: it owns the generation loop, the KV cache, "
    "sampling and the tokenizer, so a model directory with genai_config.json is all a runtime needs."
)


class ScriptedChatApp(FoundryTuiApp):
    """The app with its chat route replaced by the test: the pane gets the messages the route would send, with
    fixed figures (no wall clock in the picture)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[ChatRequested] = []

    def on_chat_requested(self, message: ChatRequested) -> None:
        message.prevent_default()  # the real route (a worker over the session) does not run
        self.requests.append(message)


def fixed_record(model: str, text: str, tokens: int, ttft_ms: float, gap_ms: float) -> RequestRecord:
    start = 1_000_000_000
    times = [start + int((ttft_ms + i * gap_ms) * 1e6) for i in range(tokens)]
    return RequestRecord(
        model=model,
        t_sent_ns=start,
        token_times_ns=times,
        text=text,
        pieces=tokens,
        t_end_ns=times[-1] + 1_000_000,
        finish_reason="stop",
        usage_completion_tokens=tokens,
    )


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_chat_mid_stream_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    backend = MemoryBackend(
        catalog=[entry(LONG_ID), entry(OTHER_ID)], cached={LONG_ID, OTHER_ID}, label="memory backend (test)"
    )
    app = ScriptedChatApp(Settings(data_dir=tmp_path / "app"), backend=backend, sampler=FixedSampler())
    app.animation_level = "none"

    async def run_before(pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.backend_state == "ready", "the backend")
        await pilot.press("3")
        chat = app.query_one(ChatPane)
        await wait_for(pilot, lambda: chat.model is not None, "the models")
        chat.use_model(LONG_ID)
        app.query_one("#system", Input).value = "You are terse."
        # A finished cold reply: the model was loaded first.
        await send(app, pilot, "What is ONNX Runtime GenAI?")
        record = fixed_record(LONG_ID, FIRST_REPLY, 38, ttft_ms=2106.0, gap_ms=4.0)
        load = LoadReport(LONG_ID, 0.31, 250.0, 520.0, 8000.0, 8270.0)
        chat.post_message(ChatStatus(f"loading {LONG_ID}…"))
        chat.post_message(ChatDelta(StreamSlice(FIRST_REPLY, 250.0, 2106.0, 38)))
        chat.post_message(ChatFinished(ChatResult(record, load)))
        await wait_for(pilot, lambda: not chat.streaming, "the first reply")
        # The second reply, mid-stream.
        await send(app, pilot, "Say it in one line, please.")
        chat.post_message(ChatStatus(f"sending to {LONG_ID}…"))
        chat.post_message(ChatDelta(StreamSlice("A runtime for generative ONNX models: it", 4980.0, 212.0, 9)))
        chat.post_message(ChatDelta(StreamSlice(" owns the loop, the cache and the", 5012.5, 212.0, 17)))
        app.query_one(MemoryStrip).post_message(StreamStats(5012.5, 212.0, streaming=True))
        await wait_for(pilot, lambda: "the cache and the" in chat.transcript.last_text("assistant"), "the pieces")
        await settle(pilot)
        assert [r.model_id for r in app.requests] == [LONG_ID, LONG_ID]

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_fit_parts_drops_whole_parts_from_the_end() -> None:
    line = "cold start (load 0.31 s) · TTFT 2106 ms · 250.0 tok/s · 38 tokens · finish stop · e2e 2255 ms"
    assert fit_parts(line, 200) == line
    assert fit_parts(line, 80) == "cold start (load 0.31 s) · TTFT 2106 ms · 250.0 tok/s · 38 tokens · finish stop"
    assert fit_parts(line, 70) == "cold start (load 0.31 s) · TTFT 2106 ms · 250.0 tok/s · 38 tokens"  # e2e, finish
    assert fit_parts(line, 60) == "cold start (load 0.31 s) · TTFT 2106 ms · 250.0 tok/s"
    assert fit_parts(line, 10) == "cold start (load 0.31 s)"  # the first part stays whatever the width

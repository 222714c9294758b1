"""Chat pane: a multi-turn probe chat with streaming text, a live token-rate gauge and per-reply numbers.

Tokens arrive on a worker thread (stamped there by the backend); they are buffered and drawn at most
`FLUSH_HZ` times a second, never one refresh per token. All numbers come from engine.timing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static
from textual.widgets.select import InvalidSelectValueError

from foundry_tui.backends.base import ChatMessage, ChatOptions, ChatStream, TokenEvent
from foundry_tui.engine.events import StreamMarker
from foundry_tui.engine.timing import LiveRate, RequestRecord, measure_stream
from foundry_tui.errors import FoundryTuiError
from foundry_tui.text import safe_line
from foundry_tui.tui.fit_notice import warn_if_unfit
from foundry_tui.tui.messages import ModelLoaded, ModelSelected, ModelsUpdated, StreamStats
from foundry_tui.tui.widgets.literal import literal
from foundry_tui.tui.widgets.transcript import TranscriptView

if TYPE_CHECKING:
    from foundry_tui.tui.app import FoundryTuiApp

FLUSH_HZ = 10  # text appears in 100 ms batches: smooth to read, and leaves the UI thread free for keys
STATS_EVERY = 3  # flushes between strip updates (~3 Hz)
GAUGE_WIDTH = 16


@dataclass
class ReplyDone(Message):
    record: RequestRecord


@dataclass
class ReplyFailed(Message):
    error: str


class TokenBuffer:
    """Filled by the stream's thread, drained by the UI timer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self.rate = LiveRate()
        self.ttft_ms: float | None = None

    def add(self, event: TokenEvent, t_sent_ns: int) -> None:
        with self._lock:
            if event.reasoning:
                return
            self._parts.append(event.text)
            if self.ttft_ms is None and t_sent_ns:
                self.ttft_ms = (event.t_ns - t_sent_ns) / 1e6
            self.rate.add(event.t_ns)

    def drain(self) -> tuple[str, float, float | None, int]:
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
            return text, self.rate.rate(time.perf_counter_ns()), self.ttft_ms, self.rate.count


def gauge(rate: float, peak: float) -> str:
    filled = 0 if peak <= 0 else round(GAUGE_WIDTH * min(rate / peak, 1.0))
    return "█" * filled + "·" * (GAUGE_WIDTH - filled)


def reply_summary(record: RequestRecord) -> str:
    def fmt(value: float | None, spec: str, unit: str) -> str:
        return "n/a" if value is None else f"{value:{spec}} {unit}"

    tokens = f"{record.completion_tokens}{'~' if record.tokens_estimated else ''} tokens"
    return (
        f"TTFT {fmt(record.ttft_ms, '.0f', 'ms')} · {fmt(record.decode_tps, '.1f', 'tok/s')} · {tokens} · "
        f"finish {record.finish_reason or record.status} · e2e {fmt(record.e2e_ms, '.0f', 'ms')}"
    )


class ChatPane(Widget):
    DEFAULT_CSS = """
    ChatPane { layout: vertical; height: 1fr; }
    ChatPane #chat-settings { height: 1; }
    ChatPane #chat-settings Label { width: auto; padding: 0 1; color: $text-muted; }
    ChatPane #model-select { width: 1fr; }
    ChatPane #temperature { width: 7; }
    ChatPane #max-tokens { width: 8; }
    ChatPane #system { height: 1; margin: 0 0 1 0; }
    ChatPane #transcript { height: 1fr; border: round $panel-lighten-2; padding: 0 1; }
    ChatPane #chat-status { height: 1; color: $text-muted; }
    ChatPane #prompt { height: 1; }
    """

    BINDINGS = [
        Binding("escape", "stop", "Stop", show=True),
        Binding("ctrl+c", "stop", "Stop", show=False),
        Binding("ctrl+y", "copy_reply", "Copy reply"),
        Binding("ctrl+l", "clear_chat", "Clear"),
    ]

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.conversation: list[ChatMessage] = []
        self.last_reply = ""
        self.last_record: RequestRecord | None = None
        self._stream: ChatStream | None = None
        self._buffer: TokenBuffer | None = None
        self._peak_rate = 0.0
        self._flush_timer: Timer | None = None
        self._pending_model: str | None = None
        self._stop_requested = False
        self._flushes = 0

    @property
    def foundry_app(self) -> FoundryTuiApp:
        return cast("FoundryTuiApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-settings"):
            yield Label("model")
            yield Select[str](
                [],
                prompt="no chat model yet: register or download one",
                id="model-select",
                compact=True,
                allow_blank=True,
            )
            yield Label("temp")
            yield Input(str(self.app_settings_temperature()), id="temperature", compact=True)
            yield Label("max")
            yield Input(str(self.app_settings_max_tokens()), id="max-tokens", compact=True)
        yield Input(placeholder="system prompt (optional)", id="system", compact=True)
        yield TranscriptView(id="transcript")
        yield Static("", id="chat-status", markup=False)
        yield Input(placeholder="message… (Enter to send)", id="prompt", compact=True)

    def on_mount(self) -> None:
        self._hint()

    def _hint(self) -> None:
        self.query_one(TranscriptView).add(
            "note", "Type a message below and press Enter. Esc stops a reply; ctrl+y copies it."
        )

    def app_settings_temperature(self) -> float:
        return self.foundry_app.settings.temperature

    def app_settings_max_tokens(self) -> int:
        return self.foundry_app.settings.max_tokens

    # -- model picker --------------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        select = self.query_one("#model-select", Select)
        current = None if select.is_blank() else str(select.value)
        models = message.snapshot.chat_models()
        options = [(literal(f"{m.id}{'  ● loaded' if m.loaded else ''}"), m.id) for m in models]
        with self.prevent(Select.Changed):
            select.set_options(options)
            ids = [m.id for m in models]
            wanted = self._pending_model or current
            if wanted in ids:
                select.value = wanted
            elif ids:
                loaded = [m.id for m in models if m.loaded]
                select.value = loaded[0] if loaded else ids[0]
        self._pending_model = None
        self.post_message(ModelSelected(self.model))

    @on(Select.Changed, "#model-select")
    def _model_changed(self, event: Select.Changed) -> None:
        value = None if event.value is Select.NULL else event.value
        self.post_message(ModelSelected(str(value) if value else None))

    def use_model(self, model_id: str) -> None:
        """Switch the chat to `model_id` (from the palette or the catalog)."""
        select = self.query_one("#model-select", Select)
        try:
            select.value = model_id
        except InvalidSelectValueError:  # not an option yet: apply when the next snapshot arrives
            self._pending_model = model_id
        self.post_message(ModelSelected(self.model))
        self.query_one("#prompt", Input).focus()

    @property
    def model(self) -> str | None:
        select = self.query_one("#model-select", Select)
        return None if select.is_blank() else str(select.value)

    # -- sending -------------------------------------------------------------------------------------------

    def _options(self) -> ChatOptions | str:
        try:
            temperature = float(self.query_one("#temperature", Input).value)
        except ValueError:
            return "temperature must be a number"
        if not 0.0 <= temperature <= 2.0:
            return "temperature must be between 0 and 2"
        try:
            max_tokens = int(self.query_one("#max-tokens", Input).value)
        except ValueError:
            return "max tokens must be a whole number"
        if max_tokens < 1:
            return "max tokens must be at least 1"
        stall = self.foundry_app.settings.stall_timeout_s
        return ChatOptions(max_tokens=max_tokens, temperature=temperature, stall_timeout_s=stall)

    @on(Input.Submitted, "#prompt")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value
        if not text.strip():
            return
        if self._stream is not None or self._buffer is not None:
            self._status("a reply is still streaming: Esc stops it")
            return
        model = self.model
        if model is None:
            self._status("pick a model first (loaded or cached chat models are listed)")
            return
        options = self._options()
        if isinstance(options, str):
            self._status(options)
            return
        if self.foundry_app.backend is None:
            self._status("the runtime is not ready yet")
            return
        event.input.value = ""
        system = self.query_one("#system", Input).value.strip()
        self.conversation.append(ChatMessage("user", text))
        messages = ([ChatMessage("system", system)] if system else []) + list(self.conversation)
        transcript = self.query_one(TranscriptView)
        if not self.conversation[:-1] and all(e.kind == "note" for e in transcript.entries):
            transcript.clear()
        transcript.add("user", text)
        transcript.add("assistant")
        self._buffer = TokenBuffer()
        self._stop_requested = False
        self._flushes = 0
        self._peak_rate = 0.0
        self._flush_timer = self.set_interval(1 / FLUSH_HZ, self._flush)
        self._status(f"sending to {model}…")
        self._run_stream(model, messages, options, self._buffer)

    @work(thread=True, exclusive=True, group="chat", exit_on_error=False)
    def _run_stream(self, model: str, messages: list[ChatMessage], options: ChatOptions, buffer: TokenBuffer) -> None:
        app = self.foundry_app
        backend, lifecycle = app.backend, app.lifecycle
        if backend is None:
            self.post_message(ReplyFailed("the runtime is not ready yet"))
            return
        try:
            entry = backend.resolve(model)
            if not entry.loaded and backend.info().management and lifecycle is not None:
                warn_if_unfit(app, entry, "load")
                app.call_from_thread(self._status, f"loading {entry.id}…")
                _, report = lifecycle.load(entry.id)
                app.post_message(ModelLoaded(report))
                app.call_from_thread(app.request_refresh)
            stream = backend.stream_chat(entry.id, messages, options)
        except FoundryTuiError as exc:
            self.post_message(ReplyFailed(str(exc)))
            return
        self._stream = stream
        if self._stop_requested:  # Esc pressed before the request was even sent
            stream.cancel()
        marker = StreamMarker(app.sampler.events, entry.id)  # first token / stream end on the monitor's clock
        record = measure_stream(stream, marker.after(lambda event: buffer.add(event, stream.t_sent_ns)))
        marker.end(record.finish_reason or record.status)
        self.post_message(ReplyDone(record))

    def _flush(self) -> None:
        buffer = self._buffer
        if buffer is None:
            return
        text, rate, ttft_ms, count = buffer.drain()
        self.query_one(TranscriptView).append(text)
        self._peak_rate = max(self._peak_rate, rate)
        if count:
            ttft = "" if ttft_ms is None else f" · TTFT {ttft_ms:.0f} ms"
            self._status(f"● {rate:7.1f} tok/s {gauge(rate, self._peak_rate)} {count} tokens{ttft}")
        self._flushes += 1
        if self._flushes % STATS_EVERY == 0:
            self.app.post_message(StreamStats(rate, ttft_ms, streaming=True))

    def _finish_stream(self) -> None:
        self._flush()
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        self._stream = None
        self._buffer = None

    def on_reply_done(self, message: ReplyDone) -> None:
        record = message.record
        self.last_record = record
        self._finish_stream()
        transcript = self.query_one(TranscriptView)
        transcript.remove_last_if_empty()
        if record.status == "error":
            self._drop_last_user_turn()
            transcript.add("error", safe_line(record.error or "failed"))
            self._status("the reply failed: see the transcript")
        else:
            self.last_reply = record.text
            self.conversation.append(ChatMessage("assistant", record.text))
            summary = reply_summary(record)
            transcript.add("stats", summary)
            self._status(("stopped · " if record.status == "cancelled" else "") + summary)
        self.app.post_message(StreamStats(record.decode_tps or 0.0, record.ttft_ms, streaming=False))

    def on_reply_failed(self, message: ReplyFailed) -> None:
        self._finish_stream()
        self._drop_last_user_turn()
        transcript = self.query_one(TranscriptView)
        transcript.remove_last_if_empty()
        transcript.add("error", safe_line(message.error))
        self._status("the request failed: see the transcript")

    def _drop_last_user_turn(self) -> None:
        # A failed turn leaves no trace in the history, so sending again does not repeat the question.
        if self.conversation and self.conversation[-1].role == "user":
            self.conversation.pop()

    def _status(self, text: str) -> None:
        # One fixed-height line: repaint it without relayouting the screen (it changes 20 times a second).
        self.query_one("#chat-status", Static).update(literal(text), layout=False)

    # -- actions -------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self._stream is not None or self._buffer is not None
        return True

    def action_stop(self) -> None:
        self._stop_requested = True
        stream = self._stream
        if stream is not None:
            stream.cancel()
            self._status("stopping…")

    def action_copy_reply(self) -> None:
        if self.last_reply:
            self.app.copy_to_clipboard(self.last_reply)
            self.notify("Copied the last reply.", timeout=2)
        else:
            self.notify("No reply to copy yet.", severity="warning", timeout=2)

    def action_clear_chat(self) -> None:
        self.clear_chat()

    def clear_chat(self) -> None:
        self.action_stop()
        self.conversation.clear()
        self.last_reply = ""
        self.query_one(TranscriptView).clear()
        self._hint()
        self._status("")


__all__ = ["ChatPane", "ReplyDone", "ReplyFailed"]

"""Chat pane: a multi-turn probe chat with streaming text, a live token-rate gauge and per-reply numbers.

A view: Enter posts `ChatRequested` with the conversation; the app runs it through the session on a worker and
sends back `ChatStatus` (loading, sending), `ChatDelta` about 10 times a second (the text since the last one and the
live figures), then `ChatFinished` or `ChatFailed`. Every number and its format comes from the engine.

Each reply is labelled with the model that wrote it, and a cold one (the chat had to load the model first) says so,
with the load time apart from the TTFT. Up and Down in the message field walk the prompts sent before. Esc stops a
streaming reply; otherwise the pane leaves Esc to the app (out of the input, to the transcript). At 80 columns the
model picker cuts long ids in the middle and the transcript wraps; nothing else is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static
from textual.widgets.select import InvalidSelectValueError

from foundry_tui.engine import metrics
from foundry_tui.engine.chat import ChatMessage, cold_start_note, reply_status, reply_summary, with_system
from foundry_tui.engine.models import ModelEntry
from foundry_tui.engine.prompt_history import PromptHistory
from foundry_tui.engine.timing import RequestRecord
from foundry_tui.text import middle_ellipsis, safe_line, strip_controls
from foundry_tui.tui.messages import (
    ChatDelta,
    ChatFailed,
    ChatFinished,
    ChatModelChosen,
    ChatRequested,
    ChatStatus,
    ChatStopRequested,
    HistoryChanged,
    HistoryLoaded,
    ModelsUpdated,
)
from foundry_tui.tui.panes.base import Pane
from foundry_tui.tui.widgets.chat_prompt import PromptInput
from foundry_tui.tui.widgets.literal import literal
from foundry_tui.tui.widgets.transcript import TranscriptView

GAUGE_WIDTH = 16
HINT = "Type a message below and press Enter; Up recalls earlier ones. Esc stops a reply; ctrl+y copies it."
LOADED_MARK = "  ● loaded"
# The settings row around the model picker: its labels (with padding), the temperature and max-token fields, and
# the picker's own arrow and padding. What is left is the room for a model id.
SETTINGS_CHROME = len(" model ") + len(" temp ") + 7 + len(" max ") + 8 + 4


@dataclass(frozen=True)
class ChatDefaults:
    temperature: float
    max_tokens: int


def fit_parts(line: str, width: int, expendable: tuple[str, ...] = ("e2e ", "finish ")) -> str:
    """A `a · b · c` line in `width` cells: the `expendable` parts go first, then whole parts from the end (the
    transcript keeps them all)."""
    parts = line.split(" · ")
    for prefix in expendable:
        if len(" · ".join(parts)) > width:
            parts = [part for part in parts if not part.startswith(prefix)]
    while len(parts) > 1 and len(" · ".join(parts)) > width:
        parts.pop()
    return " · ".join(parts)


def option_label(model: ModelEntry, room: int) -> str:
    """A picker entry in `room` cells: the id cut in the middle when needed, and whether it is loaded."""
    mark = LOADED_MARK if model.loaded else ""
    return middle_ellipsis(model.id, max(room - len(mark), 12)) + mark


def gauge(rate: float, peak: float) -> str:
    filled = 0 if peak <= 0 else round(GAUGE_WIDTH * min(rate / peak, 1.0))
    return "█" * filled + "·" * (GAUGE_WIDTH - filled)


def parse_options(temperature: str, max_tokens: str) -> tuple[float, int] | str:
    """The two settings fields, or what is wrong with them (one line)."""
    try:
        temp = float(temperature)
    except ValueError:
        return "temperature must be a number"
    if not 0.0 <= temp <= 2.0:
        return "temperature must be between 0 and 2"
    try:
        tokens = int(max_tokens)
    except ValueError:
        return "max tokens must be a whole number"
    if tokens < 1:
        return "max tokens must be at least 1"
    return temp, tokens


class ChatPane(Pane):
    TAB = "chat"
    STATUS = "#chat-status"
    DEFAULT_CSS = """
    ChatPane { layout: vertical; height: 1fr; }
    ChatPane #chat-settings { height: 1; }
    ChatPane #chat-settings Label { width: auto; padding: 0 1; color: $text-muted; }
    ChatPane #model-select { width: 1fr; }
    ChatPane #temperature { width: 7; }
    ChatPane #max-tokens { width: 8; }
    ChatPane #system { height: 1; }
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

    def __init__(self, defaults: ChatDefaults, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._defaults = defaults
        self.conversation: list[ChatMessage] = []
        self.last_reply = ""
        self.last_record: RequestRecord | None = None
        self.streaming = False
        self._peak_rate = 0.0
        self._pending_model: str | None = None
        self._models: list[ModelEntry] = []
        self._label_room = 0
        self.history = PromptHistory()

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
            yield Input(str(self._defaults.temperature), id="temperature", compact=True)
            yield Label("max")
            yield Input(str(self._defaults.max_tokens), id="max-tokens", compact=True)
        yield Input(placeholder="system prompt (optional)", id="system", compact=True)
        yield TranscriptView(id="transcript")
        yield Static("", id="chat-status", markup=False)
        yield PromptInput(self.history, placeholder="message… (Enter sends, Up recalls)", id="prompt")

    def on_mount(self) -> None:
        self.query_one(TranscriptView).add("note", HINT)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.history.restore(list(message.prompts))

    def focus_target(self) -> Widget | None:
        return self.query_one("#prompt", Input)

    def leave_target(self) -> Widget | None:
        """Esc in any of the pane's inputs goes to the transcript (scroll it, copy from it, the app's keys)."""
        return self.transcript

    @property
    def transcript(self) -> TranscriptView:
        return self.query_one(TranscriptView)

    # -- model picker ------------------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        self._models = message.snapshot.chat_models()
        self._fill_picker()
        self._pending_model = None
        self.select_model(self.model)

    def on_resize(self, event: events.Resize) -> None:
        room = max(event.size.width - SETTINGS_CHROME, 12)
        if room != self._label_room:
            self._label_room = room
            self._fill_picker()

    def _fill_picker(self) -> None:
        """The chat models as options whose labels fit the picker's width; the choice survives a refill."""
        select = self.query_one("#model-select", Select)
        current = None if select.is_blank() else str(select.value)
        models = self._models
        room = self._label_room or max((self.size.width or 80) - SETTINGS_CHROME, 12)
        options = [(literal(option_label(m, room)), m.id) for m in models]
        with self.prevent(Select.Changed):
            select.set_options(options)
            ids = [m.id for m in models]
            wanted = self._pending_model or current
            if wanted in ids:
                select.value = wanted
            elif ids:
                loaded = [m.id for m in models if m.loaded]
                select.value = loaded[0] if loaded else ids[0]

    @on(Select.Changed, "#model-select")
    def _model_changed(self, event: Select.Changed) -> None:
        self.select_model(None if event.value is Select.NULL else str(event.value))

    def on_chat_model_chosen(self, message: ChatModelChosen) -> None:
        self.use_model(message.model_id)

    def use_model(self, model_id: str) -> None:
        """Switch the chat to `model_id` (the palette, Enter in the catalog); applied on the next snapshot when
        the model is not an option yet (just loaded)."""
        select = self.query_one("#model-select", Select)
        try:
            select.value = model_id
        except InvalidSelectValueError:
            self._pending_model = model_id
        self.select_model(self.model)
        self.query_one("#prompt", Input).focus()

    @property
    def model(self) -> str | None:
        select = self.query_one("#model-select", Select)
        return None if select.is_blank() else str(select.value)

    # -- sending -----------------------------------------------------------------------------------------------

    @on(Input.Submitted, "#prompt")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value
        if not text.strip():
            return
        if self.streaming:
            self.set_status("a reply is still streaming: Esc stops it")
            return
        model = self.model
        if model is None:
            self.set_status("pick a model first (loaded or cached chat models are listed)")
            return
        options = parse_options(self.query_one("#temperature", Input).value, self.query_one("#max-tokens", Input).value)
        if isinstance(options, str):
            self.set_status(options)
            return
        temperature, max_tokens = options
        event.input.value = ""
        if self.query_one(PromptInput).remember(text):
            self.post_message(HistoryChanged(tuple(self.history.entries)))
        system = self.query_one("#system", Input).value.strip()
        self.conversation.append(ChatMessage("user", text))
        messages = with_system(system, list(self.conversation))
        transcript = self.transcript
        if len(self.conversation) == 1 and all(e.kind == "note" for e in transcript.entries):
            transcript.clear()
        transcript.add("user", text)
        transcript.add("model", model)
        transcript.add("assistant")
        self.streaming = True
        self._peak_rate = 0.0
        self.set_status(f"sending to {model}…")
        self.refresh_bindings()
        self.post_message(ChatRequested(model, tuple(messages), max_tokens, temperature))

    def on_chat_status(self, message: ChatStatus) -> None:
        self.set_status(message.text)

    def on_chat_delta(self, message: ChatDelta) -> None:
        piece = message.piece
        self.transcript.append(piece.text)
        self._peak_rate = max(self._peak_rate, piece.rate_tps)
        if piece.tokens:
            ttft = "" if piece.ttft_ms is None else f" · TTFT {metrics.TTFT.fmt(piece.ttft_ms)}"
            rate = f"{piece.rate_tps:7.1f} tok/s"
            self.set_status(f"● {rate} {gauge(piece.rate_tps, self._peak_rate)} {piece.tokens} tokens{ttft}")

    def on_chat_finished(self, message: ChatFinished) -> None:
        record = message.result.record
        self.last_record = record
        self._done()
        transcript = self.transcript
        transcript.remove_last_if_empty()
        if record.status == "error":
            self._drop_last_user_turn()
            transcript.add("error", safe_line(record.error or "failed"))
            self.set_status("the reply failed: see the transcript")
            return
        self.last_reply = record.text
        self.conversation.append(ChatMessage("assistant", record.text))
        load = message.result.load
        if load is not None:  # apart from the figures: the load is not in them, and it explains a long TTFT
            transcript.add("stats", cold_start_note(load.load_s))
        transcript.add("stats", reply_summary(record, cold=message.result.first_request and load is None))
        status = ("stopped · " if record.status == "cancelled" else "") + reply_status(message.result)
        self.set_status(fit_parts(status, self.size.width or 80))

    def on_chat_failed(self, message: ChatFailed) -> None:
        self._done()
        self._drop_last_user_turn()
        transcript = self.transcript
        transcript.remove_last_if_empty()
        transcript.add("error", safe_line(message.error))
        self.set_status("the request failed: see the transcript")

    def _done(self) -> None:
        self.streaming = False
        self.refresh_bindings()

    def _drop_last_user_turn(self) -> None:
        # A failed turn leaves no trace in the history, so sending again does not repeat the question.
        if self.conversation and self.conversation[-1].role == "user":
            self.conversation.pop()

    # -- actions -----------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Not streaming: Esc (and ctrl+c) are not ours, so the app's Esc (leave the input) and Input's copy run.
        if action == "stop":
            return self.streaming
        return True

    def action_stop(self) -> None:
        if self.streaming:
            self.post_message(ChatStopRequested())
            self.set_status("stopping…")

    def action_copy_reply(self) -> None:
        if self.last_reply:
            # Never raw control bytes in the clipboard: a pasted ESC sequence would run in the next terminal.
            self.app.copy_to_clipboard(strip_controls(self.last_reply))
            self.notify("Copied the last reply.", timeout=2)
        else:
            self.notify("No reply to copy yet.", severity="warning", timeout=2)

    def action_clear_chat(self) -> None:
        self.action_stop()
        self.conversation.clear()
        self.last_reply = ""
        self.transcript.clear()
        self.transcript.add("note", HINT)
        self.set_status("")


__all__ = ["ChatDefaults", "ChatPane", "fit_parts", "gauge", "option_label", "parse_options"]

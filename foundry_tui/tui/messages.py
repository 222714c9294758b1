"""The TUI's typed messages: intents go up from panes to the app, data comes down from the app to the panes.

Data flows one way: backend → engine session → the app's workers → a data message → a pane. A pane never calls the
session; it posts an intent (a `Message` that bubbles to the app) and renders the data messages it receives. Data
messages are posted straight to the pane that shows them, with `bubble=False` (they never travel back up), and
`can_replace` where a newer one makes an unread older one worthless (live progress).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message

from foundry_tui.engine.bench import BenchResults
from foundry_tui.engine.bench.config import DEFAULT_CONTEXT_TTFT_LIMIT_S, DEFAULT_SWEEP_MAX_TOKENS
from foundry_tui.engine.chat import ChatMessage, ChatResult, StreamSlice
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.fit import FitCheck
from foundry_tui.engine.lifecycle import LoadReport, UnloadReport
from foundry_tui.engine.models import ModelsSnapshot
from foundry_tui.importer import ImportResult, Stage

# -- intents (pane → app) ------------------------------------------------------------------------------------


@dataclass
class ModelSelected(Message):
    """The model highlighted in `pane` (a tab id) changed; `l`/`u` act on the selection of the visible tab."""

    model_id: str | None
    pane: str


@dataclass
class RefreshRequested(Message):
    catalog: bool = False  # also fetch the catalog again (seconds)


@dataclass
class LoadRequested(Message):
    model_id: str


@dataclass
class UnloadRequested(Message):
    model_id: str


@dataclass
class OpenChatRequested(Message):
    """Show the Chat tab with this model picked (Enter on a loaded model, the palette)."""

    model_id: str


@dataclass
class DownloadRequested(Message):
    model_id: str


@dataclass
class DownloadCancelRequested(Message):
    model_id: str


@dataclass
class DownloadRetryRequested(Message):
    model_id: str


@dataclass
class DownloadsClearRequested(Message):
    """Forget the finished downloads."""


@dataclass
class RemoveRequested(Message):
    """Remove a cached model from disk, or unregister a local one (already confirmed by the user)."""

    model_id: str


@dataclass
class RegisterRequested(Message):
    path: str
    model_id: str
    display_name: str | None


@dataclass
class ChatRequested(Message):
    model_id: str
    messages: tuple[ChatMessage, ...]  # the whole conversation, system prompt first
    max_tokens: int
    temperature: float


@dataclass
class HistoryChanged(Message):
    """The chat's prompt history changed: keep it for the next run (the app writes it on a worker)."""

    prompts: tuple[str, ...]


@dataclass
class ChatStopRequested(Message):
    pass


@dataclass
class ImportRequested(Message):
    source: str | None  # None with demo
    demo: bool
    precision: str
    model_id: str | None


@dataclass
class ImportCancelRequested(Message):
    pass


@dataclass(frozen=True)
class BenchOptions:
    """The Benchmark pane's further options (its options dialog), as typed; the names are `build_config`'s.

    The defaults are the engine's, as text: no sweep, no context search, no cold starts, no SLO."""

    prompt_tokens: str = ""  # the sweep's lengths, "128,512,2k"; blank: no sweep
    sweep_max_tokens: str = str(DEFAULT_SWEEP_MAX_TOKENS)  # completion budget of a sweep request
    find_context: bool = False
    context_ttft_limit_s: str = f"{DEFAULT_CONTEXT_TTFT_LIMIT_S:g}"  # a slower first token ends the search
    cold: str = "0"  # reloads, each followed by one request
    slo: str = ""  # "ttft_ms<=500,decode_tps>=20,e2e_ms<=4000"; blank: no goodput


@dataclass
class BenchStartRequested(Message):
    """The Benchmark pane's form, as typed (the engine's `build_config` checks it)."""

    models: tuple[str, ...]
    prompt_file: str
    rounds: str
    warmup: str
    max_tokens: str  # blank: each prompt's own budget
    options: BenchOptions = field(default_factory=BenchOptions)


@dataclass
class BenchStopRequested(Message):
    pass


@dataclass
class OpenRunRequested(Message):
    path: Path  # a run's directory (or its results.json)


@dataclass
class ScoreRequested(Message):
    """Set (1–5) or clear (None) the manual score of a model's answer to a prompt in a saved run."""

    path: Path
    model: str
    prompt_index: int
    score: int | None


@dataclass
class EpRegisterRequested(Message):
    """Download and register execution providers (None: every discoverable one)."""

    names: tuple[str, ...] | None = None


# -- data (app → pane, bubble=False) -------------------------------------------------------------------------


class _Down(Message, bubble=False):
    """A data message for one widget: handled there, never bubbled back to the app."""

    def __init_subclass__(cls, bubble: bool | None = False, **kwargs: Any) -> None:
        super().__init_subclass__(bubble=bubble, **kwargs)  # Textual's default would turn bubbling back on


@dataclass
class ModelsUpdated(_Down):
    snapshot: ModelsSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ModelsUpdated)


@dataclass
class BackendStateChanged(_Down):
    state: str  # starting | ready | failed
    detail: str = ""


@dataclass
class DownloadsUpdated(_Down):
    jobs: list[DownloadJob]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DownloadsUpdated)


@dataclass
class RemoveFinished(_Down):
    model_id: str
    local: bool  # it was unregistered (files kept), not deleted
    error: str | None = None


@dataclass
class RegisterFinished(_Down):
    model_id: str
    error: str | None = None


@dataclass
class ChatStatus(_Down):
    """One line about the request in flight (loading…, sending…, stopping…)."""

    text: str


@dataclass
class ChatDelta(_Down):
    """Text that arrived since the last delta (drawn about 10 times a second), and the live figures."""

    piece: StreamSlice


@dataclass
class ChatFinished(_Down):
    result: ChatResult


@dataclass
class ChatFailed(_Down):
    error: str


@dataclass
class ChatModelChosen(_Down):
    model_id: str


@dataclass
class ImportProgress(_Down):
    stage: Stage

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ImportProgress)


@dataclass
class ImportFinished(_Down):
    result: ImportResult | None
    error: str | None = None
    cancelled: bool = False


@dataclass
class BenchStatus(_Down):
    text: str


@dataclass
class BenchProgress(_Down):
    """The running benchmark so far (twice a second)."""

    results: BenchResults

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BenchProgress)


@dataclass
class BenchDone(_Down):
    results: BenchResults
    path: Path  # where the runner wrote the files
    write_error: str | None = None


@dataclass
class BenchShown(_Down):
    """A saved run to show: opened from the past runs, or rewritten with a new manual score."""

    results: BenchResults
    path: Path


@dataclass
class ModelLoaded(_Down):
    report: LoadReport


@dataclass
class ModelUnloaded(_Down):
    report: UnloadReport


@dataclass
class HistoryLoaded(_Down):
    """Prompts sent in earlier runs, read on a worker after start-up."""

    prompts: tuple[str, ...]


@dataclass
class FitEstimated(_Down):
    """The fit estimate made before `action` ("load", "download"), for the Monitor pane to set beside the measured
    figures."""

    check: FitCheck
    action: str


@dataclass
class EpProgress(_Down):
    """One execution provider's download/registration progress (0..100)."""

    name: str
    percent: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EpProgress) and message.name == self.name


@dataclass
class EpRegisterFinished(_Down):
    registered: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    error: str | None = None  # the call itself failed (not supported, unknown name, a runtime error)


@dataclass
class StreamStats(_Down):
    """Live figures of the current (or last) stream, for the strip."""

    rate_tps: float
    ttft_ms: float | None
    streaming: bool

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StreamStats)


__all__ = [
    "BackendStateChanged",
    "BenchDone",
    "BenchOptions",
    "BenchProgress",
    "BenchShown",
    "BenchStartRequested",
    "BenchStatus",
    "BenchStopRequested",
    "ChatDelta",
    "ChatFailed",
    "ChatFinished",
    "ChatModelChosen",
    "ChatRequested",
    "ChatStatus",
    "ChatStopRequested",
    "DownloadCancelRequested",
    "DownloadRequested",
    "DownloadRetryRequested",
    "DownloadsClearRequested",
    "DownloadsUpdated",
    "EpProgress",
    "EpRegisterFinished",
    "EpRegisterRequested",
    "FitEstimated",
    "HistoryChanged",
    "HistoryLoaded",
    "ImportCancelRequested",
    "ImportFinished",
    "ImportProgress",
    "ImportRequested",
    "LoadRequested",
    "ModelLoaded",
    "ModelSelected",
    "ModelUnloaded",
    "ModelsUpdated",
    "OpenChatRequested",
    "OpenRunRequested",
    "RefreshRequested",
    "RegisterFinished",
    "RegisterRequested",
    "RemoveFinished",
    "RemoveRequested",
    "ScoreRequested",
    "StreamStats",
    "UnloadRequested",
]

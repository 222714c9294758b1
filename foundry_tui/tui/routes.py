"""How the app answers the panes' intents: each one runs through the engine session on a worker thread, and what
comes back is posted as a data message to the widget that shows it.

`SessionRoutes` is mixed into the App (tui/app.py keeps the layout, keys and palette). Workers never touch widgets:
they post messages (thread-safe) — to the app for its own state, to a pane or a dialog for what it renders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from foundry_tui.engine.chat import Cancel, ChatEvent, Loaded, LoadStarting, Sending, StreamBuffer
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.fit import FitCheck
from foundry_tui.engine.metrics import LOAD_TIME
from foundry_tui.engine.models import ModelEntry, ModelsSnapshot
from foundry_tui.engine.prompt_history import read_history, write_history
from foundry_tui.errors import FoundryTuiError
from foundry_tui.importer import Stage
from foundry_tui.text import safe_line
from foundry_tui.tui import messages as msg
from foundry_tui.tui.panes.base import Pane
from foundry_tui.tui.panes.cache import CachePane
from foundry_tui.tui.panes.chat import ChatPane
from foundry_tui.tui.panes.monitor import MonitorPane
from foundry_tui.tui.screens.execution_providers import ep_result_line
from foundry_tui.tui.widgets.memory_strip import MemoryStrip

if TYPE_CHECKING:
    from foundry_tui.tui.app import FoundryTuiApp

FLUSH_HZ = 10  # streamed text reaches the screen in 100 ms batches: smooth to read, and the UI thread stays free
STATS_EVERY = 3  # flushes between strip updates (~3 Hz)


# -- the app's own messages (from its workers and the engine's threads) --------------------------------------


@dataclass
class SnapshotReady(Message):
    snapshot: ModelsSnapshot


@dataclass
class JobsChanged(Message):
    jobs: list[DownloadJob]


@dataclass
class BackendStarted(Message):
    error: str | None = None


@dataclass
class ChatEnded(Message):
    message: msg.ChatFinished | msg.ChatFailed


@dataclass
class Deliver(Message):
    """From a worker: deliver `message` to the widget(s) of `widget_type` (the lookup must run on the UI thread)."""

    widget_type: type[Widget]
    message: Message


@dataclass
class ChatRun:
    """The reply streaming now: its stop button, the buffer its tokens land in, the timer that draws them."""

    cancel: Cancel
    buffer: StreamBuffer
    timer: Timer
    flushes: int = 0


class SessionRoutes:
    """Mixed into FoundryTuiApp: the intent handlers and the workers behind them."""

    def _app(self) -> FoundryTuiApp:
        return self  # type: ignore[return-value]

    # -- delivering data -------------------------------------------------------------------------------------

    def deliver(self, widget_type: type[Widget], message: Message) -> None:
        """Post a data message to the widget(s) of that type on the main screen (UI thread)."""
        for widget in self._app().main_screen.query(widget_type):
            widget.post_message(message)

    def _fit_warning(self, check: FitCheck, action: str) -> None:
        """(Any thread.) The Monitor pane shows every estimate; a toast warns when it may not fit."""
        self._app().post_message(Deliver(MonitorPane, msg.FitEstimated(check, action)))
        if check.warn:
            self._app().notify(
                safe_line(check.message),
                title=f"Before {action}: may not fit",
                severity="warning",
                markup=False,
                timeout=12,
            )

    def _error(self, title: str, detail: str) -> None:
        self._app().notify(safe_line(detail), title=title, severity="error", markup=False, timeout=10)

    # -- start and models ------------------------------------------------------------------------------------

    @work(thread=True, group="backend", exit_on_error=False)
    def start_session(self) -> None:
        app = self._app()
        try:
            app.session.start()
        except FoundryTuiError as exc:
            app.post_message(BackendStarted(str(exc)))
            return
        except Exception as exc:  # an SDK surprise: show it, do not crash the UI
            app.post_message(BackendStarted(f"{type(exc).__name__}: {exc}"))
            return
        app.post_message(BackendStarted())
        self._refresh(catalog=True, refetch=False)

    def on_backend_started(self, message: BackendStarted) -> None:
        app = self._app()
        state = "failed" if message.error is not None else "ready"
        app.backend_state = state
        if message.error is not None:
            app.notify(safe_line(message.error), title="Runtime failed to start", severity="error", markup=False)
        for pane in app.main_screen.query(Pane):
            pane.post_message(msg.BackendStateChanged(state, message.error or ""))
        app.update_subtitle()

    def on_refresh_requested(self, message: msg.RefreshRequested) -> None:
        self.refresh_models(message.catalog)

    @work(thread=True, group="refresh", exit_on_error=False)
    def refresh_models(self, catalog: bool = False) -> None:
        self._refresh(catalog=catalog, refetch=catalog)

    def _refresh(self, *, catalog: bool, refetch: bool = False) -> None:
        """(Worker thread.) Post the fast lists at once, then the catalog, which can take seconds offline."""
        app = self._app()
        if not app.session.ready:
            return
        try:
            app.post_message(SnapshotReady(app.session.snapshot()))
            if catalog:
                app.session.fetch_catalog(refresh=refetch)
                app.post_message(SnapshotReady(app.session.snapshot()))
        except FoundryTuiError as exc:
            self._error("Listing models failed", str(exc))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        app = self._app()
        app.snapshot = message.snapshot
        for pane in app.main_screen.query(".pane"):
            pane.post_message(msg.ModelsUpdated(message.snapshot))
        app.update_subtitle()

    def on_model_selected(self, message: msg.ModelSelected) -> None:
        app = self._app()
        app.selections[message.pane] = message.model_id
        app.sync_selected()

    # -- load and unload -------------------------------------------------------------------------------------

    def on_load_requested(self, message: msg.LoadRequested) -> None:
        self.load_model(message.model_id)

    def on_unload_requested(self, message: msg.UnloadRequested) -> None:
        self.unload_model(message.model_id)

    @work(thread=True, group="lifecycle", exit_on_error=False)
    def load_model(self, model_id: str) -> None:
        app = self._app()
        try:
            self._fit_warning(app.session.fit(model_id), "load")
            app.notify(f"Loading {model_id}…", markup=False, timeout=3)
            _, report = app.session.load(model_id)
        except FoundryTuiError as exc:
            self._error("Load failed", str(exc))
            return
        self._lifecycle_done(msg.ModelLoaded(report), f"Loaded {report.model} in {LOAD_TIME.fmt(report.load_s)}")

    @work(thread=True, group="lifecycle", exit_on_error=False)
    def unload_model(self, model_id: str) -> None:
        try:
            report = self._app().session.unload(model_id)
        except FoundryTuiError as exc:
            self._error("Unload failed", str(exc))
            return
        self._lifecycle_done(msg.ModelUnloaded(report), f"Unloaded {report.model}")

    def _lifecycle_done(self, report: msg.ModelLoaded | msg.ModelUnloaded, note: str) -> None:
        """(Worker thread.) The strip shows the report, a note says it, the lists change."""
        app = self._app()
        for shows_reports in (MemoryStrip, MonitorPane):
            app.post_message(Deliver(shows_reports, report))
        app.notify(note, markup=False, timeout=4)
        self._refresh(catalog=False)

    def on_deliver(self, message: Deliver) -> None:
        self.deliver(message.widget_type, message.message)

    # -- downloads -------------------------------------------------------------------------------------------

    def on_download_requested(self, message: msg.DownloadRequested) -> None:
        """Queued here, on the UI thread, so downloads keep the order they were asked for (queuing never blocks);
        the fit check (it may read the model's genai_config.json) runs on a worker."""
        app = self._app()
        app.action_show_tab("cache")
        if not app.session.ready:
            app.notify("The runtime is not ready yet.", severity="warning")
            return
        app.session.downloads.enqueue(message.model_id)
        entry = app.snapshot.find(message.model_id)
        if entry is not None:
            self.check_fit(entry, "download")

    @work(thread=True, group="fit", exit_on_error=False)
    def check_fit(self, entry: ModelEntry, action: str) -> None:
        self._fit_warning(self._app().session.fit(entry), action)

    def _queue(self, action: str, model_id: str = "") -> None:
        session = self._app().session
        if not session.ready:
            return
        queue = session.downloads
        if action == "cancel":
            queue.cancel(model_id)
        elif action == "retry":
            queue.retry(model_id)
        else:
            for job in queue.jobs():
                queue.forget(job.model)

    def on_download_cancel_requested(self, message: msg.DownloadCancelRequested) -> None:
        self._queue("cancel", message.model_id)

    def on_download_retry_requested(self, message: msg.DownloadRetryRequested) -> None:
        self._queue("retry", message.model_id)

    def on_downloads_clear_requested(self, message: msg.DownloadsClearRequested) -> None:
        self._queue("clear")

    def downloads_changed(self, jobs: list[DownloadJob]) -> None:
        """The session's callback, on the queue's thread."""
        self._app().post_message(JobsChanged(jobs))

    def on_jobs_changed(self, message: JobsChanged) -> None:
        app = self._app()
        self.deliver(CachePane, msg.DownloadsUpdated(message.jobs))
        done = {job.model for job in message.jobs if job.state == "done"}
        if done - app.downloads_done:  # a download just finished: the cache changed
            self.refresh_models(False)
        app.downloads_done = done

    # -- local models ----------------------------------------------------------------------------------------

    def on_register_requested(self, message: msg.RegisterRequested) -> None:
        self.register_dir(message.path, message.model_id, message.display_name)

    @work(thread=True, group="registry", exit_on_error=False)
    def register_dir(self, path: str, model_id: str, display_name: str | None) -> None:
        session = self._app().session
        self._then_tell(
            CachePane,
            lambda: session.register(path, model_id, display_name=display_name),
            lambda error: msg.RegisterFinished(model_id, error),
        )

    def on_remove_requested(self, message: msg.RemoveRequested) -> None:
        known = self._app().snapshot.find(message.model_id)
        self.remove_model(message.model_id, known is not None and known.source == "local")

    @work(thread=True, group="registry", exit_on_error=False)
    def remove_model(self, model_id: str, local: bool) -> None:
        session = self._app().session
        self._then_tell(
            CachePane, lambda: session.remove(model_id), lambda error: msg.RemoveFinished(model_id, local, error)
        )

    def _then_tell(
        self, target: type[Widget], action: Callable[[], object], done: Callable[[str | None], Message]
    ) -> None:
        """(Worker thread.) Run `action`, tell `target` how it went (`done(error or None)`), refresh the lists."""
        app = self._app()
        try:
            action()
        except FoundryTuiError as exc:
            app.post_message(Deliver(target, done(str(exc))))
            return
        app.post_message(Deliver(target, done(None)))
        self._refresh(catalog=False)

    # -- chat ------------------------------------------------------------------------------------------------

    def on_open_chat_requested(self, message: msg.OpenChatRequested) -> None:
        self._app().action_show_tab("chat")
        self.deliver(ChatPane, msg.ChatModelChosen(message.model_id))

    def on_chat_requested(self, message: msg.ChatRequested) -> None:
        app = self._app()
        if app.chat is not None:
            return  # the pane does not send while a reply streams
        chat = ChatRun(Cancel(), StreamBuffer(), app.set_interval(1 / FLUSH_HZ, self._flush_chat))
        app.chat = chat
        options = app.session.chat_options(max_tokens=message.max_tokens, temperature=message.temperature)
        self.run_chat(message.model_id, list(message.messages), options, chat)

    @property
    def history_path(self) -> Path:
        """Where the chat's prompts are kept across runs."""
        return self._app().settings.data_dir / "chat_history"

    @work(thread=True, group="history", exit_on_error=False)
    def load_history(self) -> None:
        prompts = read_history(self.history_path)
        if prompts:
            self._app().post_message(Deliver(ChatPane, msg.HistoryLoaded(tuple(prompts))))

    def on_history_changed(self, message: msg.HistoryChanged) -> None:
        self._app().history_prompts = message.prompts
        self.save_history()

    @work(thread=True, group="history", exit_on_error=False)
    def save_history(self) -> None:
        app = self._app()
        with app.history_lock:  # one writer at a time, each writing the newest list: the last write wins
            write_history(self.history_path, list(app.history_prompts))

    def on_chat_stop_requested(self, message: msg.ChatStopRequested) -> None:
        chat = self._app().chat
        if chat is not None:
            chat.cancel.set()

    @work(thread=True, group="chat", exit_on_error=False)
    def run_chat(self, model: str, messages: list[Any], options: Any, chat: ChatRun) -> None:
        app = self._app()

        def on_event(event: ChatEvent) -> None:
            if isinstance(event, LoadStarting):
                self._fit_warning(event.fit, "load")
                app.post_message(Deliver(ChatPane, msg.ChatStatus(f"loading {event.entry.id}…")))
            elif isinstance(event, Loaded):
                for shows_reports in (MemoryStrip, MonitorPane):
                    app.post_message(Deliver(shows_reports, msg.ModelLoaded(event.report)))
                self._refresh(catalog=False)
            elif isinstance(event, Sending):
                app.post_message(Deliver(ChatPane, msg.ChatStatus(f"sending to {event.model}…")))

        try:
            result = app.session.chat(
                model, messages, options, on_event=on_event, on_token=chat.buffer.add, cancel=chat.cancel
            )
        except FoundryTuiError as exc:
            app.post_message(ChatEnded(msg.ChatFailed(str(exc))))
            return
        except Exception as exc:  # a backend bug must not leave the pane waiting forever
            app.post_message(ChatEnded(msg.ChatFailed(f"{type(exc).__name__}: {exc}")))
            return
        app.post_message(ChatEnded(msg.ChatFinished(result)))

    def _flush_chat(self) -> None:
        chat = self._app().chat
        if chat is None:
            return
        piece = chat.buffer.drain()
        if piece.text or piece.tokens:
            self.deliver(ChatPane, msg.ChatDelta(piece))
        chat.flushes += 1
        if chat.flushes % STATS_EVERY == 0:
            self.deliver(MemoryStrip, msg.StreamStats(piece.rate_tps, piece.ttft_ms, streaming=True))

    def on_chat_ended(self, message: ChatEnded) -> None:
        app = self._app()
        chat = app.chat
        if chat is not None:
            self._flush_chat()  # the last batch before the summary
            chat.timer.stop()
            app.chat = None
        self.deliver(ChatPane, message.message)
        if isinstance(message.message, msg.ChatFinished):
            self.deliver(MonitorPane, message.message)  # the first request after a load allocates the KV cache
            record = message.message.result.record
            self.deliver(MemoryStrip, msg.StreamStats(record.decode_tps or 0.0, record.ttft_ms, streaming=False))

    # -- execution providers ---------------------------------------------------------------------------------

    def on_ep_register_requested(self, message: msg.EpRegisterRequested) -> None:
        dialog = self._app().screen  # the execution providers dialog is the modal on top
        self.register_eps(message.names, dialog)

    @work(thread=True, group="eps", exit_on_error=False)
    def register_eps(self, names: tuple[str, ...] | None, dialog: Widget) -> None:
        """Download and register EPs; each one's progress and the outcome go to the dialog (if still open), the
        outcome also as a note; then the catalog is fetched again (a new EP can change the runtime's picks)."""
        app = self._app()

        def progress(name: str, percent: float) -> None:
            dialog.post_message(msg.EpProgress(name, percent))

        try:
            result = app.session.register_execution_providers(list(names) if names else None, progress)
        except FoundryTuiError as exc:
            dialog.post_message(msg.EpRegisterFinished(error=str(exc)))
            self._error("Registering execution providers failed", str(exc))
            return
        done = msg.EpRegisterFinished(result.registered, result.failed)
        dialog.post_message(done)
        if result.failed:
            self._error("Execution providers", ep_result_line(done))
        else:
            app.notify(safe_line(ep_result_line(done)), title="Execution providers", markup=False, timeout=6)
        if result.registered:
            self._refresh(catalog=True, refetch=True)

    # -- import ----------------------------------------------------------------------------------------------

    def on_import_requested(self, message: msg.ImportRequested) -> None:
        app = self._app()
        dialog = app.screen  # the Import dialog is the modal on top
        app.import_cancel = threading.Event()
        self.run_import(message, dialog, app.import_cancel)

    def on_import_cancel_requested(self, message: msg.ImportCancelRequested) -> None:
        cancel = self._app().import_cancel
        if cancel is not None:
            cancel.set()

    @work(thread=True, group="import", exit_on_error=False)
    def run_import(self, request: msg.ImportRequested, dialog: Widget, cancel: threading.Event) -> None:
        app = self._app()

        def progress(stage: Stage) -> None:
            dialog.post_message(msg.ImportProgress(stage))

        try:
            result = app.session.import_model(
                request.source,
                demo=request.demo,
                precision=request.precision,
                model_id=request.model_id,
                progress=progress,
                cancel=cancel,
            )
        except FoundryTuiError as exc:
            dialog.post_message(msg.ImportFinished(None, str(exc), cancelled=cancel.is_set()))
            return
        dialog.post_message(msg.ImportFinished(result))
        self._refresh(catalog=False)


__all__ = ["FLUSH_HZ", "SessionRoutes"]

"""Cache & Downloads pane: models on disk (remove / unregister), the download queue, and registering a local dir.

A view over three widgets (widgets/cached_models, downloads_view, register_form): it renders the models snapshot
(`ModelsUpdated`) and the queue (`DownloadsUpdated`), and turns keys into intents (remove, cancel, retry,
register …) that the app carries out through the session. Model ids, paths and server messages are shown literally.

At 80 columns the tables keep every column (the model column takes what is left and cuts ids in the middle), the
header puts one directory per line, and the whole pane scrolls. Esc is the pane's only when it cancels a download
(the downloads table has the keyboard and its row is queued or running); otherwise the app's Esc runs.
"""

from __future__ import annotations

from textual import events, on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from foundry_tui.engine import units
from foundry_tui.text import safe_line
from foundry_tui.tui.messages import (
    DownloadCancelRequested,
    DownloadRetryRequested,
    DownloadsClearRequested,
    DownloadsUpdated,
    ModelsUpdated,
    RegisterFinished,
    RemoveFinished,
    RemoveRequested,
)
from foundry_tui.tui.panes.base import Pane
from foundry_tui.tui.screens.confirm import ConfirmScreen
from foundry_tui.tui.widgets.cached_models import CachedModels, home_short
from foundry_tui.tui.widgets.downloads_view import ACTIVE_STATES, FINISHED_STATES, DownloadsView
from foundry_tui.tui.widgets.register_form import RegisterForm

MIN_MODEL_WIDTH = 16


class CachePane(Pane):
    TAB = "cache"
    DEFAULT_CSS = """
    CachePane { height: 1fr; }
    CachePane > VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
    CachePane .section-title {
        text-style: bold; color: $text-accent; background: $boost; padding: 0 1; margin: 1 0 0 0;
    }
    CachePane .section-title.first { margin: 0; }
    CachePane .inline-error { color: $text-error; height: auto; }
    CachePane .inline-error.-empty { display: none; }
    """

    BINDINGS = [
        Binding("x,delete", "remove_selected", "Remove"),
        Binding("c", "copy_cache_path", "Copy path"),
        Binding("k", "cancel_download", "Cancel"),
        Binding("escape", "escape", "Cancel download", show=False),
        Binding("r", "retry_download", "Retry"),
        Binding("f", "forget_finished", "Clear done"),
        Binding("n", "focus_register", "Register dir"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._cache_dir: str | None = None
        self._details: dict[str, str] = {}
        self._width = 0
        self._bar_width = 10
        self._enabled: tuple[bool | None, ...] = ()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="cache-scroll", can_focus=False):
            yield Static("Models on disk", classes="section-title first")
            yield CachedModels()
            yield Static("Downloads", classes="section-title")
            yield DownloadsView()
            yield Static("Register a local ONNX Runtime GenAI directory", classes="section-title")
            yield RegisterForm()

    @property
    def cached(self) -> CachedModels:
        return self.query_one(CachedModels)

    @property
    def downloads(self) -> DownloadsView:
        return self.query_one(DownloadsView)

    def on_mount(self) -> None:
        self._layout_columns(self.size.width or 80)
        self.cached.show([], None)

    def focus_target(self) -> Widget | None:
        return self.cached.table

    def on_resize(self, event: events.Resize) -> None:
        self._layout_columns(event.size.width)

    def _layout_columns(self, width: int) -> None:
        """Fixed widths for the figures; the model column takes what is left, so both tables fit the pane."""
        bar_width = 20 if width >= 110 else 10
        if width == self._width and bar_width == self._bar_width:
            return
        self._width, self._bar_width = width, bar_width
        available = max(40, width - 3)  # the scroll bar and a margin
        self.cached.layout_columns(max(MIN_MODEL_WIDTH, available - CachedModels.fixed_width()))
        self.downloads.layout_columns(max(MIN_MODEL_WIDTH, available - DownloadsView.fixed_width(bar_width)), bar_width)

    # -- data in -----------------------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        snapshot = message.snapshot
        backend = snapshot.backend
        self._details = dict(backend.details) if backend else {}
        self._cache_dir = self._details.get("cache_dir") or self._details.get("model_dir")
        self.cached.show(snapshot.on_disk(), self._details)
        form = self.query_one(RegisterForm)
        form.taken = frozenset(m.id for m in snapshot.local)
        self._sync_bindings()

    def on_downloads_updated(self, message: DownloadsUpdated) -> None:
        self.downloads.show(message.jobs)
        self._sync_bindings()

    def on_remove_finished(self, message: RemoveFinished) -> None:
        if message.error is not None:
            action = "Unregister" if message.local else "Remove"
            self.cached.set_error(f"{action} failed: {message.error}")
            self.notify(safe_line(message.error), title=f"{action} failed", severity="error", markup=False, timeout=8)
            return
        self.cached.set_error(None)
        model = message.model_id
        text = f"Unregistered {model} (files kept)" if message.local else f"Removed {model} from the cache"
        self.notify(text, markup=False, timeout=4)

    def on_register_finished(self, message: RegisterFinished) -> None:
        self.query_one(RegisterForm).finished(message.model_id, message.error)
        if message.error is None:
            self.notify(f"Registered {message.model_id}", title="Local model", markup=False, timeout=4)

    # -- selection ---------------------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#cached-table")
    def _cached_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.data_table.has_focus:
            self.select_model(self.cached.selected_id())
        self._sync_bindings()

    @on(DataTable.RowHighlighted, "#downloads-table")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._sync_bindings()

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        if event.widget.id == "cached-table":
            self.select_model(self.cached.selected_id())
            # The header (which directories, how big) belongs with the table: at 24 rows the screen's "scroll the
            # focused widget into view" would otherwise push it off the top. The table scrolls its own rows.
            self.call_after_refresh(self.query_one("#cache-scroll", VerticalScroll).scroll_home, animate=False)
        self._sync_bindings()

    # -- actions -----------------------------------------------------------------------------------------------

    def action_remove_selected(self) -> None:
        entry = self.cached.selected()
        if entry is None:
            self.notify("No model on disk is selected.", severity="warning")
            return
        loaded = "\n\nIt is loaded now and will be unloaded first." if entry.loaded else ""
        if entry.source == "local":
            # The path on a line of its own: a long one then wraps as a path, not in the middle of a sentence.
            where = f" in\n{home_short(entry.path)}" if entry.path else ""
            message = (
                f"Unregister {entry.id}?\n\nThe runtime forgets this registration; its files stay on disk{where}"
                f"{loaded}"
            )
            title, verb = "Unregister local model", "Unregister"
        else:
            size = f" ({units.size(entry.size_mb)})" if entry.size_mb is not None else ""
            message = (
                f"Remove {entry.id} from the model cache?\n\nIts files{size} are deleted from disk; "
                f"download it again to use it.{loaded}"
            )
            title, verb = "Remove cached model", "Remove"

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.cached.set_error(None)
                self.post_message(RemoveRequested(entry.id))

        self.app.push_screen(ConfirmScreen(message, title=title, confirm_label=verb), answered)

    def action_copy_cache_path(self) -> None:
        """The selected model's directory (a registered or imported one's own folder), else the model cache."""
        entry = self.cached.selected()
        where = (self.cached.directory_of(entry) if entry is not None else None) or self._cache_dir
        if not where:
            self.notify("This backend does not expose a local cache directory.", severity="warning")
            return
        self.app.copy_to_clipboard(where)
        self.notify(f"Copied {where}", title="Model location", markup=False, timeout=4)

    def action_cancel_download(self) -> None:
        job = self.downloads.selected()
        if job is None or job.state not in ACTIVE_STATES:
            self.notify("Select a queued or running download to cancel.", severity="warning")
            return
        if job.state == "running":
            self.downloads.mark_cancelling(job.model)
        self.post_message(DownloadCancelRequested(job.model))

    def _escape_cancels(self) -> bool:
        job = self.downloads.selected()
        return self.downloads.table.has_focus and job is not None and job.state in ACTIVE_STATES

    def action_escape(self) -> None:
        """Esc on a queued or running download in the downloads table cancels it (like k); anywhere else it is the
        app's (out of an input, back to the models table)."""
        if not self._escape_cancels():
            raise SkipAction()
        self.action_cancel_download()

    def action_retry_download(self) -> None:
        job = self.downloads.selected()
        if job is None or job.state not in ("failed", "cancelled"):
            self.notify("Select a failed or cancelled download to retry.", severity="warning")
            return
        self.post_message(DownloadRetryRequested(job.model))

    def action_forget_finished(self) -> None:
        if not any(job.state in FINISHED_STATES for job in self.downloads.jobs.values()):
            self.notify("No finished downloads to clear.", severity="warning")
            return
        self.post_message(DownloadsClearRequested())

    def action_focus_register(self) -> None:
        self.query_one(RegisterForm).focus_path()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dim the keys that do nothing right now (the footer shows them greyed out)."""
        job = self.downloads.selected()
        if action == "remove_selected":
            return True if self.cached.rows else None
        if action == "cancel_download":
            return True if job is not None and job.state in ACTIVE_STATES else None
        if action == "retry_download":
            return True if job is not None and job.state in ("failed", "cancelled") else None
        if action == "forget_finished":
            return True if any(j.state in FINISHED_STATES for j in self.downloads.jobs.values()) else None
        if action == "escape":
            return self._escape_cancels()
        return True

    def _sync_bindings(self) -> None:
        """Refresh the footer only when what is enabled changed (not on every progress tick)."""
        actions = ("remove_selected", "cancel_download", "retry_download", "forget_finished")
        enabled = tuple(self.check_action(a, ()) for a in actions)
        if enabled != self._enabled:
            self._enabled = enabled
            self.refresh_bindings()


__all__ = ["CachePane"]

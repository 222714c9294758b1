"""Cache & Downloads pane: models on disk (remove / unregister), the download queue, and registering a local dir.

It only renders and dispatches: the model lists come from the app's snapshot (`ModelsUpdated`), download progress,
speed and ETA from the engine's DownloadQueue (`DownloadsChanged`), and every backend call runs in a thread worker.
Model ids, paths and server messages are shown literally.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Static, TabbedContent, TabPane, Tabs

from foundry_tui.backends.base import ModelEntry
from foundry_tui.backends.local_models import validate_model_dir, validate_model_id
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.errors import BackendError, BadInputError, FoundryTuiError
from foundry_tui.text import escape_controls, safe_line
from foundry_tui.tui.messages import DownloadsChanged, ModelSelected, ModelsUpdated
from foundry_tui.tui.screens.confirm import ConfirmScreen
from foundry_tui.tui.state import ModelsSnapshot
from foundry_tui.tui.widgets.literal import literal

if TYPE_CHECKING:
    from foundry_tui.tui.app import FoundryTuiApp

ACTIVE_STATES = ("queued", "running")
FINISHED_STATES = ("done", "failed", "cancelled")
STATE_STYLE = {
    "queued": "dim",
    "running": "bold cyan",
    "done": "green",
    "failed": "bold red",
    "cancelled": "yellow",
}
REGISTER_HINT = "Enter registers · files stay in place"
_DEVICE_SUFFIX = re.compile(r"-(cpu|gpu|npu|cuda|dml|webgpu|trt-rtx|qnn|openvino)$")


# -- formatting (pure; tested directly) --------------------------------------------------------------------------


def size_text(mb: float | None) -> str:
    """A size in MB as a short human figure: 340 KB, 12 MB, 1.2 GB."""
    if mb is None:
        return "?"
    if mb < 1:
        return f"{mb * 1024:.0f} KB"
    if mb < 1024:
        return f"{mb:.0f} MB"
    return f"{mb / 1024:.1f} GB"


def eta_text(seconds: float | None) -> str:
    """Seconds left as mm:ss (h:mm:ss past an hour); a dash when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def speed_text(mb_per_s: float | None) -> str:
    if mb_per_s is None:
        return "–"
    return f"{mb_per_s:.0f} MB/s" if mb_per_s >= 100 else f"{mb_per_s:.1f} MB/s"


def progress_bar(percent: float, width: int) -> tuple[str, str]:
    """A text bar `width` cells wide with half-cell resolution: (the done part, the part still to go)."""
    fraction = min(max(percent, 0.0), 100.0) / 100.0
    halves = round(fraction * width * 2)
    full, half = divmod(halves, 2)
    done = "━" * full + ("╸" if half else "")
    return done, "─" * (width - len(done))


def suggest_model_id(path: str) -> str | None:
    """An id from the directory name: `…/phi-mini` → `phi-mini-generic-cpu:1` (None when nothing usable)."""
    text = path.strip().rstrip("/\\")
    if not text:
        return None
    name = Path(text).name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._").lower()
    if not slug:
        return None
    if not _DEVICE_SUFFIX.search(slug):
        slug += "-generic-cpu"
    candidate = f"{slug}:1"
    try:
        return validate_model_id(candidate)
    except BadInputError:
        return None


def cached_rows(snapshot: ModelsSnapshot) -> list[ModelEntry]:
    """Models on disk: the cache listing, plus registered local models (their files are on disk too)."""
    merged = {m.id: m for m in snapshot.all_models()}
    rows: dict[str, ModelEntry] = {}
    for entry in (*(snapshot.cached or ()), *snapshot.local):
        if entry.id in rows:
            continue
        known = merged.get(entry.id, entry)
        rows[entry.id] = dataclasses.replace(
            entry,
            size_mb=entry.size_mb if entry.size_mb is not None else known.size_mb,
            device=entry.device or known.device,
            display_name=entry.display_name or known.display_name,
            loaded=known.loaded,
            cached=True,
        )
    return list(rows.values())


def cache_summary(rows: list[ModelEntry], cache_dir: str | None) -> str:
    count = len(rows)
    if not count:
        where = f" in {cache_dir}" if cache_dir else ""
        return f"No models on disk yet{where}. Download one from the Catalog, or register a directory below."
    total = sum(m.size_mb or 0 for m in rows)
    unknown = sum(1 for m in rows if m.size_mb is None)
    text = f"{count} model{'s' if count != 1 else ''} · {size_text(total)}"
    if unknown:
        text += f" (+{unknown} of unknown size)"
    return text + (f" in {cache_dir}" if cache_dir else " (the endpoint's service keeps the files)")


def failure_reason(job: DownloadJob) -> str:
    """The job's error without the "download <model>: " the backend puts in front (the row names the model)."""
    error = job.error or "failed"
    prefix = f"download {job.model}: "
    return error[len(prefix) :] if error.startswith(prefix) and len(error) > len(prefix) else error


def _kind(entry: ModelEntry) -> str:
    return {"local": "registered", "public": "cached", "endpoint": "on service"}.get(entry.source, entry.source)


@dataclass(frozen=True)
class _JobCells:
    model: Text
    progress: Text
    speed: Text
    eta: Text
    state: Text


def job_cells(job: DownloadJob, bar_width: int, cancelling: bool = False) -> _JobCells:
    style = STATE_STYLE.get(job.state, "")
    active = job.state == "running"
    state = "cancelling…" if cancelling and job.state in ACTIVE_STATES else job.state
    done, todo = progress_bar(job.percent, bar_width)
    progress = Text(no_wrap=True)
    progress.append(done, style=style)
    progress.append(todo, style="bright_black")
    progress.append(f" {job.percent:3.0f}%", style=style)
    return _JobCells(
        model=Text(escape_controls(job.model), no_wrap=True, overflow="ellipsis"),
        progress=progress,
        speed=Text(speed_text(job.mb_per_s) if active else "–", justify="right"),
        eta=Text(eta_text(job.eta_s) if active else "–", justify="right"),
        state=Text(state, style=style),
    )


# -- the pane ----------------------------------------------------------------------------------------------------


class CachePane(Widget):
    DEFAULT_CSS = """
    CachePane {
        height: 1fr;
    }
    CachePane > VerticalScroll {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    CachePane .section-title {
        text-style: bold;
        color: $text-accent;
        background: $boost;
        padding: 0 1;
        margin: 1 0 0 0;
    }
    CachePane .section-title.first {
        margin: 0;
    }
    CachePane .summary, CachePane .hint {
        color: $text-muted;
    }
    CachePane .inline-error {
        color: $text-error;
        height: auto;
    }
    CachePane .inline-error.-empty {
        display: none;
    }
    CachePane DataTable {
        height: auto;
        max-height: 12;
        scrollbar-size-vertical: 1;
    }
    CachePane .form-row {
        height: 1;
        margin: 0;
    }
    CachePane .form-row.first {
        margin-top: 1;
    }
    CachePane .form-row Label {
        width: 14;
        color: $text-muted;
    }
    CachePane .form-row Input {
        width: 1fr;
    }
    CachePane #reg-actions {
        height: 1;
        margin: 1 0 0 14;
    }
    CachePane #reg-status {
        width: 1fr;
        padding: 0 0 0 2;
        color: $text-muted;
    }
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

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._cached: list[ModelEntry] = []
        self._cached_sig: tuple[tuple[str, str, str, str, bool], ...] | None = None
        self._cache_dir: str | None = None
        self._info_requested = False
        self._jobs: dict[str, DownloadJob] = {}
        self._job_order: list[str] = []
        self._shown_jobs: list[str] = []
        self._shown_ids: list[str] = []
        self._job_cells: dict[str, _JobCells] = {}
        self._cancelling: set[str] = set()
        self._bar_width = 10
        self._width = 0
        self._errors_text = ""
        self._enabled: tuple[bool | None, ...] = ()
        self._registering = False

    @property
    def foundry_app(self) -> FoundryTuiApp:
        return cast("FoundryTuiApp", self.app)

    # -- layout ------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="cache-scroll", can_focus=False):
            yield Static("Models on disk", classes="section-title first")
            yield Static("", id="cache-summary", classes="summary", markup=False)
            yield DataTable(id="cached-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="cache-error", classes="inline-error -empty", markup=False)

            yield Static("Downloads", classes="section-title")
            yield Static(
                "No downloads. Start one from the Catalog or the command palette (ctrl+p).",
                id="downloads-empty",
                classes="hint",
            )
            yield DataTable(id="downloads-table", cursor_type="row")
            yield Static("", id="download-errors", classes="inline-error -empty", markup=False)
            yield Static("r retries the selected download · f clears finished ones", id="download-hint", classes="hint")

            yield Static("Register a local ONNX Runtime GenAI directory", classes="section-title")
            with Horizontal(classes="form-row first"):
                yield Label("Directory")
                yield Input(placeholder="/path/to/model-dir (holds genai_config.json)", id="reg-path", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Model id")
                yield Input(placeholder="NAME:VERSION, e.g. my-model-generic-cpu:1", id="reg-id", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Display name")
                yield Input(placeholder="optional", id="reg-name", compact=True)
            with Horizontal(id="reg-actions"):
                yield Button("Register", id="reg-submit", variant="primary", compact=True)
                yield Static(REGISTER_HINT, id="reg-status", markup=False)
            yield Static("", id="reg-error", classes="inline-error -empty", markup=False)

    def on_mount(self) -> None:
        self._layout_columns(self.size.width or 80)
        self.query_one("#downloads-table", DataTable).display = False
        self.query_one("#download-hint").display = False
        settings = self.foundry_app.settings
        if not settings.endpoint:
            self._cache_dir = str(settings.model_cache_dir)
        self._show_cached(self.foundry_app.snapshot)
        queue = self.foundry_app.downloads
        if queue is not None:
            self._show_jobs(queue.jobs())

    def on_resize(self, event: events.Resize) -> None:
        self._layout_columns(event.size.width)

    def _layout_columns(self, width: int) -> None:
        """Fixed widths for the figures; the model column takes what is left, so both tables fit the pane."""
        bar_width = 20 if width >= 110 else 10
        if width == self._width and bar_width == self._bar_width:
            return
        self._width, self._bar_width = width, bar_width
        available = max(40, width - 3)  # the scroll bar and a margin
        cached_columns = (("kind", "Kind", 10), ("device", "Device", 6), ("size", "Size", 7), ("loaded", "Loaded", 6))
        download_columns = (
            ("progress", "Progress", bar_width + 5),
            ("speed", "Speed", 9),
            ("eta", "ETA", 5),
            ("state", "State", 11),
        )
        for table_id, columns in (("#cached-table", cached_columns), ("#downloads-table", download_columns)):
            table = self.query_one(table_id, DataTable)
            table.clear(columns=True)
            fixed = sum(w + 2 for _, _, w in columns) + 2  # each cell has one column of padding either side
            table.add_column("Model", key="model", width=max(16, available - fixed))
            for key, label, col_width in columns:
                heading = Text(label, justify="right") if key in ("size", "speed", "eta") else Text(label)
                table.add_column(heading, key=key, width=col_width)
        self._cached_sig = None
        self._show_cached_rows()
        self._job_cells.clear()
        self._rebuild_jobs()

    # -- models on disk ----------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        message.stop()
        self._show_cached(message.snapshot)
        if not self._info_requested and self.foundry_app.backend is not None:
            self._info_requested = True
            self._fetch_cache_location()

    @work(thread=True, group="cache-info", exit_on_error=False)
    def _fetch_cache_location(self) -> None:
        backend = self.foundry_app.backend
        if backend is None:
            return
        try:
            details = backend.info().details
        except Exception:  # the location is a nicety: the pane works without it
            return
        location = details.get("cache_dir") or details.get("model_dir")
        if location:
            self.app.call_from_thread(self._set_cache_dir, location)

    def _set_cache_dir(self, location: str) -> None:
        self._cache_dir = location
        self._show_summary()

    def _show_cached(self, snapshot: ModelsSnapshot) -> None:
        self._cached = cached_rows(snapshot)
        self._show_summary()
        self._show_cached_rows()

    def _show_cached_rows(self) -> None:
        rows = self._cached
        sig = tuple((m.id, _kind(m), m.device or "", size_text(m.size_mb), m.loaded) for m in rows)
        if sig == self._cached_sig:
            return
        self._cached_sig = sig
        table = self.query_one("#cached-table", DataTable)
        current = self._selected_cached_id()
        table.clear()
        for model_id, kind, device, size, loaded in sig:
            table.add_row(
                Text(escape_controls(model_id), no_wrap=True, overflow="ellipsis"),
                Text(kind, style="dim" if kind == "registered" else ""),
                Text(escape_controls(device)),
                Text(size, justify="right"),
                Text("✓" if loaded else "", style="bold green", justify="center"),
                key=model_id,
            )
        self._shown_ids = [m.id for m in rows]
        if current in self._shown_ids:
            table.move_cursor(row=self._shown_ids.index(current))
        self._sync_bindings()

    def _show_summary(self) -> None:
        self.query_one("#cache-summary", Static).update(literal(cache_summary(self._cached, self._cache_dir)))

    def _selected_cached_id(self) -> str | None:
        if not self._shown_ids:
            return None
        row = self.query_one("#cached-table", DataTable).cursor_row
        return self._shown_ids[row] if 0 <= row < len(self._shown_ids) else None

    def _selected_cached(self) -> ModelEntry | None:
        model_id = self._selected_cached_id()
        return next((m for m in self._cached if m.id == model_id), None)

    @on(DataTable.RowHighlighted, "#cached-table")
    def _cached_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.data_table.has_focus:
            self._post_selected()
        self._sync_bindings()

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        if event.widget.id == "cached-table":
            self._post_selected()
        self._sync_bindings()

    def on_show(self) -> None:
        """Keys of this pane work at once after switching to it (unless the user is on the tab bar)."""
        focused = self.app.focused
        if focused is None or not (isinstance(focused, Tabs) or self in focused.ancestors):
            self.call_after_refresh(self.query_one("#cached-table", DataTable).focus)
        elif self in focused.ancestors:
            self._post_selected()  # another pane may have changed the app's selection meanwhile

    def _post_selected(self) -> None:
        entry = self._selected_cached()
        if entry is not None:
            self.post_message(ModelSelected(entry.id))

    def action_remove_selected(self) -> None:
        entry = self._selected_cached()
        if entry is None:
            self.notify("No model on disk is selected.", severity="warning")
            return
        loaded = " It is loaded now and will be unloaded first." if entry.loaded else ""
        if entry.source == "local":
            where = f" in {entry.path}" if entry.path else ""
            message = (
                f"Unregister {entry.id}?\n\nThe runtime forgets this registration; its files stay on disk{where}."
                f"{loaded}"
            )
            title, verb = "Unregister local model", "Unregister"
        else:
            size = f" ({size_text(entry.size_mb)})" if entry.size_mb is not None else ""
            message = (
                f"Remove {entry.id} from the model cache?\n\nIts files{size} are deleted from disk; "
                f"download it again to use it.{loaded}"
            )
            title, verb = "Remove cached model", "Remove"

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._set_error("#cache-error", None)
                self.remove_model(entry.id, entry.source == "local")

        self.app.push_screen(ConfirmScreen(message, title=title, confirm_label=verb), answered)

    @work(thread=True, group="cache-remove", exit_on_error=False)
    def remove_model(self, model_id: str, local: bool) -> None:
        backend = self.foundry_app.backend
        action = "Unregister" if local else "Remove"
        try:
            if backend is None:
                raise BackendError("the runtime is not ready yet")
            if local:
                backend.unregister_model(model_id)
            else:
                backend.remove_from_cache(model_id)
        except FoundryTuiError as exc:
            self.app.call_from_thread(self._remove_failed, action, str(exc))
            return
        except Exception as exc:  # an SDK surprise: show it, keep the UI alive
            self.app.call_from_thread(self._remove_failed, action, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._removed, model_id, local)

    def _remove_failed(self, action: str, error: str) -> None:
        self._set_error("#cache-error", f"{action} failed: {error}")
        self.notify(safe_line(error), title=f"{action} failed", severity="error", markup=False, timeout=8)

    def _removed(self, model_id: str, local: bool) -> None:
        text = f"Unregistered {model_id} (files kept)" if local else f"Removed {model_id} from the cache"
        self.notify(text, markup=False, timeout=4)
        self.foundry_app.request_refresh()

    def action_copy_cache_path(self) -> None:
        if not self._cache_dir:
            self.notify("This backend does not expose a local cache directory.", severity="warning")
            return
        self.app.copy_to_clipboard(self._cache_dir)
        self.notify(f"Copied {self._cache_dir}", title="Cache location", markup=False, timeout=4)

    # -- downloads -------------------------------------------------------------------------------------------

    def on_downloads_changed(self, message: DownloadsChanged) -> None:
        message.stop()  # the app forwarded it here; do not let it bubble back to the app
        self._show_jobs(message.jobs)

    def _show_jobs(self, jobs: list[DownloadJob]) -> None:
        self._jobs = {job.model: job for job in jobs}
        self._cancelling = {m for m in self._cancelling if m in self._jobs and self._jobs[m].state in ACTIVE_STATES}
        order = [job.model for job in jobs]
        if order != self._job_order:
            self._job_order = order
            self._rebuild_jobs()
        else:
            table = self.query_one("#downloads-table", DataTable)
            for job in jobs:
                self._update_job_row(table, job)
        self._show_download_errors()
        self._sync_bindings()

    def _rebuild_jobs(self) -> None:
        table = self.query_one("#downloads-table", DataTable)
        selected = self._selected_job()
        table.clear()
        self._job_cells.clear()
        self._shown_jobs = list(self._job_order)
        for model in self._job_order:
            cells = job_cells(self._jobs[model], self._bar_width, model in self._cancelling)
            self._job_cells[model] = cells
            table.add_row(cells.model, cells.progress, cells.speed, cells.eta, cells.state, key=model)
        has_jobs = bool(self._job_order)
        table.display = has_jobs
        self.query_one("#downloads-empty").display = not has_jobs
        if selected is not None and selected.model in self._shown_jobs:
            table.move_cursor(row=self._shown_jobs.index(selected.model))

    def _update_job_row(self, table: DataTable[object], job: DownloadJob) -> None:
        """Touch only the cells whose text changed: a progress tick redraws one or two cells."""
        cells = job_cells(job, self._bar_width, job.model in self._cancelling)
        before = self._job_cells.get(job.model)
        self._job_cells[job.model] = cells
        for field in dataclasses.fields(cells):
            value = getattr(cells, field.name)
            if before is None or getattr(before, field.name) != value:
                table.update_cell(job.model, field.name, value, update_width=field.name == "model")

    def _show_download_errors(self) -> None:
        lines = [f"✗ {job.model}: {failure_reason(job)}" for job in self._jobs.values() if job.state == "failed"]
        text = "\n".join(lines)
        if text != self._errors_text:
            self._errors_text = text
            self._set_error("#download-errors", text or None)
            self.query_one("#download-hint").display = bool(lines)

    def _selected_job(self) -> DownloadJob | None:
        if not self._shown_jobs:
            return None
        row = self.query_one("#downloads-table", DataTable).cursor_row
        model = self._shown_jobs[row] if 0 <= row < len(self._shown_jobs) else None
        return self._jobs.get(model) if model is not None else None

    @on(DataTable.RowHighlighted, "#downloads-table")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._sync_bindings()

    def action_cancel_download(self) -> None:
        job = self._selected_job()
        queue = self.foundry_app.downloads
        if job is None or queue is None or job.state not in ACTIVE_STATES:
            self.notify("Select a queued or running download to cancel.", severity="warning")
            return
        if job.state == "running":
            self._cancelling.add(job.model)
            self._update_job_row(self.query_one("#downloads-table", DataTable), job)
        queue.cancel(job.model)

    def action_escape(self) -> None:
        """Esc leaves the register form; elsewhere it cancels the selected download (like k)."""
        if isinstance(self.app.focused, Input):
            self.query_one("#cached-table", DataTable).focus()
            return
        job = self._selected_job()
        if job is not None and job.state in ACTIVE_STATES:
            self.action_cancel_download()

    def action_retry_download(self) -> None:
        job = self._selected_job()
        queue = self.foundry_app.downloads
        if job is None or queue is None or job.state not in ("failed", "cancelled"):
            self.notify("Select a failed or cancelled download to retry.", severity="warning")
            return
        queue.retry(job.model)

    def action_forget_finished(self) -> None:
        queue = self.foundry_app.downloads
        finished = [job.model for job in self._jobs.values() if job.state in FINISHED_STATES]
        if queue is None or not finished:
            self.notify("No finished downloads to clear.", severity="warning")
            return
        for model in finished:
            queue.forget(model)

    # -- register a local model directory --------------------------------------------------------------------

    def focus_register(self) -> None:
        """Show this pane's tab and put the cursor in the directory field (the command palette calls this)."""
        for ancestor in self.ancestors:
            if isinstance(ancestor, TabPane) and ancestor.id:
                tab_id = ancestor.id
                for tabs in self.screen.query(TabbedContent):
                    if tabs.query(f"#{tab_id}"):
                        tabs.active = tab_id
                break
        path = self.query_one("#reg-path", Input)
        self.call_after_refresh(path.focus)

    def action_focus_register(self) -> None:
        self.focus_register()

    @on(Input.Changed, "#reg-path")
    def _path_changed(self, event: Input.Changed) -> None:
        suggestion = suggest_model_id(event.value)
        id_input = self.query_one("#reg-id", Input)
        id_input.placeholder = (
            f"{suggestion} (suggested; type to change)" if suggestion else "NAME:VERSION, e.g. my-model-generic-cpu:1"
        )
        self._set_error("#reg-error", None)

    @on(Input.Changed, "#reg-id")
    def _id_changed(self, event: Input.Changed) -> None:
        value = event.value.strip()
        error = None
        if value and ":" in value:  # judge it once a version is being typed, not at every letter
            try:
                validate_model_id(value)
            except BadInputError as exc:
                error = str(exc)
        self._set_error("#reg-error", error)

    @on(Input.Submitted, "#reg-path, #reg-id, #reg-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_register()

    @on(Button.Pressed, "#reg-submit")
    def _register_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_register()

    def action_register(self) -> None:
        if self._registering:
            return
        path_input = self.query_one("#reg-path", Input)
        id_input = self.query_one("#reg-id", Input)
        path = path_input.value.strip()
        if not path:
            self._set_error("#reg-error", "Enter the model directory: the folder that holds genai_config.json.")
            path_input.focus()
            return
        model_id = id_input.value.strip() or suggest_model_id(path) or ""
        if not model_id:
            self._set_error("#reg-error", "Enter a model id like my-model-generic-cpu:1.")
            id_input.focus()
            return
        try:
            validate_model_id(model_id)
        except BadInputError as exc:
            self._set_error("#reg-error", str(exc))
            id_input.focus()
            return
        display_name = self.query_one("#reg-name", Input).value.strip() or None
        self._set_error("#reg-error", None)
        self._set_registering(True, f"Registering {model_id}…")
        self.register_dir(path, model_id, display_name)

    @work(thread=True, group="cache-register", exit_on_error=False)
    def register_dir(self, path: str, model_id: str, display_name: str | None) -> None:
        try:
            validate_model_dir(path)  # local checks with exact messages, before the runtime sees the dir
            backend = self.foundry_app.backend
            if backend is None:
                raise BackendError("the runtime is not ready yet")
            entry = backend.register_model(path, model_id, display_name=display_name)
        except FoundryTuiError as exc:
            self.app.call_from_thread(self._register_failed, str(exc))
            return
        except Exception as exc:  # an SDK surprise: show it, keep the UI alive
            self.app.call_from_thread(self._register_failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._registered, entry.id)

    def _register_failed(self, error: str) -> None:
        self._set_registering(False, REGISTER_HINT)
        self._set_error("#reg-error", safe_line(error))

    def _registered(self, model_id: str) -> None:
        self._set_registering(False, f"Registered {model_id}.")
        for input_id in ("#reg-path", "#reg-id", "#reg-name"):
            self.query_one(input_id, Input).value = ""
        self._set_error("#reg-error", None)
        self.notify(f"Registered {model_id}", title="Local model", markup=False, timeout=4)
        self.foundry_app.request_refresh()

    def _set_registering(self, busy: bool, status: str | None = None) -> None:
        self._registering = busy
        self.query_one("#reg-submit", Button).disabled = busy
        if status is not None:
            self.query_one("#reg-status", Static).update(literal(status))

    # -- helpers ---------------------------------------------------------------------------------------------

    def _set_error(self, selector: str, text: str | None) -> None:
        widget = self.query_one(selector, Static)
        widget.update(literal(text or ""))
        widget.set_class(not text, "-empty")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dim the keys that do nothing right now (the footer shows them greyed out)."""
        if action == "remove_selected":
            return True if self._cached else None
        if action == "cancel_download":
            job = self._selected_job()
            return True if job is not None and job.state in ACTIVE_STATES else None
        if action == "retry_download":
            job = self._selected_job()
            return True if job is not None and job.state in ("failed", "cancelled") else None
        if action == "forget_finished":
            return True if any(j.state in FINISHED_STATES for j in self._jobs.values()) else None
        return True

    def _sync_bindings(self) -> None:
        """Refresh the footer only when what is enabled changed (not on every progress tick)."""
        actions = ("remove_selected", "cancel_download", "retry_download", "forget_finished")
        enabled = tuple(self.check_action(a, ()) for a in actions)
        if enabled != self._enabled:
            self._enabled = enabled
            self.refresh_bindings()


__all__ = [
    "CachePane",
    "cache_summary",
    "cached_rows",
    "eta_text",
    "failure_reason",
    "progress_bar",
    "size_text",
    "speed_text",
    "suggest_model_id",
]

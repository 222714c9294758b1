"""The download queue: one row per job with a progress bar, speed, ETA and state, and the failures spelled out.

Speed and ETA are the engine's (engine.downloads: the last few seconds of progress); this draws them. A progress
tick repaints only the cells whose text changed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from foundry_tui.engine import units
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.text import escape_controls, middle_ellipsis
from foundry_tui.tui.widgets.cached_models import set_inline_error

ACTIVE_STATES = ("queued", "running")
FINISHED_STATES = ("done", "failed", "cancelled")
STATE_STYLE = {"queued": "dim", "running": "bold cyan", "done": "green", "failed": "bold red", "cancelled": "yellow"}
CONNECTING = "connecting…"
EMPTY_TEXT = "No downloads. Start one from the Catalog or the command palette (ctrl+p)."


def progress_bar(percent: float, width: int) -> tuple[str, str]:
    """A text bar `width` cells wide with half-cell resolution: (the done part, the part still to go)."""
    fraction = min(max(percent, 0.0), 100.0) / 100.0
    halves = round(fraction * width * 2)
    full, half = divmod(halves, 2)
    done = "━" * full + ("╸" if half else "")
    return done, "─" * (width - len(done))


def failure_reason(job: DownloadJob) -> str:
    """The job's error without the "download <model>: " the backend puts in front (the row names the model)."""
    error = job.error or "failed"
    prefix = f"download {job.model}: "
    return error[len(prefix) :] if error.startswith(prefix) and len(error) > len(prefix) else error


@dataclass(frozen=True)
class JobCells:
    model: Text
    progress: Text
    speed: Text
    eta: Text
    state: Text


def job_cells(job: DownloadJob, bar_width: int, cancelling: bool = False, model_width: int = 80) -> JobCells:
    """One row's cells; the model id is cut in the middle to `model_width` (its device and version stay)."""
    style = STATE_STYLE.get(job.state, "")
    active = job.state == "running"
    state = "cancelling…" if cancelling and job.state in ACTIVE_STATES else job.state
    progress = Text(no_wrap=True)
    if job.connecting:  # the runtime's 0 % heartbeats: no byte yet, so no bar, speed or ETA to show
        progress.append(CONNECTING.ljust(bar_width + 5), style="italic " + style)
        active = False
    else:
        done, todo = progress_bar(job.percent, bar_width)
        progress.append(done, style=style)
        progress.append(todo, style="bright_black")
        progress.append(f" {job.percent:3.0f}%", style=style)
    return JobCells(
        model=Text(middle_ellipsis(escape_controls(job.model), model_width), no_wrap=True, overflow="ellipsis"),
        progress=progress,
        speed=Text(units.speed(job.mb_per_s) if active else units.MISSING, justify="right"),
        eta=Text(units.eta(job.eta_s) if active else units.MISSING, justify="right"),
        state=Text(state, style=style),
    )


class DownloadsView(Vertical):
    DEFAULT_CSS = """
    DownloadsView { height: auto; }
    DownloadsView #downloads-empty, DownloadsView #download-hint { color: $text-muted; }
    DownloadsView DataTable { height: auto; max-height: 12; scrollbar-size-vertical: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="downloads")
        self.jobs: dict[str, DownloadJob] = {}
        self._order: list[str] = []
        self._cells: dict[str, JobCells] = {}
        self._cancelling: set[str] = set()
        self._bar_width = 10
        self._model_width = 40
        self._errors = ""

    def compose(self) -> ComposeResult:
        yield Static(EMPTY_TEXT, id="downloads-empty")
        yield DataTable(id="downloads-table", cursor_type="row")
        yield Static("", id="download-errors", classes="inline-error -empty", markup=False)
        yield Static("r retries the selected download · f clears finished ones", id="download-hint")

    def on_mount(self) -> None:
        self.table.display = False
        self.query_one("#download-hint").display = False

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#downloads-table", DataTable)

    def layout_columns(self, model_width: int, bar_width: int) -> None:
        self._bar_width = bar_width
        self._model_width = model_width
        table = self.table
        table.clear(columns=True)
        table.add_column("Model", key="model", width=model_width)
        for key, label, width in self.columns(bar_width):
            table.add_column(
                Text(label, justify="right") if key in ("speed", "eta") else Text(label), key=key, width=width
            )
        self._cells.clear()
        self._rebuild()

    @staticmethod
    def columns(bar_width: int) -> tuple[tuple[str, str, int], ...]:
        return (
            ("progress", "Progress", bar_width + 5),
            ("speed", "Speed", 9),
            ("eta", "ETA", 5),
            ("state", "State", 11),
        )

    @classmethod
    def fixed_width(cls, bar_width: int) -> int:
        return sum(w + 2 for _, _, w in cls.columns(bar_width)) + 2

    def show(self, jobs: list[DownloadJob]) -> None:
        self.jobs = {job.model: job for job in jobs}
        self._cancelling = {m for m in self._cancelling if m in self.jobs and self.jobs[m].state in ACTIVE_STATES}
        order = [job.model for job in jobs]
        if order != self._order:
            self._order = order
            self._rebuild()
        else:
            for job in jobs:
                self._update_row(job)
        lines = [f"✗ {job.model}: {failure_reason(job)}" for job in jobs if job.state == "failed"]
        text = "\n".join(lines)
        if text != self._errors:
            self._errors = text
            set_inline_error(self.query_one("#download-errors", Static), text or None)
            self.query_one("#download-hint").display = bool(lines)

    def mark_cancelling(self, model: str) -> None:
        self._cancelling.add(model)
        job = self.jobs.get(model)
        if job is not None:
            self._update_row(job)

    def _rebuild(self) -> None:
        table = self.table
        selected = self.selected()
        table.clear()
        self._cells.clear()
        for model in self._order:
            cells = job_cells(self.jobs[model], self._bar_width, model in self._cancelling, self._model_width)
            self._cells[model] = cells
            table.add_row(cells.model, cells.progress, cells.speed, cells.eta, cells.state, key=model)
        table.display = bool(self._order)
        self.query_one("#downloads-empty").display = not self._order
        if selected is not None and selected.model in self._order:
            table.move_cursor(row=self._order.index(selected.model))

    def _update_row(self, job: DownloadJob) -> None:
        """Touch only the cells whose text changed: a progress tick redraws one or two cells."""
        cells = job_cells(job, self._bar_width, job.model in self._cancelling, self._model_width)
        before = self._cells.get(job.model)
        self._cells[job.model] = cells
        for field in dataclasses.fields(cells):
            value = getattr(cells, field.name)
            if before is None or getattr(before, field.name) != value:
                self.table.update_cell(job.model, field.name, value, update_width=field.name == "model")

    def selected(self) -> DownloadJob | None:
        if not self._order:
            return None
        row = self.table.cursor_row
        model = self._order[row] if 0 <= row < len(self._order) else None
        return self.jobs.get(model) if model is not None else None


__all__ = [
    "ACTIVE_STATES",
    "CONNECTING",
    "FINISHED_STATES",
    "DownloadsView",
    "failure_reason",
    "job_cells",
    "progress_bar",
]

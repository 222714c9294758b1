"""Benchmark pane: pick models, a prompt set and rounds; run the engine's benchmark live; browse past runs.

A view: Run posts `BenchStartRequested` with the form as typed; the app builds the config with the engine's
`build_config`, runs `BenchRunner` through the session (which writes the files) and posts the results here as
they grow (`BenchProgress`, `BenchDone`, `BenchShown`). The numbers are the ones `foundry-tui bench` prints.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Select, SelectionList, Sparkline, Static

from foundry_tui.engine import metrics
from foundry_tui.engine.bench import BenchResults
from foundry_tui.engine.bench.report import REPORT_MD, markdown_report
from foundry_tui.text import escape_controls, safe_line
from foundry_tui.tui.messages import (
    BenchDone,
    BenchProgress,
    BenchShown,
    BenchStartRequested,
    BenchStatus,
    BenchStopRequested,
    ModelsUpdated,
    OpenRunRequested,
)
from foundry_tui.tui.panes.base import Pane
from foundry_tui.tui.screens.bench_answers import AnswersScreen
from foundry_tui.tui.screens.past_runs import PastRunsScreen
from foundry_tui.tui.widgets.literal import literal

COLUMNS = ("model", "status", "done", "TTFT p50", "TTFT p95", "tok/s", "e2e p95", "RSS peak", "load")


class BenchPane(Pane):
    DEFAULT_CSS = """
    BenchPane { layout: vertical; height: 1fr; }
    BenchPane #bench-setup { height: 7; }
    BenchPane #bench-models { width: 1fr; height: 7; border: round $panel-lighten-2; }
    BenchPane #bench-options { width: 34; height: 7; padding: 0 1; }
    BenchPane #bench-options Horizontal { height: 1; }
    BenchPane #bench-options Label { width: 10; color: $text-muted; }
    BenchPane #bench-options Input { width: 1fr; }
    BenchPane #bench-options Select { width: 1fr; }
    BenchPane #bench-buttons { height: 1; margin: 1 0 0 0; }
    BenchPane #bench-buttons Button { min-width: 10; height: 1; border: none; margin: 0 1 0 0; }
    BenchPane #bench-table { height: 1fr; }
    BenchPane #bench-status-row { height: 1; }
    BenchPane #bench-status { width: 1fr; color: $text-muted; }
    BenchPane #bench-spark { width: 24; }
    """

    BINDINGS = [
        Binding("ctrl+r", "start", "Run"),
        Binding("ctrl+s", "stop", "Stop"),
        Binding("a", "answers", "Answers"),
        Binding("o", "past_runs", "Past runs"),
        Binding("e", "export", "Copy report"),
    ]

    TAB = "bench"
    STATUS = "#bench-status"

    def __init__(self, prompt_files: list[tuple[str, str]], results_root: Path, *, classes: str | None = None) -> None:
        """`prompt_files`: (name, path) of the prompt sets to offer; `results_root`: where the runs are saved."""
        super().__init__(classes=classes)
        self._prompt_files = prompt_files
        self._results_root = results_root
        self.running = False
        self.results: BenchResults | None = None  # the run on screen (live, or a saved one)
        self.results_path: Path | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="bench-setup"):
            yield SelectionList[str](id="bench-models")
            with Vertical(id="bench-options"):
                with Horizontal():
                    yield Label("prompts")
                    yield Select[str](self._prompt_files, id="bench-prompts", compact=True, allow_blank=False)
                with Horizontal():
                    yield Label("rounds")
                    yield Input("3", id="bench-rounds", compact=True)
                with Horizontal():
                    yield Label("warmup")
                    yield Input("1", id="bench-warmup", compact=True)
                with Horizontal():
                    yield Label("max tokens")
                    yield Input("", placeholder="per prompt", id="bench-max-tokens", compact=True)
                with Horizontal(id="bench-buttons"):
                    yield Button("Run", id="bench-run", variant="primary", compact=True)
                    yield Button("Stop", id="bench-stop", variant="error", compact=True, disabled=True)
        yield DataTable(id="bench-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="bench-status-row"):
            yield Static("Pick models (space), then Run (ctrl+r).", id="bench-status", markup=False)
            yield Sparkline([], id="bench-spark")

    def focus_target(self) -> Widget | None:
        return self.query_one("#bench-models", SelectionList)  # space / ctrl+r work at once

    def on_mount(self) -> None:
        table = self.query_one("#bench-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.query_one("#bench-models", SelectionList).border_title = "models"

    # -- model list ----------------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        models = self.query_one("#bench-models", SelectionList)
        chosen = set(models.selected)
        ids = [m.id for m in message.snapshot.chat_models()]
        if ids == [str(models.get_option_at_index(i).value) for i in range(models.option_count)]:
            return
        models.clear_options()
        models.add_options([(literal(i), i, i in chosen) for i in ids])

    # -- running -------------------------------------------------------------------------------------------

    @on(Button.Pressed, "#bench-run")
    def action_start(self) -> None:
        if self.running:
            return
        models = tuple(self.query_one("#bench-models", SelectionList).selected)
        if not models:
            self.set_status("pick at least one model (space toggles)")
            return
        self.post_message(
            BenchStartRequested(
                models,
                str(self.query_one("#bench-prompts", Select).value),
                self.query_one("#bench-rounds", Input).value,
                self.query_one("#bench-warmup", Input).value,
                self.query_one("#bench-max-tokens", Input).value,  # blank: each prompt's own
            )
        )

    @on(Button.Pressed, "#bench-stop")
    def action_stop(self) -> None:
        if self.running:
            self.post_message(BenchStopRequested())
            self.set_status("stopping: in-flight requests are being cancelled…")

    def on_bench_status(self, message: BenchStatus) -> None:
        self.set_status(message.text)

    def on_bench_progress(self, message: BenchProgress) -> None:
        if not self.running:  # the first snapshot of a new run
            self.running = True
            self.query_one("#bench-table", DataTable).clear()
            self._set_buttons()
            settings = message.results.settings
            models, prompts = len(settings.models), len(message.results.prompts)
            self.set_status(f"running {models} model(s) × {prompts} prompts × {settings.rounds} rounds…")
        self.results = message.results
        self._render_results()

    def on_bench_done(self, message: BenchDone) -> None:
        self.running = False
        self._set_buttons()
        self.results, self.results_path = message.results, message.path
        self._render_results()
        if message.write_error:
            self.set_status(message.write_error)
        else:
            state = "partial results" if message.results.partial else "results"
            self.set_status(f"{state} written to {message.path} · a: answers · e: copy report")

    def on_bench_shown(self, message: BenchShown) -> None:
        if self.running:
            return  # a live run keeps the table; the saved run stays available in the past runs
        self.results, self.results_path = message.results, message.path
        self.query_one("#bench-table", DataTable).clear()
        self._render_results()
        self.set_status(f"showing {message.path} · a: answers · e: copy report")

    def _set_buttons(self) -> None:
        self.query_one("#bench-run", Button).disabled = self.running
        self.query_one("#bench-stop", Button).disabled = not self.running

    # -- rendering -----------------------------------------------------------------------------------------

    def _render_results(self) -> None:
        results = self.results
        if results is None:
            return
        table = self.query_one("#bench-table", DataTable)
        first_level = (results.settings.concurrency or [1])[0]
        planned = results.settings.rounds * len(results.prompts)
        counts: dict[str, int] = {}
        for request in results.requests:
            counts[request.model] = counts.get(request.model, 0) + 1
        statuses = {m.model: m.status for m in results.models}
        seen = set()
        for s in results.summaries:
            if s.concurrency != first_level or s.mode != "stream":
                continue
            model = s.model
            seen.add(model)
            row = [
                Text(escape_controls(model)),  # rich Text: measured for the column width, never markup-parsed
                Text(statuses.get(model, s.status)),
                f"{counts.get(model, 0)}/{planned}",
                metrics.TTFT.fmt(s.ttft_ms.p50),
                metrics.TTFT.fmt(s.ttft_ms.p95),
                metrics.DECODE.fmt(s.decode_tps.mean),
                metrics.E2E.fmt(s.e2e_ms.p95),
                metrics.RSS_PEAK.fmt(s.rss_peak_mb),
                metrics.LOAD_TIME.fmt(s.load_s),
            ]
            if model in table.rows:
                for column, value in zip(COLUMNS, row, strict=True):
                    table.update_cell(model, column, value)
            else:
                table.add_row(*row, key=model)
        for key in [k for k in table.rows if k.value not in seen]:
            table.remove_row(key)
        rates = [r.decode_tps for r in results.requests if r.decode_tps]
        self.query_one("#bench-spark", Sparkline).data = rates[-60:]
        errors = [m for m in results.models if m.error]
        if errors:
            self.set_status(f"{errors[-1].model}: {safe_line(errors[-1].error or '', 200)}")

    # -- after a run ---------------------------------------------------------------------------------------

    def action_answers(self) -> None:
        if self.results is None or not self.results.requests:
            self.set_status("no answers yet: run a benchmark or open a past run (o)")
            return
        self.app.push_screen(AnswersScreen(self.results, self.results_path))

    def action_past_runs(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.post_message(OpenRunRequested(path))

        self.app.push_screen(PastRunsScreen(self._results_root), chosen)

    def action_export(self) -> None:
        if self.results is None:
            self.set_status("nothing to export yet")
            return
        self.app.copy_to_clipboard(markdown_report(self.results))
        where = f" (also in {self.results_path / REPORT_MD})" if self.results_path else ""
        self.notify(f"Copied the Markdown report{where}.", markup=False, timeout=4)

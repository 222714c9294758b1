"""Benchmark pane: pick models, a prompt set and rounds; run the engine's benchmark live; browse past runs.

The pane only drives `engine.bench.BenchRunner` and renders its snapshots (summaries are computed by the engine),
so the numbers are the same as `foundry-tui bench` prints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Select, SelectionList, Sparkline, Static

from foundry_tui import paths
from foundry_tui.engine.bench import BenchConfig, BenchEvent, BenchFinished, BenchRunner, RequestFinished
from foundry_tui.engine.bench import ModelLoaded as BenchModelLoaded
from foundry_tui.engine.lifecycle import LoadReport
from foundry_tui.engine.prompts import load_prompt_set
from foundry_tui.engine.report import REPORT_MD, fmt, load_results, markdown_report, write_results
from foundry_tui.errors import FoundryTuiError
from foundry_tui.text import escape_controls, safe_line
from foundry_tui.tui.messages import ModelLoaded, ModelsUpdated, StreamStats
from foundry_tui.tui.screens.bench_answers import AnswersScreen
from foundry_tui.tui.screens.past_runs import PastRunsScreen
from foundry_tui.tui.widgets.literal import literal

if TYPE_CHECKING:
    from foundry_tui.tui.app import FoundryTuiApp

COLUMNS = ("model", "status", "done", "TTFT p50", "TTFT p95", "tok/s", "e2e p95", "RSS peak", "load")
REFRESH_S = 0.5


def results_root(app: FoundryTuiApp) -> Path:
    return app.settings.data_dir / "bench"


class BenchPane(Widget):
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

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.runner: BenchRunner | None = None
        self.results: dict[str, Any] | None = None  # the run on screen (live snapshot or a loaded one)
        self.results_path: Path | None = None
        self._rates: list[float] = []

    @property
    def foundry_app(self) -> FoundryTuiApp:
        return cast("FoundryTuiApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="bench-setup"):
            yield SelectionList[str](id="bench-models")
            with Vertical(id="bench-options"):
                with Horizontal():
                    yield Label("prompts")
                    yield Select[str](self._prompt_files(), id="bench-prompts", compact=True, allow_blank=False)
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

    def on_show(self) -> None:
        # Arriving on the tab puts the keyboard in the model list, so space / ctrl+r work at once.
        self.query_one("#bench-models", SelectionList).focus()

    def on_mount(self) -> None:
        table = self.query_one("#bench-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.query_one("#bench-models", SelectionList).border_title = "models"

    @staticmethod
    def _prompt_files() -> list[tuple[str, str]]:
        files = sorted(paths.prompts_dir().glob("*.json"))
        return [(f.stem, str(f)) for f in files] or [("default", str(paths.prompts_dir() / "default.json"))]

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

    def _config(self) -> BenchConfig | str:
        models = tuple(self.query_one("#bench-models", SelectionList).selected)
        if not models:
            return "pick at least one model (space toggles)"
        try:
            rounds = int(self.query_one("#bench-rounds", Input).value)
            warmup = int(self.query_one("#bench-warmup", Input).value)
        except ValueError:
            return "rounds and warmup must be whole numbers"
        max_text = self.query_one("#bench-max-tokens", Input).value.strip()
        try:
            max_tokens = int(max_text) if max_text else self.foundry_app.settings.max_tokens
        except ValueError:
            return "max tokens must be a whole number"
        prompt_file = Path(str(self.query_one("#bench-prompts", Select).value))
        try:
            prompts = tuple(load_prompt_set(prompt_file))
            config = BenchConfig(
                models=models,
                prompts=prompts,
                rounds=rounds,
                warmup=warmup,
                max_tokens=max_tokens,
                max_tokens_override=bool(max_text),
                temperature=self.foundry_app.settings.temperature,
                stall_timeout_s=self.foundry_app.settings.stall_timeout_s,
                prompt_file=str(prompt_file),
            )
            config.validate()
        except FoundryTuiError as exc:
            return str(exc)
        return config

    @on(Button.Pressed, "#bench-run")
    def action_start(self) -> None:
        if self.runner is not None and not self.runner.finished:
            return
        backend = self.foundry_app.backend
        if backend is None:
            self._status("the runtime is not ready yet")
            return
        config = self._config()
        if isinstance(config, str):
            self._status(config)
            return
        self.results_path = results_root(self.foundry_app) / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self._rates = []
        self.runner = BenchRunner(backend, config, on_event=self._on_event, sampler=self.foundry_app.sampler)
        self.runner.start()
        self.query_one("#bench-run", Button).disabled = True
        self.query_one("#bench-stop", Button).disabled = False
        self._status(f"running {len(config.models)} model(s) × {len(config.prompts)} prompts × {config.rounds} rounds…")
        self.set_interval(REFRESH_S, self._refresh_live, name="bench-refresh")

    @on(Button.Pressed, "#bench-stop")
    def action_stop(self) -> None:
        if self.runner is not None and not self.runner.finished:
            self.runner.stop()
            self._status("stopping: in-flight requests are being cancelled…")

    def _on_event(self, event: BenchEvent) -> None:
        """Called on the runner's thread: hand what the strip needs to the UI thread, nothing else."""
        if isinstance(event, BenchModelLoaded) and event.load_s is not None:
            report = LoadReport(event.model, event.load_s, event.rss_before_mb, event.rss_after_mb, 0.0, 0.0)
            self.app.post_message(ModelLoaded(report))
        elif isinstance(event, RequestFinished) and not event.warmup:
            rate = event.request.get("decode_tps")
            self.app.post_message(StreamStats(float(rate or 0.0), event.request.get("ttft_ms"), streaming=True))
        elif isinstance(event, BenchFinished):
            self.app.call_from_thread(self._finished, dict(event.results))

    def _refresh_live(self) -> None:
        if self.runner is not None and not self.runner.finished:
            self.results = self.runner.snapshot()
            self._render_results()

    def _finished(self, results: dict[str, Any]) -> None:
        self.results = results
        for timer in self._timers_named("bench-refresh"):
            timer.stop()
        self._render_results()
        self.query_one("#bench-run", Button).disabled = False
        self.query_one("#bench-stop", Button).disabled = True
        self._write(results)
        self.foundry_app.request_refresh()

    def _timers_named(self, name: str) -> list[Any]:
        return [t for t in self._timers if getattr(t, "name", None) == name]

    @work(thread=True, exit_on_error=False)
    def _write(self, results: dict[str, Any]) -> None:
        path = self.results_path
        if path is None:
            return
        try:
            path.mkdir(parents=True, exist_ok=True)
            write_results(path, results)
        except OSError as exc:
            self.app.call_from_thread(self._status, f"could not write results to {path}: {exc.strerror or exc}")
            return
        state = "partial results" if results.get("partial") else "results"
        self.app.call_from_thread(self._status, f"{state} written to {path} · a: answers · e: copy report")

    # -- rendering -----------------------------------------------------------------------------------------

    def _render_results(self) -> None:
        results = self.results
        if results is None:
            return
        table = self.query_one("#bench-table", DataTable)
        first_level = (results.get("settings", {}).get("concurrency") or [1])[0]
        planned = results.get("settings", {}).get("rounds", 1) * len(results.get("prompts", []))
        counts: dict[str, int] = {}
        for request in results.get("requests", []):
            counts[request["model"]] = counts.get(request["model"], 0) + 1
        statuses = {m["model"]: m["status"] for m in results.get("models", [])}
        seen = set()
        for s in results.get("summaries", []):
            if s["concurrency"] != first_level or s["mode"] != "stream":
                continue
            model = s["model"]
            seen.add(model)
            row = [
                Text(escape_controls(model)),  # rich Text: measured for the column width, never markup-parsed
                Text(statuses.get(model, s["status"])),
                f"{counts.get(model, 0)}/{planned}",
                fmt(s["ttft_ms"]["p50"], ".0f", "ms"),
                fmt(s["ttft_ms"]["p95"], ".0f", "ms"),
                fmt(s["decode_tps"]["mean"], ".1f"),
                fmt(s["e2e_ms"]["p95"], ".0f", "ms"),
                fmt(s["rss_peak_mb"], ".0f", "MB"),
                fmt(s["load_s"], ".2f", "s"),
            ]
            if model in table.rows:
                for column, value in zip(COLUMNS, row, strict=True):
                    table.update_cell(model, column, value)
            else:
                table.add_row(*row, key=model)
        for key in [k for k in table.rows if k.value not in seen]:
            table.remove_row(key)
        rates = [r["decode_tps"] for r in results.get("requests", []) if r.get("decode_tps")]
        self.query_one("#bench-spark", Sparkline).data = rates[-60:]
        errors = [m for m in results.get("models", []) if m.get("error")]
        if errors:
            self._status(f"{errors[-1]['model']}: {safe_line(errors[-1]['error'], 200)}")

    def _status(self, text: str) -> None:
        self.query_one("#bench-status", Static).update(literal(text), layout=False)

    # -- after a run ---------------------------------------------------------------------------------------

    def action_answers(self) -> None:
        if self.results is None or not self.results.get("requests"):
            self._status("no answers yet: run a benchmark or open a past run (o)")
            return
        self.app.push_screen(AnswersScreen(self.results, self.results_path, on_change=self._annotated))

    def _annotated(self, results: dict[str, Any]) -> None:
        self.results = results
        self._render_results()

    def action_past_runs(self) -> None:
        self.app.push_screen(PastRunsScreen(results_root(self.foundry_app)), self._open_run)

    def _open_run(self, path: Path | None) -> None:
        if path is None:
            return
        try:
            self.results = load_results(path)
        except FoundryTuiError as exc:
            self._status(str(exc))
            return
        self.results_path = path
        self.query_one("#bench-table", DataTable).clear()
        self._render_results()
        self._status(f"showing {path} · a: answers · e: copy report")

    def action_export(self) -> None:
        if self.results is None:
            self._status("nothing to export yet")
            return
        self.app.copy_to_clipboard(markdown_report(self.results))
        where = f" (also in {self.results_path / REPORT_MD})" if self.results_path else ""
        self.notify(f"Copied the Markdown report{where}.", markup=False, timeout=4)

"""Benchmark pane: pick models, a prompt set and rounds; run the engine's benchmark live; browse past runs.

A view: Run posts `BenchStartRequested` with the form as typed; the app builds the config with the engine's
`build_config`, runs `BenchRunner` through the session (which writes the files) and posts the results here as
they grow (`BenchProgress`, `BenchDone`, `BenchShown`). The numbers are the ones `foundry-tui bench` prints.

At 80×24 every figure stays on screen: the results table (widgets.bench_table) puts a model's figures on a
second line under its name when one line cannot hold both, the detail line under it says the highlighted model's
full name and how its memory was counted, and the results path has a line of its own (`~` for the home directory).
The model list marks its choice with ✓ (visible without colour); the loaded chat models start selected (the
first chat model when none is loaded), so ctrl+r runs at once.

`m` opens the further options (prompt-length sweep, usable context, cold starts, SLO: screens.bench_options); the
line over the buttons says which are on, and they travel in `BenchStartRequested.options`. `p` swaps the table for
the second view (widgets.sweep_plot): the sweep's plot and values, the usable context and cold starts per model,
the warnings; the form makes way for it, so the plot has the pane's height even at 80×24.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Input, Label, Select, SelectionList, Sparkline, Static

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench import BenchResults, Summary
from foundry_tui.engine.bench.past_runs import run_roots, short_path
from foundry_tui.engine.bench.phase_tables import cold_phrase
from foundry_tui.engine.bench.report import REPORT_MD, markdown_report
from foundry_tui.engine.bench.results import ColdSummary
from foundry_tui.engine.bench.tables import estimated, goodput_text, memory_text
from foundry_tui.engine.bench.throughput import planned_per_model
from foundry_tui.engine.models import ModelsSnapshot
from foundry_tui.text import escape_controls, safe_line
from foundry_tui.tui.messages import (
    BenchDone,
    BenchOptions,
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
from foundry_tui.tui.screens.bench_options import BenchOptionsScreen, options_summary, options_text
from foundry_tui.tui.screens.past_runs import PastRunsScreen
from foundry_tui.tui.widgets.bench_models import BenchModelList
from foundry_tui.tui.widgets.bench_table import GOODPUT, PREFILL, BenchRow, BenchTable, columns_for, fit
from foundry_tui.tui.widgets.literal import literal
from foundry_tui.tui.widgets.sweep_plot import PhaseNotes, PhasesView

# A model's status in words (results.json keeps the engine's: ok, error, …).
STATUS_WORDS = {"ok": "done", "error": "failed", "cancelled": "cancelled", "skipped": "skipped", "pending": "waiting",
                "partial": "partial"}  # fmt: skip
HINT = "✓ = runs ({chosen} preselected) · space toggles · ctrl+r runs · m more options"
NO_OPTIONS = "m: sweep, context, cold, SLO"  # the line over the buttons while no further option is on
TABLE, PHASES = "bench-table", "bench-phases"  # the pane's two views


def default_choice(snapshot: ModelsSnapshot) -> tuple[list[str], str]:
    """What starts selected, and how the hint says it: the loaded chat models, else the first chat model."""
    chat = snapshot.chat_models()
    loaded = [m.id for m in chat if m.loaded]
    if loaded:
        return loaded, "the loaded model" if len(loaded) == 1 else "the loaded models"
    return [chat[0].id] if chat else [], "the first model"


def status_word(status: str, done: int, planned: int) -> str:
    """'running 3/12', 'done', 'partial 9/16': counts whenever not every request went well."""
    if status in ("running", "partial", "cancelled"):
        return f"{STATUS_WORDS.get(status, status)} {done}/{planned}"
    return STATUS_WORDS.get(status, status)


def bench_columns(results: BenchResults) -> tuple[str, ...]:
    """The table's columns: prefill ≈ once a request measured it, goodput when the run had an SLO."""
    prefill = any(r.prefill_tps is not None for r in results.level_requests())
    return columns_for(prefill, bool(results.settings.slo))


def bench_rows(results: BenchResults) -> list[BenchRow]:
    """One row per model (its first concurrency level, streamed), one cell per `bench_columns(results)`, every
    figure through the metric registry."""
    first_level = (results.settings.concurrency or [1])[0]
    settings = results.settings
    columns = bench_columns(results)
    prompts, waves = len(results.prompts), settings.min_waves or 1
    # Every level and mode of a model: a failure at a later level makes the model partial, not "done".
    planned = planned_per_model(
        prompts, settings.rounds, settings.concurrency or [1], len(settings.modes or [1]), waves
    )
    counts: dict[str, int] = {}
    for request in results.level_requests():  # the sweep's, context's and cold starts' requests are not planned here
        if request.ok:
            counts[request.model] = counts.get(request.model, 0) + 1
    models = {m.model: m for m in results.models}
    colds = {c.model: c for c in results.cold_starts}
    rows = []
    for s in results.summaries:
        if s.concurrency != first_level or s.mode != "stream":
            continue
        model = models.get(s.model)
        status = model.status if model is not None else s.status
        done = counts.get(s.model, 0)
        cells = {
            "TTFT p50": metrics.TTFT.fmt(s.ttft_ms.p50),
            "TTFT p95": metrics.TTFT.fmt(s.ttft_ms.p95),
            PREFILL: metrics.PREFILL.fmt(s.prefill_tps.p50),
            "decode": estimated(metrics.DECODE.fmt(s.decode_tps.mean), s.tokens_estimated),
            "e2e p95": metrics.E2E.fmt(s.e2e_ms.p95),
            GOODPUT: metrics.GOODPUT.fmt(None if s.goodput_share is None else s.goodput_share * 100),
            "memory": memory_text(s),
            "load": metrics.LOAD_TIME.fmt(s.load_s),
            "status": status_word(status, done, planned),
        }
        error = model.error if model is not None else s.error
        detail = _detail(s, status, error, done, planned, colds.get(s.model))
        rows.append(BenchRow(s.model, escape_controls(s.model), tuple(cells[c] for c in columns), detail))
    return rows


def _detail(s: Summary, status: str, error: str | None, done: int, planned: int, cold: ColdSummary | None) -> str:
    """The highlighted row in full: its whole name, requests, goodput, cold start, how its memory was counted, its
    error."""
    memory = s.model_memory_note or ("not measured yet" if status in ("pending", "running") else "not recorded")
    parts = [s.model, f"{done}/{planned} requests ok"]
    if s.goodput_share is not None:
        parts.append(f"goodput {goodput_text(s)}")
    if cold is not None and cold.n:
        parts.append(cold_phrase(cold))
    elif s.ttft_cold_ms is not None:
        parts.append(f"cold TTFT {metrics.TTFT.fmt(s.ttft_cold_ms)}")
    parts.append(f"memory: {memory}")
    if s.tokens_estimated:
        parts.append("~ tokens estimated: the server sent no usage (the CLI's bench --tokenizer counts them)")
    if error:
        parts.append(safe_line(error, 200))
    return " · ".join(parts)


def run_extras(results: BenchResults) -> str:
    """What the second view (p) holds for this run, in a few words ('' when nothing)."""
    parts = []
    if results.sweep:
        parts.append("sweep plots")
    if results.context:
        parts.append("usable context")
    if results.cold_starts:
        parts.append("cold starts")
    if results.warnings:
        parts.append(units.count(len(results.warnings), "warning"))
    return f"p: {', '.join(parts)}" if parts else ""


class BenchPane(Pane):
    DEFAULT_CSS = """
    BenchPane { layout: vertical; height: 1fr; }
    BenchPane #bench-setup { height: 7; }
    BenchPane #bench-models { width: 1fr; height: 7; border: round $panel-lighten-2; }
    BenchPane #bench-options { width: 34; height: 7; padding: 0 1; }
    BenchPane #bench-options Horizontal { height: 1; }
    BenchPane #bench-options Label { width: 11; color: $text-muted; }
    BenchPane #bench-options Input { width: 1fr; }
    BenchPane #bench-options Select { width: 1fr; }
    BenchPane #bench-extra { height: 1; color: $text-muted; }
    BenchPane #bench-buttons { height: 1; }
    BenchPane #bench-buttons Button { min-width: 10; height: 1; border: none; margin: 0 1 0 0; }
    BenchPane #bench-buttons #bench-more { margin: 0; }
    BenchPane #bench-views { height: 1fr; }
    BenchPane #bench-table { height: 1fr; }
    BenchPane #bench-status-row { height: 2; }
    BenchPane #bench-status { width: 1fr; height: 2; color: $text-muted; }
    BenchPane #bench-spark { width: 16; height: 1; margin: 0 0 0 1; }
    """

    BINDINGS = [
        Binding("ctrl+r", "start", "Run"),
        Binding("ctrl+s", "stop", "Stop"),
        Binding("m", "options", "Options"),
        Binding("p", "toggle_view", "Plots"),
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
        self._defaulted = False  # the default selection was applied (once: the user's choice is kept after)
        self.running = False
        self.results: BenchResults | None = None  # the run on screen (live, or a saved one)
        self.results_path: Path | None = None
        self.options = BenchOptions()  # the options dialog's values, for the next run

    def compose(self) -> ComposeResult:
        with Horizontal(id="bench-setup"):
            yield BenchModelList(id="bench-models")
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
                yield Static(NO_OPTIONS, id="bench-extra", markup=False)
                with Horizontal(id="bench-buttons"):
                    yield Button("Run", id="bench-run", variant="primary", compact=True)
                    yield Button("Stop", id="bench-stop", variant="error", compact=True, disabled=True)
                    yield Button("Options", id="bench-more", compact=True)
        with ContentSwitcher(initial=TABLE, id="bench-views"):
            yield BenchTable(id=TABLE)
            yield PhasesView(id=PHASES)
        with Horizontal(id="bench-status-row"):
            yield Static("✓ = runs · space toggles · ctrl+r runs", id="bench-status", markup=False)
            yield Sparkline([], id="bench-spark")

    def focus_target(self) -> Widget | None:
        if self.view == PHASES:  # the form is hidden: the lines under the plot (←/→ change the figure)
            return self.query_one(PhaseNotes)
        return self.query_one("#bench-models", SelectionList)  # space / ctrl+r work at once

    @property
    def view(self) -> str:
        return self.query_one("#bench-views", ContentSwitcher).current or TABLE

    def on_mount(self) -> None:
        self.query_one("#bench-models", SelectionList).border_title = "models (✓ runs)"

    # -- model list ----------------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        models = self.query_one("#bench-models", SelectionList)
        ids = [m.id for m in message.snapshot.chat_models()]
        if ids == [str(models.get_option_at_index(i).value) for i in range(models.option_count)]:
            return
        chosen = set(models.selected)
        how = ""
        if not self._defaulted and ids:
            self._defaulted = True
            preselected, how = default_choice(message.snapshot)
            chosen = set(preselected)
        highlighted = models.highlighted
        models.clear_options()
        models.add_options([(literal(i), i, i in chosen) for i in ids])
        if ids:  # space toggles the highlighted model: there always is one
            models.highlighted = min(highlighted or 0, len(ids) - 1)
        if how and not self.running and self.results is None:
            self.set_status(HINT.format(chosen=how))

    # -- running -------------------------------------------------------------------------------------------

    @on(Button.Pressed, "#bench-run")
    def action_start(self) -> None:
        if self.running:
            return
        models = tuple(self.query_one("#bench-models", SelectionList).selected)
        if not models:
            self.set_status("pick at least one model: space toggles ✓")
            return
        self.post_message(
            BenchStartRequested(
                models,
                str(self.query_one("#bench-prompts", Select).value),
                self.query_one("#bench-rounds", Input).value,
                self.query_one("#bench-warmup", Input).value,
                self.query_one("#bench-max-tokens", Input).value,  # blank: each prompt's own
                self.options,
            )
        )

    @on(Button.Pressed, "#bench-more")
    def action_options(self) -> None:
        def chosen(options: BenchOptions | None) -> None:
            if options is None:
                return
            self.options = options
            summary = options_summary(options)
            self.query_one("#bench-extra", Static).update(literal(fit(summary, 32) if summary else NO_OPTIONS))
            self.set_status(options_text(options))

        self.app.push_screen(BenchOptionsScreen(self.options), chosen)

    def action_toggle_view(self) -> None:
        """The table and the form, or the second view (sweep plot, context, cold starts, warnings) in their place."""
        phases = self.view == TABLE
        self.query_one("#bench-views", ContentSwitcher).current = PHASES if phases else TABLE
        self.query_one("#bench-setup").display = not phases
        if phases:
            self.query_one(PhasesView).show(self.results)
        target = self.focus_target()
        if target is not None:
            target.focus()

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
            self.results_path = None
            self.query_one(BenchTable).clear()
            self._set_buttons()
            settings = message.results.settings
            models, prompts = len(settings.models), len(message.results.prompts)
            then = [f"sweep {units.count(len(settings.prompt_tokens), 'length')}"] if settings.prompt_tokens else []
            then += ["usable context"] if settings.find_context else []
            then += [units.count(settings.cold, "cold start")] if settings.cold else []
            self.set_status(
                f"running {units.count(models, 'model')} × {units.count(prompts, 'prompt')} × "
                f"{units.count(settings.rounds, 'round')}" + (f", then {', '.join(then)}" if then else "") + "…"
            )
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
            extras = run_extras(message.results)
            self.set_status(f"{state} written to {short_path(message.path)}" + (f" · {extras}" if extras else ""))

    def on_bench_shown(self, message: BenchShown) -> None:
        if self.running:
            return  # a live run keeps the table; the saved run stays available in the past runs
        self.results, self.results_path = message.results, message.path
        self._render_results()
        extras = run_extras(message.results)
        self.set_status(f"showing {short_path(message.path)}" + (f" · {extras}" if extras else ""))

    def _set_buttons(self) -> None:
        self.query_one("#bench-run", Button).disabled = self.running
        self.query_one("#bench-stop", Button).disabled = not self.running

    # -- rendering -----------------------------------------------------------------------------------------

    def _render_results(self) -> None:
        results = self.results
        if results is None:
            return
        self.query_one(BenchTable).show(bench_rows(results), bench_columns(results))
        if self.view == PHASES:  # the second view is drawn while it is shown (and when `p` shows it)
            self.query_one(PhasesView).show(results)
        rates = [r.decode_tps for r in results.requests if r.decode_tps]  # every phase's: the run's pulse
        self.query_one("#bench-spark", Sparkline).data = rates[-60:]
        errors = [m for m in results.models if m.error]
        if errors and self.running:
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

        self.app.push_screen(PastRunsScreen(run_roots(self._results_root)), chosen)

    def action_export(self) -> None:
        if self.results is None:
            self.set_status("nothing to export yet")
            return
        self.app.copy_to_clipboard(markdown_report(self.results))
        where = f" (also in {short_path(self.results_path / REPORT_MD)})" if self.results_path else ""
        self.notify(f"Copied the Markdown report{where}.", markup=False, timeout=4)

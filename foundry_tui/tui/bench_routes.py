"""How the app runs the Benchmark pane's intents: the run itself (the engine's runner through the session, which
writes the files), its progress twice a second, listing past runs and opening one, and saving a manual score.
Reading results files happens on workers, never on the UI thread.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from foundry_tui.engine.bench import (
    BenchEvent,
    BenchFinished,
    BenchResults,
    BenchRunner,
    RequestFinished,
    build_config,
    load_results,
    set_annotation,
)
from foundry_tui.engine.bench import ModelLoaded as BenchModelLoaded
from foundry_tui.engine.bench.events import PhaseStarted
from foundry_tui.engine.bench.past_runs import find_runs
from foundry_tui.engine.bench.phase_tables import phase_line, phase_request_line
from foundry_tui.errors import FoundryTuiError
from foundry_tui.text import safe_line
from foundry_tui.tui import messages as msg
from foundry_tui.tui.panes.bench import BenchPane
from foundry_tui.tui.routes import Deliver, SessionRoutes
from foundry_tui.tui.screens.past_runs import PastRunsListed, PastRunsRequested, PastRunsScreen
from foundry_tui.tui.widgets.memory_strip import MemoryStrip

BENCH_REFRESH_S = 0.5  # the Benchmark table follows a run twice a second
# The options dialog's fields as its labels read, so a bad value's one-line message names the field on screen.
OPTION_LABELS = {
    "prompt_tokens": "prompt lengths",
    "sweep_max_tokens": "sweep max tokens",
    "context_ttft_limit_s": "context TTFT limit (s)",
    "cold": "cold starts",
    "slo": "SLO",
}


@dataclass
class BenchBegan(Message):
    runner: BenchRunner
    out_dir: Path


@dataclass
class BenchEnded(Message):
    results: BenchResults


@dataclass
class BenchRun:
    """The benchmark running now: its runner, where it writes, the timer that shows its progress."""

    runner: BenchRunner
    out_dir: Path
    timer: Timer


class BenchRoutes(SessionRoutes):
    """Mixed into FoundryTuiApp with SessionRoutes: the Benchmark pane's intents."""

    def on_bench_start_requested(self, message: msg.BenchStartRequested) -> None:
        if self._app().bench is None:
            self.start_bench(message)

    @work(thread=True, group="bench", exit_on_error=False)
    def start_bench(self, form: msg.BenchStartRequested) -> None:
        app = self._app()
        settings = app.session.settings
        out_dir = app.session.results_root / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        options = form.options
        try:
            config = build_config(
                models=form.models,
                prompt_file=form.prompt_file,
                rounds=form.rounds,
                warmup=form.warmup,
                max_tokens=form.max_tokens,
                default_max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                stall_timeout_s=settings.stall_timeout_s,
                first_token_timeout_s=settings.first_token_timeout_s,
                prompt_tokens=options.prompt_tokens,
                sweep_max_tokens=options.sweep_max_tokens,
                find_context=options.find_context,
                context_ttft_limit_s=options.context_ttft_limit_s,
                cold=options.cold,
                slo=options.slo,
                labels=OPTION_LABELS,
            )
            runner = app.session.bench(config, on_event=self._bench_event, out_dir=out_dir)
        except FoundryTuiError as exc:
            app.post_message(Deliver(BenchPane, msg.BenchStatus(str(exc))))
            return
        app.post_message(BenchBegan(runner, out_dir))

    def on_bench_began(self, message: BenchBegan) -> None:
        app = self._app()
        if app.bench is not None:
            return
        app.bench = BenchRun(message.runner, message.out_dir, app.set_interval(BENCH_REFRESH_S, self._bench_progress))
        message.runner.start()
        self._bench_progress()

    def _bench_progress(self) -> None:
        run = self._app().bench
        if run is not None and not run.runner.finished:
            self.deliver(BenchPane, msg.BenchProgress(run.runner.snapshot()))

    def _bench_event(self, event: BenchEvent) -> None:
        """The runner's callback, on its threads: what the strip shows, and the end."""
        app = self._app()
        if isinstance(event, BenchModelLoaded) and event.report is not None:
            app.post_message(Deliver(MemoryStrip, msg.ModelLoaded(event.report)))
        elif isinstance(event, RequestFinished) and not event.warmup:
            rate = event.request.decode_tps or 0.0
            app.post_message(Deliver(MemoryStrip, msg.StreamStats(rate, event.request.ttft_ms, streaming=True)))
            if not event.request.measured_level:  # the phases after the levels say where they are (the table cannot)
                line = f"{safe_line(event.model, 60)} · {phase_request_line(event.request)}"
                app.post_message(Deliver(BenchPane, msg.BenchStatus(line)))
        elif isinstance(event, PhaseStarted):
            line = f"{safe_line(event.model, 60)} · {phase_line(event.phase, event.planned)}…"
            app.post_message(Deliver(BenchPane, msg.BenchStatus(line)))
        elif isinstance(event, BenchFinished):
            app.post_message(BenchEnded(event.results))

    def on_bench_ended(self, message: BenchEnded) -> None:
        app = self._app()
        run = app.bench
        if run is None:
            return
        run.timer.stop()
        app.bench = None
        self.deliver(BenchPane, msg.BenchDone(message.results, run.out_dir, run.runner.write_error))
        self.refresh_models(False)

    def on_bench_stop_requested(self, message: msg.BenchStopRequested) -> None:
        run = self._app().bench
        if run is not None:
            run.runner.stop()

    def on_past_runs_requested(self, message: PastRunsRequested) -> None:
        self.list_past_runs(message.roots, message.reply_to)

    @work(thread=True, group="bench-files", exit_on_error=False)
    def list_past_runs(self, roots: tuple[Path, ...], dialog: PastRunsScreen) -> None:
        dialog.post_message(PastRunsListed(find_runs(roots)))  # every results.json is parsed: seconds for many

    def on_open_run_requested(self, message: msg.OpenRunRequested) -> None:
        self.open_run(message.path)

    @work(thread=True, group="bench-files", exit_on_error=False)
    def open_run(self, path: Path) -> None:
        app = self._app()
        try:
            results = load_results(path)
        except FoundryTuiError as exc:
            app.post_message(Deliver(BenchPane, msg.BenchStatus(str(exc))))
            return
        app.post_message(Deliver(BenchPane, msg.BenchShown(results, path)))

    def on_score_requested(self, message: msg.ScoreRequested) -> None:
        self.save_score(message, self._app().screen)  # the answers dialog on top gets the new results too

    @work(thread=True, group="bench-files", exit_on_error=False)
    def save_score(self, request: msg.ScoreRequested, dialog: Widget) -> None:
        app = self._app()
        try:
            results = set_annotation(request.path, request.model, request.prompt_index, request.score)
        except FoundryTuiError as exc:
            app.notify(safe_line(str(exc)), severity="error", markup=False)
            return
        dialog.post_message(msg.BenchShown(results, request.path))
        app.post_message(Deliver(BenchPane, msg.BenchShown(results, request.path)))


__all__ = ["BENCH_REFRESH_S", "OPTION_LABELS", "BenchRoutes", "BenchRun"]

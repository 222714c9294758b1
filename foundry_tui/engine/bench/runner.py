"""The benchmark runner: models × concurrency levels × (warmup +) rounds × prompts, one engine for CLI and TUI.

A front end builds a `BenchConfig` (config.build_config), makes a `BenchRunner(backend, config, on_event=...)`,
calls `start()` (a daemon thread) or `run()` (blocking), and may call `stop()` from any thread: in-flight streams
are cancelled and what was measured so far stays in `snapshot()` (typed `BenchResults`). `on_event` receives the
typed events of bench.events on the runner's threads (a TUI posts them to its message queue; it must not block).
With an `out_dir` the runner writes results.json, results.csv and benchmark_report.md there after each model and at the
end (atomically; `partial: true` until the run completed), so a crash later in the run keeps what was measured.

Per model: resolve (`variants`: every cached variant) → load through the `ModelLifecycle` (skipped when already
loaded or the backend cannot load) → per concurrency level and mode: warmup, then measured requests → the phases
(bench.phases: prompt-length sweep, cold starts, context search) → unload if we loaded it. A failed level request
fails the model and the runner moves on. After all models, the judge. Definitions: docs/metrics.md, docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from foundry_tui.backends.base import Backend
from foundry_tui.engine import environment
from foundry_tui.engine.bench.compare import compare_results
from foundry_tui.engine.bench.comparison import Comparison
from foundry_tui.engine.bench.config import BenchConfig
from foundry_tui.engine.bench.events import (
    BenchEvent,
    BenchFinished,
    BenchStarted,
    EventCallback,
    JudgeScored,
    LevelStarted,
    ModelFinished,
    ModelLoaded,
    ModelStarted,
    PhaseStarted,
    RequestFinished,
    ResultsWritten,
)
from foundry_tui.engine.bench.execute import RequestExecutor
from foundry_tui.engine.bench.journal import JournalWriter
from foundry_tui.engine.bench.judge import run_judge
from foundry_tui.engine.bench.model_run import MemoryTimeline, ModelRun, resolve_targets
from foundry_tui.engine.bench.model_run import load as load_model
from foundry_tui.engine.bench.model_run import unload as unload_model
from foundry_tui.engine.bench.phase_summaries import build_phase_summaries, note_first_ttft
from foundry_tui.engine.bench.phases import PhaseContext, Phases
from foundry_tui.engine.bench.report import write_results
from foundry_tui.engine.bench.results import (
    BenchResults,
    JudgeState,
    LevelResult,
    RequestResult,
    RunSession,
)
from foundry_tui.engine.bench.resume import Resume
from foundry_tui.engine.bench.run_backends import RunBackends
from foundry_tui.engine.bench.sending import Clock, Sender
from foundry_tui.engine.bench.summaries import build_summaries, level_status
from foundry_tui.engine.bench.throughput import planned_per_model, planned_requests
from foundry_tui.engine.bench.token_counting import CounterFor, TokenCounting
from foundry_tui.engine.energy import EnergyMeter, EnergyReading, energy_delta
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySampler

# -- the runner ----------------------------------------------------------------------------------------------


class BenchRunner:
    def __init__(
        self,
        backend: Backend,
        config: BenchConfig,
        *,
        on_event: EventCallback | None = None,
        sampler: MemorySampler | None = None,
        lifecycle: ModelLifecycle | None = None,
        energy: EnergyMeter | None = None,
        collect_environment: bool = True,
        out_dir: Path | None = None,
        baseline: BenchResults | None = None,
        baseline_label: str = "baseline",
        token_counter: CounterFor | None = None,
        resume_from: BenchResults | None = None,
        prompt_counter: CounterFor | None = None,
    ) -> None:
        """`lifecycle`: the app's, so the benchmark's loads share its bookkeeping (its sampler is then the
        default `sampler`); without one the runner makes its own. `out_dir`: write the three files and the
        journal there. `baseline`: when the run completes, its results carry a `comparison` against it.
        `token_counter`: model id → what counts answer tokens when the backend sends no usage (None: nothing).
        `resume_from`: an interrupted run of the same config (from its journal): its finished requests are kept
        and only the missing ones run (engine.bench.resume). `prompt_counter`: model id → what counts prompt tokens
        the model's way, to generate the sweep's and the context search's prompts (None: their lengths are
        estimated)."""
        config.validate()
        self.backend = backend
        self.config = config
        self._on_event = on_event
        if sampler is None and lifecycle is not None:
            sampler = lifecycle.sampler
        self._own_sampler = sampler is None
        self.sampler = sampler if sampler is not None else MemorySampler(interval_s=config.sample_interval_s)
        self._lifecycle = lifecycle if lifecycle is not None else ModelLifecycle(backend, self.sampler)
        self._own_energy = energy is None
        self._energy = energy
        self._collect_env = collect_environment
        self.out_dir = out_dir
        self._baseline = baseline
        self._baseline_label = baseline_label
        self._executor = RequestExecutor(backend, request_timeout_s=config.request_timeout_s)
        self._lock = threading.RLock()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._completed = False  # run() went through every model (and the judge) without a stop or a crash
        self._thread: threading.Thread | None = None
        self._models: list[ModelRun] = []
        self._requests: list[RequestResult] = []
        self._judge: JudgeState | None = None
        self._comparison: Comparison | None = None
        self._environment: dict[str, Any] = {}
        self._started_at: str | None = None
        self._finished_at: str | None = None
        self._t0_ns = time.perf_counter_ns()
        self._t0_mono = time.monotonic()
        self._measured_done = 0
        self._planned = 0
        self._backends = RunBackends(backend, self.sampler)
        self._counting = TokenCounting(token_counter)
        self._sender = Sender(config, self._executor, self._counting, cancel=self._cancel, lock=self._lock,
                              read_energy=self._read_energy, on_request=self._on_request)  # fmt: skip
        self._stopped_by: str | None = None
        self._prompt_counting = TokenCounting(prompt_counter)  # asked once per model, closed at the end
        self._phases = Phases(config, self._sender, self.sampler, self._lifecycle, self._cancel,
                              lambda *started: self._emit(PhaseStarted(*started)))  # fmt: skip
        self._resume = Resume(resume_from)
        self._session = self._resume.session_index
        self._sessions = self._resume.sessions()
        self._journal: JournalWriter | None = None
        self.error: BaseException | None = None  # an unexpected exception that ended run() early
        self.write_error: str | None = None  # why the latest write of the files failed (one line); None: it worked

    # -- control -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run on a daemon thread; `join()` waits, `stop()` cancels."""
        if self._thread is not None:
            raise RuntimeError("this runner was already started")
        self._thread = threading.Thread(target=self._run_safely, name="bench-runner", daemon=True)
        self._thread.start()

    def _run_safely(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # kept for the caller; the thread must not die silently
            self.error = exc

    def join(self, timeout: float | None = None) -> bool:
        """True when the run has finished (files written, BenchFinished delivered)."""
        return self._done.wait(timeout)

    def stop(self, reason: str = "stop") -> None:
        """Cancel from any thread: no new requests start, in-flight streams are cancelled. `reason` is recorded
        as the results' `stopped_by` (SIGINT, SIGTERM, stop)."""
        with self._lock:
            if self._stopped_by is None:
                self._stopped_by = reason
        self._cancel.set()
        self._executor.cancel_all(reason)

    @property
    def t0_ns(self) -> int:
        """perf_counter_ns() when the run started; requests' `t_start_s` are seconds after it."""
        return self._t0_ns

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    # -- results -------------------------------------------------------------------------------------------

    def snapshot(self) -> BenchResults:
        """Everything measured so far, a copy (`partial` until the run completed)."""
        with self._lock:
            results = BenchResults(
                partial=self._cancel.is_set() or not self._completed,
                started_at=self._resume.started_at or self._started_at,
                finished_at=self._finished_at,
                environment=copy.deepcopy(self._environment),
                settings=self.config.settings(),
                prompts=list(self.config.prompts),
                models=[model.snapshot(self._backends.server_label(model.model)) for model in self._models],
                requests=[request.copy() for request in self._requests],
                judge=replace(self._judge) if self._judge is not None else None,
                sessions=[replace(session) for session in self._sessions],
                stopped_by=self._stopped_by,
                comparison=self._comparison,
            )
        results.summaries = build_summaries(results)
        build_phase_summaries(results)
        return results

    def _open_journal(self, session: RunSession) -> None:
        """Every finished request goes to <out_dir>/journal.jsonl as it ends (engine.bench.journal), so a crash
        loses only the requests in flight and `bench --resume` can finish the run."""
        if self.out_dir is None:
            return
        # A new run starts its own journal; a resumed one continues the interrupted run's.
        self._journal = JournalWriter.open(self.out_dir, fresh=not self._resume.active)
        if self._journal.new:
            self._journal.run(self.snapshot())
            # A resume from results.json alone starts the journal: it gets what the old run kept, so that a crash
            # of this session still resumes from the journal.
            for record in self._resume.requests():
                self._journal.request(record)
            for old in self._resume.prior.models if self._resume.prior is not None else []:
                self._journal.model(old)
        self._journal.session(self._session, session)

    def _write(self, results: BenchResults, *, final: bool) -> None:
        out_dir = self.out_dir
        if out_dir is None:
            return
        error = None
        try:
            write_results(out_dir, results)
        except OSError as exc:
            error = f"cannot write the results to {out_dir}: {exc.strerror or exc}"
        if error is None and self._journal is not None and self._journal.error:
            error = self._journal.error
        self.write_error = error
        self._emit(ResultsWritten(out_dir, results.partial, final, error))

    # -- the run -------------------------------------------------------------------------------------------

    def run(self) -> BenchResults:
        """Run the whole benchmark in the calling thread; returns the final `snapshot()`."""
        self._t0_ns = time.perf_counter_ns()
        self._t0_mono = time.monotonic()
        self._started_at = _now_iso()
        self._sender.clock = Clock(self._t0_ns, self._session, self._resume.t_offset_s)
        session = RunSession(started_at=self._started_at, t_offset_s=self._resume.t_offset_s)
        with self._lock:
            self._sessions.append(session)
        self._open_journal(session)
        try:
            if self._own_sampler:
                self.sampler.start()
            if self._energy is None:
                self._energy = EnergyMeter()
            self._run_all(self._energy)
            self._completed = not self._cancel.is_set()
        finally:
            self._finished_at = session.finished_at = _now_iso()
            session.ended = "completed" if self._completed else (self._stopped_by or "stop")
            if self._journal is not None:
                self._journal.end(self._session, session.ended, session.finished_at)
                self._journal.close()
            self._counting.close()
            self._prompt_counting.close()
            if self._own_sampler:
                self.sampler.stop()
            if self._own_energy and self._energy is not None:
                self._energy.close()
            results = self._finish()
        return results

    def _finish(self) -> BenchResults:
        try:
            if self._completed and self._baseline is not None:
                new_label = str(self.out_dir) if self.out_dir is not None else "new"
                comparison = compare_results(
                    self._baseline, self.snapshot(), baseline_label=self._baseline_label, new_label=new_label
                )
                with self._lock:
                    self._comparison = comparison
            results = self.snapshot()
            self._write(results, final=True)
            self._emit(BenchFinished(results.partial, results))
            return results
        finally:
            self._done.set()  # joiners must wake even when a handler raised

    def _run_all(self, energy: EnergyMeter) -> None:
        self._backends.start(own_sampler=self._own_sampler)
        if self._collect_env:
            env = environment.collect(self.backend)
            env["energy"] = energy.states()
            with self._lock:
                self._environment = env
        models = self._resume.merge_models(resolve_targets(self.backend, self.config))
        for model in models:
            model.result.endpoint = self._backends.endpoint_of(model.model)
            if model.entry is not None and model.result.context_length is None:
                model.result.context_length = model.entry.context_length
        with self._lock:
            self._models = models
            self._requests = self._resume.requests()
            self._measured_done = len(self._requests)
        c = self.config
        per_model = planned_per_model(len(c.prompts), c.rounds, c.concurrency, len(c.modes), c.min_waves)
        per_model += len(c.prompt_tokens) * c.rounds + c.cold  # the context search's probes are counted as they run
        runnable = {m.model for m in models if m.result.status == "pending"}
        kept_of_runnable = sum(1 for r in self._requests if r.model in runnable)  # resumed: counted once
        self._planned = per_model * len(runnable) - kept_of_runnable + self._measured_done
        self._emit(BenchStarted(tuple(m.model for m in models), self._planned))
        for index, model in enumerate(models):
            if self._cancel.is_set():
                if model.result.status == "pending":
                    model.result.status, model.result.error = "skipped", "not run: the benchmark was stopped"
                continue
            self._emit(ModelStarted(model.model, index, len(models)))
            if model.result.status == "pending":
                self._run_model(model)
            snapshot = model.snapshot(self._backends.server_label(model.model))
            if self._journal is not None and self._resume.ran(model):
                self._journal.model(snapshot)
            memory = snapshot.memory
            self._emit(ModelFinished(model.model, model.result.status, model.error, memory.model_memory_mb,
                                     memory.model_memory_note))  # fmt: skip
            self._write(self.snapshot(), final=False)
        if self.config.judge and not self._cancel.is_set():
            self._run_judge(self.config.judge)

    def _emit(self, event: BenchEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    # -- one model -----------------------------------------------------------------------------------------

    def _run_model(self, model: ModelRun) -> None:
        assert model.entry is not None
        model.result.status = "running"
        place = self._backends.place_of(model.model)
        timeline = MemoryTimeline(
            self.sampler,
            self.config.sample_interval_s,
            self._t0_mono - self._resume.t_offset_s,  # a resumed session's samples continue the run's clock
            model.result.memory_timeline,
            server=place.place == "server",
            server_rss=place.server_rss,
        )
        timeline.start()
        phases_done = True
        try:
            if not self._load(model, timeline):
                return
            for concurrency in self.config.concurrency:
                for mode in self.config.modes:
                    if self._cancel.is_set() or model.error is not None:
                        break
                    self._run_level(model, concurrency, mode)
            counter = self._prompt_counting.counter(model.model) if self.config.generates_prompts else None
            done = functools.partial(self._resume.phase_done, model.model)  # what an earlier session measured
            ctx = PhaseContext(model, timeline, counter, self._backends.management(model.model), done)
            phases_done = self._phases.run(ctx)
        finally:
            unload_model(model, self._lifecycle)
            timeline.stop()
            with self._lock:
                model.result.status = self._model_status(model, phases_done)

    def _model_status(self, model: ModelRun, phases_done: bool) -> str:
        """ok: every level ran every request ok; partial: some requests ok, not all; error: none ok; cancelled:
        stopped before it finished, its phases included (the counts are in its summaries; --resume finishes it)."""
        rows = [r for r in self._requests if r.model == model.model and r.measured_level]
        levels = model.result.levels
        complete = len(levels) == len(self.config.concurrency) * len(self.config.modes)
        if self._cancel.is_set() and model.error is None and (not complete or not phases_done or any(
                lv.status == "cancelled" for lv in levels)):  # fmt: skip
            return "cancelled"  # a stop after its last phase (during the unload) does not undo a finished model
        statuses = [
            level_status(
                lv.status, lv.planned, [r for r in rows if (r.concurrency, r.mode) == (lv.concurrency, lv.mode)]
            )
            for lv in levels
        ]
        if model.error is None and complete and all(x == "ok" for x in statuses):
            return "ok"
        return "partial" if any(r.ok for r in rows) else "error"

    def _load(self, model: ModelRun, timeline: MemoryTimeline) -> bool:
        """False when the load failed (the model is failed then)."""
        place = self._backends.place_of(model.model)
        report = load_model(model, self._lifecycle, self.sampler, managed=self._backends.management(model.model),
                            place=place.place, server=place.server())  # fmt: skip
        if model.error is not None:
            return False
        timeline.add(self.sampler.sample_now())  # the model's memory right after its load
        if self._journal is not None:  # its load and memory survive a crash in its first request
            self._journal.model(model.snapshot(self._backends.server_label(model.model)))
        memory = model.result.memory
        before, after = memory.rss_before_load_mb or 0.0, memory.rss_after_load_mb or 0.0
        attributed = model.snapshot(self._backends.server_label(model.model)).memory
        self._emit(
            ModelLoaded(
                model.model,
                report.load_s if report is not None else None,
                before,
                after,
                model.result.load.note if report is None else None,
                report=report,
                model_memory_mb=attributed.model_memory_mb,
                model_memory_note=attributed.model_memory_note,
                in_process=place.place == "in-process",
            )
        )
        return True

    # -- one concurrency level -----------------------------------------------------------------------------

    def _run_level(self, model: ModelRun, concurrency: int, mode: str) -> None:
        prompts = len(self.config.prompts)
        planned = planned_requests(prompts, self.config.rounds, concurrency, self.config.min_waves)
        level = LevelResult(concurrency=concurrency, mode=mode, planned=planned)
        with self._lock:
            model.result.levels.append(level)
        # Job j sends prompt j mod P in round j div P: extra waves repeat the prompt set.
        jobs = [(j % prompts, j // prompts) for j in range(planned)]
        jobs = [(p, r) for p, r in jobs if not self._resume.done(model.model, concurrency, mode, p, r)]
        self._emit(LevelStarted(model.model, concurrency, mode, planned))
        if not jobs:  # every request of this level finished in an earlier session
            level.status = "ok"
            return
        self._counting.counter(model.model)  # a server's tokenize route is probed now, not while streams run
        warm = [(p, r) for r in range(self.config.warmup) for p in range(prompts)]
        if warm:
            self._sender.pool(model, level, warm, warmup=True)
        if level.error is None and not self._cancel.is_set():
            before = self._read_energy()
            self._sender.pool(model, level, jobs, warmup=False)
            level.gpu_energy_j, level.cpu_energy_j = energy_delta(before, self._read_energy())
        if level.error is not None:
            level.status = "error"
        elif self._cancel.is_set():
            level.status = "cancelled"
        else:
            level.status = "ok"
        if self._journal is not None:
            self._journal.level(model.model, level)

    def _read_energy(self) -> EnergyReading | None:
        return self._energy.read() if self._energy is not None else None

    def _on_request(self, model: ModelRun, request: RequestResult, warmup: bool) -> None:
        """A request ended (the sender's threads): kept, journaled as it ends, reported."""
        if warmup:
            with self._lock:  # the prompt-cache check's baseline
                note_first_ttft(model.result, request, len(self.config.prompts))
        else:
            with self._lock:
                self._requests.append(request)
                self._measured_done += 1
                if request.phase == "context":  # its probes are not known ahead
                    self._planned += 1
            if self._journal is not None:
                self._journal.request(request)
        self._emit(RequestFinished(model.model, request.copy(), warmup, self._measured_done, self._planned))

    # -- judge ---------------------------------------------------------------------------------------------

    def _run_judge(self, judge: str) -> None:
        state = JudgeState(model=judge)
        with self._lock:
            self._judge = state

        def on_score(model: str, prompt_index: int, score: int | None, note: str | None) -> None:
            self._emit(JudgeScored(model, prompt_index, score, note))

        run_judge(
            state,
            backend=self.backend,
            lifecycle=self._lifecycle,
            executor=self._executor,
            prompts=self.config.prompts,
            requests=self._requests,
            lock=self._lock,
            cancelled=self._cancel.is_set,
            on_score=on_score,
            can_load=self._backends.management(judge),
            max_tokens=self.config.judge_max_tokens,
            stall_timeout_s=self.config.stall_timeout_s,
            first_token_timeout_s=self.config.first_token_timeout_s,
        )


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = ["BenchRunner", "CounterFor"]

"""The benchmark runner: models × concurrency levels × (warmup +) rounds × prompts, one engine for CLI and TUI.

A front end builds a `BenchConfig` (config.build_config), makes a `BenchRunner(backend, config, on_event=...)`,
calls `start()` (a daemon thread) or `run()` (blocking), and may call `stop()` from any thread: in-flight streams
are cancelled and what was measured so far stays in `snapshot()` (typed `BenchResults`). `on_event` receives the
typed events of bench.events on the runner's threads (a TUI posts them to its message queue; it must not block).
With an `out_dir` the runner writes results.json, results.csv and benchmark_report.md there after each model and at the
end (atomically; `partial: true` until the run completed), so a crash later in the run keeps what was measured.

Per model: resolve (alias or exact id; `variants` expands an alias to every cached variant) → load through the
`ModelLifecycle` (the app's, when given; skipped when already loaded or when the backend cannot manage models) →
for each concurrency level and mode: warmup requests (not recorded), then the measured requests → unload if we
loaded it. The first failed request (server error, runtime error, stall, timeout) marks the model failed and the
runner moves on to the next model. After all models, the judge (bench.judge). Nothing here imports Textual.
Definitions: docs/metrics.md; file shapes: docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from foundry_tui.backends.base import Backend, BackendInfo, ChatOptions
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
    RequestFinished,
    ResultsWritten,
)
from foundry_tui.engine.bench.execute import RequestExecutor, chat_messages, request_result
from foundry_tui.engine.bench.judge import run_judge
from foundry_tui.engine.bench.memory import Placement, placement
from foundry_tui.engine.bench.model_run import MemoryTimeline, ModelRun, resolve_targets
from foundry_tui.engine.bench.model_run import load as load_model
from foundry_tui.engine.bench.model_run import unload as unload_model
from foundry_tui.engine.bench.report import write_results
from foundry_tui.engine.bench.results import (
    BenchResults,
    JudgeState,
    LevelResult,
    RequestResult,
)
from foundry_tui.engine.bench.summaries import build_summaries
from foundry_tui.engine.energy import EnergyMeter, EnergyReading, energy_delta
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.errors import FoundryTuiError
from foundry_tui.text import safe_line

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
    ) -> None:
        """`lifecycle`: the app's, so the benchmark's loads share its bookkeeping (its sampler is then the
        default `sampler`); without one the runner makes its own. `out_dir`: write the three files there.
        `baseline`: when the run completes, its results carry a `comparison` against it."""
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
        self._info: BackendInfo | None = None
        self._place: Placement = "in-process"  # where the models live (engine.bench.memory), set when run() starts
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

    def stop(self) -> None:
        """Cancel from any thread: no new requests start, in-flight streams are cancelled."""
        self._cancel.set()
        self._executor.cancel_all()

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
                started_at=self._started_at,
                finished_at=self._finished_at,
                environment=copy.deepcopy(self._environment),
                settings=self.config.settings(),
                prompts=list(self.config.prompts),
                models=[model.snapshot(self.sampler.server.label) for model in self._models],
                requests=[request.copy() for request in self._requests],
                judge=replace(self._judge) if self._judge is not None else None,
                comparison=self._comparison,
            )
        results.summaries = build_summaries(results)
        return results

    def _write(self, results: BenchResults, *, final: bool) -> None:
        out_dir = self.out_dir
        if out_dir is None:
            return
        error = None
        try:
            write_results(out_dir, results)
        except OSError as exc:
            error = f"cannot write the results to {out_dir}: {exc.strerror or exc}"
        self.write_error = error
        self._emit(ResultsWritten(out_dir, results.partial, final, error))

    # -- the run -------------------------------------------------------------------------------------------

    def run(self) -> BenchResults:
        """Run the whole benchmark in the calling thread; returns the final `snapshot()`."""
        self._t0_ns = time.perf_counter_ns()
        self._t0_mono = time.monotonic()
        self._started_at = _now_iso()
        try:
            if self._own_sampler:
                self.sampler.start()
            if self._energy is None:
                self._energy = EnergyMeter()
            self._run_all(self._energy)
            self._completed = not self._cancel.is_set()
        finally:
            self._finished_at = _now_iso()
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
        info = self._backend_info()
        if self._own_sampler and info is not None and info.kind == "endpoint":
            self.sampler.watch_server(endpoint=info.endpoint)  # its server, when it runs on this machine
        if info is not None:
            self._place = placement(info, self.sampler.server)
        if self._collect_env:
            env = environment.collect(self.backend)
            env["energy"] = energy.states()
            with self._lock:
                self._environment = env
        models = resolve_targets(self.backend, self.config)
        with self._lock:
            self._models = models
        per_model = len(self.config.concurrency) * len(self.config.modes) * self.config.rounds
        runnable = sum(1 for m in models if m.result.status == "pending")
        self._planned = per_model * len(self.config.prompts) * runnable
        self._emit(BenchStarted(tuple(m.model for m in models), self._planned))
        for index, model in enumerate(models):
            if self._cancel.is_set():
                if model.result.status == "pending":
                    model.result.status, model.result.error = "skipped", "not run: the benchmark was stopped"
                continue
            self._emit(ModelStarted(model.model, index, len(models)))
            if model.result.status == "pending":
                self._run_model(model)
            memory = model.snapshot(self.sampler.server.label).memory
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
        timeline = MemoryTimeline(
            self.sampler,
            self.config.sample_interval_s,
            self._t0_mono,
            model.result.memory_timeline,
            server=self._place == "server",
        )
        timeline.start()
        try:
            if not self._load(model, timeline):
                return
            for concurrency in self.config.concurrency:
                for mode in self.config.modes:
                    if self._cancel.is_set() or model.error is not None:
                        break
                    self._run_level(model, concurrency, mode)
        finally:
            unload_model(model, self._lifecycle)
            timeline.stop()
            if self._cancel.is_set() and model.error is None:
                model.result.status = "cancelled"
            else:
                model.result.status = "error" if model.error is not None else "ok"

    def _load(self, model: ModelRun, timeline: MemoryTimeline) -> bool:
        """False when the load failed (the model is failed then)."""
        report = load_model(model, self._lifecycle, self.sampler, managed=self._management(), place=self._place)
        if model.error is not None:
            return False
        timeline.add(self.sampler.sample_now())  # the model's memory right after its load
        memory = model.result.memory
        before, after = memory.rss_before_load_mb or 0.0, memory.rss_after_load_mb or 0.0
        attributed = model.snapshot(self.sampler.server.label).memory
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
                in_process=self._place == "in-process",
            )
        )
        return True

    def _backend_info(self) -> BackendInfo | None:
        if self._info is None:
            try:
                self._info = self.backend.info()
            except FoundryTuiError:
                return None
        return self._info

    def _management(self) -> bool:
        info = self._backend_info()
        return bool(info and info.management)

    # -- one concurrency level -----------------------------------------------------------------------------

    def _run_level(self, model: ModelRun, concurrency: int, mode: str) -> None:
        level = LevelResult(concurrency=concurrency, mode=mode)
        with self._lock:
            model.result.levels.append(level)
        self._emit(LevelStarted(model.model, concurrency, mode))
        prompts = range(len(self.config.prompts))
        warm = [(p, r) for r in range(self.config.warmup) for p in prompts]
        jobs = [(p, r) for r in range(self.config.rounds) for p in prompts]
        if warm:
            self._pool(model, level, warm, warmup=True)
        if level.error is None and not self._cancel.is_set():
            before = self._read_energy()
            self._pool(model, level, jobs, warmup=False)
            level.gpu_energy_j, level.cpu_energy_j = energy_delta(before, self._read_energy())
        if level.error is not None:
            level.status = "error"
        elif self._cancel.is_set():
            level.status = "cancelled"
        else:
            level.status = "ok"

    def _pool(self, model: ModelRun, level: LevelResult, jobs: list[tuple[int, int]], *, warmup: bool) -> None:
        """Keep `level.concurrency` requests in flight until the jobs run out, the model fails or we stop."""
        queue = deque(jobs)
        queue_lock = threading.Lock()

        def worker() -> None:
            while not self._cancel.is_set() and level.error is None:
                with queue_lock:
                    if not queue:
                        return
                    prompt_index, round_index = queue.popleft()
                self._request(model, level, prompt_index, round_index, warmup=warmup)

        workers = min(level.concurrency, len(jobs))
        if workers <= 1:
            worker()
            return
        threads = [threading.Thread(target=worker, name=f"bench-worker-{i}", daemon=True) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _read_energy(self) -> EnergyReading | None:
        return self._energy.read() if self._energy is not None else None

    def _request(
        self, model: ModelRun, level: LevelResult, prompt_index: int, round_index: int, *, warmup: bool
    ) -> None:
        spec = self.config.prompts[prompt_index]
        messages = chat_messages(spec)  # built before the clock starts
        options = ChatOptions(
            max_tokens=self.config.max_tokens_for(spec),
            temperature=self.config.temperature,
            stall_timeout_s=self.config.stall_timeout_s,
        )
        per_request_energy = level.concurrency == 1 and not warmup
        before = self._read_energy() if per_request_energy else None
        record = self._executor.run(model.model, messages, options, level.mode)
        after = self._read_energy() if per_request_energy else None
        request = request_result(
            record,
            model=model.model,
            spec=spec,
            prompt_index=prompt_index,
            round_index=round_index,
            concurrency=level.concurrency,
            mode=level.mode,
            t0_ns=self._t0_ns,
            energy_j=energy_delta(before, after),
        )
        if record.status == "error":
            where = f"{'warmup ' if warmup else ''}prompt {prompt_index} round {round_index + 1}"
            message = f"{where} (concurrency {level.concurrency}, {level.mode}): {record.error or 'request failed'}"
            with self._lock:
                if level.error is None:
                    level.error = safe_line(message, 400)
                model.fail(level.error, record.error_kind)
        if not warmup:
            with self._lock:
                self._requests.append(request)
                self._measured_done += 1
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
            can_load=self._management(),
            max_tokens=self.config.judge_max_tokens,
            stall_timeout_s=self.config.stall_timeout_s,
        )


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = [
    "BenchEvent",
    "BenchFinished",
    "BenchRunner",
    "BenchStarted",
    "EventCallback",
    "JudgeScored",
    "LevelStarted",
    "ModelFinished",
    "ModelLoaded",
    "ModelStarted",
    "RequestFinished",
    "ResultsWritten",
]

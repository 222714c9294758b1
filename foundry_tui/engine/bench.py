"""The benchmark runner: models × concurrency levels × (warmup +) rounds × prompts, one engine for CLI and TUI.

A front end builds a `BenchConfig`, makes a `BenchRunner(backend, config, on_event=...)`, calls `start()` (a
daemon thread) or `run()` (blocking), and may call `stop()` from any thread: in-flight streams are cancelled and
what was measured so far stays in `snapshot()`. `on_event` receives the typed events below on the runner's
threads (a TUI posts them to its message queue; it must not block). Nothing here imports Textual.

Per model: resolve (alias or exact id; `variants` expands an alias to every cached variant) → load through
`ModelLifecycle` (skipped when already loaded or when the backend cannot manage models) → for each concurrency
level and mode: warmup requests (not recorded), then the measured requests → unload if we loaded it. The first
failed request (server error, runtime error, stall, timeout) marks the model failed and the runner moves on to
the next model. Definitions: docs/metrics.md; file shapes: docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from foundry_tui.backends.base import (
    Backend,
    ChatMessage,
    ChatOptions,
    ChatStream,
    ModelEntry,
    SupportsCompletion,
)
from foundry_tui.engine import environment
from foundry_tui.engine.energy import EnergyMeter, EnergyReading, energy_delta
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySample, MemorySampler
from foundry_tui.engine.prompts import ModelTags, PromptSpec, tags_for
from foundry_tui.engine.quality import empty_quality, judge_messages, parse_judge_score, score_rubric
from foundry_tui.engine.report import build_summaries
from foundry_tui.engine.timing import RequestRecord, measure_stream
from foundry_tui.errors import BadInputError, FoundryTuiError, NotSupportedError
from foundry_tui.text import safe_line

SCHEMA = "foundry-tui.bench/1"
MODES = ("stream", "non-stream")

# -- configuration -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    models: tuple[str, ...]
    prompts: tuple[PromptSpec, ...]
    rounds: int = 3
    warmup: int = 1
    max_tokens: int = 512  # for prompts without their own max_tokens
    max_tokens_override: bool = False  # True: max_tokens applies to every prompt (the --max-tokens flag)
    temperature: float = 0.0
    concurrency: tuple[int, ...] = (1,)
    variants: bool = False
    non_streamed: bool = False  # also time non-streamed requests (BENCH_STREAM=0), reported separately
    judge: str | None = None
    judge_max_tokens: int = 256
    request_timeout_s: float | None = None  # whole request; None: only the backend's stall timeout applies
    stall_timeout_s: float = 60.0
    model_tags: Mapping[str, ModelTags] = field(default_factory=dict)
    prompt_file: str | None = None
    models_file: str | None = None
    sample_interval_s: float = 0.25

    def validate(self) -> None:
        if not self.models:
            raise BadInputError("no models to benchmark")
        if not self.prompts:
            raise BadInputError("no prompts to send")
        if self.rounds < 1:
            raise BadInputError(f"rounds must be at least 1, got {self.rounds}")
        if self.warmup < 0:
            raise BadInputError(f"warmup must be 0 or more, got {self.warmup}")
        if self.max_tokens < 1:
            raise BadInputError(f"max_tokens must be greater than 0, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise BadInputError(f"temperature must be between 0.0 and 2.0, got {self.temperature}")
        if not self.concurrency or any(c < 1 for c in self.concurrency):
            raise BadInputError("concurrency levels must be whole numbers greater than 0")
        if self.request_timeout_s is not None and self.request_timeout_s <= 0:
            raise BadInputError("the request timeout must be greater than 0")

    @property
    def modes(self) -> tuple[str, ...]:
        return MODES if self.non_streamed else MODES[:1]

    def max_tokens_for(self, spec: PromptSpec) -> int:
        if self.max_tokens_override or spec.max_tokens is None:
            return self.max_tokens
        return spec.max_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "rounds": self.rounds,
            "warmup": self.warmup,
            "max_tokens": self.max_tokens,
            "max_tokens_override": self.max_tokens_override,
            "temperature": self.temperature,
            "concurrency": list(self.concurrency),
            "modes": list(self.modes),
            "variants": self.variants,
            "non_streamed": self.non_streamed,
            "judge": self.judge,
            "request_timeout_s": self.request_timeout_s,
            "stall_timeout_s": self.stall_timeout_s,
            "prompt_file": self.prompt_file,
            "models_file": self.models_file,
            "sample_interval_s": self.sample_interval_s,
        }


# -- progress events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchStarted:
    models: tuple[str, ...]
    planned_requests: int  # measured requests if every model runs (warmups not counted)


@dataclass(frozen=True)
class ModelStarted:
    model: str  # exact id (or the name as given when it did not resolve)
    index: int  # 0-based
    total: int


@dataclass(frozen=True)
class ModelLoaded:
    model: str
    load_s: float | None  # None: not loaded by us (already loaded / endpoint without management)
    rss_before_mb: float
    rss_after_mb: float
    note: str | None = None


@dataclass(frozen=True)
class LevelStarted:
    model: str
    concurrency: int
    mode: str


@dataclass(frozen=True)
class RequestFinished:
    model: str
    request: Mapping[str, Any]  # the request record as in results.json (warmups: not recorded there)
    warmup: bool
    done: int  # measured requests finished so far, all models
    planned: int


@dataclass(frozen=True)
class ModelFinished:
    model: str
    status: str  # ok | error | cancelled | skipped
    error: str | None


@dataclass(frozen=True)
class JudgeScored:
    model: str
    prompt_index: int
    score: int | None
    note: str | None


@dataclass(frozen=True)
class BenchFinished:
    partial: bool
    results: Mapping[str, Any]


BenchEvent = (
    BenchStarted
    | ModelStarted
    | ModelLoaded
    | LevelStarted
    | RequestFinished
    | ModelFinished
    | JudgeScored
    | BenchFinished
)
EventCallback = Callable[[BenchEvent], None]


# -- internal state ------------------------------------------------------------------------------------------


@dataclass
class _Level:
    concurrency: int
    mode: str
    status: str = "running"  # running | ok | error | cancelled
    error: str | None = None
    gpu_energy_j: float | None = None
    cpu_energy_j: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "mode": self.mode,
            "status": self.status,
            "error": self.error,
            "gpu_energy_j": self.gpu_energy_j,
            "cpu_energy_j": self.cpu_energy_j,
        }


@dataclass
class _Model:
    requested: str
    model: str
    entry: ModelEntry | None = None
    tags: ModelTags | None = None
    status: str = "pending"  # pending | running | ok | error | cancelled | skipped
    error: str | None = None
    error_kind: str | None = None
    notes: list[str] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    levels: list[_Level] = field(default_factory=list)
    loaded_by_us: bool = False

    def fail(self, message: str, kind: str | None) -> None:
        if self.error is None:
            self.error, self.error_kind = message, kind

    def to_dict(self) -> dict[str, Any]:
        entry = self.entry
        tags = self.tags
        size = entry.size_mb if entry and entry.size_mb is not None else (tags.size_mb if tags else None)
        license_ = entry.license if entry and entry.license else (tags.license if tags else None)
        return {
            "model": self.model,
            "requested": self.requested,
            "alias": entry.alias if entry else None,
            "status": self.status,
            "error": self.error,
            "error_kind": self.error_kind,
            "notes": list(self.notes),
            "device": entry.device if entry else None,
            "execution_provider": entry.execution_provider if entry else None,
            "source": entry.source if entry else None,
            "size_mb": size,
            "license": license_,
            "capabilities": list(tags.capabilities) if tags else [],
            "tags": tags.to_dict() if tags else None,
            "load": dict(self.load),
            "memory": dict(self.memory),
            "memory_timeline": list(self.timeline),
            "levels": [level.to_dict() for level in self.levels],
        }


class _Timeline:
    """Memory samples during one model's run, from the shared sampler (`latest()`; `sample_now()` only when the
    sampler has not produced a new sample for 1.5 intervals, e.g. when it was never started)."""

    def __init__(self, sampler: MemorySampler, interval_s: float, t0_mono: float, out: list[dict[str, Any]]) -> None:
        self._sampler = sampler
        self._interval = interval_s
        self._t0 = t0_mono
        self._out = out
        self._last_t = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)
        self._lock = threading.Lock()

    def add(self, sample: MemorySample) -> None:
        with self._lock:
            if sample.t <= self._last_t:
                return
            self._last_t = sample.t
            point: dict[str, Any] = {
                "t": round(sample.t - self._t0, 3),
                "rss_mb": round(sample.process_rss_mb, 1),
                "ram_used_mb": round(sample.ram_used_mb, 1),
            }
            if sample.gpus:
                point["gpu_used_mb"] = [round(g.used_mb, 1) for g in sample.gpus]
            self._out.append(point)

    def start(self) -> None:
        self.add(self._sampler.sample_now())
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval / 2):
            latest = self._sampler.latest()
            if latest is not None and latest.t > self._last_t:
                self.add(latest)
            elif time.monotonic() - self._last_t >= 1.5 * self._interval:
                self.add(self._sampler.sample_now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.add(self._sampler.sample_now())


# -- the runner ----------------------------------------------------------------------------------------------


class BenchRunner:
    def __init__(
        self,
        backend: Backend,
        config: BenchConfig,
        *,
        on_event: EventCallback | None = None,
        sampler: MemorySampler | None = None,
        energy: EnergyMeter | None = None,
        collect_environment: bool = True,
    ) -> None:
        config.validate()
        self.backend = backend
        self.config = config
        self._on_event = on_event
        self._own_sampler = sampler is None
        self.sampler = sampler if sampler is not None else MemorySampler(interval_s=config.sample_interval_s)
        self._own_energy = energy is None
        self._energy = energy
        self._collect_env = collect_environment
        self._lifecycle = ModelLifecycle(backend, self.sampler)
        self._lock = threading.RLock()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._inflight: set[ChatStream] = set()
        self._models: list[_Model] = []
        self._requests: list[dict[str, Any]] = []
        self._judge: dict[str, Any] | None = None
        self._environment: dict[str, Any] = {}
        self._started_at: str | None = None
        self._finished_at: str | None = None
        self._t0_ns = time.perf_counter_ns()
        self._t0_mono = time.monotonic()
        self._measured_done = 0
        self._planned = 0
        self.error: BaseException | None = None  # an unexpected exception that ended run() early

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
        """True when the run has finished."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Cancel from any thread: no new requests start, in-flight streams are cancelled."""
        self._cancel.set()
        with self._lock:
            streams = list(self._inflight)
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.cancel()

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

    def snapshot(self) -> dict[str, Any]:
        """Everything measured so far, in the results.json shape (`partial` until the run completed)."""
        with self._lock:
            results: dict[str, Any] = {
                "schema": SCHEMA,
                "partial": self._cancel.is_set() or not self._done.is_set(),
                "started_at": self._started_at,
                "finished_at": self._finished_at,
                "environment": copy.deepcopy(self._environment),
                "settings": self.config.to_dict(),
                "prompts": [spec.to_dict() for spec in self.config.prompts],
                "models": [model.to_dict() for model in self._models],
                "requests": copy.deepcopy(self._requests),
                "judge": copy.deepcopy(self._judge),
            }
        for model in results["models"]:
            model["memory"].update(_memory_peaks(model["memory_timeline"]))
        results["summaries"] = build_summaries(results)
        return results

    # -- the run -------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run the whole benchmark in the calling thread; returns `snapshot()`."""
        self._t0_ns = time.perf_counter_ns()
        self._t0_mono = time.monotonic()
        self._started_at = _now_iso()
        if self._own_sampler:
            self.sampler.start()
        if self._energy is None:
            self._energy = EnergyMeter()
        try:
            if self._collect_env:
                env = environment.collect(self.backend)
                env["energy"] = self._energy.states()
                with self._lock:
                    self._environment = env
            models = self._targets()
            with self._lock:
                self._models = models
            per_model = len(self.config.concurrency) * len(self.config.modes) * self.config.rounds
            self._planned = per_model * len(self.config.prompts) * sum(1 for m in models if m.status == "pending")
            self._emit(BenchStarted(tuple(m.model for m in models), self._planned))
            for index, model in enumerate(models):
                if self._cancel.is_set():
                    if model.status == "pending":
                        model.status, model.error = "skipped", "not run: the benchmark was stopped"
                    continue
                self._emit(ModelStarted(model.model, index, len(models)))
                if model.status == "pending":
                    self._run_model(model)
                self._emit(ModelFinished(model.model, model.status, model.error))
            if self.config.judge and not self._cancel.is_set():
                self._run_judge(self.config.judge)
        finally:
            self._finished_at = _now_iso()
            if self._own_sampler:
                self.sampler.stop()
            if self._own_energy and self._energy is not None:
                self._energy.close()
            self._done.set()
        results = self.snapshot()
        self._emit(BenchFinished(bool(results["partial"]), results))
        return results

    def _emit(self, event: BenchEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _targets(self) -> list[_Model]:
        """Resolve every requested name; an unknown name becomes a failed model, not an exception."""
        out: list[_Model] = []
        seen: set[str] = set()
        for name in self.config.models:
            try:
                entry = self.backend.resolve(name)
            except FoundryTuiError as exc:
                out.append(_Model(name, name, status="error", error=str(exc), error_kind="not_found"))
                continue
            entries = [entry]
            if self.config.variants and len(entry.variants) > 1:
                entries = self._cached_variants(name, entry)
                if not entries:
                    out.append(
                        _Model(
                            name,
                            entry.id,
                            entry,
                            status="error",
                            error=f"no cached variant of {name}",
                            error_kind="not_found",
                        )
                    )
                    continue
            for item in entries:
                if item.id in seen:
                    continue
                seen.add(item.id)
                tags = tags_for(self.config.model_tags, item.id, item.alias)
                out.append(_Model(name, item.id, item, tags))
        return out

    def _cached_variants(self, name: str, entry: ModelEntry) -> list[ModelEntry]:
        try:
            cached = {e.id for e in self.backend.list_cached()}
        except NotSupportedError:
            cached = set(entry.variants)  # an endpoint serves what it lists
        entries = []
        for variant in entry.variants:
            if variant in cached:
                try:
                    entries.append(self.backend.resolve(variant))
                except FoundryTuiError:
                    continue
        return entries

    # -- one model -----------------------------------------------------------------------------------------

    def _run_model(self, model: _Model) -> None:
        assert model.entry is not None
        model.status = "running"
        timeline = _Timeline(self.sampler, self.config.sample_interval_s, self._t0_mono, model.timeline)
        timeline.start()
        try:
            if not self._load(model):
                return
            for concurrency in self.config.concurrency:
                for mode in self.config.modes:
                    if self._cancel.is_set() or model.error is not None:
                        break
                    self._run_level(model, concurrency, mode)
        finally:
            self._unload(model)
            timeline.stop()
            if self._cancel.is_set() and model.error is None:
                model.status = "cancelled"
            else:
                model.status = "error" if model.error is not None else "ok"

    def _load(self, model: _Model) -> bool:
        entry = model.entry
        assert entry is not None
        managed = self._management()
        if entry.loaded or not managed:
            sample = self.sampler.sample_now()
            note = (
                "already loaded: load time not measured"
                if entry.loaded
                else "backend cannot load models: load time not measured"
            )
            model.notes.append(note)
            model.load = {"load_s": None, "note": note}
            model.memory.update(
                rss_before_load_mb=sample.process_rss_mb,
                rss_after_load_mb=sample.process_rss_mb,
                ram_used_before_load_mb=sample.ram_used_mb,
            )
            self._emit(ModelLoaded(model.model, None, sample.process_rss_mb, sample.process_rss_mb, note))
            return True
        try:
            loaded, report = self._lifecycle.load(entry.id)
        except FoundryTuiError as exc:
            model.fail(f"load failed: {exc}", getattr(exc, "kind", "load"))
            model.load = {"load_s": None, "note": "load failed"}
            return False
        model.entry = loaded
        model.loaded_by_us = True
        model.load = {"load_s": report.load_s, "note": None}
        model.memory.update(
            rss_before_load_mb=report.rss_before_mb,
            rss_after_load_mb=report.rss_after_mb,
            ram_used_before_load_mb=report.ram_used_before_mb,
            ram_used_after_load_mb=report.ram_used_after_mb,
        )
        self._emit(ModelLoaded(model.model, report.load_s, report.rss_before_mb, report.rss_after_mb))
        return True

    def _unload(self, model: _Model) -> None:
        if not model.loaded_by_us:
            return
        model.loaded_by_us = False
        try:
            report = self._lifecycle.unload(model.model)
        except FoundryTuiError as exc:
            model.notes.append(f"unload failed: {safe_line(str(exc), 200)}")
            return
        model.memory.update(rss_after_unload_mb=report.rss_after_mb, rss_kept_after_unload_mb=report.residue_mb)
        model.load["unload_s"] = report.unload_s

    def _management(self) -> bool:
        try:
            return bool(self.backend.info().management)
        except FoundryTuiError:
            return False

    # -- one concurrency level -----------------------------------------------------------------------------

    def _run_level(self, model: _Model, concurrency: int, mode: str) -> None:
        level = _Level(concurrency, mode)
        with self._lock:
            model.levels.append(level)
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

    def _pool(self, model: _Model, level: _Level, jobs: list[tuple[int, int]], *, warmup: bool) -> None:
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

    # -- one request ---------------------------------------------------------------------------------------

    def _request(self, model: _Model, level: _Level, prompt_index: int, round_index: int, *, warmup: bool) -> None:
        spec = self.config.prompts[prompt_index]
        messages = ([ChatMessage("system", spec.system)] if spec.system else []) + [ChatMessage("user", spec.prompt)]
        options = ChatOptions(
            max_tokens=self.config.max_tokens_for(spec),
            temperature=self.config.temperature,
            stall_timeout_s=self.config.stall_timeout_s,
        )
        per_request_energy = level.concurrency == 1 and not warmup
        before = self._read_energy() if per_request_energy else None
        try:
            if level.mode == "stream":
                record = self._stream_once(model.model, messages, options)
            else:
                record = self._complete_once(model.model, messages, options)
        except Exception as exc:  # a backend bug must not kill the runner: it fails this model
            record = RequestRecord(model=model.model, status="error", error=f"{type(exc).__name__}: {exc}")
            record.error_kind = "internal"
        after = self._read_energy() if per_request_energy else None
        request = self._request_dict(model, level, spec, prompt_index, round_index, record, before, after)
        failed = record.status == "error"
        if failed:
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
        self._emit(RequestFinished(model.model, request, warmup, self._measured_done, self._planned))

    def _track(self, stream: ChatStream, add: bool) -> None:
        with self._lock:
            if add:
                self._inflight.add(stream)
            else:
                self._inflight.discard(stream)
        if add and self._cancel.is_set():
            stream.cancel()

    def _stream_once(self, model_id: str, messages: list[ChatMessage], options: ChatOptions) -> RequestRecord:
        try:
            stream = self.backend.stream_chat(model_id, messages, options)
        except FoundryTuiError as exc:
            return RequestRecord(
                model=model_id, status="error", error=str(exc), error_kind=getattr(exc, "kind", "input")
            )
        timed_out = threading.Event()
        timer: threading.Timer | None = None
        timeout = self.config.request_timeout_s
        if timeout is not None:

            def expire() -> None:
                timed_out.set()
                stream.cancel()

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
        self._track(stream, True)
        try:
            if timer is not None:
                timer.start()
            record = measure_stream(stream)
        finally:
            if timer is not None:
                timer.cancel()
            self._track(stream, False)
        if timed_out.is_set() and record.status != "ok":
            record.status = "error"
            record.error = f"timed out: no complete reply within {timeout:g} s"
            record.error_kind = "timeout"
        return record

    def _complete_once(self, model_id: str, messages: list[ChatMessage], options: ChatOptions) -> RequestRecord:
        """Non-streamed: the backend's `complete_chat` when it has one, else a stream drained without per-token
        stamps (in-process there is no transport difference; only e2e and token counts are kept)."""
        backend = self.backend
        if isinstance(backend, SupportsCompletion):
            try:
                reply = backend.complete_chat(model_id, messages, options)
            except FoundryTuiError as exc:
                return RequestRecord(
                    model=model_id, status="error", error=str(exc), error_kind=getattr(exc, "kind", "http")
                )
            record = RequestRecord(model=model_id, t_sent_ns=reply.t_sent_ns, t_end_ns=reply.t_done_ns)
            record.text = reply.text
            record.finish_reason = reply.finish_reason
            if reply.usage is not None:
                record.prompt_tokens = reply.usage.prompt_tokens
                record.usage_completion_tokens = reply.usage.completion_tokens
            else:
                record.pieces_exact = False
        else:
            record = self._stream_once(model_id, messages, options)
            record.token_times_ns = []  # not a per-token measurement in this mode
        timeout = self.config.request_timeout_s
        if record.status == "ok" and timeout is not None and (record.e2e_ms or 0) > timeout * 1000:
            record.status, record.error_kind = "error", "timeout"
            record.error = f"timed out: no complete reply within {timeout:g} s"
        return record

    def _request_dict(
        self,
        model: _Model,
        level: _Level,
        spec: PromptSpec,
        prompt_index: int,
        round_index: int,
        record: RequestRecord,
        before: EnergyReading | None,
        after: EnergyReading | None,
    ) -> dict[str, Any]:
        non_stream = level.mode != "stream"
        tokens: int | None = record.completion_tokens
        if non_stream and record.usage_completion_tokens is None:
            tokens = None  # no usage and no pieces to count: unknown, not 0
        e2e = record.e2e_ms
        gpu_j, cpu_j = energy_delta(before, after)
        quality = empty_quality()
        if record.status == "ok":
            rubric = score_rubric(record.text, spec.expect)
            if rubric is not None:
                quality.update(
                    rubric=rubric.score, rubric_covered=list(rubric.covered), rubric_missed=list(rubric.missed)
                )
        return {
            "model": model.model,
            "prompt_index": prompt_index,
            "round": round_index + 1,
            "concurrency": level.concurrency,
            "mode": level.mode,
            "t_start_s": (record.t_sent_ns - self._t0_ns) / 1e9 if record.t_sent_ns else None,
            "ttft_ms": None if non_stream else record.ttft_ms,
            "e2e_ms": e2e,
            "decode_tps": None if non_stream else record.decode_tps,
            "e2e_tps": tokens / (e2e / 1000) if tokens and e2e else None,
            "itl_ms": [] if non_stream else record.itl_ms,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": tokens,
            "tokens_estimated": record.tokens_estimated if tokens is not None else False,
            "finish_reason": record.finish_reason,
            "status": record.status,
            "error": record.error,
            "error_kind": record.error_kind,
            "text": record.text,
            "gpu_energy_j": gpu_j,
            "cpu_energy_j": cpu_j,
            "gpu_j_per_token": gpu_j / tokens if gpu_j is not None and tokens else None,
            "cpu_j_per_token": cpu_j / tokens if cpu_j is not None and tokens else None,
            "quality": quality,
        }

    # -- judge ---------------------------------------------------------------------------------------------

    def _run_judge(self, judge: str) -> None:
        """Ask `judge` for a 1–5 score of every distinct answer, after all measurements (so it cannot skew them)."""
        state: dict[str, Any] = {"model": judge, "status": "running", "error": None, "scored": 0, "unparsed": 0}
        with self._lock:
            self._judge = state
        try:
            entry = self.backend.resolve(judge)
        except FoundryTuiError as exc:
            state.update(status="error", error=f"judge: {exc}")
            return
        state["model"] = entry.id
        loaded_here = False
        if not entry.loaded and self._management():
            try:
                self.backend.load(entry.id)
                loaded_here = True
            except FoundryTuiError as exc:
                state.update(status="error", error=f"judge: load failed: {exc}")
                return
        answers: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
        with self._lock:
            for request in self._requests:
                if request["status"] == "ok":
                    key = (request["model"], request["prompt_index"], request["text"])
                    answers.setdefault(key, []).append(request)
        try:
            for (model_id, prompt_index, text), requests in answers.items():
                if self._cancel.is_set():
                    state["status"] = "cancelled"
                    return
                spec = self.config.prompts[prompt_index]
                options = ChatOptions(
                    max_tokens=self.config.judge_max_tokens,
                    temperature=0.0,
                    stall_timeout_s=self.config.stall_timeout_s,
                )
                record = self._stream_once(entry.id, judge_messages(spec, text), options)
                if record.status == "ok":
                    score, note = parse_judge_score(record.text)
                else:
                    score, note = None, f"judge request failed: {safe_line(record.error or record.status, 200)}"
                with self._lock:
                    for request in requests:
                        request["quality"]["judge"] = score
                        request["quality"]["judge_note"] = note
                    state["scored" if score is not None else "unparsed"] += 1
                self._emit(JudgeScored(model_id, prompt_index, score, note))
            state["status"] = "ok"
        finally:
            if loaded_here:
                with contextlib.suppress(FoundryTuiError):
                    self.backend.unload(entry.id)


def _memory_peaks(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    if not timeline:
        return {"rss_peak_mb": None, "ram_used_peak_mb": None, "gpu_used_peak_mb": None}
    gpu: list[float] | None = None
    for point in timeline:
        used = point.get("gpu_used_mb")
        if used:
            gpu = [max(a, b) for a, b in zip(gpu, used, strict=False)] if gpu else list(used)
    return {
        "rss_peak_mb": max(p["rss_mb"] for p in timeline),
        "ram_used_peak_mb": max(p["ram_used_mb"] for p in timeline),
        "gpu_used_peak_mb": gpu,
    }


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

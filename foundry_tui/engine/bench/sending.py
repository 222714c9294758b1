"""Sending a level's requests: `c` streams kept busy, each request timed, counted and turned into a result.

`Sender.pool(model, level, jobs)` runs the (prompt, round) jobs on `level.concurrency` worker threads, each one a
numbered stream (its `slot`: the steady-state window is where every slot is busy, engine.bench.throughput). The
first request to a model in this process is marked cold (its wait includes set-up: TTFT reports it apart).
Requests whose tokens must be counted are recorded by engine.bench.token_counting's thread, so counting never
holds a stream idle. Each finished request goes to `on_request` (the runner appends, journals, reports it).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from foundry_tui.backends.base import ChatOptions
from foundry_tui.engine.bench.config import BenchConfig
from foundry_tui.engine.bench.execute import RequestExecutor, chat_messages, request_result
from foundry_tui.engine.bench.model_run import ModelRun
from foundry_tui.engine.bench.results import LevelResult, RequestResult
from foundry_tui.engine.bench.token_counting import TokenCounting
from foundry_tui.engine.energy import EnergyReading, energy_delta
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.timing import RequestRecord
from foundry_tui.text import safe_line

Job = tuple[int, int]  # prompt index, round index (0-based)
OnRequest = Callable[[ModelRun, RequestResult, bool], None]  # model, result, warmup
# A phase request's own fields (phase, prompt_tokens_target, memory_mb …), computed when it has ended.
Extra = Callable[[RequestRecord], dict[str, Any]]


@dataclass(frozen=True)
class OneRequest:
    """A request outside the prompt set's jobs: a generated prompt (sweep, context probe) or a cold start's."""

    spec: PromptSpec
    max_tokens: int
    round_index: int = 0
    first_token_timeout_s: float | None = None  # None: the run's
    extra: Extra | None = None


@dataclass(frozen=True)
class Clock:
    """Where a request's send lands on the run's clock: seconds after `t0_ns`, plus the session's offset."""

    t0_ns: int
    session: int = 0
    t_offset_s: float = 0.0


class Sender:
    def __init__(
        self,
        config: BenchConfig,
        executor: RequestExecutor,
        counting: TokenCounting,
        *,
        cancel: threading.Event,
        lock: threading.RLock,
        read_energy: Callable[[], EnergyReading | None],
        on_request: OnRequest,
    ) -> None:
        self.config = config
        self.clock = Clock(0)
        self._executor = executor
        self._counting = counting
        self._cancel = cancel
        self._lock = lock
        self._read_energy = read_energy
        self._on_request = on_request
        self._warm: set[str] = set()  # models already sent a request in this process

    def pool(self, model: ModelRun, level: LevelResult, jobs: list[Job], *, warmup: bool) -> None:
        """Keep `level.concurrency` requests in flight until the jobs run out, the model fails or we stop."""
        queue = deque(jobs)
        queue_lock = threading.Lock()

        def worker(slot: int) -> None:
            while not self._cancel.is_set() and level.error is None:
                with queue_lock:
                    if not queue:
                        return
                    prompt_index, round_index = queue.popleft()
                self.send(model, level, (prompt_index, round_index), warmup=warmup, slot=slot)

        workers = min(level.concurrency, len(jobs))
        if workers <= 1:
            worker(0)
        else:
            threads = [threading.Thread(target=worker, args=(i,), name=f"bench-worker-{i}", daemon=True)
                       for i in range(workers)]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if not warmup:
            self._counting.drain()  # every request of the level recorded before its figures are taken

    def forget_warm(self, model: str) -> None:
        """The model was reloaded: its next request is cold again."""
        with self._lock:
            self._warm.discard(model)

    def send_one(self, model: ModelRun, level: LevelResult, one: OneRequest) -> RequestResult | None:
        """Send one request and wait until it is recorded (its tokens counted); None when it was not recorded."""
        got: list[RequestResult] = []
        self.send(model, level, (-1, one.round_index), warmup=False, slot=0, one=one, got=got)
        self._counting.drain()
        return got[0] if got else None

    def send(
        self,
        model: ModelRun,
        level: LevelResult,
        job: Job,
        *,
        warmup: bool,
        slot: int,
        one: OneRequest | None = None,
        got: list[RequestResult] | None = None,
    ) -> None:
        spec = one.spec if one is not None else self.config.prompts[job[0]]
        messages = chat_messages(spec)  # built before the clock starts
        first_token = one.first_token_timeout_s if one is not None else None
        options = ChatOptions(
            max_tokens=one.max_tokens if one is not None else self.config.max_tokens_for(spec),
            temperature=self.config.temperature,
            stall_timeout_s=self.config.stall_timeout_s,
            first_token_timeout_s=first_token or self.config.first_token_timeout_s,
        )
        with self._lock:  # the first request to a model in this process pays its set-up: reported apart
            cold = model.model not in self._warm
            self._warm.add(model.model)
        per_request_energy = level.concurrency == 1 and not warmup
        before = self._read_energy() if per_request_energy else None
        record = self._executor.run(model.model, messages, options, level.mode)
        energy = energy_delta(before, self._read_energy() if per_request_energy else None)

        def finish() -> None:
            problem = self._counting.count(model.model, record) if not warmup else None
            if problem is not None:
                with self._lock:
                    if problem not in model.result.notes:
                        model.result.notes.append(safe_line(problem, 300))
            extra = one.extra(record) if one is not None and one.extra is not None else {}
            request = self._finish(model, level, record, job, warmup=warmup, slot=slot, cold=cold, energy=energy,
                                   spec=spec, extra=extra)  # fmt: skip
            if got is not None:
                got.append(request)

        if not warmup and self._counting.needed(record):
            self._counting.later(finish)  # counting takes milliseconds: not on this stream's time
        else:
            finish()

    def _finish(
        self,
        model: ModelRun,
        level: LevelResult,
        record: RequestRecord,
        job: Job,
        *,
        warmup: bool,
        slot: int,
        cold: bool,
        energy: tuple[float | None, float | None],
        spec: PromptSpec,
        extra: dict[str, Any],
    ) -> RequestResult:
        prompt_index, round_index = job
        clock = self.clock
        request = request_result(
            record,
            model=model.model,
            spec=spec,
            prompt_index=prompt_index,
            round_index=round_index,
            concurrency=level.concurrency,
            mode=level.mode,
            t0_ns=clock.t0_ns,
            energy_j=energy,
            cold=cold,
            slot=slot,
            session=clock.session,
            t_offset_s=clock.t_offset_s,
        )
        for name, value in extra.items():
            setattr(request, name, value)
        if record.status == "error" and not extra:  # a phase's failure is its finding, not the model's
            where = f"{'warmup ' if warmup else ''}prompt {prompt_index} round {round_index + 1}"
            message = f"{where} (concurrency {level.concurrency}, {level.mode}): {record.error or 'request failed'}"
            with self._lock:
                if level.error is None:
                    level.error = safe_line(message, 400)
                model.fail(level.error, record.error_kind)
        self._on_request(model, request, warmup)
        return request


__all__ = ["Clock", "Job", "OneRequest", "Sender"]

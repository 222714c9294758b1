"""Load and unload with the numbers people pick models by: how long, and what it did to memory — the model's own.

Memory is bracketed with immediate samples (not the sampler's last tick), so a fast load still gets a real
before/after. A model's memory is measured in the process that holds it: this process for the in-process runtime,
the server's process for an endpoint on this machine (the sampler's `server_rss`), and nothing for a remote server
("remote — not measurable") — never this client's RSS under a model's name. It is the growth since right before the
model's load: after the load, after its requests (at each request's end; the KV cache shows up there), and after
the unload ("residue": what the runtime did not give back).

Markers go on the sampler's clock only for what happened: a load or unload that raised leaves none (its start is
stamped before the call and written after it succeeded).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace

from foundry_tui.backends.base import Backend, ModelEntry
from foundry_tui.engine.events import MonitorEvent
from foundry_tui.engine.monitor import MemorySample, MemorySampler
from foundry_tui.engine.monitor.server import REMOTE


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _minus(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


@dataclass(frozen=True)
class ModelMemory:
    """One model's memory (MB, the holding process's RSS): absolute figures, and the model's own as growth since
    right before its load. None where not measurable (`note` says why)."""

    model: str
    holder: str  # which process: "this process (in-process runtime)", "local server …", REMOTE
    before_mb: float | None  # right before the load
    after_load_mb: float | None  # right after the load
    after_first_request_mb: float | None = None  # at the end of its first request after the load
    after_requests_mb: float | None = None  # the most at the end of any of its requests since the load
    requests: int = 0
    after_unload_mb: float | None = None
    note: str = ""  # why not measurable

    @property
    def load_mb(self) -> float | None:
        """The model's own memory after the load."""
        return _minus(self.after_load_mb, self.before_mb)

    @property
    def first_request_mb(self) -> float | None:
        return _minus(self.after_first_request_mb, self.before_mb)

    @property
    def requests_mb(self) -> float | None:
        """The model's own memory with its requests' KV cache (the most seen at a request's end)."""
        return _minus(self.after_requests_mb, self.before_mb)

    @property
    def residue_mb(self) -> float | None:
        return _minus(self.after_unload_mb, self.before_mb)


@dataclass(frozen=True)
class LoadReport:
    model: str
    load_s: float
    rss_before_mb: float  # this process (raw figures; the model's own are in `memory`)
    rss_after_mb: float
    ram_used_before_mb: float
    ram_used_after_mb: float
    memory: ModelMemory | None = None

    @property
    def rss_delta_mb(self) -> float:
        return self.rss_after_mb - self.rss_before_mb

    @property
    def model_mb(self) -> float | None:
        """The model's own memory after the load (None: not measurable, e.g. a remote server)."""
        return self.memory.load_mb if self.memory else None


@dataclass(frozen=True)
class UnloadReport:
    model: str
    unload_s: float
    rss_before_mb: float  # this process
    rss_after_mb: float
    residue_mb: float | None  # this process's RSS after unload − before this model's load (None: load not seen)
    memory: ModelMemory | None = None  # the model's own figures, `after_unload_mb` set

    @property
    def model_residue_mb(self) -> float | None:
        """What the model's process kept after the unload, against right before the load."""
        return self.memory.residue_mb if self.memory else None


class ModelLifecycle:
    """Loads and unloads with markers; remembers each loaded model's memory (before, after load, after requests)."""

    def __init__(self, backend: Backend, sampler: MemorySampler) -> None:
        self.backend = backend
        self.sampler = sampler
        self._rss_before_load: dict[str, float] = {}
        self._memory: dict[str, ModelMemory] = {}
        self._lock = threading.Lock()
        self._listening = False
        self._actions = 0  # successful loads and unloads so far
        self._load_action: dict[str, int] = {}  # model → `_actions` right after its load

    def rss_before_load(self, model: str) -> float | None:
        """The process RSS (MB) right before `model` was loaded, while it is the last thing loaded or unloaded
        here. None: its load was not seen, or another load or unload changed the process since — measured against
        it, that other model's memory (or what its unload left) would be charged to this one."""
        with self._lock:
            if self._load_action.get(model) != self._actions:
                return None
            return self._rss_before_load.get(model)

    @property
    def loaded_before(self) -> bool:
        """Whether any load succeeded here (the runtime's one-time set-up is then part of an earlier model)."""
        with self._lock:
            return bool(self._memory)

    def memory(self, model: str) -> ModelMemory | None:
        """The model's memory since its latest load seen here (after an unload: with `after_unload_mb`)."""
        with self._lock:
            return self._memory.get(model)

    def _holding(self, sample: MemorySample) -> tuple[str, float | None, str]:
        """(which process holds the models, its RSS, why not measurable)."""
        server = self.sampler.server
        rss = _finite(sample.process_rss_mb if server.kind == "in-process" else sample.server_rss_mb)
        if server.kind == "remote":
            return REMOTE, None, REMOTE
        note = "" if rss is not None else f"not measurable ({server.label})"
        return server.label, rss, note

    def load(self, model: str) -> tuple[ModelEntry, LoadReport]:
        # The sampler runs at its fast rate during the load; the markers around it are on the samples' clock
        # (engine.timeline turns them into peak / steady / residue figures).
        with self.sampler.fast():
            before = self.sampler.sample_now()
            t_start = self.sampler.clock()
            started = time.perf_counter()
            entry = self.backend.load(model)  # raises: no markers, nothing remembered
            load_s = time.perf_counter() - started
            after = self.sampler.sample_now()
            events = self.sampler.events
            events.mark("load_start", entry.id, t=t_start)
            events.mark("load_end", entry.id)
        holder, before_mb, note = self._holding(before)
        _, after_mb, _ = self._holding(after)
        with self._lock:
            known = self._memory.get(entry.id)
            if known is None or known.after_unload_mb is not None:  # loading a loaded model again changes nothing
                known = ModelMemory(entry.id, holder, before_mb, after_mb, note=note)
                self._memory[entry.id] = known
            if entry.id not in self._rss_before_load:  # loading a loaded model again changes nothing
                self._rss_before_load[entry.id] = before.process_rss_mb
                self._actions += 1
                self._load_action[entry.id] = self._actions
        self._listen()
        report = LoadReport(
            entry.id,
            load_s,
            before.process_rss_mb,
            after.process_rss_mb,
            before.ram_used_mb,
            after.ram_used_mb,
            known,
        )
        return entry, report

    def unload(self, model: str) -> UnloadReport:
        before = self.sampler.sample_now()
        t_start = self.sampler.clock()
        started = time.perf_counter()
        self.backend.unload(model)  # raises: no markers, the model's figures stay
        unload_s = time.perf_counter() - started
        after = self.sampler.sample_now()
        self.sampler.events.mark("unload_start", model, t=t_start)
        self.sampler.events.mark("unload_end", model)
        _, after_mb, _ = self._holding(after)
        with self._lock:
            baseline = self._rss_before_load.pop(model, None)
            if self._load_action.pop(model, None) != self._actions:
                baseline = None  # other loads or unloads since: the residue would hold theirs too
            self._actions += 1
            memory = self._memory.get(model)
            if memory is not None:
                memory = replace(memory, after_unload_mb=after_mb)
                self._memory[model] = memory
        residue = None if baseline is None else after.process_rss_mb - baseline
        return UnloadReport(model, unload_s, before.process_rss_mb, after.process_rss_mb, residue, memory)

    # -- requests: the KV cache is allocated (and shows in RSS) as they run --------------------------------------

    def _listen(self) -> None:
        with self._lock:
            if self._listening:
                return
            self._listening = True
        self.sampler.events.subscribe(self._on_event)

    def _on_event(self, event: MonitorEvent) -> None:
        """At the end of a request to a model loaded here: sample now, on the stream's thread (a few /proc reads)."""
        if event.kind != "stream_end" or not event.model or event.detail.startswith("error"):
            return
        with self._lock:
            memory = self._memory.get(event.model)
            if memory is None or memory.after_unload_mb is not None:
                return
        _, rss, _ = self._holding(self.sampler.sample_now())
        with self._lock:
            memory = self._memory.get(event.model)
            if memory is None or memory.after_unload_mb is not None:
                return
            most = memory.after_requests_mb
            self._memory[event.model] = replace(
                memory,
                after_first_request_mb=memory.after_first_request_mb if memory.requests else rss,
                after_requests_mb=rss if most is None or (rss is not None and rss > most) else most,
                requests=memory.requests + 1,
            )


__all__ = ["REMOTE", "LoadReport", "ModelLifecycle", "ModelMemory", "UnloadReport"]

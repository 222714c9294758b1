"""Event markers on the samples' clock, and the per-model memory report built from them."""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

import numpy as np
import pytest

from foundry_tui.backends.base import (
    ChatMessage,
    ChatOptions,
    DoneEvent,
    DownloadProgress,
    ErrorEvent,
    ModelEntry,
    TokenEvent,
)
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.devtools.memory_backend import MemoryBackend, entry
from foundry_tui.engine.downloads import DownloadQueue
from foundry_tui.engine.events import EventLog, MonitorEvent, StreamMarker
from foundry_tui.engine.lifecycle import REMOTE, ModelLifecycle
from foundry_tui.engine.monitor import MemorySample, MemorySampler, ServerTarget
from foundry_tui.engine.timeline import Timeline, memory_reports, model_memory_report
from foundry_tui.errors import BackendError
from tests.conftest import TINY_ID
from tests.tui.monitor_fixture import MODEL_A, MODEL_B, records


class SlowLoad:
    """The real runtime, with each load held for `extra_s` so a 20 Hz sampler gets samples inside it."""

    def __init__(self, backend: FoundryBackend, extra_s: float) -> None:
        self._backend = backend
        self._extra_s = extra_s

    def load(self, model: str) -> ModelEntry:
        entry = self._backend.load(model)
        time.sleep(self._extra_s)
        return entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@pytest.mark.runtime
def test_load_markers_bracket_the_fast_samples(runtime: FoundryBackend) -> None:
    sampler = MemorySampler(interval_s=0.25, fast_interval_s=0.05).start()
    lifecycle = ModelLifecycle(SlowLoad(runtime, 0.6), sampler)
    try:
        time.sleep(0.6)
        entry, _ = lifecycle.load(TINY_ID)
        time.sleep(0.6)
        lifecycle.unload(entry.id)
        time.sleep(0.3)
    finally:
        sampler.stop()
    timeline = sampler.timeline()
    kinds = [(e.kind, e.model) for e in timeline.events]
    assert kinds == [
        ("load_start", TINY_ID),
        ("load_end", TINY_ID),
        ("unload_start", TINY_ID),
        ("unload_end", TINY_ID),
    ]
    start, end = timeline.events[0].t, timeline.events[1].t
    t = timeline.t
    inside = t[(t >= start) & (t <= end)]
    # The sampler's own samples at 20 Hz inside, and the lifecycle's bracketing ones right at both ends: the one
    # taken just before the start marker (the "before" of the report) and the one that closed the load.
    assert len(inside) >= 10, np.diff(inside)
    assert start - t[t <= start][-1] < 0.01 and end - inside[-1] < 0.01
    assert float(np.median(np.diff(inside))) < 0.08
    before = t[t < start]
    assert float(np.median(np.diff(before[:-1]))) > 0.2  # 4 Hz outside the load
    report = model_memory_report(timeline, TINY_ID)
    assert report is not None and report.state == "unloaded"
    assert report.load_s == pytest.approx(end - start)
    assert report.load_s is not None and report.load_s >= 0.6
    memory = report.memory
    assert memory.before_mb is not None and memory.peak_load_mb is not None and memory.steady_mb is not None
    assert memory.peak_load_mb >= memory.before_mb
    assert memory.after_unload_mb is not None and memory.residue_mb is not None
    assert memory.residue_mb == pytest.approx(memory.after_unload_mb - memory.before_mb)
    assert report.gpu is None and report.note == ""


# -- failed actions leave no markers; each model's own memory ---------------------------------------------------


def test_a_failed_load_or_unload_leaves_no_markers() -> None:
    backend = MemoryBackend(catalog=[entry("m:1")], cached={"m:1"}, fail={"load": "out of memory [bold]x[/bold]"})
    sampler = MemorySampler()
    lifecycle = ModelLifecycle(backend, sampler)
    with pytest.raises(BackendError, match="out of memory"):
        lifecycle.load("m:1")
    assert sampler.events.events() == () and not sampler.is_fast
    assert lifecycle.memory("m:1") is None and lifecycle.rss_before_load("m:1") is None
    assert model_memory_report(sampler.timeline(), "m:1") is None  # the Monitor shows no load that never happened
    backend.fail = {"unload": "a session is open"}
    lifecycle.load("m:1")
    with pytest.raises(BackendError, match="a session is open"):
        lifecycle.unload("m:1")
    assert [e.kind for e in sampler.events.events()] == ["load_start", "load_end"]
    report = model_memory_report(sampler.timeline(), "m:1")
    assert report is not None and report.state == "loaded"  # still loaded, as it is
    memory = lifecycle.memory("m:1")
    assert memory is not None and memory.after_unload_mb is None


class ScriptedSampler(MemorySampler):
    """Immediate samples with the RSS figures a test scripts: `rss` for this process, `server` for the process
    that holds the models (None: this process, the in-process runtime; NaN: not found)."""

    def __init__(self, target: ServerTarget | None = None) -> None:
        super().__init__()
        self.rss = 100.0
        self.server_rss = math.nan
        self._target = target or ServerTarget("in-process", os.getpid(), "this process (in-process runtime)")

    @property
    def server(self) -> ServerTarget:
        return self._target

    def sample_now(self) -> MemorySample:
        server = self.rss if self._target.kind == "in-process" else self.server_rss
        return MemorySample(self.clock(), 8000.0, 16000.0, 8000.0, self.rss, server_rss_mb=server)


class GrowingBackend(MemoryBackend):
    """Loading a model adds `load_mb` to the scripted RSS; an unload gives back all but `residue_mb`."""

    def __init__(self, sampler: ScriptedSampler, sizes: dict[str, float], residue_mb: float = 20.0) -> None:
        super().__init__(catalog=[entry(m) for m in sizes], cached=set(sizes))
        self.sampler, self.sizes, self.residue_mb = sampler, sizes, residue_mb

    def load(self, model: str) -> ModelEntry:
        self.sampler.rss += self.sizes[model]
        return super().load(model)

    def unload(self, model: str) -> None:
        super().unload(model)
        self.sampler.rss -= self.sizes[model] - self.residue_mb


def test_each_model_gets_its_own_memory_not_the_whole_process() -> None:
    sampler = ScriptedSampler()
    lifecycle = ModelLifecycle(GrowingBackend(sampler, {"a:1": 250.0, "b:1": 150.0}), sampler)
    _, a = lifecycle.load("a:1")
    assert a.memory is not None and a.model_mb == 250.0 and a.memory.before_mb == 100.0
    assert a.rss_after_mb == 350.0  # the raw figure stays in the report, under its own name
    _, b = lifecycle.load("b:1")  # the second model is not charged the first one's memory
    assert b.model_mb == 150.0 and b.rss_after_mb == 500.0
    # Its requests: the KV cache shows up at their ends (sampled on the stream's thread when it is marked).
    sampler.rss += 6.0
    sampler.events.mark("stream_end", "b:1", "stop")
    sampler.rss += 360.0
    sampler.events.mark("stream_end", "b:1", "length")
    sampler.events.mark("stream_end", "b:1", "error: runtime")  # a failed request: not a figure
    sampler.events.mark("stream_end", "c:1", "stop")  # not loaded here: ignored
    memory = lifecycle.memory("b:1")
    assert memory is not None and memory.requests == 2
    assert (memory.first_request_mb, memory.requests_mb) == (156.0, 516.0)
    unload = lifecycle.unload("b:1")
    assert unload.model_residue_mb == 20.0 + 366.0  # the runtime kept the KV cache and 20 MB
    assert unload.memory is not None and unload.memory.after_unload_mb == 866.0 - 130.0
    assert lifecycle.memory("a:1") is not None and lifecycle.memory("a:1").requests == 0  # type: ignore[union-attr]


def test_an_endpoint_models_memory_is_its_servers() -> None:
    sampler = ScriptedSampler(ServerTarget("local", 4242, "local server pid 4242"))
    backend = MemoryBackend(catalog=[entry("m:1")], cached={"m:1"})
    lifecycle = ModelLifecycle(backend, sampler)
    sampler.server_rss = 1000.0

    def load(model: str) -> ModelEntry:
        sampler.server_rss += 700.0  # the server grows; this client does not
        return MemoryBackend.load(backend, model)

    backend.load = load  # type: ignore[method-assign]
    _, report = lifecycle.load("m:1")
    assert report.rss_delta_mb == 0.0 and report.model_mb == 700.0
    assert report.memory is not None and report.memory.holder == "local server pid 4242"


def test_a_remote_models_memory_is_not_measurable() -> None:
    sampler = ScriptedSampler(ServerTarget("remote", None, "remote — not measurable", "http://10.0.0.9:8080"))
    lifecycle = ModelLifecycle(MemoryBackend(catalog=[entry("m:1")], cached={"m:1"}), sampler)
    _, report = lifecycle.load("m:1")
    assert report.model_mb is None and report.memory is not None
    assert report.memory.note == REMOTE == "remote — not measurable"
    sampler.events.mark("stream_end", "m:1", "stop")
    unload = lifecycle.unload("m:1")
    assert unload.model_residue_mb is None and unload.residue_mb is not None  # the client's own figure stays raw


@pytest.mark.runtime
def test_the_tiny_models_memory_is_a_part_of_the_process(runtime: FoundryBackend) -> None:
    sampler = MemorySampler()
    lifecycle = ModelLifecycle(runtime, sampler)
    _, report = lifecycle.load(TINY_ID)
    try:
        assert report.memory is not None and report.model_mb is not None
        # In-process the model's memory is this process's growth over its load, not the whole RSS (the tiny
        # model's is close to nothing once the runtime is warm in this test session).
        assert report.model_mb == pytest.approx(report.rss_delta_mb)
        assert abs(report.model_mb) < report.rss_after_mb / 2
        stream = runtime.stream_chat(TINY_ID, [ChatMessage("user", "hi")], ChatOptions(max_tokens=8))
        marker = StreamMarker(sampler.events, TINY_ID)
        for event in stream:
            marker(event)
        memory = lifecycle.memory(TINY_ID)
        assert memory is not None and memory.requests == 1 and memory.first_request_mb is not None
        assert memory.first_request_mb >= report.model_mb - 2
    finally:
        unload = lifecycle.unload(TINY_ID)
    assert unload.model_residue_mb is not None


def test_steady_stops_before_the_first_request_and_requests_are_figures() -> None:
    t = np.arange(0.0, 12.0, 0.25)
    rss = np.select([t <= 1.0, t < 4.6, t < 9.0], [100.0, 350.0, 710.0], 400.0)  # KV cache from 4.6 s
    events = (
        MonitorEvent(1.0, "load_start", "m"),
        MonitorEvent(1.5, "load_end", "m"),
        MonitorEvent(5.0, "first_token", "m"),  # the request began before: its cache is in the samples from 4.6
        MonitorEvent(5.3, "stream_end", "m", "stop"),
        MonitorEvent(7.0, "stream_end", "m", "error: runtime"),
        MonitorEvent(9.0, "unload_start", "m"),
        MonitorEvent(9.2, "unload_end", "m"),
    )
    report = model_memory_report(Timeline({"t": t, "server_rss": rss}, events), "m")
    assert report is not None
    memory = report.memory
    assert memory.steady_mb == 350.0  # up to 0.5 s before the first token: the KV cache is not "steady"
    assert (memory.load_delta_mb, memory.peak_delta_mb) == (250.0, 250.0)
    assert memory.after_first_request_mb == 710.0 and memory.requests_delta_mb == 610.0
    assert memory.residue_mb == 300.0


def test_another_models_load_in_the_cycle_is_not_charged_to_this_one() -> None:
    """a loaded (100 → 350), b loaded while a is (→ 900), a's request, a unloaded: a's steady figure stops where
    b's load starts; its after-request and residue figures would hold b, so there are none."""
    t = np.arange(0.0, 14.0, 0.25)
    rss = np.select([t <= 1.0, t < 2.25, t < 12.0], [100.0, 350.0, 900.0], 650.0)
    events = (
        MonitorEvent(1.0, "load_start", "a"),
        MonitorEvent(1.5, "load_end", "a"),
        MonitorEvent(2.1, "load_start", "b"),  # b's load grows the process from its start, not its end
        MonitorEvent(4.5, "load_end", "b"),
        MonitorEvent(8.0, "stream_end", "a", "stop"),
        MonitorEvent(12.0, "unload_start", "a"),
        MonitorEvent(12.1, "unload_end", "a"),
    )
    timeline = Timeline({"t": t, "server_rss": rss}, events)
    a = model_memory_report(timeline, "a")
    assert a is not None and a.memory.steady_mb == 350.0
    assert a.memory.after_requests_mb is None and a.memory.residue_mb is None
    b = model_memory_report(timeline, "b")
    assert b is not None and b.memory.load_delta_mb == 550.0


def fixture_timeline() -> Timeline:
    rows = [r for r in records() if r["kind"] == "sample"]
    t = np.array([float(r["t"]) for r in rows])  # type: ignore[arg-type]
    rss = np.array([float(r["server_rss_mb"]) for r in rows])  # type: ignore[arg-type]
    gpu = np.array([float(r["gpus"][0]["used_mb"]) for r in rows])  # type: ignore[index]
    events = tuple(
        MonitorEvent(float(r["t"]), str(r["event"]), str(r["model"]), str(r["detail"]))  # type: ignore[arg-type]
        for r in records()
        if r["kind"] == "event"
    )
    return Timeline({"t": t, "server_rss": rss, "gpu0_used": gpu}, events, server="this process")


def test_model_report_numbers() -> None:
    timeline = fixture_timeline()
    a = model_memory_report(timeline, MODEL_A)
    assert a is not None
    assert a.state == "unloaded" and a.load_s == pytest.approx(3.0)
    assert a.memory.before_mb == 300
    assert a.memory.peak_load_mb == pytest.approx(300 + 1100 * 2.95 / 3)  # the last 20 Hz sample of the ramp
    assert a.memory.steady_mb == 1100  # median of the 5 s after the load
    assert a.memory.after_unload_mb == 500
    assert a.memory.residue_mb == 200
    assert a.gpu is not None and a.gpu.residue_mb == 0
    b = model_memory_report(timeline, MODEL_B)
    assert b is not None and b.state == "loaded"
    assert b.memory.after_unload_mb is None and b.memory.residue_mb is None
    assert b.gpu is not None and b.gpu.steady_mb == 2400 and b.gpu.before_mb == 512
    assert [r.model for r in memory_reports(timeline)] == [MODEL_A, MODEL_B]
    assert model_memory_report(timeline, "never-loaded") is None


def test_loading_a_loaded_model_again_keeps_the_cycle() -> None:
    t = np.arange(0.0, 10.0, 0.25)
    rss = np.where(t < 2.2, 100.0, 400.0)
    events = (
        MonitorEvent(2.0, "load_start", "m"),
        MonitorEvent(2.5, "load_end", "m"),
        MonitorEvent(6.0, "load_start", "m"),  # idempotent re-load
        MonitorEvent(6.1, "load_end", "m"),
    )
    report = model_memory_report(Timeline({"t": t, "server_rss": rss}, events), "m")
    assert report is not None and report.memory.before_mb == 100 and report.load_s == pytest.approx(0.5)


def test_remote_server_report_says_not_measurable() -> None:
    t = np.arange(0.0, 5.0, 0.25)
    events = (MonitorEvent(1.0, "load_start", "m"), MonitorEvent(2.0, "load_end", "m"))
    timeline = Timeline({"t": t, "server_rss": np.full(len(t), np.nan)}, events, server="remote — not measurable")
    report = model_memory_report(timeline, "m")
    assert report is not None and report.memory.peak_load_mb is None
    assert report.note == "server memory not measurable (remote — not measurable)"


def test_stream_marker_marks_the_first_answer_token_and_the_end_once() -> None:
    log = EventLog()
    marker = StreamMarker(log, "m")
    seen: list[str] = []
    forward = marker.after(lambda event: seen.append(event.text))
    forward(TokenEvent("thinking", 1, reasoning=True))
    forward(TokenEvent("", 2))
    forward(TokenEvent("Hello", 3))
    forward(TokenEvent(" there", 4))
    marker(DoneEvent(5, "stop"))
    marker.end("stop")
    marker(ErrorEvent(6, "late", "dropped"))
    assert seen == ["thinking", "", "Hello", " there"]
    assert [(e.kind, e.model, e.detail) for e in log.events()] == [
        ("first_token", "m", ""),
        ("stream_end", "m", "stop"),
    ]


def test_event_log_is_bounded() -> None:
    log = EventLog(capacity=3)
    for _ in range(5):
        log.mark("stream_end", "m")
    assert len(log) == 3


class FakeDownloads:
    """Just enough Backend for the queue: one download that reports progress."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def download(self, model: str, progress: Any, cancel: threading.Event) -> None:
        progress(DownloadProgress(percent=50.0, total_mb=10))
        if self.fail:
            raise BackendError("disk full")


@pytest.mark.parametrize("fail", [False, True])
def test_download_queue_marks_start_and_end(fail: bool) -> None:
    marks: list[tuple[str, str, str]] = []
    done = threading.Event()

    def changed(jobs: list[Any]) -> None:
        if jobs and jobs[0].state in ("done", "failed"):
            done.set()

    queue = DownloadQueue(FakeDownloads(fail), changed, on_event=lambda *a: marks.append(a))  # type: ignore[arg-type]
    queue.enqueue("m")
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while len(marks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    queue.close()
    assert marks == [("download_start", "m", ""), ("download_end", "m", "failed" if fail else "done")]

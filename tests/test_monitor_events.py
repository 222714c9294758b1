"""Event markers on the samples' clock, and the per-model memory report built from them."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from foundry_tui.backends.base import DoneEvent, ErrorEvent, ModelEntry, TokenEvent
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.engine.downloads import DownloadQueue
from foundry_tui.engine.events import EventLog, MonitorEvent, StreamMarker
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySampler
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
    # The bracketing samples the lifecycle takes, plus the sampler's own at 20 Hz in between.
    assert len(inside) >= 10, np.diff(inside)
    assert inside[0] - start < 0.01 and end - inside[-1] < 0.01
    assert float(np.median(np.diff(inside))) < 0.08
    before = t[t < start]
    assert float(np.median(np.diff(before))) > 0.2  # 4 Hz outside the load
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


class FailingLoad:
    def load(self, model: str) -> ModelEntry:
        raise BackendError("out of memory [bold]x[/bold]")


def test_a_failed_load_is_marked() -> None:
    sampler = MemorySampler()
    lifecycle = ModelLifecycle(FailingLoad(), sampler)  # type: ignore[arg-type]
    with pytest.raises(BackendError):
        lifecycle.load("m:1")
    events = sampler.events.events()
    assert [(e.kind, e.detail) for e in events] == [
        ("load_start", ""),
        ("load_end", "failed: out of memory [bold]x[/bold]"),
    ]
    assert not sampler.is_fast
    report = model_memory_report(sampler.timeline(), "m:1")
    assert report is not None and report.state == "failed" and report.memory.before_mb is not None


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


def test_event_log_is_bounded_and_relabels() -> None:
    log = EventLog(capacity=3)
    t = log.mark("load_start", "alias")
    log.relabel(t, "load_start", "alias-generic-cpu:1")
    assert log.events()[0].model == "alias-generic-cpu:1"
    for _ in range(5):
        log.mark("stream_end", "m")
    assert len(log) == 3


class FakeDownloads:
    """Just enough Backend for the queue: one download that reports progress."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def download(self, model: str, progress: Any, cancel: threading.Event) -> None:
        progress(type("P", (), {"percent": 50.0, "total_mb": 10})())
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

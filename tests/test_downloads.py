"""DownloadQueue against the real fake Foundry service (EndpointBackend over a socket), and rate_and_eta by hand."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.sse_server import FakeOpenAIServer
from foundry_tui.engine.downloads import DownloadJob, DownloadQueue, rate_and_eta

CACHED = "cached-model-generic-cpu:1"
A = "alpha-generic-cpu:1"
B = "beta-generic-cpu:2"


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=[CACHED, A, B], foundry_routes="openai") as server:
        server.cached = [CACHED]  # A and B are in the catalog (/foundry/list) but not downloaded
        server.loaded = []
        server.download_duration_s = 0.6  # long enough for a rate (engine.downloads.MIN_SPAN_S)
        server.download_steps = 5
        yield server


@pytest.fixture
def backend(srv: FakeOpenAIServer, tmp_path: Path) -> Iterator[EndpointBackend]:
    b = EndpointBackend(Settings(endpoint=srv.url, data_dir=tmp_path))
    yield b
    b.close()


class Recorder:
    """The queue's on_change callback: every list of jobs it was handed, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.history: list[list[DownloadJob]] = []

    def __call__(self, jobs: list[DownloadJob]) -> None:
        with self.lock:
            self.history.append(list(jobs))

    def states(self, model: str) -> list[str]:
        with self.lock:
            return [job.state for jobs in self.history for job in jobs if job.model == model]

    def last(self, model: str) -> DownloadJob | None:
        with self.lock:
            for jobs in reversed(self.history):
                for job in jobs:
                    if job.model == model:
                        return job
        return None


@pytest.fixture
def queue(backend: EndpointBackend) -> Iterator[tuple[DownloadQueue, Recorder]]:
    recorder = Recorder()
    q = DownloadQueue(backend, recorder)
    yield q, recorder
    q.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def state_of(q: DownloadQueue, model: str) -> str | None:
    return next((job.state for job in q.jobs() if job.model == model), None)


def download_requests(srv: FakeOpenAIServer) -> list[str]:
    out = []
    for r in srv.requests:
        if r["path"] == "/openai/download":
            body = r["body"]
            out.append(body["model"]["Name"] if isinstance(body, dict) else str(body))
    return out


# -- rate_and_eta ---------------------------------------------------------------------------------------------


def test_rate_and_eta_from_known_points() -> None:
    # 20 % in 2 s of a 500 MB model → 10 %/s = 50 MB/s; 80 % left → 8 s.
    points = deque([(10.0, 10.0), (11.0, 20.0), (12.0, 30.0)])
    speed, eta = rate_and_eta(points, 30.0, 500)
    assert speed == pytest.approx(50.0)
    assert eta == pytest.approx(7.0)


def test_rate_and_eta_unknown_size_gives_eta_only() -> None:
    speed, eta = rate_and_eta(deque([(0.0, 0.0), (4.0, 50.0)]), 50.0, None)
    assert speed is None
    assert eta == pytest.approx(4.0)


def test_rate_and_eta_needs_two_points_far_enough_apart() -> None:
    assert rate_and_eta(deque(), 0.0, 100) == (None, None)
    assert rate_and_eta(deque([(0.0, 5.0)]), 5.0, 100) == (None, None)
    assert rate_and_eta(deque([(0.0, 0.01), (0.1, 0.02)]), 0.02, 100) == (None, None)  # no 83-minute ETAs


def test_rate_and_eta_stall_shows_zero_speed_and_no_eta() -> None:
    assert rate_and_eta(deque([(0.0, 40.0), (3.0, 40.0)]), 40.0, 100) == (0.0, None)
    assert rate_and_eta(deque([(0.0, 40.0), (3.0, 40.0)]), 40.0, None) == (None, None)


# -- the queue against the fake service -------------------------------------------------------------------------


def test_download_percent_rises_to_100_with_speed_and_eta(
    srv: FakeOpenAIServer, queue: tuple[DownloadQueue, Recorder]
) -> None:
    q, rec = queue
    q.enqueue(A)
    wait_for(lambda: state_of(q, A) == "done")
    percents = [job.percent for jobs in rec.history for job in jobs if job.model == A and job.state == "running"]
    assert percents == sorted(percents)
    assert max(percents) == pytest.approx(100.0)
    assert len(set(percents)) >= 4  # the service sends 0, 20, 40, … 100
    running = [job for jobs in rec.history for job in jobs if job.model == A and job.state == "running"]
    assert any(job.mb_per_s is not None and job.mb_per_s > 0 for job in running)
    assert any(job.eta_s is not None for job in running)
    assert all(job.total_mb == 1 for job in running if job.percent > 0)  # fileSizeMb from /foundry/list
    done = rec.last(A)
    assert done is not None
    assert (done.state, done.percent, done.eta_s, done.error) == ("done", 100.0, None, None)
    assert done.elapsed_s > 0
    assert A in srv.cached


def test_two_queued_jobs_run_one_after_the_other(srv: FakeOpenAIServer, queue: tuple[DownloadQueue, Recorder]) -> None:
    q, rec = queue
    q.enqueue(A)
    q.enqueue(B)
    assert [job.model for job in q.jobs()] == [A, B]
    wait_for(lambda: state_of(q, B) == "done")
    assert download_requests(srv) == [A, B]
    # B never ran while A was still running or queued.
    with rec.lock:
        for jobs in rec.history:
            states = {job.model: job.state for job in jobs}
            if states.get(B) == "running":
                assert states.get(A) == "done"
    assert rec.states(B)[0] == "queued"


def test_enqueue_twice_keeps_one_job(queue: tuple[DownloadQueue, Recorder]) -> None:
    q, _ = queue
    q.enqueue(A)
    q.enqueue(A)
    assert [job.model for job in q.jobs()] == [A]
    wait_for(lambda: state_of(q, A) == "done")


def test_cancel_a_queued_job_never_starts_it(srv: FakeOpenAIServer, queue: tuple[DownloadQueue, Recorder]) -> None:
    q, _ = queue
    srv.download_duration_s = 0.3
    srv.download_steps = 6
    q.enqueue(A)
    q.enqueue(B)
    wait_for(lambda: state_of(q, A) == "running")
    q.cancel(B)
    assert state_of(q, B) == "cancelled"  # at once: it was only waiting
    wait_for(lambda: state_of(q, A) == "done")
    time.sleep(0.1)
    assert state_of(q, B) == "cancelled"
    assert download_requests(srv) == [A]


def test_cancel_a_running_job_stops_it_promptly(srv: FakeOpenAIServer, queue: tuple[DownloadQueue, Recorder]) -> None:
    q, _ = queue
    srv.download_duration_s = 5.0
    srv.download_steps = 50
    q.enqueue(A)
    wait_for(lambda: next((j.percent for j in q.jobs() if j.model == A), 0.0) > 0)
    started = time.monotonic()
    q.cancel(A)
    wait_for(lambda: state_of(q, A) == "cancelled", timeout=3.0)
    assert time.monotonic() - started < 1.5
    job = q.jobs()[0]
    assert job.error is None
    assert 0 < job.percent < 100
    assert A not in srv.cached


def test_failure_message_then_retry_succeeds(srv: FakeOpenAIServer, queue: tuple[DownloadQueue, Recorder]) -> None:
    q, _ = queue
    srv.download_error = "disk full while writing model.onnx"
    q.enqueue(A)
    wait_for(lambda: state_of(q, A) == "failed")
    failed = q.jobs()[0]
    assert failed.error is not None
    assert "disk full while writing model.onnx" in failed.error
    assert A in failed.error
    srv.download_error = None
    q.retry(A)
    assert state_of(q, A) in ("queued", "running")
    wait_for(lambda: state_of(q, A) == "done")
    done = q.jobs()[0]
    assert done.error is None
    assert download_requests(srv) == [A, A]


def test_unknown_model_fails_with_a_message(queue: tuple[DownloadQueue, Recorder]) -> None:
    q, _ = queue
    q.enqueue("no-such-model:1")
    wait_for(lambda: state_of(q, "no-such-model:1") == "failed")
    error = q.jobs()[0].error
    assert error is not None
    assert "no-such-model:1" in error


def test_forget_drops_finished_jobs_only(srv: FakeOpenAIServer, queue: tuple[DownloadQueue, Recorder]) -> None:
    q, rec = queue
    q.enqueue(A)
    wait_for(lambda: state_of(q, A) == "done")
    srv.download_duration_s = 5.0
    srv.download_steps = 50
    q.enqueue(B)
    wait_for(lambda: state_of(q, B) == "running")
    q.forget(B)  # running: stays
    q.forget(A)  # done: goes
    assert [job.model for job in q.jobs()] == [B]
    assert [job.model for job in rec.history[-1]] == [B]  # listeners heard about it
    q.cancel(B)
    wait_for(lambda: state_of(q, B) == "cancelled")
    q.forget(B)
    assert q.jobs() == []
    q.forget("never-queued:1")  # harmless

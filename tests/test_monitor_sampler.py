"""The sampler against real processes (a child that allocates memory, a local server found by its port) and
against a fake NVML (present, absent, no permission, a GPU that is lost, per-process memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from foundry_tui.engine.monitor import (
    GpuReader,
    MemorySampler,
    RingSet,
    is_local_endpoint,
    is_local_host,
    server_for_endpoint,
)
from tests.fake_pynvml import FakeGpu, FakeNvml

MB = 1 << 20
CHILD = r"""
import sys
MB = 1 << 20
n = int(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
block = b"\x01" * (n * MB)  # written, so every page is resident
print("allocated", flush=True)
sys.stdin.readline()
del block  # a large block is its own mapping: freeing it returns the pages
print("freed", flush=True)
sys.stdin.readline()
"""


class Child:
    """A python child that allocates `mb` MB when told to, then frees it."""

    def __init__(self, mb: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(mb)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.expect("ready")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == word

    def step(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.expect(word)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def child() -> Iterator[Child]:
    process = Child(300)
    yield process
    process.close()


def test_child_rss_through_the_server_path(child: Child) -> None:
    sampler = MemorySampler(slow_interval_s=0.0)  # USS on every sample here
    sampler.watch_server(pid=child.pid)
    before = sampler.sample_now()
    assert before.server_pid == child.pid
    assert sampler.server.label.startswith(f"pid {child.pid} (")
    child.step("allocated")
    during = sampler.sample_now()
    child.step("freed")
    after = sampler.sample_now()
    assert during.server_rss_mb - before.server_rss_mb == pytest.approx(300, rel=0.05)
    assert during.server_uss_mb - before.server_uss_mb == pytest.approx(300, rel=0.05)
    assert during.server_rss_mb - after.server_rss_mb == pytest.approx(300, rel=0.05)
    # This process did not change: the figures are the child's, not ours.
    assert abs(during.process_rss_mb - before.process_rss_mb) < 30
    history = sampler.history()
    assert list(history["server_rss"]) == [before.server_rss_mb, during.server_rss_mb, after.server_rss_mb]


def test_child_rss_through_the_pid_parameter(child: Child) -> None:
    sampler = MemorySampler(pid=child.pid)
    before = sampler.sample_now()
    child.step("allocated")
    during = sampler.sample_now()
    assert during.process_rss_mb - before.process_rss_mb == pytest.approx(300, rel=0.05)
    assert during.server_rss_mb == during.process_rss_mb  # "in-process": the watched process is the server


def test_a_server_that_exits_is_a_state_not_a_crash(child: Child) -> None:
    sampler = MemorySampler()
    sampler.watch_server(pid=child.pid)
    assert sampler.sample_now().server_pid == child.pid
    child.close()
    sample = sampler.sample_now()
    assert sample.server_pid is None and np.isnan(sample.server_rss_mb)
    assert "exited" in sampler.server.label or "not running" in sampler.server.label
    assert sampler.sample_now().process_rss_mb > 0


def test_endpoint_server_found_by_its_listening_port() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "foundry_tui.devtools.sse_server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        target = server_for_endpoint(url)
        assert target.kind == "local" and target.pid == server.pid, target
        sampler = MemorySampler()
        sampler.watch_server(endpoint=url)
        sample = sampler.sample_now()
        assert sample.server_pid == server.pid
        assert 5 < sample.server_rss_mb < 500
        assert sample.server_rss_mb != sample.process_rss_mb
    finally:
        server.kill()
        server.wait(timeout=10)


def test_remote_and_unreachable_endpoints() -> None:
    assert is_local_endpoint("http://127.0.0.1:5273/v1") and is_local_endpoint("http://localhost:1")
    assert is_local_host("[::1]")
    remote = server_for_endpoint("http://10.255.255.1:8080/v1")  # no DNS, no connection: an address check only
    assert (remote.kind, remote.pid, remote.label) == ("remote", None, "remote — not measurable")
    sampler = MemorySampler()
    sampler.watch_server(endpoint="http://10.255.255.1:8080/v1")
    sample = sampler.sample_now()
    assert sample.server_pid is None and np.isnan(sample.server_rss_mb)
    assert sampler.timeline().server == "remote — not measurable"
    nobody = server_for_endpoint("http://127.0.0.1:9")  # local, but nothing listens there
    assert nobody.kind == "local" and nobody.pid is None and "nothing listens on port 9" in nobody.label


def test_fast_rate_while_asked_and_base_rate_otherwise() -> None:
    sampler = MemorySampler(interval_s=0.25, fast_interval_s=0.05).start()
    try:
        time.sleep(0.6)
        with sampler.fast():
            assert sampler.is_fast
            time.sleep(0.6)
        time.sleep(0.6)
    finally:
        sampler.stop()
    t = sampler.history()["t"]
    gaps = np.diff(t)
    assert ((gaps > 0.04) & (gaps < 0.1)).sum() >= 6  # ~12 fast gaps expected
    assert (gaps > 0.2).sum() >= 3  # the slow ones before and after
    assert not sampler.is_fast


def test_uss_and_swap_refresh_at_the_slow_rate() -> None:
    sampler = MemorySampler(slow_interval_s=10.0)
    first = sampler.sample_now()
    second = sampler.sample_now()
    assert first.process_uss_mb > 0 and second.process_uss_mb == first.process_uss_mb
    assert first.swap_total_mb >= 0


def test_cpu_percent_of_a_busy_thread() -> None:
    sampler = MemorySampler()
    sampler.sample_now()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    sample = sampler.sample_now()
    assert 40 < sample.cpu_process_pct < 400
    assert 0 <= sample.cpu_system_pct <= 100


def test_ring_set_aligns_series_that_appear_late() -> None:
    rings = RingSet(4)
    rings.push({"t": 1.0, "a": 10.0})
    rings.push({"t": 2.0, "a": 11.0, "b": 5.0})
    rings.push({"t": 3.0, "a": 12.0})
    tail = rings.tail(3)
    assert list(tail["t"]) == [1.0, 2.0, 3.0]
    assert np.isnan(tail["b"][0]) and tail["b"][1] == 5.0 and np.isnan(tail["b"][2])
    for i in range(4, 9):
        rings.push({"t": float(i), "a": float(i)})
    assert list(rings.tail(10)["t"]) == [5.0, 6.0, 7.0, 8.0]


def test_keep_s_holds_more_than_the_default_history_window() -> None:
    sampler = MemorySampler(interval_s=0.01, window_s=0.05, keep_s=10.0)
    for _ in range(30):
        sampler.sample_now()
        time.sleep(0.005)
    assert len(sampler.timeline()) == 30
    assert len(sampler.history()["ram_used"]) < 30


# -- NVML through the fake -------------------------------------------------------------------------------------


def test_gpu_figures_and_per_process_memory() -> None:
    other = 999_999
    gpu = FakeGpu(
        "NVIDIA L4",
        23034,
        4096,
        energy_mj=5_000_000,
        util_pct=37,
        power_mw=72_500,
        temp_c=51,
        processes={os.getpid(): 1024, other: 2048},
    )
    reader = GpuReader(FakeNvml([gpu]).module())
    (row,) = reader.read(our_pid=os.getpid(), server_pid=other)
    assert (row.used_mb, row.total_mb, row.util_pct, row.power_w, row.temp_c) == (4096, 23034, 37, 72.5, 51)
    assert row.energy_j == 5000.0
    assert (row.process_mb, row.server_mb, row.processes_note) == (1024, 2048, None)
    gpu.processes = {}
    (row,) = reader.read(our_pid=os.getpid(), server_pid=other, processes=False)
    assert row.process_mb == 1024  # process lists are refreshed only when asked (the slow rate)
    (row,) = reader.read(our_pid=os.getpid(), server_pid=other)
    assert row.process_mb == 0 and row.server_mb == 0


def test_gpu_optional_readings_not_supported_or_no_permission() -> None:
    gpu = FakeGpu("Old GPU", 8000, 100, power_mw=None, process_error="Insufficient Permissions")
    reader = GpuReader(FakeNvml([gpu]).module())
    (row,) = reader.read(our_pid=os.getpid())
    assert row.power_w is None and row.energy_j is None  # "Not Supported": skipped
    assert row.process_mb is None and row.processes_note == "no permission"
    assert row.used_mb == 100 and reader.reason is None


def test_sampler_with_gpus_absent_denied_or_lost() -> None:
    assert GpuReader(FakeNvml(init_error="Insufficient Permissions").module()).reason == (
        "no NVIDIA GPU (Insufficient Permissions)"
    )
    fake = FakeNvml([FakeGpu("A", 1000, 10, processes={os.getpid(): 5}), FakeGpu("B", 2000, 20)])
    sampler = MemorySampler(nvml=fake.module())
    sampler.open_gpus()
    sample = sampler.sample_now()
    assert [(g.index, g.process_mb, g.server_mb) for g in sample.gpus] == [(0, 5, 5), (1, 0, 0)]
    fake.gpus[1].lost = True
    sample = sampler.sample_now()
    assert [g.index for g in sample.gpus] == [0]
    assert sampler.gpu_reason == "GPU 1 unavailable (GPU is lost)"
    timeline = sampler.timeline()
    assert timeline.gpu_indices() == [0, 1] and np.isnan(timeline.get("gpu1_used")[-1])
    assert timeline.gpu_names == {0: "A"}
    sampler.stop()
    assert fake.shutdowns == 1


def test_sampler_thread_survives_a_lost_gpu() -> None:
    fake = FakeNvml([FakeGpu("A", 1000, 10)])
    sampler = MemorySampler(interval_s=0.02, nvml=fake.module()).start()
    try:
        deadline = time.monotonic() + 5
        while not sampler.history().get("gpu0_used", np.empty(0)).size and time.monotonic() < deadline:
            time.sleep(0.02)
        fake.gpus[0].lost = True
        count = sampler.samples_taken
        while sampler.samples_taken < count + 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sampler.samples_taken >= count + 5
        assert sampler.latest() is not None and sampler.latest().gpus == ()  # type: ignore[union-attr]
        assert sampler.gpu_reason == "GPU 0 unavailable (GPU is lost)"
    finally:
        sampler.stop()


def test_no_pynvml_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    reader = GpuReader()
    assert reader.reason == "no NVIDIA GPU (pynvml not installed)" and reader.read() == ()

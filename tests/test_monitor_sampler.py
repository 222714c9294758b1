"""The sampler against real processes (a child that allocates memory, a local server found by its port) and
against a fake NVML inside the sampler (absent, no permission, a GPU that is lost). The arithmetic on the clock is in
test_monitor_clock.py; NVML itself in test_nvml.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import psutil
import pytest

from foundry_tui.engine.monitor import (
    MB,
    MemorySampler,
    RingSet,
    is_local_endpoint,
    is_local_host,
    server_for_endpoint,
)
from foundry_tui.engine.monitor.procfs import PROC_ERRORS, ProcFiles, meminfo_kb, open_proc_files
from tests.fake_pynvml import FakeGpu, FakeNvml

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


def test_fast_wakes_the_thread_at_once() -> None:
    """A real thread: at 10 s a sample it would take most of a minute to get 6 samples; fast() must wake it now."""
    sampler = MemorySampler(interval_s=10.0, window_s=120.0, fast_interval_s=0.01).start()
    try:
        assert sampler.wait_for_samples(1, timeout=5)  # the first sample, then a 30 s wait
        with sampler.fast():
            assert sampler.is_fast and sampler.current_interval() == 0.01
            assert sampler.wait_for_samples(6, timeout=5)
        assert not sampler.is_fast and sampler.current_interval() == 10.0
    finally:
        sampler.stop()
    gaps = np.diff(sampler.history()["t"])
    assert len(gaps) >= 5 and float(np.median(gaps)) < 1.0


def test_uss_and_swap_refresh_at_the_slow_rate() -> None:
    sampler = MemorySampler(slow_interval_s=10.0)
    first = sampler.sample_now()
    second = sampler.sample_now()
    assert first.process_uss_mb > 0 and second.process_uss_mb == first.process_uss_mb
    assert first.swap_total_mb >= 0


def test_cpu_percent_of_a_busy_thread() -> None:
    sampler = MemorySampler()
    sampler.sample_now()
    deadline = time.process_time() + 0.15
    while time.process_time() < deadline:
        pass
    sample = sampler.sample_now()
    cpus = psutil.cpu_count() or 1
    assert 40 < sample.cpu_process_pct <= 100 * cpus
    assert 0 <= sample.cpu_system_pct <= 100


def test_ring_set_aligns_series_that_appear_late() -> None:
    rings = RingSet(4)
    rings.push({"t": 1.0, "a": 10.0})
    rings.push({"t": 2.0, "a": 11.0, "b": 5.0})
    rings.push({"t": 3.0, "a": 12.0})
    tail = rings.tail(3)
    assert list(tail["t"]) == [1.0, 2.0, 3.0]
    assert np.isnan(tail["b"][0]) and tail["b"][1] == 5.0 and np.isnan(tail["b"][2])
    column = rings.column("b")
    assert column is not None and len(column) == 3 and column[1] == 5.0 and rings.column("c") is None
    for i in range(4, 9):
        rings.push({"t": float(i), "a": float(i)})
    assert list(rings.tail(10)["t"]) == [5.0, 6.0, 7.0, 8.0]
    column = rings.column("a")
    assert column is not None and list(column) == [5.0, 6.0, 7.0, 8.0]


# -- NVML through the fake, inside the sampler -----------------------------------------------------------------


def test_sampler_with_gpus_absent_denied_or_lost() -> None:
    denied = MemorySampler(nvml=FakeNvml(init_error="Insufficient Permissions").module())
    denied.open_gpus()
    assert denied.sample_now().gpus == ()
    assert denied.gpu_reason == "no NVIDIA GPU: NVML unavailable (Insufficient Permissions)"
    denied.stop()
    fake = FakeNvml([FakeGpu("A", 1000, 10, processes={os.getpid(): 5}), FakeGpu("B", 2000, 20)])
    sampler = MemorySampler(nvml=fake.module())
    assert sampler.gpu_reason is None and sampler.sample_now().gpus == ()  # NVML not opened yet: no GPU rows
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
    sampler.stop()
    assert fake.shutdowns == 1
    assert sampler.gpu_reason == "GPU 1 unavailable (GPU is lost)"  # still says why after stop (the CLI prints it)


def test_sampler_thread_survives_a_lost_gpu() -> None:
    fake = FakeNvml([FakeGpu("A", 1000, 10)])
    sampler = MemorySampler(interval_s=0.02, nvml=fake.module()).start()
    try:
        assert sampler.wait_for_samples(2, timeout=5)
        assert sampler.history()["gpu0_used"][-1] == 10
        fake.gpus[0].lost = True
        count = sampler.samples_taken
        assert sampler.wait_for_samples(count + 5, timeout=5)
        latest = sampler.latest()
        assert latest is not None and latest.gpus == ()
        assert sampler.gpu_reason == "GPU 0 unavailable (GPU is lost)"
    finally:
        sampler.stop()


# -- the /proc fast path ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="Linux /proc only")
def test_proc_files_agree_with_psutil() -> None:
    system, ours = open_proc_files(), open_proc_files(os.getpid())
    assert system is not None and ours is not None
    total, available, swap_total, _ = system.memory()
    assert total == psutil.virtual_memory().total / MB
    assert available == pytest.approx(psutil.virtual_memory().available / MB, rel=0.05)
    assert swap_total == psutil.swap_memory().total / MB
    rss, cpu_s = ours.process()
    assert rss == pytest.approx(psutil.Process().memory_info().rss / MB, rel=0.05)
    assert cpu_s == pytest.approx(sum(psutil.Process().cpu_times()[:2]), abs=0.05)
    system.close()
    ours.close()


def test_meminfo_parsing_and_the_psutil_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    meminfo = b"MemTotal:       24684084 kB\nMemFree:  1 kB\nMemAvailable:   24202608 kB\nSwapTotal:  0 kB\n"
    assert meminfo_kb(meminfo, b"MemTotal:") == 24684084 and meminfo_kb(meminfo, b"MemAvailable:") == 24202608
    with pytest.raises(PROC_ERRORS):  # no SwapFree line: what the sampler catches
        meminfo_kb(meminfo, b"SwapFree:")

    def unexpected(self: ProcFiles) -> tuple[float, float, float, float]:
        raise ValueError("subsection not found")  # what meminfo_kb raises for a line that is not there

    monkeypatch.setattr(ProcFiles, "memory", unexpected)
    sampler = MemorySampler()
    sample = sampler.sample_now()  # /proc says something unexpected: psutil from then on, not an exception
    assert sample.ram_total_mb == psutil.virtual_memory().total / MB
    assert sampler._system_files is None
    sampler.stop()

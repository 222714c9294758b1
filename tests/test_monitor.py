"""The memory sampler (psutil + NVML) and the load/unload reports built on it."""

from __future__ import annotations

import numpy as np
import pytest

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySampler, Ring
from tests.conftest import TINY_ID
from tests.fake_pynvml import FakeGpu, FakeNvml


def test_ring_keeps_the_last_values_in_order() -> None:
    ring = Ring(3)
    assert list(ring.values()) == []
    for value in (1, 2, 3, 4, 5):
        ring.push(value)
    assert list(ring.values()) == [3, 4, 5]
    assert len(ring) == 3


def test_sampler_fills_history_on_its_own_thread() -> None:
    fake = FakeNvml([FakeGpu("NVIDIA L4", 23034, 512)])
    sampler = MemorySampler(interval_s=0.02, window_s=1.0, nvml=fake.module())
    sampler.start()
    try:
        assert sampler.wait_for_samples(5, timeout=5)
        sample = sampler.latest()
        assert sample is not None
        assert 0 < sample.ram_used_mb < sample.ram_total_mb
        assert sample.process_rss_mb > 10
        assert [(g.name, g.used_mb, g.total_mb) for g in sample.gpus] == [("NVIDIA L4", 512.0, 23034.0)]
        history = sampler.history()
        assert len(history["ram_used"]) >= 5 and len(history["gpu0_used"]) >= 5
        assert len(history["ram_used"]) <= 50  # window 1 s / 0.02 s
    finally:
        sampler.stop()
    assert fake.shutdowns == 1  # the thread opened NVML; stop() released it


def test_rss_follows_an_allocation() -> None:
    sampler = MemorySampler(interval_s=1.0)
    before = sampler.sample_now().process_rss_mb
    block = np.ones(200 * 1_048_576 // 8)  # 200 MB, touched
    after = sampler.sample_now().process_rss_mb
    assert after - before == pytest.approx(200, rel=0.1)
    del block


@pytest.mark.runtime
def test_load_and_unload_reports(runtime: FoundryBackend) -> None:
    lifecycle = ModelLifecycle(runtime, MemorySampler())
    entry, report = lifecycle.load(TINY_ID)
    assert entry.loaded and report.model == TINY_ID
    assert 0 < report.load_s < 30
    assert report.rss_before_mb > 0 and report.rss_after_mb > 0
    unload = lifecycle.unload(TINY_ID)
    assert unload.model == TINY_ID
    assert unload.residue_mb == pytest.approx(unload.rss_after_mb - report.rss_before_mb)
    assert TINY_ID not in {m.id for m in runtime.list_loaded()}

"""GPU probing through a fake NVML: present, absent, no permission, device lost."""

from __future__ import annotations

import sys

import pytest

from foundry_tui.engine.nvml import probe_nvml
from tests.fake_pynvml import FakeGpu, FakeNvml


def install(monkeypatch: pytest.MonkeyPatch, fake: FakeNvml | None) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake.module() if fake else None)


def test_two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu("NVIDIA H100", 81559, 1024), FakeGpu("NVIDIA L4", 23034, 0)])
    install(monkeypatch, fake)
    status = probe_nvml()
    assert status.available and status.reason is None
    assert status.driver_version == "560.35.03"
    assert [(d.index, d.name, d.memory_total_mb, d.memory_used_mb) for d in status.devices] == [
        (0, "NVIDIA H100", 81559, 1024),
        (1, "NVIDIA L4", 23034, 0),
    ]
    assert fake.shutdowns == 1


def test_module_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None)
    status = probe_nvml()
    assert not status.available and "nvidia-ml-py" in (status.reason or "")


def test_no_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeNvml(init_error="Insufficient Permissions"))
    status = probe_nvml()
    assert not status.available
    assert status.reason == "no NVIDIA GPU: NVML unavailable (Insufficient Permissions)"


def test_device_lost_while_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu("NVIDIA A10", 22731, 0, lost=True)])
    install(monkeypatch, fake)
    status = probe_nvml()
    assert not status.available and "GPU is lost" in (status.reason or "")
    assert fake.shutdowns == 1  # NVML is shut down even when reading fails


def test_zero_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeNvml([]))
    assert probe_nvml().reason == "no NVIDIA GPU: NVML reports 0 devices"


def test_real_machine_never_raises() -> None:
    status = probe_nvml()  # no GPU here: a clear state, not an exception
    assert status.available or status.reason

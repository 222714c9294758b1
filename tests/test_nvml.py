"""NVML through engine.monitor.gpu and a fake pynvml: the shared session, the one-shot probe, the sampler's reader,
the energy counter — present, absent, no permission, a GPU that is lost — and one wording for each state."""

from __future__ import annotations

import os
import sys

import pynvml
import pytest

from foundry_tui.engine.energy import NvmlEnergy
from foundry_tui.engine.monitor import GpuReader
from foundry_tui.engine.monitor.gpu import (
    NO_DEVICES,
    PYNVML_MISSING,
    NvmlSession,
    classify,
    nvml_holders,
    probe_nvml,
)
from tests.fake_pynvml import FakeGpu, FakeNvml, NVMLError


def hide_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)


# -- the probe (doctor, the benchmark's environment block) ---------------------------------------------------


def test_probe_two_gpus() -> None:
    fake = FakeNvml([FakeGpu("NVIDIA H100", 81559, 1024), FakeGpu("NVIDIA L4", 23034, 0)])
    status = probe_nvml(fake.module())
    assert status.available and status.reason is None
    assert status.driver_version == "560.35.03"
    assert [(d.index, d.name, d.memory_total_mb, d.memory_used_mb) for d in status.devices] == [
        (0, "NVIDIA H100", 81559, 1024),
        (1, "NVIDIA L4", 23034, 0),
    ]
    assert (fake.inits, fake.shutdowns, nvml_holders(fake.module())) == (1, 1, 0)


def test_probe_through_the_installed_module(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu("NVIDIA L4", 23034, 0)])
    monkeypatch.setitem(sys.modules, "pynvml", fake.module())
    assert [d.name for d in probe_nvml().devices] == ["NVIDIA L4"]


def test_probe_states() -> None:
    denied = probe_nvml(FakeNvml(init_error="Insufficient Permissions").module())
    assert not denied.available
    assert denied.reason == "no NVIDIA GPU: NVML unavailable (Insufficient Permissions)"
    none = probe_nvml(FakeNvml([]).module())
    assert (none.available, none.reason, none.driver_version) == (False, NO_DEVICES, "560.35.03")


def test_probe_with_a_lost_gpu_keeps_the_others() -> None:
    fake = FakeNvml([FakeGpu("NVIDIA A10", 22731, 0), FakeGpu("NVIDIA A10", 22731, 0, lost=True)])
    status = probe_nvml(fake.module())
    assert status.available and [d.index for d in status.devices] == [0]
    assert status.reason == "GPU 1 unavailable (GPU is lost)"
    only = FakeNvml([FakeGpu("NVIDIA A10", 22731, 0, lost=True)])
    status = probe_nvml(only.module())
    assert not status.available and status.reason == "GPU 0 unavailable (GPU is lost)"
    assert only.shutdowns == 1  # NVML is shut down even when reading fails


def test_real_machine_never_raises() -> None:
    status = probe_nvml()  # no GPU here: a clear state, not an exception
    assert status.available or (status.reason or "").startswith("no NVIDIA GPU")


# -- one wording per state, whoever asks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fake", "reason"),
    [
        (FakeNvml(init_error="Driver Not Loaded"), "no NVIDIA GPU: NVML unavailable (Driver Not Loaded)"),
        (FakeNvml(init_error="Insufficient Permissions"), "no NVIDIA GPU: NVML unavailable (Insufficient Permissions)"),
        (FakeNvml([]), "no NVIDIA GPU: NVML reports 0 devices"),
        (FakeNvml([FakeGpu("A", 1, 0, lost=True)]), "GPU 0 unavailable (GPU is lost)"),
    ],
)
def test_every_user_words_a_state_the_same(fake: FakeNvml, reason: str) -> None:
    module = fake.module()
    reader, energy = GpuReader(module), NvmlEnergy(module)
    assert reader.reason == energy.state.detail == probe_nvml(module).reason == reason
    assert reader.read() == () and energy.read_j() is None
    reader.close()
    energy.close()
    assert nvml_holders(module) == 0


def test_every_user_says_pynvml_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_pynvml(monkeypatch)
    reader = GpuReader()
    assert reader.reason == NvmlEnergy().state.detail == probe_nvml().reason == PYNVML_MISSING
    assert PYNVML_MISSING == "no NVIDIA GPU (pynvml not installed)"
    assert reader.read() == ()
    reader.close()


# -- one initialisation, several holders ---------------------------------------------------------------------


def test_holders_share_one_init_and_the_last_shuts_down() -> None:
    fake = FakeNvml([FakeGpu("NVIDIA L4", 23034, 512, energy_mj=2_000)])
    module = fake.module()
    reader = GpuReader(module)
    energy = NvmlEnergy(module)
    assert (fake.inits, nvml_holders(module)) == (1, 2)
    reader.close()
    reader.close()  # twice: still one release
    assert fake.shutdowns == 0 and energy.read_j() == 2.0  # the counter still works after the reader let go
    energy.close()
    assert (fake.inits, fake.shutdowns, nvml_holders(module)) == (1, 1, 0)
    again = NvmlSession(module)  # a later holder starts NVML again
    assert again.available and fake.inits == 2
    again.close()


def test_a_failed_init_is_never_shut_down() -> None:
    fake = FakeNvml(init_error="Driver Not Loaded")
    session = NvmlSession(fake.module())
    assert not session.available and session.driver_version() is None
    session.close()
    assert fake.shutdowns == 0 and nvml_holders(fake.module()) == 0


def test_errors_are_classified_by_code_or_text() -> None:
    # The installed pynvml's own exceptions carry the code (no GPU needed to build one).
    assert classify(pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)) == "lost"
    assert classify(pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION)) == "permission"
    assert classify(pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)) == "unsupported"
    assert classify(pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)) == "absent"
    # A binding that carries only the text.
    assert classify(NVMLError("GPU is lost")) == "lost"
    assert classify(NVMLError("GPU requires restart")) == "lost"
    assert classify(NVMLError("Not Supported")) == "unsupported"
    assert classify(NVMLError("Insufficient Permissions")) == "permission"
    assert classify(NVMLError("Driver Not Loaded")) == "absent"
    assert classify(NVMLError("Unknown Error")) == "other"


# -- the sampler's reader ------------------------------------------------------------------------------------


def test_reader_drops_a_gpu_that_is_lost() -> None:
    fake = FakeNvml([FakeGpu("A", 1000, 10), FakeGpu("B", 2000, 20)])
    reader = GpuReader(fake.module())
    assert [g.index for g in reader.read()] == [0, 1] and reader.available
    fake.gpus[1].lost = True
    assert [g.index for g in reader.read()] == [0]  # the lost GPU is dropped, with a reason, no exception
    assert reader.reason == "GPU 1 unavailable (GPU is lost)"
    assert [g.index for g in reader.read()] == [0]
    reader.close()
    assert reader.read() == () and reader.reason == "GPU 1 unavailable (GPU is lost)"  # closed: the reason stays
    assert fake.shutdowns == 1


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
    reader.close()


def test_gpu_optional_readings_not_supported_or_no_permission() -> None:
    gpu = FakeGpu("Old GPU", 8000, 100, power_mw=None, process_error="Insufficient Permissions")
    reader = GpuReader(FakeNvml([gpu]).module())
    (row,) = reader.read(our_pid=os.getpid())
    assert row.power_w is None and row.energy_j is None  # "Not Supported": skipped
    assert row.process_mb is None and row.processes_note == "no permission"
    assert row.used_mb == 100 and reader.reason is None
    gpu.power_mw = 50_000
    (row,) = reader.read(our_pid=os.getpid())
    assert row.power_w is None  # not supported once: not asked again
    reader.close()

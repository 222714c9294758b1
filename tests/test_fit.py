"""The fit check: a model's size with headroom against free RAM / VRAM, and where it warns (CLI chat)."""

from __future__ import annotations

import argparse
import dataclasses
import threading
from pathlib import Path

import pytest

from foundry_tui.backends.base import ModelEntry
from foundry_tui.commands.chat import run_chat
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend
from foundry_tui.devtools.memory_backend import entry as memory_entry
from foundry_tui.engine.fit import HEADROOM_FACTOR, HEADROOM_MB, check_fit, required_mb
from foundry_tui.engine.monitor import GpuMemory, MemorySample
from foundry_tui.engine.session import Session
from tests.tui.fixed_sampler import FixedSampler

SAMPLE = MemorySample(t=0.0, ram_used_mb=8192.0, ram_total_mb=16384.0, ram_available_mb=8192.0, process_rss_mb=100.0)
GPU_SAMPLE = dataclasses.replace(
    SAMPLE, gpus=(GpuMemory(0, "NVIDIA L4", 20000.0, 23034.0), GpuMemory(1, "NVIDIA H100", 1000.0, 81559.0))
)


def entry(size_mb: int | None, device: str | None = "CPU", loaded: bool = False) -> ModelEntry:
    return ModelEntry(id="m-generic-cpu:1", alias="m", source="public", size_mb=size_mb, device=device, loaded=loaded)


def test_headroom_definition() -> None:
    assert (HEADROOM_FACTOR, HEADROOM_MB) == (1.2, 512.0)
    assert required_mb(1000) == 1712.0


def test_fits_in_ram_and_does_not() -> None:
    ok = check_fit(entry(6000), SAMPLE)  # 6000 × 1.2 + 512 = 7712 ≤ 8192
    assert (ok.fits, ok.target, ok.need_mb, ok.free_mb) == (True, "RAM", 7712.0, 8192.0)
    assert ok.message == (
        "m-generic-cpu:1 fits in RAM: needs 7.53 GB (5.86 GB × 1.2 + 512 MB headroom), 8.00 GB available of 16.0 GB"
    )
    tight = check_fit(entry(6500), SAMPLE)  # 8312 > 8192
    assert tight.fits is False and tight.warn
    assert tight.message == (
        "m-generic-cpu:1 may not fit in RAM: needs 8.12 GB (6.35 GB × 1.2 + 512 MB headroom), 8.00 GB available of "
        "16.0 GB"
    )


def test_gpu_variants_check_the_gpu_with_most_room() -> None:
    check = check_fit(entry(50000, "GPU"), GPU_SAMPLE)  # 60512 needed, H100 has 80559 free
    assert (check.fits, check.target, check.free_mb) == (True, "VRAM", 80559.0)
    assert "VRAM (GPU 1)" in check.message
    big = check_fit(entry(70000, "GPU"), GPU_SAMPLE)
    assert big.fits is False and "may not fit in VRAM (GPU 1): needs 82.5 GB" in big.message
    unknown = check_fit(entry(1000, "GPU"), SAMPLE, gpu_reason="no NVIDIA GPU (NVML Shared Library Not Found)")
    assert unknown.fits is None and not unknown.warn
    assert "VRAM not measurable (no NVIDIA GPU (NVML Shared Library Not Found))" in unknown.message


def test_not_checked_cases() -> None:
    remote = check_fit(entry(10**6), SAMPLE, endpoint="http://10.255.255.1:8080/v1")
    assert (remote.fits, remote.target, remote.message) == (None, "remote", "m-generic-cpu:1: remote — fit not checked")
    local = check_fit(entry(10**6), SAMPLE, endpoint="http://127.0.0.1:5273")
    assert local.fits is False and local.target == "RAM"  # a server on this machine shares its memory
    assert check_fit(entry(None), SAMPLE).message.endswith("size unknown — fit not checked")
    assert check_fit(entry(10**6, loaded=True), SAMPLE).fits is None
    assert check_fit(entry(10), None).fits is None


def chat_args(model: str) -> argparse.Namespace:
    return argparse.Namespace(model=model, prompt="hi", system=None, json=False)


def session_with(size_mb: int, tmp_path: Path, endpoint: str | None = None) -> tuple[Session, MemoryBackend]:
    backend = MemoryBackend(catalog=[memory_entry("m-generic-cpu:1", size_mb=size_mb)], cached={"m-generic-cpu:1"})
    backend.endpoint = endpoint
    settings = Settings(data_dir=tmp_path, endpoint=endpoint)
    return Session(settings, backend=backend, sampler=FixedSampler(SAMPLE)), backend


def test_session_fit_uses_the_sampler_and_says_remote(tmp_path: Path) -> None:
    session, _ = session_with(10**8, tmp_path)
    huge = session.fit("m")
    assert huge.fits is False and huge.target == "RAM" and huge.free_mb == 8192.0
    remote, _ = session_with(10**8, tmp_path, "http://10.255.255.1:1234/v1")
    assert remote.fit("m").target == "remote"


def test_cli_chat_warns_with_the_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    session, backend = session_with(10**8, tmp_path)
    assert run_chat(session, chat_args("m")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(
        "warning: m-generic-cpu:1 may not fit in RAM: needs 117188.0 GB (97656.2 GB × 1.2 + 512 MB headroom), "
    )
    assert "available of" in err[0]
    assert "m-generic-cpu:1" in backend.loaded  # a warning, not a refusal


def test_cli_chat_notes_a_remote_server(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    session, _ = session_with(10**8, tmp_path, "http://10.255.255.1:1234/v1")
    assert run_chat(session, chat_args("m")) == 0
    assert capsys.readouterr().err.splitlines()[0] == "note: m-generic-cpu:1: remote — fit not checked"


def test_cli_chat_is_quiet_when_it_fits(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    session, _ = session_with(1, tmp_path)
    assert run_chat(session, chat_args("m")) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("m-generic-cpu:1 · TTFT")
    assert "(cold start)" in err[0]  # it had to load the model first


def test_fit_check_takes_no_lock_on_the_ui_thread() -> None:
    # check_fit is pure: safe to call from the UI thread with the sampler's latest figures.
    done = threading.Event()

    def call() -> None:
        check_fit(entry(10), SAMPLE, endpoint="http://my-host.example:80")
        done.set()

    threading.Thread(target=call).start()
    assert done.wait(1)

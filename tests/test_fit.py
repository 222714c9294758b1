"""The fit check: a model's size with headroom against free RAM / VRAM, and where it warns (CLI chat)."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from foundry_tui.backends.base import BackendInfo, DoneEvent, ModelEntry, StreamEvent, TokenEvent
from foundry_tui.commands.chat import run_chat
from foundry_tui.config import Settings
from foundry_tui.engine.fit import HEADROOM_FACTOR, HEADROOM_MB, check_fit, check_model_fit, required_mb
from foundry_tui.engine.monitor import GpuMemory, MemorySample

SAMPLE = MemorySample(t=0.0, ram_used_mb=8192.0, ram_total_mb=16384.0, ram_available_mb=8192.0, process_rss_mb=100.0)
GPU_SAMPLE = MemorySample(
    t=0.0,
    ram_used_mb=8192.0,
    ram_total_mb=16384.0,
    ram_available_mb=8192.0,
    process_rss_mb=100.0,
    gpus=(GpuMemory(0, "NVIDIA L4", 20000.0, 23034.0), GpuMemory(1, "NVIDIA H100", 1000.0, 81559.0)),
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
        "m-generic-cpu:1 fits in RAM: needs 7.5 GB (5.9 GB × 1.2 + 512 MB headroom), 8.0 GB available of 16.0 GB"
    )
    tight = check_fit(entry(6500), SAMPLE)  # 8312 > 8192
    assert tight.fits is False and tight.warn
    assert tight.message == (
        "m-generic-cpu:1 may not fit in RAM: needs 8.1 GB (6.3 GB × 1.2 + 512 MB headroom), 8.0 GB available of 16.0 GB"
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


class StubBackend:
    """A management backend with one huge model whose stream answers 'ok'."""

    def __init__(self, size_mb: int, endpoint: str | None = None) -> None:
        self.size_mb = size_mb
        self.endpoint = endpoint
        self.loaded = False

    def info(self) -> BackendInfo:
        kind = "endpoint" if self.endpoint else "foundry-local"
        return BackendInfo(kind=kind, label="stub", endpoint=self.endpoint, management=True)  # type: ignore[arg-type]

    def resolve(self, model: str) -> ModelEntry:
        return entry(self.size_mb)

    def load(self, model: str) -> ModelEntry:
        self.loaded = True
        return entry(self.size_mb, loaded=True)

    def stream_chat(self, model: str, messages: Any, options: Any) -> Any:
        class Stream:
            model_id = model
            t_sent_ns = 1

            def __iter__(self) -> Iterator[StreamEvent]:
                yield TokenEvent("ok", 2)
                yield DoneEvent(3, "stop")

            def cancel(self) -> None:
                pass

        return Stream()


def test_check_model_fit_for_bench() -> None:
    huge = check_model_fit(StubBackend(10**8), "m")  # type: ignore[arg-type]
    assert huge.fits is False and huge.target == "RAM" and huge.free_mb is not None and huge.free_mb > 0
    tiny = check_model_fit(StubBackend(1), "m", SAMPLE)  # type: ignore[arg-type]
    assert tiny.fits is True
    remote = check_model_fit(StubBackend(10**8, "http://10.255.255.1:1234/v1"), "m")  # type: ignore[arg-type]
    assert remote.target == "remote" and remote.fits is None


def chat_args() -> argparse.Namespace:
    return argparse.Namespace(model="m", prompt="hi", system=None, json=False)


def test_cli_chat_warns_with_the_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    backend = StubBackend(10**8)
    assert run_chat(backend, Settings(data_dir=tmp_path), chat_args()) == 0  # type: ignore[arg-type]
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(
        "warning: m-generic-cpu:1 may not fit in RAM: needs 117188.0 GB (97656.2 GB × 1.2 + 512 MB headroom), "
    )
    assert "available of" in err[0]
    assert backend.loaded  # a warning, not a refusal


def test_cli_chat_notes_a_remote_server(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    backend = StubBackend(10**8, "http://10.255.255.1:1234/v1")
    assert run_chat(backend, Settings(data_dir=tmp_path), chat_args()) == 0  # type: ignore[arg-type]
    assert capsys.readouterr().err.splitlines()[0] == "note: m-generic-cpu:1: remote — fit not checked"


def test_cli_chat_is_quiet_when_it_fits(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    assert run_chat(StubBackend(1), Settings(data_dir=tmp_path), chat_args()) == 0  # type: ignore[arg-type]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("m-generic-cpu:1 · TTFT")


def test_fit_check_takes_no_lock_on_the_ui_thread() -> None:
    # check_fit is pure: safe to call from the UI thread with the sampler's latest figures.
    done = threading.Event()

    def call() -> None:
        check_fit(entry(10), SAMPLE, endpoint="http://my-host.example:80")
        done.set()

    threading.Thread(target=call).start()
    assert done.wait(1)

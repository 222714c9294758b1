"""The fit check: files + KV cache + runtime (genai_config models) or the size rule, against free RAM / VRAM, and
where it warns (CLI chat)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import threading
from pathlib import Path

import pytest

from foundry_tui.backends.base import ModelEntry
from foundry_tui.backends.genai_config import read_genai_config
from foundry_tui.commands.chat import run_chat
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend
from foundry_tui.devtools.memory_backend import entry as memory_entry
from foundry_tui.devtools.tiny_model import build_tiny_model
from foundry_tui.engine.fit import (
    HEADROOM_FACTOR,
    HEADROOM_MB,
    MIN_COMPARABLE_MB,
    RUNTIME_BASELINE_MB,
    WORKING_TOKENS,
    FitEstimate,
    check_fit,
    estimate,
    estimate_error_pct,
    estimate_for,
    required_mb,
)
from foundry_tui.engine.monitor import GpuMemory, MemorySample
from foundry_tui.engine.session import Session
from tests.test_genai_config import smollm2_like
from tests.tui.fixed_sampler import FixedSampler

SAMPLE = MemorySample(t=0.0, ram_used_mb=8192.0, ram_total_mb=16384.0, ram_available_mb=8192.0, process_rss_mb=100.0)
GPU_SAMPLE = dataclasses.replace(
    SAMPLE, gpus=(GpuMemory(0, "NVIDIA L4", 20000.0, 23034.0), GpuMemory(1, "NVIDIA H100", 1000.0, 81559.0))
)
SMOL_FILES_MB = 258.0


def entry(size_mb: int | None, device: str | None = "CPU", loaded: bool = False, path: str | None = None) -> ModelEntry:
    return ModelEntry(
        id="m-generic-cpu:1", alias="m", source="public", size_mb=size_mb, device=device, loaded=loaded, path=path
    )


@pytest.fixture
def smol_dir(tmp_path: Path) -> Path:
    """SmolLM2's config with 258 MB of (sparse) weights: the estimate reads sizes, never the bytes."""
    directory = smollm2_like(tmp_path / "smol")
    with (directory / "model.onnx.data").open("wb") as fh:
        fh.truncate(int(SMOL_FILES_MB * 2**20) - os.path.getsize(directory / "genai_config.json"))
    return directory


# -- the estimate ------------------------------------------------------------------------------------------------


def test_smollm2_estimate_is_files_plus_kv_plus_runtime(smol_dir: Path) -> None:
    est = estimate(entry(1), read_genai_config(smol_dir))
    assert est is not None and est.rule == "genai_config"
    assert est.files_mb == pytest.approx(SMOL_FILES_MB)  # the directory's size wins over the catalog's
    assert est.kv_mb == 360.0 and est.baseline_mb == RUNTIME_BASELINE_MB == 14.0
    assert est.load_mb == pytest.approx(SMOL_FILES_MB + 14.0)  # after the load: no KV cache yet
    assert est.total_mb == pytest.approx(SMOL_FILES_MB + 360.0 + 14.0)
    assert est.describe() == "files 258 MB + KV cache 360 MB (fp32 assumed, 8192 tokens, one buffer) + runtime 14 MB"


def test_the_tiny_models_estimate_says_its_cache_grows(tmp_path: Path) -> None:
    directory = build_tiny_model(tmp_path / "tiny")
    est = estimate_for(entry(None, path=str(directory)))
    assert est is not None and est.rule == "genai_config"
    assert est.kv_mb == 4096 / 2**20  # 2 × 1 layer × 1 head × head size 1 × 512 tokens × 4 bytes
    files = sum(f.stat().st_size for f in directory.iterdir()) / 2**20
    assert est.files_mb == pytest.approx(files) and est.total_mb == pytest.approx(files + 4096 / 2**20 + 14.0)
    assert "KV cache 4 KB (fp32, grows with the sequence, up to 512 tokens)" in est.describe()


def test_a_growing_cache_of_a_long_context_model_counts_a_working_length(tmp_path: Path) -> None:
    """Phi-3.5-mini-like: 32 layers × 32 KV heads × 96, 131,072 tokens, no shared buffer. At its max length the
    cache would be 96 GB — a bound the runtime never allocates up front; the estimate counts WORKING_TOKENS."""
    directory = smollm2_like(
        tmp_path / "phi", num_hidden_layers=32, num_key_value_heads=32, head_size=96, num_attention_heads=32
    )
    config_path = directory / "genai_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["model"]["context_length"] = 131072
    config["search"] = {"max_length": 131072, "past_present_share_buffer": False}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    est = estimate_for(entry(2700, path=str(directory)))
    assert est is not None and est.kv_mb is not None
    full_mb = 2 * 32 * 32 * 96 * 131072 * 4 / 2**20
    assert full_mb == 98304.0
    assert est.kv_mb == pytest.approx(full_mb * WORKING_TOKENS / 131072) == 3072.0
    assert f"grows: {WORKING_TOKENS} of up to 131072 tokens" in est.describe()


def test_without_a_config_the_size_rule_is_labelled() -> None:
    assert (HEADROOM_FACTOR, HEADROOM_MB) == (1.2, 512.0)
    assert required_mb(1000) == 1712.0
    est = estimate_for(entry(1000))  # a catalog entry, not downloaded: no directory
    assert est == FitEstimate("size", 1000.0, baseline_mb=0.0)
    assert est.total_mb == 1712.0 and est.load_mb is None
    assert est.describe() == "size-based: 1000 MB × 1.2 + 512 MB headroom"
    assert estimate_for(entry(None)) is None


def test_estimate_error_is_relative_to_the_measured_figure() -> None:
    assert estimate_error_pct(632.0, 616.0) == pytest.approx(2.597, abs=1e-3)
    assert estimate_error_pct(272.0, 248.0) == pytest.approx(9.677, abs=1e-3)
    assert estimate_error_pct(100.0, 200.0) == -50.0
    assert estimate_error_pct(None, 10.0) is None and estimate_error_pct(10.0, None) is None
    assert estimate_error_pct(10.0, 0.0) is None and estimate_error_pct(10.0, float("nan")) is None
    assert estimate_error_pct(14.3, MIN_COMPARABLE_MB - 0.1) is None  # a few hundred KB of RSS noise: no ratio


# -- the check -----------------------------------------------------------------------------------------------------


def test_kv_cache_decides_the_fit(smol_dir: Path) -> None:
    est = estimate(entry(258), read_genai_config(smol_dir))
    roomy = check_fit(entry(258), SAMPLE, estimate=est)
    assert (roomy.fits, roomy.target, roomy.free_mb, roomy.estimate) == (True, "RAM", 8192.0, est)
    assert roomy.message == (
        "m-generic-cpu:1 fits in RAM: needs 632 MB (files 258 MB + KV cache 360 MB (fp32 assumed, 8192 tokens, "
        "one buffer) + runtime 14 MB), 8.00 GB available of 16.0 GB"
    )
    tight = dataclasses.replace(SAMPLE, ram_available_mb=500.0)  # the files fit, the KV cache does not
    check = check_fit(entry(258), tight, estimate=est)
    assert check.warn and check.need_mb == pytest.approx(632.0)
    assert check.message.startswith("m-generic-cpu:1 may not fit in RAM: needs 632 MB (files 258 MB + KV cache")
    assert check.message.endswith("500 MB available of 16.0 GB") and "\n" not in check.message
    old_rule = check_fit(entry(258), tight)  # the size rule alone would say 822 MB: a warning too, for other reasons
    assert old_rule.need_mb == pytest.approx(258 * 1.2 + 512)


def test_fits_in_ram_and_does_not_by_the_size_rule() -> None:
    ok = check_fit(entry(6000), SAMPLE)  # 6000 × 1.2 + 512 = 7712 ≤ 8192
    assert (ok.fits, ok.target, ok.need_mb, ok.free_mb) == (True, "RAM", 7712.0, 8192.0)
    assert ok.message == (
        "m-generic-cpu:1 fits in RAM: needs 7.53 GB (size-based: 5.86 GB × 1.2 + 512 MB headroom), 8.00 GB available"
        " of 16.0 GB"
    )
    tight = check_fit(entry(6500), SAMPLE)  # 8312 > 8192
    assert tight.fits is False and tight.warn
    assert tight.message.startswith("m-generic-cpu:1 may not fit in RAM: needs 8.12 GB (size-based: 6.35 GB × 1.2")


def test_gpu_variants_check_the_gpu_with_most_room(smol_dir: Path) -> None:
    check = check_fit(entry(50000, "GPU"), GPU_SAMPLE)  # 60512 needed, H100 has 80559 free
    assert (check.fits, check.target, check.free_mb) == (True, "VRAM", 80559.0)
    assert "VRAM (GPU 1)" in check.message
    big = check_fit(entry(70000, "GPU"), GPU_SAMPLE)
    assert big.fits is False and "may not fit in VRAM (GPU 1): needs 82.5 GB" in big.message
    est = estimate(entry(258, "GPU"), read_genai_config(smol_dir))
    with_kv = check_fit(entry(258, "GPU"), GPU_SAMPLE, estimate=est)
    assert with_kv.fits and with_kv.need_mb == pytest.approx(632.0) and "KV cache 360 MB" in with_kv.message
    unknown = check_fit(entry(1000, "GPU"), SAMPLE, gpu_reason="no NVIDIA GPU (NVML Shared Library Not Found)")
    assert unknown.fits is None and not unknown.warn
    assert "VRAM not measurable (no NVIDIA GPU (NVML Shared Library Not Found))" in unknown.message


def test_not_checked_cases() -> None:
    remote = check_fit(entry(10**6), SAMPLE, endpoint="http://10.255.255.1:8080/v1")
    assert (remote.fits, remote.target, remote.message) == (None, "remote", "m-generic-cpu:1: remote — fit not checked")
    assert remote.estimate is None  # nothing about another machine's memory
    local = check_fit(entry(10**6), SAMPLE, endpoint="http://127.0.0.1:5273")
    assert local.fits is False and local.target == "RAM"  # a server on this machine shares its memory
    assert check_fit(entry(None), SAMPLE).message.endswith("size unknown — fit not checked")
    loaded = check_fit(entry(10**6, loaded=True), SAMPLE)
    assert loaded.fits is None and loaded.estimate is not None  # still estimated, for the Monitor's comparison
    assert check_fit(entry(10), None).fits is None


# -- the session and the CLI ---------------------------------------------------------------------------------------


def session_with(
    size_mb: int, tmp_path: Path, endpoint: str | None = None, path: Path | None = None
) -> tuple[Session, MemoryBackend]:
    model = memory_entry("m-generic-cpu:1", size_mb=size_mb, path=str(path) if path else None)
    backend = MemoryBackend(catalog=[model], cached={"m-generic-cpu:1"})
    backend.endpoint = endpoint
    settings = Settings(data_dir=tmp_path, endpoint=endpoint)
    return Session(settings, backend=backend, sampler=FixedSampler(SAMPLE)), backend


def test_session_fit_uses_the_sampler_and_says_remote(tmp_path: Path) -> None:
    session, _ = session_with(10**8, tmp_path)
    huge = session.fit("m")
    assert huge.fits is False and huge.target == "RAM" and huge.free_mb == 8192.0
    assert huge.estimate is not None and huge.estimate.rule == "size"
    remote, _ = session_with(10**8, tmp_path, "http://10.255.255.1:1234/v1")
    assert remote.fit("m").target == "remote"


def test_session_fit_reads_the_models_genai_config(tmp_path: Path, smol_dir: Path) -> None:
    session, _ = session_with(258, tmp_path, path=smol_dir)
    check = session.fit("m")
    assert check.estimate is not None and check.estimate.rule == "genai_config"
    assert check.estimate.kv_mb == 360.0 and check.need_mb == pytest.approx(632.0)
    session.load("m")  # the runtime's own set-up is paid now: later estimates leave it out
    warm = session.fit("m").estimate
    assert warm is not None and warm.baseline_mb == 0.0 and warm.total_mb == pytest.approx(618.0)
    assert warm.describe().endswith("+ runtime 0 MB (already running)")


def chat_args(model: str) -> argparse.Namespace:
    return argparse.Namespace(model=model, prompt="hi", system=None, json=False)


def test_cli_chat_warns_with_the_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    session, backend = session_with(10**8, tmp_path)
    assert run_chat(session, chat_args("m")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(
        "warning: m-generic-cpu:1 may not fit in RAM: needs 117188.0 GB (size-based: 97656.2 GB × 1.2 + 512 MB "
        "headroom), "
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

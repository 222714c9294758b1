"""Will this model fit? An estimate of what it will take, against free RAM (CPU/NPU variants) or free VRAM (GPU).

The estimate (models with a `genai_config.json`: local ones and downloaded ones) is
    files (the model directory's size) + KV cache (backends.genai_config) + the runtime's own baseline.
Files: weights are read (or mapped) whole. KV cache: 2 × layers × KV heads × head size × tokens × bytes; with
`past_present_share_buffer` the runtime allocates it for the whole context, but RSS shows it only as the requests
touch it (measured: almost none after the first request, all of it after two or three), so it is compared with the
memory after requests, not after the load (and after many requests the runtime may keep a second copy: the estimate
counts one). Without a shared buffer the cache grows with the sequence: the estimate counts a working length of
WORKING_TOKENS (a long chat), not the max length — for a 128k-context model that bound is tens of GB the runtime
never allocates up front, and a warning on every load would be noise. Models without a config (a catalog entry not
downloaded yet) fall back to the older size rule, `size × 1.2 + 512 MB` ("size-based" in the message).

Free RAM is the OS's "available" figure; free VRAM is total − used on the NVIDIA GPU with the most room. For a
server on another machine nothing here is measurable: "remote — fit not checked". A warning, never a refusal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from foundry_tui.backends.base import ModelEntry
from foundry_tui.backends.genai_config import GenaiConfig, read_genai_config
from foundry_tui.engine import units
from foundry_tui.engine.monitor import MemorySample, is_local_endpoint
from foundry_tui.files import dir_size_bytes

HEADROOM_FACTOR = 1.2
HEADROOM_MB = 512.0
RUNTIME_BASELINE_MB = 14.0
"""What loading a model adds to the process beyond its files: the RSS growth of loading the tiny test model
(foundry_tui.devtools.tiny_model, 0.3 MB of files) as the first load in a fresh process, measured 13.7 MB in each
of 3 runs on 2026-12-01 (foundry-local-sdk 2.2.1, onnxruntime 1.31.0, onnxruntime-genai 0.18.0, Linux x86_64,
CPU). A later load in the same process does not pay it again (measured: SmolLM2 after the tiny model, −13 MB), so
the session passes `runtime_warm` once a model was loaded in this process (the in-process runtime only)."""

WORKING_TOKENS = 4096
"""Tokens a growing (unshared) KV cache is estimated for: a long probe chat or benchmark prompt plus its reply."""

MIN_COMPARABLE_MB = 8.0
"""Below this a measured figure is RSS noise (allocator slack, a page table): no estimate error is given for it."""

FitTarget = Literal["RAM", "VRAM", "remote", "unknown"]
EstimateRule = Literal["genai_config", "size"]


def required_mb(size_mb: float) -> float:
    """The size rule (no genai_config.json): size × 1.2 + 512 MB."""
    return size_mb * HEADROOM_FACTOR + HEADROOM_MB


def _mb(mb: float | None) -> str:
    return units.size(mb)


@dataclass(frozen=True)
class FitEstimate:
    """What a model will take (MB), and how that was worked out."""

    rule: EstimateRule
    files_mb: float  # the model's files: its directory's size, else the catalog's size
    kv_mb: float | None = None  # None: unknown (size rule, or the config lacks a dimension)
    baseline_mb: float = RUNTIME_BASELINE_MB
    kv_note: str = ""  # "fp32, 8192 tokens" — the value type and where it came from, the tokens, growth

    @property
    def load_mb(self) -> float | None:
        """Expected right after the load (files + runtime; the KV cache comes with the requests). None for the
        size rule, which only has a total."""
        return self.files_mb + self.baseline_mb if self.rule == "genai_config" else None

    @property
    def total_mb(self) -> float:
        """Expected with the KV cache in use: what the fit check compares with free memory."""
        if self.rule == "size":
            return required_mb(self.files_mb)
        return self.files_mb + (self.kv_mb or 0.0) + self.baseline_mb

    def describe(self) -> str:
        """`files 258 MB + KV cache 360 MB (fp32, 8192 tokens, one buffer) + runtime 14 MB`."""
        if self.rule == "size":
            return f"size-based: {_mb(self.files_mb)} × {HEADROOM_FACTOR:g} + {_mb(HEADROOM_MB)} headroom"
        kv = "KV cache unknown" if self.kv_mb is None else f"KV cache {_mb(self.kv_mb)}"
        note = f" ({self.kv_note})" if self.kv_note else ""
        runtime = f"runtime {_mb(self.baseline_mb)}" if self.baseline_mb else "runtime 0 MB (already running)"
        return f"files {_mb(self.files_mb)} + {kv}{note} + {runtime}"


def kv_note(config: GenaiConfig) -> str:
    source = {"model": "", "provider hint": " by provider", "assumed": " assumed"}[config.kv_dtype_source]
    tokens = config.kv_tokens
    if config.kv_cache_bytes is None:
        return "genai_config.json lacks its dimensions"
    if config.share_buffer:
        return f"{config.kv_dtype}{source}, {tokens} tokens, one buffer"
    if tokens is not None and tokens > WORKING_TOKENS:
        return f"{config.kv_dtype}{source}, grows: {WORKING_TOKENS} of up to {tokens} tokens"
    return f"{config.kv_dtype}{source}, grows with the sequence, up to {tokens} tokens"


def directory_mb(path: str | Path) -> float | None:
    """Sum of the files under `path` (MB); None when it cannot be read."""
    total = dir_size_bytes(path)
    return None if total is None else total / units.MB


def estimate(entry: ModelEntry, config: GenaiConfig | None, *, runtime_warm: bool = False) -> FitEstimate | None:
    """Pure but for the directory's size: the genai_config estimate when there is a config, else the size rule
    (None: no size either). `runtime_warm`: a model was loaded in this process before, so the runtime's own set-up
    is already paid (baseline 0)."""
    if config is not None:
        files = directory_mb(config.directory)
        if files is None and entry.size_mb:
            files = float(entry.size_mb)
        if files is not None:
            kv_bytes = config.kv_cache_bytes
            tokens = config.kv_tokens
            if kv_bytes is not None and not config.share_buffer and tokens and tokens > WORKING_TOKENS:
                kv_bytes = kv_bytes * WORKING_TOKENS // tokens  # the bytes are linear in the tokens
            kv = None if kv_bytes is None else units.mb_of(kv_bytes)
            baseline = 0.0 if runtime_warm else RUNTIME_BASELINE_MB
            return FitEstimate("genai_config", files, kv, baseline, kv_note(config))
    if entry.size_mb:
        return FitEstimate("size", float(entry.size_mb), baseline_mb=0.0)
    return None


def estimate_for(entry: ModelEntry, *, runtime_warm: bool = False) -> FitEstimate | None:
    """Reads the model's genai_config.json (its directory when it is on disk) and estimates (a few small reads)."""
    config = read_genai_config(entry.path) if entry.path else None
    return estimate(entry, config, runtime_warm=runtime_warm)


def estimate_error_pct(estimated_mb: float | None, measured_mb: float | None) -> float | None:
    """(estimate − measured) / measured × 100: positive when the estimate was too high; None without both, or
    when the measured figure is below MIN_COMPARABLE_MB (noise, and a ratio to almost nothing says nothing)."""
    if estimated_mb is None or measured_mb is None or not math.isfinite(measured_mb):
        return None
    if measured_mb < MIN_COMPARABLE_MB:
        return None
    return (estimated_mb - measured_mb) / measured_mb * 100.0


@dataclass(frozen=True)
class FitCheck:
    model: str
    fits: bool | None  # None: not checked (remote, size unknown, already loaded, VRAM not measurable)
    target: FitTarget
    size_mb: float | None = None  # the model's files
    need_mb: float | None = None  # the estimate's total
    free_mb: float | None = None
    message: str = ""  # one line naming the numbers
    estimate: FitEstimate | None = None  # the breakdown (None: remote, or nothing to estimate from)

    @property
    def warn(self) -> bool:
        return self.fits is False


def check_fit(
    entry: ModelEntry,
    sample: MemorySample | None,
    *,
    endpoint: str | None = None,
    gpu_reason: str | None = None,
    estimate: FitEstimate | None = None,
) -> FitCheck:
    """Pure: the estimate (default: the size rule on `entry.size_mb`) against the free memory in `sample`.
    `endpoint`: the server's URL (None: the in-process runtime, i.e. this machine)."""
    model = entry.id
    if endpoint and not is_local_endpoint(endpoint):
        return FitCheck(model, None, "remote", message=f"{model}: remote — fit not checked")
    est = estimate
    if est is None and entry.size_mb:
        est = FitEstimate("size", float(entry.size_mb), baseline_mb=0.0)
    size = est.files_mb if est else None
    need = est.total_mb if est else None
    if entry.loaded:
        message = f"{model} is already loaded — fit not checked"
        return FitCheck(model, None, "unknown", size, need, message=message, estimate=est)
    if est is None or need is None:
        return FitCheck(model, None, "unknown", message=f"{model}: size unknown — fit not checked")
    if sample is None:
        message = f"{model}: memory not sampled yet — fit not checked"
        return FitCheck(model, None, "unknown", size, need, message=message, estimate=est)
    how = est.describe()
    if (entry.device or "").upper() == "GPU":
        if not sample.gpus:
            why = gpu_reason or "no NVIDIA GPU"
            message = f"{model} runs on a GPU; VRAM not measurable ({why})"
            return FitCheck(model, None, "VRAM", size, need, message=message, estimate=est)
        gpu = max(sample.gpus, key=lambda g: g.total_mb - g.used_mb)
        free = gpu.total_mb - gpu.used_mb
        where = f"VRAM (GPU {gpu.index})"
        target: FitTarget = "VRAM"
        room = f"{_mb(free)} free of {_mb(gpu.total_mb)}"
    else:
        free = sample.ram_available_mb
        where = "RAM"
        target = "RAM"
        room = f"{_mb(free)} available of {_mb(sample.ram_total_mb)}"
    fits = need <= free
    verdict = "fits in" if fits else "may not fit in"
    message = f"{model} {verdict} {where}: needs {_mb(need)} ({how}), {room}"
    return FitCheck(model, fits, target, size, need, free, message, est)


__all__ = [
    "HEADROOM_FACTOR",
    "HEADROOM_MB",
    "MIN_COMPARABLE_MB",
    "RUNTIME_BASELINE_MB",
    "FitCheck",
    "FitEstimate",
    "check_fit",
    "estimate",
    "estimate_error_pct",
    "estimate_for",
    "kv_note",
    "required_mb",
]

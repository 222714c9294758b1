"""Will this model fit? Its size with headroom against free RAM (CPU/NPU variants) or free VRAM (GPU variants).

Headroom: a loaded model needs more than its files — runtime buffers, the KV cache, the session — so we ask for
`size × HEADROOM_FACTOR + HEADROOM_MB`. Free RAM is the OS's "available" figure; free VRAM is total − used on
the NVIDIA GPU with the most room. For a server on another machine nothing here is measurable: "remote — fit not
checked". This is a warning, never a refusal: the numbers are estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from foundry_tui.backends.base import ModelEntry
from foundry_tui.engine import units
from foundry_tui.engine.monitor import MemorySample, is_local_endpoint

HEADROOM_FACTOR = 1.2
HEADROOM_MB = 512.0

FitTarget = Literal["RAM", "VRAM", "remote", "unknown"]


def required_mb(size_mb: float) -> float:
    """Memory a model of `size_mb` (its files) needs to load and run: size × 1.2 + 512 MB."""
    return size_mb * HEADROOM_FACTOR + HEADROOM_MB


def _mb(mb: float) -> str:
    return units.size(mb)


@dataclass(frozen=True)
class FitCheck:
    model: str
    fits: bool | None  # None: not checked (remote, size unknown, already loaded, VRAM not measurable)
    target: FitTarget
    size_mb: float | None = None
    need_mb: float | None = None
    free_mb: float | None = None
    message: str = ""  # one line naming the numbers

    @property
    def warn(self) -> bool:
        return self.fits is False


def check_fit(
    entry: ModelEntry,
    sample: MemorySample | None,
    *,
    endpoint: str | None = None,
    gpu_reason: str | None = None,
) -> FitCheck:
    """Pure: the model's size against the free memory in `sample`. `endpoint`: the server's URL (None: the
    in-process runtime, i.e. this machine)."""
    model = entry.id
    if endpoint and not is_local_endpoint(endpoint):
        return FitCheck(model, None, "remote", message=f"{model}: remote — fit not checked")
    if entry.loaded:
        return FitCheck(model, None, "unknown", message=f"{model} is already loaded — fit not checked")
    if not entry.size_mb:
        return FitCheck(model, None, "unknown", message=f"{model}: size unknown — fit not checked")
    size = float(entry.size_mb)
    need = required_mb(size)
    if sample is None:
        return FitCheck(
            model, None, "unknown", size, need, message=f"{model}: memory not sampled yet — fit not checked"
        )
    how = f"{_mb(size)} × {HEADROOM_FACTOR:g} + {_mb(HEADROOM_MB)} headroom"
    if (entry.device or "").upper() == "GPU":
        if not sample.gpus:
            why = gpu_reason or "no NVIDIA GPU"
            return FitCheck(
                model, None, "VRAM", size, need, message=f"{model} runs on a GPU; VRAM not measurable ({why})"
            )
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
    return FitCheck(
        model, fits, target, size, need, free, f"{model} {verdict} {where}: needs {_mb(need)} ({how}), {room}"
    )


__all__ = [
    "HEADROOM_FACTOR",
    "HEADROOM_MB",
    "FitCheck",
    "check_fit",
    "required_mb",
]

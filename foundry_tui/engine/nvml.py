"""NVIDIA GPU facts through NVML (the `pynvml` module from nvidia-ml-py). No GPU, no driver, no permission: a
clear state, never an exception."""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from types import ModuleType


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str
    memory_total_mb: int
    memory_used_mb: int


@dataclass(frozen=True)
class NvmlStatus:
    available: bool
    reason: str | None = None  # why not available, one line
    driver_version: str | None = None
    devices: tuple[GpuDevice, ...] = field(default_factory=tuple)


def _load_pynvml() -> ModuleType | None:
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def probe_nvml() -> NvmlStatus:
    """Initialise NVML once, read each device's name and memory, shut down again."""
    nvml = _load_pynvml()
    if nvml is None:
        return NvmlStatus(False, "the pynvml module is not installed (pip install nvidia-ml-py)")
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, NoPermission, …
        return NvmlStatus(False, f"no NVIDIA GPU: NVML unavailable ({_text(exc) or type(exc).__name__})")
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        devices = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            devices.append(
                GpuDevice(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_total_mb=int(memory.total) // 1_048_576,
                    memory_used_mb=int(memory.used) // 1_048_576,
                )
            )
    except Exception as exc:
        return NvmlStatus(False, f"NVML error while reading devices: {_text(exc) or type(exc).__name__}")
    finally:
        with contextlib.suppress(Exception):  # a failed shutdown changes nothing for the caller
            nvml.nvmlShutdown()
    if not devices:
        return NvmlStatus(False, "no NVIDIA GPU: NVML reports 0 devices", driver)
    return NvmlStatus(True, None, driver, tuple(devices))

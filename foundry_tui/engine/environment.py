"""What a benchmark ran on: machine, package versions, backend. Recorded in results.json["environment"]."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

import psutil

from foundry_tui import __version__
from foundry_tui.backends.base import Backend
from foundry_tui.engine.monitor.gpu import probe_nvml

PACKAGES = ("foundry-local-sdk", "onnxruntime", "onnxruntime-genai-core", "openai", "numpy", "psutil", "nvidia-ml-py")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"foundry-tui": __version__, "python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine() -> dict[str, Any]:
    nvml = probe_nvml()
    return {
        "os": platform.platform(),
        "arch": platform.machine(),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "ram_total_mb": round(psutil.virtual_memory().total / 1_048_576),
        "gpus": [{"index": d.index, "name": d.name, "memory_total_mb": d.memory_total_mb} for d in nvml.devices],
        "gpu_state": "available" if nvml.available else nvml.reason,
        "nvidia_driver": nvml.driver_version,
    }


def backend_info(backend: Backend) -> dict[str, Any]:
    try:
        info = backend.info()
    except Exception as exc:  # the environment block must never stop a benchmark
        return {"kind": None, "label": None, "error": str(exc)}
    return {
        "kind": info.kind,
        "label": info.label,
        "endpoint": info.endpoint,
        "runtime_version": info.runtime_version,
        "management": info.management,
        "details": dict(info.details),
    }


def collect(backend: Backend) -> dict[str, Any]:
    return {"machine": machine(), "versions": package_versions(), "backend": backend_info(backend)}

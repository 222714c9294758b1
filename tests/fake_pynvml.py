"""A stand-in for the `pynvml` module: no GPU exists on the test machines, so NVML is the one thing mocked."""

from __future__ import annotations

import types
from dataclasses import dataclass, field


class NVMLError(Exception):
    pass


@dataclass
class FakeGpu:
    name: str
    total_mb: int
    used_mb: int
    lost: bool = False  # reading it raises, as NVML does for a GPU that fell off the bus


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: str | None = None  # e.g. "Insufficient Permissions", "Driver Not Loaded"
    driver: str = "560.35.03"
    shutdowns: int = 0

    def module(self) -> types.ModuleType:
        module = types.ModuleType("pynvml")
        module.NVMLError = NVMLError  # type: ignore[attr-defined]

        def init() -> None:
            if self.init_error:
                raise NVMLError(self.init_error)

        def handle(index: int) -> FakeGpu:
            gpu = self.gpus[index]
            if gpu.lost:
                raise NVMLError("GPU is lost")
            return gpu

        def memory(gpu: FakeGpu) -> types.SimpleNamespace:
            if gpu.lost:
                raise NVMLError("GPU is lost")
            mb = 1_048_576
            return types.SimpleNamespace(
                total=gpu.total_mb * mb, used=gpu.used_mb * mb, free=(gpu.total_mb - gpu.used_mb) * mb
            )

        def shutdown() -> None:
            self.shutdowns += 1

        module.nvmlInit = init  # type: ignore[attr-defined]
        module.nvmlShutdown = shutdown  # type: ignore[attr-defined]
        module.nvmlSystemGetDriverVersion = lambda: self.driver  # type: ignore[attr-defined]
        module.nvmlDeviceGetCount = lambda: len(self.gpus)  # type: ignore[attr-defined]
        module.nvmlDeviceGetHandleByIndex = handle  # type: ignore[attr-defined]
        module.nvmlDeviceGetName = lambda gpu: gpu.name.encode()  # type: ignore[attr-defined]
        module.nvmlDeviceGetMemoryInfo = memory  # type: ignore[attr-defined]
        return module

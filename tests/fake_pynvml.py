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
    energy_mj: int | None = None  # total energy counter (mJ); None: not supported, as on pre-Volta GPUs
    util_pct: int = 0
    power_mw: int | None = 0  # None: not supported
    temp_c: int = 40
    processes: dict[int, int | None] = field(default_factory=dict)  # pid → GPU MB (None: not reported)
    process_error: str | None = None  # e.g. "Insufficient Permissions": the process lists raise it


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: str | None = None  # e.g. "Insufficient Permissions", "Driver Not Loaded"
    driver: str = "560.35.03"
    inits: int = 0  # successful nvmlInit calls
    shutdowns: int = 0
    _module: types.ModuleType | None = field(default=None, repr=False)

    def module(self) -> types.ModuleType:
        """The stand-in module; one per fake, as pynvml is one module per process."""
        if self._module is None:
            self._module = self._build()
        return self._module

    def _build(self) -> types.ModuleType:
        module = types.ModuleType("pynvml")
        module.NVMLError = NVMLError  # type: ignore[attr-defined]

        def init() -> None:
            if self.init_error:
                raise NVMLError(self.init_error)
            self.inits += 1

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

        def energy(gpu: FakeGpu) -> int:
            if gpu.lost:
                raise NVMLError("GPU is lost")
            if gpu.energy_mj is None:
                raise NVMLError("Not Supported")
            return gpu.energy_mj

        def util(gpu: FakeGpu) -> types.SimpleNamespace:
            if gpu.lost:
                raise NVMLError("GPU is lost")
            return types.SimpleNamespace(gpu=gpu.util_pct, memory=0)

        def power(gpu: FakeGpu) -> int:
            if gpu.lost:
                raise NVMLError("GPU is lost")
            if gpu.power_mw is None:
                raise NVMLError("Not Supported")
            return gpu.power_mw

        def temperature(gpu: FakeGpu, sensor: int) -> int:
            if gpu.lost:
                raise NVMLError("GPU is lost")
            return gpu.temp_c

        def processes(gpu: FakeGpu) -> list[types.SimpleNamespace]:
            if gpu.lost:
                raise NVMLError("GPU is lost")
            if gpu.process_error:
                raise NVMLError(gpu.process_error)
            mb = 1_048_576
            return [
                types.SimpleNamespace(pid=pid, usedGpuMemory=None if used is None else used * mb)
                for pid, used in gpu.processes.items()
            ]

        def shutdown() -> None:
            self.shutdowns += 1

        module.nvmlInit = init  # type: ignore[attr-defined]
        module.nvmlShutdown = shutdown  # type: ignore[attr-defined]
        module.nvmlSystemGetDriverVersion = lambda: self.driver  # type: ignore[attr-defined]
        module.nvmlDeviceGetCount = lambda: len(self.gpus)  # type: ignore[attr-defined]
        module.nvmlDeviceGetHandleByIndex = handle  # type: ignore[attr-defined]
        module.nvmlDeviceGetName = lambda gpu: gpu.name.encode()  # type: ignore[attr-defined]
        module.nvmlDeviceGetMemoryInfo = memory  # type: ignore[attr-defined]
        module.nvmlDeviceGetTotalEnergyConsumption = energy  # type: ignore[attr-defined]
        module.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
        module.nvmlDeviceGetUtilizationRates = util  # type: ignore[attr-defined]
        module.nvmlDeviceGetPowerUsage = power  # type: ignore[attr-defined]
        module.nvmlDeviceGetTemperature = temperature  # type: ignore[attr-defined]
        module.nvmlDeviceGetComputeRunningProcesses = processes  # type: ignore[attr-defined]
        module.nvmlDeviceGetGraphicsRunningProcesses = lambda gpu: processes(gpu)[:0]  # type: ignore[attr-defined]
        return module

"""Energy counters: NVIDIA GPUs through NVML, CPU packages through RAPL in /sys/class/powercap.

Both are cumulative hardware counters; energy for a stretch of time is the difference of two readings. Where a
counter cannot be read the state is the literal "not measurable here" with a reason: never a made-up number.
Both counters are whole-device figures (every process on the GPU / CPU package, idle power included).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from foundry_tui.engine.monitor.gpu import NO_DEVICES, NvmlSession, error_text

NOT_MEASURABLE = "not measurable here"
MEASURED = "measured"
POWERCAP = Path("/sys/class/powercap")


@dataclass(frozen=True)
class EnergyState:
    state: str  # "measured" | "not measurable here"
    source: str  # "nvml" | "rapl"
    detail: str  # which devices / zones, or why not

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "source": self.source, "detail": self.detail}


class NvmlEnergy:
    """Sum of `nvmlDeviceGetTotalEnergyConsumption` (mJ since the driver loaded) over all GPUs, in J.

    NVML is held through the monitor's shared session (engine.monitor.gpu), so a running sampler and this counter
    initialise it once, and closing one leaves the other working.
    """

    def __init__(self, nvml: ModuleType | None = None) -> None:
        self._session = NvmlSession(nvml)
        self._handles: list[Any] = []
        if not self._session.available:
            self.state = EnergyState(NOT_MEASURABLE, "nvml", self._session.reason or NO_DEVICES)
            self.close()
            return
        module = self._session.module
        try:
            for device in self._session.devices:
                module.nvmlDeviceGetTotalEnergyConsumption(device.handle)
        except Exception as exc:  # NVMLError_NotSupported on pre-Volta GPUs, or no such function
            self.state = EnergyState(NOT_MEASURABLE, "nvml", f"GPU energy counter unavailable ({error_text(exc)})")
            self.close()
            return
        self._handles = [device.handle for device in self._session.devices]
        names = ", ".join(f"GPU {d.index}: {d.name}" for d in self._session.devices)
        self.state = EnergyState(MEASURED, "nvml", names)

    def read_j(self) -> float | None:
        if not self._handles:
            return None
        read = self._session.module.nvmlDeviceGetTotalEnergyConsumption
        try:
            return sum(int(read(handle)) for handle in self._handles) / 1000.0
        except Exception:
            return None

    def close(self) -> None:
        self._handles = []
        self._session.close()


class RaplEnergy:
    """Sum of the top-level RAPL zones (`intel-rapl:N`, one per CPU package; AMD packages appear there too).

    Sub-zones (core, uncore, dram: `intel-rapl:N:M`) are inside their package and are not added again, and the
    `psys` zone (the whole platform) is skipped for the same reason. Wrap-around of `energy_uj` is handled with
    `max_energy_range_uj`. Since Linux 5.10 `energy_uj` is readable by root only: then "not measurable here".
    """

    def __init__(self, root: Path = POWERCAP) -> None:
        self._zones: list[tuple[Path, int]] = []  # (energy_uj path, max range)
        self._last: list[int] = []
        self._total_uj = 0
        self.state = EnergyState(NOT_MEASURABLE, "rapl", "")
        if not root.is_dir():
            self.state = EnergyState(NOT_MEASURABLE, "rapl", f"no RAPL powercap interface ({root} is missing)")
            return
        zones = []
        for zone in sorted(root.glob("intel-rapl:*")):
            if zone.name.count(":") != 1 or not (zone / "energy_uj").exists():
                continue
            with contextlib.suppress(OSError):
                if (zone / "name").read_text().strip().startswith("psys"):
                    continue
            zones.append(zone)
        if not zones:
            self.state = EnergyState(NOT_MEASURABLE, "rapl", f"no RAPL package zones under {root}")
            return
        names = []
        try:
            for zone in zones:
                value = int((zone / "energy_uj").read_text())
                try:
                    max_range = int((zone / "max_energy_range_uj").read_text())
                except (OSError, ValueError):
                    max_range = 0
                self._zones.append((zone / "energy_uj", max_range))
                self._last.append(value)
                try:
                    names.append((zone / "name").read_text().strip())
                except OSError:
                    names.append(zone.name)
        except PermissionError:
            self._zones, self._last = [], []
            self.state = EnergyState(
                NOT_MEASURABLE, "rapl", "RAPL energy_uj is not readable by this user (root only since Linux 5.10)"
            )
            return
        except (OSError, ValueError) as exc:
            self._zones, self._last = [], []
            self.state = EnergyState(NOT_MEASURABLE, "rapl", f"RAPL counter unreadable ({exc})")
            return
        self.state = EnergyState(MEASURED, "rapl", ", ".join(names))

    def read_j(self) -> float | None:
        """Cumulative joules since this object was created (wrap-arounds folded in)."""
        if not self._zones:
            return None
        try:
            values = [int(path.read_text()) for path, _ in self._zones]
        except (OSError, ValueError):
            return None
        for i, ((_, max_range), value) in enumerate(zip(self._zones, values, strict=True)):
            step = value - self._last[i]
            if step < 0:
                step += max_range
            self._total_uj += max(step, 0)
            self._last[i] = value
        return self._total_uj / 1e6

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class EnergyReading:
    gpu_j: float | None
    cpu_j: float | None


class EnergyMeter:
    """Both counters; `read()` is cheap (a few file reads / NVML calls) and thread-safe enough for sequential use."""

    def __init__(self, nvml: ModuleType | None = None, powercap: Path = POWERCAP, *, gpu: bool = True) -> None:
        self.gpu: NvmlEnergy | None = NvmlEnergy(nvml) if gpu else None
        self.cpu = RaplEnergy(powercap)

    def read(self) -> EnergyReading:
        return EnergyReading(self.gpu.read_j() if self.gpu else None, self.cpu.read_j())

    def states(self) -> dict[str, dict[str, str]]:
        gpu = self.gpu.state if self.gpu else EnergyState(NOT_MEASURABLE, "nvml", "GPU energy not requested")
        return {"gpu": gpu.to_dict(), "cpu": self.cpu.state.to_dict()}

    def close(self) -> None:
        if self.gpu:
            self.gpu.close()
        self.cpu.close()


def energy_delta(before: EnergyReading | None, after: EnergyReading | None) -> tuple[float | None, float | None]:
    if before is None or after is None:
        return None, None
    gpu = after.gpu_j - before.gpu_j if after.gpu_j is not None and before.gpu_j is not None else None
    cpu = after.cpu_j - before.cpu_j if after.cpu_j is not None and before.cpu_j is not None else None
    return gpu, cpu

"""NVIDIA GPUs through NVML (`pynvml`, from nvidia-ml-py): the only module that loads, initialises or shuts NVML down.

Three users hold NVML, sometimes at once: the sampler's `GpuReader` (every sample), the benchmark's energy counter
(engine.energy) and the one-shot `probe_nvml` (doctor, the benchmark's environment block). `NvmlSession` counts
the holders of each pynvml module: the first calls nvmlInit, the last nvmlShutdown, so closing one never pulls NVML
from under another, and a failed init is never "shut down". Every "no GPU" state is worded here once, and every
NVML error is classified here once. Nothing here raises for a missing, denied or lost GPU: it becomes a `reason`.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from foundry_tui.engine.units import MB

# -- the states, worded once -------------------------------------------------------------------------------

PYNVML_MISSING = "no NVIDIA GPU (pynvml not installed)"
NO_DEVICES = "no NVIDIA GPU: NVML reports 0 devices"


def nvml_unavailable(why: str) -> str:
    """NVML could not start or enumerate: no library, no driver, no permission, …"""
    return f"no NVIDIA GPU: NVML unavailable ({why})"


def gpu_unavailable(index: int, why: str) -> str:
    """One GPU stopped answering (fell off the bus, needs a reset) or could not be opened; the others go on."""
    return f"GPU {index} unavailable ({why})"


# -- errors ------------------------------------------------------------------------------------------------

NvmlErrorKind = Literal["lost", "unsupported", "permission", "absent", "other"]

# NVML_ERROR_* codes (pynvml's NVMLError.value). A fake or an old binding may carry only the text, hence _TEXTS.
_CODES: dict[int, NvmlErrorKind] = {
    3: "unsupported",  # NOT_SUPPORTED
    4: "permission",  # NO_PERMISSION
    9: "absent",  # DRIVER_NOT_LOADED
    12: "absent",  # LIBRARY_NOT_FOUND
    13: "unsupported",  # FUNCTION_NOT_FOUND (an older driver)
    15: "lost",  # GPU_IS_LOST
    16: "lost",  # RESET_REQUIRED
    28: "lost",  # GPU_NOT_FOUND
}
_TEXTS: tuple[tuple[str, NvmlErrorKind], ...] = (
    ("lost", "lost"),
    ("requires restart", "lost"),
    ("reset required", "lost"),
    ("not supported", "unsupported"),
    ("function not found", "unsupported"),
    ("permission", "permission"),
    ("driver not loaded", "absent"),
    ("library not found", "absent"),
)


def classify(exc: BaseException) -> NvmlErrorKind:
    """What an NVML error means for us, from its code or else its text."""
    code = getattr(exc, "value", None)
    if isinstance(code, int) and code in _CODES:
        return _CODES[code]
    text = str(exc).lower()
    return next((kind for words, kind in _TEXTS if words in text), "other")


def nvml_text(value: object) -> str:
    """NVML strings arrive as bytes from older bindings."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def error_text(exc: BaseException) -> str:
    return nvml_text(exc) or type(exc).__name__


# -- one shared initialisation -----------------------------------------------------------------------------

_holds_lock = threading.Lock()
_holds: dict[int, int] = {}  # id(pynvml module) → sessions holding it initialised


def load_pynvml(module: ModuleType | None = None) -> ModuleType | None:
    """`module` (a test's fake) or the installed pynvml; None when it is not installed."""
    if module is not None:
        return module
    try:
        return importlib.import_module("pynvml")
    except ImportError:  # also a None in sys.modules: a test hiding it
        return None


def _acquire(module: Any) -> None:
    """nvmlInit for the first holder (raises what it raises); later holders share it."""
    with _holds_lock:
        count = _holds.get(id(module), 0)
        if count == 0:
            module.nvmlInit()
        _holds[id(module)] = count + 1


def _release(module: Any) -> None:
    with _holds_lock:
        count = _holds.get(id(module), 0) - 1
        if count > 0:
            _holds[id(module)] = count
            return
        _holds.pop(id(module), None)
        with contextlib.suppress(Exception):  # a failed shutdown changes nothing for the caller
            module.nvmlShutdown()


def nvml_holders(module: ModuleType) -> int:
    """How many sessions hold `module` initialised now (0: NVML is shut down)."""
    with _holds_lock:
        return _holds.get(id(module), 0)


@dataclass(frozen=True)
class NvmlDevice:
    index: int
    name: str
    handle: Any


class NvmlSession:
    """One holder of NVML: initialised (shared, counted) and the devices enumerated when created.

    `reason` says why there are no devices, or names a GPU that could not be opened (the others are still
    listed). `close()` releases the hold (idempotent); the last holder shuts NVML down.
    """

    def __init__(self, nvml: ModuleType | None = None) -> None:
        self.reason: str | None = None
        self.devices: tuple[NvmlDevice, ...] = ()
        self._held = False
        self.module: Any = load_pynvml(nvml)
        if self.module is None:
            self.reason = PYNVML_MISSING
            return
        try:
            _acquire(self.module)
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, NoPermission, …
            self.reason = nvml_unavailable(error_text(exc))
            return
        self._held = True
        try:
            count = int(self.module.nvmlDeviceGetCount())
        except Exception as exc:
            self.reason = nvml_unavailable(error_text(exc))
            return
        devices = []
        for index in range(count):
            try:
                handle = self.module.nvmlDeviceGetHandleByIndex(index)
                devices.append(NvmlDevice(index, nvml_text(self.module.nvmlDeviceGetName(handle)), handle))
            except Exception as exc:  # one GPU that cannot be opened does not hide the others
                self.reason = self.reason or gpu_unavailable(index, error_text(exc))
        self.devices = tuple(devices)
        if count == 0:
            self.reason = NO_DEVICES

    @property
    def available(self) -> bool:
        return bool(self.devices)

    def driver_version(self) -> str | None:
        if not self._held:
            return None
        try:
            return nvml_text(self.module.nvmlSystemGetDriverVersion())
        except Exception:
            return None

    def drop(self, index: int, exc: BaseException) -> None:
        """Stop using a GPU that failed a read; the reason names it."""
        self.devices = tuple(d for d in self.devices if d.index != index)
        self.reason = gpu_unavailable(index, error_text(exc))

    def close(self) -> None:
        self.devices = ()
        if self._held:
            self._held = False
            _release(self.module)


# -- the one-shot probe (doctor, the benchmark's environment block) ----------------------------------------


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str
    memory_total_mb: int
    memory_used_mb: int


@dataclass(frozen=True)
class NvmlStatus:
    available: bool
    reason: str | None = None  # why not available, or which GPU could not be read; one line
    driver_version: str | None = None
    devices: tuple[GpuDevice, ...] = field(default_factory=tuple)


def probe_nvml(nvml: ModuleType | None = None) -> NvmlStatus:
    """Hold NVML for a moment: the driver version and each device's name and memory."""
    session = NvmlSession(nvml)
    try:
        driver = session.driver_version()
        devices = []
        for device in session.devices:
            try:
                memory = session.module.nvmlDeviceGetMemoryInfo(device.handle)
            except Exception as exc:
                session.drop(device.index, exc)
                continue
            devices.append(GpuDevice(device.index, device.name, int(memory.total) // MB, int(memory.used) // MB))
        return NvmlStatus(bool(devices), session.reason, driver, tuple(devices))
    finally:
        session.close()


# -- the sampler's reader ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuMemory:
    """One GPU in one sample (the fields are GPU_SERIES' `field`s in engine.metrics)."""

    index: int
    name: str
    used_mb: float
    total_mb: float
    util_pct: float | None = None  # GPU utilisation over NVML's last sample period
    power_w: float | None = None
    temp_c: float | None = None
    energy_j: float | None = None  # NVML's energy counter (since the driver loaded), joules
    process_mb: float | None = None  # this process's GPU memory (None: not listed / not measurable)
    server_mb: float | None = None  # the server process's GPU memory
    processes_note: str | None = None  # why per-process memory is unknown ("no permission", "not supported")


_PROCESS_NOTES: dict[NvmlErrorKind, str] = {"permission": "no permission", "unsupported": "not supported"}


class GpuReader:
    """NVML held from creation to `close()`; any NVML failure turns into `reason` (and no GPU rows), never an
    exception.

    Optional readings (utilisation, power, temperature, energy, per-process memory) that a GPU does not support
    are skipped from then on; a GPU whose memory cannot be read any more (fell off the bus) is dropped.
    """

    def __init__(self, nvml: ModuleType | None = None) -> None:
        self._session = NvmlSession(nvml)
        self._nvml: Any = self._session.module
        self._unsupported: set[tuple[int, str]] = set()
        self._processes: dict[int, tuple[dict[int, float], str | None]] = {}  # index → (pid → MB, note)

    @property
    def reason(self) -> str | None:
        return self._session.reason

    @property
    def available(self) -> bool:
        return self._session.available

    def _optional(self, index: int, what: str, call: Any, *args: Any) -> Any:
        if call is None or (index, what) in self._unsupported:
            return None
        try:
            return call(*args)
        except Exception as exc:
            if classify(exc) in ("unsupported", "permission"):
                self._unsupported.add((index, what))  # it will not start working: stop asking
            return None

    def _read_processes(self, handle: Any) -> tuple[dict[int, float], str | None]:
        usage: dict[int, float] = {}
        notes = []
        for what in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            call = getattr(self._nvml, what, None)
            if call is None:
                notes.append("not supported")
                continue
            try:
                rows = call(handle)
            except Exception as exc:
                notes.append(_PROCESS_NOTES.get(classify(exc), "error"))
                continue
            for row in rows:
                used = getattr(row, "usedGpuMemory", None)
                if used is None:  # Windows WDDM and some containers report no per-process figure
                    continue
                pid = int(row.pid)
                usage[pid] = max(usage.get(pid, 0.0), int(used) / MB)
        # A list the GPU does not support is fine when the other one was read; a denied or failed one is not:
        # a partial list would under-report.
        failed = [n for n in notes if n != "not supported"]
        note = failed[0] if failed else ("not supported" if len(notes) == 2 else None)
        return usage, note

    def read(
        self, *, our_pid: int | None = None, server_pid: int | None = None, processes: bool = True
    ) -> tuple[GpuMemory, ...]:
        rows = []
        nvml = self._nvml
        for index, name, handle in ((d.index, d.name, d.handle) for d in self._session.devices):
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception as exc:  # a GPU that fell off the bus: report it and stop polling it
                self._session.drop(index, exc)
                continue
            util = self._optional(index, "util", getattr(nvml, "nvmlDeviceGetUtilizationRates", None), handle)
            power = self._optional(index, "power", getattr(nvml, "nvmlDeviceGetPowerUsage", None), handle)
            temp = self._optional(
                index,
                "temp",
                getattr(nvml, "nvmlDeviceGetTemperature", None),
                handle,
                getattr(nvml, "NVML_TEMPERATURE_GPU", 0),
            )
            energy = self._optional(index, "energy", getattr(nvml, "nvmlDeviceGetTotalEnergyConsumption", None), handle)
            if processes or index not in self._processes:
                self._processes[index] = self._read_processes(handle)
            usage, note = self._processes[index]
            rows.append(
                GpuMemory(
                    index,
                    name,
                    int(memory.used) / MB,
                    int(memory.total) / MB,
                    util_pct=None if util is None else float(util.gpu),
                    power_w=None if power is None else int(power) / 1000.0,
                    temp_c=None if temp is None else float(temp),
                    energy_j=None if energy is None else int(energy) / 1000.0,
                    process_mb=None if note else usage.get(our_pid, 0.0) if our_pid is not None else None,
                    server_mb=None if note or server_pid is None else usage.get(server_pid, 0.0),
                    processes_note=note,
                )
            )
        return tuple(rows)

    def close(self) -> None:
        """Release NVML (idempotent); `reason` stays what it was, so a stopped sampler still says why."""
        self._session.close()


__all__ = [
    "NO_DEVICES",
    "PYNVML_MISSING",
    "GpuDevice",
    "GpuMemory",
    "GpuReader",
    "NvmlDevice",
    "NvmlErrorKind",
    "NvmlSession",
    "NvmlStatus",
    "classify",
    "error_text",
    "gpu_unavailable",
    "load_pynvml",
    "nvml_holders",
    "nvml_text",
    "nvml_unavailable",
    "probe_nvml",
]

"""Memory, CPU and GPU monitoring: one background sampler and what it is built from.

- rings.py    fixed-size ring buffers the samples go into
- procfs.py   the Linux /proc fast path and CPU-% arithmetic
- gpu.py      NVIDIA GPUs: the only module that loads and initialises NVML (shared by the sampler, the energy
              counter and the one-shot probe)
- server.py   which process holds the model (this one, a pid, the endpoint's server on this machine)
- sampler.py  MemorySample and MemorySampler (the thread, the clock, the readers)

Importers use this package (`from foundry_tui.engine.monitor import MemorySampler`); the modules are its layout.
"""

from __future__ import annotations

from foundry_tui.engine.monitor.gpu import GpuMemory, GpuReader
from foundry_tui.engine.monitor.rings import Ring, RingSet
from foundry_tui.engine.monitor.sampler import MemorySample, MemorySampler
from foundry_tui.engine.monitor.server import (
    ServerTarget,
    in_process_server,
    is_local_endpoint,
    is_local_host,
    listening_pid,
    pid_server,
    server_for_endpoint,
)
from foundry_tui.engine.units import MB

__all__ = [
    "MB",
    "GpuMemory",
    "GpuReader",
    "MemorySample",
    "MemorySampler",
    "Ring",
    "RingSet",
    "ServerTarget",
    "in_process_server",
    "is_local_endpoint",
    "is_local_host",
    "listening_pid",
    "pid_server",
    "server_for_endpoint",
]

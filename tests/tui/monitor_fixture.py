"""A deterministic monitor recording: two minutes of a download, a load, a chat, an unload and a second load.

Written in the `foundry-tui monitor --record` format, so it exercises the same reader as a real file. The numbers
follow the shape the runtime is known to have (RSS rises on load, part of it stays after unload).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

T0 = 1000.0
MODEL_A = "qwen2.5-0.5b-instruct-generic-cpu:4"
MODEL_B = "phi-4-mini-instruct-generic-gpu:5"
EVENTS = [
    (5.0, "download_start", MODEL_A, ""),
    (15.0, "download_end", MODEL_A, "done"),
    (20.0, "load_start", MODEL_A, ""),
    (23.0, "load_end", MODEL_A, ""),
    (30.0, "first_token", MODEL_A, ""),
    (33.0, "stream_end", MODEL_A, "stop"),
    (60.0, "unload_start", MODEL_A, ""),
    (61.0, "unload_end", MODEL_A, ""),
    (80.0, "load_start", MODEL_B, ""),
    (82.0, "load_end", MODEL_B, ""),
]


def _times() -> list[float]:
    """4 Hz, and 20 Hz while a model loads (as the sampler does)."""
    times: list[float] = []
    t = 0.0
    while t <= 120.0:
        times.append(round(t, 3))
        loading = 20.0 <= t < 23.0 or 80.0 <= t < 82.0
        t += 0.05 if loading else 0.25
    return times


def _rss(t: float) -> float:
    if t < 20:
        return 300.0
    if t < 23:  # loading: ramps to a 1.4 GB peak, settles at 1.1 GB
        return 300.0 + 1100.0 * (t - 20) / 3
    if t < 60:
        return 1100.0 + (150.0 if 30 <= t < 33 else 0.0)  # the KV cache while it streams
    if t < 61:
        return 1100.0 - 600.0 * (t - 60)
    if t < 80:
        return 500.0  # 200 MB kept after the unload
    if t < 82:
        return 500.0 + 400.0 * (t - 80)
    return 1300.0


def _gpu(t: float) -> float:
    if t < 80:
        return 512.0
    if t < 82:
        return 512.0 + 2000.0 * (t - 80) / 2
    return 2400.0


def records() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for t in _times():
        rss = _rss(t)
        wobble = float(np.sin(t / 7.0) * 40.0)
        out.append(
            {
                "t": T0 + t,
                "kind": "sample",
                "ram_used_mb": 8192.0 + rss + wobble,
                "ram_total_mb": 32768.0,
                "ram_available_mb": 32768.0 - 8192.0 - rss - wobble,
                "swap_used_mb": 0.0,
                "swap_total_mb": 2048.0,
                "process_rss_mb": rss,
                "process_uss_mb": rss - 40.0,
                "cpu_system_pct": 12.0,
                "cpu_process_pct": 95.0 if 30 <= t < 33 else 3.0,
                "server_rss_mb": rss,
                "server_uss_mb": rss - 40.0,
                "server_cpu_pct": 95.0 if 30 <= t < 33 else 3.0,
                "server_pid": 4242,
                "server": "this process (in-process runtime)",
                "gpu_reason": None,
                "gpus": [
                    {
                        "index": 0,
                        "name": "NVIDIA L4",
                        "used_mb": _gpu(t),
                        "total_mb": 23034.0,
                        "util_pct": 40.0 if t >= 82 else 0.0,
                        "power_w": 35.0,
                        "temp_c": 48.0,
                        "energy_j": 1000.0 + 35.0 * t,
                        "process_mb": _gpu(t) - 512.0,
                        "server_mb": _gpu(t) - 512.0,
                        "processes_note": None,
                    }
                ],
            }
        )
    for t, kind, model, detail in EVENTS:
        out.append({"t": T0 + t, "kind": "event", "event": kind, "model": model, "detail": detail})
    out.sort(key=lambda r: float(r["t"]))  # type: ignore[arg-type]
    return out


def write_fixture(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records()), encoding="utf-8")
    return path


__all__ = ["EVENTS", "MODEL_A", "MODEL_B", "T0", "records", "write_fixture"]

"""Monitor overhead goals, printed as ratios to the goal (≤ 1.0 meets it).

1. Sampler CPU cost, as % of one core: process CPU time (all threads) with the sampler running minus the same
   span idle, over `--seconds` each. Goal ≤ 1 % at 4 Hz, ≤ 3 % at 20 Hz (the rate during a model load). The
   process holds a touched ballast (`--ballast-mb`, like a loaded model) because USS costs grow with RSS.
   Then the cost of one sample, µs of CPU, at each rate's pacing: the sampler runs on an injected clock that
   steps one interval per sample, so the 1 s reads (USS, GPU process lists) come as often as on the thread, without
   the waits and without the thread's noise — the figure to compare before and after a change.
2. TUI idle RSS (fresh interpreter, in-process runtime, no model loaded, Monitor tab shown) ≤ 120 MB.
3. For information: one Monitor pane redraw (compute + paint) per zoom over a full hour of samples, ms.

Run: python benchmarks/monitor_overhead.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import numpy as np

from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.tui.panes.monitor import REDRAW_EVERY_S, ZOOMS

GOAL_4HZ_PCT = 1.0
GOAL_20HZ_PCT = 3.0
GOAL_IDLE_RSS_MB = 120.0


def cpu_over(seconds: float) -> float:
    start_cpu, start = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - start_cpu) / (time.perf_counter() - start)


def sampler_cost(seconds: float, fast: bool) -> tuple[float, int]:
    """% of one core the sampler thread costs, and how many samples it took."""
    idle = cpu_over(seconds)
    sampler = MemorySampler(keep_s=3600).start()
    time.sleep(1.0)  # NVML init and the first samples are not the steady cost
    taken = sampler.samples_taken
    if fast:
        with sampler.fast():
            busy = cpu_over(seconds)
    else:
        busy = cpu_over(seconds)
    taken = sampler.samples_taken - taken
    sampler.stop()
    return max(0.0, busy - idle) * 100.0, taken


class SteppedClock:
    """A clock that moves one sampling interval per `step()`."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def step(self) -> None:
        self.t += self.interval_s


def per_sample_us(rate_hz: float, samples: int = 2000, runs: int = 5) -> float:
    """Median CPU µs of one `sample_now()` paced at `rate_hz` on a stepped clock (slow reads included)."""
    clock = SteppedClock(1.0 / rate_hz)
    sampler = MemorySampler(keep_s=3600, clock=clock)
    sampler.open_gpus()
    for _ in range(50):  # file descriptors, NVML, the first slow reads
        sampler.sample_now()
        clock.step()
    costs = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(samples):
            sampler.sample_now()
            clock.step()
        costs.append((time.process_time() - start) / samples * 1e6)
    sampler.stop()
    return float(np.median(costs))


IDLE_RSS_CHILD = r"""
import asyncio, sys, tempfile, time
from pathlib import Path
import psutil
from foundry_tui.config import Settings
from foundry_tui.native_logs import redirect_native_stderr
from foundry_tui.tui.app import FoundryTuiApp

async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        redirect_native_stderr(settings.logs_dir / "native.log")
        app = FoundryTuiApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 60
            while app.backend_state == "starting" and time.monotonic() < deadline:
                await pilot.pause(0.1)
            await pilot.press("4")
            await pilot.pause(8.0)  # the offline catalog fetch (~4 s) finishes; the Monitor tab redraws
            print(app.backend_state, psutil.Process().memory_info().rss / 1048576, flush=True)

asyncio.run(run())
"""


def tui_idle_rss() -> tuple[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", IDLE_RSS_CHILD], capture_output=True, text=True, timeout=180, check=False
    )
    line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not line:
        raise SystemExit(f"idle RSS child failed: {result.stderr[-2000:]}")
    state, rss = line.split()
    return state, float(rss)


class SlidingSource:
    """Live-like: each `timeline()` call reveals one more sample (4 Hz) of a prepared hour."""

    live = True
    interval_s = 0.25
    fast_interval_s = 0.05

    def __init__(self, timeline: object, start: int) -> None:
        from foundry_tui.engine.timeline import Timeline

        assert isinstance(timeline, Timeline)
        self._full = timeline
        self._n = start

    def timeline(self, last_s: float | None = None) -> object:
        from foundry_tui.engine.timeline import Timeline

        self._n = min(self._n + 1, len(self._full))
        series = {key: values[: self._n] for key, values in self._full.series.items()}
        return Timeline(series, (), server=self._full.server, end=float(self._full.t[self._n - 1]))


async def pane_redraw_ms() -> dict[str, float]:
    """Median ms of one refresh (compute + paint) per zoom, one new sample each time, after an hour of samples."""
    from foundry_tui.engine.timeline import Timeline
    from foundry_tui.tui.panes.monitor import MonitorPane
    from foundry_tui.tui.replay import ReplayApp

    n = 14_400 + 200  # one hour at 4 Hz, plus the samples revealed while measuring
    t = 1000.0 + np.arange(n) * 0.25
    rng = np.random.default_rng(1)
    series = {"t": t}
    for key in ("ram_used", "ram_total", "ram_available", "process_rss", "process_uss", "server_rss", "server_uss"):
        series[key] = 1000.0 + rng.normal(0, 10, n).cumsum()
    for key in ("cpu_system", "cpu_process", "server_cpu", "swap_used", "swap_total"):
        series[key] = rng.uniform(0, 50, n)
    full = Timeline(series, (), server="this process (in-process runtime)", end=float(t[-1]))
    app = ReplayApp(full, "bench")
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(MonitorPane)
        pane._source = SlidingSource(full, 14_400)  # type: ignore[assignment]
        for _ in ZOOMS:
            await pilot.pause(0.2)
            runs = []
            for _ in range(40):
                start = time.perf_counter()
                pane.refresh_view()
                await pilot.pause(0)  # include the paint the refresh asks for
                runs.append(time.perf_counter() - start)
            out[pane.zoom_label] = float(np.median(runs)) * 1000
            await pilot.press("z")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement span per rate (default 10)")
    parser.add_argument("--ballast-mb", type=int, default=300, help="touched memory held meanwhile (default 300)")
    args = parser.parse_args()
    ballast = np.ones(args.ballast_mb * 1_048_576 // 8)  # held, touched: the RSS a loaded model would add

    cost4, n4 = sampler_cost(args.seconds, fast=False)
    print(
        f"sampler at 4 Hz:  {cost4:5.2f} % of one core ({n4 / args.seconds:.1f} samples/s)"
        f"  goal ≤ {GOAL_4HZ_PCT:.0f} %  ratio {cost4 / GOAL_4HZ_PCT:.2f}"
    )
    cost20, n20 = sampler_cost(args.seconds, fast=True)
    print(
        f"sampler at 20 Hz: {cost20:5.2f} % of one core ({n20 / args.seconds:.1f} samples/s)"
        f"  goal ≤ {GOAL_20HZ_PCT:.0f} %  ratio {cost20 / GOAL_20HZ_PCT:.2f}"
    )
    for rate in (4.0, 20.0):
        print(f"sampler per sample at {rate:g} Hz pacing: {per_sample_us(rate):6.1f} µs of CPU (slow reads included)")
    del ballast
    state, rss = tui_idle_rss()
    print(
        f"TUI idle RSS (in-process runtime {state}, no model, Monitor tab): {rss:.0f} MB"
        f"  goal ≤ {GOAL_IDLE_RSS_MB:.0f} MB  ratio {rss / GOAL_IDLE_RSS_MB:.2f}"
    )
    for zoom, ms in asyncio.run(pane_redraw_ms()).items():
        every = REDRAW_EVERY_S[zoom]
        print(
            f"Monitor pane redraw, window {zoom} of 1 h of samples, 120×40: {ms:.1f} ms"
            f" every {every:g} s = {ms / 10 / every:.1f} % of one core while the tab is shown"
        )


if __name__ == "__main__":
    main()

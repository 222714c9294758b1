"""The sampler on an injected clock: pacing of the thread's loop, the history window, markers and samples on one
clock, and CPU % that never reads above its ceiling, whatever the clocks say. No sleeps: the clock is a fake."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

import psutil
import pytest

from foundry_tui.engine.events import EventLog
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.engine.monitor.procfs import CpuClock


class FakeClock:
    """Seconds that move only when told."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeWake:
    """Stands in for the sampler thread's wake event: a wait moves the fake clock instead of sleeping, running the
    scripted actions whose time comes first; one that sets the event (fast(), stop()) ends the wait early."""

    def __init__(self, clock: FakeClock, actions: list[tuple[float, Callable[[], None]]]) -> None:
        self._clock = clock
        self._actions = sorted(actions, key=lambda a: a[0])
        self._set = False
        self.waits: list[float] = []

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        if self._set:
            return True
        deadline = self._clock.t + timeout
        while self._actions and self._actions[0][0] <= deadline:
            at, action = self._actions.pop(0)
            self._clock.t = at
            action()
            if self._set:
                return True
        self._clock.t = deadline
        return False


def test_the_thread_loop_paces_samples_on_the_clock() -> None:
    # Binary fractions, so the expected times are exact.
    clock = FakeClock()
    sampler = MemorySampler(interval_s=0.25, fast_interval_s=0.0625, clock=clock)
    load = contextlib.ExitStack()  # a model load: fast() entered at 1.125 s, left at 1.53125 s

    def start_load() -> None:
        load.enter_context(sampler.fast())

    def stop() -> None:
        sampler._stop.set()
        wake.set()

    wake = FakeWake(clock, [(1.125, start_load), (1.53125, load.close), (2.5, stop)])
    sampler._wake = wake  # type: ignore[assignment]
    sampler._run()  # on this thread: it returns once `stop` ran
    t = list(sampler.history(last_s=math.inf)["t"])
    base = [0.0, 0.25, 0.5, 0.75, 1.0]
    fast = [1.125 + i * 0.0625 for i in range(7)]  # woken at once by fast(), then 16 Hz while inside
    after = [1.5625, 1.8125, 2.0625, 2.3125]  # the interval in progress ends, then the base rate again
    assert t == base + fast + after
    assert min(wake.waits) >= 0.0
    assert sampler.events.events() == ()
    sampler.stop()


def test_history_window_and_keep_on_the_clock() -> None:
    clock = FakeClock(100.0)
    sampler = MemorySampler(interval_s=0.25, window_s=1.0, keep_s=10.0, clock=clock)
    for _ in range(30):
        sampler.sample_now()
        clock.advance(0.25)
    clock.t -= 0.25  # "now" is the last sample's time
    assert len(sampler.timeline()) == 30
    assert list(sampler.history()["t"]) == [106.25, 106.5, 106.75, 107.0, 107.25]  # the last second
    assert len(sampler.history(last_s=2.0)["t"]) == 9
    clock.advance(0.5)  # half a second without samples: the window slides on the clock, not on the samples
    assert list(sampler.history()["t"]) == [106.75, 107.0, 107.25]
    for _ in range(30):
        clock.advance(0.25)
        sampler.sample_now()
    assert len(sampler.timeline()) == 40  # keep_s / interval_s
    sampler.stop()


def test_markers_and_samples_share_the_injected_clock() -> None:
    clock = FakeClock(50.0)
    sampler = MemorySampler(clock=clock)
    assert sampler.events.clock is clock
    sampler.sample_now()
    clock.advance(1.0)
    assert sampler.mark("load_start", "m") == 51.0
    clock.advance(0.5)
    sampler.sample_now()
    timeline = sampler.timeline()
    assert list(timeline.t) == [50.0, 51.5] and timeline.end == 51.5
    assert [(e.t, e.kind) for e in timeline.events] == [(51.0, "load_start")]
    assert timeline.window(1.0).events[0].t == 51.0
    sampler.stop()


def test_event_log_stamps_with_its_clock() -> None:
    clock = FakeClock(7.0)
    log = EventLog(clock=clock)
    assert log.mark("load_start", "m") == 7.0
    assert log.mark("load_end", "m", t=9.5) == 9.5
    assert EventLog().mark("load_start") == pytest.approx(time.monotonic(), abs=1.0)  # the default clock


# -- CPU %: ceilings ---------------------------------------------------------------------------------------------


def test_cpu_percent_never_reads_above_its_ceiling() -> None:
    """Busy time comes from tick counters, elapsed time from the clock: they disagree by a tick (100.42 % was seen
    in a real run). Here the clock says 1 ms passed while this process spun for 50 ms of CPU."""
    clock = FakeClock(10.0)
    sampler = MemorySampler(clock=clock)
    sampler.sample_now()
    spin_until = time.process_time() + 0.05
    while time.process_time() < spin_until:
        pass
    clock.advance(0.001)
    sample = sampler.sample_now()
    cpus = psutil.cpu_count() or 1
    assert sample.cpu_system_pct == 100.0  # all cores, 0–100
    assert sample.cpu_process_pct == 100.0 * cpus  # % of one core: at most every core
    assert sample.server_cpu_pct == sample.cpu_process_pct  # in-process: the same process
    sampler.stop()


def test_cpu_clock_arithmetic() -> None:
    system = CpuClock(100.0 / 4, limit=100.0)  # 4 cores
    assert math.isnan(system.percent(0.0, 0.0))  # nothing to compare with yet
    assert system.percent(1.0, 2.0) == 50.0  # 2 busy core-seconds of 4 in 1 s
    assert system.percent(2.0, 6.0168) == 100.0  # 4.0168 core-seconds: a tick over, read as 100
    assert math.isnan(system.percent(2.0, 7.0))  # no time passed
    assert system.percent(3.0, 6.5) == 0.0  # a counter that went back (a reset): 0, never negative
    process = CpuClock(100.0, limit=400.0)
    process.percent(0.0, 0.0)
    assert process.percent(0.5, 1.0) == 200.0  # two cores' worth
    assert process.percent(1.0, 4.0) == 400.0  # capped at every core

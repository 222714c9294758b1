"""`monitor --record FILE` (headless, JSON Lines) and `monitor --replay FILE` (the Monitor pane over a file)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from foundry_tui.config import Settings
from foundry_tui.engine import units
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.engine.recording import Recorder, read_recording, record
from foundry_tui.errors import BadInputError


def _positive(value: float | None, flag: str) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise BadInputError(f"{flag} must be a positive number of seconds")


def run_record(settings: Settings, args: argparse.Namespace) -> int:
    _positive(args.duration, "--duration")
    _positive(args.interval, "--interval")
    if args.interval < 0.01:
        raise BadInputError("--interval must be at least 0.01 s")
    path = Path(args.record)
    sampler = MemorySampler(interval_s=args.interval)
    # Which process holds the model: --pid, else the endpoint's server when it runs here, else this process.
    sampler.watch_server(endpoint=settings.endpoint, pid=args.pid)
    sampler.open_gpus()
    recorder = Recorder(path)
    interrupted = False
    try:
        record(sampler, recorder, duration_s=args.duration, interval_s=args.interval)
    except KeyboardInterrupt:  # Ctrl-C ends a recording; every line written so far is already on disk
        interrupted = True
    finally:
        recorder.close()
        sampler.stop()
    print(
        f"recorded {units.count(recorder.samples, 'sample')} and {units.count(recorder.events, 'marker')} to {path}"
        f" (server: {sampler.server.label}; GPU: {sampler.gpu_reason or 'NVML'})",
        file=sys.stderr,
    )
    return 130 if interrupted and args.duration is not None else 0


def run_replay(args: argparse.Namespace) -> int:
    path = Path(args.replay)
    timeline = read_recording(path)  # BadInputError (one line, exit 2) before any screen is drawn
    from foundry_tui.tui.replay import ReplayApp

    ReplayApp(timeline, path.name).run()
    return 0


def run_monitor(settings: Settings, args: argparse.Namespace) -> int:
    if args.replay:
        return run_replay(args)
    return run_record(settings, args)


__all__ = ["run_monitor", "run_record", "run_replay"]

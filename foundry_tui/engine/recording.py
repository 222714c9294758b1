"""Record samples and markers as JSON Lines; read such a file back as a `Timeline`.

One JSON object per line, each with `t` (seconds on the sampler's clock: `time.monotonic()` of the recording
machine) and `kind`: "sample" or "event". A sample carries the fields of a MemorySample, named by the registry in
engine.metrics (SAMPLE_SERIES' `field`s, and GPU_SERIES' inside each entry of `gpus`), in MB / % / W / °C / J,
null where not measurable; an event carries `event`, `model` and `detail`. Every line is flushed when written, so
an interrupted recording keeps what it had.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from foundry_tui.engine.events import MonitorEvent
from foundry_tui.engine.metrics import GPU_SERIES, SAMPLE_SERIES, gpu_key, series_field
from foundry_tui.engine.monitor import MemorySample, MemorySampler
from foundry_tui.engine.timeline import Timeline
from foundry_tui.errors import BadInputError

# The registry is the one description of a sample: (series key, JSON field), the GPU ones inside each GPU's object.
_SAMPLE_FIELDS = tuple((m.key, series_field(m)) for m in SAMPLE_SERIES)
_GPU_FIELDS = tuple((m, series_field(m)) for m in GPU_SERIES)


def _num(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), 4)


def sample_record(sample: MemorySample, *, server: str = "", gpu_reason: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"t": round(sample.t, 6), "kind": "sample"}
    for _, name in _SAMPLE_FIELDS:
        record[name] = _num(getattr(sample, name))
    record["server_pid"] = sample.server_pid
    record["server"] = server
    record["gpu_reason"] = gpu_reason
    record["gpus"] = [
        {"index": g.index, "name": g.name, **{name: _num(getattr(g, name)) for _, name in _GPU_FIELDS}}
        | {"processes_note": g.processes_note}
        for g in sample.gpus
    ]
    return record


def event_record(event: MonitorEvent) -> dict[str, Any]:
    return {"t": round(event.t, 6), "kind": "event", "event": event.kind, "model": event.model, "detail": event.detail}


class Recorder:
    """Appends records to a file, one flushed line each; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._file: IO[str] = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.samples = 0
        self.events = 0

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            if record["kind"] == "sample":
                self.samples += 1
            else:
                self.events += 1

    def write_event(self, event: MonitorEvent) -> None:
        self.write(event_record(event))

    def close(self) -> None:
        with self._lock:
            self._file.close()


def record(
    sampler: MemorySampler,
    recorder: Recorder,
    *,
    duration_s: float | None,
    interval_s: float,
    stop: threading.Event | None = None,
    on_sample: Callable[[MemorySample], None] | None = None,
) -> None:
    """Sample every `interval_s` (at the fast rate while the sampler is asked to be fast) until `duration_s`
    passed or `stop` is set; markers are written as they happen."""
    stop = stop or threading.Event()
    sampler.events.subscribe(recorder.write_event)
    started = sampler.clock()
    next_t = started
    try:
        while not stop.is_set():
            sample = sampler.sample_now()
            recorder.write(sample_record(sample, server=sampler.server.label, gpu_reason=sampler.gpu_reason))
            if on_sample is not None:
                on_sample(sample)
            now = sampler.clock()
            if duration_s is not None and now - started >= duration_s:
                break
            step = min(interval_s, sampler.fast_interval_s) if sampler.is_fast else interval_s
            next_t = max(next_t + step, now)
            if duration_s is not None:
                next_t = min(next_t, started + duration_s)
            stop.wait(max(0.0, next_t - now))
    finally:
        sampler.events.unsubscribe(recorder.write_event)


# -- reading -----------------------------------------------------------------------------------------------


def _bad(path: Path, line: int, why: str) -> BadInputError:
    return BadInputError(f"{path}:{line}: {why} (not a foundry-tui monitor recording?)")


def _float(path: Path, line: int, name: str, value: object) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path, line, f"'{name}' is not a number")
    return float(value)


def read_recording(path: Path) -> Timeline:
    """Parse a recording; any problem is a BadInputError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BadInputError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read it ({exc})") from exc
    rows: list[dict[str, float]] = []
    events: list[MonitorEvent] = []
    server, gpu_reason = "", None
    gpu_names: dict[int, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            raise _bad(path, number, "not JSON") from None
        if not isinstance(data, dict):
            raise _bad(path, number, "not a JSON object")
        t = _float(path, number, "t", data.get("t"))
        if math.isnan(t):
            raise _bad(path, number, "no 't'")
        kind = data.get("kind")
        if kind == "event":
            name = data.get("event")
            model = data.get("model")
            if not isinstance(name, str) or not (model is None or isinstance(model, str)):
                raise _bad(path, number, "an event needs 'event' (and 'model' text or null)")
            events.append(MonitorEvent(t, name, model, str(data.get("detail") or "")))
            continue
        if kind != "sample":
            raise _bad(path, number, '\'kind\' must be "sample" or "event"')
        row = {"t": t}
        for key, name in _SAMPLE_FIELDS:
            row[key] = _float(path, number, name, data.get(name))
        gpus = data.get("gpus") or []
        if not isinstance(gpus, list):
            raise _bad(path, number, "'gpus' is not a list")
        for gpu in gpus:
            if not isinstance(gpu, dict) or not isinstance(gpu.get("index"), int):
                raise _bad(path, number, "a GPU entry needs an integer 'index'")
            index = int(gpu["index"])
            gpu_names[index] = str(gpu.get("name") or f"GPU {index}")
            for metric, name in _GPU_FIELDS:
                row[gpu_key(index, metric)] = _float(path, number, name, gpu.get(name))
        rows.append(row)
        server = str(data.get("server") or server)
        gpu_reason = data.get("gpu_reason") if isinstance(data.get("gpu_reason"), str) else None
    if not rows:
        raise BadInputError(f"{path}: no samples in it (not a foundry-tui monitor recording?)")
    rows.sort(key=lambda r: r["t"])
    keys = sorted({key for row in rows for key in row})
    series = {key: np.array([row.get(key, math.nan) for row in rows], dtype=float) for key in keys}
    events.sort(key=lambda e: e.t)
    end = max(rows[-1]["t"], events[-1].t if events else -math.inf)
    return Timeline(series, tuple(events), gpu_reason, server, end, gpu_names)


__all__ = ["Recorder", "event_record", "read_recording", "record", "sample_record"]

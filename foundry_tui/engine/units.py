"""One way to write each kind of number, for every front end and report (definitions: docs/metrics.md, "Units").

Sizes are binary everywhere: 1 MB = 2^20 bytes and 1 GB = 2^30 bytes (what `free -m`, nvidia-smi and psutil users
read), whether the figure is a model file, a cache directory or a process's memory. A missing value (unknown, not
measurable, not applicable) is written `MISSING`, never 0.
"""

from __future__ import annotations

import math

MB = 1_048_576  # bytes
GB = 1024 * MB
MISSING = "–"
MINUS = "−"  # U+2212: a sign that lines up with "+" in columns


def _absent(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def mb_of(n_bytes: float) -> float:
    """Bytes → MB (binary)."""
    return n_bytes / MB


def size(mb: float | None, *, signed: bool = False, compact: bool = False, missing: str = MISSING) -> str:
    """A size given in MB: `340 KB`, `258 MB`, `1.21 GB`, `23.5 GB` (three significant figures from 1 GB).

    `signed`: `+12 MB` / `−1.05 GB` (a change). `compact`: chart axes, `300M`, `1.2G`."""
    if _absent(mb):
        return missing
    assert mb is not None
    sign = ("+" if mb >= 0 else MINUS) if signed else ("-" if mb < 0 else "")
    value = abs(mb)
    if compact:
        return f"{sign}{value / 1024:.1f}G" if value >= 1024 else f"{sign}{value:.0f}M"
    if 0 < value < 1:
        return f"{sign}{value * 1024:.0f} KB"
    if value < 1024:
        return f"{sign}{value:.0f} MB"
    if value < 10 * 1024:
        return f"{sign}{value / 1024:.2f} GB"
    return f"{sign}{value / 1024:.1f} GB"


def _time(value: float | None, unit: str, missing: str) -> str:
    """Two decimals below 10, one below 100, none above: no more digits than a clock's noise allows."""
    if _absent(value):
        return missing
    assert value is not None
    decimals = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{decimals}f} {unit}"


def size_pair(used_mb: float, total_mb: float, unit: str = " GB") -> str:
    """A compact used/total pair in GB with one decimal each and the unit once: `8.0/32.0 GB` (the strip)."""
    return f"{used_mb / 1024:.1f}/{total_mb / 1024:.1f}{unit}"


def ms(value: float | None, *, missing: str = MISSING) -> str:
    """A latency in milliseconds: `1.93 ms`, `45.2 ms`, `1234 ms`."""
    return _time(value, "ms", missing)


def seconds(value: float | None, *, missing: str = MISSING) -> str:
    """A duration in seconds: `0.02 s`, `12.3 s`, `95 s`; below 10 ms to its first significant digit (`0.005 s`,
    `0.0004 s`): a load of a few ms is not 0."""
    if value is not None and math.isfinite(value) and 0 < abs(value) < 0.01:
        decimals = min(6, -math.floor(math.log10(abs(value))))
        return f"{value:.{decimals}f} s"
    return _time(value, "s", missing)


def rate(value: float | None, unit: str = "tok/s", *, missing: str = MISSING) -> str:
    """A rate with one decimal: `43.7 tok/s`, `2.50 req/s` (request rates get two: they are small)."""
    if _absent(value):
        return missing
    assert value is not None
    return f"{value:.2f} {unit}" if unit == "req/s" else f"{value:.1f} {unit}"


def number(value: float | None, decimals: int = 1, unit: str = "", *, missing: str = MISSING) -> str:
    """A plain number with a fixed number of decimals and an optional unit."""
    if _absent(value):
        return missing
    assert value is not None
    text = f"{value:.{decimals}f}"
    return f"{text} {unit}" if unit else text


def percent(value: float | None, *, missing: str = MISSING) -> str:
    if _absent(value):
        return missing
    assert value is not None
    return f"{value:.0f}%"


def count(value: int | None, noun: str, *, missing: str = MISSING) -> str:
    """`1 model`, `3 models`, `0 models` (English plural by a trailing s)."""
    if value is None:
        return missing
    return f"{value} {noun}" if value == 1 else f"{value} {noun}s"


def eta(value: float | None, *, missing: str = MISSING) -> str:
    """Seconds left as mm:ss (h:mm:ss past an hour)."""
    if _absent(value) or value is None or value < 0:
        return missing
    total = round(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def speed(mb_per_s: float | None, *, missing: str = MISSING) -> str:
    """A transfer speed: `8.4 MB/s`, `120 MB/s`."""
    if _absent(mb_per_s):
        return missing
    assert mb_per_s is not None
    return f"{mb_per_s:.0f} MB/s" if mb_per_s >= 100 else f"{mb_per_s:.1f} MB/s"


def age(seconds: float | None, *, missing: str = MISSING) -> str:
    """How long ago, in words a banner can hold: `40 s`, `12 min`, `3 h`, `2 days`."""
    if _absent(seconds) or seconds is None:
        return missing
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


__all__ = [
    "GB",
    "MB",
    "MINUS",
    "MISSING",
    "age",
    "count",
    "eta",
    "mb_of",
    "ms",
    "number",
    "percent",
    "rate",
    "seconds",
    "size",
    "size_pair",
    "speed",
]

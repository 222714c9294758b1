"""One registry of every figure foundry-tui shows or writes: its name, unit, formatter and definition's anchor.

The sampler's series, the recordings, the Monitor pane, the strip, the chat summary, the benchmark tables and
reports all take names, units and formatting from here, so a figure reads the same everywhere. Each `anchor` is an
`<a id="…">` in docs/metrics.md (a test checks that every one exists), where the figure is defined once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from foundry_tui.engine import units


def _fixed(decimals: int, unit: str) -> Callable[[float | None], str]:
    return lambda value: units.number(value, decimals, unit)


_FORMATTERS: dict[str, Callable[[float | None], str]] = {
    "ms": units.ms,
    "s": units.seconds,
    "MB": units.size,
    "tok/s": units.rate,
    "req/s": lambda value: units.rate(value, "req/s"),
    "%": units.percent,
    "W": _fixed(0, "W"),
    "°C": _fixed(0, "°C"),
    "J": _fixed(2, "J"),
    "J/token": _fixed(4, "J/token"),
    "tokens": _fixed(0, "tokens"),
    "0–1": _fixed(2, ""),
    "1–5": lambda value: units.number(value, 1, "/5").replace(" /", "/"),  # 4.0/5
    "±%": lambda value: _signed_percent(value),
}


def _signed_percent(value: float | None) -> str:
    """`+3%`, `−12%` (U+2212, lines up with +): an error or a change."""
    text = units.percent(value)
    if text == units.MISSING or value is None:
        return text
    return ("+" if round(value) >= 0 else units.MINUS) + text.lstrip("-")


@dataclass(frozen=True)
class Metric:
    key: str  # the name in results files, sample series and code: "ttft_ms", "process_rss"
    label: str  # what a person reads: "TTFT", "RSS (this process)"
    unit: str  # one of the units above
    anchor: str  # <a id> of its definition in docs/metrics.md
    better: str | None = None  # "lower" / "higher" when a change has a good direction (comparisons)
    field: str | None = None  # sample series: the name in a MemorySample and in a recording line

    def fmt(self, value: float | None) -> str:
        """The value with its unit, the way every front end writes it (`units.MISSING` when absent)."""
        return _FORMATTERS[self.unit](value)

    @property
    def doc(self) -> str:
        return f"docs/metrics.md#{self.anchor}"


def _series(key: str, label: str, unit: str, anchor: str) -> Metric:
    suffix = {"MB": "_mb", "%": "_pct"}[unit]
    return Metric(key, label, unit, anchor, field=key + suffix)


# -- one request (chat and benchmark) ------------------------------------------------------------------------

TTFT = Metric("ttft_ms", "TTFT", "ms", "ttft", "lower")
E2E = Metric("e2e_ms", "e2e", "ms", "e2e", "lower")
DECODE = Metric("decode_tps", "decode", "tok/s", "decode-rate", "higher")
ITL = Metric("itl_ms", "ITL", "ms", "itl", "lower")
COMPLETION_TOKENS = Metric("completion_tokens", "tokens", "tokens", "completion-tokens")
PROMPT_TOKENS = Metric("prompt_tokens", "prompt tokens", "tokens", "prompt-tokens")
E2E_RATE = Metric("e2e_tps", "whole-request rate", "tok/s", "whole-request-rate", "higher")
LIVE_RATE = Metric("live_tps", "live rate", "tok/s", "live-rate")
LOAD_TIME = Metric("load_s", "load", "s", "load-time", "lower")

# -- a benchmark level ---------------------------------------------------------------------------------------

OUTPUT_THROUGHPUT = Metric("output_throughput_tps", "output throughput", "tok/s", "output-throughput", "higher")
REQUEST_THROUGHPUT = Metric("request_throughput_rps", "request throughput", "req/s", "request-throughput", "higher")
LEVEL_DURATION = Metric("duration_s", "level duration", "s", "level-duration")
RSS_PEAK = Metric("rss_peak_mb", "RSS peak", "MB", "rss-peak", "lower")
GPU_PEAK = Metric("gpu_used_peak_mb", "GPU memory peak", "MB", "gpu-peak", "lower")
ENERGY = Metric("energy_j", "energy", "J", "energy", "lower")
ENERGY_PER_TOKEN = Metric("j_per_token", "energy per token", "J/token", "energy-per-token", "lower")
RUBRIC = Metric("rubric", "rubric coverage", "0–1", "rubric", "higher")
JUDGE = Metric("judge", "judge score", "1–5", "judge", "higher")

# -- the fit estimate (docs/metrics.md, Monitor) ---------------------------------------------------------------

FIT_ESTIMATE = Metric("fit_estimate_mb", "fit estimate", "MB", "fit-estimate")
FIT_ERROR = Metric("fit_error_pct", "estimate error", "±%", "fit-error")

# -- the sampler's series (one per sample; recordings add the unit suffix: ram_used → ram_used_mb) -------------

RAM_USED = _series("ram_used", "RAM used", "MB", "ram-used")
RAM_TOTAL = _series("ram_total", "RAM total", "MB", "ram-used")
RAM_AVAILABLE = _series("ram_available", "RAM available", "MB", "ram-used")
SWAP_USED = _series("swap_used", "swap used", "MB", "swap")
SWAP_TOTAL = _series("swap_total", "swap total", "MB", "swap")
PROCESS_RSS = _series("process_rss", "RSS (this process)", "MB", "rss")
PROCESS_USS = _series("process_uss", "USS (this process)", "MB", "uss")
CPU_SYSTEM = _series("cpu_system", "CPU (all cores)", "%", "cpu-system")
CPU_PROCESS = _series("cpu_process", "CPU (this process)", "%", "cpu-process")
SERVER_RSS = _series("server_rss", "RSS (server)", "MB", "server-rss")
SERVER_USS = _series("server_uss", "USS (server)", "MB", "uss")
SERVER_CPU = _series("server_cpu", "CPU (server)", "%", "cpu-process")

SAMPLE_SERIES: tuple[Metric, ...] = (
    RAM_USED,
    RAM_TOTAL,
    RAM_AVAILABLE,
    SWAP_USED,
    SWAP_TOTAL,
    PROCESS_RSS,
    PROCESS_USS,
    CPU_SYSTEM,
    CPU_PROCESS,
    SERVER_RSS,
    SERVER_USS,
    SERVER_CPU,
)

# Per NVIDIA GPU: the series key is f"gpu{index}_{key}", the recording field (inside the GPU's object) `field`.
GPU_USED = Metric("used", "GPU memory used", "MB", "gpu-used", field="used_mb")
GPU_TOTAL = Metric("total", "GPU memory total", "MB", "gpu-used", field="total_mb")
GPU_UTIL = Metric("util", "GPU utilisation", "%", "gpu-util", field="util_pct")
GPU_POWER = Metric("power", "GPU power", "W", "gpu-power", field="power_w")
GPU_TEMP = Metric("temp", "GPU temperature", "°C", "gpu-temp", field="temp_c")
GPU_ENERGY = Metric("energy", "GPU energy counter", "J", "gpu-energy", field="energy_j")
GPU_PROCESS = Metric("process", "GPU memory (this process)", "MB", "gpu-process", field="process_mb")
GPU_SERVER = Metric("server", "GPU memory (server)", "MB", "gpu-process", field="server_mb")

GPU_SERIES: tuple[Metric, ...] = (
    GPU_USED,
    GPU_TOTAL,
    GPU_UTIL,
    GPU_POWER,
    GPU_TEMP,
    GPU_ENERGY,
    GPU_PROCESS,
    GPU_SERVER,
)


def gpu_key(index: int, metric: Metric) -> str:
    """The timeline series of one GPU's metric: gpu_key(0, GPU_USED) == "gpu0_used"."""
    return f"gpu{index}_{metric.key}"


def series_field(metric: Metric) -> str:
    """A sample series' `field`: its MemorySample / GpuMemory attribute and its recording name. ValueError otherwise."""
    if metric.field is None:
        raise ValueError(f"{metric.key!r} is not a sample series (it has no field)")
    return metric.field


REGISTRY: dict[str, Metric] = {
    m.key: m
    for m in (
        TTFT,
        E2E,
        DECODE,
        ITL,
        COMPLETION_TOKENS,
        PROMPT_TOKENS,
        E2E_RATE,
        LIVE_RATE,
        LOAD_TIME,
        OUTPUT_THROUGHPUT,
        REQUEST_THROUGHPUT,
        LEVEL_DURATION,
        RSS_PEAK,
        GPU_PEAK,
        ENERGY,
        ENERGY_PER_TOKEN,
        RUBRIC,
        JUDGE,
        FIT_ESTIMATE,
        FIT_ERROR,
        *SAMPLE_SERIES,
    )
}

# -- memory attributed to a model (benchmark tables and reports; engine.bench.memory) -------------------------

MODEL_MEMORY = Metric("model_memory_mb", "model memory", "MB", "model-memory", "lower")
SERVER_RSS_PEAK = Metric("server_rss_peak_mb", "server RSS peak", "MB", "server-rss-peak", "lower")
REGISTRY.update({m.key: m for m in (MODEL_MEMORY, SERVER_RSS_PEAK)})

# -- prefill, goodput, cold starts, usable context (engine.bench.phase_summaries, engine.bench.slo) ------------

PREFILL = Metric("prefill_tps", "prefill rate ≈", "tok/s", "prefill-rate", "higher")
GOODPUT = Metric("goodput_share", "goodput", "%", "goodput", "higher")
GOODPUT_RATE = Metric("goodput_rps", "goodput rate", "req/s", "goodput", "higher")
COLD_TTFT = Metric("cold_ttft_ms", "cold TTFT", "ms", "cold-start", "lower")
COLD_LOAD = Metric("cold_load_s", "reload time", "s", "cold-start", "lower")
USABLE_CONTEXT = Metric("works_up_to", "usable context", "tokens", "usable-context", "higher")
REGISTRY.update({m.key: m for m in (PREFILL, GOODPUT, GOODPUT_RATE, COLD_TTFT, COLD_LOAD, USABLE_CONTEXT)})

ALL: tuple[Metric, ...] = (*REGISTRY.values(), *GPU_SERIES)


def metric(key: str) -> Metric:
    """A registered metric by key; KeyError names the known keys."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"no metric {key!r} (known: {', '.join(sorted(REGISTRY))})") from None


__all__ = ["ALL", "GPU_SERIES", "REGISTRY", "SAMPLE_SERIES", "Metric", "gpu_key", "metric", "series_field"]

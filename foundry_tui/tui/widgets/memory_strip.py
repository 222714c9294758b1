"""The always-visible strip: RAM, this process, GPU memory, the stream's token rate and TTFT, last load/unload.

It only renders: memory from the engine's sampler (read twice a second), the rest from the data messages the app
posts to it (`StreamStats`, `ModelLoaded`, `ModelUnloaded`). The last load or unload shows the model's own memory
(growth since right before its load, in the process that holds it), never this process's RSS under its name.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from foundry_tui.engine import metrics, units
from foundry_tui.engine.monitor import MemorySample, MemorySampler
from foundry_tui.text import safe_line
from foundry_tui.tui.messages import ModelLoaded, ModelUnloaded, StreamStats
from foundry_tui.tui.widgets.literal import literal

RATE_POINTS = 180  # ~1 minute of stream updates at 3 Hz


class MemoryStrip(Widget):
    DEFAULT_CSS = """
    MemoryStrip {
        height: 2;
        background: $panel;
    }
    MemoryStrip Horizontal { height: 1; }
    MemoryStrip Label { width: auto; padding: 0 1 0 0; }
    MemoryStrip Label.value { color: $text; text-style: bold; }
    MemoryStrip #ram { width: 13; }
    MemoryStrip #rss { width: 10; }
    MemoryStrip #gpu { width: 1fr; max-width: 30; }
    MemoryStrip #rate { width: 15; }
    MemoryStrip #ttft { width: 9; }
    MemoryStrip #lifecycle { width: 1fr; color: $text-muted; }
    MemoryStrip #rate-spark { max-width: 12; }
    MemoryStrip Label.name { color: $text-muted; padding: 0 1; }
    MemoryStrip Sparkline { width: 1fr; min-width: 4; max-width: 24; margin: 0 1 0 0; }
    """

    def __init__(self, sampler: MemorySampler, *, refresh_s: float = 0.5) -> None:
        super().__init__()
        self._sampler = sampler
        self._refresh_s = refresh_s
        self._rates: list[float] = []
        self._last: tuple[str, str] | None = None  # the last load/unload: (model, its figures)

    def compose(self) -> ComposeResult:
        with Horizontal(id="memory-row"):
            yield Label("RAM", classes="name")
            yield Label(units.MISSING, id="ram", classes="value", markup=False)
            yield Sparkline([], id="ram-spark")
            yield Label("RSS", classes="name")
            yield Label(units.MISSING, id="rss", classes="value", markup=False)
            yield Sparkline([], id="rss-spark")
            yield Label("GPU", classes="name")
            yield Label(units.MISSING, id="gpu", classes="value", markup=False)
            yield Sparkline([], id="gpu-spark")
        with Horizontal(id="stream-row"):
            yield Label("rate", classes="name")
            yield Label(units.MISSING, id="rate", classes="value", markup=False)
            yield Sparkline([], id="rate-spark")
            yield Label("TTFT", classes="name")
            yield Label(units.MISSING, id="ttft", classes="value", markup=False)
            yield Label("", id="lifecycle", markup=False)

    def on_mount(self) -> None:
        self.set_interval(self._refresh_s, self.refresh_memory)
        self.refresh_memory()

    def _set(self, selector: str, text: str) -> None:
        # Fixed-width labels: a changed number needs a repaint, not a relayout of the whole screen.
        label = self.query_one(selector, Label)
        if str(label.render()) != text:
            label.update(text, layout=False)

    def refresh_memory(self) -> None:
        sample = self._sampler.latest()
        if sample is None:
            return
        self.show_sample(sample)
        history = self._sampler.history()
        self.query_one("#ram-spark", Sparkline).data = list(history[metrics.RAM_USED.key])
        self.query_one("#rss-spark", Sparkline).data = list(history[metrics.PROCESS_RSS.key])
        gpu_series = history.get(metrics.gpu_key(0, metrics.GPU_USED))
        gpu_spark = self.query_one("#gpu-spark", Sparkline)
        if gpu_spark.display != (gpu_series is not None):
            gpu_spark.display = gpu_series is not None
        if gpu_series is not None:
            gpu_spark.data = list(gpu_series)

    def show_sample(self, sample: MemorySample) -> None:
        self._set("#ram", units.size_pair(sample.ram_used_mb, sample.ram_total_mb))
        self._set("#rss", units.size(sample.process_rss_mb))
        if sample.gpus:
            gpu_text = " ".join(f"{g.index}:{units.size_pair(g.used_mb, g.total_mb, 'G')}" for g in sample.gpus)
        else:
            gpu_text = "no NVIDIA GPU"
        self._set("#gpu", gpu_text)
        gpu = self.query_one("#gpu", Label)
        if gpu.tooltip != self._sampler.gpu_reason:
            gpu.tooltip = self._sampler.gpu_reason

    def on_stream_stats(self, message: StreamStats) -> None:
        if message.streaming or message.rate_tps:
            self._rates = [*self._rates[-(RATE_POINTS - 1) :], message.rate_tps]
        self._set("#rate", metrics.LIVE_RATE.fmt(message.rate_tps) if self._rates else units.MISSING)
        self.query_one("#rate-spark", Sparkline).data = list(self._rates)
        self._set("#ttft", metrics.TTFT.fmt(message.ttft_ms))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        report = message.report
        memory = report.memory
        own = memory.note if memory and memory.note else units.size(report.model_mb, signed=True)
        self._lifecycle(report.model, f"load {metrics.LOAD_TIME.fmt(report.load_s)} · {own}")

    def on_model_unloaded(self, message: ModelUnloaded) -> None:
        report = message.report
        memory = report.memory
        if memory is not None and memory.note:
            self._lifecycle(report.model, f"unloaded · {memory.note}")
        elif report.model_residue_mb is None:
            self._lifecycle(report.model, "unloaded")
        else:
            self._lifecycle(report.model, f"residue {units.size(report.model_residue_mb, signed=True)}")

    def _lifecycle(self, model: str, figures: str) -> None:
        """The last load or unload: the model's own figures, with its name in front when the label has room (at 80
        columns it has ~30); the whole line is the tooltip."""
        self._last = (safe_line(model, 120), figures)
        self._show_lifecycle()

    def _show_lifecycle(self) -> None:
        if self._last is None:
            return
        model, figures = self._last
        label = self.query_one("#lifecycle", Label)
        whole = f"{model}: {figures}"
        self._set("#lifecycle", whole if len(whole) <= label.size.width - 1 else figures)
        if str(label.tooltip or "") != whole:
            label.tooltip = literal(whole)  # a model id is untrusted: a str tooltip would be parsed as markup

    def on_resize(self) -> None:
        self._show_lifecycle()

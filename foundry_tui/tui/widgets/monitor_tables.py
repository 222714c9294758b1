"""The Monitor pane's text tables, as pure functions: per-process figures and the per-model memory table, which
reflows to the width (one line per model when it fits, else a name line and lines of figures)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from foundry_tui.engine import metrics as m
from foundry_tui.engine import units
from foundry_tui.engine.fit import FitCheck, estimate_error_pct
from foundry_tui.engine.metrics import Metric, gpu_key
from foundry_tui.engine.models import ModelEntry
from foundry_tui.engine.timeline import ModelMemoryReport, Timeline
from foundry_tui.engine.variants import fallback_for
from foundry_tui.text import escape_controls, middle_ellipsis, safe_line
from foundry_tui.tui.widgets.catalog_rows import FALLBACK
from foundry_tui.tui.widgets.catalog_table import device_text

PROC_COLUMNS = ("process", "RSS", "USS", "CPU", "peak RSS", "GPU mem")
# The model's own memory, as growth since right before its load: peak during the load, steady after it, after its
# requests (the KV cache), and residue after the unload; "vs est" is the estimate's error for the figure before it.
FIGURE_COLUMNS = ("load", "peak", "steady", "vs est", "after req", "vs est", "residue")
GPU_FIGURE_COLUMNS = ("GPU peak", "GPU resid.")


def now(view: Timeline, metric: Metric, gpu: int | None = None) -> str:
    """The latest value of a registered series (a GPU's when `gpu` is given), formatted by the registry."""
    return metric.fmt(view.latest(metric.key if gpu is None else gpu_key(gpu, metric)))


def peak(view: Timeline, metric: Metric, gpu: int | None = None) -> str:
    return metric.fmt(view.peak(metric.key if gpu is None else gpu_key(gpu, metric)))


def axis_mb(mb: float) -> str:
    """Chart axes: `300M`, `1.2G`."""
    return units.size(mb, compact=True)


def seconds_ago(t: float, end: float) -> str:
    delta = max(0.0, end - t)
    return f"−{delta:.1f} s" if delta < 100 else f"−{delta / 60:.1f} min"


def process_rows(view: Timeline) -> list[tuple[str, ...]]:
    """Cells for this process and the server process (untrusted labels made safe)."""
    gpus = view.gpu_indices()

    def gpu_cell(metric: Metric) -> str:
        if not gpus:
            return "–"
        values = [(i, view.latest(gpu_key(i, metric))) for i in gpus]
        if all(v is None for _, v in values):
            return "n/a"
        if len(values) == 1:
            return units.size(values[0][1])
        return " ".join(f"{i}:{axis_mb(v)}" for i, v in values if v is not None)

    rows: list[tuple[str, ...]] = [
        (
            "this process",
            now(view, m.PROCESS_RSS),
            now(view, m.PROCESS_USS),
            now(view, m.CPU_PROCESS),
            peak(view, m.PROCESS_RSS),
            gpu_cell(m.GPU_PROCESS),
        )
    ]
    server = safe_line(view.server or "unknown", 60)
    if view.server.startswith("this process"):
        rows.append(("server: this process (in-process runtime)", "=", "=", "=", "=", "="))
    elif view.has(m.SERVER_RSS.key):
        rows.append(
            (
                f"server {server}",
                now(view, m.SERVER_RSS),
                now(view, m.SERVER_USS),
                now(view, m.SERVER_CPU),
                peak(view, m.SERVER_RSS),
                gpu_cell(m.GPU_SERVER),
            )
        )
    else:
        rows.append((f"server: {server}", "–", "–", "–", "–", "–"))
    return rows


def runs_on(entry: ModelEntry, variants: Sequence[ModelEntry]) -> str:
    """Where a model runs, as the Catalog writes it (`GPU/CUDA`, `CPU`), with a CPU-fallback flag when its alias
    has GPU / NPU variants but this CPU one is the one in use; "" when the backend does not say."""
    if not entry.device and not entry.execution_provider:
        return ""
    text = escape_controls(device_text(entry))
    return f"{text} {FALLBACK}" if fallback_for(entry, variants) else text


@dataclass(frozen=True)
class ModelRow:
    """One model's cells: its name and state, the estimate, and FIGURE_COLUMNS (+ GPU_FIGURE_COLUMNS)."""

    model: str
    state: str
    estimate: str  # the estimate's total
    figures: tuple[str, ...]
    note: str = ""  # why its memory is not measurable (it replaces the estimate)


def report_row(report: ModelMemoryReport, check: FitCheck | None, with_gpu: bool) -> ModelRow:
    """The model's own memory (growth since its load) and the estimate's error for steady and after requests."""
    memory = report.memory
    shown = check.estimate if check else None
    est = shown
    if est is not None and (est.rule != "genai_config" or (check is not None and check.target == "VRAM")):
        est = None  # no error: the size rule is headroom, not an estimate; a GPU variant's estimate is VRAM, not RSS
    steady_err = estimate_error_pct(est.load_mb if est else None, memory.load_delta_mb)
    requests_err = estimate_error_pct(est.total_mb if est else None, memory.requests_delta_mb)
    figures: tuple[str, ...] = (
        m.LOAD_TIME.fmt(report.load_s),
        units.size(memory.peak_delta_mb, signed=True),
        units.size(memory.load_delta_mb, signed=True),
        m.FIT_ERROR.fmt(steady_err),
        units.size(memory.requests_delta_mb, signed=True),
        m.FIT_ERROR.fmt(requests_err),
        units.size(memory.residue_mb, signed=True),
    )
    if with_gpu:
        gpu = report.gpu
        figures += (
            units.size(gpu.peak_delta_mb if gpu else None, signed=True),
            units.size(gpu.residue_mb if gpu else None, signed=True),
        )
    note = ""
    if report.note:
        note = "remote — not measurable" if "remote" in report.note else "memory not measurable"
    estimate = m.FIT_ESTIMATE.fmt(shown.total_mb if shown else None)
    return ModelRow(safe_line(report.model, 200), report.state, estimate, figures, note)


def model_table(rows: list[ModelRow], headers: tuple[str, ...], width: int) -> tuple[list[str], list[list[str]]]:
    """(header lines, lines of each row) within `width`: one line per model when everything fits with the model
    name at ≥ 24 columns; else a name line (model · state · est) and the figures packed under it."""
    widths = [max(len(h), *(len(r.figures[i]) for r in rows)) for i, h in enumerate(headers)]
    state_w = max(len("state"), *(len(r.state) for r in rows))
    with_est = any(r.note or r.estimate != units.MISSING for r in rows)  # a replay has no estimates
    est_w = max(len("estimate"), *(len(r.note or r.estimate) for r in rows)) if with_est else -2
    rest = sum(w + 2 for w in widths) + state_w + 2 + est_w + 2
    name_w = min(max(len("model"), *(len(r.model) for r in rows)), width - rest)
    if name_w >= min(24, max(len(r.model) for r in rows)):

        def line(name: str, state: str, cells: tuple[str, ...], est: str) -> str:
            figures = "".join("  " + c.rjust(w) for c, w in zip(cells, widths, strict=True))
            last = f"  {est.rjust(est_w)}" if with_est else ""
            return f"{middle_ellipsis(name, name_w).ljust(name_w)}  {state.ljust(state_w)}{figures}{last}"

        return [line("model", "state", headers, "estimate")], [
            [line(r.model, r.state, r.figures, r.note or r.estimate)] for r in rows
        ]
    groups: list[list[int]] = [[]]  # the figure columns packed into lines of `width`, indented by 2
    used = 0
    for index, w in enumerate(widths):
        if groups[-1] and used + 2 + w > width:
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += 2 + w

    def packed(cells: tuple[str, ...]) -> list[str]:
        return ["".join("  " + cells[i].rjust(widths[i]) for i in group) for group in groups]

    header = ["model · state · estimate" if with_est else "model · state", *packed(headers)]
    out = []
    for row in rows:
        extra = row.note or ("" if row.estimate == units.MISSING else f"est {row.estimate}")
        tail = f" · {row.state}" + (f" · {extra}" if extra else "")
        name = middle_ellipsis(row.model, max(8, width - len(tail)))
        out.append([(name + tail)[:width], *packed(row.figures)])
    return header, out


def text_table(headers: tuple[str, ...], rows: list[tuple[str, ...]], width: int | None) -> list[str]:
    """Aligned columns; numbers align right. With a `width`, the first column (names) shrinks with an ellipsis
    to fit; without, lines are as long as they need."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    if width is None:
        width = sum(widths) + 2 * (len(widths) - 1)
    others = sum(widths[1:]) + 2 * (len(widths) - 1)
    widths[0] = max(8, min(widths[0], width - others))

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0] if len(cells[0]) <= widths[0] else cells[0][: widths[0] - 1] + "…"
        rest = [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first.ljust(widths[0]), *rest])[:width]

    return [line(headers), *(line(row) for row in rows)]


def table_text(lines: list[str], header_lines: int = 1) -> Text:
    """The header bold, the rows plain; Text is never parsed as markup."""
    text = Text(no_wrap=True, overflow="crop")
    for index, line in enumerate(lines):
        text.append(line, style="bold" if index < header_lines else "")
        if index < len(lines) - 1:
            text.append("\n")
    return text

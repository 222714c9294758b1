"""Benchmark results as files and tables: results.json (the API), results.csv (one row per request),
benchmark_report.md, the CLI's tables, and manual annotations.

Every file is written atomically (a temp file in the same directory, then os.replace), so a reader, a crash or a
Ctrl-C never leaves half a file. Numbers in results.json and the CSV are raw; tables and the Markdown report
write them through the metrics registry (engine.metrics), with their units. Text from models and servers is
escaped before it reaches a CSV cell or Markdown. Shapes: docs/benchmarks.md.

Memory under a model's name is always the model's own (`model_memory_mb`, engine.bench.memory); this process's
whole RSS appears only in the report's memory section, under "process RSS" headers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench.compare_table import COMPARE_HEADERS, comparison_notes, comparison_rows
from foundry_tui.engine.bench.jsonio import json_default
from foundry_tui.engine.bench.phase_tables import (
    COLD_HEADERS,
    SWEEP_HEADERS,
    cold_notes,
    cold_rows,
    context_lines,
    sweep_rows,
)
from foundry_tui.engine.bench.results import BenchResults, RequestResult
from foundry_tui.engine.bench.slo import SloTarget, is_good, parse_slo
from foundry_tui.engine.bench.summaries import build_summaries
from foundry_tui.engine.bench.tables import (
    SUMMARY_HEADERS,
    estimated,
    goodput_text,
    level_status_text,
    model_status_text,
    summary_rows,
    with_goodput,
)
from foundry_tui.errors import BadInputError
from foundry_tui.files import write_atomic
from foundry_tui.text import escape_controls

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_MD = "benchmark_report.md"
MISSING = units.MISSING


def results_json_text(results: BenchResults) -> str:
    return json.dumps(results.to_json(), indent=2, ensure_ascii=False, allow_nan=False, default=json_default) + "\n"


def write_results(out_dir: Path, results: BenchResults) -> list[Path]:
    """results.json, results.csv and benchmark_report.md in `out_dir`, each atomically."""
    files = [
        (out_dir / RESULTS_JSON, results_json_text(results)),
        (out_dir / RESULTS_CSV, results_csv_text(results)),
        (out_dir / REPORT_MD, markdown_report(results)),
    ]
    for path, text in files:
        write_atomic(path, text)
    return [path for path, _ in files]


def load_results(path: Path) -> BenchResults:
    """A results.json (or a directory holding one); a one-line BadInputError naming the file when it is not one."""
    if path.is_dir():
        path = path / RESULTS_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"results file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read results file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"results file {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    return BenchResults.from_json(data, str(path))


# -- CSV -----------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "model",
    "concurrency",
    "mode",
    "prompt_index",
    "round",
    "status",
    "ttft_ms",
    "e2e_ms",
    "decode_tps",
    "e2e_tps",
    "itl_mean_ms",
    "itl_max_ms",
    "prompt_tokens",
    "completion_tokens",
    "tokens_estimated",
    "finish_reason",
    "gpu_energy_j",
    "cpu_energy_j",
    "rubric",
    "judge",
    "manual",
    "error",
    "model_memory_mb",  # the request's model's own memory (engine.bench.memory); added after "error"
    "tokens_source",  # added later still: new columns go at the end, so column positions never move
    "chunks",
    "cold",
    "slot",
    "session",
    "prefill_tps",
    "phase",
    "prompt_tokens_target",
    "prompt_tokens_exact",
    "load_s",
    "request_memory_mb",  # sweep / context / cold: the model's memory at that request
    "meets_slo",  # with an SLO: every target met (engine.bench.slo)
)


def _csv_row(r: RequestResult, model_memory_mb: float | None, slo: Sequence[SloTarget] = ()) -> list[object]:
    itl = r.itl_ms
    q = r.quality
    meets = (is_good(r, slo) if r.status in ("ok", "error") else None) if slo else None
    return [r.model, r.concurrency, r.mode, r.prompt_index, r.round, r.status, r.ttft_ms, r.e2e_ms, r.decode_tps,
            r.e2e_tps, sum(itl) / len(itl) if itl else None, max(itl) if itl else None, r.prompt_tokens,
            r.completion_tokens, r.tokens_estimated, r.finish_reason, r.gpu_energy_j, r.cpu_energy_j, q.rubric,
            q.judge, q.manual, r.error, model_memory_mb, r.tokens_source, r.chunks, r.cold, r.slot,
            r.session, r.prefill_tps, r.phase, r.prompt_tokens_target, r.prompt_tokens_exact, r.load_s,
            r.memory_mb, meets]  # fmt: skip


def results_csv_text(results: BenchResults) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    memory = {m.model: m.memory.model_memory_mb for m in results.models}
    slo = parse_slo(results.settings.slo, "settings.slo")
    for r in results.requests:
        row = _csv_row(r, memory.get(r.model), slo)
        writer.writerow(["" if value is None else _csv_cell(value) for value in row])
    return buffer.getvalue()


def _csv_cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    # Error text and model names come from servers: no control bytes, one line.
    text = " ".join(escape_controls(str(value)).split())
    # A spreadsheet would run a cell that starts like a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- manual annotations --------------------------------------------------------------------------------------


def set_annotation(
    path: Path,
    model: str,
    prompt_index: int,
    score: int | None,
    note: str | None = None,
    *,
    round_number: int | None = None,
) -> BenchResults:
    """Set (score 1–5) or clear (None) the manual quality score of an answer and rewrite results.json atomically.

    Applies to every request of `model` × `prompt_index` (with temperature 0 the rounds give the same answer), or
    only to `round_number` when given. Summaries, the CSV and the Markdown report are rebuilt. Returns the new
    results."""
    if score is not None and (isinstance(score, bool) or score not in (1, 2, 3, 4, 5)):
        raise BadInputError(f"a manual score must be a whole number from 1 to 5, got {score!r}")
    results = load_results(path)
    json_path = path / RESULTS_JSON if path.is_dir() else path
    hits = 0
    for request in results.requests:
        if request.model != model or request.prompt_index != prompt_index:
            continue
        if round_number is not None and request.round != round_number:
            continue
        request.quality.manual = score
        request.quality.manual_note = note if score is not None else None
        hits += 1
    if hits == 0:
        raise BadInputError(f"no request of {model!r} for prompt {prompt_index} in {json_path}")
    results.summaries = build_summaries(results)
    write_atomic(json_path, results_json_text(results))
    with contextlib.suppress(OSError):
        write_atomic(json_path.parent / REPORT_MD, markdown_report(results))
        write_atomic(json_path.parent / RESULTS_CSV, results_csv_text(results))
    return results


# -- Markdown ------------------------------------------------------------------------------------------------


def _md_cell(value: object) -> str:
    text = " ".join(escape_controls(str(value)).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _md_code(value: object) -> str:
    """A code span: its text is shown as is (no entities there), so only backticks, which would end it, change."""
    return "`" + " ".join(escape_controls(str(value)).split()).replace("`", "'") + "`"


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _energy_text(value: float | None, state: object, estimate: bool = False) -> str:
    if not isinstance(state, dict) or state.get("state") != "measured":
        return "not measurable here"
    return estimated(metrics.ENERGY_PER_TOKEN.fmt(value), estimate)


def _header_lines(results: BenchResults) -> list[str]:
    env = results.environment
    machine = env.get("machine") or {}
    versions = env.get("versions") or {}
    backend = env.get("backend") or {}
    gpus = ", ".join(str(g.get("name")) for g in machine.get("gpus") or [])
    settings = results.settings
    ram = machine.get("ram_total_mb")
    lines = ["# Benchmark report", ""]
    if results.partial:
        why = f" ({results.stopped_by})" if results.stopped_by else ""
        lines += [
            f"**Partial results**: the run was stopped{why} or is still going; only what was measured is here. "
            "`foundry-tui bench --resume DIR` finishes it.",
            "",
        ]
    lines += [
        f"- started {results.started_at or MISSING}, finished {results.finished_at or MISSING}",
        f"- machine: {_md_cell(machine.get('cpu', MISSING))}, {machine.get('logical_cpus', MISSING)} logical CPUs, "
        f"{units.size(ram) if isinstance(ram, int | float) else MISSING} RAM; {_md_cell(machine.get('os', MISSING))}",
        f"- GPU: {_md_cell(gpus or machine.get('gpu_state') or MISSING)}",
        f"- backend: {_md_cell(backend.get('label') or MISSING)}",
        f"- versions: {_md_cell(', '.join(f'{k} {v}' for k, v in versions.items() if v))}",
        f"- settings: {settings.rounds} rounds after {settings.warmup} warmup, "
        f"max tokens {settings.max_tokens}{' (all prompts)' if settings.max_tokens_override else ''}, "
        f"temperature {settings.temperature}, concurrency {settings.concurrency}, "
        f"modes {settings.modes}, {len(results.prompts)} prompts"
        f"{' from ' + _md_cell(settings.prompt_file) if settings.prompt_file else ''}",
        "",
        "Definitions: docs/metrics.md (latency = e2e; tok/s = mean decode rate, first piece excluded; `~`: from an "
        "estimated token count; steady: over the window in which every stream was busy).",
    ]
    return lines


LEVEL_HEADERS = ("MODEL", "MODE", "CONC", "STATUS", "TTFT P50", "TTFT P95", "TTFT COLD", "ITL P50", "ITL P99",
                 "E2E P50", "E2E P95", "E2E P99", "PREFILL ≈ P50", "DECODE MEAN", "REQ/S", "OUT TOK/S",
                 "STEADY REQ/S", "STEADY TOK/S", "TOKENS FROM")  # fmt: skip
# The model's own memory and how it was counted, then this process's raw RSS figures (the client's, with an
# endpoint) and the endpoint's server process.
MEMORY_HEADERS = ("MODEL", "MODEL MEMORY", "HOW", "PROCESS RSS BEFORE LOAD", "AFTER LOAD", "PEAK", "AFTER UNLOAD",
                  "KEPT", "SERVER RSS PEAK", "GPU PEAK", "GPU J/TOK", "CPU J/TOK")  # fmt: skip


def _level_rows(results: BenchResults) -> list[list[object]]:
    ttft, itl, e2e = metrics.TTFT, metrics.ITL, metrics.E2E
    return [
        [
            s.model,
            s.mode,
            s.concurrency,
            level_status_text(s),
            ttft.fmt(s.ttft_ms.p50),
            ttft.fmt(s.ttft_ms.p95),
            ttft.fmt(s.ttft_cold_ms),
            itl.fmt(s.itl_ms.p50),
            itl.fmt(s.itl_ms.p99),
            e2e.fmt(s.e2e_ms.p50),
            e2e.fmt(s.e2e_ms.p95),
            e2e.fmt(s.e2e_ms.p99),
            metrics.PREFILL.fmt(s.prefill_tps.p50),
            estimated(metrics.DECODE.fmt(s.decode_tps.mean), s.tokens_estimated),
            metrics.REQUEST_THROUGHPUT.fmt(s.request_throughput_rps),
            estimated(metrics.OUTPUT_THROUGHPUT.fmt(s.output_throughput_tps), s.tokens_estimated),
            metrics.REQUEST_THROUGHPUT.fmt(s.steady_request_throughput_rps),
            estimated(metrics.OUTPUT_THROUGHPUT.fmt(s.steady_output_throughput_tps), s.tokens_estimated),
            s.tokens_source or MISSING,
            *([goodput_text(s)] if results.settings.slo else []),
        ]
        for s in results.summaries
    ]


def _memory_rows(results: BenchResults) -> list[list[object]]:
    energy_env = results.environment.get("energy") or {}
    rows: list[list[object]] = []
    for model in results.models:
        m = model.memory
        summary = next((s for s in results.summaries if s.model == model.model), None)
        gpu_j = summary.energy.gpu_j_per_token if summary else None
        cpu_j = summary.energy.cpu_j_per_token if summary else None
        estimate = bool(summary and summary.tokens_estimated)  # per token: from an estimated count
        rows.append(
            [model.model, metrics.MODEL_MEMORY.fmt(m.model_memory_mb), m.model_memory_note or MISSING,
             units.size(m.rss_before_load_mb), units.size(m.rss_after_load_mb), units.size(m.rss_peak_mb),
             units.size(m.rss_after_unload_mb), units.size(m.rss_kept_after_unload_mb, signed=True),
             metrics.SERVER_RSS_PEAK.fmt(m.server_rss_peak_mb),
             ", ".join(units.size(v) for v in m.gpu_used_peak_mb or []) or MISSING,
             _energy_text(gpu_j, energy_env.get("gpu"), estimate), _energy_text(cpu_j, energy_env.get("cpu"), estimate)]
        )  # fmt: skip
    return rows


def _phase_sections(results: BenchResults) -> list[str]:
    lines: list[str] = []
    if results.sweep:
        lines += ["", "## Prompt-length sweep", ""]
        lines += _md_table(SWEEP_HEADERS, sweep_rows(results))
        lines += ["", "PROMPT: the generated user message in tokens (~: estimated, no tokenizer for the model); "
                  "SENT: as the server counted it, chat template included. One fresh prompt per round."]  # fmt: skip
    if results.cold_starts:
        lines += ["", "## Cold starts", ""]
        lines += _md_table(COLD_HEADERS, cold_rows(results))
        lines += [f"\n- {_md_cell(note)}" for note in cold_notes(results)]
    if results.context:
        lines += ["", "## Usable context", ""]
        lines += [f"- {_md_cell(line)}" for line in context_lines(results)]
    if results.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {_md_cell(w)}" for w in results.warnings]
    return lines


def markdown_report(results: BenchResults) -> str:
    lines = _header_lines(results)
    lines += ["", "## Models", ""]
    lines += _md_table(with_goodput(results, SUMMARY_HEADERS), summary_rows(results))
    lines += ["", "## Latency and throughput per concurrency level", ""]
    if results.settings.slo:
        lines += [f"Goodput: the share of requests meeting every target of {_md_code(results.settings.slo)}.", ""]
    lines += _md_table(with_goodput(results, LEVEL_HEADERS), _level_rows(results))
    lines += [
        "",
        "PREFILL ≈: prompt tokens / TTFT, an approximation that includes queueing and scheduling "
        "(docs/metrics.md#prefill-rate).",
    ]
    lines += _phase_sections(results)
    lines += ["", "## Memory and energy", ""]
    lines += _md_table(MEMORY_HEADERS, _memory_rows(results))
    lines += [
        "",
        "Model memory: the model's own (docs/metrics.md#model-memory); MEMORY in the model table is the "
        "same figure. Process RSS: this whole process (with an endpoint, the client, not the model).",
    ]
    failures = [m for m in results.models if m.status != "ok"]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [
            f"- {_md_code(m.model)}: {_md_cell(model_status_text(results, m.model))}: {_md_cell(m.error or MISSING)}"
            for m in failures
        ]
    judge = results.judge
    if judge is not None:
        lines += [
            "",
            "## Judge",
            "",
            f"- {_md_cell(judge.model)}: {judge.status}, {judge.scored} answers scored, "
            f"{judge.unparsed} without a usable score" + (f": {_md_cell(judge.error)}" if judge.error else ""),
        ]
    comparison = results.comparison
    if comparison is not None:
        *warnings, method = comparison_notes(comparison)
        baseline = f"Baseline: {_md_cell(comparison.baseline or MISSING)}. {_md_cell(method)}"
        lines += ["", "## Against the baseline", "", baseline, ""]
        lines += [f"- **{_md_cell(w)}**" for w in warnings] + ([""] if warnings else [])
        lines += _md_table(COMPARE_HEADERS, comparison_rows(comparison))
    return "\n".join(lines) + "\n"

"""Benchmark results as files: results.json (the API), results.csv (one row per request), benchmark_report.md.

Every file is written atomically (a temp file in the same directory, then os.replace), so a reader, a crash or a
Ctrl-C never leaves half a file. `build_summaries` is a pure function of the results dict, so summaries can be
rebuilt after a judge run or a manual annotation. Shapes: docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from foundry_tui.engine.quality import quality_summary
from foundry_tui.engine.stats import summarize
from foundry_tui.errors import BadInputError

METRICS = ("ttft_ms", "itl_ms", "e2e_ms", "decode_tps", "completion_tokens", "prompt_tokens", "e2e_tps")
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_MD = "benchmark_report.md"


# -- summaries -----------------------------------------------------------------------------------------------


def _level(model: Mapping[str, Any], concurrency: int, mode: str) -> Mapping[str, Any] | None:
    for level in model.get("levels", []):
        if level["concurrency"] == concurrency and level["mode"] == mode:
            found: Mapping[str, Any] = level
            return found
    return None


def _sum(values: Iterable[float | int | None]) -> float:
    return float(sum(v for v in values if v is not None))


def summarize_requests(requests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Metric summaries over the ok requests; ITL pools every gap of every request."""
    ok = [r for r in requests if r.get("status") == "ok"]
    out: dict[str, Any] = {}
    for metric in METRICS:
        if metric == "itl_ms":
            out[metric] = summarize(gap for r in ok for gap in r.get("itl_ms") or [])
        else:
            out[metric] = summarize(r.get(metric) for r in ok)
    out["tokens_estimated"] = any(r.get("tokens_estimated") for r in ok)
    return out


def build_summaries(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One summary per model × concurrency level × mode, in run order."""
    settings = results.get("settings", {})
    levels = settings.get("concurrency", [1])
    modes = settings.get("modes", ["stream"])
    requests = results.get("requests", [])
    out = []
    for model in results.get("models", []):
        name = model["model"]
        memory = model.get("memory", {})
        for concurrency in levels:
            for mode in modes:
                rows = [
                    r for r in requests if r["model"] == name and r["concurrency"] == concurrency and r["mode"] == mode
                ]
                measured = [r for r in rows if r["status"] in ("ok", "error") and r.get("e2e_ms") is not None]
                ok = [r for r in rows if r["status"] == "ok"]
                level = _level(model, concurrency, mode)
                if level is not None:
                    status, error = (
                        level["status"],
                        level["error"] or (model["error"] if level["status"] == "error" else None),
                    )
                elif model["status"] in ("pending", "running"):
                    status, error = "pending", None
                elif model.get("levels"):
                    status, error = "skipped", f"not run: {model['error'] or model['status']}"
                else:
                    status, error = model["status"], model["error"]
                duration = None
                if measured:
                    start = min(r["t_start_s"] for r in measured)
                    end = max(r["t_start_s"] + r["e2e_ms"] / 1000 for r in measured)
                    duration = end - start if end > start else None
                tokens = _sum(r.get("completion_tokens") for r in ok)
                gpu_j = level.get("gpu_energy_j") if level else None
                cpu_j = level.get("cpu_energy_j") if level else None
                summary: dict[str, Any] = {
                    "model": name,
                    "alias": model.get("alias"),
                    "concurrency": concurrency,
                    "mode": mode,
                    "status": status,
                    "error": error,
                    "n_requests": len(rows),
                    "n_ok": len(ok),
                    "n_failed": sum(1 for r in rows if r["status"] == "error"),
                    **summarize_requests(rows),
                    "duration_s": duration,
                    "request_throughput_rps": len(ok) / duration if duration else None,
                    "output_throughput_tps": tokens / duration if duration else None,
                    "load_s": model.get("load", {}).get("load_s"),
                    "rss_before_load_mb": memory.get("rss_before_load_mb"),
                    "rss_after_load_mb": memory.get("rss_after_load_mb"),
                    "rss_peak_mb": memory.get("rss_peak_mb"),
                    "rss_after_unload_mb": memory.get("rss_after_unload_mb"),
                    "rss_kept_after_unload_mb": memory.get("rss_kept_after_unload_mb"),
                    "ram_used_peak_mb": memory.get("ram_used_peak_mb"),
                    "gpu_used_peak_mb": memory.get("gpu_used_peak_mb"),
                    "energy": {
                        "gpu_j": gpu_j,
                        "cpu_j": cpu_j,
                        "gpu_j_per_token": gpu_j / tokens if gpu_j is not None and tokens else None,
                        "cpu_j_per_token": cpu_j / tokens if cpu_j is not None and tokens else None,
                    },
                    "quality": quality_summary(ok),
                    "size_mb": model.get("size_mb"),
                    "license": model.get("license"),
                    "capabilities": model.get("capabilities", []),
                }
                out.append(summary)
    return out


# -- atomic files --------------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, fsync, then os.replace: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def results_json_text(results: Mapping[str, Any]) -> str:
    return json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


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
)


def results_csv_text(results: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results.get("requests", []):
        itl = r.get("itl_ms") or []
        quality = r.get("quality") or {}
        row = {
            **r,
            "itl_mean_ms": sum(itl) / len(itl) if itl else None,
            "itl_max_ms": max(itl) if itl else None,
            "rubric": quality.get("rubric"),
            "judge": quality.get("judge"),
            "manual": quality.get("manual"),
        }
        writer.writerow(["" if row.get(c) is None else _csv_cell(row.get(c)) for c in CSV_COLUMNS])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A spreadsheet would run a cell that starts like a formula: error text comes from servers.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_results(out_dir: Path, results: Mapping[str, Any]) -> list[Path]:
    """results.json, results.csv and benchmark_report.md in `out_dir`, each atomically."""
    files = [
        (out_dir / RESULTS_JSON, results_json_text(results)),
        (out_dir / RESULTS_CSV, results_csv_text(results)),
        (out_dir / REPORT_MD, markdown_report(results)),
    ]
    for path, text in files:
        write_atomic(path, text)
    return [path for path, _ in files]


def load_results(path: Path) -> dict[str, Any]:
    """A results.json (or a directory holding one); a one-line BadInputError when it is not one."""
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
    if not isinstance(data, dict) or not isinstance(data.get("requests"), list) or "summaries" not in data:
        raise BadInputError(f"{path} is not a foundry-tui benchmark results file (no 'requests' / 'summaries')")
    return data


# -- manual annotations --------------------------------------------------------------------------------------


def set_annotation(
    path: Path,
    model: str,
    prompt_index: int,
    score: int | None,
    note: str | None = None,
    *,
    round_number: int | None = None,
) -> dict[str, Any]:
    """Set (score 1–5) or clear (None) the manual quality score of an answer and rewrite results.json atomically.

    Applies to every request of `model` × `prompt_index` (with temperature 0 the rounds give the same answer), or
    only to `round_number` when given. Summaries and the Markdown report are rebuilt. Returns the new results."""
    if score is not None and (isinstance(score, bool) or score not in (1, 2, 3, 4, 5)):
        raise BadInputError(f"a manual score must be a whole number from 1 to 5, got {score!r}")
    results = load_results(path)
    json_path = path / RESULTS_JSON if path.is_dir() else path
    hits = 0
    for request in results["requests"]:
        if request.get("model") != model or request.get("prompt_index") != prompt_index:
            continue
        if round_number is not None and request.get("round") != round_number:
            continue
        quality = request.setdefault("quality", {})
        quality["manual"] = score
        quality["manual_note"] = note if score is not None else None
        hits += 1
    if hits == 0:
        raise BadInputError(f"no request of {model!r} for prompt {prompt_index} in {json_path}")
    results["summaries"] = build_summaries(results)
    write_atomic(json_path, results_json_text(results))
    with contextlib.suppress(OSError):
        write_atomic(json_path.parent / REPORT_MD, markdown_report(results))
        write_atomic(json_path.parent / RESULTS_CSV, results_csv_text(results))
    return results


# -- human-readable ------------------------------------------------------------------------------------------


def fmt(value: float | int | None, spec: str = ".1f", unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:{spec}}"
    return f"{text} {unit}" if unit else text


def quality_text(quality: Mapping[str, Any]) -> str:
    parts = []
    if quality.get("rubric_mean") is not None:
        parts.append(f"{quality['rubric_mean'] * 100:.0f}%")
    if quality.get("judge_mean") is not None:
        parts.append(f"judge {quality['judge_mean']:.1f}/5")
    if quality.get("manual_mean") is not None:
        parts.append(f"manual {quality['manual_mean']:.1f}/5")
    return " · ".join(parts) or "-"


def size_text(size_mb: float | None) -> str:
    if size_mb is None:
        return "-"
    return f"{size_mb / 1024:.1f} GB" if size_mb >= 1024 else f"{size_mb:.0f} MB"


SUMMARY_HEADERS = (
    "MODEL",
    "STATUS",
    "LATENCY AVG",
    "LATENCY P95",
    "TTFT P50",
    "TOK/S",
    "TOKENS",
    "RSS PEAK",
    "LOAD",
    "QUALITY",
    "DISK",
    "LICENSE",
)


def summary_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """One row per model: its first concurrency level, streamed (latency = e2e; tok/s = mean decode rate)."""
    rows = []
    first_level = (results.get("settings", {}).get("concurrency") or [1])[0]
    for s in results.get("summaries", []):
        if s["concurrency"] != first_level or s["mode"] != "stream":
            continue
        tokens = s["completion_tokens"]["mean"]
        rows.append(
            [
                s["model"],
                s["status"],
                fmt(s["e2e_ms"]["mean"], ".1f", "ms"),
                fmt(s["e2e_ms"]["p95"], ".1f", "ms"),
                fmt(s["ttft_ms"]["p50"], ".1f", "ms"),
                fmt(s["decode_tps"]["mean"], ".1f"),
                ("~" if s["tokens_estimated"] else "") + fmt(tokens, ".1f") if tokens is not None else "-",
                fmt(s["rss_peak_mb"], ".0f", "MB"),
                fmt(s["load_s"], ".2f", "s"),
                quality_text(s["quality"]),
                size_text(s["size_mb"]),
                s["license"] or "-",
            ]
        )
    return rows


THROUGHPUT_HEADERS = ("MODEL", "MODE", "CONCURRENCY", "REQ/S", "OUTPUT TOK/S", "E2E P95", "OK", "FAILED")


def throughput_rows(results: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            s["model"],
            s["mode"],
            str(s["concurrency"]),
            fmt(s["request_throughput_rps"], ".2f"),
            fmt(s["output_throughput_tps"], ".1f"),
            fmt(s["e2e_ms"]["p95"], ".1f", "ms"),
            str(s["n_ok"]),
            str(s["n_failed"]),
        ]
        for s in results.get("summaries", [])
    ]


def _md_cell(value: Any) -> str:
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def markdown_report(results: Mapping[str, Any]) -> str:
    env = results.get("environment", {})
    machine = env.get("machine", {})
    versions = env.get("versions", {})
    backend = env.get("backend", {})
    settings = results.get("settings", {})
    lines = ["# Benchmark report", ""]
    if results.get("partial"):
        lines += ["**Partial results**: the run was stopped or is still going; only what was measured is here.", ""]
    lines += [
        f"- started {results.get('started_at') or '-'}, finished {results.get('finished_at') or '-'}",
        f"- machine: {_md_cell(machine.get('cpu', '-'))}, {machine.get('logical_cpus', '-')} logical CPUs, "
        f"{machine.get('ram_total_mb', '-')} MB RAM; {_md_cell(machine.get('os', '-'))}",
        f"- GPU: {_md_cell(', '.join(g['name'] for g in machine.get('gpus', [])) or machine.get('gpu_state') or '-')}",
        f"- backend: {_md_cell(backend.get('label') or '-')}",
        f"- versions: {_md_cell(', '.join(f'{k} {v}' for k, v in versions.items() if v))}",
        f"- settings: {settings.get('rounds')} rounds after {settings.get('warmup')} warmup, "
        f"max tokens {settings.get('max_tokens')}{' (all prompts)' if settings.get('max_tokens_override') else ''}, "
        f"temperature {settings.get('temperature')}, concurrency {settings.get('concurrency')}, "
        f"modes {settings.get('modes')}, {len(results.get('prompts', []))} prompts"
        f"{' from ' + _md_cell(settings['prompt_file']) if settings.get('prompt_file') else ''}",
        "",
        "Definitions: docs/metrics.md (latency = e2e; tok/s = mean decode rate, first token excluded).",
        "",
        "## Models",
        "",
    ]
    lines += _md_table(SUMMARY_HEADERS, summary_rows(results))
    lines += ["", "## Latency and throughput per concurrency level", ""]
    headers = ("MODEL", "MODE", "CONC", "TTFT P50", "TTFT P95", "ITL P50", "ITL P99", "E2E P50", "E2E P95",
               "E2E P99", "DECODE MEAN", "REQ/S", "OUT TOK/S", "N")  # fmt: skip
    rows = []
    for s in results.get("summaries", []):
        rows.append(
            [
                s["model"],
                s["mode"],
                s["concurrency"],
                fmt(s["ttft_ms"]["p50"], ".1f"),
                fmt(s["ttft_ms"]["p95"], ".1f"),
                fmt(s["itl_ms"]["p50"], ".2f"),
                fmt(s["itl_ms"]["p99"], ".2f"),
                fmt(s["e2e_ms"]["p50"], ".1f"),
                fmt(s["e2e_ms"]["p95"], ".1f"),
                fmt(s["e2e_ms"]["p99"], ".1f"),
                fmt(s["decode_tps"]["mean"], ".1f"),
                fmt(s["request_throughput_rps"], ".2f"),
                fmt(s["output_throughput_tps"], ".1f"),
                s["n_ok"],
            ]
        )
    lines += _md_table(headers, rows)
    lines += ["", "Times in ms, rates in tok/s or req/s.", "", "## Memory and energy", ""]
    energy_env = env.get("energy", {})
    mem_rows = []
    for model in results.get("models", []):
        memory = model.get("memory", {})
        s = next((x for x in results.get("summaries", []) if x["model"] == model["model"]), None)
        energy = s["energy"] if s else {}
        mem_rows.append(
            [
                model["model"],
                fmt(memory.get("rss_before_load_mb"), ".0f"),
                fmt(memory.get("rss_after_load_mb"), ".0f"),
                fmt(memory.get("rss_peak_mb"), ".0f"),
                fmt(memory.get("rss_after_unload_mb"), ".0f"),
                fmt(memory.get("rss_kept_after_unload_mb"), ".0f"),
                ", ".join(f"{v:.0f}" for v in memory.get("gpu_used_peak_mb") or []) or "-",
                _energy_text(energy.get("gpu_j_per_token"), energy_env.get("gpu", {})),
                _energy_text(energy.get("cpu_j_per_token"), energy_env.get("cpu", {})),
            ]
        )
    lines += _md_table(
        (
            "MODEL",
            "RSS BEFORE LOAD",
            "AFTER LOAD",
            "PEAK",
            "AFTER UNLOAD",
            "KEPT",
            "GPU PEAK",
            "GPU J/TOK",
            "CPU J/TOK",
        ),
        mem_rows,
    )
    lines += ["", "Memory in MB (RSS of this process; with an endpoint the server's memory is not in it)."]
    failures = [m for m in results.get("models", []) if m.get("status") not in ("ok",)]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- `{_md_cell(m['model'])}`: {m['status']}: {_md_cell(m.get('error') or '-')}" for m in failures]
    judge = results.get("judge")
    if judge:
        lines += [
            "",
            "## Judge",
            "",
            f"- {_md_cell(judge['model'])}: {judge['status']}, {judge['scored']} answers scored, "
            f"{judge['unparsed']} without a usable score"
            + (f": {_md_cell(judge['error'])}" if judge.get("error") else ""),
        ]
    comparison = results.get("comparison")
    if comparison:
        lines += ["", "## Against the baseline", "", f"Baseline: {_md_cell(comparison.get('baseline', '-'))}. "
                  f"{_md_cell(comparison.get('method', ''))}", ""]  # fmt: skip
        lines += _md_table(COMPARE_HEADERS, comparison_rows(comparison))
    return "\n".join(lines) + "\n"


def _energy_text(value: float | None, state: Mapping[str, Any]) -> str:
    if state.get("state") != "measured":
        return "not measurable here"
    return fmt(value, ".4g")


COMPARE_HEADERS = ("MODEL", "CONC", "MODE", "METRIC", "BASELINE P50", "NEW P50", "CHANGE", "VERDICT")


def comparison_rows(comparison: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for row in comparison.get("rows", []):
        change = row.get("change_pct")
        rows.append(
            [
                row["model"],
                str(row["concurrency"]),
                row["mode"],
                row["metric"],
                fmt(row.get("a_median"), ".2f"),
                fmt(row.get("b_median"), ".2f"),
                "-" if change is None else f"{change:+.1f}%",
                row["verdict"],
            ]
        )
    return rows

"""report.html: one self-contained page of a benchmark run, for people to look at (`report DIR --html`,
`bench --html`).

Everything is inline: the style sheet and the figures (inline SVG from engine.bench.plots); no script, no font, no
image, no address to fetch, and a Content-Security-Policy that forbids fetching anything, so the page opens the
same offline. Numbers go through the metrics registry (engine.metrics) as in the Markdown report: `~` before
figures made from estimated token counts, statuses with their counts, "remote" for a model whose memory cannot be
seen, `–` for a figure that is missing (never 0). Every text that came from a model, a server or a file (names,
errors, notes, prompts, environment strings) is one printable line (`safe_line`: control characters shown as
`\\xNN`) and HTML-escaped. Definitions: docs/metrics.md; the file: docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench import plots, plots_memory
from foundry_tui.engine.bench.compare_table import COMPARE_HEADERS, comparison_notes, comparison_rows
from foundry_tui.engine.bench.jsonio import fields_json
from foundry_tui.engine.bench.phase_tables import (
    COLD_HEADERS,
    SWEEP_HEADERS,
    cold_notes,
    cold_rows,
    context_line,
    sweep_rows,
)
from foundry_tui.engine.bench.results import BenchResults, Summary
from foundry_tui.engine.bench.tables import (
    THROUGHPUT_HEADERS,
    estimated,
    goodput_text,
    level_status_text,
    memory_text,
    model_status_text,
    quality_text,
    throughput_rows,
    with_goodput,
)
from foundry_tui.files import write_atomic
from foundry_tui.text import safe_line

REPORT_HTML = "report.html"
MISSING = units.MISSING
PREFILL_NOTE = "≈ prompt tokens / TTFT, includes scheduling"


class Markup(str):
    """HTML built here from escaped parts: a table cell that is not escaped again."""


def esc(text: object, limit: int = 400) -> str:
    """Untrusted text as HTML: one printable line (controls as visible escapes), then escaped."""
    return html.escape(safe_line(str(text), limit))


def _cell(value: object) -> str:
    return value if isinstance(value, Markup) else esc(value, 1000)


_NUMERIC = re.compile(r"^(?:[~+−-]?\d|–$)")
_TAG = re.compile(r"<[^>]*>")


def _table(headers: Sequence[object], rows: Iterable[Sequence[object]], cls: str = "") -> str:
    """A table; cells that read as figures are right-aligned (the first column never is)."""
    head = "".join(f"<th>{_cell(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = [(_cell(v), i > 0 and _NUMERIC.match(_TAG.sub("", _cell(v)))) for i, v in enumerate(row)]
        body.append("<tr>" + "".join(f'<td class="n">{t}</td>' if n else f"<td>{t}</td>" for t, n in cells) + "</tr>")
    table = f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'  # a wide table scrolls by itself, not the page


def _titled(text: str, title: str | None) -> Markup:
    """A cell with a tooltip (a note on how the figure was counted)."""
    if not title:
        return Markup(esc(text))
    return Markup(f'<span class="note" title="{esc(title, 600)}">{esc(text)}</span>')


def _swatch(model: str, colours: Mapping[str, str]) -> Markup:
    colour = colours.get(model, "#888888")  # the palette's own hex values, never text from the file
    return Markup(f'<span class="sw" style="background:{colour}"></span>{esc(model, 200)}')


def _section(anchor: str, title: str, body: str, intro: str = "") -> str:
    lead = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{lead}{body}</section>'


def _figure(svg: str | None, absent: str) -> str:
    return f'<figure class="fig">{svg}</figure>' if svg else f'<p class="absent">{html.escape(absent)}</p>'


# -- header --------------------------------------------------------------------------------------------------


def _duration(results: BenchResults) -> str | None:
    try:
        start = dt.datetime.fromisoformat(results.started_at or "")
        end = dt.datetime.fromisoformat(results.finished_at or "")
    except ValueError:
        return None
    return units.age((end - start).total_seconds())


def _backends(results: BenchResults) -> list[str]:
    backend = results.environment.get("backend") or {}
    names = [str(backend.get("label"))] if isinstance(backend, dict) and backend.get("label") else []
    endpoints = [m.endpoint for m in results.models if m.endpoint] + list(results.settings.endpoints)
    names += [e for e in dict.fromkeys(endpoints) if not any(e in name for name in names)]  # once, label or URL
    return names


def machine_line(environment: Mapping[str, Any]) -> str:
    machine = environment.get("machine")
    if not machine or not isinstance(machine, dict):
        return MISSING
    ram = machine.get("ram_total_mb")
    gpus = ", ".join(str(g.get("name")) for g in machine.get("gpus") or [] if isinstance(g, dict))
    parts = [str(machine.get("cpu") or MISSING), f"{machine.get('logical_cpus') or MISSING} logical CPUs",
             f"{units.size(ram) if isinstance(ram, int | float) else MISSING} RAM",
             f"GPU: {gpus or machine.get('gpu_state') or MISSING}", str(machine.get("os") or MISSING)]  # fmt: skip
    return " · ".join(parts)


def _header(results: BenchResults) -> str:
    if not results.partial:
        status = "complete"
    elif results.stopped_by:
        status = f"partial: stopped by {results.stopped_by}; foundry-tui bench --resume DIR finishes it"
    else:
        status = "partial: still running, or the run ended without finishing (crash); --resume finishes it"
    took = _duration(results)
    when = f"{results.started_at or MISSING} → {results.finished_at or MISSING}" + (f" ({took})" if took else "")
    rows = [("run", when), ("status", status), ("backends", ", ".join(_backends(results)) or MISSING),
            ("machine", machine_line(results.environment))]  # fmt: skip
    items = "".join(f"<dt>{name}</dt><dd>{esc(value, 600)}</dd>" for name, value in rows)
    css = ' class="partial"' if results.partial else ""
    return f"<header><h1>Benchmark report</h1><dl{css}>{items}</dl></header>"


# -- the selection table -------------------------------------------------------------------------------------


def selection_summary(results: BenchResults, model: str) -> Summary | None:
    """The model's row of the selection table: its lowest concurrency (1 unless not run), streamed."""
    rows = [s for s in results.summaries if s.model == model]
    streamed = [s for s in rows if s.mode == "stream"] or rows
    return min(streamed, key=lambda s: s.concurrency, default=None)


def cold_text(results: BenchResults, summary: Summary) -> Markup:
    """The level's cold first request's TTFT and, with --cold, the reloads' p50, one per line."""
    lines = [] if summary.ttft_cold_ms is None else [esc(f"first {metrics.COLD_TTFT.fmt(summary.ttft_cold_ms)}")]
    cold = next((c for c in results.cold_starts if c.model == summary.model), None)
    if cold is not None and cold.ttft_ms.p50 is not None:
        reload = esc(f"reload p50 {metrics.COLD_TTFT.fmt(cold.ttft_ms.p50)}")
        lines.append(f'<span title="p50 over {cold.ttft_ms.n} reloads (--cold)">{reload}</span>')
    return Markup(f'<span class="lines">{"<br>".join(lines)}</span>' if lines else MISSING)


SELECTION_HEADERS = ("model", "status", "e2e avg", "e2e p95", "TTFT p50", "TTFT p95", "cold TTFT",
                     Markup(f"prefill p50<br><small>{html.escape(PREFILL_NOTE)}</small>"), "decode p50",
                     "memory", "load", "disk", "licence", "quality")  # fmt: skip
GOODPUT_AT = SELECTION_HEADERS.index("memory")  # with an SLO, the goodput column goes before memory


def selection_headers(results: BenchResults) -> list[object]:
    headers: list[object] = list(SELECTION_HEADERS)
    if results.settings.slo:
        headers.insert(GOODPUT_AT, "goodput")
    return headers


def selection_rows(results: BenchResults, colours: Mapping[str, str]) -> list[list[object]]:
    """One row per model (its `selection_summary`); cells as `selection_headers` names them."""
    slo = bool(results.settings.slo)
    rows: list[list[object]] = []
    for model in results.models:
        s = selection_summary(results, model.model)
        name = _swatch(model.model, colours)
        if model.endpoint:
            name = Markup(f"{name}<br><small>{esc(model.endpoint, 200)}</small>")
        status = _titled(model_status_text(results, model.model), model.error)
        if s is None:
            rows.append([name, status] + [MISSING] * (len(SELECTION_HEADERS) - 2 + slo))
            continue
        row: list[object] = [
            name, status, metrics.E2E.fmt(s.e2e_ms.mean), metrics.E2E.fmt(s.e2e_ms.p95),
            metrics.TTFT.fmt(s.ttft_ms.p50), metrics.TTFT.fmt(s.ttft_ms.p95), cold_text(results, s),
            metrics.PREFILL.fmt(s.prefill_tps.p50), estimated(metrics.DECODE.fmt(s.decode_tps.p50), s.tokens_estimated),
            _titled(memory_text(s), s.model_memory_note), _titled(metrics.LOAD_TIME.fmt(s.load_s), model.load.note),
            units.size(s.size_mb), s.license or MISSING, quality_text(s.quality),
        ]  # fmt: skip
        if slo:
            row.insert(GOODPUT_AT, goodput_text(s))
        rows.append(row)
    return rows


def _selection(results: BenchResults, colours: Mapping[str, str]) -> str:
    picked = [selection_summary(results, m.model) for m in results.models]
    which = ", ".join(str(c) for c in sorted({s.concurrency for s in picked if s is not None})) or "1"
    intro = (f"One row per model at concurrency {which}, streamed; more levels are under Throughput. Latency = e2e; "
             "TTFT without the cold first request; rates are per request; <code>~</code>: from an estimated token "
             "count; hover a memory or load figure for how it was counted.")  # fmt: skip
    return _section(
        "models", "Models", _table(selection_headers(results), selection_rows(results, colours), "wide"), intro
    )


# -- the phases ----------------------------------------------------------------------------------------------


def _throughput(results: BenchResults, colours: Mapping[str, str]) -> str:
    levels = {(s.concurrency, s.mode) for s in results.summaries}
    if len({c for c, _ in levels}) < 2 and len(levels) < 2:
        return ""
    svg = plots.throughput_svg(results, dict(colours))
    rows = _with_swatches(throughput_rows(results), colours)
    table = _table(with_goodput(results, THROUGHPUT_HEADERS), rows)
    body = _figure(svg, "one concurrency level: no throughput curve") + table
    intro = (
        "Whole level: over the level's duration (only for a level whose every request was ok); steady: over "
        "the window in which every stream was busy — the figure to compare across levels."
    )
    return _section("throughput", "Throughput vs concurrency", body, intro)


def _with_swatches(rows: list[list[str]], colours: Mapping[str, str]) -> list[list[object]]:
    """Rows whose first cell is a model name: its colour swatch in front."""
    return [[_swatch(row[0], colours), *row[1:]] for row in rows]


def _sweep(results: BenchResults, colours: Mapping[str, str]) -> str:
    if not results.sweep:
        return ""
    rows = _with_swatches(sweep_rows(results), colours)
    svg = plots.sweep_svg(results, dict(colours))
    intro = (
        f"Generated prompts of each length, one request at a time, a fresh prompt each round. Prefill: "
        f"{html.escape(PREFILL_NOTE)}. Prompt: the generated user message's tokens (<code>~</code>: estimated "
        "from characters, no tokenizer for the model); sent: as the server counted them, chat template included."
    )
    return _section("sweep", "Prompt-length sweep", _figure(svg, "no sweep point answered") + _table(SWEEP_HEADERS,
                    rows), intro)  # fmt: skip


def _context(results: BenchResults, colours: Mapping[str, str]) -> str:
    if not results.context:
        return ""
    items = [f'<li><span class="sw" style="background:{colours.get(c.model, "#888888")}"></span>'
             f"{esc(context_line(c), 800)}</li>" for c in results.context]  # fmt: skip
    limit = results.settings.context_ttft_limit_s
    intro = (
        "Prompt lengths doubled, then bisected, until a request failed"
        + (f" or its first token took over {limit:g} s" if limit else "")
        + "."
    )
    return _section("context", "Usable context", f"<ul>{''.join(items)}</ul>", intro)


def _cold(results: BenchResults, colours: Mapping[str, str]) -> str:
    if not results.cold_starts:
        return ""
    rows = _with_swatches(cold_rows(results), colours)
    svg = plots.cold_starts_svg(results, dict(colours))
    intro = "Each reload unloads and loads the model (timed), then sends one request: its TTFT is the cold TTFT."
    notes = "".join(f"<p>{esc(note)}</p>" for note in cold_notes(results))
    return _section("cold", "Cold starts", _figure(svg, "no cold request was recorded") + _table(COLD_HEADERS, rows)
                    + notes, intro)  # fmt: skip


def _goodput(results: BenchResults, colours: Mapping[str, str]) -> str:
    if not results.settings.slo:
        return ""
    targets = "".join(f"<li><code>{esc(t.strip())}</code></li>" for t in results.settings.slo.split(","))
    rows = [[_swatch(s.model, colours), str(s.concurrency), s.mode, level_status_text(s),
             MISSING if s.n_good is None else str(s.n_good), goodput_text(s),
             metrics.GOODPUT_RATE.fmt(s.goodput_rps)] for s in results.summaries]  # fmt: skip
    headers = ("model", "concurrency", "mode", "status", "good requests", "goodput share", "goodput rate")
    intro = (
        "A request is good when it succeeded and meets every target; the share counts ok and failed requests "
        "(not the cold first one), the rate is good requests over the level's duration."
    )
    return _section("goodput", "Goodput", f"<ul>{targets}</ul>" + _table(headers, rows), intro)


def _comparison(results: BenchResults) -> str:
    comparison = results.comparison
    if comparison is None:
        return ""
    *warnings, method = comparison_notes(comparison)
    notes = "".join(f'<li class="warn">{esc(w)}</li>' for w in warnings)
    rows: list[list[object]] = []
    for row, cells in zip(comparison.rows, comparison_rows(comparison), strict=True):
        verdict = Markup(f"<strong>{esc(cells[-1])}</strong>") if row.significant else cells[-1]
        rows.append([*cells[:-1], verdict])
    body = f"<p>Baseline: {esc(comparison.baseline or MISSING)}. {esc(method)}</p><ul>{notes}</ul>"
    return _section("comparison", "Against the baseline", body + _table(COMPARE_HEADERS, rows))


# -- warnings, failures, reproducibility ---------------------------------------------------------------------


def _warnings(results: BenchResults) -> str:
    lines = [*results.warnings, *(results.comparison.warnings or [] if results.comparison else [])]
    lines += [f"{m.model}: {model_status_text(results, m.model)}: {m.error or MISSING}" for m in results.models
              if m.status not in ("ok", "pending", "running")]  # fmt: skip
    notes = [f"{m.model}: {note}" for m in results.models for note in m.notes]
    if results.judge is not None and results.judge.error:
        lines.append(f"judge {results.judge.model}: {results.judge.status}: {results.judge.error}")
    if not lines and not notes:
        return ""
    body = "".join(f'<li class="warn">{esc(x, 600)}</li>' for x in lines)
    body += "".join(f"<li>{esc(x, 600)}</li>" for x in notes)
    return _section("warnings", "Warnings and notes", f"<ul>{body}</ul>")


def flat(value: object, key: str = "") -> str:
    """A value from results.json as one readable line: dicts as `key: value; …`, lists comma-separated, sizes
    (keys ending in _mb) as sizes."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_mb") and isinstance(value, int | float):
        return units.size(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {flat(v, str(k))}" for k, v in value.items()) or MISSING
    if isinstance(value, list | tuple):
        return ", ".join(flat(v, key) for v in value) or MISSING
    return str(value)


def _pairs(mapping: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{esc(k, 100)}</th><td>{esc(flat(v, str(k)), 1500)}</td></tr>" for k, v in mapping.items())
    return f'<table class="kv">{rows}</table>'


def _reproducibility(results: BenchResults) -> str:
    env = results.environment
    parts: list[str] = []
    for key, title in (("machine", "Machine"), ("versions", "Versions"), ("backend", "Backend"), ("energy", "Energy")):
        if isinstance(env.get(key), Mapping):
            parts.append(f"<div><h3>{title}</h3>{_pairs(env[key])}</div>")
    rest = {k: v for k, v in env.items() if k not in ("machine", "versions", "backend", "energy")}
    if rest:
        parts.append(f"<div><h3>Environment, other</h3>{_pairs(rest)}</div>")
    parts.append(f"<div><h3>Settings</h3>{_pairs(fields_json(results.settings))}</div>")
    parts = [f'<div class="grid">{"".join(parts)}</div>']
    models = [[m.model, m.requested or MISSING, m.alias or MISSING, m.endpoint or "in-process", m.device or MISSING,
               m.execution_provider or MISSING, m.source or MISSING, MISSING if m.context_length is None
               else str(m.context_length)] for m in results.models]  # fmt: skip
    parts.append("<h3>Models</h3>" + _table(("model", "requested", "alias", "endpoint", "device",
                 "execution provider", "source", "advertised context"), models))  # fmt: skip
    sessions = [[str(i), s.started_at or MISSING, s.finished_at or MISSING, s.ended or MISSING,
                 metrics.LEVEL_DURATION.fmt(s.t_offset_s)] for i, s in enumerate(results.sessions)]  # fmt: skip
    run = {"schema": results.schema, "started": results.started_at, "finished": results.finished_at,
           "partial": results.partial, "stopped by": results.stopped_by}  # fmt: skip
    parts.append(f"<h3>Run</h3>{_pairs(run)}")
    if sessions:
        parts.append(_table(("session", "started", "finished", "ended", "clock offset"), sessions))
    prompts = [[str(i), p.name or MISSING, MISSING if p.max_tokens is None else str(p.max_tokens),
                safe_line(p.system or "", 80) or MISSING, safe_line(p.prompt, 160)]
               for i, p in enumerate(results.prompts)]  # fmt: skip
    source = results.settings.prompt_file or "the shipped prompt set"
    parts.append(f"<h3>Prompts ({len(results.prompts)}, from {esc(source)})</h3>"
                 + _table(("#", "name", "max tokens", "system", "prompt"), prompts))  # fmt: skip
    return _section("reproducibility", "Reproducibility", "".join(parts))


# -- the page ------------------------------------------------------------------------------------------------

CSS = """
:root{color-scheme:light;--fg:#1d2329;--dim:#5b6570;--line:#d8dde3;--bg2:#f5f7f9;--warn:#8a4b00}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);
margin:0 auto;padding:22px 20px 60px;max-width:1400px}
h1{font-size:24px;margin:0 0 8px}h2{font-size:19px;margin:34px 0 6px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
header dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
header dt{color:var(--dim)}header dd{margin:0}header dl.partial dd:nth-of-type(2){color:var(--warn);font-weight:600}
nav{margin:14px 0 0;font-size:13px}nav a{margin-right:12px;color:#1f5f9e}
.intro,.absent,.dim{color:var(--dim)}.intro{margin:0 0 10px;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 4px;font-size:13px}table.wide{font-size:12px}
th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
thead th{background:var(--bg2);font-weight:600;font-size:11.5px;text-transform:uppercase;white-space:nowrap;
vertical-align:bottom}thead th small{font-weight:400;color:var(--dim);white-space:normal;display:block;max-width:150px;
text-transform:none}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td small{color:var(--dim)}table.wide td:first-child{min-width:150px;max-width:240px;word-break:break-word}
table.wide td:nth-child(2){max-width:120px}
td .lines{white-space:nowrap}.scroll{overflow-x:auto;max-width:100%}
table.kv th{background:none;font-weight:500;color:var(--dim);white-space:nowrap}table.kv td{word-break:break-word}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.note{border-bottom:1px dotted var(--dim);cursor:help}
li.warn{color:var(--warn)}code{background:var(--bg2);padding:0 3px;border-radius:3px}
figure.fig{margin:6px 0 10px}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(400px,1fr));gap:0 28px}
svg.plot{width:100%;height:auto;display:block}
svg.plot *{stroke-linejoin:round;stroke-linecap:butt}
@media print{body{max-width:none;padding:0}h2{break-after:avoid}figure,table{break-inside:avoid}}
"""

# The browser must not fetch anything: every part of the page is inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

SECTIONS = (("models", "Models"), ("ttft", "TTFT"), ("throughput", "Throughput"), ("sweep", "Prompt lengths"),
            ("context", "Usable context"), ("cold", "Cold starts"), ("goodput", "Goodput"), ("memory", "Memory"),
            ("comparison", "Baseline"), ("warnings", "Warnings"), ("reproducibility", "Reproducibility"))  # fmt: skip


def _plots_or_note(build: Callable[[], str]) -> str:
    try:
        return build()
    except ImportError as exc:  # matplotlib is a dependency; a broken install still gets its tables
        return f'<p class="absent">figure left out: {esc(exc)}</p>'


def html_report(results: BenchResults, *, baseline: BenchResults | None = None) -> str:
    """The page. `baseline`: an earlier run to compare against when `results` holds no comparison yet."""
    if baseline is not None:
        from foundry_tui.engine.bench.compare import with_baseline

        results = with_baseline(results, baseline)
    colours = plots.model_colours([m.model for m in results.models])
    ttft = _plots_or_note(lambda: _figure(plots.ttft_distribution_svg(results, colours), "no warm streamed request "
                                          "answered: nothing to draw"))  # fmt: skip
    memory = _plots_or_note(lambda: _figure(plots_memory.memory_timeline_svg(results, colours), "no memory samples"))
    body = [
        _header(results),
        _warnings(results),
        _selection(results, colours),
        _section(
            "ttft",
            "Time to first token",
            ttft,
            "Warm streamed requests of the prompt-set levels, per model and concurrency (the cold first request and "
            "the sweep, context and cold-start requests are left out). Dots: requests; box: p25–p75; bar: p50; "
            "line: min–max.",
        ),
        _plots_or_note(lambda: _throughput(results, colours)),
        _plots_or_note(lambda: _sweep(results, colours)),
        _context(results, colours),
        _plots_or_note(lambda: _cold(results, colours)),
        _goodput(results, colours),
        _section(
            "memory",
            "Memory timeline",
            memory,
            "Per model, from the sampler (4 Hz, 20 Hz while loading). "
            "RSS is this process's; with an endpoint that is the client, and the server's RSS is drawn when it "
            "runs on this machine. GPU memory is the whole device's.",
        ),
        _comparison(results),
        _reproducibility(results),
    ]
    present = "".join(body)
    nav = " ".join(f'<a href="#{a}">{t}</a>' for a, t in SECTIONS if f'<section id="{a}">' in present)
    title = f"foundry-tui benchmark {results.started_at or ''}".strip()
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"{body[0]}<nav>{nav}</nav>{''.join(body[1:])}"
            f'<footer class="dim"><p>Definitions of every figure: docs/metrics.md. Written by foundry-tui '
            f"from results.json.</p></footer></body></html>\n")  # fmt: skip


def write_html(out_dir: Path, results: BenchResults) -> Path:
    """`out_dir`/report.html, written atomically (a reader never sees half a page)."""
    path = out_dir / REPORT_HTML
    write_atomic(path, html_report(results))
    return path


__all__ = ["REPORT_HTML", "html_report", "selection_headers", "selection_rows", "selection_summary", "write_html"]

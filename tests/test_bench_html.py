"""report.html (engine.bench.html_report, engine.bench.plots) and `report DIR --html` (commands.report).

Results are built by hand from typed requests and summarized by the engine's own summary functions, so every
figure the page shows can be checked against the summary it came from. One test runs `bench` against the fake
SSE server and reports on the results.json it wrote.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest

from foundry_tui.config import Settings
from foundry_tui.engine import metrics
from foundry_tui.engine.bench import memory as attribution
from foundry_tui.engine.bench.html_report import (
    PREFILL_NOTE,
    REPORT_HTML,
    SELECTION_HEADERS,
    html_report,
    selection_summary,
    write_html,
)
from foundry_tui.engine.bench.phase_summaries import build_phase_summaries
from foundry_tui.engine.bench.plots_memory import MARKERS, timeline_markers
from foundry_tui.engine.bench.report import results_json_text
from foundry_tui.engine.bench.results import (
    COLD,
    CONTEXT,
    SWEEP,
    BenchResults,
    LevelResult,
    LoadInfo,
    MemoryInfo,
    MemoryPoint,
    ModelResult,
    RequestResult,
    RunSession,
    RunSettings,
)
from foundry_tui.engine.bench.summaries import build_summaries
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.quality import AnswerQuality
from foundry_tui.errors import BadInputError
from foundry_tui.text import safe_line

# markup, a colour, a retitling sequence and math text
EVIL = "<script>alert(1)</script>\x1b[31mevil\x1b]0;title\x07 $x^2$"
LOCAL = "phi-4-mini-instruct-generic-cpu:4"
ENDPOINT = "llama3.2"
ENDPOINT_URL = "http://127.0.0.1:11434/v1"
REMOTE_URL = "http://gpu-box.example:5273/v1"
SWEEP_LENGTHS = [128, 512, 2048]
SLO = "ttft_ms<=60,decode_tps>=20"


def _request(model: str, rng: random.Random, t: float, **fields: object) -> tuple[RequestResult, float]:
    """One ok request sent at `t`; returns it and its end."""
    prompt_tokens = int(fields.pop("prompt_tokens", 40))  # type: ignore[call-overload]
    ttft = 20 + prompt_tokens / 50 + rng.random() * 30
    tokens = 64
    decode = 35 + rng.random() * 10
    e2e = ttft + (tokens - 1) / decode * 1000
    base: dict[str, object] = {"model": model, "prompt_index": 0, "round": 1, "concurrency": 1, "mode": "stream",
                               "t_start_s": round(t, 3), "ttft_ms": ttft, "e2e_ms": e2e, "decode_tps": decode,
                               "e2e_tps": tokens / e2e * 1000, "itl_ms": [1000 / decode] * (tokens - 1),
                               "prompt_tokens": prompt_tokens, "completion_tokens": tokens, "tokens_source": "usage",
                               "chunks": tokens, "status": "ok", "finish_reason": "length",
                               "prefill_tps": prompt_tokens / ttft * 1000}  # fmt: skip
    base.update(fields)
    request = RequestResult(**base)  # type: ignore[arg-type]
    return request, t + (request.e2e_ms or 0) / 1000


def _model_requests(model: str, start: float, seed: int, *, failing: int = 0, estimated: bool = False,
                    phases: bool = True) -> tuple[list[RequestResult], float]:  # fmt: skip
    """Levels 1 and 2 (4 prompts × 3 rounds), the sweep, three cold starts and a context search."""
    rng = random.Random(seed)
    out: list[RequestResult] = []
    t = start
    extra: dict[str, object] = {"tokens_estimated": True, "tokens_source": "chunks"} if estimated else {}
    for index in range(12):  # concurrency 1
        r, t = _request(model, rng, t, prompt_index=index % 4, round=index // 4 + 1, cold=index == 0, slot=0, **extra)
        if index >= 12 - failing:
            r = replace(r, status="error", error=EVIL, error_kind="http", ttft_ms=None, e2e_ms=None, decode_tps=None)
        out.append(r)
    slots = [t, t]
    for index in range(12):  # concurrency 2: two streams back to back
        slot = index % 2
        r, slots[slot] = _request(model, rng, slots[slot], prompt_index=index % 4, round=index // 4 + 1,
                                  concurrency=2, slot=slot, **extra)  # fmt: skip
        out.append(r)
    t = max(slots)
    if not phases:
        return out, t
    for length in SWEEP_LENGTHS:
        for round_index in range(3):
            r, t = _request(model, rng, t, phase=SWEEP, prompt_index=-1, round=round_index + 1, prompt_tokens=length
                            + 12, prompt_tokens_target=length, prompt_tokens_exact=not estimated,
                            memory_mb=2400 + length / 8, **extra)  # fmt: skip
            out.append(r)
    for index in range(3):
        t += 2.5  # the reload
        r, t = _request(model, rng, t, phase=COLD, prompt_index=-1, round=index + 1, load_s=2.4 + index * 0.1,
                        load_index=index, memory_mb=2410, **extra)  # fmt: skip
        out.append(replace(r, ttft_ms=(r.ttft_ms or 0) * 4))
    for length, ok in ((128, True), (256, True), (512, True), (1024, False), (768, True), (896, False)):
        r, t = _request(model, rng, t, phase=CONTEXT, prompt_index=-1, prompt_tokens=length + 12,
                        prompt_tokens_target=length, prompt_tokens_exact=True, memory_mb=2400 + length / 4,
                        **extra)  # fmt: skip
        out.append(r if ok else replace(r, status="error", error="context length exceeded", ttft_ms=None))
    return out, t


def _timeline(start: float, end: float, base: float, *, server: bool = False) -> list[MemoryPoint]:
    points = []
    t = start
    while t <= end + 0.5:
        grown = base + (2400.0 if t > start + 2.4 else 0.0)
        points.append(MemoryPoint(t=round(t, 3), rss_mb=grown if not server else base, ram_used_mb=8000 + grown,
                                  gpu_used_mb=[1200.0 + (grown - base) / 4],
                                  server_rss_mb=grown if server else None))  # fmt: skip
        t += 0.25
    return points


def sample_results() -> BenchResults:
    """Three models: in-process (every phase), an endpoint on this machine (estimated tokens, server RSS) and a
    remote endpoint whose name and error text are hostile, partly failed, its memory not measurable."""
    requests: list[RequestResult] = []
    models: list[ModelResult] = []
    t = 0.0
    # (name, endpoint, failing requests, estimated token counts, phases ran)
    specs = [
        (LOCAL, None, 0, False, True),
        (ENDPOINT, ENDPOINT_URL, 0, True, True),
        (EVIL, REMOTE_URL, 3, False, False),
    ]
    for seed, (name, endpoint, failing, estimate, phases) in enumerate(specs):
        start = t
        rows, t = _model_requests(name, start + 2.5, seed, failing=failing, estimated=estimate, phases=phases)
        if endpoint is None:  # the rubric scored the local model's answers
            rows = [replace(r, quality=AnswerQuality(rubric=0.75)) if r.ok else r for r in rows]
        requests += rows
        t += 0.8
        timeline = _timeline(start, t, 300.0, server=endpoint == ENDPOINT_URL)
        if endpoint is None:
            memory = MemoryInfo(model_memory_mb=2400.0, model_memory_note=attribution.IN_PROCESS, rss_peak_mb=2700.0)
        elif endpoint == ENDPOINT_URL:
            memory = MemoryInfo(model_memory_mb=2700.0, model_memory_note="RSS peak of the server process (pid 7)")
        else:
            memory = MemoryInfo(model_memory_note=attribution.REMOTE)
        levels = [LevelResult(concurrency=c, mode="stream", status="ok", planned=12) for c in (1, 2)]
        load = LoadInfo(load_s=2.4, unload_s=0.3) if endpoint is None else LoadInfo(note="backend cannot load models")
        models.append(ModelResult(
            model=name, requested=name, status="partial" if failing else "ok", error=EVIL if failing else None,
            endpoint=endpoint, context_length=131072, load=load,
            memory=memory, memory_timeline=timeline, levels=levels, size_mb=2400.0 if endpoint is None else None,
            license="MIT" if endpoint is None else None, execution_provider="CPUExecutionProvider",
            notes=[f"note from the server: {EVIL}"] if endpoint == REMOTE_URL else [],
        ))  # fmt: skip
        t += 1.0
    settings = RunSettings(models=[m.model for m in models], rounds=3, concurrency=[1, 2], prompt_tokens=SWEEP_LENGTHS,
                           sweep_max_tokens=64, find_context=True, context_ttft_limit_s=30.0, cold=3, slo=SLO,
                           endpoints=[ENDPOINT_URL, REMOTE_URL], prompt_file="prompts/default.json")  # fmt: skip
    prompts = [PromptSpec(f"prompt {i}: explain {EVIL}", name=f"p{i}", max_tokens=64) for i in range(4)]
    environment = {
        "machine": {"os": "Linux-6.1-x86_64", "arch": "x86_64", "cpu": "Test CPU @ 3 GHz", "logical_cpus": 16,
                    "ram_total_mb": 65536, "gpus": [{"index": 0, "name": "NVIDIA Test GPU", "memory_total_mb": 24576}],
                    "gpu_state": "available", "nvidia_driver": "550.1"},
        "versions": {"foundry-tui": "0.1.0", "python": "3.11.9", "foundry-local-sdk": "2.2.1", "onnxruntime": None},
        "backend": {"kind": "foundry-local", "label": "Foundry Local 0.8.117 (in-process)", "details": {"eps": EVIL}},
        "energy": {"gpu": {"state": "measured", "source": "nvml"}},
    }  # fmt: skip
    results = BenchResults(started_at="2025-06-01T10:00:00+00:00", finished_at="2025-06-01T10:02:30+00:00",
                           environment=environment, settings=settings, prompts=prompts, models=models,
                           requests=requests, sessions=[RunSession(started_at="2025-06-01T10:00:00+00:00",
                                                                   ended="completed")])  # fmt: skip
    results.summaries = build_summaries(results)
    build_phase_summaries(results)
    return results


@pytest.fixture(scope="module")
def results() -> BenchResults:
    return sample_results()


@pytest.fixture(scope="module")
def page(results: BenchResults) -> str:
    return html_report(results)


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return str(match.group(1))


def _row(section: str, model: str) -> str:
    """The table row of `model` (its escaped name) in a section."""
    rows: list[str] = re.findall(r"<tr>(.*?)</tr>", section, re.S)
    return next(r for r in rows if html.escape(safe_line(model)) in r)


# -- the page ------------------------------------------------------------------------------------------------


def test_the_page_fetches_nothing(page: str) -> None:
    for attribute, value in re.findall(r'\b(src|href|xlink:href|action|srcset)\s*=\s*"([^"]*)"', page):
        assert not value.startswith(("http:", "https:", "//")), (attribute, value)
        assert value.startswith("#"), (attribute, value)  # only links within the page
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert "default-src 'none'" in page  # the browser is told to fetch nothing, whatever slipped in
    assert "url(http" not in page


def test_every_figure_is_inline_svg_with_data(page: str) -> None:
    for anchor in ("ttft", "throughput", "sweep", "cold", "memory"):
        section = _section(page, anchor)
        svgs = re.findall(r"<svg\b.*?</svg>", section, re.S)
        assert len(svgs) == 1, anchor
        assert svgs[0].count("<path") > 10, anchor  # the data's lines, dots and boxes
        assert re.search(r"<text\b", svgs[0]), anchor  # text stays text (svg.fonttype none)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # five SVGs in one page share no id (clip paths, markers)
    for ref in re.findall(r"url\(#([^)]+)\)", page):
        assert ref in ids


def test_selection_table_shows_the_summaries_figures(results: BenchResults, page: str) -> None:
    section = _section(page, "models")
    assert html.escape(PREFILL_NOTE) in section
    for model in (LOCAL, ENDPOINT):
        s = selection_summary(results, model)
        assert s is not None and s.concurrency == 1 and s.mode == "stream"
        row = _row(section, model)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        mark = "~" if s.tokens_estimated else ""
        assert cells[2:6] == [metrics.E2E.fmt(s.e2e_ms.mean), metrics.E2E.fmt(s.e2e_ms.p95),
                              metrics.TTFT.fmt(s.ttft_ms.p50), metrics.TTFT.fmt(s.ttft_ms.p95)]  # fmt: skip
        assert f"first {metrics.COLD_TTFT.fmt(s.ttft_cold_ms)}<br>" in cells[6]
        cold = next(c for c in results.cold_starts if c.model == model)
        assert f'title="p50 over 3 reloads (--cold)">reload p50 {metrics.COLD_TTFT.fmt(cold.ttft_ms.p50)}' in cells[6]
        assert cells[7] == metrics.PREFILL.fmt(s.prefill_tps.p50)
        assert cells[8] == mark + metrics.DECODE.fmt(s.decode_tps.p50)
        assert cells[9] == "100% (11/11)"  # every warm request meets both targets; the cold first one is apart
        assert metrics.MODEL_MEMORY.fmt(s.model_memory_mb) in cells[10]
    local = re.findall(r"<td[^>]*>(.*?)</td>", _row(section, LOCAL), re.S)
    assert "2.40 s" in local[11] and local[12] == "2.34 GB" and local[13] == "MIT"
    assert f'title="{html.escape(attribution.IN_PROCESS)}"' in local[10]  # how the memory was counted
    endpoint = re.findall(r"<td[^>]*>(.*?)</td>", _row(section, ENDPOINT), re.S)
    assert ENDPOINT_URL in endpoint[0] and endpoint[11].endswith("–</span>")  # not loaded by us: no load time
    assert "~" in endpoint[8] and "~" not in endpoint[7]  # decode from estimated counts; prefill from usage
    evil = re.findall(r"<td[^>]*>(.*?)</td>", _row(section, EVIL), re.S)
    assert evil[1].endswith("partial 21/24 (concurrency 1 stream: partial 9/12)</span>")
    assert evil[9] == "73% (8/11)"  # 3 of the 11 warm requests failed: counted, not good
    assert "remote" in evil[10] and evil[12] == "–" and evil[14] == "–"  # never 0 for a missing figure
    assert local[14] == "75%"  # the rubric's mean coverage (tables.quality_text)


def test_untrusted_text_is_inert(page: str) -> None:
    assert "\x1b" not in page and "\x07" not in page  # no terminal control byte at all
    assert "<script>" not in page and "alert(1)</script>" not in page
    escaped = html.escape(r"<script>alert(1)</script>\x1b[31mevil\x1b]0;title\x07 $x^2$")
    assert escaped in _section(page, "models")  # the name, literally, in the table
    assert escaped in _section(page, "warnings")  # the error and the note
    assert escaped in _section(page, "reproducibility")  # a prompt and an environment string
    svg = re.search(r"<svg\b.*?</svg>", _section(page, "ttft"), re.S)
    assert svg and "&lt;script&gt;" in svg.group(0)  # a figure label is escaped text too
    assert "$x^2$  c=1</text>" in svg.group(0)  # and stays literal: no math text


def test_phase_sections(results: BenchResults, page: str) -> None:
    context = _section(page, "context")
    local_context = next(c for c in results.context if c.model == LOCAL)
    assert local_context.works_up_to == 768 and local_context.failed_at == 896
    assert html.escape(local_context.verdict) in context
    assert "memory 2.53 GB" in context  # 2400 + 768 / 4 MB, at the longest prompt that worked
    sweep = _section(page, "sweep")
    endpoint_rows = [r for r in re.findall(r"<tr>(.*?)</tr>", sweep, re.S) if ENDPOINT in r]
    assert [re.findall(r"<td[^>]*>(.*?)</td>", r)[1] for r in endpoint_rows] == ["~128", "~512", "~2048"]
    local_rows = [r for r in re.findall(r"<tr>(.*?)</tr>", sweep, re.S) if LOCAL in r]
    point = next(s for s in results.sweep if s.model == LOCAL and s.prompt_tokens_target == 2048)
    assert metrics.TTFT.fmt(point.ttft_ms.p50) in local_rows[2] and "<td>ok</td>" in local_rows[2]
    goodput = _section(page, "goodput")
    assert "<code>ttft_ms&lt;=60</code>" in goodput and "<code>decode_tps&gt;=20</code>" in goodput
    cold = _row(_section(page, "cold"), LOCAL)
    summary = next(c for c in results.cold_starts if c.model == LOCAL)
    assert metrics.LOAD_TIME.fmt(summary.load_s.p50) in cold and f"{summary.cold_over_warm:.1f}×" in cold
    throughput = _section(page, "throughput")
    assert "~" in _row(throughput, ENDPOINT)  # output throughput from estimated counts


def test_header_and_reproducibility(results: BenchResults, page: str) -> None:
    header = page[page.index("<header>") : page.index("</header>")]
    assert "complete" in header and "Foundry Local 0.8.117 (in-process)" in header and ENDPOINT_URL in header
    assert "Test CPU @ 3 GHz · 16 logical CPUs · 64.0 GB RAM · GPU: NVIDIA Test GPU · Linux-6.1-x86_64" in header
    block = _section(page, "reproducibility")
    for text in ("550.1", "foundry-local-sdk", "2.2.1", "CPUExecutionProvider", "prompts/default.json", SLO.replace(
            "<", "&lt;").replace(">", "&gt;"), "131072", "sweep_max_tokens", "temperature", "completed"):  # fmt: skip
        assert text in block, text
    assert "<th>onnxruntime</th><td>–</td>" in block  # not installed: missing, not blank


def test_partial_run_and_missing_sections() -> None:
    results = sample_results()
    results = replace(results, partial=True, stopped_by="SIGINT", sweep=[], context=[], cold_starts=[],
                      settings=replace(results.settings, slo=None, concurrency=[1]))  # fmt: skip
    results.summaries = [s for s in results.summaries if s.concurrency == 1]
    page = html_report(results)
    assert "partial: stopped by SIGINT" in page
    for anchor in ("sweep", "context", "cold", "goodput", "throughput", "comparison"):
        assert f'<section id="{anchor}">' not in page
        assert f'href="#{anchor}"' not in page
    models = _section(page, "models")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", _row(models, LOCAL), re.S)
    assert len(cells) == len(SELECTION_HEADERS) and "goodput" not in models.lower()  # no SLO: no goodput column


def test_an_empty_run_still_makes_a_page() -> None:
    page = html_report(BenchResults())  # a run that resolved no model, or a snapshot before the first one
    assert "<h1>Benchmark report</h1>" in page and "<dt>machine</dt><dd>–</dd>" in page
    assert "<svg" not in page and "no warm streamed request answered" in page


def test_memory_markers_come_from_the_recorded_times(results: BenchResults, page: str) -> None:
    model = results.models[0]
    markers = {m.kind: m for m in timeline_markers(results, model)}
    first = model.memory_timeline[0].t
    assert markers["load"].start == first and markers["load"].end == pytest.approx(first + 2.4)
    mine = [r for r in results.requests if r.model == model.model]
    assert markers["first_token"].start == pytest.approx(min((r.t_start_s or 0) + (r.ttft_ms or 0) / 1000
                                                             for r in mine if r.ttft_ms is not None))  # fmt: skip
    assert markers["unload"].end == model.memory_timeline[-1].t
    reloads = [m for m in timeline_markers(results, model) if m.kind == "reload"]
    assert len(reloads) == 3
    memory = _section(page, "memory")
    for kind in ("load", "first_token", "last_end", "unload", "reload"):
        assert html.escape(MARKERS[kind]) in memory  # each marker explained in the legend
    assert "RSS, this process (the client, not the model)" in memory and "RSS, the endpoint's server" in memory


@pytest.mark.slow
def test_baseline_adds_a_comparison(results: BenchResults) -> None:
    page = html_report(results, baseline=results)
    section = _section(page, "comparison")
    assert "baseline run of 2025-06-01T10:00:00+00:00" in section
    assert "no significant change" in section


# -- files and the command ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_write_html_is_atomic_and_repeatable(results: BenchResults, page: str, tmp_path: Path) -> None:
    path = write_html(tmp_path, results)
    assert path == tmp_path / REPORT_HTML and path.read_text(encoding="utf-8") == page  # the same bytes again
    assert [p.name for p in tmp_path.iterdir()] == [REPORT_HTML]  # no temp file left beside it
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _args(directory: Path | str, **flags: object) -> argparse.Namespace:
    return argparse.Namespace(**{"command": "report", "dir": str(directory), "html": True, "out": None,
                                 "baseline": None, **flags})  # fmt: skip


@pytest.mark.slow
def test_run_report_writes_next_to_results(results: BenchResults, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from foundry_tui.commands.report import run_report

    (tmp_path / "results.json").write_text(results_json_text(results), encoding="utf-8")
    assert run_report(Settings(), _args(tmp_path)) == 0
    assert (tmp_path / REPORT_HTML).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert capsys.readouterr().err.strip() == f"report: {tmp_path / REPORT_HTML}"
    out = tmp_path / "elsewhere.html"
    assert run_report(Settings(), _args(tmp_path / "results.json", out=str(out))) == 0
    assert out.is_file()
    assert run_report(Settings(), _args(tmp_path, html=False)) == 0
    assert capsys.readouterr().out.startswith("# Benchmark report")
    # The baseline's comparison is in the Markdown report too, not only in the page.
    assert run_report(Settings(), _args(tmp_path, html=False, baseline=str(tmp_path / "results.json"))) == 0
    assert "baseline run of 2025-06-01T10:00:00+00:00" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: d, "does not exist"),  # a directory without results.json
        (lambda d: _write(d / "x.json", '{"a": 1}'), "is not a foundry-tui benchmark results file"),
        (lambda d: _write(d / "x.json", "[1, 2"), "is not valid JSON"),
    ],
)
def test_run_report_bad_input(tmp_path: Path, make: object, words: str) -> None:
    from foundry_tui.commands.report import run_report

    with pytest.raises(BadInputError, match=words) as caught:
        run_report(Settings(), _args(make(tmp_path)))  # type: ignore[operator]
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_run_report_bad_out(results: BenchResults, tmp_path: Path) -> None:
    from foundry_tui.commands.report import run_report

    (tmp_path / "results.json").write_text(results_json_text(results), encoding="utf-8")
    for out, words in ((tmp_path, "is a directory"), (tmp_path / "no" / "r.html", "does not exist")):
        with pytest.raises(BadInputError, match=words):
            run_report(Settings(), _args(tmp_path, out=str(out)))
    with pytest.raises(BadInputError, match="add --html"):  # Markdown goes to stdout: an --out would be lost
        run_report(Settings(), _args(tmp_path, html=False, out=str(tmp_path / "r.html")))
    assert not (tmp_path / REPORT_HTML).exists()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_real_bench_run(cli_env: dict[str, str], tmp_path: Path) -> None:
    """`bench` against the fake SSE server, then the page from the results.json it wrote."""
    from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
    from tests.test_cli import run_cli

    out = tmp_path / "run"
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(12), first_token_delay_s=0.01, gap_s=0.002)) as server:
        result = run_cli(cli_env, "bench", "--endpoint", server.url, "--models", "fake-model", "--rounds", "2",
                         "--warmup", "0", "--concurrency", "1,2", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    from foundry_tui.commands.report import run_report

    assert run_report(Settings(), _args(out)) == 0
    page = (out / REPORT_HTML).read_text(encoding="utf-8")
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    summary = next(s for s in data["summaries"] if s["concurrency"] == 1)
    row = _row(_section(page, "models"), "fake-model")
    assert metrics.TTFT.fmt(summary["ttft_ms"]["p50"]) in row and metrics.E2E.fmt(summary["e2e_ms"]["p95"]) in row
    for anchor in ("ttft", "throughput", "memory"):
        assert "<svg" in _section(page, anchor)
    assert '<section id="sweep">' not in page  # no sweep ran

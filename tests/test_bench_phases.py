"""Issue 13's figures checked against their definitions with known inputs: the prefill and decode rates against a
paced fake server (told its prefill rate, first-token delay and gap), the prompt-length sweep's lengths against the
server's own token count, the usable-context search against a server with a hard context limit and against a
first-token bound, goodput against known TTFTs and failures, the prompt-cache warning's threshold, cold starts on
the tiny model, and the CLI's files (results.json, CSV, Markdown, report.html) agreeing with each other.

Timing tests run the server as its own process (`python -m foundry_tui.devtools.sse_server`), so its pacing does
not share this process's GIL; their tolerances come from what the server is told: a first token is never earlier
than the server's delay (the client's clock starts before the server's), and at most `SLACK_S` later, which a
loaded 2-core machine stays well within. Definitions: docs/metrics.md; the code: engine.bench.{phases, slo,
context_search, phase_summaries}.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import math
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend, entry
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, fake_tokenize, make_tokens
from foundry_tui.engine import metrics
from foundry_tui.engine.bench import BenchConfig, BenchEvent, BenchResults, build_config
from foundry_tui.engine.bench.context_search import ContextSearch
from foundry_tui.engine.bench.events import PhaseStarted
from foundry_tui.engine.bench.phase_summaries import (
    PROMPT_CACHE_RATIO,
    build_phase_summaries,
    context_summaries,
)
from foundry_tui.engine.bench.phase_tables import sweep_rows
from foundry_tui.engine.bench.phases import CONTEXT_PROBE_MAX_TOKENS, NOT_RELOADED
from foundry_tui.engine.bench.results import (
    COLD,
    CONTEXT,
    LEVELS,
    SWEEP,
    LevelResult,
    MetricSummary,
    ModelResult,
    RequestResult,
    RunSettings,
)
from foundry_tui.engine.bench.slo import goodput, is_good, parse_slo, slo_text
from foundry_tui.engine.bench.summaries import build_summaries
from foundry_tui.engine.bench.tables import goodput_text, summary_rows
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.session import Session
from tests.conftest import TINY_ID
from tests.test_cli import assert_clean, assert_one_line_error, run_cli
from tests.tui.fixed_sampler import FixedSampler

MODEL = "fake-model"
SLACK_S = 0.4  # how much later than the server's delay a first token may arrive on a loaded 2-core machine
SMOLLM2 = "smollm2-135m-instruct-int8-generic-cpu:1"
SHORT = PromptSpec("Say hi.", name="short")


def num(value: float | None) -> float:
    assert value is not None
    return value


@contextmanager
def paced_server(*args: str) -> Iterator[str]:
    """The fake server as its own process on a free port of 127.0.0.1; yields its base URL (…/v1)."""
    command = [sys.executable, "-m", "foundry_tui.devtools.sse_server", "--port", "0", "--model", MODEL, *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # printed once it listens
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def bench(url: str, tmp_path: Path, config: BenchConfig, out: Path | None = None) -> tuple[BenchResults, list[Any]]:
    """One run through the session against the endpoint at `url` (prompt counter: its tokenize route, if any)."""
    session = Session(Settings(endpoint=url, data_dir=tmp_path / "data"), sampler=FixedSampler())
    events: list[BenchEvent] = []
    try:
        results = session.bench(config, on_event=events.append, out_dir=out).run()
    finally:
        session.close()
    return results, events


def config(**kw: Any) -> BenchConfig:
    prompts = kw.pop("prompts", (SHORT,))
    values: dict[str, Any] = {"models": [MODEL], "rounds": 1, "warmup": 0, "max_tokens": 32}
    values.update(kw)
    return dataclasses.replace(build_config(**values), prompts=tuple(prompts))


def phase(results: BenchResults, name: str) -> list[RequestResult]:
    """The phase's requests in the order they were sent (a level's ok requests are recorded once their tokens are
    counted, on another thread: a failure right after one can be recorded first)."""
    return sorted((r for r in results.requests if r.phase == name), key=lambda r: num(r.t_start_s))


# -- 1. prefill and decode rates against a paced server --------------------------------------------------------

PREFILL_TPS = 4000.0  # the server's prefill rate, prompt tokens/s
BASE_TTFT_S = 0.02  # the server's first-token delay before the prefill
GAP_S = 0.03  # between content chunks (one token each)
ANSWER_TOKENS = 16
TEMPLATE = 7  # chat-template tokens the server adds to every prompt


def test_prefill_and_decode_rates_are_what_the_paced_server_was_told(tmp_path: Path) -> None:
    args = ["--tokenize", "--prompt-count", "tokens", "--template-tokens", str(TEMPLATE), "--prefill-tps",
            str(PREFILL_TPS), "--ttft", str(BASE_TTFT_S), "--gap", str(GAP_S),
            "--tokens", str(ANSWER_TOKENS)]  # fmt: skip
    lengths = (400, 1600)
    with paced_server(*args) as url:
        results, _ = bench(url, tmp_path, config(rounds=2, prompt_tokens=lengths))
    assert all(r.ok for r in results.requests), [r.error for r in results.requests]
    for r in results.requests:
        prompt, ttft = num(r.prompt_tokens), num(r.ttft_ms) / 1000
        # The definition: the server's prompt tokens (usage, template in) over the time to the first token.
        assert num(r.prefill_tps) == pytest.approx(prompt / ttft, rel=1e-9)
        # The server waits BASE + prompt/RATE after it has the request: never earlier, at most SLACK_S later.
        told = BASE_TTFT_S + prompt / PREFILL_TPS
        assert told - 0.002 <= ttft <= told + SLACK_S, (r.phase, prompt, ttft, told)
        # Hence the figure is a lower bound of the told rate once the fixed delay is taken out.
        assert prompt / (ttft - BASE_TTFT_S) <= PREFILL_TPS * 1.01
        # Decode: (tokens − the first piece's) / (last − first piece): the mean gap's inverse, one token a chunk.
        assert r.completion_tokens == ANSWER_TOKENS and r.tokens_source == "usage"
        assert len(r.itl_ms) == ANSWER_TOKENS - 1
        assert num(r.decode_tps) == pytest.approx(1000 / statistics.mean(r.itl_ms), rel=1e-6)
        # Against the told gap: 1/GAP tok/s; a late first chunk shortens the span, a late last one lengthens it.
        assert 0.5 / GAP_S <= num(r.decode_tps) <= 1.5 / GAP_S, r.decode_tps
    sweep = phase(results, SWEEP)
    assert sorted((r.prompt_tokens_target, r.round) for r in sweep) == [(n, k) for n in lengths for k in (1, 2)]
    for r in sweep:  # exact lengths: the server's tokenize route sized them, the template came on top
        assert r.prompt_tokens_exact is True and r.prompt_tokens == num(r.prompt_tokens_target) + TEMPLATE
        # For the longer prompt the prefill dominates: the figure reads within the slack of the told rate.
        if r.prompt_tokens_target == 1600:
            told_ttft = BASE_TTFT_S + num(r.prompt_tokens) / PREFILL_TPS
            told_rate = num(r.prompt_tokens) / told_ttft
            assert told_rate * told_ttft / (told_ttft + SLACK_S) <= num(r.prefill_tps) <= told_rate * 1.01
    for point in results.sweep:
        rows = [r for r in sweep if r.prompt_tokens_target == point.prompt_tokens_target]
        assert point.exact is True and point.n_ok == 2 and point.status == "ok"
        assert point.prefill_tps == MetricSummary.of(r.prefill_tps for r in rows)
        assert point.ttft_ms == MetricSummary.of(r.ttft_ms for r in rows)
        assert point.decode_tps == MetricSummary.of(r.decode_tps for r in rows)
        assert point.prompt_tokens.p50 == point.prompt_tokens_target + TEMPLATE
    # The prompt-set level: the first request of the process is cold, kept out of TTFT and the prefill rate.
    levels = phase(results, LEVELS)
    assert [r.cold for r in levels] == [True, False]
    (summary,) = results.summaries
    assert summary.ttft_cold_ms == levels[0].ttft_ms
    assert summary.prefill_tps == MetricSummary.of([levels[1].prefill_tps])
    assert summary.ttft_ms == MetricSummary.of([levels[1].ttft_ms])
    assert summary.decode_tps.n == 2  # decode is steady from the first piece on: the cold one counts there


# -- 2. the prompt-length sweep's lengths ------------------------------------------------------------------------


def test_sweep_prompts_are_exactly_the_requested_lengths_with_a_tokenize_route(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(4), prompt_count="tokens", template_tokens=5)
    lengths = (100, 333, 1000)
    with FakeOpenAIServer(script, models=[MODEL], tokenize_route=True) as server:
        results, events = bench(server.base_url, tmp_path, config(rounds=2, prompt_tokens=lengths))
        chats = [r for r in server.requests if r["path"] == "/v1/chat/completions"]
    sweep = phase(results, SWEEP)
    assert len(sweep) == 6 and all(r.ok and r.prompt_tokens_exact for r in sweep)
    assert [num(r.prompt_tokens) - num(r.prompt_tokens_target) for r in sweep] == [5] * 6
    # The server's side: each sweep message is exactly that many of its tokens, a fresh one each round.
    users = [c["body"]["messages"][-1]["content"] for c in chats[-6:]]
    assert [len(fake_tokenize(text)) for text in users] == [n for n in lengths for _ in (1, 2)]
    assert [c["prompt_tokens"] for c in chats[-6:]] == [n + 5 for n in lengths for _ in (1, 2)]
    # Every request its own filler, different from its first two words on: no prefix cache can reuse another's.
    assert len({tuple(text.split()[:2]) for text in users}) == 6
    assert [(p.prompt_tokens_target, p.exact, p.prompt_tokens.p50) for p in results.sweep] == [
        (n, True, n + 5) for n in lengths
    ]
    assert [row[1] for row in sweep_rows(results)] == [str(n) for n in lengths]  # no "~": exact
    assert PhaseStarted(MODEL, SWEEP, 6) in events


def test_without_a_tokenize_route_or_tokenizer_lengths_are_marked_approximate(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(4), prompt_count="tokens", context=2000)
    out = tmp_path / "out"
    with FakeOpenAIServer(script, models=[MODEL]) as server:
        results, _ = bench(server.base_url, tmp_path, config(prompt_tokens=(64, 256), find_context=True), out)
    sweep, probes = phase(results, SWEEP), phase(results, CONTEXT)
    assert sweep and probes and all(r.prompt_tokens_exact is False for r in sweep + probes)
    assert [p.exact for p in results.sweep] == [False, False]
    assert [row[1] for row in sweep_rows(results)] == ["~64", "~256"]
    (context,) = results.context
    assert context.exact is False and f"works up to ~{context.works_up_to} " in context.verdict
    # The files say so too.
    rows = [r for r in csv.DictReader((out / "results.csv").open()) if r["phase"] in (SWEEP, CONTEXT)]
    assert len(rows) == len(sweep) + len(probes) and {r["prompt_tokens_exact"] for r in rows} == {"false"}
    markdown = (out / "benchmark_report.md").read_text()
    assert f"| {MODEL} | ~64 |" in markdown and f"| {MODEL} | ~256 |" in markdown
    saved = json.loads((out / "results.json").read_text())
    assert [p["exact"] for p in saved["sweep"]] == [False, False] and saved["context"][0]["exact"] is False


# -- 3. the usable context ---------------------------------------------------------------------------------------


def resolution(works_up_to: int) -> int:
    """ContextSearch's stopping gap for the default parameters (min_step 16, rel_step 0.03)."""
    search = ContextSearch(upper=10**6)
    search.works_up_to = works_up_to
    return search.resolution


def test_find_context_brackets_the_servers_context_limit(tmp_path: Path) -> None:
    context_limit = 3000
    script = StreamScript(tokens=make_tokens(4), prompt_count="tokens", template_tokens=TEMPLATE,
                          context=context_limit)  # fmt: skip
    with FakeOpenAIServer(script, models=[MODEL], tokenize_route=True) as server:
        results, events = bench(server.base_url, tmp_path, config(find_context=True))
        chats = [r for r in server.requests if r["path"] == "/v1/chat/completions"]
    users = [c["body"]["messages"][-1]["content"] for c in chats[1:]]  # after the prompt set's one request
    assert len({tuple(text.split()[:2]) for text in users}) == len(users)  # each probe its own filler
    # A probe is its message + the template + its answer budget: it fits when that is at most the context.
    limit = context_limit - TEMPLATE - CONTEXT_PROBE_MAX_TOKENS
    probes = phase(results, CONTEXT)
    targets = [num(r.prompt_tokens_target) for r in probes]
    # Doubling from 128; the upper bound is the advertised context (the server's max_model_len) less a probe's
    # answer budget, and a doubling past it probes the bound itself; then bisecting.
    upper = context_limit - CONTEXT_PROBE_MAX_TOKENS
    assert targets[:6] == [128, 256, 512, 1024, 2048, upper]
    for r in probes:
        assert r.prompt_tokens_exact is True
        assert r.ok == (num(r.prompt_tokens_target) <= limit), (r.prompt_tokens_target, r.error)
        if not r.ok:
            assert r.error_kind == "http" and "maximum context length is 3000 tokens" in (r.error or "")
    (c,) = results.context
    works, failed = num(c.works_up_to), num(c.failed_at)
    assert works <= limit < failed and failed - works <= resolution(int(works))
    assert works == max(t for t, r in zip(targets, probes, strict=True) if r.ok)
    assert failed == min(t for t, r in zip(targets, probes, strict=True) if not r.ok and t > works)
    assert c.works_up_to_prompt_tokens == works + TEMPLATE
    assert c.status == "ok" and c.stopped_because == "error" and c.probes == len(probes)
    assert c.advertised == context_limit and c.verdict.startswith(f"advertised {context_limit}, works up to ")
    assert c.failure is not None and "maximum context length is 3000 tokens" in c.failure
    assert f"works up to {works:.0f} ({works + TEMPLATE:.0f} with the chat template)" in c.verdict
    assert f"(fails at {failed:.0f})" in c.verdict
    assert PhaseStarted(MODEL, CONTEXT, 0) in events


def test_find_context_stops_at_context_max(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(4), prompt_count="tokens", context=3000)
    with FakeOpenAIServer(script, models=[MODEL], tokenize_route=True) as server:
        results, _ = bench(server.base_url, tmp_path, config(find_context=True, context_max_tokens=700))
    assert [r.prompt_tokens_target for r in phase(results, CONTEXT)] == [128, 256, 512, 700]
    (c,) = results.context
    assert (c.works_up_to, c.failed_at, c.stopped_because) == (700, None, "max")
    assert c.verdict.endswith("works up to 700 (700 with the chat template) on this machine (the longest tried)")


def test_find_context_stops_where_the_prefill_exceeds_the_ttft_bound(tmp_path: Path) -> None:
    rate, bound_s = 2000.0, 0.5
    args = ["--tokenize", "--prompt-count", "tokens", "--template-tokens", str(TEMPLATE), "--prefill-tps", str(rate),
            "--tokens", "4"]  # fmt: skip
    with paced_server(*args) as url:
        results, _ = bench(url, tmp_path, config(find_context=True, context_ttft_limit_s=bound_s))
    probes = phase(results, CONTEXT)
    # The server needs (message + template) / rate to its first token: the longest message within the bound is
    # `hard`; no probe above it can be within the bound, and every probe up to `soft` is, unless it is SLACK_S late.
    hard = bound_s * rate - TEMPLATE
    soft = (bound_s - SLACK_S) * rate - TEMPLATE
    for r in probes:
        target = num(r.prompt_tokens_target)
        if r.ok:
            assert num(r.ttft_ms) / 1000 >= (target + TEMPLATE) / rate - 0.002
        if target > hard:
            assert not (r.ok and num(r.ttft_ms) <= bound_s * 1000), target
        if target <= soft:
            assert r.ok and num(r.ttft_ms) <= bound_s * 1000, (target, r.ttft_ms, r.error)
    (c,) = results.context
    works, failed = num(c.works_up_to), num(c.failed_at)
    assert soft - resolution(int(works)) <= works <= hard  # a late first token may fail a probe below `hard`
    assert failed - works <= resolution(int(works))
    assert c.stopped_because == "ttft_limit" and c.status == "ok"
    assert c.failure is not None and c.failure.endswith("over the 0.5 s limit")
    assert f"(at {failed:.0f} the first token took over the limit)" in c.verdict
    at_max = next(r for r in probes if r.prompt_tokens_target == works and r.ok)
    assert c.ttft_ms_at_max == at_max.ttft_ms and num(c.ttft_ms_at_max) <= bound_s * 1000
    cut = next(r for r in probes if r.prompt_tokens_target == failed)
    assert cut.error_kind == "first_token_timeout" or num(cut.ttft_ms) > bound_s * 1000  # cut at the bound


# -- 4. goodput ----------------------------------------------------------------------------------------------------


def request(index: int, status: str = "ok", *, ttft: float | None = 50.0, decode: float | None = 40.0,
            cold: bool = False, concurrency: int = 1, round_number: int = 1) -> RequestResult:  # fmt: skip
    return RequestResult(model=MODEL, prompt_index=index, round=round_number, concurrency=concurrency, mode="stream",
                         status=status, ttft_ms=ttft, decode_tps=decode, e2e_ms=(ttft or 0) + 100, cold=cold,
                         t_start_s=float(index))  # fmt: skip


def test_goodput_is_the_share_of_counted_requests_meeting_every_target() -> None:
    targets = parse_slo("ttft_ms<=100, decode_tps>=20")
    rows = [
        request(0, cold=True, ttft=900.0),  # the process's first: reported apart, not counted either way
        request(1),  # good
        request(2, ttft=100.0),  # good: the bound is inclusive
        request(3, ttft=100.5),  # ok, misses the TTFT target
        request(4, decode=19.9),  # ok, misses the decode target
        request(5, decode=None),  # a figure it does not have is not met
        request(6, "error"),  # failed: counted, never good, whatever its figures
        request(7, "cancelled"),  # never finished: not counted
    ]
    assert [is_good(r, targets) for r in rows] == [False, True, True, False, False, False, False, False]
    result = goodput(rows, targets, duration_s=4.0)
    assert result is not None and (result.good, result.counted) == (2, 6)
    assert result.share == pytest.approx(2 / 6) and result.rps == pytest.approx(0.5)
    assert goodput(rows, (), 4.0) is None  # no targets: no goodput
    strict = goodput(rows, parse_slo("ttft_ms<100"), None)
    assert strict is not None and (strict.good, strict.rps) == (3, None)  # 1, 4 and 5 (decode is not a target)


def test_goodput_against_known_ttfts_and_a_failure(tmp_path: Path) -> None:
    """Short prompts answer in ~20 ms, a 1000-word one in 20 + 250 ms, a 1500-word one is over the context."""
    short = PromptSpec("Say hi to me.")
    long = PromptSpec(" ".join(["word"] * 1000))
    too_long = PromptSpec(" ".join(["word"] * 1500))
    prompts = (short, short, long, short, short, too_long)  # the failure ends the level: it goes last
    args = ["--prompt-count", "words", "--prefill-tps", "4000", "--ttft", "0.02", "--context", "1200", "--tokens", "4"]
    slo = "ttft_ms<=200,decode_tps>=1"
    with paced_server(*args) as url:
        results, _ = bench(url, tmp_path, config(prompts=prompts, slo=slo, max_tokens=8), tmp_path / "out")
    levels = phase(results, LEVELS)
    assert [(r.prompt_index, r.status) for r in levels] == [(i, "ok") for i in range(5)] + [(5, "error")]
    assert [r.cold for r in levels] == [True] + [False] * 5
    assert num(levels[2].ttft_ms) >= 270 and all(num(levels[i].ttft_ms) < 200 for i in (0, 1, 3, 4))
    (summary,) = results.summaries
    # Counted: every finished request but the cold first one (5: four ok, one failed); good: the three short ones.
    assert (summary.n_good, summary.n_slo_counted) == (3, 5)
    assert summary.goodput_share == pytest.approx(3 / 5)
    assert summary.goodput_rps is None  # a level with a failed request has no rates
    assert goodput_text(summary) == "60% (3/5)"
    assert summary_rows(results)[0][-1] == "60% (3/5)"
    rows = sorted(csv.DictReader((tmp_path / "out" / "results.csv").open()), key=lambda row: int(row["prompt_index"]))
    assert [r["meets_slo"] for r in rows] == ["true", "true", "false", "true", "true", "false"]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["settings"]["slo"] == "ttft_ms<=200,decode_tps>=1"
    assert (saved["summaries"][0]["n_good"], saved["summaries"][0]["goodput_share"]) == (3, 0.6)


def _level_results(requests: list[RequestResult], slo: str) -> BenchResults:
    level = LevelResult(concurrency=1, mode="stream", status="ok", planned=len(requests))
    model = ModelResult(model=MODEL, status="ok", levels=[level])
    results = BenchResults(settings=RunSettings(slo=slo), models=[model], requests=requests)
    results.summaries = build_summaries(results)
    return results


def test_a_zero_goodput_prints_the_counted_requests_without_the_cold_one() -> None:
    rows = [request(0, cold=True), request(1), request(2), request(3, "error")]
    (summary,) = _level_results(rows, "ttft_ms<=1").summaries
    assert (summary.n_good, summary.n_slo_counted, summary.goodput_share) == (0, 3, 0.0)
    assert goodput_text(summary) == "0% (0/3)"


def test_goodput_text_counts_what_goodput_counts() -> None:
    rows = [request(0, cold=True), request(1), request(2, ttft=400.0), request(3, "error")]
    (summary,) = _level_results(rows, "ttft_ms<=100").summaries
    assert (summary.n_good, summary.n_slo_counted) == (1, 3)
    assert goodput_text(summary) == "33% (1/3)"


def test_an_slo_is_kept_exactly_as_typed() -> None:
    """The stored text is parsed again (summaries, resume, compare): no rounding on the way."""
    for typed in ("e2e_ms<=1234567", "ttft_ms<=0.1", "decode_tps>=20.5", "ttft_ms<=500,decode_tps>=20"):
        text = slo_text(parse_slo(typed))
        assert text == typed and parse_slo(text) == parse_slo(typed)


@pytest.mark.parametrize(
    ("slo", "words"),
    [
        ("ttft_ms<=fast", ["--slo", "ttft_ms<=", "'fast'"]),
        ("ttft<=500", ["--slo", "unknown figure 'ttft'", "ttft_ms"]),
        ("ttft_ms<=500,decode_tps=>20", ["--slo", "cannot read 'decode_tps=>20'"]),
        ("ttft_ms<=500,ttft_ms<=400", ["--slo", "ttft_ms<= is given twice"]),
        ("e2e_ms<=-1", ["--slo", "e2e_ms<=-1", "≥ 0"]),
        ("ttft_ms<=500,", ["--slo", "an empty target"]),
    ],
)
def test_a_bad_slo_is_a_one_line_error_naming_the_bad_part(cli_env: dict[str, str], slo: str, words: list[str]) -> None:
    result = run_cli(cli_env, "bench", "--models", "tiny", "--slo", slo)
    assert_one_line_error(result, 2, *words)


# -- 5. cold starts on the tiny model -------------------------------------------------------------------------------


@pytest.mark.runtime
def test_cold_starts_are_a_distribution_apart_from_warm_figures(runtime: FoundryBackend, tmp_path: Path) -> None:
    session = Session(Settings(data_dir=tmp_path), backend=runtime, sampler=FixedSampler())
    events: list[BenchEvent] = []
    try:
        cfg = build_config(models=[TINY_ID], rounds=2, warmup=1, cold=3)
        results = session.bench(cfg, on_event=events.append).run()
    finally:
        session.close()
    assert results.models[0].status == "ok"
    cold = phase(results, COLD)
    assert [(r.load_index, r.round, r.cold, r.status) for r in cold] == [(i, i + 1, True, "ok") for i in range(3)]
    assert all(num(r.load_s) > 0 and num(r.ttft_ms) > 0 for r in cold)
    levels = phase(results, LEVELS)
    assert len(levels) == 4 * 2 and not any(r.cold for r in levels)  # the warmup was the level's cold request
    (summary,) = results.summaries
    assert summary.n_requests == 8 and summary.ttft_ms == MetricSummary.of(r.ttft_ms for r in levels)
    (c,) = results.cold_starts
    assert c.status == "ok" and c.n == 3 and c.note is None
    assert c.load_s == MetricSummary.of(r.load_s for r in cold) and c.load_s.n == 3
    assert c.ttft_ms == MetricSummary.of(r.ttft_ms for r in cold) and c.ttft_ms.n == 3
    assert c.e2e_ms == MetricSummary.of(r.e2e_ms for r in cold)
    # Compared with the warm TTFT of the prompt the reloads send (the prompt set's first), not of the whole set.
    warm = MetricSummary.of(r.ttft_ms for r in levels if r.prompt_index == 0)
    assert warm.n == 2 and c.warm_ttft_p50_ms == warm.p50
    assert c.cold_over_warm == pytest.approx(num(c.ttft_ms.p50) / num(warm.p50))
    # The first load is the model's, reported apart from the reloads.
    assert num(results.models[0].load.load_s) > 0
    assert results.models[0].load.load_s not in [r.load_s for r in cold]
    assert PhaseStarted(TINY_ID, COLD, 3) in events
    assert TINY_ID not in {e.id for e in runtime.list_loaded()}  # the run unloaded what it loaded


def _probe(target: int, *, ttft: float | None, first_piece: float | None, status: str = "ok") -> RequestResult:
    return RequestResult(model=MODEL, prompt_index=-1, round=1, concurrency=1, mode="stream", status=status,
                         phase=CONTEXT, prompt_tokens_target=target, prompt_tokens_exact=True, ttft_ms=ttft,
                         first_piece_ms=first_piece)  # fmt: skip


def test_a_thinking_models_probe_counts_by_its_first_piece_and_an_empty_answer_is_no_timeout() -> None:
    """A reasoning model spends a 16-token probe thinking: no answer text, no TTFT, yet it read the prompt."""
    model = ModelResult(model=MODEL, status="ok", context_length=1024)
    probes = [_probe(128, ttft=None, first_piece=40.0), _probe(256, ttft=None, first_piece=900.0),
              _probe(512, ttft=None, first_piece=None)]  # fmt: skip
    results = BenchResults(settings=RunSettings(find_context=True, context_ttft_limit_s=0.5), models=[model],
                           requests=probes)  # fmt: skip
    (c,) = context_summaries(results)
    assert c.works_up_to == 128 and c.failed_at == 256 and c.stopped_because == "ttft_limit"
    assert c.failure == "the first token took 0.9 s, over the 0.5 s limit"
    results.requests = [probes[0], probes[2]]  # ok, but nothing at all came: not a timeout of 0 s
    (c,) = context_summaries(results)
    assert c.failed_at == 512 and c.stopped_because == "error" and c.failure == "answered with no text at all"


def test_a_reload_that_fails_stops_the_cold_starts_and_skips_the_context_search(tmp_path: Path) -> None:
    """The model is left unloaded: its context probes would all fail and read as a context limit of 0."""
    backend = MemoryBackend(catalog=[entry("a-generic-cpu:1")], cached={"a-generic-cpu:1"})

    def on_event(event: BenchEvent) -> None:
        if isinstance(event, PhaseStarted) and event.phase == COLD:
            backend.fail["load"] = "not enough memory"

    session = Session(Settings(data_dir=tmp_path), backend=backend, sampler=FixedSampler())
    try:
        config = build_config(models=["a-generic-cpu:1"], rounds=1, warmup=0, max_tokens=8, cold=2,
                              find_context=True)  # fmt: skip
        results = session.bench(config, on_event=on_event).run()
    finally:
        session.close()
    (model,) = results.models
    assert "cold starts stopped: reload 1 failed to load: not enough memory" in model.notes
    assert NOT_RELOADED in model.notes
    assert [r.phase for r in results.requests if r.phase != LEVELS] == []
    assert results.context[0].status == "skipped" and results.cold_starts[0].n == 0


# -- 6. the prompt-cache warning ---------------------------------------------------------------------------------


def _rounds(first: float, later: float, *, prompts: int = 3, cold_first: bool = False,
            concurrency: int = 1) -> list[RequestResult]:  # fmt: skip
    """Each prompt: round 1 at `first` ms, rounds 2 and 3 at `later` ms."""
    return [request(p, ttft=first if k == 1 else later, round_number=k, concurrency=concurrency,
                    cold=cold_first and k == 1) for k in (1, 2, 3) for p in range(prompts)]  # fmt: skip


def _warnings(requests: list[RequestResult]) -> list[str]:
    results = _level_results(requests, "")
    build_phase_summaries(results)
    return results.warnings


def test_a_prompt_cache_is_flagged_when_repeats_are_far_faster_than_round_one() -> None:
    assert PROMPT_CACHE_RATIO == 0.5
    (warning,) = _warnings(_rounds(200.0, 60.0))
    assert warning.startswith(f"{MODEL}: likely prompt-cache effect")
    assert "30% of their first send's (median over 3 prompts)" in warning
    # The median over prompts: two of three cached are enough, one of three is not.
    mixed = _rounds(200.0, 60.0, prompts=2) + [request(2, ttft=200.0, round_number=k) for k in (1, 2, 3)]
    assert len(_warnings(mixed)) == 1
    one = _rounds(200.0, 200.0, prompts=2) + [request(2, ttft=200.0 if k == 1 else 20.0, round_number=k)
                                              for k in (1, 2, 3)]  # fmt: skip
    assert _warnings(one) == []


@pytest.mark.parametrize(
    ("later", "flagged"),
    [(99.0, True), (100.0, False), (102.0, False), (180.0, False)],  # round 1 at 200 ms: the ratio's 0.5 threshold
)
def test_the_prompt_cache_threshold(later: float, flagged: bool) -> None:
    assert bool(_warnings(_rounds(200.0, later))) == flagged


def test_with_a_warmup_the_repeats_are_compared_with_the_warmups_ttft() -> None:
    """--warmup sends every prompt once first: round 1 is a repeat already, and a cache answers it as fast as the
    later rounds. The baseline is then the warmup's TTFT (LevelResult.first_ttft_ms)."""
    cached = _rounds(60.0, 60.0)  # every measured round as fast: the cache was already warm at round 1
    assert _warnings(cached) == []  # without the warmup's figure nothing shows it
    results = _level_results(cached, "")
    results.models[0].levels[0].first_ttft_ms = [200.0, 200.0, None]  # the third prompt's warmup failed
    build_phase_summaries(results)
    (warning,) = results.warnings
    assert "30% of their first send's (median over 3 prompts)" in warning  # 60/200, 60/200 and round 2-3 / 1 = 1
    results.models[0].levels[0].first_ttft_ms = [70.0, 70.0, 70.0]  # repeats as slow as the first send
    build_phase_summaries(results)
    assert results.warnings == []


def test_the_runner_keeps_each_prompts_warmup_ttft(tmp_path: Path) -> None:
    with FakeOpenAIServer(StreamScript(first_token_delay_s=0.02), models=["m"]) as server:
        session = Session(Settings(endpoint=server.url, data_dir=tmp_path), sampler=FixedSampler())
        try:
            config = build_config(models=["m"], rounds=1, warmup=2, max_tokens=8)
            results = session.bench(config).run()
        finally:
            session.close()
    (level,) = results.models[0].levels
    warm = level.first_ttft_ms
    assert warm is not None and len(warm) == len(config.prompts)
    # The first warmup is the process's cold request: not a baseline. The others are the first round's warmups.
    assert warm[0] is None or warm[0] >= 20.0
    assert all(t is not None and t >= 20.0 for t in warm[1:])
    assert level.to_json()["first_ttft_ms"] == warm  # kept in results.json


def test_no_prompt_cache_warning_from_a_cold_round_one_or_concurrent_requests() -> None:
    assert _warnings(_rounds(2000.0, 20.0, cold_first=True)) == []  # the set-up wait, not a cache
    requests = _rounds(200.0, 20.0, concurrency=2)
    model = ModelResult(model=MODEL, status="ok",
                        levels=[LevelResult(concurrency=2, mode="stream", status="ok", planned=9)])  # fmt: skip
    results = BenchResults(settings=RunSettings(concurrency=[2]), models=[model], requests=requests)
    results.summaries = build_summaries(results)
    build_phase_summaries(results)
    assert results.warnings == []  # queueing at concurrency 2 says nothing about a cache


# -- 7. the CLI end to end on the tiny model --------------------------------------------------------------------

LENGTHS = (64, 128, 256)
CLI_SLO = "ttft_ms<=5000,decode_tps>=1,e2e_ms<=10000"


@pytest.fixture
def tiny_cli(cli_env: dict[str, str], tiny_model_dir: Path, tmp_path: Path) -> dict[str, str]:
    env = {**cli_env, "FOUNDRY_TUI_CACHE_DIR": str(tmp_path / "cache"), "FOUNDRY_TUI_DATA_DIR": str(tmp_path / "td")}
    result = run_cli(env, "register", str(tiny_model_dir), "--id", TINY_ID)
    assert result.returncode == 0, result.stderr
    return env


def _md_rows(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| MODEL")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _html_section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return str(match.group(1))


def _float(cell: str) -> float | None:
    return float(cell) if cell else None


@pytest.mark.runtime
def test_cli_sweep_context_cold_and_slo_on_the_tiny_model(tiny_cli: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(tiny_cli, "bench", "--models", "tiny", "--rounds", "2", "--prompt-tokens",
                     ",".join(map(str, LENGTHS)), "--find-context", "--cold", "3", "--slo", CLI_SLO, "--html",
                     "--out", str(out), timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    data = json.loads((out / "results.json").read_text())
    requests = data["requests"]
    assert data["partial"] is False and data["settings"]["prompt_tokens"] == list(LENGTHS)
    assert data["settings"]["slo"] == CLI_SLO and data["settings"]["cold"] == 3 and data["settings"]["find_context"]
    for r in requests:
        assert r["status"] in ("ok", "error")
        if r["status"] == "ok":
            assert r["prefill_tps"] == pytest.approx(r["prompt_tokens"] / (r["ttft_ms"] / 1000), rel=1e-9)
    # Sweep: exact lengths (the model's own tokenizer.json); the chat template adds the same tokens to each.
    sweep = [r for r in requests if r["phase"] == SWEEP]
    assert sorted((r["prompt_tokens_target"], r["round"]) for r in sweep) == [(n, k) for n in LENGTHS for k in (1, 2)]
    assert all(r["status"] == "ok" and r["prompt_tokens_exact"] for r in sweep)
    template = {r["prompt_tokens"] - r["prompt_tokens_target"] for r in sweep}
    assert len(template) == 1 and template.pop() > 0
    assert [(p["prompt_tokens_target"], p["exact"], p["n_ok"]) for p in data["sweep"]] == [
        (n, True, 2) for n in LENGTHS
    ]
    # Usable context: bracketed within the search's resolution, below the advertised 512.
    (context,) = data["context"]
    probes = [r for r in requests if r["phase"] == CONTEXT]
    works, failed = context["works_up_to"], context["failed_at"]
    assert context["advertised"] == 512 and context["stopped_because"] == "error"
    assert context["works_up_to_prompt_tokens"] < 512 and failed - works <= resolution(works)
    assert works == max(r["prompt_tokens_target"] for r in probes if r["status"] == "ok")
    assert all(r["status"] == "error" for r in probes if r["prompt_tokens_target"] >= failed)
    assert context["failure"] and "context" in context["failure"] and context["probes"] == len(probes)
    # Cold starts: three reloads, apart from the warm level.
    cold = [r for r in requests if r["phase"] == COLD]
    (cold_summary,) = data["cold_starts"]
    assert len(cold) == 3 and all(r["cold"] and r["load_s"] > 0 for r in cold)
    assert cold_summary["n"] == 3 and cold_summary["load_s"]["n"] == 3 and cold_summary["ttft_ms"]["n"] == 3
    summary = data["summaries"][0]
    warm = [r["ttft_ms"] for r in requests if r["phase"] == LEVELS and r["prompt_index"] == 0 and not r["cold"]]
    assert summary["n_requests"] == 8 and cold_summary["warm_ttft_p50_ms"] == pytest.approx(statistics.median(warm))
    # Goodput, recomputed from the requests by its definition.
    counted = [r for r in requests if r["phase"] == LEVELS and r["status"] in ("ok", "error") and not r["cold"]]
    good = [r for r in counted if r["status"] == "ok" and r["ttft_ms"] <= 5000 and r["decode_tps"] >= 1
            and r["e2e_ms"] <= 10000]  # fmt: skip
    assert (summary["n_good"], summary["n_slo_counted"]) == (len(good), len(counted))
    assert summary["goodput_share"] == pytest.approx(len(good) / len(counted))
    share_text = f"{metrics.GOODPUT.fmt(summary['goodput_share'] * 100)} ({len(good)}/{len(counted)})"

    # CSV: one row per request, the same figures.
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == len(requests)
    for row, r in zip(rows, requests, strict=True):
        assert row["phase"] == r["phase"] and row["status"] == r["status"]
        for key in ("prefill_tps", "ttft_ms", "load_s"):
            value = _float(row[key])
            assert (value is None) == (r[key] is None), key
            if value is not None:
                assert value == pytest.approx(r[key], rel=1e-4), key
        assert row["meets_slo"] == ("true" if _meets(r) else "false")  # per request: every target met

    # Markdown: the same goodput, sweep, cold and context figures.
    markdown = (out / "benchmark_report.md").read_text()
    (model_row,) = _md_rows(markdown, "Models")
    assert model_row[0] == TINY_ID and model_row[-1] == share_text
    sweep_md = _md_rows(markdown, "Prompt-length sweep")
    assert [row[1] for row in sweep_md] == [str(n) for n in LENGTHS]
    for cells, point in zip(sweep_md, data["sweep"], strict=True):
        assert cells[2] == f"{point['prompt_tokens']['p50']:.0f}"
        assert cells[4] == metrics.TTFT.fmt(point["ttft_ms"]["p50"])
        assert cells[5] == metrics.PREFILL.fmt(point["prefill_tps"]["p50"])
    (cold_md,) = _md_rows(markdown, "Cold starts")
    assert cold_md[1] == "3" and cold_md[4] == metrics.COLD_TTFT.fmt(cold_summary["ttft_ms"]["p50"])
    assert context["verdict"] in markdown.split("## Usable context", 1)[1]
    assert f"usable context: {TINY_ID}: {context['verdict']}" in result.stdout

    # report.html: offline, inline SVG plots, the same figures.
    page = (out / "report.html").read_text(encoding="utf-8")
    for attribute, value in re.findall(r'\b(src|href|xlink:href|action|srcset)\s*=\s*"([^"]*)"', page):
        assert not value.startswith(("http:", "https:", "//")), (attribute, value)
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*https?://", page, re.I)
    assert "<script" not in page.lower() and "url(http" not in page
    for anchor in ("ttft", "sweep", "cold", "memory"):
        svg = re.findall(r"<svg\b.*?</svg>", _html_section(page, anchor), re.S)
        assert svg and "<path" in svg[0], anchor
    assert share_text in _html_section(page, "models")
    assert html.escape(context["verdict"]) in _html_section(page, "context")
    sweep_html = _html_section(page, "sweep")
    for point in data["sweep"]:
        assert metrics.PREFILL.fmt(point["prefill_tps"]["p50"]) in sweep_html


def _meets(r: dict[str, Any]) -> bool:
    return bool(r["status"] == "ok" and r["ttft_ms"] <= 5000 and (r["decode_tps"] or 0) >= 1 and r["e2e_ms"] <= 10000)


# -- 8. SmolLM2 (slow) -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_env() -> dict[str, str]:
    """The environment with the user's default data dir; skips unless SmolLM2 is registered there."""
    env = {k: v for k, v in os.environ.items() if k != "FOUNDRY_LOCAL_ENDPOINT"}
    listed = run_cli(env, "models", "--json", timeout=120)
    if listed.returncode != 0:
        pytest.skip(f"cannot list the default data dir's models: {listed.stderr.strip()[:200]}")
    local = {m.get("id") for m in json.loads(listed.stdout).get("local", [])}
    if SMOLLM2 not in local:
        pytest.skip(f"{SMOLLM2} is not registered in the default data dir")
    return env


@pytest.mark.slow
@pytest.mark.runtime
def test_smollm2_sweep_context_cold_and_slo(default_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    lengths = (128, 512, 1024)
    result = run_cli(default_env, "bench", "--models", SMOLLM2, "--rounds", "2", "--max-tokens", "32",
                     "--prompt-tokens", ",".join(map(str, lengths)), "--sweep-max-tokens", "16", "--find-context",
                     "--context-max", "2048", "--cold", "3", "--slo", "ttft_ms<=30000,decode_tps>=1", "--html",
                     "--out", str(out), timeout=1500)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    points = data["sweep"]
    assert [(p["prompt_tokens_target"], p["exact"], p["n_ok"]) for p in points] == [(n, True, 2) for n in lengths]
    assert all(p["prefill_tps"]["p50"] > 0 and p["decode_tps"]["p50"] > 0 for p in points)
    ttfts = [p["ttft_ms"]["p50"] for p in points]
    assert ttfts == sorted(ttfts) and ttfts[0] < ttfts[-1], ttfts  # a longer prompt takes longer to prefill
    (context,) = data["context"]
    assert context["advertised"] == 8192 and context["works_up_to"] is not None
    assert context["works_up_to"] <= 2048 and context["works_up_to_prompt_tokens"] <= context["advertised"]
    assert context["stopped_because"] in ("max", "error", "ttft_limit")
    (cold,) = data["cold_starts"]
    assert cold["n"] == 3 and cold["load_s"]["n"] == 3 and cold["load_s"]["min"] > 0 and cold["ttft_ms"]["min"] > 0
    summary = data["summaries"][0]
    assert summary["n_slo_counted"] == summary["n_ok"] + summary["n_failed"] - (summary["ttft_cold_ms"] is not None)
    assert 0 <= summary["goodput_share"] <= 1 and summary["prefill_tps"]["p50"] > 0
    assert math.isclose(summary["goodput_share"], summary["n_good"] / summary["n_slo_counted"])
    assert (out / "report.html").is_file()

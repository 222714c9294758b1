"""Benchmarks at the edges (issue 12), in-process against the real local SSE server: several tokens per chunk
without usage, concurrency tails and the steady state, honest statuses, cold requests, first-token vs stall
timeouts, and the steady-state arithmetic on hand-made requests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from foundry_tui.backends.endpoint_tokenize import server_tokenizer
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.fake_tokenizer import write_fake_tokenizer
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.engine.bench import BenchConfig, BenchEvent, BenchResults, BenchRunner, LevelStarted, RequestResult
from foundry_tui.engine.bench.tables import summary_rows, throughput_rows
from foundry_tui.engine.bench.throughput import planned_requests, steady_state
from foundry_tui.engine.bench.token_counting import CounterFor
from foundry_tui.engine.bench.tokens import load_tokenizer
from foundry_tui.engine.prompts import PromptSpec

MODEL = "fake-model"
PROMPTS = tuple(PromptSpec(f"prompt {i}") for i in range(4))


def num(value: float | None) -> float:
    assert value is not None
    return value


def run(
    srv: FakeOpenAIServer, tmp_path: Path, counter: CounterFor | None = None, out: Path | None = None, **overrides: Any
) -> BenchResults:
    backend = EndpointBackend(Settings(endpoint=srv.base_url, data_dir=tmp_path))
    values: dict[str, Any] = {"models": (MODEL,), "prompts": PROMPTS, "rounds": 1, "warmup": 1,
                              "sample_interval_s": 0.05}  # fmt: skip
    values.update(overrides)
    runner = BenchRunner(backend, BenchConfig(**values), collect_environment=False, token_counter=counter, out_dir=out)
    try:
        return runner.run()
    finally:
        backend.close()


def chunky(tokens: int = 30, **script: Any) -> StreamScript:
    """Three tokens per SSE event and no usage: the server that made decode read a third of the truth."""
    return StreamScript(tokens=make_tokens(tokens), tokens_per_chunk=3, usage=False, **script)


# -- token truth ---------------------------------------------------------------------------------------------


def test_multi_token_chunks_without_usage_are_marked_estimated_everywhere(tmp_path: Path) -> None:
    with FakeOpenAIServer(chunky(gap_s=0.002)) as srv:
        results = run(srv, tmp_path, concurrency=(1, 2))
    ok = [r for r in results.requests if r.ok]
    assert ok and all(r.tokens_estimated and r.tokens_source == "chunks" and r.completion_tokens == 10 for r in ok)
    summary = results.summaries[0]
    assert summary.tokens_estimated and summary.tokens_source == "chunks"
    row = summary_rows(results)[0]
    assert row[6].startswith("~") and row[7].startswith("~")  # decode rate and tokens
    level = throughput_rows(results)[0]
    assert level[5].startswith("~") and level[7].startswith("~")  # output throughput: whole level and steady


@pytest.mark.parametrize("how", ["server", "tokenizer"])
def test_multi_token_chunks_are_counted_exactly(how: str, tmp_path: Path) -> None:
    """The server's /tokenize route, or --tokenizer: the count equals what the server generated, and the decode
    rate leaves out the first chunk's three tokens (whose wait is TTFT)."""
    with FakeOpenAIServer(chunky(gap_s=0.004), tokenize_route=how == "server") as srv:
        if how == "server":
            counter: CounterFor = lambda model: server_tokenizer(srv.url, model)  # noqa: E731
        else:
            tokenizer = load_tokenizer(write_fake_tokenizer(tmp_path / "tok"))
            counter = lambda model: tokenizer  # noqa: E731
        results = run(srv, tmp_path, counter, max_tokens=29)  # 29: the last chunk holds 2 tokens
        sends = srv.send_log[-1] if srv.send_log else []
    ok = [r for r in results.requests if r.ok]
    assert len(ok) == 4 and all(r.completion_tokens == 29 and r.tokens_source == how for r in ok)
    assert not any(r.tokens_estimated for r in ok) and results.summaries[0].tokens_source == how
    assert not summary_rows(results)[0][6].startswith("~")
    # Truth from the server's own send stamps of the last request: tokens after the first chunk / their span.
    assert len(sends) == 10
    truth = (29 - 3) / ((sends[-1] - sends[0]) / 1e9)
    assert num(ok[-1].decode_tps) == pytest.approx(truth, rel=0.1)


def test_a_counter_that_fails_leaves_the_estimate_and_a_note(tmp_path: Path) -> None:
    class Broken:
        source, label = "server", "http://nowhere/tokenize"

        def count(self, text: str) -> int:
            from foundry_tui.errors import BackendError

            raise BackendError("tokenize at http://nowhere/tokenize failed: refused", kind="network")

        def close(self) -> None:
            pass

    with FakeOpenAIServer(chunky()) as srv:
        results = run(srv, tmp_path, lambda model: Broken())
    assert all(r.tokens_estimated for r in results.requests if r.ok) and results.models[0].status == "ok"
    assert any("counting tokens with http://nowhere/tokenize failed" in n for n in results.models[0].notes)


# -- concurrency and the steady state ------------------------------------------------------------------------


def test_concurrency_runs_waves_and_reports_the_steady_state(tmp_path: Path) -> None:
    """4 prompts × 3 rounds at concurrency 8: 24 requests (3 waves), steady throughput = 8 streams' worth."""
    script = StreamScript(tokens=make_tokens(20), first_token_delay_s=0.01, gap_s=0.01)
    with FakeOpenAIServer(script) as srv:
        results = run(srv, tmp_path, rounds=3, warmup=0, concurrency=(8,))
    summary = results.summaries[0]
    assert (summary.status, summary.n_ok, summary.n_planned) == ("ok", 24, 24)
    requests = results.requests
    assert {r.slot for r in requests} == set(range(8))
    mean_e2e_s = sum(num(r.e2e_ms) for r in requests) / len(requests) / 1000
    assert num(summary.steady_request_throughput_rps) == pytest.approx(8 / mean_e2e_s, rel=0.05)
    assert num(summary.steady_output_throughput_tps) == pytest.approx(20 * 8 / mean_e2e_s, rel=0.07)
    assert num(summary.steady_window_s) > 0


def request(slot: int, start: float, e2e_s: float, tokens: int = 10, **extra: Any) -> RequestResult:
    gap = e2e_s / tokens * 1000
    return RequestResult(model="m", prompt_index=0, round=1, concurrency=8, mode="stream", status="ok",
                         t_start_s=start, e2e_ms=e2e_s * 1000, ttft_ms=gap, itl_ms=[gap] * (tokens - 1),
                         completion_tokens=tokens, slot=slot, **extra)  # fmt: skip


def test_steady_state_of_twelve_requests_at_concurrency_eight_is_exact() -> None:
    """The issue's tail: 12 one-second requests (first piece after 0.1 s) on 8 streams. The whole level reads
    12 req / 2 s = 6; the steady state, from the last stream's first piece until the first stream is done, is
    8 req/s and 80 tok/s."""
    rows = [request(slot, 0.0, 1.0) for slot in range(8)] + [request(slot, 1.0, 1.0) for slot in range(4)]
    steady = steady_state(rows, 8)
    assert steady is not None and steady.window_s == pytest.approx(0.9)
    assert steady.request_rps == pytest.approx(8.0) and num(steady.output_tps) == pytest.approx(80.0)
    assert steady_state(rows[:7], 8) is None  # a stream that never ran: never all busy


def closed_loop(concurrency: int, budgets: tuple[int, ...] = (128, 256, 192, 96)) -> tuple[list[RequestResult], float]:
    """c streams taking jobs in order (job j sends prompt j mod P), 100 tok/s each, 50 ms TTFT, no contention:
    the requests, and the long-run output rate c × mean tokens / mean e2e."""
    free = [(0.0, slot) for slot in range(concurrency)]
    rows = []
    for j in range(planned_requests(len(budgets), 3, concurrency, 3)):
        free.sort()
        start, slot = free.pop(0)
        tokens = budgets[j % len(budgets)]
        e2e = 0.05 + (tokens - 1) / 100
        rows.append(RequestResult(model="m", prompt_index=j % len(budgets), round=1, concurrency=concurrency,
                                  mode="stream", status="ok", t_start_s=start, e2e_ms=e2e * 1000, ttft_ms=50.0,
                                  itl_ms=[10.0] * (tokens - 1), completion_tokens=tokens, slot=slot))  # fmt: skip
        free.append((start + e2e + 0.0001, slot))
    mean_e2e = sum(0.05 + (t - 1) / 100 for t in budgets) / len(budgets)
    return rows, concurrency * sum(budgets) / len(budgets) / mean_e2e


@pytest.mark.parametrize("concurrency", [2, 4, 8, 16])
def test_steady_output_rate_of_a_mixed_prompt_set_is_the_long_run_rate(concurrency: int) -> None:
    rows, truth = closed_loop(concurrency)
    steady = steady_state(rows, concurrency)
    assert steady is not None and num(steady.output_tps) == pytest.approx(truth, rel=0.01)


def test_steady_state_is_taken_per_session() -> None:
    first = [request(slot, 0.0, 1.0) for slot in range(2)]
    resumed = [request(slot, 50.0, 0.5, session=1) for slot in range(2)] + [
        request(slot, 50.5, 0.5, session=1) for slot in range(2)
    ]
    steady = steady_state(first + resumed, 2)  # the resumed session's window is longer: 1.0 − 0.05 s
    assert steady is not None and steady.window_s == pytest.approx(0.95) and steady.request_rps == pytest.approx(4.0)
    assert num(steady.output_tps) == pytest.approx(40.0)


def test_planned_requests_are_whole_waves() -> None:
    assert planned_requests(4, 3, 1, 3) == 12
    assert planned_requests(4, 3, 4, 3) == 12
    assert planned_requests(4, 3, 8, 3) == 24
    assert planned_requests(4, 3, 8, 1) == 16  # rounded up to whole waves
    assert planned_requests(4, 3, 5, 3) == 15


# -- statuses, cold, timeouts --------------------------------------------------------------------------------


def test_a_level_cut_short_is_partial_with_counts_and_no_throughput(tmp_path: Path) -> None:
    """The later level's streams stall after their first piece (the issue: 7 of 8 cut by a timeout on llama.cpp):
    the level has no throughput and the model is partial, not ok."""
    script = StreamScript(tokens=make_tokens(4), gap_s=0.01)
    with FakeOpenAIServer(script) as srv:

        def on_event(event: BenchEvent) -> None:
            if isinstance(event, LevelStarted) and event.concurrency == 4:
                srv.script.fault, srv.script.fault_after = "stall", 1

        backend = EndpointBackend(Settings(endpoint=srv.base_url, data_dir=tmp_path))
        config = BenchConfig(models=(MODEL,), prompts=PROMPTS, rounds=1, warmup=0, concurrency=(1, 4),
                             stall_timeout_s=0.3)  # fmt: skip
        results = BenchRunner(backend, config, collect_environment=False, on_event=on_event).run()
        backend.close()
    by_level = {s.concurrency: s for s in results.summaries}
    assert by_level[1].status == "ok" and by_level[1].request_throughput_rps is not None
    assert by_level[4].status == "error" and by_level[4].request_throughput_rps is None
    assert by_level[4].steady_request_throughput_rps is None and by_level[4].n_failed >= 1
    assert results.models[0].status == "partial"
    assert summary_rows(results)[0][1] == "partial 4/16"  # 4 of 4 + 12 (three waves of 4) planned
    assert throughput_rows(results)[1][3].startswith("error 0/12")


def test_the_first_request_is_cold_and_kept_out_of_ttft(tmp_path: Path) -> None:
    with FakeOpenAIServer(StreamScript(first_token_delay_s=0.005)) as srv:
        results = run(srv, tmp_path, warmup=0)
        warm = run(srv, tmp_path, warmup=1)
    cold = [r for r in results.requests if r.cold]
    assert len(cold) == 1 and cold[0] is results.requests[0]
    summary = results.summaries[0]
    assert summary.ttft_cold_ms == cold[0].ttft_ms and summary.ttft_ms.n == 3
    assert not any(r.cold for r in warm.requests) and warm.summaries[0].ttft_cold_ms is None


def test_a_slow_first_token_is_not_a_stall(tmp_path: Path) -> None:
    """A long prompt's prefill: 0.6 s to the first token, then quick pieces. The stall timeout (0.3 s) is for
    the gaps between pieces; the first-token timeout covers the wait."""
    with FakeOpenAIServer(StreamScript(first_token_delay_s=0.6, gap_s=0.005)) as srv:
        ok = run(srv, tmp_path, prompts=PROMPTS[:1], warmup=0, stall_timeout_s=0.3, first_token_timeout_s=5)
        late = run(srv, tmp_path, prompts=PROMPTS[:1], warmup=0, stall_timeout_s=5, first_token_timeout_s=0.3)
    assert [r.status for r in ok.requests] == ["ok"]
    first = late.requests[0]
    assert first.error_kind == "first_token_timeout" and "0.3 s" in (first.error or "")
    assert late.models[0].status == "error"


def test_result_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with FakeOpenAIServer(StreamScript()) as srv:
            run(srv, tmp_path, out=tmp_path / "out", prompts=PROMPTS[:1])
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()}
    assert modes == dict.fromkeys(("results.json", "results.csv", "benchmark_report.md", "journal.jsonl"), 0o644)

"""Benchmark figures at the edges, against server-side truth (issue 12). Prints measured ratios; not a test.

1. Multi-token chunks without usage: a server sends 3 tokens per SSE event and no usage. The decode rate with
   nothing to count (marked estimated), with the server's /tokenize route and with a tokenizer.json, each against
   the truth from the server's own send stamps: (tokens after the first event) / (last event − first event).
2. Concurrency 8 with 4 prompts × 3 rounds: the whole-level and steady-state output throughput against the tokens
   the server actually sent inside the steady window (its send stamps, same clock), with `--waves 1` (16
   requests) and the default 3 waves (24).

The server runs in this process on its own threads (stamps: perf_counter_ns right before each event is written).
Run: python benchmarks/bench_edges.py        (about 20 s)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from foundry_tui.backends.endpoint_tokenize import server_tokenizer
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.fake_tokenizer import write_fake_tokenizer
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.engine.bench import BenchConfig, BenchResults, BenchRunner, RequestResult
from foundry_tui.engine.bench.token_counting import CounterFor
from foundry_tui.engine.bench.tokens import load_tokenizer
from foundry_tui.engine.prompts import PromptSpec

MODEL = "fake-model"
PROMPTS = tuple(PromptSpec(f"prompt {i}") for i in range(4))


def run(srv: FakeOpenAIServer, counter: CounterFor | None = None, **overrides: Any) -> tuple[BenchRunner, BenchResults]:
    backend = EndpointBackend(Settings(endpoint=srv.base_url, data_dir=Path(tempfile.mkdtemp())))
    values: dict[str, Any] = {"models": (MODEL,), "prompts": PROMPTS, "rounds": 3, "warmup": 1}
    values.update(overrides)
    runner = BenchRunner(backend, BenchConfig(**values), collect_environment=False, token_counter=counter)
    results = runner.run()
    backend.close()
    return runner, results


def row(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


def multi_token_chunks() -> None:
    print("1. 3 tokens per SSE event, no usage (300 tokens, 10 ms between events: 300 tok/s)")
    script = StreamScript(tokens=make_tokens(300), gap_s=0.01, tokens_per_chunk=3, usage=False)
    tokenizer = load_tokenizer(write_fake_tokenizer(Path(tempfile.mkdtemp()) / "tok"))
    with FakeOpenAIServer(script, models=[MODEL], tokenize_route=True) as srv:
        counters: dict[str, CounterFor | None] = {
            "nothing to count with": None,
            "the server's /tokenize": lambda model: server_tokenizer(srv.url, model),
            "--tokenizer tokenizer.json": lambda model: tokenizer,
        }
        for label, counter in counters.items():
            srv.reset()
            _, results = run(srv, counter, prompts=PROMPTS[:1], rounds=3)
            logs = srv.send_log[-3:]  # the measured requests (the warmup came first)
            truth = sum((300 - 3) / ((log[-1] - log[0]) / 1e9) for log in logs) / len(logs)
            s = results.summaries[0]
            mark = "~" if s.tokens_estimated else ""
            ratio = (s.decode_tps.mean or 0) / truth
            row(f"{label}: decode (tokens from {s.tokens_source})",
                f"{mark}{s.decode_tps.mean or 0:.1f} tok/s vs server {truth:.1f} → ratio {ratio:.3f}; "
                f"tokens {mark}{s.completion_tokens.mean:.0f}")  # fmt: skip


def concurrency_tail() -> None:
    print("2. concurrency 8, 4 prompts × 3 rounds, 40 tokens at 100 tok/s per stream")
    script = StreamScript(tokens=make_tokens(40), first_token_delay_s=0.01, gap_s=0.01)
    with FakeOpenAIServer(script, models=[MODEL]) as srv:
        for waves in (1, 3):
            srv.reset()
            runner, results = run(srv, concurrency=(8,), min_waves=waves, warmup=0)
            s = results.summaries[0]
            rows = results.requests
            firsts: dict[int, RequestResult] = {}
            ends: dict[int, float] = {}
            for r in rows:
                assert r.slot is not None and r.t_start_s is not None and r.e2e_ms is not None
                if r.slot not in firsts or r.t_start_s < (firsts[r.slot].t_start_s or 0):
                    firsts[r.slot] = r
                ends[r.slot] = max(ends.get(r.slot, 0.0), r.t_start_s + r.e2e_ms / 1000)
            # The steady window as docs/metrics.md defines it: the last stream's first piece → the first stream's end.
            lo = runner.t0_ns + max((r.t_start_s or 0) + (r.ttft_ms or 0) / 1000 for r in firsts.values()) * 1e9
            hi = runner.t0_ns + min(ends.values()) * 1e9
            sent = sum(1 for log in srv.send_log for t in log if lo < t <= hi)  # one token per event here
            truth = sent / ((hi - lo) / 1e9)
            whole, steady = s.output_throughput_tps or 0, s.steady_output_throughput_tps or 0
            row(f"--waves {waves}: {s.n_ok} requests, whole level",
                f"{whole:.1f} tok/s → ratio {whole / truth:.3f} vs server {truth:.1f} (steady window)")  # fmt: skip
            row(f"--waves {waves}: steady state ({s.steady_window_s or 0:.2f} s window)",
                f"{steady:.1f} tok/s → ratio {steady / truth:.3f} (goal within 2 %)")  # fmt: skip


def main() -> None:
    multi_token_chunks()
    concurrency_tail()


if __name__ == "__main__":
    main()

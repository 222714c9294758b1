"""How true are `foundry-tui bench` numbers? Three checks, measured in one run and printed side by side.

1. Measurement overhead: the SSE server runs in its own process and stamps `perf_counter_ns()` right before it
   writes each content chunk. On Linux perf_counter is CLOCK_MONOTONIC, one clock for every process on the
   machine (checked below), so client stamp − server stamp is the time from "the server wrote it" to "the
   engine stamped it": socket, HTTP client, SSE parsing, our code. Goal: median ≤ 1 ms for the first token.
2. Ingestion ceiling: a 20,000 tok/s stream; the engine's decode rate must be ≥ 0.98 × the server's true rate.
3. Our method vs the seed's `benchmark_models.py` (non-streamed request; "tok/s" = usage.total_tokens, prompt
   included, / latency) on the same server, for a few prompt / answer shapes, with the true decode rate known.
4. TTFT at the wire: a raw-socket reference client (connect, stamp, send the HTTP/1.1 request, read until the
   first content chunk, stamp) against the same server, next to `bench` (in-process, warmup 1 and 0) and
   `foundry-tui chat --json` (fresh processes). Goal: p50 TTFT ≤ 0.5 ms above the raw client's.

Run: python benchmarks/bench_accuracy.py        (about two minutes on 2 cores)
     python benchmarks/bench_accuracy.py --ttft (only check 4)
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import openai

from foundry_tui.backends.base import ChatMessage, ChatOptions
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.engine.bench import BenchConfig, BenchResults, BenchRunner, RequestResult
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.session import Session

MODEL = "fake-model"


# -- the server process --------------------------------------------------------------------------------------


class Paced:
    """A gap schedule on absolute times: chunk i is due at t_first + i / rate. The server's own gaps are relative to
    the previous write, so sub-millisecond gaps drift slow (each wait overshoots); a late chunk here is followed by
    an immediate one, so the average rate is the nominal one. Streaming only (a non-streamed reply sums the gaps
    up front)."""

    def __init__(self, chunks_per_s: float) -> None:
        self.period = 1.0 / chunks_per_s
        self.t_first = 0.0

    def __call__(self, index: int) -> float:
        now = time.perf_counter()
        if index == 0:
            self.t_first = now  # called right after the first chunk was written
        return self.t_first + (index + 1) * self.period - now


def serve() -> None:
    """Child process: a FakeOpenAIServer driven by JSON lines on stdin; answers on stdout."""
    server = FakeOpenAIServer(StreamScript(), models=[MODEL]).start()
    print(server.url, flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "script":
            tokens = make_tokens(command.pop("tokens"))
            pace = command.pop("pace_chunks_per_s", None)
            if pace:
                command["gap_s"] = Paced(pace)
            server.script = StreamScript(tokens=tokens, **{k: v for k, v in command.items() if k != "cmd"})
            server.reset()
            print("{}", flush=True)
        elif command["cmd"] == "log":
            print(json.dumps(server.send_log), flush=True)
        elif command["cmd"] == "now":
            print(json.dumps(time.perf_counter_ns()), flush=True)
        else:
            break
    server.stop()


class ServerProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def ask(self, **command: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write('{"cmd": "quit"}\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


# -- helpers -------------------------------------------------------------------------------------------------


def bench(
    url: str, rounds: int, prompt: str = "hello", *, warmup: int = 1, **extra: Any
) -> tuple[BenchRunner, BenchResults]:
    backend = EndpointBackend(Settings(endpoint=url, data_dir=Path(tempfile.mkdtemp())))
    prompts = (PromptSpec(prompt),)
    config = BenchConfig(models=(MODEL,), prompts=prompts, rounds=rounds, warmup=warmup, max_tokens=200_000, **extra)
    runner = BenchRunner(backend, config, collect_environment=False)
    results = runner.run()
    backend.close()
    return runner, results


def client_token_times(runner: BenchRunner, request: RequestResult) -> list[float]:
    """Absolute perf_counter_ns of every piece the engine stamped, rebuilt from t_start, TTFT and the ITL gaps."""
    assert request.t_start_s is not None and request.ttft_ms is not None
    first = runner.t0_ns + request.t_start_s * 1e9 + request.ttft_ms * 1e6
    offsets = np.cumsum(request.itl_ms) * 1e6
    return [first, *(first + float(x) for x in offsets)]


def row(label: str, value: str) -> None:
    print(f"  {label:<52} {value}")


def goal_text(value: float, goal: float, *, at_least: bool = False) -> str:
    ratio = goal / value if at_least else value / goal
    return f"goal {'≥' if at_least else '≤'} {goal:g}, ratio {ratio:.2f} ({'meets' if ratio <= 1.0 else 'misses'})"


# -- 1. overhead ---------------------------------------------------------------------------------------------


def check_clock(server: ServerProcess) -> float:
    before = time.perf_counter_ns()
    child = int(server.ask(cmd="now"))
    after = time.perf_counter_ns()
    assert before <= child <= after, "perf_counter_ns is not one clock across processes here"
    return (after - before) / 1e6


def overhead(server: ServerProcess) -> None:
    print("1. measurement overhead (server in its own process; 30 requests, 50 tokens, 10 ms gaps)")
    row("clock check: child's stamp inside parent's bracket", f"yes ({check_clock(server):.2f} ms wide)")
    server.ask(cmd="script", tokens=50, first_token_delay_s=0.05, gap_s=0.01)
    runner, results = bench(server.url, rounds=30)
    logs = server.ask(cmd="log")[-30:]
    first_lag: list[float] = []
    all_lag: list[float] = []
    request_cost: list[float] = []
    for request, log in zip(results.requests, logs, strict=True):
        times = client_token_times(runner, request)
        assert len(times) == len(log) == 50
        first_lag.append((times[0] - log[0]) / 1e6)
        all_lag.extend((c - s) / 1e6 for c, s in zip(times, log, strict=True))
        t_sent = runner.t0_ns + (request.t_start_s or 0.0) * 1e9
        request_cost.append((log[0] - t_sent) / 1e6 - 50.0)  # send → server's first write, minus the scripted wait
    median = statistics.median(first_lag)
    row("first token: client stamp − server write, median", f"{median:.3f} ms  {goal_text(median, 1.0)}")
    row("first token lag p99 / max", f"{np.percentile(first_lag, 99):.3f} / {max(first_lag):.3f} ms")
    row("every token lag median / p99", f"{statistics.median(all_lag):.3f} / {np.percentile(all_lag, 99):.3f} ms")
    row(
        "TTFT median (scripted first-token wait: 50 ms)",
        f"{statistics.median(r.ttft_ms or 0.0 for r in results.requests):.3f} ms",
    )
    row("of which request cost (send → server's first write − 50)", f"{statistics.median(request_cost):.3f} ms median")
    print("  (request cost = HTTP client request build + connection + server parse: part of TTFT by definition)")


# -- 2. ingestion ceiling ------------------------------------------------------------------------------------


def ingestion(server: ServerProcess) -> None:
    print("2. ingestion ceiling: nominal 20,000 tok/s")
    for tokens_per_chunk, tokens in ((1, 40_000), (5, 100_000)):
        gap = tokens_per_chunk / 20_000
        server.ask(cmd="script", tokens=tokens, pace_chunks_per_s=1 / gap, tokens_per_chunk=tokens_per_chunk)
        _, results = bench(server.url, rounds=3)
        logs = server.ask(cmd="log")[-3:]
        measured = [r.decode_tps or 0.0 for r in results.requests]
        truth = [(tokens - 1) / ((log[-1] - log[0]) / 1e9) for log in logs]
        ratios = [m / t for m, t in zip(measured, truth, strict=True)]
        print(f"  {tokens_per_chunk} token(s) per chunk ({1 / gap:,.0f} chunks/s nominal), {tokens:,} tokens, 3 runs:")
        row("  server's true rate (its send stamps), median", f"{statistics.median(truth):,.0f} tok/s")
        row("  engine's decode rate, median", f"{statistics.median(measured):,.0f} tok/s")
        worst = min(ratios)
        row("  engine / true, worst of 3", f"{worst:.4f}  goal ≥ 0.98 ({'meets' if worst >= 0.98 else 'misses'})")
        row("  engine / nominal 20,000, median", f"{statistics.median(measured) / 20_000:.4f}")
    # The client's own ceiling: the server writes as fast as it can (the socket buffer absorbs the difference).
    server.ask(cmd="script", tokens=40_000, gap_s=0.0, tokens_per_chunk=1)
    _, results = bench(server.url, rounds=3)
    ceiling = statistics.median(r.decode_tps or 0.0 for r in results.requests)
    row("1 token per chunk, server unpaced: engine's rate", f"{ceiling:,.0f} chunks/s (HTTP + SSE client ceiling here)")


# -- 3. seed method ------------------------------------------------------------------------------------------


def seed_method(url: str, prompt: str, max_tokens: int, runs: int = 3) -> tuple[float, float]:
    """What benchmark_models.py did: one non-streamed request; tok/s = usage.total_tokens / latency."""
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    rates, latencies = [], []
    for _ in range(runs):
        started = time.time()
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens
        )
        latency = time.time() - started
        assert reply.usage is not None
        rates.append(reply.usage.total_tokens / latency)
        latencies.append(latency)
    client.close()
    return statistics.median(rates), statistics.median(latencies)


def versus_seed(server: ServerProcess) -> None:
    print("3. our figures vs the seed's method (same server, paced at 200 tok/s; 3 requests each)")
    cases = [
        ("long answer, short prompt", 10, 200, 0.05),
        ("short answer, long prompt", 600, 20, 0.05),
        ("long answer, slow prefill (1 s)", 10, 200, 1.0),
    ]
    header = (
        f"  {'case':<33} {'true':>6} {'ours: decode':>13} {'ours: e2e rate':>15} {'seed tok/s':>11} {'seed/true':>10}"
    )
    print(header)
    for name, prompt_words, answer, ttft in cases:
        prompt = " ".join(["word"] * prompt_words)
        server.ask(cmd="script", tokens=answer, first_token_delay_s=ttft, pace_chunks_per_s=200)
        _, results = bench(server.url, rounds=3, prompt=prompt)
        logs = server.ask(cmd="log")[-3:]
        true_rate = statistics.median((answer - 1) / ((log[-1] - log[0]) / 1e9) for log in logs)
        decode = statistics.median(r.decode_tps or 0.0 for r in results.requests)
        e2e_rate = statistics.median(r.e2e_tps or 0.0 for r in results.requests)
        # Non-streamed replies wait first delay + Σ gaps in one go, so the paced (streaming) schedule does not
        # apply there: a fixed 5 ms gap gives the same 200 tok/s.
        server.ask(cmd="script", tokens=answer, first_token_delay_s=ttft, gap_s=1 / 200)
        seed, _ = seed_method(server.url, prompt, answer)
        print(f"  {name:<33} {true_rate:6.0f} {decode:13.1f} {e2e_rate:15.1f} {seed:11.1f} {seed / true_rate:10.2f}")
    print("  seed tok/s counts the prompt's tokens as if generated (inflates, hugely for long prompts) and divides by")
    print("  the whole latency including the wait for the first token (deflates, hugely with slow prefill); the")
    print("  engine's decode rate excludes both and tracks the true rate; its e2e rate is the honest whole-request")
    print("  figure (output tokens only).")


# -- 4. TTFT at the wire -------------------------------------------------------------------------------------

WIRE_TOKENS = 5
WIRE_BODY = json.dumps(
    {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": WIRE_TOKENS,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
).encode()


def raw_ttft_ms(url: str) -> float:
    """The reference client: a plain socket, nothing between the stamps but the send, the server and the recv.
    Connect first (not timed, as in the engine), stamp, send the whole request, stamp right after the recv that
    completed the first event with content."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(WIRE_BODY)}\r\nConnection: close\r\n\r\n"
    ).encode() + WIRE_BODY
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        t_sent = time.perf_counter_ns()
        sock.sendall(request)
        while True:
            data = sock.recv(65536)
            t_recv = time.perf_counter_ns()
            if not data:
                raise RuntimeError("the server closed before the first content chunk")
            buffer += data
            for line in buffer.split(b"\n"):
                if line.startswith(b"data: {") and _has_content(line[6:]):
                    return (t_recv - t_sent) / 1e6


def chat_like_raw_ttft_ms(url: str, idle_s: float) -> float:
    """The raw client in the situation of a fresh process's first request: the server idle for `idle_s` (while
    the process started), then the GETs with which the model is resolved (on a connection kept open), then it."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    time.sleep(idle_s)
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for path in ("/openai/loadedmodels", "/models/loaded", "/v1/models"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            _read_response(sock)
        return raw_ttft_ms(url)


def _read_response(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        body += sock.recv(65536)


def _has_content(data: bytes) -> bool:
    try:
        choices = json.loads(data).get("choices") or []
    except ValueError:
        return False  # cut by the recv: the rest comes with the next one
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


def cold_bench(url: str, rounds: int) -> None:
    """Child process: one bench with no warmup; prints every request's TTFT (the first is the process's cold one)."""
    _, results = bench(url, rounds=rounds, warmup=0)
    print(json.dumps([r.ttft_ms for r in results.requests]), flush=True)


def engine_chat_ttfts(url: str, n: int) -> list[float]:
    """`n` replies through the chat engine in this process (what the TUI's chat pane runs), first one cold."""
    session = Session(Settings(endpoint=url, data_dir=Path(tempfile.mkdtemp())))
    messages = [ChatMessage("user", "hello")]
    options = ChatOptions(max_tokens=WIRE_TOKENS)
    ttfts = [session.chat(MODEL, messages, options).record.ttft_ms or 0.0 for _ in range(n)]
    session.close()
    return ttfts


def cli_env() -> dict[str, str]:
    """Private data and config directories, no settings from the outside (as the CLI tests do)."""
    home = tempfile.mkdtemp()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDRY_TUI_", "FOUNDRY_LOCAL_ENDPOINT"))}
    env.update(XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
    return env


def chat_ttft_ms(url: str, env: dict[str, str]) -> tuple[float, bool]:
    """One `foundry-tui chat --json` in a fresh process: its TTFT and its cold flag."""
    command = [sys.executable, "-m", "foundry_tui", "chat", MODEL, "hello", "--endpoint", url, "--json"]
    result = subprocess.run(
        [*command, "--max-tokens", str(WIRE_TOKENS)], env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"foundry-tui chat failed: {result.stderr.strip()}")
    data = json.loads(result.stdout)
    return float(data["ttft_ms"]), bool(data.get("cold", False))


def p50(values: list[float]) -> float:
    return statistics.median(values)


def at_wire(server: ServerProcess, blocks: int = 5, per_block: int = 40, launches: int = 15) -> None:
    print(f"4. TTFT at the wire ({WIRE_TOKENS}-token replies, no scripted wait; raw socket = reference)")
    server.ask(cmd="script", tokens=WIRE_TOKENS, first_token_delay_s=0.0, gap_s=0.0)
    url = server.url
    raw: list[float] = []
    warm1: list[float] = []
    warm0: list[float] = []
    first0: list[float] = []
    chat_warm: list[float] = []
    for _ in range(blocks):  # interleaved, so a drift in the machine's load hits every client alike
        raw.extend(raw_ttft_ms(url) for _ in range(per_block))
        _, results = bench(url, rounds=per_block, warmup=1)
        warm1.extend(r.ttft_ms or 0.0 for r in results.requests)
        _, results = bench(url, rounds=per_block, warmup=0)
        ttfts = [r.ttft_ms or 0.0 for r in results.requests]
        first0.append(ttfts[0])
        warm0.extend(ttfts[1:])
        chat_warm.extend(engine_chat_ttfts(url, per_block)[1:])
    raw.extend(raw_ttft_ms(url) for _ in range(per_block))
    # A fresh process's one request finds the server idle since the previous process (while this one started)
    # and still finishing the GETs that resolved the model: the raw client is measured the same way, right after.
    cold_bench: list[tuple[float, float]] = []
    for _ in range(max(3, launches // 3)):
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--cold-bench", url, "5"], capture_output=True, text=True, timeout=120
        )
        idle = time.perf_counter() - started
        cold_bench.append((float(json.loads(child.stdout)[0]), chat_like_raw_ttft_ms(url, idle)))
    env = cli_env()
    chats: list[tuple[float, bool, float]] = []
    for _ in range(launches):
        started = time.perf_counter()
        ttft, cold = chat_ttft_ms(url, env)
        chats.append((ttft, cold, chat_like_raw_ttft_ms(url, time.perf_counter() - started)))
    reference = p50(raw)
    row("raw socket: p50 / p90", f"{reference:.3f} / {np.percentile(raw, 90):.3f} ms ({len(raw)} requests)")

    def versus(label: str, values: list[float], goal: bool = True) -> None:
        delta = p50(values) - reference
        verdict = f"  goal ≤ 0.5 ms ({'meets' if delta <= 0.5 else 'misses'})" if goal else ""
        row(label, f"{p50(values):.3f} ms, {delta:+.3f} ms vs raw{verdict}")

    def paired(label: str, pairs: list[tuple[float, float]]) -> None:
        ours, refs = [a for a, _ in pairs], [b for _, b in pairs]
        delta = p50([a - b for a, b in pairs])
        row(label, f"{p50(ours):.3f} ms; raw alike {p50(refs):.3f} ms; paired p50 {delta:+.3f} ms")

    versus(f"bench, warmup 1, warm p50 ({len(warm1)})", warm1)
    versus(f"bench, warmup 0, warm p50 ({len(warm0)})", warm0)
    versus(f"chat engine (as in the TUI), warm p50 ({len(chat_warm)})", chat_warm)
    versus(f"bench, warmup 0, first request, new backend ({len(first0)})", first0, goal=False)
    versus(f"bench, first request of a fresh process ({len(cold_bench)})", [a for a, _ in cold_bench], goal=False)
    cold_flags = sum(cold for _, cold, _ in chats)
    versus(f"chat --json, fresh processes ({launches}; {cold_flags} say cold)", [t for t, _, _ in chats])
    print("  the same first requests against a raw request made alike (server idle as long, then the GETs):")
    paired("  bench, first request of a fresh process", cold_bench)
    paired("  chat --json, fresh processes", [(t, ref) for t, _, ref in chats])
    print("  (every `chat` is its process's first request: cold by definition. A server left idle answers slower,")
    print("  so the first request of a process pays some server-side time that a back-to-back raw client does")
    print("  not; the paired rows take it out.)")


def main(only_wire: bool = False) -> None:
    server = ServerProcess()
    try:
        started = time.monotonic()
        if not only_wire:
            overhead(server)
            print()
            ingestion(server)
            print()
            versus_seed(server)
            print()
        at_wire(server)
        print(f"\n(total {time.monotonic() - started:.0f} s)")
    finally:
        server.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    elif sys.argv[1:2] == ["--cold-bench"]:
        cold_bench(sys.argv[2], int(sys.argv[3]))
    else:
        main(only_wire=sys.argv[1:] == ["--ttft"])

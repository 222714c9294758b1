"""The benchmark engine against a real local SSE server with known timing, and against a scripted backend.

Truth for timing comes from the server's own send stamps (`send_log`: perf_counter_ns right before each content
chunk is written, same process, same clock), so the tolerances can be tight without depending on how fast the
server's sleeps are on a loaded machine.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_tui.backends.base import (
    BackendInfo,
    ChatMessage,
    ChatOptions,
    DoneEvent,
    ErrorEvent,
    ModelEntry,
    StreamEvent,
    TokenEvent,
    Usage,
)
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.engine.bench import (
    BenchConfig,
    BenchEvent,
    BenchFinished,
    BenchResults,
    BenchRunner,
    BenchStarted,
    LevelStarted,
    ModelFinished,
    ModelLoaded,
    ModelStarted,
    RequestFinished,
    RequestResult,
    load_results,
)
from foundry_tui.engine.prompts import PromptSpec, parse_prompt_set
from foundry_tui.errors import BackendError, ModelNotFoundError

MODEL = "fake-model"


def endpoint(srv: FakeOpenAIServer, tmp_path: Path, **settings: Any) -> EndpointBackend:
    return EndpointBackend(Settings(endpoint=srv.base_url, data_dir=tmp_path, **settings))


def config(**overrides: Any) -> BenchConfig:
    values: dict[str, Any] = {
        "models": (MODEL,),
        "prompts": (PromptSpec("hello there"),),
        "rounds": 3,
        "warmup": 1,
        "sample_interval_s": 0.05,
    }
    values.update(overrides)
    return BenchConfig(**values)


def run(backend: Any, cfg: BenchConfig, events: list[BenchEvent] | None = None) -> tuple[BenchRunner, BenchResults]:
    runner = BenchRunner(backend, cfg, on_event=events.append if events is not None else None,
                         collect_environment=False)  # fmt: skip
    return runner, runner.run()


def num(value: float | None) -> float:
    """A figure that must have been measured."""
    assert value is not None
    return value


def measured_logs(srv: FakeOpenAIServer, n: int) -> list[list[int]]:
    """Send stamps of the last n chat completions (the measured ones, after the warmups)."""
    return srv.send_log[-n:]


def truth_decode(log: list[int], tokens: int) -> float:
    return float((tokens - 1) / ((log[-1] - log[0]) / 1e9))


def first_token_ns(runner: BenchRunner, request: RequestResult) -> float:
    assert request.t_start_s is not None and request.ttft_ms is not None
    return runner.t0_ns + request.t_start_s * 1e9 + request.ttft_ms * 1e6


# -- timing accuracy -----------------------------------------------------------------------------------------


@pytest.mark.slow  # seconds of paced streaming: timing accuracy, outside the fast lane
def test_steady_stream_ttft_decode_and_tokens(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(40), first_token_delay_s=0.1, gap_s=0.005)
    with FakeOpenAIServer(script) as srv:
        runner, results = run(endpoint(srv, tmp_path), config())
        logs = measured_logs(srv, 3)
    requests = results.requests
    assert len(requests) == 3 and len(srv.send_log) == 4  # 1 warmup + 3 measured
    for request, log in zip(requests, logs, strict=True):
        assert request.status == "ok" and request.finish_reason == "stop"
        assert request.completion_tokens == 40 and not request.tokens_estimated
        assert request.prompt_tokens == 2
        # The configured figures bound the truth (a loaded machine only makes the server later); the tight
        # truth is what the server's own stamps say it sent.
        assert 100 <= num(request.ttft_ms) <= 150  # configured 100 ms, plus the client's request overhead
        lag_ms = (first_token_ns(runner, request) - log[0]) / 1e6  # server wrote it → we stamped it
        assert 0 <= lag_ms < 10
        assert request.decode_tps == pytest.approx(truth_decode(log, 40), rel=0.03)
        assert 120 < num(request.decode_tps) <= 205  # configured 5 ms gaps: 200 tok/s at most
        assert len(request.itl_ms) == 39
    summary = results.summaries[0]
    assert summary.status == "ok" and summary.n_ok == 3
    assert summary.ttft_ms.n == 3 and summary.itl_ms.n == 117 and summary.completion_tokens.mean == 40
    assert summary.itl_ms.p50 == pytest.approx(5.0, abs=1.0)


def test_bursty_chunks_count_tokens_from_usage(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(60), first_token_delay_s=0.02, gap_s=0.01, tokens_per_chunk=4)
    with FakeOpenAIServer(script) as srv:
        _, results = run(endpoint(srv, tmp_path), config(rounds=2))
        logs = measured_logs(srv, 2)
    for request, log in zip(results.requests, logs, strict=True):
        assert request.completion_tokens == 60 and not request.tokens_estimated
        assert len(request.itl_ms) == 14  # 15 chunks: the gaps are chunk gaps
        assert len(log) == 15
        assert request.decode_tps == pytest.approx(truth_decode(log, 60), rel=0.03)


@pytest.mark.parametrize("tokens_per_chunk", [1, 3])
def test_usage_absent_counts_chunks_as_estimate(tmp_path: Path, tokens_per_chunk: int) -> None:
    script = StreamScript(tokens=make_tokens(12), gap_s=0.002, usage=False, tokens_per_chunk=tokens_per_chunk)
    with FakeOpenAIServer(script) as srv:
        _, results = run(endpoint(srv, tmp_path), config(rounds=1, warmup=0))
    request = results.requests[0]
    assert request.completion_tokens == 12 // tokens_per_chunk and request.tokens_estimated
    assert request.prompt_tokens is None
    assert results.summaries[0].tokens_estimated is True


def test_role_only_first_chunk_does_not_end_ttft(tmp_path: Path) -> None:
    script = StreamScript(first_token_delay_s=0.15, role_chunk=True, empty_chunks=True)
    with FakeOpenAIServer(script) as srv:
        _, results = run(endpoint(srv, tmp_path), config(rounds=1, warmup=0))
    request = results.requests[0]
    assert 150 <= num(request.ttft_ms) <= 200
    assert request.completion_tokens == 6


@pytest.mark.slow  # seconds of paced streaming: timing accuracy, outside the fast lane
def test_jittered_gaps(tmp_path: Path) -> None:
    rng = random.Random(7)
    gaps = [rng.uniform(0.001, 0.012) for _ in range(80)]
    script = StreamScript(tokens=make_tokens(80), gap_s=gaps)
    with FakeOpenAIServer(script) as srv:
        _, results = run(endpoint(srv, tmp_path), config(rounds=2))
        logs = measured_logs(srv, 2)
    for request, log in zip(results.requests, logs, strict=True):
        assert request.decode_tps == pytest.approx(truth_decode(log, 80), rel=0.03)
        server_gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(log)]
        client, server = sorted(request.itl_ms), sorted(server_gaps)
        assert client[len(client) // 2] == pytest.approx(server[len(server) // 2], abs=1.0)


# -- runs, levels, modes -------------------------------------------------------------------------------------


@pytest.mark.slow  # seconds of paced streaming: timing accuracy, outside the fast lane
def test_concurrency_levels_throughput(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(10), first_token_delay_s=0.05, gap_s=0.005)
    prompts = tuple(PromptSpec(f"prompt {i}") for i in range(4))
    with FakeOpenAIServer(script) as srv:
        _, results = run(endpoint(srv, tmp_path), config(prompts=prompts, rounds=2, warmup=0, concurrency=(1, 4)))
    by_level = {s.concurrency: s for s in results.summaries}
    # 8 requests at concurrency 1; at 4, three waves of 4 (the prompt set repeats) so every stream stays busy.
    assert (by_level[1].n_ok, by_level[4].n_ok, by_level[4].n_planned) == (8, 12, 12)
    assert num(by_level[4].request_throughput_rps) > 2.5 * num(by_level[1].request_throughput_rps)
    assert by_level[4].output_throughput_tps == pytest.approx(10 * num(by_level[4].request_throughput_rps))
    level4 = [r for r in results.requests if r.concurrency == 4]
    assert {r.slot for r in level4} == {0, 1, 2, 3} and {r.round for r in level4} == {1, 2, 3}
    mean_e2e_s = sum(num(r.e2e_ms) for r in level4) / len(level4) / 1000
    # Steady state: 4 streams each busy with requests of mean length e → 4 / e req/s (Little's law).
    assert num(by_level[4].steady_request_throughput_rps) == pytest.approx(4 / mean_e2e_s, rel=0.05)
    # One stream: busy the whole level (from its first piece), so steady ≈ whole level.
    assert num(by_level[1].steady_request_throughput_rps) == pytest.approx(
        num(by_level[1].request_throughput_rps), rel=0.02
    )
    spans = [
        (num(r.t_start_s), num(r.t_start_s) + num(r.e2e_ms) / 1000) for r in results.requests if r.concurrency == 4
    ]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 4  # four streams really were in flight at once, never more


def test_non_streamed_requests_are_reported_separately(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(20), first_token_delay_s=0.05, gap_s=0.002)
    prompts = parse_prompt_set([{"prompt": "a", "max_tokens": 15}, {"prompt": "b"}])
    with FakeOpenAIServer(script) as srv:
        _, results = run(endpoint(srv, tmp_path), config(prompts=tuple(prompts), rounds=1, warmup=0, non_streamed=True))
        bodies = [r["body"] for r in srv.requests if r["path"] == "/v1/chat/completions"]
    assert [b.get("stream", False) for b in bodies] == [True, True, False, False]
    assert [b["max_tokens"] for b in bodies] == [15, 512, 15, 512]  # max tokens always sent; prompt's own first
    modes = {s.mode: s for s in results.summaries}
    assert set(modes) == {"stream", "non-stream"}
    plain = [r for r in results.requests if r.mode == "non-stream"]
    assert [r.completion_tokens for r in plain] == [15, 20]
    assert [r.finish_reason for r in plain] == ["length", "stop"]
    assert all(r.ttft_ms is None and r.decode_tps is None and r.itl_ms == [] for r in plain)
    assert 50 + 19 * 2 <= num(plain[1].e2e_ms) <= 200  # the server answers after the first delay + all gaps
    assert modes["non-stream"].e2e_ms.n == 2 and modes["non-stream"].ttft_ms.n == 0


def test_max_tokens_override_and_temperature(tmp_path: Path) -> None:
    prompts = parse_prompt_set([{"prompt": "a", "max_tokens": 15}])
    with FakeOpenAIServer() as srv:
        cfg = config(
            prompts=tuple(prompts), rounds=1, warmup=0, max_tokens=3, max_tokens_override=True, temperature=0.7
        )
        run(endpoint(srv, tmp_path), cfg)
        body = srv.requests[-1]["body"]
    assert body["max_tokens"] == 3 and body["temperature"] == 0.7


def test_results_shape_events_and_memory_timeline(tmp_path: Path) -> None:
    events: list[BenchEvent] = []
    script = StreamScript(tokens=make_tokens(5), gap_s=0.05)  # ~0.2 s a request: several memory samples
    prompts = parse_prompt_set([{"prompt": "p", "expect": ["lorem", "nothing-like-this"]}])
    with FakeOpenAIServer(script) as srv:
        runner = BenchRunner(endpoint(srv, tmp_path), config(prompts=tuple(prompts), rounds=2, warmup=1),
                             on_event=events.append)  # fmt: skip
        results = runner.run()
    assert [type(e) for e in events if not isinstance(e, RequestFinished)] == [
        BenchStarted, ModelStarted, ModelLoaded, LevelStarted, ModelFinished, BenchFinished,
    ]  # fmt: skip
    finished = [e for e in events if isinstance(e, RequestFinished)]
    assert [e.warmup for e in finished] == [True, False, False] and finished[-1].done == finished[-1].planned == 2
    assert results.partial is False and results.schema == "foundry-tui.bench/1"
    assert set(results.to_json()) >= {"environment", "settings", "prompts", "models", "requests", "summaries"}
    assert results.environment["versions"]["foundry-tui"] and results.environment["machine"]["logical_cpus"]
    assert results.environment["energy"]["cpu"]["state"] in ("measured", "not measurable here")
    model = results.models[0]
    assert model.status == "ok" and model.load.load_s is None  # a plain endpoint cannot load models
    timeline = model.memory_timeline
    assert len(timeline) >= 4 and all(set(p.to_json()) >= {"t", "rss_mb", "ram_used_mb"} for p in timeline)
    assert [p.t for p in timeline] == sorted(p.t for p in timeline)
    assert model.memory.rss_peak_mb == max(p.rss_mb for p in timeline)
    request = results.requests[0]
    assert set(request.to_json()) >= {"model", "prompt_index", "round", "concurrency", "ttft_ms", "e2e_ms",
                                      "decode_tps", "prompt_tokens", "completion_tokens", "tokens_estimated",
                                      "finish_reason", "status", "error"}  # fmt: skip
    assert request.quality.rubric == 0.5 and request.quality.rubric_missed == ["nothing-like-this"]
    summary = results.summaries[0]
    for metric in ("ttft_ms", "itl_ms", "e2e_ms", "decode_tps", "completion_tokens"):
        assert set(summary.to_json()[metric]) == {"mean", "p50", "p95", "p99", "min", "max", "stdev", "n"}
    assert summary.quality.rubric_mean == 0.5


# -- failures and stopping -----------------------------------------------------------------------------------


def test_server_error_fails_the_model_and_stops_its_requests(tmp_path: Path) -> None:
    with FakeOpenAIServer(StreamScript(fault="http500")) as srv:
        _, results = run(endpoint(srv, tmp_path), config(warmup=0, rounds=3))
        sent = [r["path"] for r in srv.requests].count("/v1/chat/completions")
    assert sent == 1  # the model is skipped after its first failed request
    model = results.models[0]
    assert model.status == "error" and "HTTP 500" in (model.error or "")
    assert [r.status for r in results.requests] == ["error"]
    summary = results.summaries[0]
    assert summary.status == "error" and summary.n_failed == 1 and summary.e2e_ms.n == 0


def test_stall_and_request_timeout(tmp_path: Path) -> None:
    with FakeOpenAIServer(StreamScript(fault="stall", fault_after=2)) as srv:
        started = time.monotonic()
        _, stalled = run(endpoint(srv, tmp_path), config(warmup=0, stall_timeout_s=0.3))
        _, timed = run(endpoint(srv, tmp_path), config(warmup=0, request_timeout_s=0.3))
        assert time.monotonic() - started < 5
    assert stalled.requests[0].error_kind == "stalled" and stalled.models[0].status == "error"
    assert timed.requests[0].error_kind == "timeout" and "0.3 s" in (timed.requests[0].error or "")


def test_stop_keeps_what_was_measured(tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(10), gap_s=0.03)  # ~0.3 s a request
    seen = threading.Event()
    count = 0

    def on_event(event: BenchEvent) -> None:
        nonlocal count
        if isinstance(event, RequestFinished) and not event.warmup:
            count += 1
            if count == 2:
                seen.set()

    with FakeOpenAIServer(script) as srv:
        runner = BenchRunner(endpoint(srv, tmp_path), config(warmup=0, rounds=20), on_event=on_event,
                             collect_environment=False, out_dir=tmp_path / "out")  # fmt: skip
        runner.start()
        assert seen.wait(10)
        time.sleep(0.1)  # the third request is in flight now
        stopped = time.monotonic()
        runner.stop()
        assert runner.join(5) and time.monotonic() - stopped < 1.0
    results = runner.snapshot()
    assert results.partial is True
    assert load_results(tmp_path / "out") == results  # the final write: partial, what was measured
    statuses = [r.status for r in results.requests]
    assert statuses[:2] == ["ok", "ok"] and set(statuses[2:]) <= {"cancelled", "ok"} and len(statuses) < 20
    assert results.models[0].status == "cancelled"
    assert results.summaries[0].status == "cancelled"
    assert results.summaries[0].e2e_ms.n == statuses.count("ok")  # cancelled requests are not summarized


# -- a scripted backend: several models, loads, judges -------------------------------------------------------


class ScriptedStream:
    def __init__(self, model_id: str, text: list[str], fail: str | None = None) -> None:
        self.model_id = model_id
        self.t_sent_ns = 0
        self._text = text
        self._fail = fail

    def __iter__(self) -> Iterator[StreamEvent]:
        self.t_sent_ns = time.perf_counter_ns()
        if self._fail:
            yield ErrorEvent(time.perf_counter_ns(), self._fail, "runtime")
            return
        for piece in self._text:
            yield TokenEvent(piece, time.perf_counter_ns())
        yield DoneEvent(time.perf_counter_ns(), "stop", Usage(3, len(self._text), 3 + len(self._text)))

    def cancel(self) -> None:
        pass


class ScriptedBackend:
    """Models by id → the pieces they answer; `broken` fails to load, `flaky` fails to answer."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.loaded: set[str] = set()
        self.calls: list[str] = []
        self.variants: dict[str, tuple[str, ...]] = {}

    def info(self) -> BackendInfo:
        return BackendInfo(kind="foundry-local", label="scripted", management=True)

    def resolve(self, model: str) -> ModelEntry:
        for alias, ids in self.variants.items():
            if model == alias:
                model = ids[0]
        if model not in self.answers and model not in ("broken", "flaky"):
            raise ModelNotFoundError(f"no model {model!r}")
        alias = next((a for a, ids in self.variants.items() if model in ids), model)
        return ModelEntry(id=model, alias=alias, source="local", variants=self.variants.get(alias, (model,)),
                          loaded=model in self.loaded, cached=True, size_mb=42, license="MIT")  # fmt: skip

    def list_cached(self) -> list[ModelEntry]:
        return [self.resolve(m) for m in self.answers if not m.endswith("-uncached")]

    def load(self, model: str) -> ModelEntry:
        self.calls.append(f"load {model}")
        if model == "broken":
            raise BackendError("load broken: the model file is corrupt", kind="runtime")
        self.loaded.add(model)
        return self.resolve(model)

    def unload(self, model: str) -> None:
        self.calls.append(f"unload {model}")
        self.loaded.discard(model)

    def stream_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> ScriptedStream:
        if model == "flaky":
            return ScriptedStream(model, [], fail="the runtime ended the response with an error")
        return ScriptedStream(model, self.answers[model])


def test_failed_model_is_skipped_and_the_next_is_measured() -> None:
    backend = ScriptedBackend({"good": ["a", "b", "c"]})
    _, results = run(backend, config(models=("broken", "flaky", "nope", "good"), warmup=1, rounds=2))
    status = {m.model: (m.status, m.error) for m in results.models}
    assert status["broken"] == ("error", "load failed: load broken: the model file is corrupt")
    assert status["flaky"][0] == "error" and "warmup prompt 0" in (status["flaky"][1] or "")
    assert status["nope"] == ("error", "no model 'nope'")
    assert status["good"] == ("ok", None)
    good = [r for r in results.requests if r.model == "good"]
    assert len(good) == 2 and all(r.completion_tokens == 3 for r in good)
    assert backend.calls == ["load broken", "load flaky", "unload flaky", "load good", "unload good"]
    summaries = {s.model: s for s in results.summaries}
    assert summaries["broken"].status == "error" and summaries["good"].license == "MIT"
    assert summaries["good"].load_s is not None and summaries["good"].size_mb == 42


def test_variants_expand_to_cached_variants() -> None:
    backend = ScriptedBackend({"m-cpu:1": ["x"], "m-gpu:1": ["y"], "m-npu-uncached": ["z"]})
    backend.variants = {"m": ("m-cpu:1", "m-gpu:1", "m-npu-uncached")}
    _, results = run(backend, config(models=("m",), variants=True, rounds=1, warmup=0))
    assert [m.model for m in results.models] == ["m-cpu:1", "m-gpu:1"]
    _, plain = run(backend, config(models=("m",), rounds=1, warmup=0))
    assert [m.model for m in plain.models] == ["m-cpu:1"]


def test_already_loaded_model_is_left_loaded() -> None:
    backend = ScriptedBackend({"good": ["a"]})
    backend.loaded.add("good")
    _, results = run(backend, config(models=("good",), rounds=1, warmup=0))
    assert backend.calls == [] and "good" in backend.loaded
    assert results.models[0].load.load_s is None and "already loaded" in results.models[0].notes[0]


@pytest.mark.parametrize(("reply", "score", "note"), [(["Score:", " 4"], 4, None), (["meh"], None, "unparseable")])
def test_judge_scores_each_distinct_answer(reply: list[str], score: int | None, note: str | None) -> None:
    backend = ScriptedBackend({"good": ["Canberra"], "judge": reply})
    prompts = tuple(parse_prompt_set(["q1", "q2"]))
    _, results = run(backend, config(models=("good",), prompts=prompts, rounds=2, warmup=0, judge="judge"))
    assert [r.quality.judge for r in results.requests] == [score] * 4
    notes = [r.quality.judge_note for r in results.requests]
    assert all((n is None) if note is None else (note in (n or "")) for n in notes)
    judge = results.judge
    assert judge is not None
    assert judge.status == "ok" and (judge.scored if score else judge.unparsed) == 2  # two prompts, one answer each
    assert backend.calls[-2:] == ["load judge", "unload judge"]
    quality = results.summaries[0].quality
    assert quality.judge_mean == score and quality.judge_n == (4 if score else 0)


def test_unknown_judge_is_a_note_not_a_failure() -> None:
    backend = ScriptedBackend({"good": ["a"]})
    _, results = run(backend, config(models=("good",), rounds=1, warmup=0, judge="ghost"))
    assert results.models[0].status == "ok"
    judge = results.judge
    assert judge is not None and judge.status == "error" and "ghost" in (judge.error or "")

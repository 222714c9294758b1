"""The prompts the sweep and the context search send: every request has its own filler, so a server's prefix cache
(vLLM's automatic prefix caching, llama.cpp's slot cache) cannot answer part of a prefill from an earlier request
— not even a longer probe from the shorter one before it. Checked on what a real server on 127.0.0.1 received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend, entry
from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript
from foundry_tui.engine.bench import BenchEvent, build_config
from foundry_tui.engine.bench.events import PhaseStarted
from foundry_tui.engine.bench.phases import COUNT_FAILED
from foundry_tui.engine.session import Session
from tests.tui.fixed_sampler import FixedSampler

CONTEXT = 1024


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    script = StreamScript(context=CONTEXT, prompt_count="tokens")
    with FakeOpenAIServer(script, models=["m"], tokenize_route=True) as srv:
        yield srv


def test_no_request_of_the_sweep_or_the_context_search_starts_like_another(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    backend = MemoryBackend(catalog=[entry("alpha-generic-cpu:1")])
    session = Session(Settings(data_dir=tmp_path), backend=backend, sampler=FixedSampler())
    try:
        config = build_config(
            models=[f"{server.base_url}#m"], rounds=2, warmup=0, max_tokens=8,
            prompt_tokens="64,128", find_context=True,
        )  # fmt: skip
        results = session.bench(config).run()
    finally:
        session.close()
    phases = [r.phase for r in results.requests]
    assert phases.count("sweep") == 4 and phases.count("context") >= 4
    sent = [r["body"]["messages"][-1]["content"] for r in server.requests if r["path"] == "/v1/chat/completions"]
    generated = sent[-(len(phases) - phases.count("levels")) :]  # the phases run after the prompt set's levels
    starts = [" ".join(text.split()[:2]) for text in generated]
    assert len(set(starts)) == len(starts), starts


def test_a_tokenize_route_that_fails_mid_run_falls_back_to_estimated_lengths(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """The route answered when the run began and fails once the sweep starts: the sweep goes on with estimated
    lengths (marked so), one note says why, and the run is not lost."""

    def on_event(event: BenchEvent) -> None:
        if isinstance(event, PhaseStarted):
            server.tokenize_paths = ()  # every tokenize call 404s from here on

    session = Session(Settings(data_dir=tmp_path), backend=MemoryBackend(catalog=[entry("a-generic-cpu:1")]),
                      sampler=FixedSampler())  # fmt: skip
    try:
        config = build_config(models=[f"{server.base_url}#m"], rounds=1, warmup=0, max_tokens=8, prompt_tokens="64")
        results = session.bench(config, on_event=on_event).run()
    finally:
        session.close()
    (model,) = results.models
    sweep = [r for r in results.requests if r.phase == "sweep"]
    assert model.status == "ok" and [r.status for r in sweep] == ["ok"]
    assert sweep[0].prompt_tokens_exact is False
    (note,) = [n for n in model.notes if n.startswith(COUNT_FAILED)]
    assert "at 64 tokens" in note and "404" in note and "\n" not in note

"""Several backends in one benchmark run: the session's routing backend, its token counters, a models file naming
an endpoint, and the memory of an endpoint's own server process (engine.monitor.server_watch).

Fast tests use the in-memory backend as the main one and real fake servers on 127.0.0.1; the real in-process runtime
with the tiny model runs beside a fake endpoint in the `runtime` test; the server whose RSS is read runs as a
subprocess (`slow`), so its memory is another process's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.backends.routing import RoutingBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.fake_tokenizer import write_fake_tokenizer
from foundry_tui.devtools.memory_backend import ANSWER, MemoryBackend, entry
from foundry_tui.devtools.sse_server import DEFAULT_TOKENS, FakeOpenAIServer, StreamScript, fake_tokenize
from foundry_tui.devtools.tiny_model import TINY_ANSWER, TINY_COMPLETION_TOKENS
from foundry_tui.engine.bench import BenchEvent, BenchFinished, BenchResults, build_config
from foundry_tui.engine.monitor import ServerTarget, server_watch
from foundry_tui.engine.monitor.server_watch import server_rss_reader
from foundry_tui.engine.prompts import ModelTags, parse_models_file, tags_for
from foundry_tui.engine.session import Session
from foundry_tui.engine.units import MB
from foundry_tui.errors import BackendError, BadInputError, ModelNotFoundError
from tests.conftest import TINY_ID
from tests.tui.fixed_sampler import FixedSampler

MAIN_MODEL = "alpha-generic-cpu:1"
TEXT = "".join(DEFAULT_TOKENS)
SAMPLE = "Hello world, tokens counted here."


@pytest.fixture
def main() -> MemoryBackend:
    return MemoryBackend(catalog=[entry(MAIN_MODEL)], cached={MAIN_MODEL})


@pytest.fixture
def session(main: MemoryBackend, tmp_path: Path) -> Iterator[Session]:
    session = Session(Settings(data_dir=tmp_path), backend=main, sampler=FixedSampler())
    yield session
    session.close()


@pytest.fixture
def phi() -> Iterator[FakeOpenAIServer]:
    """Three tokens per event, no usage, a tokenize route: answers are counted by the server's tokenizer."""
    script = StreamScript(tokens_per_chunk=3, usage=False)
    with FakeOpenAIServer(script, models=["phi-4-mini"], tokenize_route=True) as server:
        yield server


@pytest.fixture
def llama() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["llama3.2"]) as server:
        yield server


def chats(server: FakeOpenAIServer) -> list[str]:
    return [r["body"]["model"] for r in server.requests if r["path"] == "/v1/chat/completions"]


def run(session: Session, models: list[str], **kw: object) -> tuple[BenchResults, list[BenchEvent], RoutingBackend]:
    config = build_config(models=models, rounds=1, warmup=0, max_tokens=64, **kw)  # type: ignore[arg-type]
    events: list[BenchEvent] = []
    runner = session.bench(config, on_event=events.append)
    assert isinstance(runner.backend, RoutingBackend)
    return runner.run(), events, runner.backend


# -- the session's routing backend ---------------------------------------------------------------------------


def test_each_model_runs_on_its_own_backend_in_one_run(
    session: Session, main: MemoryBackend, phi: FakeOpenAIServer, llama: FakeOpenAIServer
) -> None:
    phi_id, llama_id = f"{phi.base_url}#phi-4-mini", f"{llama.base_url}#llama3.2"
    results, events, routing = run(session, [MAIN_MODEL, phi_id, llama_id])
    prompts = len(results.prompts)
    assert [(m.model, m.status) for m in results.models] == [(MAIN_MODEL, "ok"), (phi_id, "ok"), (llama_id, "ok")]
    by_model = {m: [r for r in results.requests if r.model == m] for m in (MAIN_MODEL, phi_id, llama_id)}
    assert {m: len(rs) for m, rs in by_model.items()} == dict.fromkeys(by_model, prompts)
    assert {r.text for r in by_model[MAIN_MODEL]} == {ANSWER}
    assert {r.text for r in by_model[phi_id] + by_model[llama_id]} == {TEXT}
    # Each server got its own model's requests, under the id it serves, and nothing else.
    assert chats(phi) == ["phi-4-mini"] * prompts
    assert chats(llama) == ["llama3.2"] * prompts
    assert main.calls.count(f"chat {MAIN_MODEL}") == prompts
    # phi sends 3 tokens per event and no usage: its server's tokenize route counted the answers exactly.
    assert {(r.completion_tokens, r.tokens_source) for r in by_model[phi_id]} == {(len(DEFAULT_TOKENS), "server")}
    # The run's end closed the endpoints it opened and gave the lifecycle its backend back.
    assert isinstance(events[-1], BenchFinished)
    assert routing.backends() == {None: main}
    assert session.lifecycle.backend is main


def test_non_streamed_requests_of_a_mixed_run_use_each_backends_own_way(
    session: Session, main: MemoryBackend, llama: FakeOpenAIServer
) -> None:
    llama_id = f"{llama.base_url}#llama3.2"
    results, _, _ = run(session, [MAIN_MODEL, llama_id], non_streamed=True)
    assert [(m.model, m.status) for m in results.models] == [(MAIN_MODEL, "ok"), (llama_id, "ok")]
    bodies = [r["body"] for r in llama.requests if r["path"] == "/v1/chat/completions"]
    assert sorted(b.get("stream", False) for b in bodies) == [False] * len(results.prompts) + [True] * len(
        results.prompts
    )  # the endpoint got real non-streamed requests; the in-memory backend (streams only) was drained instead


def test_a_run_of_the_main_backend_alone_is_not_routed(session: Session, main: MemoryBackend) -> None:
    runner = session.bench(build_config(models=[MAIN_MODEL], rounds=1, warmup=0))
    assert runner.backend is main
    assert runner.run().models[0].status == "ok"


def test_unknown_or_unreachable_models_stop_the_run_before_anything_runs(
    session: Session, main: MemoryBackend, phi: FakeOpenAIServer
) -> None:
    config = build_config(models=[MAIN_MODEL, f"{phi.base_url}#nope"], rounds=1, warmup=0)
    with pytest.raises(ModelNotFoundError, match=r"no model 'nope' at .*it serves: phi-4-mini") as caught:
        session.bench(config)
    assert isinstance(caught.value, BadInputError)  # exit 2
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(BackendError, match=f"cannot reach {dead.removesuffix('/v1')}"):
        session.bench(build_config(models=[f"{dead}#phi"], rounds=1, warmup=0))
    assert chats(phi) == [] and main.calls == []  # nothing was sent, nothing loaded
    assert session.lifecycle.backend is main


def test_closing_the_session_closes_a_run_that_never_started(
    session: Session, main: MemoryBackend, phi: FakeOpenAIServer
) -> None:
    runner = session.bench(build_config(models=[f"{phi.base_url}#phi-4-mini"], rounds=1, warmup=0))
    routing = runner.backend
    assert isinstance(routing, RoutingBackend)
    assert session.lifecycle.backend is routing  # loads go through it while the run lasts
    assert set(routing.backends()) == {None, phi.base_url}
    session.close()
    assert routing.backends() == {None: main}
    restored: object = session.lifecycle.backend
    assert restored is main


# -- counting tokens the model's way -------------------------------------------------------------------------


def test_prompt_counters_come_from_the_models_own_tokenizer(
    session: Session, main: MemoryBackend, phi: FakeOpenAIServer, llama: FakeOpenAIServer, tmp_path: Path
) -> None:
    tokenizer = write_fake_tokenizer(tmp_path / "tok")
    expected = len(fake_tokenize(SAMPLE))
    # An endpoint's model: its server's tokenize route, asked with the id the server knows.
    counter = session.prompt_counter_for(f"{phi.base_url}#phi-4-mini")
    assert counter is not None and counter.source == "server"
    assert counter.count(SAMPLE) == expected
    counter.close()
    assert session.prompt_counter_for(f"{llama.base_url}#llama3.2") is None  # no route: lengths are approximate
    # --tokenizer stands in for a server without one.
    given = session.prompt_counter_for(f"{llama.base_url}#llama3.2", tokenizer=str(tokenizer))
    assert given is not None and given.source == "tokenizer" and given.count(SAMPLE) == expected
    # In-process: the tokenizer.json in the model's directory, found from its entry.
    assert session.prompt_counter_for(MAIN_MODEL) is None  # no directory known
    main.catalog.append(entry("beta-generic-cpu:1", path=str(tokenizer.parent)))
    own = session.prompt_counter_for("beta-generic-cpu:1")
    assert own is not None and own.source == "tokenizer" and own.count(SAMPLE) == expected
    assert session.prompt_counter_for("nowhere-generic-cpu:9") is None  # not found: nothing to count with


def test_an_endpoint_session_counts_with_its_server(phi: FakeOpenAIServer, tmp_path: Path) -> None:
    session = Session(Settings(endpoint=phi.base_url, data_dir=tmp_path), sampler=FixedSampler())
    try:
        counter = session.prompt_counter_for("phi-4-mini")
        assert counter is not None and counter.count(SAMPLE) == len(fake_tokenize(SAMPLE))
        counter.close()
        runner = session.bench(build_config(models=["phi-4-mini"], rounds=1, warmup=0))
        assert not isinstance(runner.backend, RoutingBackend)
        results = runner.run()
    finally:
        session.close()
    assert {(r.completion_tokens, r.tokens_source) for r in results.requests} == {(len(DEFAULT_TOKENS), "server")}


@pytest.mark.runtime
def test_the_in_process_runtime_and_an_endpoint_in_one_run(
    runtime: FoundryBackend, llama: FakeOpenAIServer, tmp_path: Path
) -> None:
    session = Session(Settings(data_dir=tmp_path), backend=runtime, sampler=FixedSampler())
    try:
        counter = session.prompt_counter_for(TINY_ID)  # the tiny model's own tokenizer.json
        assert counter is not None and counter.source == "tokenizer"
        assert counter.count(TINY_ANSWER) == TINY_COMPLETION_TOKENS
        llama_id = f"{llama.base_url}#llama3.2"
        results, _, routing = run(session, [TINY_ID, llama_id])
        assert [(m.model, m.status) for m in results.models] == [(TINY_ID, "ok"), (llama_id, "ok")]
        texts = {r.model: r.text for r in results.requests}
        assert texts == {TINY_ID: TINY_ANSWER, llama_id: TEXT}
        assert chats(llama) == ["llama3.2"] * len(results.prompts)
        assert routing.backends() == {None: runtime}
        assert TINY_ID not in {e.id for e in runtime.list_loaded()}  # the run unloaded what it loaded
    finally:
        session.close()  # the runtime is the test session's: not closed here
    assert runtime.resolve(TINY_ID).id == TINY_ID


# -- the models file -----------------------------------------------------------------------------------------


def test_a_models_file_entry_may_name_its_endpoint() -> None:
    tags = parse_models_file(
        {
            "phi-4-mini": {"endpoint": " http://127.0.0.1:5273/v1/ ", "license": "MIT"},
            "qwen2.5-0.5b": {"capabilities": ["chat"]},
        },
        "models file m.json",
    )
    assert tags["phi-4-mini"].endpoint == "http://127.0.0.1:5273/v1"
    assert tags["phi-4-mini"].to_dict()["endpoint"] == "http://127.0.0.1:5273/v1"
    assert tags["qwen2.5-0.5b"].endpoint is None
    assert "endpoint" not in tags["qwen2.5-0.5b"].to_dict()  # only when set: older files read back the same


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("ftp://h/v1", "must start with http:// or https://"),
        ("http://h:70000/v1", "bad port"),
        ("https://", "no host"),
        (42, "'endpoint' must be a URL"),
        ("", "'endpoint' must be a URL"),
    ],
)
def test_a_bad_endpoint_is_one_line_naming_the_file_and_entry(value: object, why: str) -> None:
    with pytest.raises(BadInputError) as caught:
        parse_models_file({"phi-4-mini": {"endpoint": value}}, "models file m.json")
    message = str(caught.value)
    assert message.startswith("models file m.json: 'phi-4-mini': ") and why in message and "\n" not in message


def test_tags_find_an_endpoints_model_by_its_bare_name_unless_they_name_another_endpoint() -> None:
    a, b = "http://127.0.0.1:5273/v1", "http://127.0.0.1:11434/v1"
    tags = {
        "phi-4-mini": ModelTags(license="MIT", endpoint=a),
        "llama3.2": ModelTags(license="Llama"),
        f"{b}#qwen": ModelTags(license="Apache-2.0"),
    }
    assert tags_for(tags, f"{a}#phi-4-mini", f"{a}#phi-4-mini") == tags["phi-4-mini"]
    assert tags_for(tags, f"{a}#Phi-4-mini-instruct:1", f"{a}#phi-4-mini") == tags["phi-4-mini"]  # by alias
    assert tags_for(tags, f"{b}#phi-4-mini", f"{b}#phi-4-mini") is None  # tagged for another endpoint
    assert tags_for(tags, f"{b}#llama3.2", f"{b}#llama3.2") == tags["llama3.2"]  # untied tags fit any endpoint
    assert tags_for(tags, f"{b}#qwen", f"{b}#qwen") == tags[f"{b}#qwen"]  # keyed by the full id
    assert tags_for(tags, "phi-4-mini", "phi-4-mini") == tags["phi-4-mini"]  # plain ids: as before
    assert tags_for({"http": ModelTags()}, f"{a}#x:1", None) is None  # a URL's scheme is not a model name


# -- an endpoint's server memory -------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """The fake server as its own process; (the process, its base URL as it printed it)."""
    args = [sys.executable, "-m", "foundry_tui.devtools.sse_server", "--port", str(port)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()  # printed once it listens
    assert url.startswith("http://127.0.0.1:"), url
    return process, url


def _count_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The endpoints looked up (socket scans) from now on."""
    scans: list[str] = []
    real_find = server_watch.server_target_for

    def find(url: str) -> ServerTarget:
        scans.append(url)
        return real_find(url)

    monkeypatch.setattr(server_watch, "server_target_for", find)
    return scans


def _stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.mark.slow
def test_a_local_servers_rss_is_its_own_process(monkeypatch: pytest.MonkeyPatch) -> None:
    process, url = _serve()
    try:
        reader = server_rss_reader(url)
        assert reader.target.pid == process.pid != os.getpid()
        rss = reader()
        truth = psutil.Process(process.pid).memory_info().rss / MB
        assert rss is not None and abs(rss - truth) < 1.0  # the child's, read a moment apart while it idles
        assert f"pid {process.pid}" in reader.target.label
    finally:
        _stop(process)
    assert reader() is None  # it exited: looked for at once, found nowhere
    assert "nothing listens" in reader.target.label
    port = int(urlsplit(url).port or 0)
    scans = _count_scans(monkeypatch)
    restarted, _ = _serve(port)  # a new server process on the same port
    try:
        assert reader() is None and scans == []  # not looked for again before the retry interval
        reader._checked = float("-inf")  # the interval passed
        rss = reader()
        assert reader.target.pid == restarted.pid and rss is not None and scans == [url]
    finally:
        _stop(restarted)


@pytest.mark.slow
def test_in_a_mixed_run_an_endpoint_models_memory_is_its_own_servers(main: MemoryBackend, tmp_path: Path) -> None:
    """The sampler watches this process (the main backend's); the endpoint's model is charged its own server's
    RSS, read from that process while the model runs, and says which process it was."""
    session = Session(Settings(data_dir=tmp_path), backend=main, sampler=FixedSampler(record=True))
    process, url = _serve()
    model_id = f"{url}#fake-model"
    try:
        results, _, _ = run(session, [MAIN_MODEL, model_id])
        truth = psutil.Process(process.pid).memory_info().rss / MB
    finally:
        _stop(process)
        session.close()
    main_model, endpoint_model = results.models
    assert (main_model.endpoint, endpoint_model.endpoint) == (None, url)
    memory = endpoint_model.memory
    assert memory.model_memory_mb is not None and abs(memory.model_memory_mb - truth) < 5.0
    note = memory.model_memory_note or ""
    assert note.startswith("RSS peak of the server process (") and f"pid {process.pid}" in note
    assert endpoint_model.memory_timeline and all(p.server_rss_mb is not None for p in endpoint_model.memory_timeline)
    # The main model lives in-process: no server to read.
    assert main_model.memory_timeline and all(p.server_rss_mb is None for p in main_model.memory_timeline)


def test_a_remote_endpoint_is_never_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(url: str) -> object:
        raise AssertionError("a remote endpoint must not be looked up")

    monkeypatch.setattr(server_watch, "server_target_for", no_scan)
    reader = server_rss_reader("http://203.0.113.7:5273/v1")  # TEST-NET-3: never this machine
    assert reader() is None
    assert (reader.target.kind, reader.target.pid, reader.target.label) == ("remote", None, server_watch.REMOTE)


def test_a_local_endpoint_with_nothing_listening_is_retried_at_most_every_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    scans = _count_scans(monkeypatch)
    url = f"http://127.0.0.1:{_free_port()}/v1"
    reader = server_watch.ServerRssReader(url, retry_s=5.0, clock=lambda: now[0])
    assert reader() is None and len(scans) == 1  # the look at construction, not again at once
    now[0] += 4.9
    assert reader() is None and len(scans) == 1
    now[0] += 0.2
    assert reader() is None and len(scans) == 2
    assert reader.target.kind == "local" and "nothing listens" in reader.target.label


def test_an_in_thread_server_is_this_process() -> None:
    with FakeOpenAIServer() as server:
        reader = server_rss_reader(server.base_url)
        rss = reader()
    assert reader.target.pid == os.getpid()
    assert rss is not None and rss > 0

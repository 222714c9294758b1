"""The in-process Foundry Local backend on the real runtime with the tiny deterministic model."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from foundry_tui.backends.base import ChatMessage, ChatOptions, DoneEvent, TokenEvent
from foundry_tui.backends.foundry import FoundryBackend, catalog_failure_from_logs
from foundry_tui.devtools.tiny_model import TINY_ANSWER, TINY_ANSWER_TOKENS, TINY_COMPLETION_TOKENS
from foundry_tui.engine.timing import measure_stream
from foundry_tui.errors import BadInputError, ModelNotFoundError
from tests.conftest import ENDLESS_ID, TINY_ID

pytestmark = pytest.mark.runtime

HI = [ChatMessage("user", "hi")]


def test_registered_models_are_listed_as_local(runtime: FoundryBackend, tiny_model_dir: Path) -> None:
    local = {e.id: e for e in runtime.list_local()}
    assert TINY_ID in local
    entry = local[TINY_ID]
    assert entry.alias == "tiny"
    assert entry.source == "local"
    assert entry.task == "chat-completion"
    assert entry.context_length == 512
    assert entry.cached
    assert Path(entry.path or "") == tiny_model_dir.resolve()
    assert TINY_ID in {e.id for e in runtime.list_cached()}


def test_resolve_by_alias_and_by_id(runtime: FoundryBackend) -> None:
    assert runtime.resolve("tiny").id == TINY_ID
    assert runtime.resolve(TINY_ID).id == TINY_ID


def test_unknown_model_names_close_matches(runtime: FoundryBackend) -> None:
    with pytest.raises(ModelNotFoundError, match="did you mean tiny"):
        runtime.resolve("tiy")


def test_load_stream_unload(runtime: FoundryBackend) -> None:
    runtime.load("tiny")
    assert TINY_ID in {e.id for e in runtime.list_loaded()}
    events = list(runtime.stream_chat("tiny", HI, ChatOptions(max_tokens=64)))
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert [t.text for t in tokens] == list(TINY_ANSWER_TOKENS)
    assert all(t.tokens == 1 for t in tokens)
    assert all(a.t_ns <= b.t_ns for a, b in itertools.pairwise(tokens))
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert done.finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.completion_tokens == TINY_COMPLETION_TOKENS
    assert done.usage.prompt_tokens == 21  # ChatML around "hi", no default system prompt
    runtime.unload("tiny")
    assert TINY_ID not in {e.id for e in runtime.list_loaded()}


def test_record_metrics_from_the_real_runtime(runtime: FoundryBackend) -> None:
    runtime.load("tiny")
    record = measure_stream(runtime.stream_chat(TINY_ID, HI, ChatOptions(max_tokens=64)))
    assert record.status == "ok"
    assert record.text == TINY_ANSWER
    assert record.completion_tokens == TINY_COMPLETION_TOKENS
    assert not record.tokens_estimated
    assert record.ttft_ms is not None and 0 < record.ttft_ms < 5000
    assert record.e2e_ms is not None and record.e2e_ms >= record.ttft_ms
    assert record.decode_tps is not None and record.decode_tps > 0
    assert len(record.itl_ms) == TINY_COMPLETION_TOKENS - 1


def test_max_tokens_truncates_with_length(runtime: FoundryBackend) -> None:
    runtime.load("tiny")
    record = measure_stream(runtime.stream_chat("tiny", HI, ChatOptions(max_tokens=3)))
    assert record.text == "".join(TINY_ANSWER_TOKENS[:3])
    assert record.finish_reason == "length"
    assert record.completion_tokens == 3


def test_max_tokens_larger_than_the_context_is_clamped(runtime: FoundryBackend) -> None:
    runtime.load("tiny")
    record = measure_stream(runtime.stream_chat("tiny", HI, ChatOptions(max_tokens=100_000)))
    assert record.status == "ok"
    assert record.text == TINY_ANSWER


def test_prompt_longer_than_the_context_is_a_clear_error(runtime: FoundryBackend) -> None:
    runtime.load("tiny")
    record = measure_stream(runtime.stream_chat("tiny", [ChatMessage("user", "word " * 700)], ChatOptions(64)))
    assert record.status == "error"
    assert record.error is not None and "context of 512 tokens" in record.error


def test_multi_turn_with_system_prompt(runtime: FoundryBackend) -> None:
    runtime.load("tiny")
    messages = [
        ChatMessage("system", "You are terse."),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", TINY_ANSWER),
        ChatMessage("user", "and again?"),
    ]
    record = measure_stream(runtime.stream_chat("tiny", messages, ChatOptions(max_tokens=64)))
    assert record.text == TINY_ANSWER
    # The whole history went in: far more prompt tokens than the single "hi".
    assert record.prompt_tokens is not None and record.prompt_tokens > 50


def test_cancel_mid_stream(runtime: FoundryBackend) -> None:
    runtime.load(ENDLESS_ID)
    stream = runtime.stream_chat(ENDLESS_ID, HI, ChatOptions(max_tokens=30_000))  # ~2 s even at 16k tok/s
    seen = 0
    last = None
    for event in stream:
        last = event
        if isinstance(event, TokenEvent):
            seen += 1
            if seen == 5:
                threading.Thread(target=stream.cancel).start()
    assert isinstance(last, DoneEvent)
    assert last.finish_reason == "cancelled"
    assert 5 <= seen < 30_000
    # The session was released: the model can be unloaded right away.
    runtime.unload(ENDLESS_ID)


def test_endless_model_runs_to_max_tokens(runtime: FoundryBackend) -> None:
    runtime.load(ENDLESS_ID)
    record = measure_stream(runtime.stream_chat(ENDLESS_ID, HI, ChatOptions(max_tokens=40)))
    assert record.finish_reason == "length"
    assert record.completion_tokens == 40
    assert record.text.startswith(TINY_ANSWER + "Hello")


def test_register_same_id_again_is_a_clear_error(runtime: FoundryBackend, tiny_model_dir: Path) -> None:
    with pytest.raises(BadInputError, match="already registered"):
        runtime.register_model(str(tiny_model_dir), TINY_ID)


@pytest.mark.parametrize(
    ("make_dir", "model_id", "message"),
    [
        ("missing", "x-generic-cpu:1", "does not exist"),
        ("", "x-generic-cpu:1", "no genai_config.json"),
        ("", "no version", "must look like NAME:VERSION"),
        ("", "x:1", "task 'chat' is not one of"),
    ],
)
def test_bad_register_input(
    runtime: FoundryBackend, tmp_path: Path, make_dir: str, model_id: str, message: str
) -> None:
    task = "chat" if model_id == "x:1" else "chat-completion"
    with pytest.raises(BadInputError, match=message):
        runtime.register_model(str(tmp_path / make_dir), model_id, task=task)


def test_dir_without_tokenizer_is_refused(runtime: FoundryBackend, tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("genai_config.json", "model.onnx"):
        (broken / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(BadInputError, match=r"no tokenizer\.json"):
        runtime.register_model(str(broken), "broken-generic-cpu:1")


def test_register_unregister_round_trip(runtime: FoundryBackend, tiny_model_dir: Path) -> None:
    entry = runtime.register_model(str(tiny_model_dir), "tiny-copy-generic-cpu:2", display_name="Tiny copy")
    assert entry.display_name == "Tiny copy"
    runtime.load(entry.id)
    runtime.unregister_model(entry.id)  # unloads first: the runtime refuses to unregister a loaded model
    assert entry.id not in {e.id for e in runtime.list_local()}
    assert tiny_model_dir.joinpath("model.onnx").exists()  # files stay
    with pytest.raises(ModelNotFoundError):
        runtime.unregister_model(entry.id)


def test_removing_a_local_model_from_the_cache_is_refused(runtime: FoundryBackend) -> None:
    with pytest.raises(BadInputError, match="unregister it instead"):
        runtime.remove_from_cache("tiny")


def test_offline_public_catalog_is_unreachable_not_empty(runtime: FoundryBackend) -> None:
    started = time.monotonic()
    listing = runtime.list_catalog()
    assert time.monotonic() - started < 10
    assert listing.state == "unreachable"
    assert listing.reason
    assert TINY_ID in {e.id for e in listing.models}  # local models still list


def test_catalog_failure_reason_from_the_runtime_log(tmp_path: Path) -> None:
    line = (
        "[2026-11-25 11:57:33.180] [error] failed to fetch catalog from https://example.invalid/models: "
        "http_client.cc:304 std::string fl::http::Retry(const std::function<void()>&) operation failed after 4 "
        "attempts: transport failure: transport error: Could not resolve hostname\n"
    )
    (tmp_path / "foundry_local_2026-11-25.log").write_text(line)
    since = time.mktime(time.strptime("2026-11-25 11:57:30", "%Y-%m-%d %H:%M:%S"))
    reason = catalog_failure_from_logs(tmp_path, since)
    assert reason == "cannot reach https://example.invalid/models: Could not resolve hostname"
    assert catalog_failure_from_logs(tmp_path, since + 3600) is None  # an old failure is not this fetch's


def test_chat_with_a_non_chat_model_is_refused(runtime: FoundryBackend, tiny_model_dir: Path) -> None:
    runtime.register_model(str(tiny_model_dir), "tiny-embed-generic-cpu:1", task="embeddings")
    try:
        with pytest.raises(BadInputError, match="not a chat model"):
            runtime.stream_chat("tiny-embed-generic-cpu:1", HI, ChatOptions(max_tokens=8))
    finally:
        runtime.unregister_model("tiny-embed-generic-cpu:1")


class _Recording:
    """The SDK's public catalog object, recording which methods were called."""

    def __init__(self, real: object) -> None:
        self._real = real
        self.called: list[str] = []

    def __getattr__(self, name: str) -> object:
        method = getattr(self._real, name)

        def call(*args: object, **kwargs: object) -> object:
            self.called.append(name)
            return method(*args, **kwargs)

        return call


def test_local_lists_do_not_wait_for_the_public_catalog(runtime: FoundryBackend) -> None:
    """The SDK fetches the public catalog inside get_cached_models / get_loaded_models (~4 s offline): while the
    fetch is pending those calls are skipped, so a first frame lists the local models at once."""
    import concurrent.futures

    from foundry_tui.backends.base import CatalogListing

    saved = runtime._catalog_future, runtime._public, runtime._catalog_host_down, runtime._runtime_tried_catalog
    pending: concurrent.futures.Future[CatalogListing] = concurrent.futures.Future()
    recording = _Recording(saved[1])
    runtime._catalog_future, runtime._public = pending, recording
    try:
        assert TINY_ID in {e.id for e in runtime.list_cached()}
        assert all(e.source == "local" for e in runtime.list_loaded())
        assert recording.called == []
        pending.set_result(CatalogListing((), "unreachable", "offline"))
        # The catalog host cannot even be reached and the runtime has not waited through its own attempt yet:
        # the cache is read from disk, and nothing public is loaded.
        runtime._catalog_host_down, runtime._runtime_tried_catalog = True, False
        assert TINY_ID in {e.id for e in runtime.list_cached()}
        runtime.list_loaded()
        assert recording.called == []
        # The host answered but the fetch failed (the runtime has paid its retries): the runtime is asked.
        runtime._catalog_host_down = False
        runtime.list_cached()
        runtime.list_loaded()
        assert recording.called == ["get_cached_models", "get_loaded_models"]
    finally:
        runtime._catalog_future, runtime._public, runtime._catalog_host_down, runtime._runtime_tried_catalog = saved

"""engine.session: the one service under both front ends, on the in-memory backend (the real runtime: test_cli)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from foundry_tui.backends.base import Backend, ChatMessage, TokenEvent
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import ANSWER, MemoryBackend, Script, entry
from foundry_tui.devtools.tiny_model import MODEL_FILES
from foundry_tui.engine.chat import Cancel, ChatEvent, Loaded, LoadStarting, Sending, StreamBuffer, reply_summary
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.session import Session
from foundry_tui.errors import BackendError, BadInputError, ModelNotFoundError
from tests.tui.fixed_sampler import FixedSampler

LOADED = "alpha-generic-cpu:1"
CACHED = "beta-generic-cpu:1"
REMOTE = "gamma-cuda-gpu:1"


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(
        catalog=[entry(LOADED), entry(CACHED), entry(REMOTE, size_mb=4000)], cached={LOADED, CACHED}, loaded={LOADED}
    )


@pytest.fixture
def session(backend: MemoryBackend, tmp_path: Path) -> Session:
    return Session(Settings(data_dir=tmp_path), backend=backend, sampler=FixedSampler())


def model_dir(root: Path) -> Path:
    """A directory that passes the registration checks (the files need not be a working model here)."""
    root.mkdir(parents=True)
    for name in MODEL_FILES:
        (root / name).write_text("{}")
    (root / "genai_config.json").write_text('{"model": {"decoder": {"filename": "model.onnx"}}}')
    return root


def test_the_backend_opens_on_first_use_and_a_failure_is_raised_each_time(tmp_path: Path) -> None:
    opened: list[Settings] = []

    def factory(settings: Settings) -> Backend:
        opened.append(settings)
        if len(opened) == 1:
            raise BackendError("no runtime yet")
        return MemoryBackend()

    session = Session(Settings(data_dir=tmp_path), backend_factory=factory, sampler=FixedSampler())
    assert not session.ready and opened == []  # nothing opened before it is needed
    with pytest.raises(BackendError, match="no runtime yet"):
        session.snapshot()
    assert session.snapshot().local == () and session.ready and len(opened) == 2
    session.close()


def test_snapshot_then_catalog(session: Session, backend: MemoryBackend) -> None:
    quick = session.snapshot()
    assert quick.catalog is None and quick.loaded_ids == [LOADED] and quick.backend is not None
    full = session.models()
    assert full.catalog is not None and full.catalog.state == "ok"
    assert {m.id: (m.cached, m.loaded) for m in full.all_models()} == {
        LOADED: (True, True),
        CACHED: (True, False),
        REMOTE: (False, False),
    }
    backend.catalog_state, backend.catalog_reason = "unreachable", "offline"
    assert session.models(refresh=True).catalog == session.fetch_catalog()
    assert session.snapshot().catalog is not None  # the last catalog stays in every later snapshot


def test_chat_loads_first_with_events_markers_and_a_cold_start(session: Session, backend: MemoryBackend) -> None:
    events: list[ChatEvent] = []
    pieces: list[tuple[str, int]] = []
    result = session.chat(
        CACHED,
        [ChatMessage("user", "hi")],
        session.chat_options(max_tokens=16),
        on_event=events.append,
        on_token=lambda event, t_sent: pieces.append((event.text, t_sent)),
    )
    assert [type(e) for e in events] == [LoadStarting, Loaded, Sending]
    start = events[0]
    assert isinstance(start, LoadStarting) and start.entry.id == CACHED and start.fit.target == "RAM"
    assert result.cold and result.load is not None and result.load.model == CACHED
    assert result.record.text == ANSWER and result.record.status == "ok"
    assert all(t_sent == result.record.t_sent_ns for _, t_sent in pieces)  # the stream's own send stamp
    kinds = [(e.kind, e.model) for e in session.sampler.events.events()]
    assert kinds == [(k, CACHED) for k in ("load_start", "load_end", "first_token", "stream_end")]
    assert backend.calls[-2:] == [f"load {CACHED}", f"chat {CACHED}"]
    assert "(cold start)" in reply_summary(result.record, result.load.load_s)
    warm = session.chat(CACHED, [ChatMessage("user", "again")], session.chat_options())
    assert not warm.cold and warm.record.text == ANSWER


def test_stop_before_the_first_token_ends_the_reply_at_once(session: Session, backend: MemoryBackend) -> None:
    gate = threading.Event()
    backend.script = Script(gate=gate)
    cancel = Cancel()
    cancel.set()  # pressed while the request was still on its way
    started = time.monotonic()
    result = session.chat(LOADED, [ChatMessage("user", "hi")], session.chat_options(), cancel=cancel)
    assert result.record.status == "cancelled" and result.record.text == ""
    assert time.monotonic() - started < 1.0


def test_a_failed_load_raises_and_an_unknown_model_is_bad_input(session: Session, backend: MemoryBackend) -> None:
    backend.fail["load"] = "out of memory"
    with pytest.raises(BackendError, match="out of memory"):
        session.chat(CACHED, [ChatMessage("user", "hi")], session.chat_options())
    assert session.sampler.events.events() == ()  # a failed load leaves no markers
    with pytest.raises(ModelNotFoundError):
        session.chat("nope", [ChatMessage("user", "hi")], session.chat_options())


def test_unload_by_alias_reports_the_residue(session: Session, backend: MemoryBackend) -> None:
    session.load(CACHED)
    report = session.unload("beta")  # the alias
    assert report.model == CACHED and report.residue_mb == 0.0  # the fixed sampler's RSS does not move
    assert CACHED not in backend.loaded


def test_register_with_a_suggested_id_then_remove(session: Session, tmp_path: Path) -> None:
    registered = session.register(str(model_dir(tmp_path / "My Model")))
    assert registered.id == "my-model-generic-cpu:1" and registered.source == "local"
    with pytest.raises(BadInputError, match="does not exist"):
        session.register(str(tmp_path / "missing"), "x-generic-cpu:1")
    removed = session.remove("my-model-generic-cpu:1")
    assert removed.source == "local"  # unregistered: its files stay
    assert (tmp_path / "My Model" / "genai_config.json").is_file()
    assert session.remove(CACHED).source == "public"
    assert CACHED not in {m.id for m in session.snapshot().cached or ()}


def test_downloads_report_through_the_callback(backend: MemoryBackend, tmp_path: Path) -> None:
    seen: list[list[DownloadJob]] = []
    done = threading.Event()

    def on_jobs(jobs: list[DownloadJob]) -> None:
        seen.append(jobs)
        if jobs and jobs[-1].state == "done":
            done.set()

    session = Session(Settings(data_dir=tmp_path), backend=backend, sampler=FixedSampler(), on_downloads=on_jobs)
    check = session.fit(REMOTE)
    assert check.target == "VRAM" and check.fits is None  # a GPU variant, and no NVIDIA GPU here
    session.downloads.enqueue(REMOTE)
    assert done.wait(5)
    assert REMOTE in backend.cached
    assert [j.percent for jobs in seen for j in jobs if j.state == "running"][-1] == 100.0
    kinds = [e.kind for e in session.sampler.events.events()]
    assert kinds == ["download_start", "download_end"]
    session.close()


def test_import_refuses_an_endpoint_and_needs_a_source(tmp_path: Path) -> None:
    endpoint = Session(Settings(data_dir=tmp_path, endpoint="http://127.0.0.1:9"), backend=MemoryBackend())
    with pytest.raises(BadInputError, match="cannot use an endpoint"):
        endpoint.import_model("x.gguf")
    local = Session(Settings(data_dir=tmp_path), backend=MemoryBackend())
    with pytest.raises(BadInputError, match="give SOURCE"):
        local.import_model(None)
    with pytest.raises(BadInputError, match="not both"):
        local.import_model("x.gguf", demo=True)
    assert not local.ready  # refused before the runtime was opened


def test_stream_buffer_batches_and_skips_reasoning() -> None:
    buffer = StreamBuffer()
    buffer.add(TokenEvent("thinking", 1_500_000, reasoning=True), 1_000_000)
    buffer.add(TokenEvent("Hel", 3_000_000), 1_000_000)
    buffer.add(TokenEvent("lo", 4_000_000), 1_000_000)
    piece = buffer.drain(now_ns=4_000_000)
    assert (piece.text, piece.tokens, piece.ttft_ms) == ("Hello", 2, 2.0)
    assert buffer.drain().text == ""

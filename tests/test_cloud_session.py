"""The engine session on the real runtime pointed at the fake Foundry cloud: list → variants → pick → download
(progress, cancel within a chunk, resume) → cached → load → chat → remove. These run last (conftest): the cloud
runtime replaces the offline one, the SDK allowing one per process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from foundry_tui.backends.base import ChatMessage
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.devtools.fake_cloud import FakeCloud
from foundry_tui.devtools.fake_cloud.catalog_data import BIG_ALIAS, SMALL_ALIAS
from foundry_tui.devtools.tiny_model import TINY_ANSWER
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.session import Session
from foundry_tui.engine.variants import group_by_alias, pick_reason
from foundry_tui.errors import BadInputError


@pytest.fixture
def session(cloud_runtime: FoundryBackend) -> Session:
    return Session(cloud_runtime._settings, backend=cloud_runtime)


def test_catalog_variants_and_the_pick(session: Session, cloud: FakeCloud) -> None:
    listing = session.fetch_catalog(refresh=True)
    assert listing.state == "ok" and listing.url == cloud.catalog_url
    groups = {g.alias: g for g in group_by_alias(m for m in listing.models if m.source == "public")}
    assert len(groups) >= 25
    small = groups[SMALL_ALIAS]
    assert small.picked is not None and small.picked.device == "CPU" and small.picked.version == 3
    reason = pick_reason(small, session.execution_providers())
    assert reason.startswith(f"runs {small.picked.id} (CPU · CPUExecutionProvider)")
    versions = session.model_versions(SMALL_ALIAS)
    assert [v.version for v in versions] == [3, 2, 1]
    with pytest.raises(BadInputError, match="versions: 3, 2, 1"):
        session.resolve_version(SMALL_ALIAS, 7)


def _wait_for(jobs: list[DownloadJob], model: str, done: threading.Event) -> None:
    job = next((j for j in jobs if j.model == model), None)
    if job is not None and job.state not in ("queued", "running"):
        done.set()


def test_download_progress_cancel_resume_load_chat_remove(session: Session, cloud: FakeCloud) -> None:
    session.fetch_catalog()
    entry = session.resolve(BIG_ALIAS)
    seen: list[DownloadJob] = []
    finished = threading.Event()
    cancel_when = threading.Event()

    def on_downloads(jobs: list[DownloadJob]) -> None:
        job = next((j for j in jobs if j.model == entry.id), None)
        if job is not None:
            seen.append(job)
            if job.percent >= 20:
                cancel_when.set()
        _wait_for(jobs, entry.id, finished)

    session.on_downloads = on_downloads
    cloud.knobs.blob_delay_s = 0.3
    cloud.reset_counters()
    try:
        session.downloads.enqueue(entry.id)
        for _ in range(600):
            if cancel_when.wait(0.1) or finished.is_set():
                break
        assert cancel_when.is_set(), seen[-1] if seen else "no progress"
        session.downloads.cancel(entry.id)
        assert finished.wait(30)
    finally:
        cloud.knobs.blob_delay_s = 0.0
    assert seen[-1].state == "cancelled"
    partial = session.cache_report().partial
    assert len(partial) == 1 and partial[0].bytes_on_disk > 0
    assert list(Path(partial[0].path).glob("*.dlstate"))  # the runtime's record of the chunks it has
    assert any(j.connecting for j in seen)  # 0 % heartbeats before the first byte read as "connecting"
    percents = [j.percent for j in seen if j.state == "running"]
    assert percents == sorted(percents)
    assert not session.resolve(entry.id).cached

    finished.clear()
    session.downloads.enqueue(entry.id)  # resumes from the runtime's download state
    assert finished.wait(60)
    last = seen[-1]  # a new job: mypy narrowed the one before to "cancelled"
    assert last.state == "done", last.error
    assert session.cache_report().partial == ()
    cached = session.resolve(entry.id)
    assert cached.cached and cached.path

    result = session.chat(entry.id, [ChatMessage("user", "hi")], session.chat_options(max_tokens=32))
    assert result.record.text == TINY_ANSWER
    loaded = session.snapshot().loaded or ()
    assert [m.id for m in loaded if m.source == "public"] == [entry.id]

    session.unload(entry.id)
    session.remove(entry.id)
    assert not Path(cached.path).exists() and not Path(cached.path).parent.exists()
    assert entry.id not in {m.entry.id for m in session.cache_report().models if m.in_cache}


def test_an_older_version_shows_an_upgrade(session: Session) -> None:
    old = session.resolve_version(SMALL_ALIAS, 2)
    session.backend.download(old.id)
    try:
        cached = next(m for m in session.models().all_models() if m.id == old.id)
        assert cached.cached and cached.version == 2 and cached.latest_version == 3
    finally:
        session.remove(old.id)

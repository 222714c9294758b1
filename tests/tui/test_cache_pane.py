"""The Cache & Downloads pane driven by Pilot: the real runtime (tiny models) and the fake Foundry service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Static

from foundry_tui.backends.base import Backend
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.sse_server import FakeOpenAIServer
from foundry_tui.devtools.tiny_model import build_tiny_model
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import DownloadsChanged
from foundry_tui.tui.panes.cache import (
    CachePane,
    cache_summary,
    cached_rows,
    eta_text,
    failure_reason,
    progress_bar,
    size_text,
    speed_text,
    suggest_model_id,
)
from foundry_tui.tui.screens.confirm import ConfirmScreen
from foundry_tui.tui.state import ModelsSnapshot
from tests.conftest import ENDLESS_ID, TINY_ID
from tests.tui.fixed_sampler import FixedSampler
from tests.tui.helpers import wait_for

CACHED_A = "phi-3.5-mini-instruct-generic-cpu:1"
CACHED_B = "qwen2.5-0.5b-instruct-generic-cpu:4"
NEW_A = "mistral-7b-v0.2-generic-cpu:2"
NEW_B = "deepseek-r1-distill-qwen-1.5b-generic-cpu:3"


# -- helpers ------------------------------------------------------------------------------------------------------


def run_app(
    backend: Backend,
    settings: Settings,
    body: Callable[[FoundryTuiApp, Pilot[None]], Awaitable[None]],
    size: tuple[int, int] = (100, 40),
) -> None:
    async def main() -> None:
        app = FoundryTuiApp(settings, backend=backend, sampler=FixedSampler())
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: app.downloads is not None and app.backend_state == "ready")
            await pilot.pause(0.1)
            await pilot.press("2")
            # Switching to the tab puts the focus in the pane, so its keys work at once.
            await wait_for(pilot, lambda: cached_table(app).has_focus)
            await body(app, pilot)
            await settle(app, pilot)

    asyncio.run(main())


async def settle(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
    """No download in flight and no worker running: quitting now cannot race a late message."""
    await wait_for(pilot, lambda: all(j.state not in ("queued", "running") for j in app.downloads.jobs()))
    await pilot.pause(0.1)
    await app.workers.wait_for_complete()
    await pilot.pause()


def pane(app: FoundryTuiApp) -> CachePane:
    return app.query_one(CachePane)


def cached_table(app: FoundryTuiApp) -> DataTable[Any]:
    return app.query_one("#cached-table", DataTable)


def downloads_table(app: FoundryTuiApp) -> DataTable[Any]:
    return app.query_one("#downloads-table", DataTable)


def row_ids(table: DataTable[Any]) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def cell(table: DataTable[Any], row: str, column: str) -> str:
    value = table.get_cell(row, column)
    return str(getattr(value, "plain", value))


def text_of(app: FoundryTuiApp, selector: str) -> str:
    widget = app.query_one(selector, Static)
    return str(widget.render()) if widget.display and not widget.has_class("-empty") else ""


def job_state(app: FoundryTuiApp, model: str) -> str | None:
    table = downloads_table(app)
    return cell(table, model, "state") if model in row_ids(table) else None


# -- pure formatting ----------------------------------------------------------------------------------------------


def test_formatting_helpers() -> None:
    assert eta_text(None) == "–"
    assert eta_text(7.4) == "00:07"
    assert eta_text(125) == "02:05"
    assert eta_text(3 * 3600 + 61) == "3:01:01"
    assert speed_text(None) == "–"
    assert speed_text(12.345) == "12.3 MB/s"
    assert speed_text(250.0) == "250 MB/s"
    assert size_text(None) == "?"
    assert size_text(0.5) == "512 KB"
    assert size_text(340) == "340 MB"
    assert size_text(1229) == "1.2 GB"
    assert progress_bar(0, 10) == ("", "─" * 10)
    assert progress_bar(100, 10) == ("━" * 10, "")
    assert progress_bar(45, 10) == ("━━━━╸", "─" * 5)
    assert failure_reason(DownloadJob("m:1", "failed", error="download m:1: disk full")) == "disk full"
    assert failure_reason(DownloadJob("m:1", "failed", error="no model 'm:1'")) == "no model 'm:1'"
    assert failure_reason(DownloadJob("m:1", "failed")) == "failed"


def test_suggested_id_comes_from_the_directory_name() -> None:
    assert suggest_model_id("/models/phi-mini") == "phi-mini-generic-cpu:1"
    assert suggest_model_id("/models/phi-mini/") == "phi-mini-generic-cpu:1"
    assert suggest_model_id("~/m/Qwen 2.5 Coder") == "qwen-2.5-coder-generic-cpu:1"
    assert suggest_model_id("/m/llama-3.2-1b-instruct-cuda-gpu") == "llama-3.2-1b-instruct-cuda-gpu:1"
    assert suggest_model_id("") is None
    assert suggest_model_id("/") is None


def test_cached_rows_merge_cache_and_local_and_total_line() -> None:
    from foundry_tui.backends.base import CatalogListing, ModelEntry

    catalog = CatalogListing((ModelEntry(id="a:1", alias="a", source="public", size_mb=1024, device="GPU"),), "ok")
    snapshot = ModelsSnapshot(
        catalog=catalog,
        local=(ModelEntry(id="mine:1", alias="mine", source="local", size_mb=200),),
        cached=(
            ModelEntry(id="a:1", alias="a", source="public"),
            ModelEntry(id="mine:1", alias="mine", source="local"),
        ),
        loaded=(ModelEntry(id="mine:1", alias="mine", source="local"),),
    )
    rows = cached_rows(snapshot)
    assert [(m.id, m.size_mb, m.device, m.loaded) for m in rows] == [
        ("a:1", 1024, "GPU", False),
        ("mine:1", 200, None, True),
    ]
    assert cache_summary(rows, "/cache") == "2 models · 1.2 GB in /cache"
    # No cache listing (None or empty): registered local models still count as on disk.
    assert [m.id for m in cached_rows(ModelsSnapshot(local=snapshot.local, cached=None))] == ["mine:1"]
    assert cache_summary([], None).startswith("No models on disk yet")


# -- the fake Foundry service -------------------------------------------------------------------------------------


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=[CACHED_A, CACHED_B, NEW_A, NEW_B], foundry_routes="openai") as server:
        server.cached = [CACHED_A, CACHED_B]  # NEW_A / NEW_B are in the catalog only
        server.loaded = [CACHED_B]
        yield server


@pytest.fixture
def endpoint(srv: FakeOpenAIServer, tmp_path: Path) -> Iterator[tuple[EndpointBackend, Settings]]:
    settings = Settings(endpoint=srv.url, data_dir=tmp_path)
    backend = EndpointBackend(settings)
    yield backend, settings
    backend.close()


def test_cached_models_from_the_service_and_selection(endpoint: tuple[EndpointBackend, Settings]) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        table = cached_table(app)
        await wait_for(pilot, lambda: row_ids(table) == [CACHED_A, CACHED_B])
        assert cell(table, CACHED_B, "loaded") == "✓"
        assert cell(table, CACHED_A, "loaded") == ""
        assert cell(table, CACHED_A, "size") == "1 MB"  # fileSizeMb from the service's catalog
        assert text_of(app, "#cache-summary").startswith("2 models · 2 MB")
        assert "No downloads" in str(app.query_one("#downloads-empty", Static).render())
        table.focus()
        await pilot.pause()
        assert app.selected_model == CACHED_A  # focusing the table selects its row for l/u
        await pilot.press("down")
        assert app.selected_model == CACHED_B
        await pilot.press("c")  # an endpoint exposes no local cache directory: a warning, nothing copied
        await pilot.pause()
        assert app.clipboard == ""

    run_app(*endpoint, body)


def test_download_shows_progress_then_done_and_lands_in_the_cache(
    srv: FakeOpenAIServer, endpoint: tuple[EndpointBackend, Settings]
) -> None:
    srv.download_duration_s = 0.6
    srv.download_steps = 6
    seen: list[str] = []

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None)
        app.request_download(NEW_A)
        table = downloads_table(app)
        while job_state(app, NEW_A) != "done":
            if NEW_A in row_ids(table):
                seen.append(cell(table, NEW_A, "progress"))
            await pilot.pause(0.02)
        assert any(p.strip().endswith("%") and not p.strip().endswith(" 0%") and "100%" not in p for p in seen)
        assert cell(table, NEW_A, "progress").endswith("100%")
        assert cell(table, NEW_A, "eta") == "–"
        await wait_for(pilot, lambda: NEW_A in row_ids(cached_table(app)))
        assert NEW_A in srv.cached
        # Finished jobs can be cleared.
        downloads_table(app).focus()
        await pilot.press("f")
        await wait_for(pilot, lambda: row_ids(downloads_table(app)) == [])
        assert app.query_one("#downloads-empty").display

    run_app(*endpoint, body)


def test_failed_download_shows_the_reason_literally_and_retry_works(
    srv: FakeOpenAIServer, endpoint: tuple[EndpointBackend, Settings]
) -> None:
    srv.download_error = "disk full [bold]not markup[/bold]"

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None)
        app.request_download(NEW_A)
        await wait_for(pilot, lambda: job_state(app, NEW_A) == "failed")
        errors = text_of(app, "#download-errors")
        assert NEW_A in errors
        assert "disk full [bold]not markup[/bold]" in errors
        assert app.query_one("#download-hint").display
        srv.download_error = None
        downloads_table(app).focus()
        await pilot.press("r")
        await wait_for(pilot, lambda: job_state(app, NEW_A) == "done")
        assert text_of(app, "#download-errors") == ""
        await wait_for(pilot, lambda: NEW_A in row_ids(cached_table(app)))

    run_app(*endpoint, body)


def test_queued_downloads_in_order_escape_cancels_queued_k_cancels_running(
    srv: FakeOpenAIServer, endpoint: tuple[EndpointBackend, Settings]
) -> None:
    srv.download_duration_s = 5.0
    srv.download_steps = 50

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None)
        app.request_download(NEW_A)
        app.request_download(NEW_B)
        table = downloads_table(app)
        await wait_for(pilot, lambda: row_ids(table) == [NEW_A, NEW_B])
        await wait_for(pilot, lambda: job_state(app, NEW_A) == "running" and job_state(app, NEW_B) == "queued")
        await wait_for(pilot, lambda: cell(table, NEW_A, "speed") != "–")  # MB/s and ETA come from the engine
        assert cell(table, NEW_A, "speed").endswith("MB/s")
        assert ":" in cell(table, NEW_A, "eta")
        table.focus()
        await pilot.press("down")  # the queued job
        await pilot.press("escape")
        await wait_for(pilot, lambda: job_state(app, NEW_B) == "cancelled")
        assert job_state(app, NEW_A) == "running"
        await pilot.press("up")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await pilot.press("k")
        await wait_for(pilot, lambda: job_state(app, NEW_A) == "cancelled", timeout=3.0)
        assert loop.time() - started < 1.5
        assert NEW_A not in srv.cached
        assert [r["body"]["model"]["Name"] for r in srv.requests if r["path"] == "/openai/download"] == [NEW_A]

    run_app(*endpoint, body)


def test_remove_asks_first_and_shows_the_endpoint_error_inline(endpoint: tuple[EndpointBackend, Settings]) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        table = cached_table(app)
        await wait_for(pilot, lambda: row_ids(table) == [CACHED_A, CACHED_B])
        table.focus()
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        message = str(app.screen.query_one("#confirm-message", Static).render())
        assert CACHED_A in message and "deleted from disk" in message
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert text_of(app, "#cache-error") == ""
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "not supported" in text_of(app, "#cache-error"))
        assert row_ids(table) == [CACHED_A, CACHED_B]

    run_app(*endpoint, body)


def test_register_on_an_endpoint_is_refused_inline(endpoint: tuple[EndpointBackend, Settings], tmp_path: Path) -> None:
    model_dir = build_tiny_model(tmp_path / "phi-mini")

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("n")  # focus the form
        await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "reg-path")
        await pilot.press(*str(model_dir))
        assert "phi-mini-generic-cpu:1" in app.query_one("#reg-id", Input).placeholder
        await pilot.press("enter")
        await wait_for(pilot, lambda: "not supported by an endpoint" in text_of(app, "#reg-error"))
        assert not app.query_one("#reg-submit", Button).disabled

    run_app(*endpoint, body)


def test_downloads_changed_does_not_loop_back_to_the_app(endpoint: tuple[EndpointBackend, Settings]) -> None:
    """The pane handles the forwarded message and stops it; a bubbling copy would bounce back forever."""
    backend, settings = endpoint
    seen: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, DownloadsChanged):
            seen.append(type(message).__name__)

    async def main() -> None:
        app = FoundryTuiApp(settings, backend=backend, sampler=FixedSampler())
        async with app.run_test(size=(100, 40), message_hook=hook) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: app.downloads is not None)
            await pilot.pause(0.2)
            seen.clear()
            app.post_message(DownloadsChanged([DownloadJob("x:1", "failed", error="boom")]))
            await pilot.pause(0.3)
            assert len(seen) == 2  # the app's copy, then the one it forwarded to the pane: no more
            assert "boom" in text_of(app, "#download-errors")
            await settle(app, pilot)

    asyncio.run(main())


# -- the real in-process runtime -------------------------------------------------------------------------------------


@pytest.mark.runtime
def test_cached_list_shows_the_registered_tiny_models(runtime: FoundryBackend, tmp_path: Path) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        table = cached_table(app)
        await wait_for(pilot, lambda: {TINY_ID, ENDLESS_ID} <= set(row_ids(table)))
        assert cell(table, TINY_ID, "kind") == "registered"
        assert cell(table, TINY_ID, "size").endswith("MB")
        cache_dir = runtime.info().details["cache_dir"]
        await wait_for(pilot, lambda: cache_dir in text_of(app, "#cache-summary"))
        await pilot.press("c")
        assert app.clipboard == cache_dir
        # Removing a registered model is an unregister, and the dialog says the files stay.
        table.focus()
        table.move_cursor(row=row_ids(table).index(TINY_ID))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        message = str(app.screen.query_one("#confirm-message", Static).render())
        assert f"Unregister {TINY_ID}" in message and "files stay" in message
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert TINY_ID in {m.id for m in runtime.list_local()}

    run_app(runtime, Settings(data_dir=tmp_path), body)


@pytest.mark.runtime
def test_register_form_validates_inline_then_registers_and_unregisters(runtime: FoundryBackend, tmp_path: Path) -> None:
    name = f"pane-reg-{uuid.uuid4().hex[:8]}"
    model_dir = build_tiny_model(tmp_path / name)
    expected_id = f"{name}-generic-cpu:1"
    empty_dir = tmp_path / "not-a-model"
    empty_dir.mkdir()

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        path = app.query_one("#reg-path", Input)
        model_id = app.query_one("#reg-id", Input)

        async def submit(path_text: str, id_text: str = "") -> None:
            path.value = path_text
            model_id.value = id_text
            path.focus()
            await pilot.press("enter")

        pane(app).focus_register()
        await wait_for(pilot, lambda: app.focused is path)

        await pilot.press("enter")  # nothing typed yet
        assert "genai_config.json" in text_of(app, "#reg-error")

        await submit(str(tmp_path / "missing"))
        await wait_for(pilot, lambda: "does not exist" in text_of(app, "#reg-error"))

        await submit(str(empty_dir))
        await wait_for(pilot, lambda: "no genai_config.json" in text_of(app, "#reg-error"))

        await submit(str(model_dir), "bad id")
        assert "NAME:VERSION" in text_of(app, "#reg-error")
        assert app.focused is model_id

        await submit(str(model_dir), TINY_ID)  # taken
        await wait_for(pilot, lambda: "already registered" in text_of(app, "#reg-error"))

        # The id left empty: the suggestion from the directory name is shown, then used.
        path.value = ""
        model_id.value = ""
        await pilot.pause()
        path.value = str(model_dir)
        await wait_for(pilot, lambda: expected_id in model_id.placeholder)
        await pilot.press("enter")
        await wait_for(pilot, lambda: path.value == "")
        assert text_of(app, "#reg-error") == ""
        assert expected_id in {m.id for m in runtime.list_local()}
        table = cached_table(app)
        await wait_for(pilot, lambda: expected_id in row_ids(table))

        # Unregister through the pane: confirm, the row goes, the files stay.
        table.focus()
        table.move_cursor(row=row_ids(table).index(expected_id))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: expected_id not in row_ids(table))
        assert expected_id not in {m.id for m in runtime.list_local()}
        assert (model_dir / "genai_config.json").is_file()

    try:
        run_app(runtime, Settings(data_dir=tmp_path / "data"), body)
    finally:
        if expected_id in {m.id for m in runtime.list_local()}:
            runtime.unregister_model(expected_id)


# -- snapshots ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_cache_pane_snapshot(
    snap_compare: Any, srv: FakeOpenAIServer, endpoint: tuple[EndpointBackend, Settings], size: tuple[int, int]
) -> None:
    backend, settings = endpoint
    srv.download_duration_s = 0.05
    app = FoundryTuiApp(settings, backend=backend, sampler=FixedSampler())

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.snapshot.catalog is not None and app.downloads is not None)
        app.request_download(NEW_A)
        await wait_for(pilot, lambda: job_state(app, NEW_A) == "done")
        srv.download_error = "not enough disk space for model.onnx"
        app.request_download(NEW_B)
        await wait_for(pilot, lambda: job_state(app, NEW_B) == "failed")
        await wait_for(pilot, lambda: NEW_A in row_ids(cached_table(app)))
        await settle(app, pilot)
        app._backend_label = "Foundry Local service (fake)"  # the real label names a random port
        app._update_subtitle()
        cached_table(app).focus()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)

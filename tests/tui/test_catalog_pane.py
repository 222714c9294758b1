"""The Catalog pane, driven through the real app with Pilot: the real in-process runtime (offline, so the public
catalog is unreachable) and a real local HTTP server posing as the Foundry service."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent

from foundry_tui.backends.base import Backend, BackendInfo, ModelEntry
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend
from foundry_tui.devtools.sse_server import FakeOpenAIServer
from foundry_tui.engine.session import Session
from foundry_tui.errors import FoundryTuiError
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import DownloadRequested, LoadRequested, OpenChatRequested
from foundry_tui.tui.panes.catalog import (
    EMPTY_TEXT,
    RUNTIME_FAILED_TEXT,
    UNREACHABLE_TEXT,
    CatalogPane,
    CatalogTable,
    detail_content,
    fit_columns,
)
from tests.conftest import ENDLESS_ID, TINY_ID
from tests.tui.conftest import CACHED, LOADED, REMOTE, MakeApp
from tests.tui.fixed_sampler import FixedSampler
from tests.tui.helpers import screen_text, static_text, wait_for

EVIL_ID = "evil-[bold red]x[/]"
ALPHA = "alpha-small-generic-cpu:1"  # cached and loaded
BETA = "beta-large-cuda-gpu:2"  # in the catalog only
GAMMA = "gamma-mid-generic-cpu:1"  # cached, not loaded
SERVED = {ALPHA: (300, "CPU"), BETA: (5000, "GPU"), GAMMA: (1200, "CPU"), EVIL_ID: (10, "CPU")}


# -- helpers ---------------------------------------------------------------------------------------------------


class CatalogServer(FakeOpenAIServer):
    """The fake Foundry service with a size and a device per model in /foundry/list."""

    def __init__(self, details: dict[str, tuple[int, str]]) -> None:
        super().__init__(models=list(details), foundry_routes="openai")
        self.details = details

    def _catalog_entries(self) -> list[dict[str, Any]]:
        entries = super()._catalog_entries()
        for entry in entries:
            size, device = self.details.get(entry["name"], (1, "CPU"))
            entry["fileSizeMb"] = size
            ep = "CUDAExecutionProvider" if device == "GPU" else "CPUExecutionProvider"
            entry["runtime"] = {"deviceType": device, "executionProvider": ep}
        return entries


class StableLabelBackend(EndpointBackend):
    """The endpoint backend with a label that does not carry the server's ephemeral port (for snapshots)."""

    def info(self) -> BackendInfo:
        return replace(super().info(), label="Foundry Local service (fake)")


@pytest.fixture
def server() -> Iterator[CatalogServer]:
    srv = CatalogServer(SERVED)
    with srv:
        srv.cached = [ALPHA, GAMMA, EVIL_ID]
        srv.loaded = [ALPHA, EVIL_ID]
        yield srv


@pytest.fixture
def endpoint(server: CatalogServer, tmp_path: Path) -> Iterator[EndpointBackend]:
    backend = StableLabelBackend(Settings(endpoint=server.url, data_dir=tmp_path / "endpoint"))
    yield backend
    backend.close()


def pane_of(app: FoundryTuiApp) -> CatalogPane:
    return app.query_one(CatalogPane)


def table_ids(app: FoundryTuiApp) -> list[str]:
    table = app.query_one(CatalogTable)
    return [str(row.key.value) for row in table.ordered_rows]


def catalog_settled(app: FoundryTuiApp) -> bool:
    return app.snapshot.catalog is not None and not pane_of(app).has_class("-loading")


async def settle(pilot: Pilot[Any], app: FoundryTuiApp, *ids: str) -> None:
    await wait_for(pilot, lambda: catalog_settled(app) and set(ids) <= set(table_ids(app)), f"rows {ids}")
    await pilot.pause()


def text(app: FoundryTuiApp, selector: str) -> str:
    return static_text(app.query_one(selector, Static))


async def highlight(pilot: Pilot[Any], app: FoundryTuiApp, model_id: str) -> None:
    table = app.query_one(CatalogTable)
    table.move_cursor(row=table_ids(app).index(model_id))
    await wait_for(pilot, lambda: pane_of(app).selected_id == model_id, f"{model_id} highlighted")
    await pilot.pause()


async def type_filter(pilot: Pilot[Any], text: str) -> None:
    """`/` then the text: its first word key by key (as typed), the rest pasted (each key redraws the table)."""
    await pilot.press("slash")
    head, _, rest = text.partition(" ")
    await pilot.press(*head[:2])
    filter_input = pilot.app.query_one("#catalog-filter", Input)
    filter_input.insert_text_at_cursor(head[2:] + (" " + rest if rest else ""))
    await pilot.pause()


# -- pure helpers ------------------------------------------------------------------------------------------------


def entry(model_id: str, **kw: Any) -> ModelEntry:
    kw.setdefault("alias", model_id.split("-")[0])
    kw.setdefault("source", "public")
    return ModelEntry(id=model_id, **kw)


@pytest.mark.parametrize("available", [60, 77, 90, 120, 200])
def test_columns_fit_the_width(available: int) -> None:
    model_width, columns = fit_columns(available, longest_id=44)
    assert sum(c.width + 2 for c in columns) + model_width + 2 <= max(available, 24 + 2)
    keys = [c.key for c in columns]
    if available >= 77:
        assert {"cached", "loaded", "device", "size"} <= set(keys)


def test_detail_content_is_literal() -> None:
    text = detail_content(entry(EVIL_ID, display_name="[b]x[/b]\x1b[31m", variants=(EVIL_ID, "other:1"))).plain
    assert EVIL_ID in text
    assert "[b]x[/b]\\x1b[31m" in text  # no markup parsed, ESC made visible
    assert "other:1" in text


# -- the real runtime (offline) ----------------------------------------------------------------------------------


@pytest.mark.runtime
@pytest.mark.anyio
async def test_offline_rows_banner_filter_and_detail(runtime: Backend, make_app: MakeApp) -> None:
    app = make_app(runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, TINY_ID, ENDLESS_ID)
        pane = pane_of(app)
        banner = text(app, "#catalog-banner")
        assert banner.startswith(UNREACHABLE_TEXT)
        assert app.snapshot.catalog is not None and app.snapshot.catalog.reason
        assert app.snapshot.catalog.reason in banner  # the reason, verbatim
        assert UNREACHABLE_TEXT in screen_text(pilot)

        # detail panel follows the highlighted row, and the app hears about the selection
        await highlight(pilot, app, ENDLESS_ID)
        assert app.selected_model == ENDLESS_ID
        for model_id in (ENDLESS_ID, TINY_ID):
            await highlight(pilot, app, model_id)
            found = app.snapshot.find(model_id)
            assert found is not None and found.context_length
            detail = text(app, "#catalog-detail-text")
            assert model_id in detail and f"context {found.context_length:,} tokens" in detail

        # incremental filter
        await type_filter(pilot, "endless")
        assert app.focused is app.query_one("#catalog-filter", Input)
        assert table_ids(app) == [ENDLESS_ID]
        assert "1/2 models" in text(app, "#catalog-status")
        await pilot.press("escape")  # clears and returns to the table
        assert app.query_one("#catalog-filter", Input).value == ""
        assert isinstance(app.focused, CatalogTable)
        assert set(table_ids(app)) == {TINY_ID, ENDLESS_ID}

        assert pane.selected_id == TINY_ID  # the filter hid it for a while; the cursor comes back to it
        await type_filter(pilot, "cached local")
        assert set(table_ids(app)) == {TINY_ID, ENDLESS_ID}
        await pilot.press("escape")
        await highlight(pilot, app, ENDLESS_ID)
        await type_filter(pilot, "device:gpu")  # local models carry no device
        assert table_ids(app) == []
        assert "no model matches" in text(app, "#catalog-empty")
        assert app.selected_model is None  # app-wide load/unload have nothing to act on
        await pilot.press("enter")  # back to the table, filter kept
        assert isinstance(app.focused, CatalogTable)
        assert app.query_one("#catalog-filter", Input).value == "device:gpu"
        await pilot.press("escape")  # from the table: clears the filter
        assert set(table_ids(app)) == {TINY_ID, ENDLESS_ID}
        assert pane.selected_id == ENDLESS_ID  # the cursor came back to the same model
        assert app.selected_model == ENDLESS_ID


@pytest.mark.runtime
@pytest.mark.slow
@pytest.mark.anyio
async def test_refresh_shows_spinner_then_rows(runtime: Backend, make_app: MakeApp) -> None:
    app = make_app(runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, TINY_ID, ENDLESS_ID)
        before = app.snapshot.catalog
        await pilot.press("r")
        # Offline the runtime answers within a second: the spinner may be gone already (a gated fetch on the memory
        # backend holds it: test_local_models_list_before_the_catalog_arrives).
        if app.snapshot.catalog is before:
            assert pane_of(app).has_class("-loading")
            assert "fetching the public catalog" in screen_text(pilot)
        await wait_for(pilot, lambda: app.snapshot.catalog is not before, "a fresh catalog", timeout=60)
        await settle(pilot, app, TINY_ID, ENDLESS_ID)
        assert not pane_of(app).has_class("-loading")
        assert text(app, "#catalog-banner").startswith(UNREACHABLE_TEXT)


@pytest.mark.runtime
@pytest.mark.anyio
async def test_enter_on_cached_row_loads_it(runtime: Backend, make_app: MakeApp) -> None:
    app = make_app(runtime)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, app, TINY_ID, ENDLESS_ID)
            await highlight(pilot, app, TINY_ID)
            assert "Enter: load it" in text(app, "#catalog-detail-text")
            await pilot.press("enter")

            def loaded_cell() -> str:
                table = app.query_one(CatalogTable)
                return str(table.get_cell(TINY_ID, "loaded")).strip()

            await wait_for(pilot, lambda: loaded_cell() == "✓", "the loaded ✓", timeout=60)
            assert "Enter: chat with it" in text(app, "#catalog-detail-text")
            await pilot.press("u")  # app-wide unload acts on the highlighted model
            await wait_for(pilot, lambda: loaded_cell() == "", "the unload", timeout=60)
    finally:
        if any(m.id == TINY_ID for m in runtime.list_loaded()):
            runtime.unload(TINY_ID)


# -- the in-memory backend: the pane's intents --------------------------------------------------------------


@pytest.mark.anyio
async def test_enter_posts_the_intent_for_each_kind_of_model(make_app: MakeApp) -> None:
    """The pane never acts itself: Enter posts chat / load / download, and the app carries it out."""
    intents: dict[int, object] = {}  # the hook sees a bubbling message at every widget it passes

    def hook(message: object) -> None:
        if isinstance(message, OpenChatRequested | LoadRequested | DownloadRequested):
            intents.setdefault(id(message), message)

    app = make_app()
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await settle(pilot, app, LOADED, CACHED, REMOTE)
        tabs = app.query_one("#tabs", TabbedContent)
        await highlight(pilot, app, LOADED)
        await pilot.press("enter")
        await wait_for(pilot, lambda: tabs.active == "chat", "the chat tab")
        tabs.active = "catalog"
        app.query_one(CatalogTable).focus()
        await highlight(pilot, app, CACHED)
        await pilot.press("enter")
        await wait_for(pilot, lambda: (f := app.snapshot.find(CACHED)) is not None and f.loaded, "the load")
        await highlight(pilot, app, REMOTE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: tabs.active == "cache", "the download queue")
        await wait_for(pilot, lambda: (f := app.snapshot.find(REMOTE)) is not None and f.cached, "the download")
        posted = list(intents.values())
        assert [type(m).__name__ for m in posted] == ["OpenChatRequested", "LoadRequested", "DownloadRequested"]
        assert [getattr(m, "model_id", None) for m in posted] == [LOADED, CACHED, REMOTE]


@pytest.mark.anyio
async def test_offline_catalog_banner_and_no_false_empty_state(memory: MemoryBackend, make_app: MakeApp) -> None:
    memory.catalog_state = "unreachable"
    memory.catalog_reason = "cannot reach https://catalog.example: Could not resolve hostname [x]"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: catalog_settled(app), "the catalog")
        await pilot.pause()
        banner = text(app, "#catalog-banner")
        assert banner.startswith(UNREACHABLE_TEXT) and memory.catalog_reason in banner  # literal, not markup
        assert set(table_ids(app)) == {LOADED, CACHED}  # what is on disk still lists: no false empty state
        assert text(app, "#catalog-empty") == ""
        memory.cached.clear()
        memory.loaded.clear()
        await pilot.press("r")
        await wait_for(pilot, lambda: text(app, "#catalog-empty") == EMPTY_TEXT, "the empty state")


@pytest.mark.anyio
async def test_local_models_list_before_the_catalog_arrives(memory: MemoryBackend, make_app: MakeApp) -> None:
    """The first frame lists what is on this machine; the public catalog (seconds offline) fills in later, and the
    empty-state hint never shows while models exist — nor while the lists are still coming."""
    memory.local = {"mine-generic-cpu:1": entry("mine-generic-cpu:1", source="local")}
    memory.catalog_gate = gate = threading.Event()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert text(app, "#catalog-empty") == ""  # before any list answered: no "no models yet"
        await wait_for(pilot, lambda: "mine-generic-cpu:1" in table_ids(app), "the local model, catalog pending")
        assert pane_of(app).has_class("-loading") and app.snapshot.catalog is None
        assert text(app, "#catalog-empty") == ""
        assert REMOTE not in table_ids(app)
        gate.set()
        await settle(pilot, app, "mine-generic-cpu:1", REMOTE)
        assert text(app, "#catalog-empty") == ""


@pytest.mark.anyio
async def test_no_local_models_says_empty_only_once_everything_answered(make_app: MakeApp) -> None:
    backend = MemoryBackend(catalog_state="unreachable", catalog_reason="offline")
    backend.catalog_gate = gate = threading.Event()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.backend is not None, "the first lists")
        await pilot.pause()
        assert text(app, "#catalog-empty") == "" and pane_of(app).has_class("-loading")
        gate.set()
        await wait_for(pilot, lambda: text(app, "#catalog-empty") == EMPTY_TEXT, "the empty state")


# -- an endpoint (the fake Foundry service) ------------------------------------------------------------------


@pytest.mark.anyio
async def test_endpoint_rows_filter_and_sort(endpoint: EndpointBackend, make_app: MakeApp) -> None:
    app = make_app(endpoint)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, *SERVED)
        table = app.query_one(CatalogTable)
        assert str(table.get_cell(BETA, "device")) == "GPU/CUDA"
        assert str(table.get_cell(BETA, "size")).strip() == "4.88 GB"
        assert str(table.get_cell(ALPHA, "size")).strip() == "300 MB"
        assert str(table.get_cell(ALPHA, "cached")).strip() == "✓"
        assert str(table.get_cell(BETA, "cached")).strip() == ""
        assert "public catalog unreachable" not in screen_text(pilot)

        assert table_ids(app) == sorted(SERVED, key=str.casefold)
        assert "sort name ↑" in text(app, "#catalog-status")
        await pilot.press("s")
        assert table_ids(app) == [BETA, GAMMA, ALPHA, EVIL_ID]
        assert "sort size ↓" in text(app, "#catalog-status")
        await pilot.press("s")
        assert table_ids(app) == [EVIL_ID, ALPHA, GAMMA, BETA]
        assert "sort size ↑" in text(app, "#catalog-status")
        await pilot.press("s")
        assert "sort name ↑" in text(app, "#catalog-status")

        await type_filter(pilot, "device:cpu")
        assert set(table_ids(app)) == {ALPHA, GAMMA, EVIL_ID}
        await pilot.press("escape")
        await type_filter(pilot, "cached")
        assert set(table_ids(app)) == {ALPHA, GAMMA, EVIL_ID}
        app.query_one("#catalog-filter", Input).insert_text_at_cursor(" device:gpu")
        await pilot.pause()
        assert table_ids(app) == []
        await pilot.press("escape")
        await type_filter(pilot, "loaded alpha")
        assert table_ids(app) == [ALPHA]


@pytest.mark.anyio
async def test_mouse_sorts_and_selects(endpoint: EndpointBackend, make_app: MakeApp) -> None:
    app = make_app(endpoint)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, *SERVED)
        table = app.query_one(CatalogTable)
        columns = table.ordered_columns
        size_x = sum(c.get_render_width(table) for c in columns[: table.get_column_index("size")]) + 2
        await pilot.click(CatalogTable, offset=(size_x, 0))  # the Size header
        await pilot.pause()
        assert table_ids(app) == [BETA, GAMMA, ALPHA, EVIL_ID]
        await pilot.click(CatalogTable, offset=(size_x, 0))
        await pilot.pause()
        assert table_ids(app) == [EVIL_ID, ALPHA, GAMMA, BETA]
        await pilot.click(CatalogTable, offset=(2, 0))  # the Model header
        await pilot.pause()
        assert table_ids(app) == sorted(SERVED, key=str.casefold)
        await pilot.click(CatalogTable, offset=(2, 1 + table_ids(app).index(GAMMA)))  # a row
        await wait_for(pilot, lambda: app.selected_model == GAMMA, "the clicked row selected")
        assert GAMMA in text(app, "#catalog-detail-text")


@pytest.mark.anyio
async def test_model_id_markup_is_shown_literally(endpoint: EndpointBackend, make_app: MakeApp) -> None:
    app = make_app(endpoint)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app, EVIL_ID)
        await highlight(pilot, app, EVIL_ID)
        assert str(app.query_one(CatalogTable).get_cell(EVIL_ID, "model")).strip() == EVIL_ID  # after the tree gutter
        assert EVIL_ID in text(app, "#catalog-detail-text")
        assert EVIL_ID in screen_text(pilot)


@pytest.mark.anyio
async def test_empty_state(tmp_path: Path, make_app: MakeApp) -> None:
    with FakeOpenAIServer(models=[], foundry_routes="openai") as srv:
        backend = EndpointBackend(Settings(endpoint=srv.url, data_dir=tmp_path / "endpoint"))
        try:
            app = make_app(backend)
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for(pilot, lambda: catalog_settled(app), "the catalog")
                await pilot.pause()
                assert text(app, "#catalog-empty") == EMPTY_TEXT
                assert "no models yet" in screen_text(pilot)
        finally:
            backend.close()


@pytest.mark.anyio
async def test_runtime_failure_stops_the_spinner(tmp_path: Path) -> None:
    def broken(settings: Settings) -> Backend:
        raise FoundryTuiError("no runtime here")

    settings = Settings(data_dir=tmp_path / "app")
    app = FoundryTuiApp(settings, session=Session(settings, backend_factory=broken, sampler=FixedSampler()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.backend_state == "failed", "the failure")
        await pilot.pause()
        assert not pane_of(app).has_class("-loading")
        assert text(app, "#catalog-banner") == RUNTIME_FAILED_TEXT


# -- snapshots -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot(
    size: tuple[int, int], snap_compare: Any, server: CatalogServer, tmp_path: Path, make_app: MakeApp
) -> None:
    backend = StableLabelBackend(Settings(endpoint=server.url, data_dir=tmp_path / "endpoint"))
    app = make_app(backend)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, app, *SERVED)
        assert isinstance(app.focused, CatalogTable)  # the app opens on the catalog: its table has focus
        await highlight(pilot, app, GAMMA)

    try:
        assert snap_compare(app, terminal_size=size, run_before=run_before)
    finally:
        backend.close()

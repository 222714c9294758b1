"""The Catalog pane, driven through the real app with Pilot: the real in-process runtime (offline, so the public
catalog is unreachable) and a real local HTTP server posing as the Foundry service."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent

from foundry_tui.backends.base import Backend, BackendInfo, ModelEntry
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.sse_server import FakeOpenAIServer
from foundry_tui.errors import FoundryTuiError
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.panes.catalog import (
    EMPTY_TEXT,
    RUNTIME_FAILED_TEXT,
    UNREACHABLE_TEXT,
    CatalogFilter,
    CatalogPane,
    CatalogTable,
    detail_content,
    fit_columns,
    size_text,
    sort_models,
)
from tests.conftest import ENDLESS_ID, TINY_ID
from tests.tui.fixed_sampler import FixedSampler

EVIL_ID = "evil-[bold red]x[/]"
ALPHA = "alpha-small-generic-cpu:1"  # cached and loaded
BETA = "beta-large-cuda-gpu:2"  # in the catalog only
GAMMA = "gamma-mid-generic-cpu:1"  # cached, not loaded
SERVED = {ALPHA: (300, "CPU"), BETA: (5000, "GPU"), GAMMA: (1200, "CPU"), EVIL_ID: (10, "CPU")}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
    with CatalogServer(SERVED) as srv:
        srv.cached = [ALPHA, GAMMA, EVIL_ID]
        srv.loaded = [ALPHA, EVIL_ID]
        yield srv


@pytest.fixture
def endpoint(server: CatalogServer, tmp_path: Path) -> Iterator[EndpointBackend]:
    backend = StableLabelBackend(Settings(endpoint=server.url, data_dir=tmp_path / "endpoint"))
    yield backend
    backend.close()


def make_app(backend: Backend, tmp_path: Path) -> FoundryTuiApp:
    return FoundryTuiApp(Settings(data_dir=tmp_path / "app"), backend=backend, sampler=FixedSampler())


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


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


def static_text(app: FoundryTuiApp, selector: str) -> str:
    content = app.query_one(selector, Static).content
    return content.plain if isinstance(content, Content) else str(content)


def screen_text(app: FoundryTuiApp) -> str:
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


async def highlight(pilot: Pilot[Any], app: FoundryTuiApp, model_id: str) -> None:
    table = app.query_one(CatalogTable)
    table.move_cursor(row=table_ids(app).index(model_id))
    await wait_for(pilot, lambda: pane_of(app).selected_id == model_id, f"{model_id} highlighted")
    await pilot.pause()


async def type_filter(pilot: Pilot[Any], text: str) -> None:
    await pilot.press("slash")
    for char in text:
        await pilot.press("space" if char == " " else char)
    await pilot.pause()


# -- pure helpers ------------------------------------------------------------------------------------------------


def entry(model_id: str, **kw: Any) -> ModelEntry:
    kw.setdefault("alias", model_id.split("-")[0])
    kw.setdefault("source", "public")
    return ModelEntry(id=model_id, **kw)


def test_filter_tokens() -> None:
    cpu = entry("qwen-generic-cpu:1", device="CPU", task="chat-completion", cached=True, publisher="Alibaba")
    gpu = entry("phi-cuda-gpu:1", device="GPU", task="chat-completion", loaded=True, cached=True)
    asr = entry("whisper-generic-cpu:1", device="CPU", task="automatic-speech-recognition")
    local = entry("mine:1", source="local", cached=True)
    models = [cpu, gpu, asr, local]

    def ids(text: str) -> list[str]:
        return [m.id for m in models if CatalogFilter.parse(text).matches(m)]

    assert ids("") == [m.id for m in models]
    assert ids("QWEN") == [cpu.id]
    assert ids("alibaba") == [cpu.id]  # publisher
    assert ids("device:cpu") == [cpu.id, asr.id]
    assert ids("device:gpu") == [gpu.id]
    assert ids("device:npu") == []
    assert ids("task:chat") == [cpu.id, gpu.id]
    assert ids("task:speech device:cpu") == [asr.id]
    assert ids("cached") == [cpu.id, gpu.id, local.id]
    assert ids("loaded") == [gpu.id]
    assert ids("local") == [local.id]
    assert ids("cached device:cpu") == [cpu.id]
    assert not CatalogFilter.parse("  ").active


def test_sort_and_size_text() -> None:
    models = [entry("b:1", size_mb=100), entry("a:1", size_mb=None), entry("c:1", size_mb=3000)]
    assert [m.id for m in sort_models(models, "name")] == ["a:1", "b:1", "c:1"]
    assert [m.id for m in sort_models(models, "size-desc")] == ["c:1", "b:1", "a:1"]  # unknown size last
    assert [m.id for m in sort_models(models, "size-asc")] == ["b:1", "c:1", "a:1"]
    assert size_text(None) == "—"
    assert size_text(822) == "822 MB"
    assert size_text(4915) == "4.8 GB"


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
async def test_offline_rows_banner_filter_and_detail(runtime: Backend, tmp_path: Path) -> None:
    app = make_app(runtime, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, TINY_ID, ENDLESS_ID)
        pane = pane_of(app)
        banner = static_text(app, "#catalog-banner")
        assert banner.startswith(UNREACHABLE_TEXT)
        assert app.snapshot.catalog is not None and app.snapshot.catalog.reason
        assert app.snapshot.catalog.reason in banner  # the reason, verbatim
        assert UNREACHABLE_TEXT in screen_text(app)

        # detail panel follows the highlighted row, and the app hears about the selection
        await highlight(pilot, app, ENDLESS_ID)
        assert app.selected_model == ENDLESS_ID
        for model_id in (ENDLESS_ID, TINY_ID):
            await highlight(pilot, app, model_id)
            found = app.snapshot.find(model_id)
            assert found is not None and found.context_length
            detail = static_text(app, "#catalog-detail-text")
            assert model_id in detail and f"context {found.context_length:,} tokens" in detail

        # incremental filter
        await type_filter(pilot, "endless")
        assert app.focused is app.query_one("#catalog-filter", Input)
        assert table_ids(app) == [ENDLESS_ID]
        assert "1/2 models" in static_text(app, "#catalog-status")
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
        assert "no model matches" in static_text(app, "#catalog-empty")
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
async def test_refresh_shows_spinner_then_rows(runtime: Backend, tmp_path: Path) -> None:
    app = make_app(runtime, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, TINY_ID, ENDLESS_ID)
        before = app.snapshot.catalog
        await pilot.press("r")
        assert pane_of(app).has_class("-loading")
        assert "fetching the public catalog" in screen_text(app)
        await wait_for(pilot, lambda: app.snapshot.catalog is not before, "a fresh catalog", timeout=60)
        await settle(pilot, app, TINY_ID, ENDLESS_ID)
        assert not pane_of(app).has_class("-loading")
        assert static_text(app, "#catalog-banner").startswith(UNREACHABLE_TEXT)


@pytest.mark.runtime
@pytest.mark.anyio
async def test_enter_on_cached_row_loads_it(runtime: Backend, tmp_path: Path) -> None:
    app = make_app(runtime, tmp_path)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, app, TINY_ID, ENDLESS_ID)
            await highlight(pilot, app, TINY_ID)
            assert "Enter: load it" in static_text(app, "#catalog-detail-text")
            await pilot.press("enter")

            def loaded_cell() -> str:
                table = app.query_one(CatalogTable)
                return str(table.get_cell(TINY_ID, "loaded")).strip()

            await wait_for(pilot, lambda: loaded_cell() == "✓", "the loaded ✓", timeout=60)
            assert "Enter: chat with it" in static_text(app, "#catalog-detail-text")
            await pilot.press("u")  # app-wide unload acts on the highlighted model
            await wait_for(pilot, lambda: loaded_cell() == "", "the unload", timeout=60)
    finally:
        if any(m.id == TINY_ID for m in runtime.list_loaded()):
            runtime.unload(TINY_ID)


# -- an endpoint (the fake Foundry service) ------------------------------------------------------------------


@pytest.mark.anyio
async def test_endpoint_rows_filter_and_sort(endpoint: EndpointBackend, tmp_path: Path) -> None:
    app = make_app(endpoint, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, *SERVED)
        table = app.query_one(CatalogTable)
        assert str(table.get_cell(BETA, "device")) == "GPU/CUDA"
        assert str(table.get_cell(BETA, "size")).strip() == "4.9 GB"
        assert str(table.get_cell(ALPHA, "size")).strip() == "300 MB"
        assert str(table.get_cell(ALPHA, "cached")).strip() == "✓"
        assert str(table.get_cell(BETA, "cached")).strip() == ""
        assert "public catalog unreachable" not in screen_text(app)

        assert table_ids(app) == sorted(SERVED, key=str.casefold)
        assert "sort name ↑" in static_text(app, "#catalog-status")
        await pilot.press("s")
        assert table_ids(app) == [BETA, GAMMA, ALPHA, EVIL_ID]
        assert "sort size ↓" in static_text(app, "#catalog-status")
        await pilot.press("s")
        assert table_ids(app) == [EVIL_ID, ALPHA, GAMMA, BETA]
        assert "sort size ↑" in static_text(app, "#catalog-status")
        await pilot.press("s")
        assert "sort name ↑" in static_text(app, "#catalog-status")

        await type_filter(pilot, "device:cpu")
        assert set(table_ids(app)) == {ALPHA, GAMMA, EVIL_ID}
        await pilot.press("escape")
        await type_filter(pilot, "cached")
        assert set(table_ids(app)) == {ALPHA, GAMMA, EVIL_ID}
        await pilot.press("space", *"device:gpu")
        assert table_ids(app) == []
        await pilot.press("escape")
        await type_filter(pilot, "loaded alpha")
        assert table_ids(app) == [ALPHA]


@pytest.mark.anyio
async def test_mouse_sorts_and_selects(endpoint: EndpointBackend, tmp_path: Path) -> None:
    app = make_app(endpoint, tmp_path)
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
        assert GAMMA in static_text(app, "#catalog-detail-text")


@pytest.mark.anyio
async def test_model_id_markup_is_shown_literally(endpoint: EndpointBackend, tmp_path: Path) -> None:
    app = make_app(endpoint, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app, EVIL_ID)
        await highlight(pilot, app, EVIL_ID)
        assert str(app.query_one(CatalogTable).get_cell(EVIL_ID, "model")) == EVIL_ID
        assert EVIL_ID in static_text(app, "#catalog-detail-text")
        assert EVIL_ID in screen_text(app)


@pytest.mark.anyio
async def test_enter_chats_with_loaded_and_downloads_uncached(endpoint: EndpointBackend, tmp_path: Path) -> None:
    app = make_app(endpoint, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, *SERVED)
        tabs = app.query_one("#tabs", TabbedContent)
        await highlight(pilot, app, ALPHA)
        await pilot.press("enter")
        await pilot.pause()
        assert tabs.active == "chat"

        tabs.active = "catalog"
        await pilot.pause()
        app.query_one(CatalogTable).focus()
        await highlight(pilot, app, BETA)
        assert "Enter: download it" in static_text(app, "#catalog-detail-text")
        await pilot.press("enter")
        await pilot.pause()
        assert tabs.active == "cache"  # the app queued the download and shows the queue


@pytest.mark.anyio
async def test_empty_state(tmp_path: Path) -> None:
    with FakeOpenAIServer(models=[], foundry_routes="openai") as srv:
        backend = EndpointBackend(Settings(endpoint=srv.url, data_dir=tmp_path / "endpoint"))
        try:
            app = make_app(backend, tmp_path)
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for(pilot, lambda: catalog_settled(app), "the catalog")
                await pilot.pause()
                assert static_text(app, "#catalog-empty") == EMPTY_TEXT
                assert "no models yet" in screen_text(app)
        finally:
            backend.close()


@pytest.mark.anyio
async def test_runtime_failure_stops_the_spinner(tmp_path: Path) -> None:
    def broken(settings: Settings) -> Backend:
        raise FoundryTuiError("no runtime here")

    app = FoundryTuiApp(Settings(data_dir=tmp_path / "app"), backend_factory=broken, sampler=FixedSampler())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.backend_state == "failed", "the failure")
        await pilot.pause()
        assert not pane_of(app).has_class("-loading")
        assert static_text(app, "#catalog-banner") == RUNTIME_FAILED_TEXT


# -- snapshots -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot(size: tuple[int, int], snap_compare: Any, server: CatalogServer, tmp_path: Path) -> None:
    backend = StableLabelBackend(Settings(endpoint=server.url, data_dir=tmp_path / "endpoint"))
    app = make_app(backend, tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, app, *SERVED)
        assert isinstance(app.focused, CatalogTable)  # the app opens on the catalog: its table has focus
        await highlight(pilot, app, GAMMA)

    try:
        assert snap_compare(app, terminal_size=size, run_before=run_before)
    finally:
        backend.close()

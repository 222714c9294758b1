"""The Catalog at the public catalog's scale (30 aliases × CPU/GPU/NPU variants × versions, on the memory backend):
variants grouped under their alias with the runtime's pick marked, filter and sort keeping groups whole, the detail
panel's every field with the pick's reason and the CPU-fallback flag, the upgrade mark, the stored catalog while the
live one is fetched or unreachable, execution providers from the palette, the Monitor's device · EP, and a
download's "connecting…"."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from textual.command import CommandInput, CommandList
from textual.pilot import Pilot
from textual.widgets import Input, Static

from foundry_tui.backends.base import CatalogListing, CatalogState, ExecutionProvider, ModelEntry
from foundry_tui.devtools.memory_backend import LOADED_ALIAS, UPGRADABLE, MemoryBackend, realistic_catalog
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.models import ModelsSnapshot
from foundry_tui.engine.variants import group_by_alias, pick_reason
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import LoadRequested, ModelsUpdated
from foundry_tui.tui.panes.catalog import CatalogPane, CatalogTable
from foundry_tui.tui.panes.monitor import MonitorPane
from foundry_tui.tui.screens.execution_providers import ExecutionProvidersScreen
from foundry_tui.tui.widgets.catalog_rows import FALLBACK, PICK, CatalogRow, group_key
from foundry_tui.tui.widgets.downloads_view import CONNECTING, job_cells
from foundry_tui.tui.widgets.model_detail import NO_EPS_TEXT, detail_content
from tests.tui.conftest import MakeApp
from tests.tui.helpers import static_text, wait_for
from tests.tui.screen_lines import screen_lines

pytestmark = pytest.mark.anyio

PHI_CPU = "Phi-4-mini-instruct-generic-cpu:1"  # cached, loaded, the pick of phi-4-mini
STORED_AGO_S = 2 * 3600 + 60


def screen_text(pilot: Pilot[Any]) -> str:
    """The terminal's rows as plain text (the SVG splits a line into styled runs)."""
    return "\n".join(screen_lines(pilot))


def pane_of(app: FoundryTuiApp) -> CatalogPane:
    return app.query_one(CatalogPane)


def text(app: FoundryTuiApp, selector: str) -> str:
    return static_text(app.query_one(selector, Static))


async def ready(pilot: Pilot[Any], app: FoundryTuiApp, variants: int = 76) -> None:
    """The live catalog listed (every variant row)."""
    await wait_for(
        pilot,
        lambda: (
            app.snapshot.catalog is not None
            and app.snapshot.catalog.state == "ok"
            and len(pane_of(app).shown_ids) >= variants
        ),
        "the catalog at scale",
    )
    await pilot.pause()


async def type_filter(pilot: Pilot[Any], value: str) -> None:
    await pilot.press("slash")
    pilot.app.query_one("#catalog-filter", Input).insert_text_at_cursor(value)
    await pilot.pause()


def assert_grouped(rows: list[CatalogRow]) -> None:
    """Each alias forms one block: its alias row (when it has several variants) first, then only its variants,
    drawn as a tree that ends with └."""
    seen: set[str] = set()
    current: str | None = None
    for index, row in enumerate(rows):
        alias = row.group.alias
        if alias != current:
            assert alias not in seen, f"{alias} split in two blocks"
            seen.add(alias)
            current = alias
            if len(row.group.variants) > 1:
                assert row.entry is None, f"{alias}: its block starts with the alias row"
        if row.entry is not None and row.branch:
            last = index == len(rows) - 1 or rows[index + 1].group.alias != alias
            assert row.branch == ("└" if last else "├")


@pytest.fixture
def scale() -> MemoryBackend:
    return realistic_catalog()


async def test_variants_grouped_under_their_alias_with_the_pick_marked(scale: MemoryBackend, make_app: MakeApp) -> None:
    app = make_app(scale)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        rows = pane_of(app).shown_rows
        assert_grouped(rows)
        aliases = [r.group.alias for r in rows if r.entry is None]
        assert len(aliases) == 30 and aliases == sorted(aliases, key=str.casefold)
        assert "76 models" in text(app, "#catalog-status")
        table = app.query_one(CatalogTable)
        first = rows[1]  # the first alias' first variant: its pick
        assert first.entry is not None and first.entry.selected and first.entry.device == "CPU"
        assert str(table.get_cell(first.key, "model")).startswith(f"├{PICK} ")
        alias_cells = [str(c) for c in table.get_row(group_key(first.group.alias))]
        assert f"({len(first.group.variants)})" in alias_cells[0] and FALLBACK in alias_cells[0]
        assert alias_cells[1].startswith(f"{PICK} CPU")  # the pick's device on the alias row
        others = [r for r in rows if r.entry is not None and not r.entry.selected]
        assert all(PICK not in str(table.get_cell(r.key, "model")) for r in others)

        # Enter on an alias row acts on its pick; l / u then act on the pick too.
        table.move_cursor(row=pane_of(app).shown_rows.index(next(r for r in rows if r.key == group_key(LOADED_ALIAS))))
        await wait_for(pilot, lambda: app.selected_model == PHI_CPU, "the alias row selects its pick")
        detail = text(app, "#catalog-detail-text")
        assert "default here" in detail and PHI_CPU in detail and "Enter: chat with it" in detail


async def test_filter_and_sort_keep_groups_whole(scale: MemoryBackend, make_app: MakeApp) -> None:
    app = make_app(scale)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        pane = pane_of(app)

        await type_filter(pilot, "device:gpu")
        rows = pane.shown_rows
        assert_grouped(rows)
        assert {r.entry.device for r in rows if r.entry is not None} == {"GPU"}
        assert len(pane.shown_ids) == 30 and "30/76 models" in text(app, "#catalog-status")
        await pilot.press("escape")

        await type_filter(pilot, "cached")
        rows = pane.shown_rows
        assert_grouped(rows)
        cached = {r.entry.id for r in rows if r.entry is not None}
        assert PHI_CPU in cached and len(cached) == 1 + len(UPGRADABLE)
        assert {r.group.alias for r in rows} == {LOADED_ALIAS, *UPGRADABLE}
        await pilot.press("escape")

        await type_filter(pilot, "qwen2.5-coder")  # free text: the alias' every variant, under its alias row
        rows = pane.shown_rows
        assert_grouped(rows)
        assert {r.group.alias for r in rows} == {f"qwen2.5-coder-{s}" for s in ("0.5b", "1.5b", "7b", "14b")}
        assert all(r.entry is None or r.entry.alias == r.group.alias for r in rows)
        await pilot.press("escape")

        await pilot.press("s")  # size ↓: aliases by their first variant's size, groups never split
        assert "sort size ↓" in text(app, "#catalog-status")
        rows = pane.shown_rows
        assert_grouped(rows)
        heads = [
            next(r for r in rows if r.group.alias == a and r.entry is not None)
            for a in dict.fromkeys(r.group.alias for r in rows)
        ]
        sizes = [h.entry.size_mb or 0 for h in heads if h.entry is not None]
        assert sizes == sorted(sizes, reverse=True) and rows[0].group.alias == "gpt-oss-20b"
        await pilot.press("s")
        sizes = [r.entry.size_mb or 0 for r in pane.shown_rows if r.entry is not None and r.entry.selected]
        assert sizes == sorted(sizes) and pane.shown_rows[0].group.alias == "whisper-tiny"


async def test_detail_has_every_field_the_reason_and_the_fallback_flag(scale: MemoryBackend, make_app: MakeApp) -> None:
    app = make_app(scale)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        table = app.query_one(CatalogTable)
        table.move_cursor(row=[r.key for r in pane_of(app).shown_rows].index(PHI_CPU))
        await wait_for(pilot, lambda: pane_of(app).selected_id == PHI_CPU, "the loaded model highlighted")
        detail = text(app, "#catalog-detail-text")
        entry = app.snapshot.find(PHI_CPU)
        assert entry is not None
        group = next(g for g in group_by_alias(app.snapshot.all_models()) if g.alias == LOADED_ALIAS)
        reason = pick_reason(group, app.snapshot.execution_providers, register_hint="e: register")
        for expected in (
            "publisher    Microsoft",
            "version      1",
            "max output   16,384 tokens",
            "tool calling yes",
            "capabilities chat,tool-calling",
            "license      MIT",
            "license text Permission is hereby granted",
            "context      128,000 tokens",
            "modalities   text → text",
            f"{PICK} default here",
            "CUDAExecutionProvider",
            f"{FALLBACK}: NPU and GPU variants exist, but the CPU one runs here",
            "EPs here: CPU (built in) · CUDA discoverable (e: register)",
        ):
            assert expected in detail, expected
        assert " ".join(reason.split()) in " ".join(detail.split())
    # A path and an upgrade, in the compact (80-column) form as well.
    old = replace(entry, cached=True, version=2, latest_version=3, path="/models/[b]x[/b]")
    compact = detail_content(old, compact=True, group=group, eps=()).plain
    assert "version 2 (latest 3: upgrade available)" in compact and "path /models/[b]x[/b]" in compact
    assert NO_EPS_TEXT in compact


async def test_upgrade_mark_on_a_cached_older_version(scale: MemoryBackend, make_app: MakeApp) -> None:
    app = make_app(scale)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(CatalogTable)
        old = [m for m in app.snapshot.all_models() if m.alias in UPGRADABLE and m.cached]
        assert len(old) == 2
        for model in old:
            assert model.latest_version is not None
            assert str(table.get_cell(model.id, "cached")).strip() == f"✓ ↑v{model.latest_version}"
        assert str(table.get_cell(PHI_CPU, "cached")).strip() == "✓"


def stored_listing(backend: MemoryBackend, state: CatalogState, reason: str | None = None) -> CatalogListing:
    return CatalogListing(
        tuple(backend.catalog),
        state,
        reason,
        stored_at=time.time() - STORED_AGO_S,
    )


async def test_stored_catalog_while_pending(scale: MemoryBackend, make_app: MakeApp) -> None:
    """While the live fetch is in flight the stored catalog lists, with a muted note of its age; no banner."""
    scale.catalog_gate = gate = threading.Event()
    app = make_app(scale)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.backend is not None, "the first lists")
        pane = pane_of(app)
        pane.post_message(ModelsUpdated(replace(app.snapshot, catalog=stored_listing(scale, "pending"))))
        await wait_for(pilot, lambda: len(pane.shown_ids) == 76, "the stored catalog")
        assert pane.has_class("-loading") and not pane.has_class("-banner")
        note = "fetching the public catalog… showing the one stored 2 h ago"
        assert str(app.query_one("#catalog-loading-text").render()) == note
        assert note in screen_text(pilot)
        assert text(app, "#catalog-empty") == ""
        gate.set()
        await ready(pilot, app)
        assert not pane.has_class("-loading")
        # A pending listing without stored models: today's "fetching…" and never a false "no models".
        pane.post_message(ModelsUpdated(ModelsSnapshot(CatalogListing((), "pending"), backend=app.snapshot.backend)))
        await wait_for(pilot, lambda: not pane.shown_ids, "the empty pending listing")
        assert str(app.query_one("#catalog-loading-text").render()) == "fetching the public catalog…"
        assert text(app, "#catalog-empty") == ""


async def test_stored_catalog_when_unreachable(make_app: MakeApp) -> None:
    backend = realistic_catalog()
    backend.stored, backend.stored_at = list(backend.catalog), time.time() - STORED_AGO_S
    backend.catalog_state, backend.catalog_reason = "unreachable", "cannot reach https://catalog.example [x]"
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None, "the catalog")
        await wait_for(pilot, lambda: len(pane_of(app).shown_ids) == 76, "the stored rows")
        await pilot.pause()
        banner = text(app, "#catalog-banner")
        assert banner == (
            "public catalog unreachable — showing the catalog stored 2 h ago · cannot reach https://catalog.example [x]"
        )
        assert "showing the catalog stored 2 h ago" in screen_text(pilot)
        assert not pane_of(app).has_class("-loading")


async def open_eps_from_palette(pilot: Pilot[Any]) -> ExecutionProvidersScreen:
    app = pilot.app
    await pilot.press("ctrl+p")
    app.screen.query_one(CommandInput).insert_text_at_cursor("Register execution providers")
    await wait_for(pilot, lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ExecutionProvidersScreen), "the EP dialog")
    screen = app.screen
    assert isinstance(screen, ExecutionProvidersScreen)
    return screen


async def test_register_execution_providers_from_the_palette(scale: MemoryBackend, make_app: MakeApp) -> None:
    scale.execution_provider_list = [
        ExecutionProvider("CUDAExecutionProvider", False),
        ExecutionProvider("QNNExecutionProvider", False),
    ]
    scale.ep_fail = {"QNNExecutionProvider"}
    scale.ep_gate = gate = threading.Event()
    app = make_app(scale)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        dialog = await open_eps_from_palette(pilot)
        listed = str(dialog.query_one("#eps-list").render())
        assert "CPUExecutionProvider   built in" in listed
        assert "CUDAExecutionProvider  discoverable — not registered" in listed
        await pilot.press("r")
        await wait_for(pilot, lambda: "25%" in str(dialog.query_one("#eps-list").render()), "CUDA's progress")
        assert "registering…" in str(dialog.query_one("#eps-result").render())
        gate.set()
        result = "✓ registered CUDAExecutionProvider · ✗ failed: QNNExecutionProvider"
        await wait_for(pilot, lambda: str(dialog.query_one("#eps-result").render()) == result, "the outcome")
        listed = str(dialog.query_one("#eps-list").render())
        assert "CUDAExecutionProvider  registered ✓" in listed and "failed to register ✗" in listed
        await pilot.press("escape")
        # The catalog is fetched again: the runtime now picks the GPU variants, and the fallback flags go.
        await wait_for(
            pilot,
            lambda: (f := app.snapshot.find("Phi-4-mini-instruct-cuda-gpu:1")) is not None and f.selected,
            "the new pick",
        )
        await wait_for(pilot, lambda: FALLBACK not in screen_text(pilot), "no CPU fallback")
        assert any("registered CUDAExecutionProvider" in n.message for n in app._notifications)


async def test_no_execution_providers_says_cpu_is_built_in(make_app: MakeApp) -> None:
    app = make_app(realistic_catalog([]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        dialog = await open_eps_from_palette(pilot)
        assert str(dialog.query_one("#eps-list").render()) == NO_EPS_TEXT
        assert dialog.query_one("#eps-register").disabled
        await pilot.press("escape")
        await pilot.press("e")  # the Catalog's key opens the same dialog
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionProvidersScreen), "the EP dialog via e")
        assert NO_EPS_TEXT in screen_text(pilot)


async def test_monitor_shows_device_ep_and_the_cpu_fallback(make_app: MakeApp) -> None:
    backend = realistic_catalog()
    backend.loaded.clear()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        app.post_message(LoadRequested(PHI_CPU))
        await wait_for(pilot, lambda: PHI_CPU in backend.loaded, "the load")
        await pilot.press("4")
        monitor = app.query_one(MonitorPane)
        await wait_for(pilot, lambda: monitor.highlighted_model == PHI_CPU, "the model in the Monitor")
        await wait_for(pilot, lambda: f"CPU {FALLBACK}" in screen_text(pilot), "device · EP and the flag")


def test_runs_on_names_the_device_and_ep() -> None:
    from foundry_tui.tui.widgets.monitor_tables import runs_on

    gpu = ModelEntry("m-cuda-gpu:1", "m", "public", device="GPU", execution_provider="CUDAExecutionProvider")
    cpu = ModelEntry("m-generic-cpu:1", "m", "public", device="CPU", execution_provider="CPUExecutionProvider")
    assert runs_on(gpu, [gpu, cpu]) == "GPU/CUDA"
    assert runs_on(cpu, [gpu, cpu]) == f"CPU {FALLBACK}"
    assert runs_on(cpu, [cpu]) == "CPU"
    assert runs_on(ModelEntry("local:1", "local", "local"), []) == ""


def test_connecting_download_shows_no_rate() -> None:
    cells = job_cells(DownloadJob("m:1", "running", 0.0, 100, None, None), 10)
    assert cells.progress.plain.strip() == CONNECTING
    assert cells.speed.plain == "–" and cells.eta.plain == "–"
    moving = job_cells(DownloadJob("m:1", "running", 40.0, 100, 12.5, 8.0), 10)
    assert "40%" in moving.progress.plain and moving.speed.plain != "–"


async def test_downloads_view_says_connecting(scale: MemoryBackend, make_app: MakeApp) -> None:
    scale.download_gate = gate = threading.Event()  # holds the download after its first (0 %) progress
    app = make_app(scale)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(CatalogTable)
        gpu = "Phi-4-mini-instruct-cuda-gpu:1"
        table.move_cursor(row=[r.key for r in pane_of(app).shown_rows].index(gpu))
        await wait_for(pilot, lambda: pane_of(app).selected_id == gpu, "the GPU variant")
        await pilot.press("enter")
        await wait_for(pilot, lambda: CONNECTING in screen_text(pilot), "connecting…")
        await pilot.press("k")  # cancel works while connecting
        gate.set()
        await wait_for(pilot, lambda: "cancelled" in screen_text(pilot), "the cancel")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_catalog_at_scale_snapshot(size: tuple[int, int], snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app(realistic_catalog())

    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot, app)
        table = app.query_one(CatalogTable)
        row = [r.key for r in pane_of(app).shown_rows].index(PHI_CPU)
        table.move_cursor(row=row, scroll=True)
        await wait_for(pilot, lambda: pane_of(app).selected_id == PHI_CPU, "the loaded model")
        # The details column fills in after the selection and may change the table's height: scroll again once
        # the layout has settled, or the rows shown depend on which came first.
        await pilot.pause()
        table.scroll_to(y=max(row - table.scrollable_content_region.height // 2, 0), animate=False, immediate=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)

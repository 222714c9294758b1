"""The Cache & Downloads pane driven by Pilot: the real runtime (tiny models) and the fake Foundry service."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Static

from foundry_tui.backends.base import BackendInfo
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.backends.openai_compat import EndpointBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend, entry
from foundry_tui.devtools.sse_server import FakeOpenAIServer
from foundry_tui.devtools.tiny_model import build_tiny_model
from foundry_tui.engine import units
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.models import ModelEntry
from foundry_tui.engine.registration import suggest_model_id
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import DownloadRequested
from foundry_tui.tui.panes.cache import CachePane
from foundry_tui.tui.screens.confirm import ConfirmScreen
from foundry_tui.tui.widgets.cached_models import cache_summary, disk_groups, home_short, kind_of, known_dirs
from foundry_tui.tui.widgets.downloads_view import failure_reason, progress_bar
from tests.conftest import ENDLESS_ID, TINY_ID
from tests.tui.conftest import REMOTE, MakeApp
from tests.tui.helpers import run_on_tab, settle, wait_for

CACHED_A = "phi-3.5-mini-instruct-generic-cpu:1"
CACHED_B = "qwen2.5-0.5b-instruct-generic-cpu:4"
NEW_A = "mistral-7b-v0.2-generic-cpu:2"
NEW_B = "deepseek-r1-distill-qwen-1.5b-generic-cpu:3"


# -- helpers ------------------------------------------------------------------------------------------------------


def run_app(app: FoundryTuiApp, body: Callable[[FoundryTuiApp, Pilot[None]], Awaitable[None]]) -> None:
    """On the Cache tab; switching to it puts the focus in the pane, so its keys work at once."""

    async def then_quiet(pilot: Pilot[None]) -> None:
        await body(app, pilot)
        await quiet(app, pilot)

    run_on_tab(app, "2", lambda: cached_table(app).has_focus and app.snapshot.backend is not None, then_quiet)


async def quiet(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
    """No download in flight and no worker running: quitting now cannot race a late message."""
    jobs = app.session.downloads.jobs
    await wait_for(pilot, lambda: all(j.state not in ("queued", "running") for j in jobs()), "the downloads")
    await settle(pilot)


def download(app: FoundryTuiApp, model: str) -> None:
    app.post_message(DownloadRequested(model))


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
    assert units.eta(None) == "–"
    assert units.eta(7.4) == "00:07"
    assert units.eta(125) == "02:05"
    assert units.eta(3 * 3600 + 61) == "3:01:01"
    assert units.speed(None) == "–"
    assert units.speed(12.345) == "12.3 MB/s"
    assert units.speed(250.0) == "250 MB/s"
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


HOME = "/home/ada"
IMPORT_DIR = f"{HOME}/.local/share/foundry-tui/models"
CACHE_DIR = f"{HOME}/.local/share/foundry-tui/foundry/cache/models"
DIRS = {"cache_dir": CACHE_DIR, "import_dir": IMPORT_DIR, "logs_dir": f"{HOME}/logs"}


def on_disk(model_id: str, source: str, size_mb: int | None, path: str | None = None) -> ModelEntry:
    return ModelEntry(id=model_id, alias=model_id.split(":")[0], source=source, size_mb=size_mb, path=path)  # type: ignore[arg-type]


def test_the_header_names_every_directory_that_holds_models_with_its_size() -> None:
    rows = [
        on_disk("smollm2:1", "local", 258, f"{IMPORT_DIR}/smollm2-135m-instruct-int8"),
        on_disk("phi:1", "public", 1024, f"{CACHE_DIR}/Microsoft/phi-1"),
        on_disk("qwen:1", "public", None),  # cached, no path reported: in the runtime's cache
        on_disk("mine:1", "local", 200, "/data/models/mine"),
    ]
    assert cache_summary(rows, DIRS, home=HOME).splitlines() == [
        "4 models · 1.45 GB on disk (+1 of unknown size)",
        "  imported      258 MB  ~/.local/share/foundry-tui/models",
        "  cache       ≥1.00 GB  ~/.local/share/foundry-tui/foundry/cache/models",  # ≥: one size is unknown
        "  registered    200 MB  /data/models",
    ]
    # The known directories are named even when empty: where the next download or import goes.
    assert cache_summary([], DIRS, home=HOME).splitlines()[1:] == [
        "  imported        0 MB  ~/.local/share/foundry-tui/models",
        "  cache           0 MB  ~/.local/share/foundry-tui/foundry/cache/models",
    ]
    assert kind_of(rows[0], known_dirs(DIRS)) == "imported" and kind_of(rows[3], known_dirs(DIRS)) == "registered"


def test_many_other_directories_fold_into_one_line() -> None:
    rows = [on_disk(f"m{i}:1", "local", 10 * (i + 1), f"/d{i}/m{i}") for i in range(5)]
    groups = disk_groups(rows, {"cache_dir": CACHE_DIR})
    assert [(g.label, g.directory, g.size_mb, g.count) for g in groups] == [
        ("cache", CACHE_DIR, 0.0, 0),
        ("registered", "/d4", 50.0, 1),
        ("registered", "/d3", 40.0, 1),
        ("elsewhere", "3 more directories", 60.0, 3),
    ]
    assert home_short(f"{HOME}/x", HOME) == "~/x" and home_short(f"{HOME}x/y", HOME) == f"{HOME}x/y"


def test_an_endpoint_keeps_the_one_line_summary() -> None:
    rows = [on_disk("a:1", "endpoint", 1024, "azureml://registries/x"), on_disk("b:1", "endpoint", 200)]
    assert cache_summary(rows, {"routes": "/openai/*"}) == "2 models · 1.20 GB (the endpoint's service keeps the files)"
    assert cache_summary([], {}).startswith("No models on disk yet")


# -- the fake Foundry service -------------------------------------------------------------------------------------


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=[CACHED_A, CACHED_B, NEW_A, NEW_B], foundry_routes="openai") as server:
        server.cached = [CACHED_A, CACHED_B]  # NEW_A / NEW_B are in the catalog only
        server.loaded = [CACHED_B]
        yield server


class StableLabelBackend(EndpointBackend):
    """The endpoint backend with a label that does not carry the server's ephemeral port (for snapshots)."""

    def info(self) -> BackendInfo:
        return replace(super().info(), label="Foundry Local service (fake)")


@pytest.fixture
def endpoint(srv: FakeOpenAIServer, tmp_path: Path, make_app: MakeApp) -> Iterator[FoundryTuiApp]:
    settings = Settings(endpoint=srv.url, data_dir=tmp_path)
    backend = StableLabelBackend(settings)
    yield make_app(backend, settings=settings)
    backend.close()


def test_download_shows_progress_then_done_and_lands_in_the_cache(
    srv: FakeOpenAIServer, endpoint: FoundryTuiApp
) -> None:
    srv.download_duration_s = 0.6
    srv.download_steps = 6
    seen: list[str] = []

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None, "the catalog")
        download(app, NEW_A)
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

    run_app(endpoint, body)


def test_failed_download_shows_the_reason_literally_and_retry_works(
    srv: FakeOpenAIServer, endpoint: FoundryTuiApp
) -> None:
    srv.download_error = "disk full [bold]not markup[/bold]"

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None, "the catalog")
        download(app, NEW_A)
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

    run_app(endpoint, body)


def test_queued_downloads_in_order_escape_cancels_queued_k_cancels_running(
    srv: FakeOpenAIServer, endpoint: FoundryTuiApp
) -> None:
    srv.download_duration_s = 5.0
    srv.download_steps = 50

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.snapshot.catalog is not None, "the catalog")
        download(app, NEW_A)
        download(app, NEW_B)
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

    run_app(endpoint, body)


def test_the_services_cache_selection_and_what_it_refuses(endpoint: FoundryTuiApp, tmp_path: Path) -> None:
    """An endpoint lists its cache; copying the path, removing and registering are refused, each said inline."""
    model_dir = build_tiny_model(tmp_path / "phi-mini")

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        table = cached_table(app)
        await wait_for(pilot, lambda: row_ids(table) == [CACHED_A, CACHED_B], "the service's cache")
        assert cell(table, CACHED_B, "loaded") == "✓"
        assert cell(table, CACHED_A, "loaded") == ""
        assert cell(table, CACHED_A, "size") == "1 MB"  # fileSizeMb from the service's catalog
        assert text_of(app, "#cache-summary").startswith("2 models · 2 MB")
        assert "No downloads" in str(app.query_one("#downloads-empty", Static).render())
        await wait_for(pilot, lambda: app.selected_model == CACHED_A, "the selection")  # the focused table's row
        await pilot.press("down")
        assert app.selected_model == CACHED_B
        await pilot.press("c")  # an endpoint exposes no local cache directory: a warning, nothing copied
        assert app.clipboard == ""

        await pilot.press("up", "x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        message = str(app.screen.query_one("#confirm-message", Static).render())
        assert CACHED_A in message and "deleted from disk" in message
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert text_of(app, "#cache-error") == ""
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "not supported" in text_of(app, "#cache-error"), "the refusal")
        assert row_ids(table) == [CACHED_A, CACHED_B]

        await pilot.press("n")  # focus the register form
        await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "reg-path")
        app.query_one("#reg-path", Input).insert_text_at_cursor(str(model_dir))  # pasted
        placeholder = app.query_one("#reg-id", Input)
        await wait_for(pilot, lambda: "phi-mini-generic-cpu:1" in placeholder.placeholder, "the suggested id")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "not supported by an endpoint" in text_of(app, "#reg-error"), "the refusal")
        assert not app.query_one("#reg-submit", Button).disabled

    run_app(endpoint, body)


# -- the real in-process runtime -------------------------------------------------------------------------------------


@pytest.mark.runtime
def test_cached_list_shows_the_registered_tiny_models(runtime: FoundryBackend, make_app: MakeApp) -> None:
    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        table = cached_table(app)
        await wait_for(pilot, lambda: {TINY_ID, ENDLESS_ID} <= set(row_ids(table)))
        assert cell(table, TINY_ID, "kind") == "registered"
        assert cell(table, TINY_ID, "size").endswith("MB")
        details = runtime.info().details
        tiny_dir = runtime.resolve(TINY_ID).path
        assert tiny_dir is not None
        # The header names the model cache, the import dir and the dir that holds the registered tiny models.
        await wait_for(pilot, lambda: details["cache_dir"] in text_of(app, "#cache-summary"))
        header = text_of(app, "#cache-summary")
        lines = header.splitlines()[1:]
        assert any(line.split()[0] == "imported" and line.endswith(details["import_dir"]) for line in lines)
        assert any(line.split()[0] == "cache" and line.endswith(details["cache_dir"]) for line in lines)
        assert any(line.split()[0] == "registered" and line.endswith(str(Path(tiny_dir).parent)) for line in lines)
        # `c` copies where the selected model's files are: a registered model's own directory.
        table.focus()
        table.move_cursor(row=row_ids(table).index(TINY_ID))
        await pilot.press("c")
        assert app.clipboard == tiny_dir
        # Removing a registered model is an unregister, and the dialog says the files stay.
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        message = str(app.screen.query_one("#confirm-message", Static).render())
        assert f"Unregister {TINY_ID}" in message and "files stay" in message
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert TINY_ID in {m.id for m in runtime.list_local()}

    run_app(make_app(runtime), body)


def test_register_form_validates_inline_then_registers_and_unregisters(
    memory: MemoryBackend, make_app: MakeApp, tmp_path: Path
) -> None:
    runtime = memory  # the in-memory backend checks directories and ids like the runtime does
    taken = build_tiny_model(tmp_path / "taken")
    runtime.register_model(str(taken), TINY_ID)
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

        pane(app).action_focus_register()
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

    run_app(make_app(), body)


def test_the_register_form_validates_as_you_type(memory: MemoryBackend, make_app: MakeApp, tmp_path: Path) -> None:
    model_dir = build_tiny_model(tmp_path / "typed")
    memory.register_model(str(build_tiny_model(tmp_path / "other")), "taken-generic-cpu:1")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        path = app.query_one("#reg-path", Input)
        model_id = app.query_one("#reg-id", Input)
        submit = app.query_one("#reg-submit", Button)
        assert submit.disabled and text_of(app, "#reg-error") == ""  # nothing typed: nothing to complain about
        pane(app).action_focus_register()
        await wait_for(pilot, lambda: app.focused is path, "the path field")

        path.insert_text_at_cursor(str(tmp_path / "t"))  # half a path: pasted, then typed
        await pilot.press("y", "p")
        assert "does not exist" in text_of(app, "#reg-error") and submit.disabled
        await pilot.press("enter")  # refused: nothing is sent
        assert not any(call.startswith("register") for call in memory.calls[1:])
        await pilot.press("e", "d")
        await wait_for(pilot, lambda: text_of(app, "#reg-error") == "", "the error to clear")
        assert not submit.disabled
        assert "typed-generic-cpu:1" in model_id.placeholder

        path.value = str(empty_dir)  # pasted
        await wait_for(pilot, lambda: "no genai_config.json" in text_of(app, "#reg-error"), "the directory check")
        assert str(empty_dir) in text_of(app, "#reg-error") and submit.disabled
        path.value = str(model_dir)
        await wait_for(pilot, lambda: not submit.disabled, "a valid directory")

        model_id.focus()
        await pilot.press(*"bad id")
        assert "NAME:VERSION" in text_of(app, "#reg-error") and submit.disabled
        model_id.value = "taken-generic-cpu:1"  # already registered: said before Enter
        await wait_for(pilot, lambda: "already registered" in text_of(app, "#reg-error"), "the taken id")
        assert submit.disabled
        await pilot.press("enter")
        assert app.focused is model_id and "already registered" in text_of(app, "#reg-error")

        # Esc is not the pane's here: the app's Esc leaves the input for the models table.
        await pilot.press("escape")
        assert app.focused is cached_table(app)

    run_app(make_app(), body)


def test_escape_cancels_only_a_download_in_the_focused_table(memory: MemoryBackend, make_app: MakeApp) -> None:
    memory.download_gate = threading.Event()  # the download stays running until cancelled

    async def body(app: FoundryTuiApp, pilot: Pilot[None]) -> None:
        download(app, REMOTE)
        await wait_for(pilot, lambda: job_state(app, REMOTE) == "running", "the download")
        cached_table(app).focus()
        await pilot.press("escape")  # the models table has the keyboard: Esc does not touch the download
        await pilot.pause()
        assert job_state(app, REMOTE) == "running"
        downloads_table(app).focus()
        await pilot.press("escape")
        await wait_for(pilot, lambda: job_state(app, REMOTE) == "cancelled", "the cancel")

    run_app(make_app(), body)


# -- snapshots ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_cache_pane_snapshot(
    snap_compare: Any, srv: FakeOpenAIServer, endpoint: FoundryTuiApp, size: tuple[int, int]
) -> None:
    app = endpoint
    srv.download_duration_s = 0.05

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.snapshot.catalog is not None, "the catalog")
        download(app, NEW_A)
        await wait_for(pilot, lambda: job_state(app, NEW_A) == "done")
        srv.download_error = "not enough disk space for model.onnx"
        download(app, NEW_B)
        await wait_for(pilot, lambda: job_state(app, NEW_B) == "failed")
        await wait_for(pilot, lambda: NEW_A in row_ids(cached_table(app)))
        await quiet(app, pilot)
        cached_table(app).focus()
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


class DirsBackend(MemoryBackend):
    """The in-memory backend with the in-process runtime's two directories (the model cache and the import dir)."""

    def info(self) -> BackendInfo:
        return replace(super().info(), details=dict(DIRS))


def local_disk_backend() -> MemoryBackend:
    backend = DirsBackend(
        catalog=[
            entry("qwen2.5-0.5b-instruct-generic-cpu:4", size_mb=822),
            entry("phi-4-mini-instruct-generic-cpu:1", size_mb=4915),
        ],
        cached={"qwen2.5-0.5b-instruct-generic-cpu:4"},
        loaded={"smollm2-135m-instruct-int8-generic-cpu:1"},
        cache_dir=CACHE_DIR,
        label="memory backend (test)",
    )
    imported = "smollm2-135m-instruct-int8-generic-cpu:1"
    mine = "my-finetuned-llama-3.2-1b-instruct-generic-cpu:2"
    backend.local[imported] = entry(
        imported, source="local", path=f"{IMPORT_DIR}/smollm2-135m-instruct-int8", size_mb=258
    )
    backend.local[mine] = entry(mine, source="local", path="/srv/models/my-finetuned-llama", size_mb=2470)
    return backend


@pytest.mark.parametrize("scene", ["rest", "register", "confirm"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_cache_pane_local_snapshot(
    snap_compare: Any, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], scene: str
) -> None:
    """The in-process layout: the header names the import dir, the cache and a registered model's dir (with ~);
    `register`: a path typed into the form that does not exist, said at once; `confirm`: the dialog before an
    imported model is unregistered."""
    monkeypatch.setenv("HOME", HOME)
    app = make_app(local_disk_backend())

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("2")
        await wait_for(pilot, lambda: len(row_ids(cached_table(app))) == 3, "the models on disk")
        if scene == "register":
            pane(app).action_focus_register()
            path = app.query_one("#reg-path", Input)
            await wait_for(pilot, lambda: app.focused is path, "the path field")
            path.insert_text_at_cursor(f"{HOME}/models/phi-mi")  # pasted, then typed
            await pilot.press("n", "i")
            await wait_for(pilot, lambda: "does not exist" in text_of(app, "#reg-error"), "the live error")
        if scene == "confirm":
            table = cached_table(app)
            table.move_cursor(row=row_ids(table).index("smollm2-135m-instruct-int8-generic-cpu:1"))
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)

"""The App: panes, strip, bindings, command palette, and the workers that call the backend.

Every backend call runs in a thread worker; results come back as typed messages or `call_from_thread`, so the UI
thread only renders.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterable

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from foundry_tui import paths
from foundry_tui.backends import open_backend
from foundry_tui.backends.base import Backend, CatalogListing, ModelEntry
from foundry_tui.config import Settings
from foundry_tui.engine.downloads import DownloadJob, DownloadQueue
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.errors import FoundryTuiError, NotSupportedError
from foundry_tui.text import safe_line
from foundry_tui.tui.fit_notice import warn_if_unfit
from foundry_tui.tui.messages import (
    BackendStateChanged,
    DownloadsChanged,
    ModelLoaded,
    ModelSelected,
    ModelsUpdated,
    ModelUnloaded,
    StreamStats,
)
from foundry_tui.tui.panes.bench import BenchPane
from foundry_tui.tui.panes.cache import CachePane
from foundry_tui.tui.panes.catalog import CatalogPane
from foundry_tui.tui.panes.chat import ChatPane
from foundry_tui.tui.panes.monitor import MonitorPane
from foundry_tui.tui.state import ModelsSnapshot
from foundry_tui.tui.widgets.memory_strip import MemoryStrip

TABS = ("catalog", "cache", "chat", "monitor", "bench")
KEEP_S = 3600.0  # the Monitor pane's "all": the last hour at 4 Hz


class FoundryTuiApp(App[None]):
    TITLE = "foundry-tui"
    CSS_PATH = str(paths.styles_dir() / "app.tcss")
    BINDINGS = [
        Binding("1", "show_tab('catalog')", "Catalog", show=False),
        Binding("2", "show_tab('cache')", "Cache", show=False),
        Binding("3", "show_tab('chat')", "Chat", show=False),
        Binding("4", "show_tab('monitor')", "Monitor", show=False),
        Binding("5", "show_tab('bench')", "Benchmark", show=False),
        Binding("l", "load_selected", "Load"),
        Binding("i", "import_model", "Import"),
        Binding("u", "unload_selected", "Unload"),
        Binding("question_mark", "toggle_help", "Help", key_display="?"),
        Binding("f1", "toggle_help", "Help", show=False),  # works while typing in an input, where ? is text
        Binding("q", "quit", "Quit"),
    ]

    selected_model: reactive[str | None] = reactive(None)
    backend_state: reactive[str] = reactive("starting")

    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend | None = None,
        backend_factory: Callable[[Settings], Backend] = open_backend,
        sampler: MemorySampler | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.backend: Backend | None = backend
        self._owns_backend = backend is None
        self._backend_factory = backend_factory
        self.sampler = sampler or MemorySampler(keep_s=KEEP_S)
        if sampler is None:
            self.sampler.watch_server(endpoint=settings.endpoint)  # the model lives in the endpoint's server
        self.snapshot = ModelsSnapshot()
        self.lifecycle: ModelLifecycle | None = None
        self.downloads: DownloadQueue | None = None
        self._backend_label = "Foundry Local (in-process)" if not settings.endpoint else settings.endpoint
        self._switch_interval = sys.getswitchinterval()
        self._selections: dict[str, str | None] = {}
        self._downloads_done: set[str] = set()

    @property
    def main_screen(self) -> Screen:  # type: ignore[type-arg]
        """The screen holding the panes. `App.query` searches the *active* screen, which is a modal while a
        dialog, the help or the command palette is open. Before start-up and after shut-down there is none:
        queries then find nothing (NoMatches), which the message handlers below ignore."""
        return self.screen_stack[0] if self.screen_stack else Screen()

    def _strip(self) -> MemoryStrip | None:
        strips = self.main_screen.query(MemoryStrip)
        return strips.first() if strips else None

    # -- layout --------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with TabbedContent(initial="catalog", id="tabs"):
            with TabPane("Catalog", id="catalog"):
                yield CatalogPane(classes="pane")
            with TabPane("Cache & Downloads", id="cache"):
                yield CachePane(classes="pane")
            with TabPane("Chat", id="chat"):
                yield ChatPane(classes="pane")
            with TabPane("Monitor", id="monitor"):
                yield MonitorPane(classes="pane")
            with TabPane("Benchmark", id="bench"):
                yield BenchPane(classes="pane")
        yield MemoryStrip(self.sampler)
        yield Footer()

    def on_mount(self) -> None:
        # Token stamps are taken on worker threads. With the default 5 ms GIL switch interval a busy UI thread
        # delays each stamp by up to 5 ms; 0.5 ms keeps the measurement honest at a small CPU cost.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self.sampler.start()
        self._update_subtitle()
        self.open_backend()

    def on_ready(self) -> None:
        # Everything built so far (Textual, the SDK, the openai client) lives for the whole session. Freezing it
        # keeps full collections from re-scanning it: measured here, they paused the UI for up to 200 ms.
        gc.freeze()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        self.sampler.stop()
        if self.downloads is not None:
            self.downloads.close()
        if self._owns_backend and self.backend is not None:
            self.backend.close()

    # -- backend and models --------------------------------------------------------------------------------

    @work(thread=True, group="backend", exit_on_error=False)
    def open_backend(self) -> None:
        try:
            backend = self.backend or self._backend_factory(self.settings)
        except FoundryTuiError as exc:
            self.post_message(BackendStateChanged("failed", str(exc)))
            return
        except Exception as exc:  # an SDK surprise: show it, do not crash the UI
            self.post_message(BackendStateChanged("failed", f"{type(exc).__name__}: {exc}"))
            return
        self.backend = backend
        self.lifecycle = ModelLifecycle(backend, self.sampler)
        self.downloads = DownloadQueue(backend, self._downloads_changed, on_event=self.sampler.mark)
        info = backend.info()
        self._backend_label = info.label
        self.post_message(BackendStateChanged("ready"))
        self._refresh(catalog=True)

    def _downloads_changed(self, jobs: list[DownloadJob]) -> None:
        self.post_message(DownloadsChanged(jobs))

    def on_backend_state_changed(self, message: BackendStateChanged) -> None:
        self.backend_state = message.state
        if message.state == "failed":
            self.notify(
                safe_line(message.detail), title="Runtime failed to start", severity="error", markup=False, timeout=30
            )
        self._update_subtitle()

    def request_refresh(self, *, catalog: bool = False) -> None:
        self.refresh_models(catalog)

    @work(thread=True, group="refresh", exit_on_error=False)
    def refresh_models(self, catalog: bool) -> None:
        self._refresh(catalog=catalog, refetch=catalog)

    def _refresh(self, *, catalog: bool, refetch: bool = False) -> None:
        """Post the fast lists at once, then the catalog (which can take seconds offline)."""
        backend = self.backend
        if backend is None:
            return
        try:
            local = tuple(backend.list_local())
            cached = self._optional(backend.list_cached)
            loaded = self._optional(backend.list_loaded)
        except FoundryTuiError as exc:
            self.call_from_thread(self._error, "Listing models failed", str(exc))
            return
        snapshot = ModelsSnapshot(self.snapshot.catalog, local, cached, loaded)
        self.call_from_thread(self._set_snapshot, snapshot)
        if catalog:
            try:
                listing = backend.list_catalog(refresh=refetch)
            except FoundryTuiError as exc:
                listing = CatalogListing((), "unreachable", str(exc))
            self.call_from_thread(
                self._set_snapshot,
                ModelsSnapshot(listing, self.snapshot.local, self.snapshot.cached, self.snapshot.loaded),
            )

    @staticmethod
    def _optional(fn: Callable[[], list[ModelEntry]]) -> tuple[ModelEntry, ...] | None:
        """A listing the backend may not support (a plain endpoint has no cache): None instead of an error."""
        try:
            return tuple(fn())
        except NotSupportedError:
            return None

    def _set_snapshot(self, snapshot: ModelsSnapshot) -> None:
        self.snapshot = snapshot
        for pane in self.main_screen.query(".pane"):
            pane.post_message(ModelsUpdated(snapshot))
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        loaded = ", ".join(m.id for m in self.snapshot.loaded or ()) or "none"
        state = {"starting": "starting…", "ready": "ready", "failed": "runtime failed"}.get(self.backend_state, "")
        self.sub_title = f"{self._backend_label} · {state} · loaded: {loaded}"

    def _error(self, title: str, detail: str) -> None:
        self.notify(safe_line(detail), title=title, severity="error", markup=False, timeout=10)

    # -- actions on models (any pane) ----------------------------------------------------------------------

    def on_model_selected(self, message: ModelSelected) -> None:
        # Each tab keeps its own selection: `l`/`u` act on the model highlighted in the tab you are looking at,
        # not on whichever pane happened to re-render last.
        tab = self._tab_of(getattr(message, "_sender", None))
        if tab is not None:
            self._selections[tab] = message.model_id
        self._sync_selected()

    def _tab_of(self, widget: object) -> str | None:
        node = widget if isinstance(widget, DOMNode) else None
        while node is not None:
            if isinstance(node, TabPane):
                return node.id
            node = node.parent
        return None

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._sync_selected()

    def _sync_selected(self) -> None:
        for tabs in self.main_screen.query("#tabs").results(TabbedContent):
            self.selected_model = self._selections.get(tabs.active)

    def action_load_selected(self) -> None:
        if self.selected_model:
            self.request_load(self.selected_model)
        else:
            self.notify("Select a model first (Catalog, Cache or Chat).", severity="warning")

    def action_unload_selected(self) -> None:
        if self.selected_model:
            self.request_unload(self.selected_model)
        else:
            self.notify("Select a model first (Catalog, Cache or Chat).", severity="warning")

    @work(thread=True, group="lifecycle", exit_on_error=False)
    def request_load(self, model_id: str) -> None:
        if self.lifecycle is None:
            return
        warn_if_unfit(self, model_id, "load")
        self.call_from_thread(self.notify, f"Loading {model_id}…", markup=False, timeout=3)
        try:
            _, report = self.lifecycle.load(model_id)
        except FoundryTuiError as exc:
            self.call_from_thread(self._error, "Load failed", str(exc))
            return
        self.post_message(ModelLoaded(report))
        self._refresh(catalog=False)

    @work(thread=True, group="lifecycle", exit_on_error=False)
    def request_unload(self, model_id: str) -> None:
        if self.lifecycle is None:
            return
        entry = self.snapshot.find(model_id)
        try:
            report = self.lifecycle.unload(entry.id if entry else model_id)
        except FoundryTuiError as exc:
            self.call_from_thread(self._error, "Unload failed", str(exc))
            return
        self.post_message(ModelUnloaded(report))
        self._refresh(catalog=False)

    def on_model_loaded(self, message: ModelLoaded) -> None:
        report = message.report
        if (strip := self._strip()) is not None:
            strip.show_load(report)
        self.notify(f"Loaded {report.model} in {report.load_s:.2f} s", markup=False, timeout=4)

    def on_model_unloaded(self, message: ModelUnloaded) -> None:
        if (strip := self._strip()) is not None:
            strip.show_unload(message.report)
        self.notify(f"Unloaded {message.report.model}", markup=False, timeout=4)

    def request_download(self, model_id: str) -> None:
        if self.downloads is None:
            self.notify("The runtime is not ready yet.", severity="warning")
            return
        warn_if_unfit(self, model_id, "download")
        self.downloads.enqueue(model_id)
        self.action_show_tab("cache")

    def on_downloads_changed(self, message: DownloadsChanged) -> None:
        for pane in self.main_screen.query(CachePane):  # none while the app shuts down
            pane.post_message(DownloadsChanged(message.jobs))
        done = {job.model for job in message.jobs if job.state == "done"}
        if done - self._downloads_done:  # a download just finished: the cache changed
            self.request_refresh()
        self._downloads_done = done

    def on_stream_stats(self, message: StreamStats) -> None:
        if (strip := self._strip()) is not None:
            strip.show_stream(message.rate_tps, message.ttft_ms, message.streaming)

    # -- navigation and help -------------------------------------------------------------------------------

    def action_import_model(self, demo: bool = False) -> None:
        from foundry_tui.tui.screens.import_model import ImportScreen

        self.push_screen(ImportScreen(demo=demo))

    def action_show_tab(self, tab: str) -> None:
        self.main_screen.query_one("#tabs", TabbedContent).active = tab

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:  # type: ignore[type-arg]
        yield from super().get_system_commands(screen)
        yield SystemCommand("Show catalog", "Browse and filter models", lambda: self.action_show_tab("catalog"))
        yield SystemCommand(
            "Show cache & downloads", "Cached models, downloads, register a dir", lambda: self.action_show_tab("cache")
        )
        yield SystemCommand("Show chat", "Probe chat with a model", lambda: self.action_show_tab("chat"))
        yield SystemCommand(
            "Import model…", "Convert a GGUF file or Hugging Face dir and register it", self.action_import_model
        )
        yield SystemCommand(
            "Import the demo model", "SmolLM2 135M Instruct (int8), offline", lambda: self.action_import_model(True)
        )
        yield SystemCommand(
            "Show benchmark", "Run models × prompts × rounds live; past runs", lambda: self.action_show_tab("bench")
        )
        yield SystemCommand(
            "Show monitor", "Memory timelines, markers, per-model report", lambda: self.action_show_tab("monitor")
        )
        yield SystemCommand(
            "Refresh catalog", "Fetch the model catalog again", lambda: self.request_refresh(catalog=True)
        )
        yield SystemCommand(
            "Register model directory…",
            "Add a local ONNX Runtime GenAI model",
            self.main_screen.query_one(CachePane).focus_register,
        )
        yield SystemCommand("Clear chat", "Forget the conversation", self.main_screen.query_one(ChatPane).clear_chat)
        for model in self.snapshot.all_models():
            name = model.id
            if model.loaded:
                yield SystemCommand(f"Unload {name}", "Free its memory", lambda n=name: self.request_unload(n))
            elif model.cached:
                yield SystemCommand(f"Load {name}", "Load into memory", lambda n=name: self.request_load(n))
            else:
                yield SystemCommand(
                    f"Download {name}", "Add to the download queue", lambda n=name: self.request_download(n)
                )
        for model in self.snapshot.chat_models():
            yield SystemCommand(
                f"Chat with {model.id}",
                "Switch the chat model",
                lambda n=model.id: self.main_screen.query_one(ChatPane).use_model(n),
            )


__all__ = ["TABS", "FoundryTuiApp"]

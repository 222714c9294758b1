"""The App: layout, keys, navigation, help and the command palette. It owns the engine session and every worker.

The panes only render and post intents; `tui.routes` and `tui.bench_routes` (mixed in here) answer each intent
through the session on a worker thread and post the result to the pane that shows it. The UI thread only renders.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane, Tabs

from foundry_tui import paths
from foundry_tui.backends.base import Backend
from foundry_tui.config import Settings
from foundry_tui.engine import units
from foundry_tui.engine.models import ModelsSnapshot
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.engine.prompts import shipped_prompt_sets
from foundry_tui.engine.session import Session, watched_sampler
from foundry_tui.text import middle_ellipsis
from foundry_tui.tui.bench_routes import BenchRoutes, BenchRun
from foundry_tui.tui.messages import (
    DownloadRequested,
    LoadRequested,
    OpenChatRequested,
    RefreshRequested,
    UnloadRequested,
)
from foundry_tui.tui.panes.base import Pane, is_text_input
from foundry_tui.tui.panes.bench import BenchPane
from foundry_tui.tui.panes.cache import CachePane
from foundry_tui.tui.panes.catalog import CatalogPane
from foundry_tui.tui.panes.chat import ChatDefaults, ChatPane
from foundry_tui.tui.panes.monitor import MonitorPane
from foundry_tui.tui.routes import ChatRun
from foundry_tui.tui.widgets.app_tabs import AppTabs
from foundry_tui.tui.widgets.memory_strip import MemoryStrip

TABS = ("catalog", "cache", "chat", "monitor", "bench")
WIDE_TITLE_AT = 120  # columns from which the title names the backend and every loaded model in full
KEEP_S = 3600.0  # the Monitor pane's "all": the last hour at 4 Hz
FOCUS_TRIES = 10  # refreshes a chosen tab may take to become the shown one at start-up


class FoundryTuiApp(BenchRoutes, App[None]):
    TITLE = "foundry-tui"
    CSS_PATH = str(paths.styles_dir() / "app.tcss")
    BINDINGS = [
        Binding("1", "show_tab('catalog')", "Catalog", show=False),
        Binding("2", "show_tab('cache')", "Cache", show=False),
        Binding("3", "show_tab('chat')", "Chat", show=False),
        Binding("4", "show_tab('monitor')", "Monitor", show=False),
        Binding("5", "show_tab('bench')", "Benchmark", show=False),
        # The same from anywhere, text inputs included (there a plain digit is text): F2–F6 reach every terminal
        # (in tmux alt+4 arrives as "¢"); alt+1…5 where the terminal sends alt as a prefix.
        *(
            Binding(f"alt+{n},f{n + 1}", f"show_tab('{tab}')", tab.title(), show=False, priority=True)
            for n, tab in enumerate(TABS, start=1)
        ),
        Binding("escape", "leave_input", "Leave input", show=False),
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
        sampler: MemorySampler | None = None,
        session: Session | None = None,
    ) -> None:
        """The app on `session`, or on a new one over `backend` (default: the one the settings name, opened in
        a worker) with `sampler` (default: one that keeps the last hour for the Monitor pane)."""
        super().__init__()
        self.settings = settings
        self.session = session or Session(
            settings, backend=backend, sampler=sampler or watched_sampler(settings, keep_s=KEEP_S)
        )
        self.session.on_downloads = self.downloads_changed
        self.snapshot = ModelsSnapshot()
        self.selections: dict[str, str | None] = {}  # tab → the model highlighted there
        self.downloads_done: set[str] = set()
        self.chat: ChatRun | None = None  # the reply streaming now
        self.bench: BenchRun | None = None  # the benchmark running now
        self.import_cancel: threading.Event | None = None
        self._chosen_tab: str | None = None  # the tab a key or command chose last (its pane gets the keyboard)
        self.history_prompts: tuple[str, ...] = ()  # the chat's prompts as last posted, for the history writer
        self.history_lock = threading.Lock()
        self._switch_interval = sys.getswitchinterval()

    @property
    def main_screen(self) -> Screen:  # type: ignore[type-arg]
        """The screen holding the panes. `App.query` searches the *active* screen, which is a modal while a
        dialog, the help or the command palette is open. Before start-up and after shut-down there is none:
        queries then find nothing."""
        return self.screen_stack[0] if self.screen_stack else Screen()

    # -- layout ----------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        settings = self.settings
        yield Header(show_clock=False, icon="◆")
        with AppTabs(initial="catalog", id="tabs"):
            with TabPane("Catalog", id="catalog"):
                yield CatalogPane(classes="pane")
            with TabPane("Cache & Downloads", id="cache"):
                yield CachePane(classes="pane")
            with TabPane("Chat", id="chat"):
                yield ChatPane(ChatDefaults(settings.temperature, settings.max_tokens), classes="pane")
            with TabPane("Monitor", id="monitor"):
                yield MonitorPane(self.session.sampler, classes="pane")
            with TabPane("Benchmark", id="bench"):
                yield BenchPane(shipped_prompt_sets(), self.session.results_root, classes="pane")
        yield MemoryStrip(self.session.sampler)
        yield Footer()

    def on_mount(self) -> None:
        # Token stamps are taken on worker threads. With the default 5 ms GIL switch interval a busy UI thread
        # delays each stamp by up to 5 ms; 0.5 ms keeps the measurement honest at a small CPU cost.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self.session.sampler.start()
        self.update_subtitle()
        self.start_session()
        self.load_history()

    def on_ready(self) -> None:
        # Start in the visible pane (its table, its input), not on the tab bar; a key pressed before this stays.
        if self._chosen_tab is not None:  # a tab key came before the layout settled: it wins over the initial tab
            self._focus_pane(self._chosen_tab)
        elif self.focused is None or isinstance(self.focused, Tabs):
            self._focus_pane(self.main_screen.query_one("#tabs", TabbedContent).active)
        # Everything built so far (Textual, the SDK, the openai client) lives for the whole session. Freezing it
        # keeps full collections from re-scanning it: measured here, they paused the UI for up to 200 ms.
        gc.freeze()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        if self.chat is not None:
            self.chat.cancel.set()
        if self.import_cancel is not None:
            self.import_cancel.set()
        if self.bench is not None:
            self.bench.runner.stop()
        self.session.close()

    def update_subtitle(self) -> None:
        """Backend · state · what is loaded (the same list the catalog marks ✓); short enough for 80 columns."""
        label = self.snapshot.backend.label if self.snapshot.backend else self._default_label()
        loaded = self.snapshot.loaded_ids
        state = {"starting": "starting…", "ready": "ready", "failed": "runtime failed"}.get(self.backend_state, "")
        if self.size.width >= WIDE_TITLE_AT:
            self.sub_title = f"{label} · {state} · loaded: {', '.join(loaded) or 'none'}"
            return
        short_label = "in-process" if label.endswith("(in-process)") else label
        if not loaded:
            what = "none loaded"
        elif len(loaded) == 1:
            what = f"loaded: {middle_ellipsis(loaded[0], 26)}"
        else:
            what = units.count(len(loaded), "model") + " loaded"
        parts = [middle_ellipsis(short_label, 22), "" if state == "ready" else state, what]  # ready: the norm
        self.sub_title = " · ".join(part for part in parts if part)

    def on_resize(self) -> None:
        self.update_subtitle()

    def _default_label(self) -> str:
        return self.settings.endpoint or "Foundry Local (in-process)"

    # -- selection and app-wide model keys -------------------------------------------------------------------

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.sync_selected()

    def sync_selected(self) -> None:
        """`l` / `u` act on the model highlighted in the tab you are looking at."""
        for tabs in self.main_screen.query("#tabs").results(TabbedContent):
            self.selected_model = self.selections.get(tabs.active)

    def action_load_selected(self) -> None:
        if self.selected_model:
            self.post_message(LoadRequested(self.selected_model))
        else:
            self.notify("Select a model first (Catalog, Cache, Chat or Monitor).", severity="warning")

    def action_unload_selected(self) -> None:
        if self.selected_model:
            self.post_message(UnloadRequested(self.selected_model))
        else:
            self.notify("Select a model first (Catalog, Cache, Chat or Monitor).", severity="warning")

    # -- navigation and help ---------------------------------------------------------------------------------

    def action_import_model(self, demo: bool = False) -> None:
        from foundry_tui.tui.screens.import_model import ImportScreen

        self.push_screen(ImportScreen(demo=demo, in_process=not self.settings.endpoint))

    def action_execution_providers(self) -> None:
        """The execution providers this machine has, and registering them (palette, or `e` in the Catalog)."""
        from foundry_tui.tui.screens.execution_providers import ExecutionProvidersScreen

        self.push_screen(ExecutionProvidersScreen(self.snapshot.execution_providers))

    @property
    def chosen_tab(self) -> str | None:
        """The tab a key or command chose last (None before the first choice)."""
        return self._chosen_tab

    def action_show_tab(self, tab: str) -> None:
        """Show a tab and put the keyboard in its pane (a number key or a command chose it)."""
        self.main_screen.query_one("#tabs", TabbedContent).active = tab
        self._focus_pane(tab)

    def _focus_pane(self, tab: str) -> None:
        """Focus the pane of the tab chosen last, once the screen has settled. Focusing a widget in a hidden tab
        makes TabbedContent show that tab: a focus scheduled for an earlier choice (start-up's Catalog, a quick
        second key) must not take the user back there."""
        self._chosen_tab = tab
        self.call_after_refresh(self._focus_chosen, tab)

    def _focus_chosen(self, tab: str, tries: int = 0) -> None:
        if tab != self._chosen_tab:
            return
        tabs = self.main_screen.query_one("#tabs", TabbedContent)
        if tabs.active != tab:  # start-up's initial tab can land after a first key: show the chosen one again
            if tries < FOCUS_TRIES:
                tabs.active = tab
                self.call_after_refresh(self._focus_chosen, tab, tries + 1)
            return
        for pane in self.main_screen.query(f"#{tab} Pane").results(Pane):
            target = pane.focus_target() or (pane if pane.can_focus else None)
            if target is not None and self.focused is not target:
                target.focus()

    def action_leave_input(self) -> None:
        """Esc in a text input (when the pane has no use for it): the keyboard goes to the pane's next widget, where
        single keys are commands again."""
        focused = self.focused
        if not is_text_input(focused):
            return
        for pane in focused.ancestors if focused is not None else ():
            if isinstance(pane, Pane):
                target = pane.leave_target()
                if target is not None:
                    target.focus()
                return

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def _register_dir(self) -> None:
        self.action_show_tab("cache")
        self.main_screen.query_one(CachePane).action_focus_register()

    def _clear_chat(self) -> None:
        self.main_screen.query_one(ChatPane).action_clear_chat()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:  # type: ignore[type-arg]
        yield from super().get_system_commands(screen)
        tab = self.action_show_tab
        yield SystemCommand("Show catalog", "Browse and filter models", lambda: tab("catalog"))
        yield SystemCommand("Show cache & downloads", "Cached models, downloads, register a dir", lambda: tab("cache"))
        yield SystemCommand("Show chat", "Probe chat with a model", lambda: tab("chat"))
        yield SystemCommand(
            "Import model…", "Convert a GGUF file or Hugging Face dir and register it", self.action_import_model
        )
        yield SystemCommand(
            "Import the demo model", "SmolLM2 135M Instruct (int8), offline", lambda: self.action_import_model(True)
        )
        yield SystemCommand("Show benchmark", "Run models × prompts × rounds live; past runs", lambda: tab("bench"))
        yield SystemCommand("Show monitor", "Memory timelines, markers, per-model report", lambda: tab("monitor"))
        yield SystemCommand(
            "Refresh catalog", "Fetch the model catalog again", lambda: self.post_message(RefreshRequested(True))
        )
        yield SystemCommand("Register model directory…", "Add a local ONNX Runtime GenAI model", self._register_dir)
        yield SystemCommand(
            "Register execution providers",
            "List the EPs this machine has (CUDA, QNN…) and download and register them",
            self.action_execution_providers,
        )
        yield SystemCommand("Clear chat", "Forget the conversation", self._clear_chat)
        for model in self.snapshot.all_models():
            name = model.id
            if model.loaded:
                yield SystemCommand(
                    f"Unload {name}", "Free its memory", lambda n=name: self.post_message(UnloadRequested(n))
                )
            elif model.cached:
                yield SystemCommand(
                    f"Load {name}", "Load into memory", lambda n=name: self.post_message(LoadRequested(n))
                )
            else:
                yield SystemCommand(
                    f"Download {name}",
                    "Add to the download queue",
                    lambda n=name: self.post_message(DownloadRequested(n)),
                )
        for model in self.snapshot.chat_models():
            yield SystemCommand(
                f"Chat with {model.id}",
                "Switch the chat model",
                lambda n=model.id: self.post_message(OpenChatRequested(n)),
            )


__all__ = ["TABS", "FoundryTuiApp"]

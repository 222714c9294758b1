"""The execution providers dialog: which EPs this machine has (CPU built in, the others registered or only
discoverable) and registering them, with each one's progress and the outcome as one line.

A view: it opens with the app's latest list (`ModelsSnapshot.execution_providers`), posts `EpRegisterRequested`,
and renders the `EpProgress` / `EpRegisterFinished` the app's worker posts back. Names come from the runtime and are
shown literally. It fits 80×24 (76 columns; one line per EP).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from foundry_tui.engine.models import ExecutionProvider
from foundry_tui.engine.variants import CPU_EP
from foundry_tui.tui.messages import EpProgress, EpRegisterFinished, EpRegisterRequested
from foundry_tui.tui.widgets.downloads_view import progress_bar
from foundry_tui.tui.widgets.literal import literal
from foundry_tui.tui.widgets.model_detail import EPS_UNKNOWN_TEXT, NO_EPS_TEXT

TITLE = "Execution providers"
HINT = "r registers every discoverable one · Esc closes (registration goes on)"
BAR = 20


def ep_lines(eps: tuple[ExecutionProvider, ...], progress: dict[str, float], failed: set[str]) -> str:
    """One line per EP: name, state, and a progress bar while it registers."""
    width = max(len(CPU_EP), *(len(ep.name) for ep in eps)) if eps else len(CPU_EP)
    lines = [f"{CPU_EP:<{width}}  built in"]
    for ep in eps:
        if ep.registered:
            state = "registered ✓"
        elif ep.name in progress:
            done, todo = progress_bar(progress[ep.name], BAR)
            state = f"{done}{todo} {progress[ep.name]:3.0f}%"
        elif ep.name in failed:
            state = "failed to register ✗"
        else:
            state = "discoverable — not registered"
        lines.append(f"{ep.name:<{width}}  {state}")
    return "\n".join(lines)


class ExecutionProvidersScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ExecutionProvidersScreen { align: center middle; }
    ExecutionProvidersScreen > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 90%; padding: 0 1;
        border: thick $panel-lighten-2; background: $surface;
    }
    ExecutionProvidersScreen #eps-title { text-style: bold; }
    ExecutionProvidersScreen #eps-list { margin: 1 0 0 0; height: auto; }
    ExecutionProvidersScreen #eps-result { margin: 1 0 0 0; height: auto; }
    ExecutionProvidersScreen #eps-result.-empty { display: none; }
    ExecutionProvidersScreen #eps-buttons { height: 1; margin: 1 0 0 0; }
    ExecutionProvidersScreen #eps-buttons Button { height: 1; border: none; min-width: 12; margin: 0 1 0 0; }
    ExecutionProvidersScreen #eps-hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("r", "register", "Register all"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, eps: tuple[ExecutionProvider, ...] | None) -> None:
        super().__init__()
        self.eps = eps
        self.progress: dict[str, float] = {}
        self.failed: set[str] = set()
        self.running = False
        self.result = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(TITLE, id="eps-title", markup=False)
            yield Static("", id="eps-list", markup=False)
            yield Static("", id="eps-result", classes="-empty", markup=False)
            with Horizontal(id="eps-buttons"):
                yield Button("Register all (r)", id="eps-register", variant="primary", compact=True)
                yield Button("Close (Esc)", id="eps-close", compact=True)
            yield Static(HINT, id="eps-hint", markup=False)

    def on_mount(self) -> None:
        self._redraw()
        self.query_one("#eps-close" if self.query_one("#eps-register").disabled else "#eps-register").focus()

    @property
    def discoverable(self) -> list[str]:
        return [ep.name for ep in self.eps or () if not ep.registered]

    def _redraw(self) -> None:
        eps = self.eps
        if eps is None:
            body = EPS_UNKNOWN_TEXT
        elif not eps:
            body = NO_EPS_TEXT
        else:
            body = ep_lines(eps, self.progress, self.failed)
        self.query_one("#eps-list", Static).update(literal(body))
        result = self.query_one("#eps-result", Static)
        result.update(literal(self.result))
        result.set_class(not self.result, "-empty")
        self.query_one("#eps-register", Button).disabled = self.running or not self.discoverable

    def action_register(self) -> None:
        if self.running:
            return
        if not self.discoverable:
            self.notify(NO_EPS_TEXT if not self.eps else "Every execution provider is registered.")
            return
        self.running = True
        self.failed.clear()
        self.result = "registering… (downloads each provider, then registers it with the runtime)"
        self._redraw()
        self.post_message(EpRegisterRequested(None))

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#eps-register")
    def _register(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_register()

    @on(Button.Pressed, "#eps-close")
    def _close(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def on_ep_progress(self, message: EpProgress) -> None:
        self.progress[message.name] = message.percent
        self._redraw()

    def on_ep_register_finished(self, message: EpRegisterFinished) -> None:
        self.running = False
        self.progress.clear()
        self.failed = set(message.failed)
        self.eps = tuple(
            ExecutionProvider(ep.name, True) if ep.name in message.registered else ep for ep in self.eps or ()
        )
        self.result = ep_result_line(message)
        self._redraw()


def ep_result_line(message: EpRegisterFinished) -> str:
    """The outcome in one line."""
    if message.error is not None:
        return f"✗ registering failed: {message.error}"
    parts = []
    if message.registered:
        parts.append("✓ registered " + ", ".join(message.registered))
    if message.failed:
        parts.append("✗ failed: " + ", ".join(message.failed))
    return " · ".join(parts) or "nothing to register: every execution provider is registered"


__all__ = ["ExecutionProvidersScreen", "ep_lines", "ep_result_line"]

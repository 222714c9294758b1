"""Import a GGUF file or a Hugging Face model directory (or the bundled demo) with live stage progress.

The conversion runs in the importer's subprocesses, driven from a thread worker; Esc cancels it and the importer
removes its temporary files, so a cancelled import leaves nothing registered.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, LoadingIndicator, Select, Static

from foundry_tui.errors import FoundryTuiError
from foundry_tui.importer import DEMO_DISPLAY_NAME, PRECISIONS, ImportResult, Stage, demo_gguf, import_model
from foundry_tui.tui.widgets.literal import literal

if TYPE_CHECKING:
    from foundry_tui.tui.app import FoundryTuiApp


class ImportScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ImportScreen { align: center middle; }
    ImportScreen > Vertical { width: 76; height: auto; max-height: 22; background: $surface;
                              border: thick $panel-lighten-2; padding: 0 1; }
    ImportScreen Horizontal { height: 1; margin: 0 0 1 0; }
    ImportScreen Label { width: 11; color: $text-muted; }
    ImportScreen Input, ImportScreen Select { width: 1fr; }
    ImportScreen #import-buttons Button { height: 1; border: none; min-width: 12; margin: 0 1 0 0; }
    ImportScreen #import-stage { height: auto; }
    ImportScreen #import-error { color: $error; height: auto; }
    ImportScreen LoadingIndicator { height: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel / close")]

    def __init__(self, *, demo: bool = False) -> None:
        super().__init__()
        self._start_demo = demo
        self._cancel = threading.Event()
        self._importing = False

    @property
    def foundry_app(self) -> FoundryTuiApp:
        return cast("FoundryTuiApp", self.app)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Import a model: a .gguf file or a Hugging Face model directory", markup=False)
            with Horizontal():
                yield Label("source")
                yield Input(placeholder="path to .gguf or HF dir", id="import-source", compact=True)
            with Horizontal():
                yield Label("precision")
                yield Select(
                    [(p, p) for p in PRECISIONS], value="int8", id="import-precision", compact=True, allow_blank=False
                )
            with Horizontal():
                yield Label("id")
                yield Input(placeholder="optional NAME:VERSION", id="import-id", compact=True)
            with Horizontal(id="import-buttons"):
                yield Button("Import", id="import-run", variant="primary", compact=True)
                yield Button(f"Demo: {DEMO_DISPLAY_NAME}", id="import-demo", compact=True)
            yield LoadingIndicator(id="import-spinner")
            yield Static("", id="import-stage", markup=False)
            yield Static("", id="import-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(LoadingIndicator).display = False
        if self._start_demo:
            self._begin(demo=True)
        else:
            self.query_one("#import-source", Input).focus()

    @on(Button.Pressed, "#import-run")
    def _import_pressed(self) -> None:
        self._begin(demo=False)

    @on(Input.Submitted, "#import-source")
    def _source_submitted(self) -> None:
        self._begin(demo=False)

    @on(Button.Pressed, "#import-demo")
    def _demo_pressed(self) -> None:
        self._begin(demo=True)

    def _begin(self, *, demo: bool) -> None:
        if self._importing:
            return
        self.query_one("#import-error", Static).update("")
        backend = self.foundry_app.backend
        if backend is None or backend.info().kind != "foundry-local":
            self._error("importing needs the in-process Foundry Local runtime (start without --endpoint)")
            return
        try:
            source = demo_gguf() if demo else Path(self.query_one("#import-source", Input).value.strip())
        except FoundryTuiError as exc:
            self._error(str(exc))
            return
        if not str(source) or str(source) == ".":
            self._error("give a .gguf file or a Hugging Face model directory")
            return
        precision = str(self.query_one("#import-precision", Select).value)
        model_id = self.query_one("#import-id", Input).value.strip() or None
        name = f"{DEMO_DISPLAY_NAME} ({precision})" if demo else None
        self._importing = True
        self._cancel.clear()
        self.query_one(LoadingIndicator).display = True
        self._run(source, precision, model_id, name)

    @work(thread=True, exit_on_error=False)
    def _run(self, source: Path, precision: str, model_id: str | None, name: str | None) -> None:
        app = self.foundry_app
        assert app.backend is not None
        try:
            result = import_model(
                source,
                model_id=model_id,
                precision=precision,
                display_name=name,
                settings=app.settings,
                backend=app.backend,
                progress=lambda stage: app.call_from_thread(self._stage, stage),
                cancel=self._cancel,
            )
        except FoundryTuiError as exc:
            app.call_from_thread(self._failed, str(exc))
            return
        app.call_from_thread(self._done, result)

    def _stage(self, stage: Stage) -> None:
        detail = f" · {stage.detail}" if stage.detail else ""
        self.query_one("#import-stage", Static).update(literal(f"[{stage.elapsed_s:6.1f} s] {stage.label}{detail}"))

    def _failed(self, message: str) -> None:
        self._importing = False
        self.query_one(LoadingIndicator).display = False
        self._error("cancelled: nothing was registered" if self._cancel.is_set() else message)

    def _done(self, result: ImportResult) -> None:
        self._importing = False
        what = "already imported" if result.skipped else f"imported in {result.elapsed_s:.0f} s"
        self.app.notify(f"{result.model_id} {what} ({result.size_bytes / 1e6:.0f} MB)", markup=False, timeout=6)
        self.foundry_app.request_refresh()
        self.dismiss(None)

    def _error(self, message: str) -> None:
        self.query_one("#import-error", Static).update(literal(message))

    def action_cancel(self) -> None:
        if self._importing:
            self._cancel.set()
            self.query_one("#import-stage", Static).update("cancelling…")
        else:
            self.dismiss(None)

"""Import a GGUF file or a Hugging Face model directory (or the bundled demo) with live stage progress.

A view: the dialog posts `ImportRequested`; the app runs the import through the session on a worker (the slow
steps are the importer's subprocesses) and posts `ImportProgress` and `ImportFinished` back here. Esc posts
`ImportCancelRequested`; the importer then removes its temporary files, so a cancelled import leaves nothing
registered.

It fits 80×24: 76 columns wide, and the stage and error lines take no room until they have something to say. The
dialog's own keys are spelled out on its last line (the footer underneath belongs to the screen it covers).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, LoadingIndicator, Select, Static

from foundry_tui.engine import units
from foundry_tui.importer import DEMO_DISPLAY_NAME, PRECISIONS
from foundry_tui.tui.messages import ImportCancelRequested, ImportFinished, ImportProgress, ImportRequested
from foundry_tui.tui.widgets.literal import literal

IDLE_HINT = "Enter imports · Tab moves between fields · Esc closes"
BUSY_HINT = "Esc cancels: the temporary files are removed and nothing is registered"


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
    ImportScreen .-empty { display: none; }
    ImportScreen #import-hint { color: $text-muted; }
    ImportScreen LoadingIndicator { height: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel / close")]

    def __init__(self, *, demo: bool = False, in_process: bool = True) -> None:
        super().__init__()
        self._start_demo = demo
        self._in_process = in_process  # importing registers with the in-process runtime: not over an endpoint
        self._importing = False

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
            yield Static("", id="import-stage", markup=False, classes="-empty")
            yield Static("", id="import-error", markup=False, classes="-empty")
            yield Static(IDLE_HINT, id="import-hint", markup=False)

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
        self._error("")
        if not self._in_process:
            self._error("importing needs the in-process Foundry Local runtime (start without --endpoint)")
            return
        source = None if demo else self.query_one("#import-source", Input).value.strip()
        if not demo and not source:
            self._error("give a .gguf file or a Hugging Face model directory")
            return
        precision = str(self.query_one("#import-precision", Select).value)
        model_id = self.query_one("#import-id", Input).value.strip() or None
        self._importing = True
        self._hint(BUSY_HINT)
        self.query_one(LoadingIndicator).display = True
        self._show_stage(f"starting the import ({'demo: ' + DEMO_DISPLAY_NAME if demo else source})…")
        self.post_message(ImportRequested(source, demo, precision, model_id))

    def on_import_progress(self, message: ImportProgress) -> None:
        stage = message.stage
        detail = f" · {stage.detail}" if stage.detail else ""
        self._show_stage(f"[{stage.elapsed_s:6.1f} s] {stage.label}{detail}")

    def on_import_finished(self, message: ImportFinished) -> None:
        self._importing = False
        self._hint(IDLE_HINT)
        self.query_one(LoadingIndicator).display = False
        result = message.result
        if result is None:
            # The stage line would otherwise still show where the failed import was, as if it were running.
            self._show_stage("")
            self._error("cancelled: nothing was registered" if message.cancelled else message.error or "failed")
            return
        what = "already imported" if result.skipped else f"imported in {result.elapsed_s:.0f} s"
        size = units.size(units.mb_of(result.size_bytes))
        self.app.notify(f"{result.model_id} {what} ({size})", markup=False, timeout=6)
        self.dismiss(None)

    def _show_stage(self, text: str) -> None:
        self._line("#import-stage", text)

    def _error(self, message: str) -> None:
        self._line("#import-error", message)

    def _hint(self, text: str) -> None:
        self._line("#import-hint", text)

    def _line(self, selector: str, text: str) -> None:
        """Set a line of the dialog; an empty one takes no room (class `-empty`)."""
        line = self.query_one(selector, Static)
        line.update(literal(text))
        line.set_class(not text, "-empty")

    def action_cancel(self) -> None:
        if self._importing:
            self.post_message(ImportCancelRequested())
            self._show_stage("cancelling…")
        else:
            self.dismiss(None)

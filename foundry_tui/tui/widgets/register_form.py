"""The form that registers a local ONNX Runtime GenAI directory: path, id (suggested from the path), display name.

It checks the id as it is typed (engine.registration), posts `RegisterRequested`, and shows the result the app
sends back (`finished`). The session validates everything again before it registers.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from foundry_tui.engine.registration import model_id_problem, suggest_model_id
from foundry_tui.tui.messages import RegisterRequested
from foundry_tui.tui.widgets.cached_models import set_inline_error
from foundry_tui.tui.widgets.literal import literal

HINT = "Enter registers · files stay in place"
ID_PLACEHOLDER = "NAME:VERSION, e.g. my-model-generic-cpu:1"


class RegisterForm(Vertical):
    DEFAULT_CSS = """
    RegisterForm { height: auto; }
    RegisterForm .form-row { height: 1; margin: 0; }
    RegisterForm .form-row.first { margin-top: 1; }
    RegisterForm .form-row Label { width: 14; color: $text-muted; }
    RegisterForm .form-row Input { width: 1fr; }
    RegisterForm #reg-actions { height: 1; margin: 1 0 0 14; }
    RegisterForm #reg-status { width: 1fr; padding: 0 0 0 2; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__(id="register-form")
        self._busy = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row first"):
            yield Label("Directory")
            yield Input(placeholder="/path/to/model-dir (holds genai_config.json)", id="reg-path", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("Model id")
            yield Input(placeholder=ID_PLACEHOLDER, id="reg-id", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("Display name")
            yield Input(placeholder="optional", id="reg-name", compact=True)
        with Horizontal(id="reg-actions"):
            yield Button("Register", id="reg-submit", variant="primary", compact=True)
            yield Static(HINT, id="reg-status", markup=False)
        yield Static("", id="reg-error", classes="inline-error -empty", markup=False)

    def focus_path(self) -> None:
        self.call_after_refresh(self.query_one("#reg-path", Input).focus)

    def _error(self, text: str | None) -> None:
        set_inline_error(self.query_one("#reg-error", Static), text)

    @on(Input.Changed, "#reg-path")
    def _path_changed(self, event: Input.Changed) -> None:
        suggestion = suggest_model_id(event.value)
        self.query_one("#reg-id", Input).placeholder = (
            f"{suggestion} (suggested; type to change)" if suggestion else ID_PLACEHOLDER
        )
        self._error(None)

    @on(Input.Changed, "#reg-id")
    def _id_changed(self, event: Input.Changed) -> None:
        value = event.value.strip()
        # Judged once a version is being typed, not at every letter.
        self._error(model_id_problem(value) if value and ":" in value else None)

    @on(Input.Submitted, "#reg-path, #reg-id, #reg-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    @on(Button.Pressed, "#reg-submit")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        if self._busy:
            return
        path_input = self.query_one("#reg-path", Input)
        id_input = self.query_one("#reg-id", Input)
        path = path_input.value.strip()
        if not path:
            self._error("Enter the model directory: the folder that holds genai_config.json.")
            path_input.focus()
            return
        model_id = id_input.value.strip() or suggest_model_id(path) or ""
        problem = model_id_problem(model_id) if model_id else "Enter a model id like my-model-generic-cpu:1."
        if problem:
            self._error(problem)
            id_input.focus()
            return
        self._error(None)
        self._set_busy(True, f"Registering {model_id}…")
        display_name = self.query_one("#reg-name", Input).value.strip() or None
        self.post_message(RegisterRequested(path, model_id, display_name))

    def finished(self, model_id: str, error: str | None) -> None:
        """The app's answer to our request: clear the form, or show why it failed."""
        if error is not None:
            self._set_busy(False, HINT)
            self._error(error)
            return
        self._set_busy(False, f"Registered {model_id}.")
        for input_id in ("#reg-path", "#reg-id", "#reg-name"):
            self.query_one(input_id, Input).value = ""
        self._error(None)

    def _set_busy(self, busy: bool, status: str) -> None:
        self._busy = busy
        self.query_one("#reg-submit", Button).disabled = busy
        self.query_one("#reg-status", Static).update(literal(status))


__all__ = ["RegisterForm"]

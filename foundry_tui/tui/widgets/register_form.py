"""The form that registers a local ONNX Runtime GenAI directory: path, id (suggested from the path), display name.

It checks the directory and the id as they are typed (engine.registration.check_form: the path exists, holds a
genai_config.json naming its files, the id looks like NAME:VERSION and is not taken) and shows the first problem in
one line; Register is disabled and Enter refused while there is one. It posts `RegisterRequested` and shows the
result the app sends back (`finished`). The session validates everything again before it registers.
"""

from __future__ import annotations

from collections.abc import Collection

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from foundry_tui.engine.registration import FormCheck, check_form, suggest_model_id
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
    RegisterForm #reg-error { margin: 0 0 0 14; }
    RegisterForm #reg-status { width: 1fr; padding: 0 0 0 2; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__(id="register-form")
        self._busy = False
        self.taken: Collection[str] = ()  # ids registered already (the pane keeps it current)
        self.check = FormCheck(None)

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
        # Right under the fields, so that it shows next to what is being typed even on a 24-row terminal.
        yield Static("", id="reg-error", classes="inline-error -empty", markup=False)
        with Horizontal(id="reg-actions"):
            yield Button("Register", id="reg-submit", variant="primary", compact=True)
            yield Static(HINT, id="reg-status", markup=False)

    def focus_path(self) -> None:
        self.call_after_refresh(self.query_one("#reg-path", Input).focus)

    def on_mount(self) -> None:
        self.query_one("#reg-submit", Button).disabled = True  # nothing to register yet

    def _error(self, text: str | None) -> None:
        error = self.query_one("#reg-error", Static)
        shown = not error.has_class("-empty")
        set_inline_error(error, text)
        if text and not shown:
            error.call_after_refresh(error.scroll_visible, animate=False)

    @on(Input.Changed, "#reg-path")
    def _path_changed(self, event: Input.Changed) -> None:
        event.stop()
        suggestion = suggest_model_id(event.value)
        self.query_one("#reg-id", Input).placeholder = (
            f"{suggestion} (suggested; type to change)" if suggestion else ID_PLACEHOLDER
        )
        self.validate_now()

    @on(Input.Changed, "#reg-id")
    def _id_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.validate_now()

    def validate_now(self) -> FormCheck:
        """Judge the form as it stands: the first problem in the error line (none while nothing is typed) and
        Register enabled only when the form can be sent."""
        path = self.query_one("#reg-path", Input).value
        model_id = self.query_one("#reg-id", Input).value
        self.check = check_form(path, model_id, self.taken)
        untouched = not path.strip() and not model_id.strip()
        self._error(None if untouched else self.check.problem)
        self.query_one("#reg-submit", Button).disabled = self._busy or not self.check.ok
        return self.check

    @on(Input.Submitted, "#reg-path, #reg-id, #reg-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    @on(Button.Pressed, "#reg-submit")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        """Enter or the button: refused (the problem shown, the keyboard on its field) while the form is invalid."""
        if self._busy:
            return
        check = self.validate_now()
        if not check.ok or check.model_id is None:
            self._error(check.problem)
            self.query_one("#reg-id" if check.field == "id" else "#reg-path", Input).focus()
            return
        self._error(None)
        self._set_busy(True, f"Registering {check.model_id}…")
        path = self.query_one("#reg-path", Input).value.strip()
        display_name = self.query_one("#reg-name", Input).value.strip() or None
        self.post_message(RegisterRequested(path, check.model_id, display_name))

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
        self.query_one("#reg-submit", Button).disabled = busy or not self.check.ok
        self.query_one("#reg-status", Static).update(literal(status))


__all__ = ["RegisterForm"]

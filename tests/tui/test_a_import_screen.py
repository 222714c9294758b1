"""The Import dialog: snapshots at 80×24 and 120×40 (at rest, and mid-import with fixed stage figures), then,
keyboard only, an inline error and a real conversion of a tiny Hugging Face Llama dir with stage progress, into the
shared runtime (in this process, after every other runtime test that ran before it).

This test used to run in a subprocess because the dialog "stalled in its first stage" after other tests. Root
cause: the test clicked Import a second time less than 0.2 s after the first press, while Textual's Button still
had its `-active` press effect, and a Button ignores clicks then; the stage line still showed the first (failed)
import's "checking inputs", so it looked like a stall. A person re-submits with Enter in the source field, which
has no such window; the dialog now clears the stage line when an import fails.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.importer import Stage, missing_modules
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import ImportProgress, ImportRequested
from foundry_tui.tui.screens.import_model import ImportScreen
from tests.test_importer import _MAKE_TINY_LLAMA
from tests.tui.conftest import MakeApp, memory_catalog
from tests.tui.fixed_sampler import FixedSampler
from tests.tui.helpers import settle, static_text, wait_for

MODEL_ID = "tiny-tui-import-generic-cpu:1"
SOURCE = "/home/ada/models/SmolLM2-135M-Instruct-Q8_0.gguf"


class HeldImportApp(FoundryTuiApp):
    """The app with its import route replaced by the test: the dialog gets the progress the route would send,
    with fixed figures (no conversion, no wall clock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[ImportRequested] = []

    def on_import_requested(self, message: ImportRequested) -> None:
        message.prevent_default()
        self.requests.append(message)


@pytest.mark.parametrize("scene", ["rest", "importing"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_import_dialog_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int], scene: str) -> None:
    app = HeldImportApp(Settings(data_dir=tmp_path / "app"), backend=memory_catalog(), sampler=FixedSampler())
    app.animation_level = "none"  # the spinner draws a fixed "Loading..." then

    async def run_before(pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.backend_state == "ready", "the backend")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen), "the dialog")
        screen = app.screen
        for box in screen.query(Input):
            box.cursor_blink = False  # a blinking cursor is drawn or not depending on when the frame is taken
        if scene == "importing":
            screen.query_one("#import-source", Input).value = SOURCE
            screen.query_one("#import-id", Input).value = "smollm2-135m-q8-generic-cpu:1"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(app.requests) == 1, "the request")
            stage = Stage("convert", "converting to ONNX (int8)", 12.3, "layer 14 of 30")
            screen.post_message(ImportProgress(stage))
            await wait_for(pilot, lambda: "layer 14" in static_text(screen.query_one("#import-stage", Static)))
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.slow
@pytest.mark.skipif(bool(missing_modules()), reason="the import extra is not installed: pip install '.[import]'")
def test_import_screen_errors_then_imports(runtime: FoundryBackend, make_app: MakeApp, tmp_path: Path) -> None:
    hf_dir = tmp_path / "tiny-llama"
    made = subprocess.run(
        [sys.executable, "-c", _MAKE_TINY_LLAMA, str(hf_dir)], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr[-2000:]
    app = make_app(runtime)

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.backend_state == "ready", "the runtime")
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen), "the dialog")
            screen = app.screen
            error = screen.query_one("#import-error", Static)
            stage = screen.query_one("#import-stage", Static)
            source = screen.query_one("#import-source", Input)
            assert app.focused is source
            await pilot.press(*str(tmp_path / "nope.gguf"), "enter")
            await wait_for(pilot, lambda: "does not exist" in static_text(error), "the inline error")
            assert static_text(stage) == ""  # no leftover stage that would look like an import still running
            source.value = str(hf_dir)
            screen.query_one("#import-id", Input).value = MODEL_ID
            screen.query_one("#import-precision", Select).value = "int4"
            await pilot.press("enter")  # right away: Enter has no press-effect window, unlike the button
            seen: set[str] = set()

            def finished() -> bool:
                seen.add(static_text(stage))
                return not isinstance(app.screen, ImportScreen) or bool(static_text(error))

            await wait_for(pilot, finished, "the import", timeout=240)
            assert not isinstance(app.screen, ImportScreen), static_text(error)
            assert any("converting to ONNX (int4)" in line for line in seen)
            await wait_for(pilot, lambda: app.snapshot.find(MODEL_ID) is not None, "the refreshed list")
            await settle(pilot)

    try:
        asyncio.run(main())
        assert MODEL_ID in {e.id for e in runtime.list_local()}
    finally:
        if MODEL_ID in {e.id for e in runtime.list_local()}:
            runtime.unregister_model(MODEL_ID)

"""The Import screen: inline errors, and a real conversion of a tiny Hugging Face Llama dir with stage progress.

Named to run first in tests/tui: after some of the chat tests in the same process the import stalled in its first
stage (not root-caused yet; it may also happen in a long TUI session — see the issue note).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.importer import missing_modules
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.screens.import_model import ImportScreen
from tests.test_importer import _MAKE_TINY_LLAMA
from tests.tui.fixed_sampler import FixedSampler

MODEL_ID = "tiny-tui-import-generic-cpu:1"


async def wait_for(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 180.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            stages = [str(w.render()) for w in pilot.app.screen.query("#import-stage")]
            raise AssertionError(f"condition not met in time (import stage: {stages})")
        await pilot.pause(0.1)


def test_import_screen_errors_then_imports(runtime: FoundryBackend, tmp_path: Path) -> None:
    missing = missing_modules()
    if missing:
        pytest.skip(f"the import extra is not installed (no {', '.join(missing)}): pip install 'foundry-tui[import]'")
    hf_dir = tmp_path / "tiny-llama"
    made = subprocess.run(
        [sys.executable, "-c", _MAKE_TINY_LLAMA, str(hf_dir)], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr[-2000:]

    async def main() -> None:
        app = FoundryTuiApp(Settings(data_dir=tmp_path / "data"), backend=runtime, sampler=FixedSampler())
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.backend_state == "ready")
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
            screen = app.screen
            screen.query_one("#import-source", Input).value = str(tmp_path / "nope.gguf")
            await pilot.click("#import-run")
            await wait_for(pilot, lambda: "does not exist" in str(screen.query_one("#import-error", Static).render()))
            screen.query_one("#import-source", Input).value = str(hf_dir)
            screen.query_one("#import-id", Input).value = MODEL_ID
            screen.query_one("#import-precision", Select).value = "int4"
            error = screen.query_one("#import-error", Static)
            error.update("")
            await pilot.click("#import-run")
            stage = screen.query_one("#import-stage", Static)
            await wait_for(pilot, lambda: str(stage.render()) or str(error.render()), timeout=20)  # it started
            await wait_for(pilot, lambda: not isinstance(app.screen, ImportScreen) or str(error.render()), timeout=90)
            assert not isinstance(app.screen, ImportScreen), str(error.render())
            assert MODEL_ID in {e.id for e in runtime.list_local()}
            await wait_for(pilot, lambda: app.snapshot.find(MODEL_ID) is not None)  # the app refreshed its lists

    try:
        asyncio.run(main())
    finally:
        if MODEL_ID in {e.id for e in runtime.list_local()}:
            runtime.unregister_model(MODEL_ID)

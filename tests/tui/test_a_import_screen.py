"""The Import screen: inline errors, and a real conversion of a tiny Hugging Face Llama dir with stage progress.

The dialog runs in a fresh process with its own runtime: in the shared test process it stalled in its first stage
after other tests (not root-caused yet; it may also happen in a long TUI session — see the issue note).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from foundry_tui.importer import missing_modules
from tests.test_importer import _MAKE_TINY_LLAMA

MODEL_ID = "tiny-tui-import-generic-cpu:1"


_DIALOG_SCRIPT = r"""
import asyncio, sys
from pathlib import Path
from textual.widgets import Input, Select, Static
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.screens.import_model import ImportScreen
from tests.tui.fixed_sampler import FixedSampler

hf_dir, data = Path(sys.argv[1]), Path(sys.argv[2])
MODEL_ID = sys.argv[3]

async def wait_for(pilot, condition, timeout=180.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.1)

async def main(backend):
    app = FoundryTuiApp(Settings(data_dir=data), backend=backend, sampler=FixedSampler())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.backend_state == "ready")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen))
        screen = app.screen
        error = screen.query_one("#import-error", Static)
        screen.query_one("#import-source", Input).value = str(data / "nope.gguf")
        await pilot.click("#import-run")
        await wait_for(pilot, lambda: "does not exist" in str(error.render()))
        error.update("")
        screen.query_one("#import-source", Input).value = str(hf_dir)
        screen.query_one("#import-id", Input).value = MODEL_ID
        screen.query_one("#import-precision", Select).value = "int4"
        await pilot.click("#import-run")
        await wait_for(pilot, lambda: not isinstance(app.screen, ImportScreen) or str(error.render()))
        assert not isinstance(app.screen, ImportScreen), str(error.render())
        assert MODEL_ID in {e.id for e in backend.list_local()}
        await wait_for(pilot, lambda: app.snapshot.find(MODEL_ID) is not None)  # the app refreshed its lists

backend = FoundryBackend(Settings(data_dir=data))
try:
    asyncio.run(main(backend))
finally:
    backend.close()
print("import dialog ok")
"""


def test_import_screen_errors_then_imports(tmp_path: Path) -> None:
    missing = missing_modules()
    if missing:
        pytest.skip(f"the import extra is not installed (no {', '.join(missing)}): pip install 'foundry-tui[import]'")
    hf_dir = tmp_path / "tiny-llama"
    made = subprocess.run(
        [sys.executable, "-c", _MAKE_TINY_LLAMA, str(hf_dir)], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr[-2000:]
    # A fresh process with its own runtime: in the shared test process this dialog stalled after other tests.
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", _DIALOG_SCRIPT, str(hf_dir), str(tmp_path / "data"), MODEL_ID],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=root,
        env=env,
    )
    assert result.returncode == 0 and "import dialog ok" in result.stdout, result.stdout[-1500:] + result.stderr[-3000:]

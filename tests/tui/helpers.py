"""Shared Pilot helpers for the TUI tests: waits on conditions and workers, never fixed sleeps."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any

from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Static


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], what: str = "", timeout: float = 15.0) -> None:
    """Let the app run until `condition()` holds; fail the test after `timeout` seconds, naming `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or 'the condition'}")
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any]) -> None:
    """Every worker finished and the messages they posted were handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def static_text(widget: Static) -> str:
    content = widget.content
    return content.plain if isinstance(content, Content) else str(content)


def screen_text(pilot: Pilot[Any]) -> str:
    """What the terminal shows (the SVG screenshot's text)."""
    return html.unescape(pilot.app.export_screenshot()).replace("\xa0", " ")

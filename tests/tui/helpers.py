"""Shared Pilot helpers for the TUI tests: waits on conditions and workers, never fixed sleeps."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
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
        await pilot.pause(0.01)


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


def run_on_tab(
    app: Any,
    key: str,
    ready: Callable[[], object],
    body: Callable[[Pilot[Any]], Awaitable[None]],
    size: tuple[int, int] = (100, 40),
) -> None:
    """Start `app`, wait for its backend, press `key` (a tab), wait until `ready()`, run `body`, then settle."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: app.backend_state == "ready", "the backend")
            await pilot.press(key)
            await wait_for(pilot, ready, "the pane")
            await body(pilot)
            await settle(pilot)

    asyncio.run(main())

"""The Monitor pane: replayed recordings (snapshots, keys), the live app's 4th tab, and the fit warnings."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, OptionList, Static, TabbedContent

from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend, entry
from foundry_tui.engine.fit import FitCheck, FitEstimate
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.engine.recording import read_recording
from foundry_tui.tui.app import FoundryTuiApp
from foundry_tui.tui.messages import DownloadRequested, FitEstimated, LoadRequested, UnloadRequested
from foundry_tui.tui.panes.chat import ChatPane
from foundry_tui.tui.panes.monitor import MonitorPane
from foundry_tui.tui.replay import ReplayApp
from foundry_tui.tui.widgets.timeline_chart import TimelineChart, bucket_max
from tests.conftest import TINY_ID
from tests.tui.conftest import CACHED, MakeApp, memory_catalog
from tests.tui.fixed_sampler import FixedSampler
from tests.tui.helpers import screen_text, settle, wait_for
from tests.tui.monitor_fixture import MODEL_A, MODEL_B, write_fixture

FIXTURE_NAME = "session.jsonl"  # shown in the status line: keep it fixed for the snapshots


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    return write_fixture(tmp_path / FIXTURE_NAME)


def replay_app(path: Path) -> ReplayApp:
    return ReplayApp(read_recording(path), path.name)


def run(app: Any, body: Callable[[Pilot[Any]], Awaitable[None]], size: tuple[int, int] = (100, 40)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await body(pilot)

    asyncio.run(main())


def text(app: Any, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def table_rows(app: Any, selector: str) -> list[list[str]]:
    """A text table's rows (header dropped) split on runs of 2+ spaces."""
    lines = str(app.query_one(selector, Static).render()).splitlines()[1:]
    return [[cell for cell in re.split(r"\s{2,}", line.strip())] for line in lines]


async def gpu_chart_drawn(pilot: Pilot[Any]) -> None:
    """The GPU chart mounts on the pane's first refresh and draws on the next."""

    def drawn() -> bool:
        charts = pilot.app.query("#chart-gpu0").results(TimelineChart)
        return any(chart.size.area and chart.plain_lines[0].startswith("GPU0") for chart in charts)

    await wait_for(pilot, drawn, "the GPU chart")
    await pilot.pause()


def terminal_lines(app: Any) -> list[str]:
    """What the terminal shows, line by line, as plain text (the compositor's lines: the SVG splits text in runs)."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def model_lines(app: Any) -> list[str]:
    """The per-model table's rows as shown (each a model's lines, joined by newlines)."""
    models = app.query_one("#monitor-models", OptionList)
    if not models.display:
        return []
    return [str(models.get_option_at_index(i).prompt) for i in range(models.option_count)]


def model_state(app: Any) -> str | None:
    rows = model_lines(app)
    found = re.search(r"\b(loading|loaded|unloaded|failed)\b", rows[0]) if rows else None
    return found.group(1) if found else None


def estimated(size_mb: float = 900.0, kv_mb: float = 200.0) -> FitEstimated:
    """The estimate the app delivers before a load (here for the fixture's first model)."""
    est = FitEstimate("genai_config", size_mb, kv_mb, 14.0, "fp16, 4096 tokens")
    message = f"{MODEL_A} fits in RAM: needs {est.total_mb:.0f} MB ({est.describe()}), 22.8 GB available of 32.0 GB"
    return FitEstimated(FitCheck(MODEL_A, True, "RAM", size_mb, est.total_mb, 23347.0, message, est), "load")


# -- replay ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_replay_snapshot(size: tuple[int, int], snap_compare: Any, fixture_file: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("z", "z")  # the whole recording
        pilot.app.query_one(MonitorPane).post_message(estimated())  # as the app delivers it before a load
        await wait_for(pilot, lambda: "est 1.09 GB" in screen_text(pilot) or "1.09 GB" in screen_text(pilot))
        await gpu_chart_drawn(pilot)

    assert snap_compare(replay_app(fixture_file), terminal_size=size, run_before=run_before)


def test_replay_renders_identically_twice(fixture_file: Path) -> None:
    screens: list[str] = []

    async def body(pilot: Pilot[Any]) -> None:
        await gpu_chart_drawn(pilot)
        screens.append(pilot.app.export_screenshot())

    for _ in range(2):
        run(replay_app(fixture_file), body, size=(120, 40))
    assert screens[0] == screens[1]


def test_replay_keys_zoom_and_pause(fixture_file: Path) -> None:
    async def body(pilot: Pilot[Any]) -> None:
        app = pilot.app
        pane = app.query_one(MonitorPane)
        await wait_for(pilot, lambda: app.focused is pane, "the pane's focus")
        status = text(app, "#monitor-status")
        assert status.startswith("▶ replay session.jsonl · window 1 min · ")
        assert "samples" in status and "10 markers" in status
        # The 1 min window holds the second load only; its markers sit in the chart's marker row.
        ram = app.query_one("#chart-ram", TimelineChart).plain_lines
        assert ram[0].startswith("RAM used 9.") and "of 32.0 GB" in ram[0]
        assert "L" in ram[-1] and "l" in ram[-1] and "D" not in ram[-1]
        assert text(app, "#monitor-events").startswith(f"last: l {MODEL_B} −37.8 s · L {MODEL_B} −39.8 s")
        await pilot.press("z")
        assert pane.zoom_label == "5 min" and "window 5 min" in text(app, "#monitor-status")
        await pilot.press("z")
        assert pane.zoom_label == "all"
        markers = app.query_one("#chart-rss", TimelineChart).plain_lines[-1]
        assert [c for c in markers if c.strip()] == list("DdLlFSUuLl")
        await pilot.press("p")
        assert pane.paused and text(app, "#monitor-status").startswith("❚❚ paused (p resumes)")
        await pilot.press("z")  # zoom still works on the frozen view
        assert "window 1 min" in text(app, "#monitor-status")
        await pilot.press("p")
        assert not pane.paused and text(app, "#monitor-status").startswith("▶ replay")
        # Per-process and per-model tables.
        procs = table_rows(app, "#monitor-procs")
        assert procs[0][:5] == ["this process", "1.27 GB", "1.23 GB", "3%", "1.27 GB"]  # peak in the last minute
        assert procs[1][0] == "server: this process (in-process runtime)"
        # Each model's own memory: growth since right before its load (no estimates in a recording).
        head = str(app.query_one("#monitor-models-head", Static).render()).splitlines()
        assert head[0] == "model · state" and head[1].split() == [
            "load", "peak", "steady", "after", "req", "residue", "GPU", "peak", "GPU", "resid."
        ]  # fmt: skip
        a, b = (row.splitlines() for row in model_lines(app))
        assert a[0] == f"{MODEL_A} · unloaded"
        assert " ".join(a[1].split()) == "3.00 s +1.06 GB +800 MB +800 MB +200 MB +0 MB +0 MB"
        assert b[0] == f"{MODEL_B} · loaded" and b[1].split()[:4] == ["2.00", "s", "+800", "MB"]
        assert pane.highlighted_model == MODEL_B  # the latest load: what `l` / `u` act on
        # Keyboard only: the pane's keys work from the model list (where arrows pick the model).
        await pilot.press("up")
        assert pane.highlighted_model == MODEL_A
        await pilot.press("z")
        assert pane.zoom_label == "5 min"

    run(replay_app(fixture_file), body)


def test_untrusted_names_in_a_recording_are_literal(tmp_path: Path) -> None:
    path = tmp_path / "evil.jsonl"
    path.write_text(
        '{"t": 1, "kind": "sample", "process_rss_mb": 10, "server": "[bold]x[/bold] \\u001b[2J"}\n'
        '{"t": 1.5, "kind": "event", "event": "load_start", "model": "[red]m[/red]\\u001b]0;pwn\\u0007"}\n'
        '{"t": 2, "kind": "sample", "process_rss_mb": 20}\n'
    )

    async def body(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: "pwn" in text(pilot.app, "#monitor-events"), "the events line")
        assert "[red]m[/red]\\x1b]0;pwn\\x07" in text(pilot.app, "#monitor-events")
        assert table_rows(pilot.app, "#monitor-procs")[1][0] == "server: [bold]x[/bold] \\x1b[2J"
        screen = pilot.app.export_screenshot()
        assert "\x1b" not in screen and "\x07" not in screen

    run(replay_app(path), body)


def test_bucket_max_keeps_short_peaks() -> None:
    import numpy as np

    t = np.arange(0.0, 10.0, 0.1)
    values = np.ones_like(t)
    values[37] = 9.0  # one sample spike
    values[80:] = np.nan
    out = bucket_max(t, values, 0.0, 10.0, 5)
    assert list(out[:4]) == [1.0, 9.0, 1.0, 1.0] and np.isnan(out[4])


# -- the app's Monitor tab ---------------------------------------------------------------------------------------


def test_fourth_tab_with_a_sampler_that_has_no_history(make_app: MakeApp) -> None:
    app = make_app()

    async def body(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.backend_state == "ready")
        app.query_one("#catalog-table").focus()  # a widget of another pane has focus (not the tab bar)
        await settle(pilot)
        await pilot.press("4")
        pane = app.query_one(MonitorPane)
        await wait_for(pilot, lambda: app.query_one("#tabs", TabbedContent).active == "monitor")
        pane.focus()
        assert text(app, "#monitor-status").startswith("● live · window 1 min · 4 Hz (20 Hz while loading)")
        assert "no samples in this window" in app.query_one("#chart-ram", TimelineChart).plain_lines[1]
        await pilot.press("z")
        assert pane.zoom_label == "5 min"

    run(app, body, size=(80, 24))


def test_live_load_and_unload_show_up(runtime: FoundryBackend, tmp_path: Path) -> None:
    sampler = MemorySampler(keep_s=600)
    app = FoundryTuiApp(Settings(data_dir=tmp_path), backend=runtime, sampler=sampler)

    async def body(pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        await wait_for(pilot, lambda: app.session.ready and len(sampler.timeline()) > 2)
        app.post_message(LoadRequested(TINY_ID))
        await wait_for(pilot, lambda: model_state(app) == "loaded")
        assert text(app, "#monitor-events").startswith(f"last: l {TINY_ID} ")
        assert "L" in app.query_one("#chart-rss", TimelineChart).plain_lines[-1]
        app.post_message(UnloadRequested(TINY_ID))
        await wait_for(pilot, lambda: model_state(app) == "unloaded")
        row = model_lines(app)[0]
        assert row.startswith(TINY_ID) and re.search(r"[+−]\d+ [KM]B", row)  # its own figures, signed (tiny)
        assert "before load: tiny-generic-cpu:1 fits in RAM: needs" in text(app, "#monitor-fit")
        assert "(fp32, grows with the sequence, up to 512 tokens)" in text(app, "#monitor-fit")

    run(app, body, size=(120, 40))


def test_fit_warning_names_the_numbers(memory: MemoryBackend, make_app: MakeApp) -> None:
    memory.catalog += [entry("huge-generic-cpu:1", size_mb=40_000), entry("small-generic-cpu:1", size_mb=100)]
    memory.cached.add("small-generic-cpu:1")
    app = make_app()

    async def body(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.backend_state == "ready" and app.snapshot.catalog is not None)
        app.post_message(DownloadRequested("huge-generic-cpu:1"))  # warned, still queued: never a refusal
        app.post_message(LoadRequested("small-generic-cpu:1"))  # fits: no warning
        await wait_for(pilot, lambda: "huge-generic-cpu:1" in memory.cached, "the download")
        await wait_for(pilot, lambda: "small-generic-cpu:1" in memory.loaded, "the load")
        await settle(pilot)
        warnings = [(n.title, n.message) for n in app._notifications if n.severity == "warning"]
        assert warnings == [
            (
                "Before download: may not fit",
                "huge-generic-cpu:1 may not fit in RAM: needs 47.4 GB (size-based: 39.1 GB × 1.2 + 512 MB "
                "headroom), 24.0 GB available of 32.0 GB",
            )
        ]

    run(app, body)


def test_chat_marks_load_first_token_and_stream_end(make_app: MakeApp) -> None:
    app = make_app()
    sampler = app.session.sampler  # markers need no samples: they live in the sampler's event log

    async def body(pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        chat = app.query_one(ChatPane)
        await wait_for(pilot, lambda: chat.model is not None)
        chat.use_model(CACHED)  # not loaded yet
        prompt = app.query_one("#prompt", Input)
        prompt.value = "hi"
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.last_reply)
        await wait_for(pilot, lambda: any(e.kind == "stream_end" for e in sampler.events.events()))
        events = [(e.kind, e.model, e.detail) for e in sampler.events.events()]
        assert events == [
            ("load_start", CACHED, ""),  # the chat's load-on-demand goes through the lifecycle
            ("load_end", CACHED, ""),
            ("first_token", CACHED, ""),
            ("stream_end", CACHED, "stop"),
        ]
        t = [e.t for e in sampler.events.events()]
        assert t == sorted(t)
        await settle(pilot)

    run(app, body)


# -- the live app at 80×24: the model's own figures, the estimate and its error, l / u from the table ------------


class GrowingMemory(MemoryBackend):
    """The in-memory backend with a memory footprint: a load adds `load_mb` to the sampler's RSS, the first chat
    `kv_mb` (the KV cache), an unload gives back all but `residue_mb` (as the runtime does)."""

    def __init__(self, sampler: FixedSampler, load_mb: float, kv_mb: float, residue_mb: float) -> None:
        base = memory_catalog()
        super().__init__(catalog=base.catalog, cached=base.cached, loaded=base.loaded, label=base.label)
        self.sampler, self.load_mb, self.kv_mb, self.residue_mb = sampler, load_mb, kv_mb, residue_mb
        self.chats = 0

    def load(self, model: str) -> Any:
        if model not in self.loaded:
            self.sampler.grow(self.load_mb)
        return super().load(model)

    def stream_chat(self, model: str, messages: Any, options: Any) -> Any:
        self.chats += 1
        if self.chats == 1:
            self.sampler.grow(self.kv_mb)
        return super().stream_chat(model, messages, options)

    def unload(self, model: str) -> None:
        super().unload(model)
        self.sampler.grow(-(self.load_mb + (self.kv_mb if self.chats else 0.0) - self.residue_mb))


def growing_app(tmp_path: Path, smol_dir: Path | None = None) -> tuple[FoundryTuiApp, GrowingMemory]:
    sampler = FixedSampler(record=True)
    backend = GrowingMemory(sampler, load_mb=248.0, kv_mb=368.0, residue_mb=68.0)
    if smol_dir is not None:  # CACHED on disk with SmolLM2's genai_config: the estimate is 632 MB
        backend.catalog = [dataclasses.replace(e, path=str(smol_dir)) if e.id == CACHED else e for e in backend.catalog]
    app = FoundryTuiApp(Settings(data_dir=tmp_path / "app"), backend=backend, sampler=sampler)
    app.animation_level = "none"
    return app, backend


def test_l_and_u_act_on_the_model_highlighted_in_the_monitor(tmp_path: Path) -> None:
    app, backend = growing_app(tmp_path)

    async def body(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.backend_state == "ready", "the backend")
        app.post_message(LoadRequested(CACHED))
        await wait_for(pilot, lambda: CACHED in backend.loaded, "the load")
        await pilot.press("4")
        pane = app.query_one(MonitorPane)
        await wait_for(pilot, lambda: pane.highlighted_model == CACHED and app.selected_model == CACHED)
        # The in-memory load takes microseconds (its digits vary); the memory is the model's, not the whole RSS.
        assert re.fullmatch(r"load 0\.0+[1-9]? s · \+248 MB", str(app.query_one("#lifecycle", Label).render()))
        await pilot.press("u")
        await wait_for(pilot, lambda: CACHED not in backend.loaded, "the unload from the Monitor")
        await wait_for(pilot, lambda: model_state(app) == "unloaded")
        screen = "\n".join(terminal_lines(app))
        # At 80×24 the model's figures are on screen: load time, peak, steady, residue (no sideways scrolling).
        assert re.search(r"load +peak +steady +vs est +after req +vs est +residue", screen)
        assert f"{CACHED} · unloaded" in screen
        figures = model_lines(app)[0].splitlines()[1].split()
        assert re.fullmatch(r"0\.0+[1-9]?", figures[0])  # the in-memory load: microseconds, digits vary
        assert figures[1:6] == ["s", "+248", "MB", "+248", "MB"] and figures[-2:] == ["+68", "MB"]
        assert "+68 MB" in screen  # the residue
        # The strip says it in short at 80 columns (the model's own figure), the whole line in its tooltip.
        strip = app.query_one("#lifecycle", Label)
        assert str(strip.render()) == "residue +68 MB" and str(strip.tooltip) == f"{CACHED}: residue +68 MB"
        await pilot.press("l")
        await wait_for(pilot, lambda: CACHED in backend.loaded, "the load from the Monitor")
        assert not [n for n in app._notifications if "Select a model first" in n.message]
        await settle(pilot)

    run(app, body, size=(80, 24))


def test_the_estimate_and_its_error_after_load_and_after_the_first_request(tmp_path: Path) -> None:
    from tests.test_fit import SMOL_FILES_MB
    from tests.test_genai_config import smollm2_like

    smol = smollm2_like(tmp_path / "smol")
    with (smol / "model.onnx.data").open("wb") as fh:
        fh.truncate(int(SMOL_FILES_MB * 2**20) - (smol / "genai_config.json").stat().st_size)
    app, _ = growing_app(tmp_path, smol)

    async def body(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.backend_state == "ready", "the backend")
        await pilot.press("3")
        chat = app.query_one(ChatPane)
        await wait_for(pilot, lambda: chat.model is not None)
        chat.use_model(CACHED)  # not loaded: the chat loads it first, after the fit estimate
        app.query_one("#prompt", Input).value = "hi"
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.last_reply, "the reply")
        await app.run_action("show_tab('monitor')")  # the prompt has the keyboard: "4" would be typed
        await wait_for(pilot, lambda: app.query_one("#tabs", TabbedContent).active == "monitor")
        shown = model_lines
        await wait_for(pilot, lambda: "+616 MB" in "".join(shown(app)) and shown(app)[0].count("\n") == 1)
        name, figures = model_lines(app)[0].splitlines()
        assert name == f"{CACHED} · loaded · CPU · est 632 MB"  # where it runs; files 258 + KV 360 + runtime 14
        # steady +248 MB against 272 MB expected after the load: +10 %; after the request +616 MB against 632: +3 %
        load, *rest = figures.split()
        assert re.fullmatch(r"0\.0+[1-9]?", load)  # microseconds: the first significant digit (it varies)
        assert rest == ["s", "+248", "MB", "+248", "MB", "+10%", "+616", "MB", "+3%", "–"]
        head = str(app.query_one("#monitor-models-head", Static).render()).splitlines()
        assert head[1].split() == ["load", "peak", "steady", "vs", "est", "after", "req", "vs", "est", "residue"]
        fit = text(app, "#monitor-fit")
        assert fit.startswith(f"before load: {CACHED} fits in RAM: needs 632 MB (files 258 MB + KV cache 360 MB")
        screen = "\n".join(terminal_lines(app))
        assert "+616 MB" in screen and "+3%" in screen and "+10%" in screen
        await settle(pilot)

    run(app, body, size=(80, 24))

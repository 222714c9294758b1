"""`foundry-tui monitor --replay FILE`: the Monitor pane over a recorded timeline (no runtime is opened)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header

from foundry_tui import paths
from foundry_tui.engine.timeline import StaticTimeline, Timeline
from foundry_tui.text import safe_line
from foundry_tui.tui.panes.monitor import MonitorPane


class ReplayApp(App[None]):
    TITLE = "foundry-tui · monitor replay"
    CSS_PATH = str(paths.styles_dir() / "app.tcss")
    BINDINGS = [
        Binding("question_mark", "toggle_help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, timeline: Timeline, name: str) -> None:
        super().__init__()
        self.timeline = timeline
        self.recording_name = safe_line(name, 80)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield MonitorPane(StaticTimeline(self.timeline), title=self.recording_name, classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.recording_name
        self.query_one(MonitorPane).focus()

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()


__all__ = ["ReplayApp"]

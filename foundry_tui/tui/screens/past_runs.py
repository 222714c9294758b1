"""Past benchmark runs, newest first: the TUI's and the CLI's (one results root), and ./bench-results.

A view: on mount it posts `PastRunsRequested`; the app reads the files on a worker (tui.bench_routes) and posts
`PastRunsListed` back here, so a directory of large results files never holds up the screen. Enter picks a run
(the dialog's result is its directory), Esc closes. The two messages live here, beside the one dialog that uses
them (tui.messages belongs to the app's shared intents).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from foundry_tui.engine.bench.past_runs import PastRun, short_path
from foundry_tui.tui.widgets.literal import literal


@dataclass
class PastRunsRequested(Message):
    """List the runs under `roots` and post `PastRunsListed` to `reply_to`."""

    roots: tuple[Path, ...]
    reply_to: PastRunsScreen


@dataclass
class PastRunsListed(Message, bubble=False):
    runs: list[PastRun]


def run_label(run: PastRun, roots: tuple[Path, ...]) -> str:
    """One line per run; where it was found when that is not the results root (./bench-results)."""
    where = f" · {short_path(run.root)}" if roots and run.root != roots[0] else ""
    return run.describe() + where


class PastRunsScreen(ModalScreen[Path | None]):
    DEFAULT_CSS = """
    PastRunsScreen { align: center middle; }
    PastRunsScreen > Vertical { width: 90%; height: 80%; background: $surface; border: thick $panel-lighten-2; }
    PastRunsScreen Static { padding: 0 1; color: $text-muted; height: auto; }
    PastRunsScreen OptionList { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, roots: list[Path]) -> None:
        super().__init__()
        self.roots = tuple(roots)
        self.runs: list[PastRun] | None = None  # None: still reading

    def compose(self) -> ComposeResult:
        where = " and ".join(short_path(root) for root in self.roots)
        with Vertical():
            yield Static(literal(f"runs in {where} · Enter opens · Esc closes"), id="runs-where", markup=False)
            yield Static("reading the runs…", id="runs-state", markup=False)
            yield OptionList(id="runs")

    def on_mount(self) -> None:
        self.post_message(PastRunsRequested(self.roots, self))

    def on_past_runs_listed(self, message: PastRunsListed) -> None:
        self.runs = message.runs
        state = self.query_one("#runs-state", Static)
        options = self.query_one("#runs", OptionList)
        options.clear_options()
        if not message.runs:
            state.update("no runs yet: run a benchmark (ctrl+r), or `foundry-tui bench`")
            return
        state.display = False
        options.add_options([Option(literal(run_label(run, self.roots)), id=str(run.path)) for run in message.runs])
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Path(event.option.id) if event.option.id else None)

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["PastRunsListed", "PastRunsRequested", "PastRunsScreen", "run_label"]

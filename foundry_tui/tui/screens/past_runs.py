"""Past benchmark runs found in the results directory, newest first."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from foundry_tui.engine.bench.report import RESULTS_JSON, load_results
from foundry_tui.errors import FoundryTuiError
from foundry_tui.tui.widgets.literal import literal


def describe_run(path: Path) -> str:
    """'20261125-131500 · tiny, smollm2 · 24 requests' (or why the file cannot be read)."""
    try:
        results = load_results(path / RESULTS_JSON)
    except FoundryTuiError:
        return f"{path.name} · unreadable"
    models = ", ".join(m.model for m in results.models)
    partial = " · partial" if results.partial else ""
    return f"{path.name} · {models} · {len(results.requests)} requests{partial}"


class PastRunsScreen(ModalScreen[Path | None]):
    DEFAULT_CSS = """
    PastRunsScreen { align: center middle; }
    PastRunsScreen > Vertical { width: 90%; height: 80%; background: $surface; border: thick $panel-lighten-2; }
    PastRunsScreen Static { padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        runs = sorted((p.parent for p in self.root.glob(f"*/{RESULTS_JSON}")), reverse=True)
        with Vertical():
            yield Static(literal(f"runs in {self.root} · Enter opens · Esc closes"), markup=False)
            options = [Option(literal(describe_run(p)), id=str(p)) for p in runs]
            yield OptionList(*options, id="runs") if options else Static("no runs yet")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Path(event.option.id) if event.option.id else None)

    def action_close(self) -> None:
        self.dismiss(None)

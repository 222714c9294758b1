"""Past benchmark runs found in the results directory, newest first."""

from __future__ import annotations

import json
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from foundry_tui.engine.report import RESULTS_JSON
from foundry_tui.tui.widgets.literal import literal


def describe_run(path: Path) -> str:
    """'20261125-131500 · tiny, smollm2 · 24 requests' (or why the file cannot be read)."""
    try:
        data = json.loads((path / RESULTS_JSON).read_text(encoding="utf-8"))
        models = ", ".join(m.get("model", "?") for m in data.get("models", []))
        partial = " · partial" if data.get("partial") else ""
        return f"{path.name} · {models} · {len(data.get('requests', []))} requests{partial}"
    except (OSError, ValueError, AttributeError) as exc:
        return f"{path.name} · unreadable ({type(exc).__name__})"


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

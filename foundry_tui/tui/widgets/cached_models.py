"""Models on disk: a summary line (count, total size, where), a table and an inline error line.

It renders what the Cache pane hands it (`show`); model ids and paths are untrusted and drawn literally.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from foundry_tui.engine import units
from foundry_tui.engine.models import ModelEntry
from foundry_tui.text import escape_controls
from foundry_tui.tui.widgets.literal import literal

COLUMNS = (("kind", "Kind", 10), ("device", "Device", 6), ("size", "Size", 7), ("loaded", "Loaded", 6))


def cache_summary(rows: list[ModelEntry], cache_dir: str | None) -> str:
    count = len(rows)
    if not count:
        where = f" in {cache_dir}" if cache_dir else ""
        return f"No models on disk yet{where}. Download one from the Catalog, or register a directory below."
    total = sum(m.size_mb or 0 for m in rows)
    unknown = sum(1 for m in rows if m.size_mb is None)
    text = f"{units.count(count, 'model')} · {units.size(total)}"
    if unknown:
        text += f" (+{unknown} of unknown size)"
    return text + (f" in {cache_dir}" if cache_dir else " (the endpoint's service keeps the files)")


def kind_of(entry: ModelEntry) -> str:
    return {"local": "registered", "public": "cached", "endpoint": "on service"}.get(entry.source, entry.source)


def set_inline_error(widget: Static, text: str | None) -> None:
    """An error line that takes no room while empty (class `-empty`)."""
    widget.update(literal(text or ""))
    widget.set_class(not text, "-empty")


class CachedModels(Vertical):
    DEFAULT_CSS = """
    CachedModels { height: auto; }
    CachedModels #cache-summary { color: $text-muted; }
    CachedModels DataTable { height: auto; max-height: 12; scrollbar-size-vertical: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="cached-models")
        self.rows: list[ModelEntry] = []
        self._signature: tuple[tuple[str, str, str, str, bool], ...] | None = None
        self._ids: list[str] = []
        self._cache_dir: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="cache-summary", markup=False)
        yield DataTable(id="cached-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="cache-error", classes="inline-error -empty", markup=False)

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#cached-table", DataTable)

    def layout_columns(self, model_width: int) -> None:
        table = self.table
        table.clear(columns=True)
        table.add_column("Model", key="model", width=model_width)
        for key, label, width in COLUMNS:
            table.add_column(Text(label, justify="right") if key == "size" else Text(label), key=key, width=width)
        self._signature = None
        self._render_rows()

    @staticmethod
    def fixed_width() -> int:
        return sum(w + 2 for _, _, w in COLUMNS) + 2  # each cell has one column of padding either side

    def show(self, rows: list[ModelEntry], cache_dir: str | None) -> None:
        self.rows = rows
        self._cache_dir = cache_dir
        self.query_one("#cache-summary", Static).update(literal(cache_summary(rows, cache_dir)))
        self._render_rows()

    def _render_rows(self) -> None:
        sig = tuple((m.id, kind_of(m), m.device or "", units.size(m.size_mb), m.loaded) for m in self.rows)
        if sig == self._signature:
            return
        self._signature = sig
        table = self.table
        current = self.selected_id()
        table.clear()
        for model_id, kind, device, size, loaded in sig:
            table.add_row(
                Text(escape_controls(model_id), no_wrap=True, overflow="ellipsis"),
                Text(kind, style="dim" if kind == "registered" else ""),
                Text(escape_controls(device)),
                Text(size, justify="right"),
                Text("✓" if loaded else "", style="bold green", justify="center"),
                key=model_id,
            )
        self._ids = [m.id for m in self.rows]
        if current in self._ids:
            table.move_cursor(row=self._ids.index(current))

    def selected_id(self) -> str | None:
        if not self._ids:
            return None
        row = self.table.cursor_row
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def selected(self) -> ModelEntry | None:
        model_id = self.selected_id()
        return next((m for m in self.rows if m.id == model_id), None)

    def set_error(self, text: str | None) -> None:
        set_inline_error(self.query_one("#cache-error", Static), text)


__all__ = ["CachedModels", "cache_summary", "kind_of", "set_inline_error"]

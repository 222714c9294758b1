"""Models on disk: a header naming every directory that holds them (with sizes), a table and an inline error line.

It renders what the Cache pane hands it (`show`: the snapshot's models on disk and the backend's known
directories); grouping is by path only, no disk I/O. Model ids and paths are untrusted and drawn literally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePath

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from foundry_tui.engine import units
from foundry_tui.engine.models import ModelEntry
from foundry_tui.text import escape_controls, middle_ellipsis
from foundry_tui.tui.widgets.literal import literal

COLUMNS = (("kind", "Kind", 10), ("device", "Device", 6), ("size", "Size", 7), ("loaded", "Loaded", 6))
# The backend's directories (BackendInfo.details keys) in the order the header lists them, with their names.
KNOWN_DIRS = (("import_dir", "imported"), ("cache_dir", "cache"), ("model_dir", "cache"))
MAX_OTHER_DIRS = 3  # registered models elsewhere: one line per parent dir, then one line for the rest


@dataclass(frozen=True)
class DiskGroup:
    """Models that live in one directory: `imported`, `cache`, or `registered` (any other parent dir)."""

    label: str
    directory: str
    size_mb: float = 0.0
    count: int = 0
    unknown: int = 0  # models whose size is not known (not in size_mb)


def known_dirs(details: dict[str, str] | None) -> list[tuple[str, str]]:
    """(label, directory) for each directory the backend names, imported models first."""
    found: list[tuple[str, str]] = []
    for key, label in KNOWN_DIRS:
        directory = (details or {}).get(key)
        if directory and all(directory != d for _, d in found):
            found.append((label, directory))
    return found


def _local_path(entry: ModelEntry) -> PurePath | None:
    path = entry.path
    return None if not path or "://" in path else PurePath(path)  # a service's `azureml://…` is not on this disk


def home_short(path: str, home: str | None = None) -> str:
    """`/home/me/x` → `~/x` (display only)."""
    home = os.path.expanduser("~") if home is None else home
    if home and home != "/" and (path == home or path.startswith(home.rstrip("/") + "/")):
        return "~" + path[len(home.rstrip("/")) :]
    return path


def group_of(entry: ModelEntry, dirs: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(label, directory) of the directory that holds `entry`: a known one, else its parent (None: not local)."""
    path = _local_path(entry)
    if path is None:
        # A cached catalog model without a reported path lives in the runtime's cache.
        cache = next((d for label, d in dirs if label == "cache"), None)
        return ("cache", cache) if entry.source == "public" and cache else None
    for label, directory in sorted(dirs, key=lambda d: -len(d[1])):  # the deepest known dir wins
        if path.is_relative_to(directory):
            return label, directory
    return "registered", str(path.parent)


def disk_groups(rows: list[ModelEntry], details: dict[str, str] | None) -> list[DiskGroup]:
    """Every known directory (empty ones too: where the next download or import goes), then the others."""
    dirs = known_dirs(details)
    totals: dict[tuple[str, str], list[float]] = {d: [0.0, 0, 0] for d in dirs}
    for entry in rows:
        key = group_of(entry, dirs)
        if key is None:
            continue
        total = totals.setdefault(key, [0.0, 0, 0])
        total[0] += entry.size_mb or 0
        total[1] += 1
        total[2] += entry.size_mb is None
    groups = [DiskGroup(label, d, size, int(n), int(unknown)) for (label, d), (size, n, unknown) in totals.items()]
    known = groups[: len(dirs)]
    others = sorted(groups[len(dirs) :], key=lambda g: (-g.size_mb, g.directory))
    if len(others) > MAX_OTHER_DIRS:
        rest = others[MAX_OTHER_DIRS - 1 :]
        merged = DiskGroup(
            "elsewhere",
            f"{len(rest)} more directories",
            sum(g.size_mb for g in rest),
            sum(g.count for g in rest),
            sum(g.unknown for g in rest),
        )
        others = [*others[: MAX_OTHER_DIRS - 1], merged]
    return known + others


def group_line(group: DiskGroup, home: str | None = None) -> str:
    """`  imported     258 MB  ~/.local/share/foundry-tui/models` (≥ when some sizes are unknown): short enough
    for 80 columns with the usual paths; a longer path wraps."""
    size = ("≥" if group.unknown else "") + units.size(group.size_mb)
    where = group.directory if group.label == "elsewhere" else home_short(group.directory, home)
    return f"  {group.label:<10} {size:>9}  {where}"


def cache_summary(rows: list[ModelEntry], details: dict[str, str] | None, home: str | None = None) -> str:
    """The header: count and total, then one line per directory that holds models (or would: the known ones)."""
    count = len(rows)
    groups = disk_groups(rows, details)
    total = sum(m.size_mb or 0 for m in rows)
    unknown = sum(1 for m in rows if m.size_mb is None)
    if not groups:  # an endpoint: the service keeps the files wherever it keeps them
        if not count:
            return "No models on disk yet. Download one from the Catalog."
        text = f"{units.count(count, 'model')} · {units.size(total)}"
        text += f" (+{unknown} of unknown size)" if unknown else ""
        return text + " (the endpoint's service keeps the files)"
    if count:
        head = f"{units.count(count, 'model')} · {units.size(total)} on disk"
        head += f" (+{unknown} of unknown size)" if unknown else ""
    else:
        head = "No models on disk yet: download one from the Catalog, import one (i) or register a directory below."
    return "\n".join([head, *(group_line(g, home) for g in groups)])


def kind_of(entry: ModelEntry, dirs: list[tuple[str, str]] | None = None) -> str:
    if entry.source == "local" and dirs is not None and (group_of(entry, dirs) or ("",))[0] == "imported":
        return "imported"
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
        self._dirs: list[tuple[str, str]] = []
        self._model_width = 40

    def compose(self) -> ComposeResult:
        yield Static("", id="cache-summary", markup=False)
        yield DataTable(id="cached-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="cache-error", classes="inline-error -empty", markup=False)

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#cached-table", DataTable)

    def layout_columns(self, model_width: int) -> None:
        self._model_width = model_width
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

    def show(self, rows: list[ModelEntry], details: dict[str, str] | None) -> None:
        """The models on disk and the backend's directories (`BackendInfo.details`: cache_dir, import_dir)."""
        self.rows = rows
        self._dirs = known_dirs(details)
        self.query_one("#cache-summary", Static).update(literal(cache_summary(rows, details)))
        self._render_rows()

    def directory_of(self, entry: ModelEntry) -> str | None:
        """Where `entry`'s files are: its own directory when known, else the directory that holds it."""
        if entry.path and "://" not in entry.path:
            return entry.path
        group = group_of(entry, self._dirs)
        return group[1] if group else None

    def _render_rows(self) -> None:
        sig = tuple((m.id, kind_of(m, self._dirs), m.device or "", units.size(m.size_mb), m.loaded) for m in self.rows)
        if sig == self._signature:
            return
        self._signature = sig
        table = self.table
        current = self.selected_id()
        table.clear()
        for model_id, kind, device, size, loaded in sig:
            shown = middle_ellipsis(escape_controls(model_id), self._model_width)  # device and version stay visible
            table.add_row(
                Text(shown, no_wrap=True, overflow="ellipsis"),
                Text(kind, style="dim" if kind in ("registered", "imported") else ""),
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


__all__ = [
    "CachedModels",
    "DiskGroup",
    "cache_summary",
    "disk_groups",
    "group_of",
    "home_short",
    "kind_of",
    "known_dirs",
    "set_inline_error",
]

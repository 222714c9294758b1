"""The Catalog pane: every known model variant in a filterable, sortable table, with a detail panel.

It only renders what the app's snapshot holds (`ModelsUpdated`) and asks the app to act (load, download,
refresh); it never calls the backend. Model and server text is untrusted: table cells are plain `rich.text.Text`
(never markup-parsed) and everything else goes through `literal()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from rich.console import JustifyMethod
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, LoadingIndicator, Static, TabbedContent, TabPane, Tabs

from foundry_tui.backends.base import CatalogListing, ModelEntry
from foundry_tui.text import escape_controls
from foundry_tui.tui.messages import ModelSelected, ModelsUpdated
from foundry_tui.tui.state import ModelsSnapshot
from foundry_tui.tui.widgets.literal import literal

if TYPE_CHECKING:
    from foundry_tui.tui.app import FoundryTuiApp

WIDE_AT = 110  # terminal columns from which the detail panel sits beside the table
SORTS = ("name", "size-desc", "size-asc")
SORT_LABELS = {"name": "name ↑", "size-desc": "size ↓", "size-asc": "size ↑"}
FILTER_PLACEHOLDER = "filter: text, device:gpu, task:chat, cached"
LOADING_TEXT = "fetching the public catalog…"
EMPTY_TEXT = "no models yet — register a local model dir (Cache tab) or connect to the internet for the public catalog"
UNREACHABLE_TEXT = "public catalog unreachable — showing local models"
UNSUPPORTED_TEXT = "this backend has no public catalog — showing local models"
RUNTIME_FAILED_TEXT = "the runtime failed to start — no models to list"
DEVICES = ("cpu", "gpu", "npu")


# -- filtering, sorting, formatting (pure functions) ---------------------------------------------------------


@dataclass(frozen=True)
class CatalogFilter:
    """A parsed filter line: free words (all must match) plus `device:`, `task:`, `cached`, `loaded`, `local`."""

    words: tuple[str, ...] = ()
    devices: frozenset[str] = frozenset()  # any of them
    tasks: tuple[str, ...] = ()  # all of them, substrings
    cached: bool = False
    loaded: bool = False
    local: bool = False

    @classmethod
    def parse(cls, text: str) -> CatalogFilter:
        words: list[str] = []
        devices: set[str] = set()
        tasks: list[str] = []
        flags = {"cached": False, "loaded": False, "local": False}
        for token in text.casefold().split():
            key, sep, value = token.partition(":")
            if sep and key == "device" and value:
                devices.add(value)
            elif sep and key == "task" and value:
                tasks.append(value)
            elif token in flags:
                flags[token] = True
            else:
                words.append(token)
        return cls(tuple(words), frozenset(devices), tuple(tasks), **flags)

    @property
    def active(self) -> bool:
        return bool(self.words or self.devices or self.tasks or self.cached or self.loaded or self.local)

    def matches(self, entry: ModelEntry) -> bool:
        if self.cached and not entry.cached:
            return False
        if self.loaded and not entry.loaded:
            return False
        if self.local and entry.source != "local":
            return False
        if self.devices and (entry.device or "").casefold() not in self.devices:
            return False
        task = (entry.task or "").casefold()
        if any(t not in task for t in self.tasks):
            return False
        haystack = " ".join(
            x for x in (entry.alias, entry.id, entry.display_name or "", entry.publisher or "")
        ).casefold()
        return all(word in haystack for word in self.words)


def sort_models(models: Iterable[ModelEntry], sort: str) -> list[ModelEntry]:
    """`name`: by id; `size-desc` / `size-asc`: by size, unknown sizes last, ties by id."""
    by_name = sorted(models, key=lambda m: (m.id.casefold(), m.id))
    if sort == "size-desc":
        return sorted(by_name, key=lambda m: (m.size_mb is None, -(m.size_mb or 0)))
    if sort == "size-asc":
        return sorted(by_name, key=lambda m: (m.size_mb is None, m.size_mb or 0))
    return by_name


def size_text(size_mb: int | None) -> str:
    """Model size on disk: MB below 1 GB, else GB with one decimal (1 GB = 1024 MB)."""
    if size_mb is None:
        return "—"
    return f"{size_mb / 1024:.1f} GB" if size_mb >= 1024 else f"{size_mb} MB"


def short_ep(execution_provider: str | None) -> str:
    """`CUDAExecutionProvider` → `CUDA`."""
    if not execution_provider:
        return ""
    return execution_provider.removesuffix("ExecutionProvider") or execution_provider


def device_text(entry: ModelEntry) -> str:
    device = entry.device or "—"
    ep = short_ep(entry.execution_provider)
    return f"{device}/{ep}" if ep and ep.casefold() != device.casefold() else device


def fit(text: str, width: int, *, middle: bool = False) -> str:
    """Shorten to `width` cells with an ellipsis (in the middle for ids, whose variant suffix matters)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    if middle:
        head = (width - 1) // 2
        tail = width - 1 - head
        return f"{text[:head]}…{text[len(text) - tail :]}"
    return f"{text[: width - 1]}…"


def enter_action(entry: ModelEntry) -> str:
    if entry.loaded:
        return "chat with it"
    if entry.cached:
        return "load it"
    return "download it"


# -- table columns -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    justify: JustifyMethod = "left"


MODEL_MIN = 24  # the model id column never gets narrower than this (ids are shortened in the middle)
MODEL_MAX = 40  # optional columns only appear while the id column can be this wide (or as wide as the longest id)
# Left-to-right order of the columns besides the model id.
COLUMNS = (
    Column("alias", "Alias", 16),
    Column("variants", "Var", 3, "right"),
    Column("device", "Device/EP", 10),
    Column("size", "Size", 7, "right"),
    Column("task", "Task", 15),
    Column("license", "License", 10),
    Column("source", "Source", 8),
    Column("cached", "Cached", 6, "center"),
    Column("loaded", "Loaded", 6, "center"),
)
ESSENTIAL = ("cached", "loaded", "device", "size")  # shown whenever the id column can keep MODEL_MIN
OPTIONAL = ("task", "source", "alias", "variants", "license")  # shown, in this order, when there is room
PADDING = 2  # DataTable cell padding, both sides


def fit_columns(available: int, longest_id: int) -> tuple[int, tuple[Column, ...]]:
    """The model column's width and the other columns that fit in `available` cells."""
    by_key = {c.key: c for c in COLUMNS}
    chosen: set[str] = set()
    used = 0
    want = max(MODEL_MIN, min(longest_id, MODEL_MAX))
    for keys, model_width in ((ESSENTIAL, MODEL_MIN), (OPTIONAL, want)):
        for key in keys:
            need = by_key[key].width + PADDING
            if model_width + PADDING + used + need <= available:
                chosen.add(key)
                used += need
    model_width = max(MODEL_MIN, min(max(longest_id, len("Model")), available - used - PADDING))
    return model_width, tuple(c for c in COLUMNS if c.key in chosen)


def _align(text: str, width: int, justify: str) -> str:
    if justify == "right":
        return text.rjust(width)
    if justify == "center":
        return text.center(width)
    return text


def cells(entry: ModelEntry, model_width: int, columns: Sequence[Column]) -> list[Text]:
    """One row of plain Text cells: no markup is parsed, control characters are made visible."""
    values = {
        "alias": entry.alias,
        "variants": str(len(entry.variants) or 1),
        "device": device_text(entry),
        "size": size_text(entry.size_mb),
        "task": entry.task or "—",
        "license": entry.license or "—",
        "source": entry.source,
        "cached": "✓" if entry.cached else "",
        "loaded": "✓" if entry.loaded else "",
    }
    row = [Text(fit(escape_controls(entry.id), model_width, middle=True), no_wrap=True, end="")]
    for column in columns:
        text = _align(fit(escape_controls(values[column.key]), column.width), column.width, column.justify)
        row.append(Text(text, no_wrap=True, end=""))
    return row


# -- detail panel ---------------------------------------------------------------------------------------------


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _tokens(value: int | None) -> str:
    return "—" if value is None else f"{value:,} tokens"


Part = str | Content | tuple[str, str]


def detail_fields(entry: ModelEntry) -> list[tuple[str, str]]:
    """Every piece of metadata the entry carries, as (label, text) pairs."""
    fields = [
        ("alias", entry.alias),
        ("display name", entry.display_name or "—"),
        ("source", entry.source),
        ("device", entry.device or "—"),
        ("EP", entry.execution_provider or "—"),
        ("size", size_text(entry.size_mb)),
        ("task", entry.task or "—"),
        ("license", entry.license or "—"),
        ("publisher", entry.publisher or "—"),
        ("version", "—" if entry.version is None else str(entry.version)),
        ("context", _tokens(entry.context_length)),
        ("max output", _tokens(entry.max_output_tokens)),
        ("tool calling", _yes_no(entry.supports_tool_calling)),
        ("cached", "yes" if entry.cached else "no"),
        ("loaded", "yes" if entry.loaded else "no"),
    ]
    if entry.path:
        fields.append(("path", entry.path))
    return fields


# Compact form (detail below the table): these groups share a line each.
COMPACT_LINES = (
    ("device", "EP", "size"),
    ("context", "max output", "tool calling"),
    ("task", "license", "source"),
    ("alias", "publisher", "version"),
    ("cached", "loaded", "path"),
)


def detail_content(entry: ModelEntry, *, compact: bool = False) -> Content:
    """The detail panel: one field per line, or (compact) a few fields per line for a short panel."""
    fields = dict(detail_fields(entry))
    parts: list[Part] = [(escape_controls(entry.id), "bold")]
    if compact and entry.display_name:
        parts += [(" · ", "dim"), literal(entry.display_name)]
    parts.append("\n")
    if compact:
        for names in COMPACT_LINES:
            line: list[Part] = []
            for name in (n for n in names if n in fields):
                line += [(" · " if line else "", "dim"), (f"{name} ", "dim"), literal(fields[name])]
            parts += [*line, "\n"]
    else:
        for name, value in fields.items():
            parts += [(f"{name:<13}", "dim"), literal(value), "\n"]
    variants = entry.variants or (entry.id,)
    parts.append((f"variants ({len(variants)})" + (": " if compact else "\n"), "dim"))
    for index, variant in enumerate(variants):
        mark = " ◂" if variant == entry.id and len(variants) > 1 else ""
        if compact:
            parts += [(", " if index else "", "dim"), literal(variant), mark]
        else:
            parts += [("• ", "dim"), literal(variant), mark, "\n"]
    parts += ["\n", ("Enter: ", "dim"), enter_action(entry)]
    return Content.assemble(*parts)


# -- widgets --------------------------------------------------------------------------------------------------


class CatalogTable(DataTable[Text]):
    """The model table; Enter (or a click on the highlighted row) uses the model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Chat/Load/Get", tooltip="Chat if loaded, load if cached, else download"),
    ]

    class WidthChanged(Message):
        pass

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.WidthChanged())


class CatalogPane(Widget):
    """Browse, filter and sort every known model; Enter chats with, loads or downloads the highlighted one."""

    DEFAULT_CSS = """
    CatalogPane {
        height: 1fr;
        layout: vertical;
        #catalog-bar { height: 1; }
        #catalog-filter {
            width: 1fr; height: 1; border: none; padding: 0 1; background: $boost;
            &:focus { background: $primary 25%; }
        }
        #catalog-status { width: auto; padding: 0 0 0 2; color: $text-muted; }
        #catalog-loading { height: 1; display: none; }
        #catalog-loading LoadingIndicator { width: 6; height: 1; min-height: 1; background: transparent; }
        #catalog-loading Label { color: $text-muted; }
        &.-loading #catalog-loading { display: block; }
        #catalog-banner { height: auto; max-height: 4; display: none; padding: 0 1; background: $warning 15%; }
        &.-banner #catalog-banner { display: block; }
        #catalog-empty { height: auto; display: none; padding: 1 1 0 1; color: $text-muted; }
        &.-empty #catalog-empty { display: block; }
        #catalog-body { height: 1fr; layout: vertical; }
        #catalog-table { height: 1fr; scrollbar-size-vertical: 1; }
        #catalog-detail { height: auto; max-height: 50%; border-top: solid $primary 50%; padding: 0 1; }
        &.-wide #catalog-body { layout: horizontal; }
        &.-wide #catalog-detail {
            width: 42; height: 1fr; max-height: 100%; border-top: none; border-left: solid $primary 50%;
        }
        &.-no-detail #catalog-detail { display: none; }
        &.-no-models #catalog-body { display: none; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("r", "refresh_catalog", "Refresh"),
        Binding("d", "toggle_detail", "Details"),
        Binding("escape", "clear_filter", "Clear filter"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._snapshot: ModelsSnapshot | None = None
        self._models: dict[str, ModelEntry] = {}
        self._shown: list[str] = []
        self._sort = "name"
        self._filter = CatalogFilter()
        self._selected: str | None = None  # the highlighted model id
        self._preferred: str | None = None  # the last row the user moved to: the cursor returns to it when it can
        self._render_cursor: str | None = None  # where the last re-render put the cursor (not a user move)
        self._posted: str | None = None
        self._refreshing = False
        self._refresh_from: CatalogListing | None = None
        self._layout: tuple[int, tuple[Column, ...]] | None = None

    # -- layout ----------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="catalog-bar"):
            yield Input(placeholder=FILTER_PLACEHOLDER, id="catalog-filter", compact=True)
            yield Label("", id="catalog-status", markup=False)
        with Horizontal(id="catalog-loading"):
            yield LoadingIndicator()
            yield Label(LOADING_TEXT, markup=False)
        yield Static("", id="catalog-banner", markup=False)
        yield Static("", id="catalog-empty", markup=False)
        with Container(id="catalog-body"):
            table = CatalogTable(id="catalog-table", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="catalog-detail"):
                yield Static("", id="catalog-detail-text", markup=False)

    def on_mount(self) -> None:
        self._update_width_class()
        self._show(getattr(self.app, "snapshot", None))
        if hasattr(self.app, "backend_state"):
            self.watch(self.app, "backend_state", self._backend_state_changed, init=False)
        self.call_after_refresh(self._focus_table_at_start)

    def _focus_table_at_start(self) -> None:
        """When the app opens on this tab, start in the table (not the tab strip) so the pane's keys work."""
        focused = self.app.focused
        if focused is not None and not isinstance(focused, Tabs):
            return
        tab_pane = next((a for a in self.ancestors if isinstance(a, TabPane)), None)
        tabbed = next((a for a in self.ancestors if isinstance(a, TabbedContent)), None)
        if tab_pane is None or tabbed is None or tabbed.active == tab_pane.id:
            self.query_one(CatalogTable).focus()

    def _backend_state_changed(self, state: str) -> None:
        if state == "failed":
            self._refreshing = False
        self._show(self._snapshot)

    def on_resize(self, event: events.Resize) -> None:
        self._update_width_class()

    def _update_width_class(self) -> None:
        self.set_class(self.app.size.width >= WIDE_AT, "-wide")

    @on(CatalogTable.WidthChanged)
    def _table_width_changed(self) -> None:
        self._render_rows()

    @property
    def _app(self) -> FoundryTuiApp:
        return cast("FoundryTuiApp", self.app)

    # -- data in ---------------------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        self._show(message.snapshot)

    def _show(self, snapshot: ModelsSnapshot | None) -> None:
        self._snapshot = snapshot
        models = snapshot.all_models() if snapshot is not None else []
        self._models = {m.id: m for m in models}
        catalog = snapshot.catalog if snapshot is not None else None
        if self._refreshing and catalog is not None and catalog is not self._refresh_from:
            self._refreshing = False
        failed = getattr(self.app, "backend_state", "") == "failed"
        self.set_class((catalog is None or self._refreshing) and not failed, "-loading")
        self._update_banner(catalog, failed)
        self._render_rows()

    def _update_banner(self, catalog: CatalogListing | None, failed: bool) -> None:
        parts: list[Part] = []
        if failed:
            parts = [(RUNTIME_FAILED_TEXT, "bold")]
        elif catalog is not None and catalog.state != "ok":
            parts = [(UNREACHABLE_TEXT if catalog.state == "unreachable" else UNSUPPORTED_TEXT, "bold")]
            if catalog.reason:
                parts += [" · ", literal(catalog.reason)]
        self.query_one("#catalog-banner", Static).update(Content.assemble(*parts))
        self.set_class(bool(parts), "-banner")

    # -- rendering -------------------------------------------------------------------------------------------

    def _render_rows(self) -> None:
        table = self.query_one(CatalogTable)
        shown = [m for m in sort_models(self._models.values(), self._sort) if self._filter.matches(m)]
        longest = max((len(m_id) for m_id in self._models), default=0)  # stable while the filter changes
        available = (table.size.width or self.size.width or 80) - 1  # one cell for the scrollbar
        layout = fit_columns(available, longest)
        if layout != self._layout:
            table.clear(columns=True)
            table.add_column("Model", width=layout[0], key="model")
            for column in layout[1]:
                table.add_column(column.label, width=column.width, key=column.key)
            self._layout = layout
        else:
            table.clear()
        for entry in shown:
            table.add_row(*cells(entry, *layout), key=entry.id)
        self._shown = [m.id for m in shown]
        keep = next((k for k in (self._preferred, self._selected) if k in self._shown), None)
        if keep is not None:
            table.move_cursor(row=self._shown.index(keep), animate=False, scroll=True)
        self._render_cursor = self._current_id()
        self._update_status()
        self._update_selection()

    def _update_status(self) -> None:
        total = len(self._models)
        if total == 0:
            empty = EMPTY_TEXT
        elif not self._shown:
            empty = "no model matches the filter — Esc clears it"
        else:
            empty = ""
        self.query_one("#catalog-empty", Static).update(empty)
        self.set_class(bool(empty), "-empty")
        self.set_class(total == 0, "-no-models")
        count = f"{len(self._shown)}/{total}" if self._filter.active else f"{total}"
        self.query_one("#catalog-status", Label).update(f"{count} models · sort {SORT_LABELS[self._sort]}")

    def _current_id(self) -> str | None:
        table = self.query_one(CatalogTable)
        if not self._shown or not table.is_valid_row_index(table.cursor_row):
            return None
        return self._shown[table.cursor_row]

    def _update_selection(self) -> None:
        """Follow the table's cursor: detail panel, and `ModelSelected` when the model changed."""
        current = self._current_id()
        if current is not None:
            self._selected = current
        entry = self._models.get(current) if current else None
        detail = self.query_one("#catalog-detail-text", Static)
        detail.update(
            detail_content(entry, compact=not self.has_class("-wide"))
            if entry
            else Content.styled("no model selected", "dim")
        )
        if current != self._posted and (current is not None or not self._shown):
            self._posted = current  # None when the filter hides every row: app-wide load/unload then asks
            self.post_message(ModelSelected(current))

    @on(DataTable.RowHighlighted, "#catalog-table")
    def _row_highlighted(self) -> None:
        current = self._current_id()
        if current is not None and current != self._render_cursor:  # the user moved the cursor
            self._preferred = current
            self._render_cursor = None
        self._update_selection()

    def on_show(self) -> None:
        if self._posted is not None:  # another pane may have changed the app's selection meanwhile
            self.post_message(ModelSelected(self._posted))

    # -- actions ---------------------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#catalog-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        model_id = event.row_key.value
        if model_id is not None:
            self.use_model(model_id)

    def use_model(self, model_id: str) -> None:
        """Enter: chat if loaded, load if cached, otherwise queue the download."""
        entry = self._models.get(model_id)
        if entry is None:
            return
        app = self._app
        if entry.loaded:
            from foundry_tui.tui.panes.chat import ChatPane

            app.query_one(ChatPane).use_model(entry.id)
            app.action_show_tab("chat")
        elif entry.cached:
            app.request_load(entry.id)
        else:
            app.request_download(entry.id)

    def action_focus_filter(self) -> None:
        self.query_one("#catalog-filter", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#catalog-filter", Input).value = ""
        self.query_one(CatalogTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            filter_input = self.query_one("#catalog-filter", Input)
            return bool(filter_input.value) or filter_input.has_focus
        return True

    @on(Input.Changed, "#catalog-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter = CatalogFilter.parse(event.value)
        self._render_rows()
        self.refresh_bindings()

    @on(Input.Submitted, "#catalog-filter")
    def _filter_submitted(self) -> None:
        self.query_one(CatalogTable).focus()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def on_key(self, event: events.Key) -> None:
        if event.key == "down" and self.query_one("#catalog-filter", Input).has_focus:
            event.stop()
            self.query_one(CatalogTable).focus()

    def action_cycle_sort(self) -> None:
        self._sort = SORTS[(SORTS.index(self._sort) + 1) % len(SORTS)]
        self._render_rows()

    @on(DataTable.HeaderSelected, "#catalog-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        """Mouse: a click on Model sorts by name, on Size by size (again: the other direction)."""
        if event.column_key.value == "model":
            self._sort = "name"
        elif event.column_key.value == "size":
            self._sort = "size-asc" if self._sort == "size-desc" else "size-desc"
        else:
            return
        self._render_rows()

    def action_refresh_catalog(self) -> None:
        if getattr(self.app, "backend_state", "") == "failed":
            self.notify("The runtime is not running: nothing to refresh.", severity="warning")
            return
        self._refreshing = True
        self._refresh_from = self._snapshot.catalog if self._snapshot is not None else None
        self.add_class("-loading")
        self._app.request_refresh(catalog=True)

    def action_toggle_detail(self) -> None:
        self.toggle_class("-no-detail")  # the table's resize re-fits its columns

    # -- for tests and other panes ---------------------------------------------------------------------------

    @property
    def shown_ids(self) -> list[str]:
        """Model ids in table order, as currently filtered and sorted."""
        return list(self._shown)

    @property
    def selected_id(self) -> str | None:
        return self._selected


__all__ = ["CatalogFilter", "CatalogPane", "CatalogTable", "detail_content", "fit_columns", "size_text", "sort_models"]

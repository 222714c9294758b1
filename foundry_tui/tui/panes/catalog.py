"""The Catalog pane: every known model variant in a filterable, sortable table, with a detail panel.

At the public catalog's scale the variants are grouped under their alias (widgets/catalog_rows: an alias row, its
variants below as a tree, `●` on the one the runtime picks here, `↑vN` when a cached model has a newer version). The
detail panel says why that variant is picked and flags a CPU fallback; `e` opens the execution providers. While
the live catalog is fetched, or when it is unreachable, the catalog stored by an earlier run lists, with its age.

It renders the session's models snapshot (`ModelsUpdated`) and posts intents (chat with, load, download, refresh);
filtering and sorting are the engine's (`engine.models`, the same syntax as `foundry-tui models --filter`). Model
and server text is untrusted: table cells are plain `rich.text.Text` (never markup-parsed) and everything else goes
through `literal()`.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, LoadingIndicator, Static

from foundry_tui.engine import units
from foundry_tui.engine.models import (
    SORT_LABELS,
    SORTS,
    CatalogListing,
    ModelEntry,
    ModelFilter,
    ModelsSnapshot,
)
from foundry_tui.tui.messages import (
    BackendStateChanged,
    DownloadRequested,
    LoadRequested,
    ModelsUpdated,
    OpenChatRequested,
    RefreshRequested,
)
from foundry_tui.tui.panes.base import FOCUS_HELP, Pane
from foundry_tui.tui.widgets.catalog_rows import GUTTER_CELLS, CatalogRow, catalog_rows, needs_gutter
from foundry_tui.tui.widgets.catalog_table import CatalogTable, Column, fit_columns, row_cells
from foundry_tui.tui.widgets.literal import literal
from foundry_tui.tui.widgets.model_detail import Part, alias_content, detail_content

WIDE_AT = 110  # terminal columns from which the detail panel sits beside the table
FILTER_PLACEHOLDER = "filter: text, device:gpu, task:chat, cached"
LOADING_TEXT = "fetching the public catalog…"
EMPTY_TEXT = "no models yet — register a local model dir (Cache tab) or connect to the internet for the public catalog"
UNREACHABLE_TEXT = "public catalog unreachable — showing local models"
UNREACHABLE_STORED_TEXT = "public catalog unreachable — showing the catalog stored {age} ago"
PENDING_STORED_TEXT = "fetching the public catalog… showing the one stored {age} ago"
UNSUPPORTED_TEXT = "this backend has no public catalog — showing local models"
RUNTIME_FAILED_TEXT = "the runtime failed to start — no models to list"


class CatalogPane(Pane):
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
        #catalog-banner { height: auto; max-height: 3; display: none; padding: 0 1; background: $warning 15%; }
        &.-banner #catalog-banner { display: block; }
        #catalog-empty { height: auto; display: none; padding: 1 1 0 1; color: $text-muted; }
        &.-empty #catalog-empty { display: block; }
        #catalog-body { height: 1fr; layout: vertical; }
        #catalog-table { height: 1fr; min-height: 4; scrollbar-size-vertical: 1; }
        /* Below the table (narrow terminals) it takes what it needs up to half the pane (then it scrolls): at the
           public catalog's scale the table keeps 7 rows at 80×24. */
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
        # Not in the footer (80 columns are full): the detail panel's EP line, `?` and the palette name it.
        Binding("e", "app.execution_providers", "EPs", show=False),
        Binding("escape", "clear_filter", "Clear filter"),
    ]

    TAB = "catalog"
    HELP = (
        FOCUS_HELP
        + "\n**Catalog.** Variants are grouped under their alias; `●` marks the one the runtime picks here, `↑vN` a"
        " newer version of a cached model. Enter: chat, load or download (on an alias row: its pick). `/`: filter"
        " (`device:cpu`, `local`). `e`: execution providers (list, register)."
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._snapshot: ModelsSnapshot | None = None
        self._backend_state = "starting"
        self._models: dict[str, ModelEntry] = {}
        self._rows: dict[str, CatalogRow] = {}  # the rows shown, in table order, by key (model id or alias key)
        self._gutter = False  # room for the tree and the pick mark: decided by the models, stable while filtering
        self._sort = "name"
        self._filter = ModelFilter()
        self._selected: str | None = None  # the highlighted model id
        self._preferred: str | None = None  # the last row the user moved to: the cursor returns to it when it can
        self._render_cursor: str | None = None  # where the last re-render put the cursor (not a user move)
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
            yield Label(LOADING_TEXT, id="catalog-loading-text", markup=False)
        yield Static("", id="catalog-banner", markup=False)
        yield Static("", id="catalog-empty", markup=False)
        with Container(id="catalog-body"):
            table = CatalogTable(id="catalog-table", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="catalog-detail"):
                yield Static("", id="catalog-detail-text", markup=False)

    def on_mount(self) -> None:
        self._update_width_class()
        self._show(None)

    def focus_target(self) -> Widget | None:
        return self.query_one(CatalogTable)

    def on_backend_state_changed(self, message: BackendStateChanged) -> None:
        self._backend_state = message.state
        if message.state == "failed":
            self._refreshing = False
        self._show(self._snapshot)

    def on_resize(self, event: events.Resize) -> None:
        self._update_width_class()

    def _update_width_class(self) -> None:
        self.set_class(self.screen.size.width >= WIDE_AT, "-wide")

    @on(CatalogTable.WidthChanged)
    def _table_width_changed(self) -> None:
        self._render_rows()

    # -- data in ---------------------------------------------------------------------------------------------

    def on_models_updated(self, message: ModelsUpdated) -> None:
        self._show(message.snapshot)

    def _show(self, snapshot: ModelsSnapshot | None) -> None:
        self._snapshot = snapshot
        models = snapshot.all_models() if snapshot is not None else []
        self._models = {m.id: m for m in models}
        self._gutter = needs_gutter(self._models.values())
        catalog = snapshot.catalog if snapshot is not None else None
        if self._refreshing and catalog is not None and catalog is not self._refresh_from:
            self._refreshing = False
        failed = self._backend_state == "failed"
        pending = catalog is None or catalog.state == "pending"
        self.set_class((pending or self._refreshing) and not failed, "-loading")
        loading = LOADING_TEXT
        if catalog is not None and catalog.state == "pending" and catalog.stored_at is not None:
            loading = PENDING_STORED_TEXT.format(age=units.age(time.time() - catalog.stored_at))
        self.query_one("#catalog-loading-text", Label).update(loading)
        self._update_banner(catalog, failed)
        self._render_rows()

    def _update_banner(self, catalog: CatalogListing | None, failed: bool) -> None:
        parts: list[Part] = []
        if failed:
            parts = [(RUNTIME_FAILED_TEXT, "bold")]
        elif catalog is not None and catalog.state not in ("ok", "pending"):
            if catalog.state == "unreachable" and catalog.stored_at is not None:
                headline = UNREACHABLE_STORED_TEXT.format(age=units.age(time.time() - catalog.stored_at))
            else:
                headline = UNREACHABLE_TEXT if catalog.state == "unreachable" else UNSUPPORTED_TEXT
            parts = [(headline, "bold")]
            if catalog.reason:
                parts += [" · ", literal(catalog.reason)]
        self.query_one("#catalog-banner", Static).update(Content.assemble(*parts))
        self.set_class(bool(parts), "-banner")

    # -- rendering -------------------------------------------------------------------------------------------

    def _render_rows(self) -> None:
        table = self.query_one(CatalogTable)
        rows = catalog_rows(self._models.values(), self._filter, self._sort)
        gutter = self._gutter
        longest = max((len(m_id) + GUTTER_CELLS * gutter for m_id in self._models), default=0)
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
        for row in rows:
            table.add_row(*row_cells(row, *layout, gutter), key=row.key)
        self._rows = {row.key: row for row in rows}
        keep = next((k for k in (self._preferred, self._selected) if k in self._shown_keys), None)
        if keep is not None:
            table.move_cursor(row=self._shown_keys.index(keep), animate=False, scroll=True)
        self._render_cursor = self._current_id()
        self._update_status()
        self._update_selection()

    def _update_status(self) -> None:
        total = len(self._models)
        catalog = self._snapshot.catalog if self._snapshot is not None else None
        listed = catalog is not None and catalog.state != "pending"  # every list has answered
        if total == 0 and (listed or self._backend_state == "failed"):
            empty = EMPTY_TEXT if self._backend_state != "failed" else ""
        elif total == 0:
            empty = ""  # still listing: the loading line says so, never a false "no models"
        elif not self._shown_keys:
            empty = "no model matches the filter — Esc clears it"
        else:
            empty = ""
        self.query_one("#catalog-empty", Static).update(empty)
        self.set_class(bool(empty), "-empty")
        self.set_class(total == 0, "-no-models")
        if self._snapshot is None and self._backend_state != "failed":
            count = "listing models…"
        elif self._filter.active:
            count = f"{len(self.shown_ids)}/{units.count(total, 'model')}"
        else:
            count = units.count(total, "model")
        self.query_one("#catalog-status", Label).update(f"{count} · sort {SORT_LABELS[self._sort]}")

    @property
    def _shown_keys(self) -> list[str]:
        return list(self._rows)

    def _current_id(self) -> str | None:
        table = self.query_one(CatalogTable)
        if not self._shown_keys or not table.is_valid_row_index(table.cursor_row):
            return None
        return self._shown_keys[table.cursor_row]

    def _update_selection(self) -> None:
        """Follow the table's cursor: detail panel, and the app's selection for this tab (an alias row: its pick)."""
        current = self._current_id()
        if current is not None:
            self._selected = current
        row = self._rows.get(current) if current else None
        eps = self._snapshot.execution_providers if self._snapshot is not None else None
        compact = not self.has_class("-wide")
        detail = self.query_one("#catalog-detail-text", Static)
        if row is None:
            detail.update(Content.styled("no model selected", "dim"))
        elif row.entry is None:
            detail.update(alias_content(row.group, eps))
        else:
            detail.update(detail_content(row.entry, compact=compact, group=row.group, eps=eps))
        target = row.target if row is not None else None
        if current is not None or not self._shown_keys:
            # None when the filter hides every row: app-wide load/unload then ask
            self.select_model(target.id if target is not None else None)

    @on(DataTable.RowHighlighted, "#catalog-table")
    def _row_highlighted(self) -> None:
        current = self._current_id()
        if current is not None and current != self._render_cursor:  # the user moved the cursor
            self._preferred = current
            self._render_cursor = None
        self._update_selection()

    # -- actions ---------------------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#catalog-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self._rows.get(event.row_key.value or "")
        target = row.target if row is not None else None
        if target is not None:
            self.use_model(target.id)

    def use_model(self, model_id: str) -> None:
        """Enter: chat if loaded, load if cached, otherwise queue the download (an alias row: its pick)."""
        entry = self._models.get(model_id)
        if entry is None:
            return
        if entry.loaded:
            self.post_message(OpenChatRequested(entry.id))
        elif entry.cached:
            self.post_message(LoadRequested(entry.id))
        else:
            self.post_message(DownloadRequested(entry.id))

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
        self._filter = ModelFilter.parse(event.value)
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
        if self._backend_state == "failed":
            self.notify("The runtime is not running: nothing to refresh.", severity="warning")
            return
        self._refreshing = True
        self._refresh_from = self._snapshot.catalog if self._snapshot is not None else None
        self.add_class("-loading")
        self.post_message(RefreshRequested(catalog=True))

    def action_toggle_detail(self) -> None:
        self.toggle_class("-no-detail")  # the table's resize re-fits its columns

    # -- for tests and other panes ---------------------------------------------------------------------------

    @property
    def shown_ids(self) -> list[str]:
        """Model ids of the variant rows in table order, as currently filtered and sorted."""
        return [key for key in self._shown_keys if self._rows[key].entry is not None]

    @property
    def shown_rows(self) -> list[CatalogRow]:
        return [self._rows[key] for key in self._shown_keys]

    @property
    def selected_id(self) -> str | None:
        """The highlighted row's key: a model id, or an alias row's key (`catalog_rows.group_key`)."""
        return self._selected


__all__ = ["CatalogPane", "CatalogTable", "detail_content", "fit_columns"]

"""The Catalog's model table: which columns fit the terminal's width, and one row of plain cells per variant.

Cells are `rich.text.Text` (never parsed as markup) with control characters made visible: model ids come from a
catalog or a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from foundry_tui.engine import units
from foundry_tui.engine.models import ModelEntry
from foundry_tui.text import escape_controls, middle_ellipsis
from foundry_tui.tui.widgets.catalog_rows import PICK, CatalogRow, alias_text, cached_mark, model_prefix

# -- formatting (pure functions) ----------------------------------------------------------------------------


def short_ep(execution_provider: str | None) -> str:
    """`CUDAExecutionProvider` → `CUDA`."""
    if not execution_provider:
        return ""
    return execution_provider.removesuffix("ExecutionProvider") or execution_provider


def device_text(entry: ModelEntry) -> str:
    device = entry.device or units.MISSING
    ep = short_ep(entry.execution_provider)
    return f"{device}/{ep}" if ep and ep.casefold() != device.casefold() else device


def fit(text: str, width: int, *, middle: bool = False) -> str:
    """Shorten to `width` cells with an ellipsis (in the middle for ids, whose variant suffix matters)."""
    if middle:
        return middle_ellipsis(text, width)
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
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


def cells(entry: ModelEntry, model_width: int, columns: Sequence[Column], prefix: str = "") -> list[Text]:
    """One row of plain Text cells: no markup is parsed, control characters are made visible. `prefix` (the tree
    branch and the pick mark) goes before the id."""
    values = {
        "alias": entry.alias,
        "variants": str(len(entry.variants) or 1),
        "device": device_text(entry),
        "size": units.size(entry.size_mb),
        "task": entry.task or units.MISSING,
        "license": entry.license or units.MISSING,
        "source": entry.source,
        "cached": cached_mark(entry),
        "loaded": "✓" if entry.loaded else "",
    }
    model = fit(escape_controls(entry.id), model_width - len(prefix), middle=True)
    row = [Text(prefix + model, no_wrap=True, end="")]
    for column in columns:
        text = _align(fit(escape_controls(values[column.key]), column.width), column.width, column.justify)
        row.append(Text(text, no_wrap=True, end=""))
    return row


def row_cells(row: CatalogRow, model_width: int, columns: Sequence[Column], gutter: bool = True) -> list[Text]:
    """A variant row (tree branch, pick mark, id, its figures) or an alias row (alias, variant count, the fallback
    flag, and the pick's device under Device/EP). Without `gutter` the ids start at the left edge."""
    if row.entry is not None:
        return cells(row.entry, model_width, columns, model_prefix(row, gutter))
    group = row.group
    picked = group.picked
    values = {
        "alias": group.alias,
        "variants": str(len(group.variants)),
        "device": f"{PICK} {device_text(picked)}" if picked else " ".join(group.devices),
    }
    out = [alias_text(escape_controls(group.alias), group, model_width)]
    for column in columns:
        value = fit(escape_controls(values.get(column.key, "")), column.width)
        out.append(Text(_align(value, column.width, column.justify), no_wrap=True, end="", style="bold"))
    return out


class CatalogTable(DataTable[Text]):
    """The model table; Enter (or a click on the highlighted row) uses the model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Chat/Load/Get", tooltip="Chat if loaded, load if cached, else download"),
    ]

    class WidthChanged(Message):
        pass

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.WidthChanged())


__all__ = [
    "COLUMNS",
    "CatalogTable",
    "Column",
    "cells",
    "device_text",
    "enter_action",
    "fit",
    "fit_columns",
    "row_cells",
]

"""The Catalog's rows at real-catalog scale: variants grouped under their alias, the runtime's pick marked.

Pure functions over the engine's data. An alias with more than one variant gets an alias row (bold, with how many
variants it has and a CPU-fallback flag) and its variants below it, drawn as a tree (`├` / `└`); an alias with one
variant is one row. `●` marks the variant the runtime picks for its alias on this machine ("default here"). The
filter keeps the variants it matches, under their alias row; the sort orders aliases (by name, or by the size of
their first shown variant — the pick when it is shown) and never splits a group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text

from foundry_tui.engine import units
from foundry_tui.engine.models import ModelEntry, ModelFilter
from foundry_tui.engine.variants import AliasGroup, group_by_alias, upgrade_available

GROUP_KEY = "\x00alias "  # row keys of alias rows: a control character never appears in a shown model id
PICK = "●"
FALLBACK = "⚠ CPU fallback"


@dataclass(frozen=True)
class CatalogRow:
    """One table row: an alias row (`entry` None) or a variant of `group`."""

    key: str
    group: AliasGroup  # every variant of the alias, unfiltered
    entry: ModelEntry | None
    branch: str = ""  # "├" / "└" under an alias row, "" for an alias with one variant

    @property
    def target(self) -> ModelEntry | None:
        """The model this row acts on: the variant, or for an alias row the runtime's pick (else its first)."""
        if self.entry is not None:
            return self.entry
        return self.group.picked or (self.group.variants[0] if self.group.variants else None)


def group_key(alias: str) -> str:
    return GROUP_KEY + alias


def _size_key(size: float | None, descending: bool) -> tuple[bool, float]:
    return (size is None, -(size or 0) if descending else (size or 0))


def catalog_rows(models: Iterable[ModelEntry], wanted: ModelFilter, sort: str) -> list[CatalogRow]:
    """The rows to show, in order: groups sorted by `sort`, each with its matching variants."""
    groups = group_by_alias(models)
    shown: list[tuple[AliasGroup, list[ModelEntry]]] = []
    for group in groups:
        matching = [v for v in group.variants if wanted.matches(v)]
        if matching:
            shown.append((group, matching))

    def order(item: tuple[AliasGroup, list[ModelEntry]]) -> tuple[object, ...]:
        group, matching = item
        name = (group.alias.casefold(), group.alias)
        if sort == "name":
            return name
        return (*_size_key(matching[0].size_mb, sort == "size-desc"), *name)

    rows: list[CatalogRow] = []
    for group, matching in sorted(shown, key=order):
        if len(group.variants) == 1:
            rows.append(CatalogRow(matching[0].id, group, matching[0]))
            continue
        rows.append(CatalogRow(group_key(group.alias), group, None))
        for index, variant in enumerate(matching):
            rows.append(CatalogRow(variant.id, group, variant, "└" if index == len(matching) - 1 else "├"))
    return rows


def needs_gutter(rows: Iterable[CatalogRow]) -> bool:
    """Whether any row has a tree branch or a pick mark (else the ids start at the left edge: an endpoint)."""
    return any(row.branch or (row.entry is not None and row.entry.selected) for row in rows)


def model_prefix(row: CatalogRow, gutter: bool = True) -> str:
    """The 3 cells before a variant's id: its branch of the tree and the pick mark ("" without a gutter)."""
    assert row.entry is not None
    if not gutter:
        return ""
    return f"{row.branch or ' '}{PICK if row.entry.selected else ' '} "


def alias_text(alias: str, group: AliasGroup, width: int) -> Text:
    """An alias row's model cell: the alias (made safe by the caller) in bold, its variant count in brackets, the
    fallback flag."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(alias, style="bold")
    text.append(f" ({len(group.variants)})", style="dim")
    if group.cpu_fallback:
        text.append(f" {FALLBACK}", style="bold yellow")
    text.truncate(width, overflow="ellipsis")
    return text


def cached_mark(entry: ModelEntry) -> str:
    """✓ when cached, with `↑vN` when the catalog has a newer version N."""
    if not entry.cached:
        return ""
    if upgrade_available(entry):
        return (
            f"✓ ↑v{entry.latest_version}"
            if entry.latest_version is not None and entry.latest_version < 10
            else (f"✓↑v{entry.latest_version}")
        )
    return "✓"


def age(seconds: float) -> str:
    """How long ago (engine.units.age: one formatter for the figure)."""
    return units.age(seconds)


__all__ = [
    "FALLBACK",
    "GROUP_KEY",
    "PICK",
    "CatalogRow",
    "age",
    "alias_text",
    "cached_mark",
    "catalog_rows",
    "group_key",
    "model_prefix",
    "needs_gutter",
]

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

from foundry_tui.engine.models import ModelEntry, ModelFilter
from foundry_tui.engine.variants import AliasGroup, group_by_alias, select_groups, upgrade_available

GROUP_KEY = "\x00alias "  # row keys of alias rows: a control character never appears in a shown model id
PICK = "●"
FALLBACK = "⚠ CPU fallback"
GUTTER_CELLS = 3  # before a variant's id: its tree branch, the pick mark, a space


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
        return self.entry if self.entry is not None else self.group.default


def group_key(alias: str) -> str:
    return GROUP_KEY + alias


def catalog_rows(models: Iterable[ModelEntry], wanted: ModelFilter, sort: str) -> list[CatalogRow]:
    """The rows to show, in order: groups sorted by `sort`, each with its matching variants (engine.variants)."""
    rows: list[CatalogRow] = []
    for group, matching in select_groups(models, wanted, sort):
        if len(group.variants) == 1:
            rows.append(CatalogRow(matching[0].id, group, matching[0]))
            continue
        rows.append(CatalogRow(group_key(group.alias), group, None))
        for index, variant in enumerate(matching):
            rows.append(CatalogRow(variant.id, group, variant, "└" if index == len(matching) - 1 else "├"))
    return rows


def needs_gutter(models: Iterable[ModelEntry]) -> bool:
    """Whether any alias has several variants or a pick (else the ids start at the left edge: an endpoint)."""
    return any(len(g.variants) > 1 or g.picked is not None for g in group_by_alias(models))


def model_prefix(row: CatalogRow, gutter: bool = True) -> str:
    """The GUTTER_CELLS cells before a variant's id: its branch of the tree and the pick mark ("" without a gutter)."""
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
    if not upgrade_available(entry):
        return "✓"
    assert entry.latest_version is not None
    gap = " " if entry.latest_version < 10 else ""  # the column is 6 cells wide
    return f"✓{gap}↑v{entry.latest_version}"


__all__ = [
    "FALLBACK",
    "GROUP_KEY",
    "GUTTER_CELLS",
    "PICK",
    "CatalogRow",
    "alias_text",
    "cached_mark",
    "catalog_rows",
    "group_key",
    "model_prefix",
    "needs_gutter",
]

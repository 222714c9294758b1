"""The Catalog's detail panel: every field the runtime gives for the highlighted variant, and its siblings.

Values are untrusted (a catalog or a server wrote them): each goes through `literal()`.
"""

from __future__ import annotations

from textual.content import Content

from foundry_tui.engine import units
from foundry_tui.engine.models import ModelEntry
from foundry_tui.text import escape_controls
from foundry_tui.tui.widgets.catalog_table import enter_action
from foundry_tui.tui.widgets.literal import literal


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _tokens(value: int | None) -> str:
    return units.MISSING if value is None else f"{value:,} tokens"


Part = str | Content | tuple[str, str]


def detail_fields(entry: ModelEntry) -> list[tuple[str, str]]:
    """Every piece of metadata the entry carries, as (label, text) pairs."""
    fields = [
        ("alias", entry.alias),
        ("display name", entry.display_name or units.MISSING),
        ("source", entry.source),
        ("device", entry.device or units.MISSING),
        ("EP", entry.execution_provider or units.MISSING),
        ("size", units.size(entry.size_mb)),
        ("task", entry.task or units.MISSING),
        ("license", entry.license or units.MISSING),
        ("publisher", entry.publisher or units.MISSING),
        ("version", units.MISSING if entry.version is None else str(entry.version)),
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


__all__ = ["Part", "detail_content", "detail_fields"]

"""The Catalog's detail panel: every field the runtime gives for the highlighted variant, its siblings, which
variant the runtime picks for its alias here and why (`engine.variants.pick_reason`), a CPU-fallback flag, and the
execution providers this machine has. An alias row shows the alias: its variants, the pick and the reason.

Values are untrusted (a catalog or a server wrote them): each goes through `literal()`.
"""

from __future__ import annotations

from textual.content import Content

from foundry_tui.engine import units
from foundry_tui.engine.models import ExecutionProvider, ModelEntry
from foundry_tui.engine.variants import ACCELERATED, AliasGroup, pick_reason, upgrade_available
from foundry_tui.text import escape_controls
from foundry_tui.tui.widgets.catalog_rows import FALLBACK, PICK
from foundry_tui.tui.widgets.catalog_table import device_text, enter_action, short_ep
from foundry_tui.tui.widgets.literal import literal

NO_EPS_TEXT = "no additional execution providers for this machine; CPU is built in"
EPS_UNKNOWN_TEXT = "execution providers: not reported by this backend"


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
        ("version", _version(entry)),
        ("context", _tokens(entry.context_length)),
        ("max output", _tokens(entry.max_output_tokens)),
        ("tool calling", _yes_no(entry.supports_tool_calling)),
        ("capabilities", entry.capabilities or units.MISSING),
        ("modalities", _modalities(entry)),
        ("cached", "yes" if entry.cached else "no"),
        ("loaded", "yes" if entry.loaded else "no"),
    ]
    if entry.license_description:
        fields.insert(8, ("license text", entry.license_description))
    if entry.path:
        fields.append(("path", entry.path))
    return fields


def _version(entry: ModelEntry) -> str:
    if entry.version is None:
        return units.MISSING
    if upgrade_available(entry):
        return f"{entry.version} (latest {entry.latest_version}: upgrade available)"
    if entry.latest_version is not None and entry.latest_version != entry.version:
        return f"{entry.version} (latest {entry.latest_version})"
    return str(entry.version)


def _modalities(entry: ModelEntry) -> str:
    if not entry.input_modalities and not entry.output_modalities:
        return units.MISSING
    return f"{entry.input_modalities or units.MISSING} → {entry.output_modalities or units.MISSING}"


def eps_line(eps: tuple[ExecutionProvider, ...] | None) -> str:
    """The execution providers here: "CPU (built in) · CUDA registered · QNN discoverable"."""
    if eps is None:
        return EPS_UNKNOWN_TEXT
    if not eps:
        return NO_EPS_TEXT
    listed = [f"{short_ep(ep.name)} {'registered' if ep.registered else 'discoverable'}" for ep in eps]
    hint = " (e: register)" if any(not ep.registered for ep in eps) else " (e: list)"
    return "EPs here: CPU (built in) · " + " · ".join(listed) + hint


# Compact form (detail below the table): these groups share a line each.
COMPACT_LINES = (
    ("device", "EP", "size"),
    ("context", "max output", "tool calling"),
    ("task", "license", "source", "capabilities", "modalities"),
    ("alias", "publisher", "version"),
    ("cached", "loaded", "path"),
    ("license text",),
)
OPTIONAL_FIELDS = ("capabilities", "modalities", "license text")  # left out of the compact form when unknown


def _pick_parts(entry: ModelEntry | None, group: AliasGroup, eps: tuple[ExecutionProvider, ...] | None) -> list[Part]:
    """Which variant runs here and why, the CPU-fallback flag, the execution providers."""
    parts: list[Part] = []
    if group.picked is None:  # no pick to explain (an endpoint, a local model): EPs only when some are listed
        return [(eps_line(eps), "dim"), "\n"] if eps else []
    if entry is not None and entry.selected:
        parts += [(f"{PICK} default here", "bold"), (" — the runtime picks this variant for ", "dim")]
        parts += [literal(group.alias), "\n"]
    else:
        parts += [("default here: ", "dim"), (f"{PICK} ", "bold"), literal(group.picked.id), "\n"]
    parts += [("why: ", "dim"), literal(pick_reason(group, eps, register_hint="e: register")), "\n"]
    if group.cpu_fallback:
        accelerated = [d for d in group.devices if d in ACCELERATED]
        exist = f"{' and '.join(accelerated)} variant{'s exist' if len(accelerated) > 1 else ' exists'}"
        parts += [(FALLBACK, "bold yellow"), f": {exist}, but the CPU one runs here", "\n"]
    parts += [(eps_line(eps), "dim"), "\n"]
    return parts


def alias_content(group: AliasGroup, eps: tuple[ExecutionProvider, ...] | None) -> Content:
    """The detail of an alias row: its variants (device, EP, size, marks), the pick and why, the EPs."""
    parts: list[Part] = [(escape_controls(group.alias), "bold"), (f" · alias · {len(group.variants)} variants", "dim")]
    parts.append("\n")
    for variant in group.variants:
        marks = " ✓ cached" if variant.cached else ""
        marks += " ✓ loaded" if variant.loaded else ""
        marks += f" ↑v{variant.latest_version}" if upgrade_available(variant) else ""
        parts += [(f"{PICK} " if variant.selected else "  ", "bold"), literal(variant.id)]
        parts += [(f"  {device_text(variant)} · {units.size(variant.size_mb)}{marks}", "dim"), "\n"]
    parts += _pick_parts(None, group, eps)
    target = group.default
    if target is not None:
        parts += [("Enter: ", "dim"), f"{enter_action(target)} (", literal(target.id), ")"]
    return Content.assemble(*parts)


def detail_content(
    entry: ModelEntry,
    *,
    compact: bool = False,
    group: AliasGroup | None = None,
    eps: tuple[ExecutionProvider, ...] | None = None,
) -> Content:
    """The detail panel: one field per line, or (compact) a few fields per line for a short panel; with `group`,
    the runtime's pick, why, the fallback flag and `eps` (None: the backend cannot tell)."""
    fields = dict(detail_fields(entry))
    parts: list[Part] = [(escape_controls(entry.id), "bold")]
    if compact and entry.display_name:
        parts += [(" · ", "dim"), literal(entry.display_name)]
    parts.append("\n")
    if compact:
        # Where it runs first, then the pick and why (a short panel shows those before it scrolls).
        for index, names in enumerate(COMPACT_LINES):
            if index == 1 and group is not None:
                parts += _pick_parts(entry, group, eps)
            line: list[Part] = []
            shown = (n for n in names if n in fields and not (n in OPTIONAL_FIELDS and fields[n] == units.MISSING))
            for name in shown:
                line += [(" · " if line else "", "dim"), (f"{name} ", "dim"), literal(fields[name])]
            if line:
                parts += [*line, "\n"]
    else:
        if group is not None:
            parts += _pick_parts(entry, group, eps)
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


__all__ = ["EPS_UNKNOWN_TEXT", "NO_EPS_TEXT", "Part", "alias_content", "detail_content", "detail_fields", "eps_line"]

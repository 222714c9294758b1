"""Variants of one alias, the one the runtime picks on this machine, and why.

The runtime asks the catalog only for the device / execution-provider pairs this machine has, and makes the best
of those its alias' default; `ModelEntry.selected` marks that default. What the user needs to see is the reason:
which execution providers are usable here, and when a GPU or NPU variant exists but the CPU one was picked (the
"silent CPU fallback" Foundry Local users report).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from foundry_tui.backends.base import ExecutionProvider, ModelEntry
from foundry_tui.engine.models import SORTS, ModelFilter

CPU_EP = "CPUExecutionProvider"  # built into every runtime: never listed by discover_eps
_DEVICE_ORDER = {"NPU": 0, "GPU": 1, "CPU": 2}
ACCELERATED = ("GPU", "NPU")


@dataclass(frozen=True)
class AliasGroup:
    """Every variant of one alias (all versions the listing holds), the runtime's pick first."""

    alias: str
    variants: tuple[ModelEntry, ...]

    @property
    def picked(self) -> ModelEntry | None:
        return next((v for v in self.variants if v.selected), None)

    @property
    def default(self) -> ModelEntry | None:
        """What acting on the alias acts on: the runtime's pick, else its first variant."""
        return self.picked or (self.variants[0] if self.variants else None)

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((v.device or "?").upper() for v in self.variants))

    @property
    def cpu_fallback(self) -> bool:
        """A GPU/NPU variant exists, yet the runtime picked a CPU one."""
        picked = self.picked
        return (
            picked is not None
            and (picked.device or "").upper() == "CPU"
            and any((v.device or "").upper() in ACCELERATED for v in self.variants)
        )


def _variant_key(entry: ModelEntry) -> tuple[int, int, str, int]:
    device = _DEVICE_ORDER.get((entry.device or "").upper(), 3)
    return (0 if entry.selected else 1, device, entry.id.casefold(), -(entry.version or 0))


def group_by_alias(entries: Iterable[ModelEntry]) -> list[AliasGroup]:
    """Entries grouped by alias, in first-seen alias order; within a group the pick first, then NPU, GPU, CPU."""
    groups: dict[str, list[ModelEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.alias or entry.id, []).append(entry)
    return [AliasGroup(alias, tuple(sorted(members, key=_variant_key))) for alias, members in groups.items()]


def select_groups(
    models: Iterable[ModelEntry], wanted: ModelFilter, sort: str
) -> list[tuple[AliasGroup, list[ModelEntry]]]:
    """The aliases a filter keeps, each whole (`AliasGroup`) with the variants it matched, pick first; ordered by
    `sort`: alias name, or the size of the first matched variant (unknown sizes last), ties by alias. Groups are
    never split. What the Catalog pane and `foundry-tui models` both show."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r} (known: {', '.join(SORTS)})")
    kept = []
    for group in group_by_alias(models):
        matching = [v for v in group.variants if wanted.matches(v)]
        if matching:
            kept.append((group, matching))

    def order(item: tuple[AliasGroup, list[ModelEntry]]) -> tuple[object, ...]:
        group, matching = item
        name = (group.alias.casefold(), group.alias)
        if sort == "name":
            return name
        size = matching[0].size_mb
        return (size is None, -(size or 0) if sort == "size-desc" else (size or 0), *name)

    return sorted(kept, key=order)


def usable_providers(eps: Sequence[ExecutionProvider]) -> list[str]:
    """Execution providers a model can run on here: the CPU one plus every registered one."""
    return [CPU_EP, *(ep.name for ep in eps if ep.registered and ep.name != CPU_EP)]


def pick_reason(
    group: AliasGroup, eps: Sequence[ExecutionProvider] | None, register_hint: str = "foundry-tui eps --register"
) -> str:
    """One line: which variant runs here and why, e.g. "runs the CPU variant: this machine offers only
    CPUExecutionProvider; the GPU variant needs CUDAExecutionProvider (not available here)"."""
    picked = group.picked
    if picked is None:
        return "the runtime lists no variant of this alias for this machine"
    where = f"{(picked.device or '?').upper()} · {picked.execution_provider or '?'}"
    if eps is None:
        return f"runs {picked.id} ({where})"
    usable = usable_providers(eps)
    offered = "offers only " + usable[0] if len(usable) == 1 else "offers " + ", ".join(usable)
    missing = sorted(
        {
            f"the {(v.device or '?').upper()} variant needs {v.execution_provider}"
            + (f" (discoverable: {register_hint})" if _discoverable(v.execution_provider, eps) else "")
            for v in group.variants
            if v.execution_provider and v.execution_provider not in usable
        }
    )
    reason = f"runs {picked.id} ({where}): this machine {offered}"
    if missing:
        reason += "; " + "; ".join(missing)
    return reason


def _discoverable(name: str | None, eps: Sequence[ExecutionProvider]) -> bool:
    return any(ep.name == name and not ep.registered for ep in eps)


def fallback_for(entry: ModelEntry, variants: Iterable[ModelEntry]) -> bool:
    """`entry` runs on the CPU although its alias has GPU / NPU variants (they cannot run here)."""
    return (entry.device or "").upper() == "CPU" and any((v.device or "").upper() in ACCELERATED for v in variants)


def upgrade_available(entry: ModelEntry) -> bool:
    """A cached model whose catalog has a newer version of the same variant."""
    return (
        entry.cached
        and entry.version is not None
        and entry.latest_version is not None
        and entry.latest_version > entry.version
    )


__all__ = [
    "CPU_EP",
    "AliasGroup",
    "fallback_for",
    "group_by_alias",
    "pick_reason",
    "select_groups",
    "upgrade_available",
    "usable_providers",
]

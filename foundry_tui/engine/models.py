"""What the session knows about models at a moment, and the one filter/sort syntax over it.

`ModelsSnapshot` is immutable: the session builds one, the CLI prints it, the TUI hands it to every pane. The
filter syntax (`device:gpu task:chat cached loaded local`, free words) is the same in the Catalog pane's `/` and
in `foundry-tui models --filter`. The backend's plain data types are re-exported here so that the TUI's panes can
name them without importing `backends/`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from foundry_tui.backends.base import BackendInfo, CatalogListing, ExecutionProvider, ModelEntry
from foundry_tui.backends.local_models import CHAT_TASKS

SORTS = ("name", "size-desc", "size-asc")
SORT_LABELS = {"name": "name ↑", "size-desc": "size ↓", "size-asc": "size ↑"}


@dataclass(frozen=True)
class ModelsSnapshot:
    catalog: CatalogListing | None = None  # None while the public catalog is still being fetched
    local: tuple[ModelEntry, ...] = ()
    cached: tuple[ModelEntry, ...] | None = None  # None: the backend cannot list its cache
    loaded: tuple[ModelEntry, ...] | None = None  # None: the backend cannot list loaded models
    backend: BackendInfo | None = None  # None until the backend has started
    execution_providers: tuple[ExecutionProvider, ...] | None = None  # None: the backend cannot tell

    def all_models(self) -> list[ModelEntry]:
        """Every known variant once (local first), with cached/loaded taken from the freshest lists."""
        merged: dict[str, ModelEntry] = {}
        for entry in (*self.local, *(self.catalog.models if self.catalog else ()), *(self.cached or ())):
            merged.setdefault(entry.id, entry)
        cached_by_id = {e.id: e for e in self.cached} if self.cached is not None else None
        loaded_ids = {e.id for e in self.loaded} if self.loaded is not None else None
        out = []
        for entry in merged.values():
            cached_entry = cached_by_id.get(entry.id) if cached_by_id is not None else None
            cached = entry.cached if cached_by_id is None else cached_entry is not None or entry.source == "local"
            loaded = entry.loaded if loaded_ids is None else entry.id in loaded_ids
            # The cache listing knows what only a cached model has: its path and the newest catalog version.
            latest = entry.latest_version or (cached_entry.latest_version if cached_entry else None)
            path = entry.path or (cached_entry.path if cached_entry else None)
            out.append(dataclasses.replace(entry, cached=cached, loaded=loaded, latest_version=latest, path=path))
        return out

    def chat_models(self) -> list[ModelEntry]:
        """Models one could chat with now or after a load (cached or loaded; a chat task, or task unknown)."""
        return [m for m in self.all_models() if (m.cached or m.loaded) and (m.task is None or m.task in CHAT_TASKS)]

    def on_disk(self) -> list[ModelEntry]:
        """Models whose files are on disk: the cache listing plus registered local models, each completed with
        what the catalog knows (size, device, display name) and whether it is loaded now."""
        merged = {m.id: m for m in self.all_models()}
        rows: dict[str, ModelEntry] = {}
        for entry in (*(self.cached or ()), *self.local):
            if entry.id in rows:
                continue
            known = merged.get(entry.id, entry)
            rows[entry.id] = dataclasses.replace(
                entry,
                size_mb=entry.size_mb if entry.size_mb is not None else known.size_mb,
                device=entry.device or known.device,
                display_name=entry.display_name or known.display_name,
                loaded=known.loaded,
                cached=True,
            )
        return list(rows.values())

    def find(self, model: str) -> ModelEntry | None:
        """The entry whose id or alias is `model` (ids first)."""
        models = self.all_models()
        return next((m for m in models if m.id == model), None) or next((m for m in models if m.alias == model), None)

    @property
    def loaded_ids(self) -> list[str]:
        """What is loaded: the backend's list, or — where it has none (a plain OpenAI server serves what it lists)
        — the models the catalog marks loaded, so a title and the catalog's ✓ never disagree."""
        if self.loaded is not None:
            return [m.id for m in self.loaded]
        return [m.id for m in self.all_models() if m.loaded]


@dataclass(frozen=True)
class ModelFilter:
    """A parsed filter line: free words (all must match) plus `device:`, `task:`, `cached`, `loaded`, `local`."""

    words: tuple[str, ...] = ()
    devices: frozenset[str] = frozenset()  # any of them
    tasks: tuple[str, ...] = ()  # all of them, substrings
    cached: bool = False
    loaded: bool = False
    local: bool = False

    @classmethod
    def parse(cls, text: str) -> ModelFilter:
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
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r} (known: {', '.join(SORTS)})")
    by_name = sorted(models, key=lambda m: (m.id.casefold(), m.id))
    if sort == "size-desc":
        return sorted(by_name, key=lambda m: (m.size_mb is None, -(m.size_mb or 0)))
    if sort == "size-asc":
        return sorted(by_name, key=lambda m: (m.size_mb is None, m.size_mb or 0))
    return by_name


def select_models(models: Iterable[ModelEntry], filter_text: str = "", sort: str = "name") -> list[ModelEntry]:
    """The models a filter line keeps, in `sort` order (what the Catalog pane and `models --filter` show)."""
    wanted = ModelFilter.parse(filter_text)
    return [m for m in sort_models(models, sort) if wanted.matches(m)]


__all__ = [
    "SORTS",
    "SORT_LABELS",
    "BackendInfo",
    "CatalogListing",
    "ExecutionProvider",
    "ModelEntry",
    "ModelFilter",
    "ModelsSnapshot",
    "select_models",
    "sort_models",
]

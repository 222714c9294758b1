"""What the app knows about models at a moment: one immutable snapshot handed to every pane."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from foundry_tui.backends.base import CatalogListing, ModelEntry


@dataclass(frozen=True)
class ModelsSnapshot:
    catalog: CatalogListing | None = None  # None while the public catalog is still being fetched
    local: tuple[ModelEntry, ...] = ()
    cached: tuple[ModelEntry, ...] | None = None  # None: the backend cannot list its cache
    loaded: tuple[ModelEntry, ...] | None = None

    def all_models(self) -> list[ModelEntry]:
        """Every known variant once (local first), with cached/loaded taken from the freshest lists."""
        merged: dict[str, ModelEntry] = {}
        for entry in (*self.local, *(self.catalog.models if self.catalog else ()), *(self.cached or ())):
            merged.setdefault(entry.id, entry)
        cached_ids = {e.id for e in self.cached} if self.cached is not None else None
        loaded_ids = {e.id for e in self.loaded} if self.loaded is not None else None
        out = []
        for entry in merged.values():
            cached = entry.cached if cached_ids is None else entry.id in cached_ids or entry.source == "local"
            loaded = entry.loaded if loaded_ids is None else entry.id in loaded_ids
            out.append(dataclasses.replace(entry, cached=cached, loaded=loaded))
        return out

    def chat_models(self) -> list[ModelEntry]:
        """Models one could chat with right now or after a load (cached or loaded, chat task or unknown)."""
        return [
            m
            for m in self.all_models()
            if (m.cached or m.loaded) and (m.task in (None, "chat-completion", "coding", "vision-language-chat"))
        ]

    def find(self, model_id: str) -> ModelEntry | None:
        return next((m for m in self.all_models() if model_id in (m.id, m.alias)), None)

"""The model cache as a user cleans it: each model's bytes on disk, resumable partial downloads, the total.

Sizes are counted on disk (what `du` would say), never taken from the catalog: a catalog's size can be stale or
rounded down (a small model shows 0 MB), and a partial download has no catalog size at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundry_tui.backends.base import ModelEntry
from foundry_tui.backends.cache_scan import PARTIAL, model_id_in
from foundry_tui.files import dir_size_bytes


@dataclass(frozen=True)
class CachedModel:
    entry: ModelEntry
    bytes_on_disk: int | None  # None: its directory is unreadable or gone
    in_cache: bool  # under the runtime's cache directory (a registered local model lives elsewhere)


@dataclass(frozen=True)
class PartialDownload:
    path: str
    model_id: str | None  # from inference_model.json, when the runtime wrote it already
    bytes_on_disk: int


@dataclass(frozen=True)
class CacheReport:
    location: str
    models: tuple[CachedModel, ...]
    partial: tuple[PartialDownload, ...]

    @property
    def cache_bytes(self) -> int:
        """Bytes under the cache directory: complete models plus partial downloads."""
        complete = sum(m.bytes_on_disk or 0 for m in self.models if m.in_cache)
        return complete + sum(p.bytes_on_disk for p in self.partial)


def _partial_downloads(cache_dir: Path) -> list[PartialDownload]:
    found: list[PartialDownload] = []
    for marker in sorted(cache_dir.glob(f"*/*/{PARTIAL}")):
        directory = marker.parent
        found.append(PartialDownload(str(directory), model_id_in(directory), dir_size_bytes(directory) or 0))
    return found


def cache_report(cache_dir: Path, on_disk: list[ModelEntry]) -> CacheReport:
    root = cache_dir.resolve()
    models: list[CachedModel] = []
    for entry in on_disk:
        path = Path(entry.path) if entry.path else None
        size = dir_size_bytes(path) if path is not None and path.is_dir() else None
        in_cache = path is not None and root in path.resolve().parents
        models.append(CachedModel(entry, size, in_cache))
    return CacheReport(str(cache_dir), tuple(models), tuple(_partial_downloads(cache_dir)))


__all__ = ["CacheReport", "CachedModel", "PartialDownload", "cache_report"]

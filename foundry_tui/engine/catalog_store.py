"""The last public catalog that was fetched, kept on disk, so an offline start shows it at once (with its age).

One file per data dir, `<data_dir>/catalog/public.json`, written atomically after every good fetch; it remembers
the catalog URL it came from, so a private catalog's models never show up as Azure's (or the other way round).
Only what the catalog says is stored: whether a model is cached or loaded is always asked live.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from foundry_tui.backends.base import ModelEntry
from foundry_tui.files import write_atomic

SCHEMA = 1
_FIELDS = {f.name for f in dataclasses.fields(ModelEntry)}
_LIVE = {"cached": False, "loaded": False, "path": None, "latest_version": None}  # never stored


@dataclasses.dataclass(frozen=True)
class StoredCatalog:
    url: str
    fetched_at: float  # epoch seconds
    models: tuple[ModelEntry, ...]


def store_path(data_dir: Path) -> Path:
    return data_dir / "catalog" / "public.json"


def save_catalog(path: Path, url: str, models: tuple[ModelEntry, ...] | list[ModelEntry]) -> None:
    """Store the public entries of a good fetch (local models are not the catalog's)."""
    rows = [dataclasses.asdict(dataclasses.replace(m, **_LIVE)) for m in models if m.source == "public"]  # type: ignore[arg-type]
    data = {"schema": SCHEMA, "url": url, "fetched_at": time.time(), "models": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, ensure_ascii=False))


def _entry(row: Any) -> ModelEntry | None:
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not isinstance(row.get("alias"), str):
        return None
    values = {k: v for k, v in row.items() if k in _FIELDS}
    values["variants"] = tuple(str(v) for v in values.get("variants") or ())
    values["source"] = "public"
    try:
        return ModelEntry(**values)
    except TypeError:
        return None


def load_catalog(path: Path, url: str) -> StoredCatalog | None:
    """The stored catalog of `url`; None when there is none, it is unreadable, or it came from another URL."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("url") != url:
        return None
    fetched_at = data.get("fetched_at")
    rows = data.get("models")
    if not isinstance(fetched_at, int | float) or not isinstance(rows, list):
        return None
    models = tuple(e for e in (_entry(r) for r in rows) if e is not None)
    return StoredCatalog(url, float(fetched_at), models)


__all__ = ["StoredCatalog", "load_catalog", "save_catalog", "store_path"]

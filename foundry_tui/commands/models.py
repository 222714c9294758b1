"""`models`, `register`, `unregister`."""

from __future__ import annotations

from typing import Any

from foundry_tui.backends.base import Backend, ModelEntry
from foundry_tui.commands.output import MODEL_HEADERS, entry_dict, model_rows, print_json, table
from foundry_tui.errors import NotSupportedError
from foundry_tui.text import safe_line


def _optional(fn: Any) -> list[ModelEntry] | None:
    """A listing the backend may not support (a plain endpoint has no cache): None instead of an error."""
    try:
        result: list[ModelEntry] = fn()
    except NotSupportedError:
        return None
    return result


def run_models(backend: Backend, *, as_json: bool) -> int:
    info = backend.info()
    listing = backend.list_catalog()
    local = backend.list_local()
    cached = _optional(backend.list_cached)
    loaded = _optional(backend.list_loaded)
    local_ids = {e.id for e in local}
    catalog = [e for e in listing.models if e.id not in local_ids]
    if as_json:
        print_json(
            {
                "backend": {
                    "kind": info.kind,
                    "label": info.label,
                    "endpoint": info.endpoint,
                    "management": info.management,
                },
                "catalog": {
                    "state": listing.state,
                    "reason": listing.reason,
                    "models": [entry_dict(e) for e in catalog],
                },
                "local": [entry_dict(e) for e in local],
                "cached": None if cached is None else [entry_dict(e) for e in cached],
                "loaded": None if loaded is None else [entry_dict(e) for e in loaded],
            }
        )
        return 0
    print(f"backend: {safe_line(info.label)}")
    if listing.state == "ok":
        print(f"catalog: {len(catalog)} models")
    else:
        print(f"catalog: {listing.state} — {safe_line(listing.reason or 'no reason given')} (showing local models)")
    shown = catalog + local
    if shown:
        print(table(MODEL_HEADERS, model_rows(shown)))
    else:
        print("no models: register a local model dir with `foundry-tui register PATH --id NAME:VERSION`")
    if loaded is not None:
        print(f"loaded: {', '.join(safe_line(e.id) for e in loaded) or 'none'}")
    return 0


def run_register(
    backend: Backend, path: str, model_id: str, task: str, display_name: str | None, *, as_json: bool
) -> int:
    entry = backend.register_model(path, model_id, task=task, display_name=display_name)
    if as_json:
        print_json(entry_dict(entry))
    else:
        print(f"registered {entry.id} (alias {entry.alias}) from {entry.path}")
    return 0


def run_unregister(backend: Backend, model_id: str) -> int:
    backend.unregister_model(model_id)
    print(f"unregistered {model_id} (its files were left in place)")
    return 0

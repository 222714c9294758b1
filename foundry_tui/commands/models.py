"""`models`, `register`, `unregister`: the session's models snapshot and its local-model registry."""

from __future__ import annotations

import argparse
import time
from typing import Any

from foundry_tui.commands.output import MODEL_HEADERS, entry_dict, model_rows, print_json, table
from foundry_tui.engine import units
from foundry_tui.engine.models import CatalogListing, ExecutionProvider, ModelEntry, ModelFilter, select_models
from foundry_tui.engine.session import Session
from foundry_tui.engine.variants import group_by_alias, pick_reason, select_groups
from foundry_tui.text import safe_line


def _grouped(entries: list[ModelEntry], filter_text: str, sort: str) -> list[ModelEntry]:
    """Variants of one alias together, the runtime's pick first, aliases in the Catalog pane's order."""
    return [v for _, matching in select_groups(entries, ModelFilter.parse(filter_text), sort) for v in matching]


def _catalog_json(listing: CatalogListing, catalog: list[ModelEntry], eps: list[str] | None) -> dict[str, Any]:
    now = time.time()
    return {
        "state": listing.state,
        "reason": listing.reason,
        "url": listing.url,
        "stored_at": listing.stored_at,
        "stored_age_s": None if listing.stored_at is None else round(now - listing.stored_at, 1),
        "models": [entry_dict(e) for e in catalog],
        "aliases": [
            {
                "alias": group.alias,
                "picked": group.picked.id if group.picked else None,
                "why": pick_reason(group, None if eps is None else [ExecutionProvider(n, True) for n in eps]),
                "cpu_fallback": group.cpu_fallback,
                "variants": [v.id for v in group.variants],
            }
            for group in group_by_alias(catalog)
        ],
    }


def run_models(session: Session, args: argparse.Namespace) -> int:
    snapshot = session.models()
    info = snapshot.backend or session.info()
    listing = snapshot.catalog
    assert listing is not None  # models() fetched it
    eps = snapshot.execution_providers
    registered = None if eps is None else [e.name for e in eps if e.registered]
    local_ids = {e.id for e in snapshot.local}
    live = {e.id: e for e in snapshot.all_models()}  # cached / loaded as the runtime says now
    filter_text: str = args.filter or ""
    public = [live.get(e.id, e) for e in listing.models if e.id not in local_ids]
    catalog = _grouped(public, filter_text, args.sort)
    local = select_models(snapshot.local, filter_text, args.sort)
    if args.json:
        print_json(
            {
                "backend": {
                    "kind": info.kind,
                    "label": info.label,
                    "endpoint": info.endpoint,
                    "management": info.management,
                },
                "filter": filter_text or None,
                "catalog": _catalog_json(listing, catalog, registered),
                "execution_providers": None
                if eps is None
                else [{"name": e.name, "registered": e.registered} for e in eps],
                "local": [entry_dict(e) for e in local],
                "cached": None if snapshot.cached is None else [entry_dict(e) for e in snapshot.cached],
                "loaded": None if snapshot.loaded is None else [entry_dict(e) for e in snapshot.loaded],
            }
        )
        return 0
    print(f"backend: {safe_line(info.label)}")
    matching = f" matching {filter_text!r}" if filter_text else ""
    aliases = len({e.alias for e in catalog})
    if listing.state == "ok":
        counted = f"{aliases} {'alias' if aliases == 1 else 'aliases'}, {units.count(len(catalog), 'variant')}"
        print(f"catalog: {counted}{matching}")
    else:
        print(f"catalog: {listing.state} — {safe_line(listing.reason or 'no reason given')}")
        if listing.stored_at is not None:
            age = units.age(time.time() - listing.stored_at)
            print(f"showing the catalog stored {age} ago (stale): {units.count(len(catalog), 'variant')}{matching}")
        else:
            print("showing local and cached models")
    shown = catalog + local
    if shown:
        print(table(MODEL_HEADERS, model_rows(shown)))
    elif filter_text:
        print(f"no model matches {filter_text!r}")
    else:
        print("no models: register a local model dir with `foundry-tui register PATH --id NAME:VERSION`")
    if snapshot.loaded is not None:
        print(f"loaded: {', '.join(safe_line(i) for i in snapshot.loaded_ids) or 'none'}")
    return 0


def run_register(session: Session, args: argparse.Namespace) -> int:
    entry = session.register(args.path, args.model_id, task=args.task, display_name=args.display_name)
    if args.json:
        print_json(entry_dict(entry))
    else:
        print(f"registered {entry.id} (alias {entry.alias}) from {entry.path}")
    return 0


def run_unregister(session: Session, model_id: str) -> int:
    session.unregister(model_id)
    print(f"unregistered {model_id} (its files were left in place)")
    return 0

"""`models`, `register`, `unregister`: the session's models snapshot and its local-model registry."""

from __future__ import annotations

import argparse

from foundry_tui.commands.output import MODEL_HEADERS, entry_dict, model_rows, print_json, table
from foundry_tui.engine import units
from foundry_tui.engine.models import select_models
from foundry_tui.engine.session import Session
from foundry_tui.text import safe_line


def run_models(session: Session, args: argparse.Namespace) -> int:
    snapshot = session.models()
    info = snapshot.backend or session.info()
    listing = snapshot.catalog
    assert listing is not None  # models() fetched it
    local_ids = {e.id for e in snapshot.local}
    filter_text: str = args.filter or ""
    catalog = select_models((e for e in listing.models if e.id not in local_ids), filter_text, args.sort)
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
                "catalog": {
                    "state": listing.state,
                    "reason": listing.reason,
                    "models": [entry_dict(e) for e in catalog],
                },
                "local": [entry_dict(e) for e in local],
                "cached": None if snapshot.cached is None else [entry_dict(e) for e in snapshot.cached],
                "loaded": None if snapshot.loaded is None else [entry_dict(e) for e in snapshot.loaded],
            }
        )
        return 0
    print(f"backend: {safe_line(info.label)}")
    if listing.state == "ok":
        print(f"catalog: {units.count(len(catalog), 'model')}" + (f" matching {filter_text!r}" if filter_text else ""))
    else:
        print(f"catalog: {listing.state} — {safe_line(listing.reason or 'no reason given')} (showing local models)")
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

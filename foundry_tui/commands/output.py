"""Plain-text tables and JSON for the headless commands. Untrusted strings are escaped before printing."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from foundry_tui.engine import units
from foundry_tui.engine.models import ModelEntry
from foundry_tui.engine.variants import upgrade_available
from foundry_tui.text import safe_line


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def entry_dict(entry: ModelEntry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    data["variants"] = list(entry.variants)
    return data


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [[safe_line(c, 80) for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def model_rows(entries: Sequence[ModelEntry]) -> list[list[str]]:
    """One row per variant; HERE marks the variant the runtime picks for its alias on this machine, CACHED says
    when the catalog has a newer version (↑vN)."""
    return [
        [
            e.alias,
            e.id,
            "default" if e.selected else "",
            e.device or units.MISSING,
            e.execution_provider or units.MISSING,
            units.size(e.size_mb),
            e.task or units.MISSING,
            e.license or units.MISSING,
            ("yes" + (f" ↑v{e.latest_version}" if upgrade_available(e) else "")) if e.cached else "",
            "yes" if e.loaded else "",
            e.source,
        ]
        for e in entries
    ]


MODEL_HEADERS = ("ALIAS", "ID", "HERE", "DEVICE", "EP", "SIZE", "TASK", "LICENSE", "CACHED", "LOADED", "SOURCE")

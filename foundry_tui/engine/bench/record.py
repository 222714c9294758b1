"""`Record`: the base of every JSON object of results.json (engine.bench.jsonio reads and writes them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from foundry_tui.engine.bench.jsonio import fields_json


@dataclass(kw_only=True)
class Record:
    """A JSON object of results.json: `to_json()` writes each field under its own name, then `extra`."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # keys a newer writer added

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)

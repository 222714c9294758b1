"""The runtime's model cache read straight from disk, for the moments the runtime cannot be asked quickly.

Layout (foundry-local-sdk 2.2.1): `<cache>/<publisher>/<name>-<version>/` holds a downloaded model's files plus
`inference_model.json` (`{"Name": "<model id>", ...}`); `download.tmp` marks a download still in progress or
cancelled (resumable, not usable). Offline, the runtime's first public call waits ~4 s for the catalog; this scan
lists what is on disk in milliseconds, with what the files say (device / execution provider from genai_config).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from foundry_tui.backends.base import ModelEntry
from foundry_tui.backends.genai_config import read_genai_config
from foundry_tui.files import dir_size_bytes

MARKER = "inference_model.json"
PARTIAL = "download.tmp"
_ID = re.compile(r"^(?P<name>[^:\s]+):(?P<version>\d+)$")


def model_id_in(directory: Path) -> str | None:
    """The model id the runtime wrote into `directory`'s inference_model.json, if any."""
    try:
        data = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("Name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and _ID.match(name) else None


def scan_cache(cache_dir: Path) -> list[ModelEntry]:
    """Complete downloads under `cache_dir`, as public cached entries (alias: the name, until a catalog says)."""
    entries: list[ModelEntry] = []
    try:
        publishers = sorted(p for p in cache_dir.iterdir() if p.is_dir())
    except OSError:
        return entries
    for publisher in publishers:
        try:
            directories = sorted(d for d in publisher.iterdir() if d.is_dir())
        except OSError:
            continue
        for directory in directories:
            model_id = model_id_in(directory)
            if model_id is None or (directory / PARTIAL).exists():
                continue
            match = _ID.match(model_id)
            assert match is not None
            config = read_genai_config(str(directory), scan_model=False)
            entries.append(
                ModelEntry(
                    id=model_id,
                    alias=match.group("name"),
                    source="public",
                    device=config.device if config else None,
                    execution_provider=config.execution_provider if config else None,
                    size_mb=max(1, round((dir_size_bytes(directory) or 0) / 1_048_576)),
                    publisher=publisher.name,
                    version=int(match.group("version")),
                    cached=True,
                    path=str(directory),
                )
            )
    return entries


def remove_empty_dirs(directory: Path, stop_at: Path) -> None:
    """Remove `directory` and then its parents while they are empty, never `stop_at` or above it (the runtime's
    remove_from_cache leaves the model's empty directory behind)."""
    stop = stop_at.resolve()
    current = directory.resolve()
    while current != stop and stop in current.parents:
        try:
            if current.exists():
                current.rmdir()
        except OSError:
            return  # not empty (or gone): leave it
        current = current.parent


__all__ = ["MARKER", "PARTIAL", "model_id_in", "remove_empty_dirs", "scan_cache"]

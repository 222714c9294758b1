"""Saved benchmark runs a front end can list: `<root>/<run>/results.json` under each root, newest first.

TUI runs and `foundry-tui bench` runs without --out share one root (the session's `results_root`,
`<data_dir>/bench`); CLI runs made before that went to `./bench-results/<time>`, so a listing also looks there
(`run_roots`). Reading the files takes time (every results.json is parsed): call `find_runs` off the UI thread.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from foundry_tui.engine.bench.report import RESULTS_JSON, load_results
from foundry_tui.errors import FoundryTuiError
from foundry_tui.text import safe_line

LEGACY_DIR = "bench-results"  # where CLI runs went before they shared the TUI's root (relative to the cwd)


@dataclass(frozen=True)
class PastRun:
    path: Path  # the run's directory
    root: Path  # the root it was found under
    models: tuple[str, ...] = ()
    requests: int = 0
    partial: bool = False
    error: str | None = None  # why its results.json cannot be read (one line)
    started: float = 0.0  # POSIX time it started (its file's mtime when unknown): the newest run first

    def describe(self) -> str:
        """'20261201-120000 · tiny-generic-cpu:1, smollm2-… · 8 requests · partial' (or why it is unreadable)."""
        if self.error is not None:
            return f"{self.path.name} · unreadable: {self.error}"
        partial = " · partial" if self.partial else ""
        return f"{self.path.name} · {', '.join(self.models) or 'no models'} · {self.requests} requests{partial}"


def short_path(path: Path, *, home: Path | None = None, cwd: Path | None = None) -> str:
    """`path` as a person reads it: `./bench-results/x` under the working directory, `~/…` under the home
    directory, else as it is."""
    home = home if home is not None else Path.home()
    cwd = cwd if cwd is not None else Path.cwd()
    for base, prefix in ((cwd, "."), (home, "~")):
        try:
            rest = path.relative_to(base)
        except ValueError:
            continue
        return prefix if rest == Path() else f"{prefix}{os.sep}{rest}"
    return str(path)


def run_roots(results_root: Path, cwd: Path | None = None) -> list[Path]:
    """Where runs are: the results root, then ./bench-results (CLI runs from before one root), once each."""
    legacy = (cwd if cwd is not None else Path.cwd()) / LEGACY_DIR
    roots = [results_root]
    if legacy.resolve() != results_root.resolve():
        roots.append(legacy)
    return roots


def read_run(directory: Path, root: Path) -> PastRun:
    """One run's listing (its results.json parsed; an unreadable one is listed with the reason)."""
    json_file = directory / RESULTS_JSON
    try:
        mtime = json_file.stat().st_mtime
    except OSError:
        mtime = 0.0
    try:
        results = load_results(json_file)
    except FoundryTuiError as exc:
        why = str(exc).replace(str(json_file), RESULTS_JSON)  # the directory is on the line already
        return PastRun(directory, root, error=safe_line(why, 160), started=mtime)
    models = tuple(m.model for m in results.models)
    started = _timestamp(results.started_at) or mtime
    return PastRun(directory, root, models, len(results.requests), results.partial, started=started)


def _timestamp(iso: str | None) -> float | None:
    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


def find_runs(roots: Iterable[Path]) -> list[PastRun]:
    """Every run under `roots` (a root that does not exist has none), newest first."""
    runs = []
    seen: set[Path] = set()
    for root in roots:
        for json_file in root.glob(f"*/{RESULTS_JSON}"):
            directory = json_file.parent
            if directory.resolve() in seen:
                continue
            seen.add(directory.resolve())
            runs.append(read_run(directory, root))
    return sorted(runs, key=lambda run: (run.started, run.path.name), reverse=True)


__all__ = ["LEGACY_DIR", "PastRun", "find_runs", "read_run", "run_roots", "short_path"]

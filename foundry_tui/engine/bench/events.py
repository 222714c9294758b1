"""The benchmark runner's typed progress events: `BenchRunner(on_event=...)` receives them on its threads (a TUI
posts them to its message queue and must not block; the CLI prints a line for most). Frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundry_tui.engine.bench.results import BenchResults, RequestResult
from foundry_tui.engine.lifecycle import LoadReport

# -- events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchStarted:
    models: tuple[str, ...]
    planned_requests: int  # measured requests if every model runs (warmups not counted)


@dataclass(frozen=True)
class ModelStarted:
    model: str  # exact id (or the name as given when it did not resolve)
    index: int  # 0-based
    total: int


@dataclass(frozen=True)
class ModelLoaded:
    model: str
    load_s: float | None  # None: not loaded by us (already loaded / endpoint without management)
    rss_before_mb: float  # this process's RSS (raw: with an endpoint, the client's)
    rss_after_mb: float
    note: str | None = None
    report: LoadReport | None = None  # the lifecycle's report when we loaded it (what the TUI's strip shows)
    model_memory_mb: float | None = None  # the model's own right after its load (engine.bench.memory)
    model_memory_note: str | None = None  # how it is counted, or why there is none
    in_process: bool = True  # the model lives in this process: the RSS figures above are about it


@dataclass(frozen=True)
class LevelStarted:
    model: str
    concurrency: int
    mode: str
    planned: int = 0  # measured requests at this level (more than prompts × rounds when waves need it)


@dataclass(frozen=True)
class PhaseStarted:
    """A model's phase after its levels begins: sweep | cold | context (engine.bench.phases)."""

    model: str
    phase: str
    planned: int = 0  # requests it will send (0: not known ahead, the context search)


@dataclass(frozen=True)
class RequestFinished:
    model: str
    request: RequestResult  # a copy, as in results.json (warmups: not recorded there)
    warmup: bool
    done: int  # measured requests finished so far, all models
    planned: int


@dataclass(frozen=True)
class ModelFinished:
    model: str
    status: str  # ok | partial | error | cancelled | skipped
    error: str | None
    model_memory_mb: float | None = None  # the model's own over its whole run (engine.bench.memory)
    model_memory_note: str | None = None


@dataclass(frozen=True)
class JudgeScored:
    model: str
    prompt_index: int
    score: int | None
    note: str | None


@dataclass(frozen=True)
class ResultsWritten:
    """The three files were (re)written to `out_dir` — after a model, and once more at the end (`final`)."""

    out_dir: Path
    partial: bool
    final: bool
    error: str | None = None  # one line: why they could not be written (the run goes on)


@dataclass(frozen=True)
class BenchFinished:
    partial: bool
    results: BenchResults


BenchEvent = (
    BenchStarted
    | ModelStarted
    | ModelLoaded
    | LevelStarted
    | PhaseStarted
    | RequestFinished
    | ModelFinished
    | JudgeScored
    | ResultsWritten
    | BenchFinished
)
EventCallback = Callable[[BenchEvent], None]

"""The benchmark engine, one for the CLI (`foundry-tui bench`) and the TUI's Benchmark pane. No Textual here.

- config.py: BenchConfig and build_config (user input → a validated config, one-line errors)
- runner.py: BenchRunner (models × levels × modes × rounds × prompts); events.py: its typed progress events
- model_run.py: one model's part: resolving names and variants, load / unload via the lifecycle, memory timeline
- memory.py: the memory attributed to each model (never the client's RSS under a model's name)
- past_runs.py: the saved runs a front end can list (TUI and CLI runs under one root, and ./bench-results)
- execute.py: one request: streamed or not, request timeout, cancellation; its RequestResult
- judge.py: the judge run over the answers (scoring and parsing: engine.quality)
- results.py: typed results (BenchResults …) and the results.json schema, to_json / from_json
- summaries.py: one Summary per model × level × mode
- report.py: results.json / results.csv / benchmark_report.md (atomic), tables, manual annotations
- compare.py: two runs metric by metric, Mann-Whitney U verdicts
- jsonio.py: checked reading of JSON objects (one-line errors with a path)

Definitions: docs/metrics.md; shapes and usage: docs/benchmarks.md.
"""

from foundry_tui.engine.bench.compare import compare_results
from foundry_tui.engine.bench.comparison import Comparison, ComparisonRow
from foundry_tui.engine.bench.config import MODES, BenchConfig, build_config, parse_concurrency, parse_list
from foundry_tui.engine.bench.events import (
    BenchEvent,
    BenchFinished,
    BenchStarted,
    EventCallback,
    JudgeScored,
    LevelStarted,
    ModelFinished,
    ModelLoaded,
    ModelStarted,
    RequestFinished,
    ResultsWritten,
)
from foundry_tui.engine.bench.report import load_results, markdown_report, set_annotation, write_results
from foundry_tui.engine.bench.results import (
    SCHEMA,
    BenchResults,
    EnergySummary,
    JudgeState,
    LevelResult,
    LoadInfo,
    MemoryInfo,
    MemoryPoint,
    MetricSummary,
    ModelResult,
    RequestResult,
    RunSession,
    RunSettings,
    Summary,
)
from foundry_tui.engine.bench.runner import BenchRunner
from foundry_tui.engine.bench.summaries import build_summaries

__all__ = [
    "MODES",
    "SCHEMA",
    "BenchConfig",
    "BenchEvent",
    "BenchFinished",
    "BenchResults",
    "BenchRunner",
    "BenchStarted",
    "Comparison",
    "ComparisonRow",
    "EnergySummary",
    "EventCallback",
    "JudgeScored",
    "JudgeState",
    "LevelResult",
    "LevelStarted",
    "LoadInfo",
    "MemoryInfo",
    "MemoryPoint",
    "MetricSummary",
    "ModelFinished",
    "ModelLoaded",
    "ModelResult",
    "ModelStarted",
    "RequestFinished",
    "RequestResult",
    "ResultsWritten",
    "RunSession",
    "RunSettings",
    "Summary",
    "build_config",
    "build_summaries",
    "compare_results",
    "load_results",
    "markdown_report",
    "parse_concurrency",
    "parse_list",
    "set_annotation",
    "write_results",
]

"""`bench` and `compare`: the headless benchmark over the engine (foundry_tui.engine.bench) and run comparison.

Progress goes to stderr, the summary table to stdout, files to --out (default: the session's results root, where
the TUI's runs go too, so its past runs list them). Exit codes: 0 every model measured without
error, 1 some model failed (the others are still measured), 2 bad input, 130 interrupted (partial results are
written first). Details: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import os
import sys
from pathlib import Path

from foundry_tui.commands import open_session
from foundry_tui.commands.output import print_json, table
from foundry_tui.config import Settings
from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench import BenchConfig, BenchResults, build_config, compare_results, events
from foundry_tui.engine.bench.report import (
    COMPARE_HEADERS,
    SUMMARY_HEADERS,
    THROUGHPUT_HEADERS,
    comparison_rows,
    load_results,
    results_json_text,
    summary_rows,
    throughput_rows,
    write_results,
)
from foundry_tui.errors import BackendError, BadInputError
from foundry_tui.files import write_atomic
from foundry_tui.text import safe_line

PROG = "foundry-tui"
# What the shared config builder calls each input in its one-line errors.
FLAG_LABELS = {
    "models": "--models",
    "rounds": "--rounds",
    "warmup": "--warmup",
    "max_tokens": "--max-tokens",
    "temperature": "--temperature",
    "concurrency": "--concurrency",
    "request_timeout_s": "--timeout",
}


def _env_flag_off(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("0", "false", "no", "off")


def config_from_args(settings: Settings, args: argparse.Namespace) -> BenchConfig:
    """Everything the user gave, validated before any runtime starts (bad input → exit 2 within a second).
    Without --models / BENCH_MODELS the models are left empty: every cached model, once the backend is open."""
    labels = dict(FLAG_LABELS)
    models: str | None = args.models
    if models is None and os.environ.get("BENCH_MODELS", "").strip():
        models, labels["models"] = os.environ["BENCH_MODELS"], "BENCH_MODELS"
    return build_config(
        models=models,
        prompt_file=args.prompts,
        rounds=args.rounds,
        warmup=args.warmup,
        max_tokens=settings.max_tokens if "max_tokens" in vars(args) else None,
        default_max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        concurrency=args.concurrency,
        variants=args.variants,
        non_streamed=args.non_streamed or _env_flag_off("BENCH_STREAM"),
        judge=args.judge,
        request_timeout_s=args.timeout,
        stall_timeout_s=settings.stall_timeout_s,
        models_file=args.models_file,
        require_models=False,
        labels=labels,
    )


def _out_dir(out: Path) -> Path:
    """`out` created and writable (bad input, exit 2, otherwise)."""
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create --out directory {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise BadInputError(f"--out directory {out} is not writable")
    return out


class Progress:
    """One stderr line per event that matters; model text never goes here."""

    def __init__(self) -> None:
        self.total_models = 0
        self.index = 0

    def __call__(self, event: events.BenchEvent) -> None:
        line = self.line(event)
        if line:
            print(line, file=sys.stderr, flush=True)

    def line(self, event: events.BenchEvent) -> str | None:
        if isinstance(event, events.BenchStarted):
            self.total_models = len(event.models)
            return (
                f"bench: {units.count(len(event.models), 'model')}, "
                f"{units.count(event.planned_requests, 'measured request')} planned"
            )
        if isinstance(event, events.ModelStarted):
            self.index = event.index + 1
            return f"[{self.index}/{event.total}] {safe_line(event.model)}"
        if isinstance(event, events.ModelLoaded):
            memory = _memory_text(event.model_memory_mb, event.model_memory_note)
            if event.load_s is None:
                return f"  {event.note} · {memory}"
            if event.in_process:  # this process holds the model: its RSS change is the load's
                memory += f" (RSS {units.size(event.rss_before_mb)} → {units.size(event.rss_after_mb)})"
            return f"  loaded in {metrics.LOAD_TIME.fmt(event.load_s)} · {memory}"
        if isinstance(event, events.LevelStarted):
            return f"  concurrency {event.concurrency}, {event.mode}"
        if isinstance(event, events.RequestFinished):
            return self._request_line(event)
        if isinstance(event, events.ModelFinished):
            if event.error:
                return f"  {event.status}: {safe_line(event.error, 300)}"
            return f"  {event.status} · {_memory_text(event.model_memory_mb, event.model_memory_note)}"
        if isinstance(event, events.JudgeScored):
            score = f"{event.score}/5" if event.score is not None else f"no score ({event.note})"
            return f"  judge: {safe_line(event.model)} prompt {event.prompt_index}: {score}"
        if isinstance(event, events.ResultsWritten) and event.error and not event.final:
            return f"{PROG}: warning: {event.error}"  # the final write's failure is the command's error
        return None

    @staticmethod
    def _request_line(event: events.RequestFinished) -> str | None:
        r = event.request
        where = f"prompt {r.prompt_index} round {r.round}"
        if event.warmup:
            return None if r.ok else f"    warmup {where}: {r.status}: {safe_line(r.error or '')}"
        if not r.ok:
            return f"    {where}: {r.status}: {safe_line(r.error or '', 200)}"
        tokens = (
            units.MISSING
            if r.completion_tokens is None
            else f"{r.completion_tokens}{'~' if r.tokens_estimated else ''}"
        )
        return (
            f"    {where}: TTFT {metrics.TTFT.fmt(r.ttft_ms)} · {metrics.DECODE.fmt(r.decode_tps)} · "
            f"{tokens} tokens · e2e {metrics.E2E.fmt(r.e2e_ms)}  ({event.done}/{event.planned})"
        )


def _memory_text(mb: float | None, note: str | None) -> str:
    """'model memory 248 MB' or 'model memory: remote — not measurable' (engine.bench.memory)."""
    if mb is not None:
        return f"model memory {metrics.MODEL_MEMORY.fmt(mb)}"
    return f"model memory: {note or units.MISSING}"


def _write_copy(results: BenchResults, json_file: str | None) -> None:
    """--json FILE: a copy of results.json there too."""
    if not json_file or json_file == "-":
        return
    try:
        write_atomic(Path(json_file), results_json_text(results))
    except OSError as exc:
        raise BackendError(f"cannot write the results to {json_file}: {exc.strerror or exc}", kind="io") from None


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    config = config_from_args(settings, args)
    baseline = load_results(Path(args.baseline)) if args.baseline else None
    out_dir = _out_dir(Path(args.out)) if args.out else None
    json_file: str | None = args.json
    with open_session(settings) as session:
        if out_dir is None:  # where the TUI's runs go, so its past runs list this one too
            out_dir = _out_dir(session.results_root / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
        if not config.models:
            config = dataclasses.replace(config, models=session.bench_models())
            config.validate()
        # The runner writes the three files to out_dir after each model and at the end (partial when stopped).
        runner = session.bench(
            config, on_event=Progress(), out_dir=out_dir, baseline=baseline, baseline_label=str(args.baseline)
        )
        session.sampler.start()  # 4 Hz memory samples for the timeline, 20 Hz while a model loads
        runner.start()
        try:
            while not runner.join(0.2):
                pass
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted: stopping and writing what was measured …", file=sys.stderr, flush=True)
            runner.stop()
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: write what we have now
                runner.join(30)
            results = runner.snapshot()
            if not runner.finished:  # the runner did not get to its final write
                _write_files(out_dir, results)
            _write_copy(results, json_file)
            done = sum(1 for r in results.requests if r.ok)
            print(f"{PROG}: interrupted: partial results ({done} requests) in {out_dir}", file=sys.stderr)
            return 130
        results = runner.snapshot()
        _write_copy(results, json_file)
        if runner.error is not None:
            raise runner.error  # a FoundryTuiError becomes its one-line message and exit code in cli.main
        if runner.write_error is not None:
            raise BackendError(runner.write_error, kind="io")
    if json_file == "-":
        print_json(results.to_json())
    else:
        print(table(SUMMARY_HEADERS, summary_rows(results)))
        if len(config.concurrency) > 1 or config.non_streamed:
            print()
            print(table(THROUGHPUT_HEADERS, throughput_rows(results)))
        if results.comparison is not None:
            print()
            print(table(COMPARE_HEADERS, comparison_rows(results.comparison)))
    print(f"results: {out_dir}/results.json, results.csv, benchmark_report.md", file=sys.stderr)
    failed = [m for m in results.models if m.status != "ok"]
    return 1 if failed else 0


def _write_files(out_dir: Path, results: BenchResults) -> None:
    try:
        write_results(out_dir, results)
    except OSError as exc:
        raise BackendError(f"cannot write the results to {out_dir}: {exc.strerror or exc}", kind="io") from None


def run_compare(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise BadInputError(f"--alpha must be between 0 and 1, got {args.alpha:g}")
    a = load_results(Path(args.baseline))
    b = load_results(Path(args.new))
    comparison = compare_results(a, b, alpha=args.alpha, baseline_label=args.baseline, new_label=args.new)
    if args.json:
        print_json(comparison.to_json())
        return 0
    print(f"baseline (A): {safe_line(args.baseline)}   new (B): {safe_line(args.new)}")
    if comparison.rows:
        print(table(COMPARE_HEADERS, comparison_rows(comparison)))
    else:
        print("nothing to compare: no model × concurrency × mode is in both files")
    for keys, label in ((comparison.only_in_baseline, "only in A"), (comparison.only_in_new, "only in B")):
        for model, concurrency, mode in keys:
            print(f"{label}: {safe_line(model)} (concurrency {concurrency}, {mode})")
    print(f"method: {comparison.method}; alpha {comparison.alpha:g}", file=sys.stderr)
    return 0

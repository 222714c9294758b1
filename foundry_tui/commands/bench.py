"""`bench` and `compare`: the headless benchmark over the engine (foundry_tui.engine.bench) and run comparison.

Progress goes to stderr, the summary table to stdout, files to --out. Exit codes: 0 every model measured without
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
from typing import Any

from foundry_tui.backends.base import Backend
from foundry_tui.commands import backend_session
from foundry_tui.commands.output import print_json, table
from foundry_tui.config import Settings
from foundry_tui.engine.bench import (
    BenchConfig,
    BenchEvent,
    BenchRunner,
    BenchStarted,
    JudgeScored,
    LevelStarted,
    ModelFinished,
    ModelLoaded,
    ModelStarted,
    RequestFinished,
)
from foundry_tui.engine.compare import compare_results
from foundry_tui.engine.prompts import default_prompt_file, load_models_file, load_prompt_set
from foundry_tui.engine.report import (
    COMPARE_HEADERS,
    SUMMARY_HEADERS,
    THROUGHPUT_HEADERS,
    comparison_rows,
    fmt,
    load_results,
    results_json_text,
    summary_rows,
    throughput_rows,
    write_atomic,
    write_results,
)
from foundry_tui.errors import BackendError, BadInputError, NotSupportedError
from foundry_tui.text import safe_line

PROG = "foundry-tui"


def parse_list(text: str, what: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(","))
    if not text.strip() or any(not item for item in items):
        raise BadInputError(f"{what} must be a comma-separated list without empty items, got {text!r}")
    return items


def parse_concurrency(text: str) -> tuple[int, ...]:
    levels = []
    for item in parse_list(text, "--concurrency"):
        try:
            level = int(item)
        except ValueError:
            raise BadInputError(f"--concurrency takes whole numbers like 1,2,4,8, got {item!r}") from None
        if level < 1 or level > 256:
            raise BadInputError(f"concurrency levels must be between 1 and 256, got {level}")
        if level not in levels:
            levels.append(level)
    return tuple(levels)


def _env_flag_off(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("0", "false", "no", "off")


def build_config(settings: Settings, args: argparse.Namespace) -> BenchConfig:
    """Everything the user gave, validated before any runtime starts (bad input → exit 2 within a second)."""
    prompt_file = Path(args.prompts) if args.prompts else default_prompt_file()
    prompts = load_prompt_set(prompt_file)
    tags = load_models_file(Path(args.models_file)) if args.models_file else {}
    if args.models is not None:
        models = parse_list(args.models, "--models")
    elif os.environ.get("BENCH_MODELS", "").strip():
        models = parse_list(os.environ["BENCH_MODELS"], "BENCH_MODELS")
    else:
        models = ()
    if args.rounds < 1:
        raise BadInputError(f"--rounds must be at least 1, got {args.rounds}")
    if args.warmup < 0:
        raise BadInputError(f"--warmup must be 0 or more, got {args.warmup}")
    if args.timeout is not None and args.timeout <= 0:
        raise BadInputError(f"--timeout must be greater than 0, got {args.timeout:g}")
    config = BenchConfig(
        models=models,
        prompts=tuple(prompts),
        rounds=args.rounds,
        warmup=args.warmup,
        max_tokens=settings.max_tokens,
        max_tokens_override="max_tokens" in vars(args),
        temperature=settings.temperature,
        concurrency=parse_concurrency(args.concurrency),
        variants=args.variants,
        non_streamed=args.non_streamed or _env_flag_off("BENCH_STREAM"),
        judge=args.judge,
        request_timeout_s=args.timeout,
        stall_timeout_s=settings.stall_timeout_s,
        model_tags=tags,
        prompt_file=str(prompt_file),
        models_file=args.models_file,
    )
    if models:
        config.validate()
    return config


def _out_dir(args: argparse.Namespace) -> Path:
    out = Path(args.out) if args.out else Path("bench-results") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create --out directory {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise BadInputError(f"--out directory {out} is not writable")
    return out


def default_models(backend: Backend) -> tuple[str, ...]:
    """Without --models / BENCH_MODELS: every cached model (in-process) or every served model (endpoint)."""
    try:
        entries = backend.list_cached()
    except NotSupportedError:
        entries = [e for e in backend.list_catalog().models if e.cached]
    ids = tuple(dict.fromkeys(e.id for e in entries if (e.task or "chat-completion") == "chat-completion"))
    if not ids:
        raise BadInputError("no models to benchmark: pass --models a,b (or set BENCH_MODELS)")
    return ids


class Progress:
    """One stderr line per event that matters; model text never goes here."""

    def __init__(self) -> None:
        self.total_models = 0
        self.index = 0

    def __call__(self, event: BenchEvent) -> None:
        line = self.line(event)
        if line:
            print(line, file=sys.stderr, flush=True)

    def line(self, event: BenchEvent) -> str | None:
        if isinstance(event, BenchStarted):
            self.total_models = len(event.models)
            return f"bench: {len(event.models)} model(s), {event.planned_requests} measured requests planned"
        if isinstance(event, ModelStarted):
            self.index = event.index + 1
            return f"[{self.index}/{event.total}] {safe_line(event.model)}"
        if isinstance(event, ModelLoaded):
            if event.load_s is None:
                return f"  {event.note}"
            delta = event.rss_after_mb - event.rss_before_mb
            rss = f"RSS {event.rss_before_mb:.0f} → {event.rss_after_mb:.0f} MB, {delta:+.0f}"
            return f"  loaded in {event.load_s:.2f} s ({rss})"
        if isinstance(event, LevelStarted):
            return f"  concurrency {event.concurrency}, {event.mode}"
        if isinstance(event, RequestFinished):
            r = event.request
            where = f"prompt {r['prompt_index']} round {r['round']}"
            if event.warmup:
                return (
                    None if r["status"] == "ok" else f"    warmup {where}: {r['status']}: {safe_line(r['error'] or '')}"
                )
            if r["status"] != "ok":
                return f"    {where}: {r['status']}: {safe_line(r['error'] or '', 200)}"
            tokens = (
                "-"
                if r["completion_tokens"] is None
                else f"{r['completion_tokens']}{'~' if r['tokens_estimated'] else ''}"
            )
            return (
                f"    {where}: TTFT {fmt(r['ttft_ms'], '.1f', 'ms')} · {fmt(r['decode_tps'], '.1f', 'tok/s')} · "
                f"{tokens} tokens · e2e {fmt(r['e2e_ms'], '.1f', 'ms')}  ({event.done}/{event.planned})"
            )
        if isinstance(event, ModelFinished):
            return f"  {event.status}{': ' + safe_line(event.error, 300) if event.error else ''}"
        if isinstance(event, JudgeScored):
            score = f"{event.score}/5" if event.score is not None else f"no score ({event.note})"
            return f"  judge: {safe_line(event.model)} prompt {event.prompt_index}: {score}"
        return None


def _write(out_dir: Path, results: dict[str, Any], json_file: str | None) -> None:
    try:
        write_results(out_dir, results)
        if json_file and json_file != "-":
            write_atomic(Path(json_file), results_json_text(results))
    except OSError as exc:
        raise BackendError(f"cannot write the results to {out_dir}: {exc.strerror or exc}", kind="io") from None


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    config = build_config(settings, args)
    baseline = load_results(Path(args.baseline)) if args.baseline else None
    out_dir = _out_dir(args)
    json_file: str | None = args.json
    with backend_session(settings) as backend:
        if not config.models:
            config = dataclasses.replace(config, models=default_models(backend))
            config.validate()
        for name in config.models:
            backend.resolve(name)  # an unknown name is bad input (exit 2), found before anything is measured
        progress = Progress()

        def on_event(event: BenchEvent) -> None:
            progress(event)
            if isinstance(event, ModelFinished):
                try:  # what is measured survives a crash of a later model
                    _write(out_dir, runner.snapshot(), None)
                except BackendError as exc:
                    print(f"{PROG}: warning: {exc}", file=sys.stderr)

        runner = BenchRunner(backend, config, on_event=on_event)
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
            results["partial"] = True
            _write(out_dir, results, json_file)
            done = sum(1 for r in results["requests"] if r["status"] == "ok")
            print(f"{PROG}: interrupted: partial results ({done} requests) in {out_dir}", file=sys.stderr)
            return 130
        if runner.error is not None:
            _write(out_dir, {**runner.snapshot(), "partial": True}, json_file)
            raise runner.error  # a FoundryTuiError becomes its one-line message and exit code in cli.main
        results = runner.snapshot()
        if baseline is not None:
            results["comparison"] = compare_results(
                baseline, results, baseline_label=str(args.baseline), new_label=str(out_dir)
            )
        _write(out_dir, results, json_file)
    if json_file == "-":
        print_json(results)
    else:
        print(table(SUMMARY_HEADERS, summary_rows(results)))
        if len(config.concurrency) > 1 or config.non_streamed:
            print()
            print(table(THROUGHPUT_HEADERS, throughput_rows(results)))
        if baseline is not None:
            print()
            print(table(COMPARE_HEADERS, comparison_rows(results["comparison"])))
    print(f"results: {out_dir}/results.json, results.csv, benchmark_report.md", file=sys.stderr)
    failed = [m for m in results["models"] if m["status"] != "ok"]
    return 1 if failed else 0


def run_compare(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise BadInputError(f"--alpha must be between 0 and 1, got {args.alpha:g}")
    a = load_results(Path(args.baseline))
    b = load_results(Path(args.new))
    comparison = compare_results(a, b, alpha=args.alpha, baseline_label=args.baseline, new_label=args.new)
    if args.json:
        print_json(comparison)
        return 0
    print(f"baseline (A): {safe_line(args.baseline)}   new (B): {safe_line(args.new)}")
    if comparison["rows"]:
        print(table(COMPARE_HEADERS, comparison_rows(comparison)))
    else:
        print("nothing to compare: no model × concurrency × mode is in both files")
    for key, label in (("only_in_baseline", "only in A"), ("only_in_new", "only in B")):
        for model, concurrency, mode in comparison[key]:
            print(f"{label}: {safe_line(model)} (concurrency {concurrency}, {mode})")
    print(f"method: {comparison['method']}; alpha {comparison['alpha']:g}", file=sys.stderr)
    return 0

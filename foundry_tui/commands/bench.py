"""`bench`: the headless benchmark over the engine (foundry_tui.engine.bench); `compare` is commands.compare.

Progress goes to stderr, the summary table to stdout, files to --out (default: the session's results root, where
the TUI's runs go too, so its past runs list them), every finished request to its journal as it ends. Exit codes:
0 every request of every model ok, 1 some model failed or only partly succeeded (the others are still measured),
2 bad input (found before anything runs), 130 interrupted by Ctrl-C, 143 by SIGTERM (what `timeout`, CI and
`docker stop` send); partial results are written first either way, and `--resume DIR` finishes such a run.
Details: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from foundry_tui.commands import open_session
from foundry_tui.commands.output import print_json, table
from foundry_tui.config import Settings
from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench import BenchConfig, BenchResults, build_config, events
from foundry_tui.engine.bench.compare_table import COMPARE_HEADERS, comparison_rows
from foundry_tui.engine.bench.journal import JOURNAL, read_journal, results_from_journal
from foundry_tui.engine.bench.phase_tables import (
    COLD_HEADERS,
    SWEEP_HEADERS,
    cold_notes,
    cold_rows,
    context_lines,
    phase_line,
    request_place,
    sweep_rows,
)
from foundry_tui.engine.bench.report import load_results, results_json_text, write_results
from foundry_tui.engine.bench.resume import config_for_resume
from foundry_tui.engine.bench.runner import BenchRunner
from foundry_tui.engine.bench.tables import (
    SUMMARY_HEADERS,
    THROUGHPUT_HEADERS,
    model_status_text,
    summary_rows,
    throughput_rows,
    with_goodput,
)
from foundry_tui.errors import BackendError, BadInputError, FoundryTuiError, Terminated
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
    "stall_timeout_s": "--stall-timeout",
    "first_token_timeout_s": "--first-token-timeout",
    "waves": "--waves",
    "prompt_tokens": "--prompt-tokens",
    "sweep_max_tokens": "--sweep-max-tokens",
    "context_ttft_limit_s": "--context-ttft-limit",
    "context_max_tokens": "--context-max",
    "cold": "--cold",
    "slo": "--slo",
}
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


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
        stall_timeout_s=args.stall_timeout if args.stall_timeout is not None else settings.stall_timeout_s,
        first_token_timeout_s=(
            args.first_token_timeout if args.first_token_timeout is not None else settings.first_token_timeout_s
        ),
        waves=args.waves,
        tokenizer=args.tokenizer,
        models_file=args.models_file,
        require_models=False,
        labels=labels,
        prompt_tokens=args.prompt_tokens,
        sweep_max_tokens=args.sweep_max_tokens,
        find_context=args.find_context,
        context_ttft_limit_s=args.context_ttft_limit,
        context_max_tokens=args.context_max,
        cold=args.cold,
        slo=args.slo,
    )


def _out_dir(out: Path, flag: str = "--out") -> Path:
    """`out` created and writable (bad input, exit 2, otherwise)."""
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{flag} {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create {flag} directory {out}: {exc.strerror or exc}") from None
    _can_create_in(out, f"{flag} directory {out}")
    return out


def _can_create_in(directory: Path, what: str) -> None:
    """Create and remove a file there: os.access says yes to root everywhere, /proc included."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".foundry-tui-probe-", dir=directory)
    except OSError as exc:
        raise BadInputError(f"{what} is not writable: {exc.strerror or exc}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _json_target(json_file: str | None) -> None:
    """--json FILE: its directory must exist and take a new file, checked before anything runs."""
    if not json_file or json_file == "-":
        return
    path = Path(json_file)
    if path.is_dir():
        raise BadInputError(f"--json {json_file} is a directory; give a file name")
    if not path.parent.is_dir():
        raise BadInputError(f"--json {json_file}: directory {path.parent} does not exist")
    _can_create_in(path.parent, f"--json {json_file}: directory {path.parent}")


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
            return f"  concurrency {event.concurrency}, {event.mode}: {units.count(event.planned, 'request')}"
        if isinstance(event, events.PhaseStarted):
            return f"  {phase_line(event.phase, event.planned)}"
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
        where = request_place(r)
        if event.warmup:
            return None if r.ok else f"    warmup {where}: {r.status}: {safe_line(r.error or '')}"
        if not r.ok:
            return f"    {where}: {r.status}: {safe_line(r.error or 'no reason given', 200)}"
        mark = "~" if r.tokens_estimated else ""  # every figure made from an estimated token count
        tokens = units.MISSING if r.completion_tokens is None else f"{mark}{r.completion_tokens}"
        cold = " (cold)" if r.cold else ""
        prefill = f" · prefill ≈{metrics.PREFILL.fmt(r.prefill_tps)}" if r.phase != "levels" else ""
        return (
            f"    {where}: TTFT {metrics.TTFT.fmt(r.ttft_ms)}{cold}{prefill} · {mark}{metrics.DECODE.fmt(r.decode_tps)}"
            f" · {tokens} tokens · e2e {metrics.E2E.fmt(r.e2e_ms)}  ({event.done}/{event.planned})"
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


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests calling run_bench from a worker): leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _prior_run(directory: Path) -> BenchResults:
    """The interrupted run in `directory`: its journal (every finished request), else its results.json."""
    journal = directory / JOURNAL
    if journal.is_file():
        state = read_journal(journal)
        results = results_from_journal(state)
        if state.torn_lines:
            print(f"{PROG}: {journal}: ignored {units.count(state.torn_lines, 'torn last line')}", file=sys.stderr)
        return results
    if (directory / "results.json").is_file():
        return load_results(directory)
    raise BadInputError(f"--resume {directory}: no journal.jsonl or results.json there")


# Workload flags and their parser defaults (cli.py): given with --resume, they are ignored, and we say so.
_WORKLOAD_DEFAULTS = {"models": None, "prompts": None, "rounds": 3, "warmup": 1, "concurrency": "1", "waves": "3",
                      "non_streamed": False, "judge": None, "timeout": None, "stall_timeout": None,
                      "first_token_timeout": None, "tokenizer": None, "models_file": None, "prompt_tokens": None,
                      "sweep_max_tokens": "64", "find_context": False, "context_ttft_limit": "60",
                      "context_max": None, "cold": "0", "slo": None}  # fmt: skip


def _workload_flags_given(args: argparse.Namespace) -> list[str]:
    given = [name for name, default in _WORKLOAD_DEFAULTS.items() if getattr(args, name, default) != default]
    given += [name for name in ("max_tokens", "temperature") if name in vars(args)]  # SUPPRESS: absent unless given
    return ["--" + name.replace("_", "-") for name in given]


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    with _sigterm_stops():  # from here on SIGTERM is an exception: a stop inside the run, exit 143 outside it
        return _run_bench(settings, args)


def _run_bench(settings: Settings, args: argparse.Namespace) -> int:
    config = config_from_args(settings, args)
    prior: BenchResults | None = None
    if args.resume:
        resume_dir = Path(args.resume)
        if not resume_dir.is_dir():
            raise BadInputError(f"--resume {resume_dir} is not a directory")
        if args.out and Path(args.out) != resume_dir:
            raise BadInputError("--resume continues the run in its own directory; drop --out")
        prior = _prior_run(resume_dir)
        if not prior.partial:
            raise BadInputError(f"--resume {resume_dir}: that run completed; nothing to resume")
        config = config_for_resume(prior, config)
        config.validate()
        args.out = str(resume_dir)
        recorded = units.count(len(prior.requests), "request")
        print(f"{PROG}: resuming {resume_dir} with its recorded settings ({recorded} recorded)", file=sys.stderr)
        ignored = _workload_flags_given(args)
        if ignored:
            print(f"{PROG}: warning: --resume measures the recorded workload; ignored: {', '.join(ignored)}",
                  file=sys.stderr)  # fmt: skip
    baseline = load_results(Path(args.baseline)) if args.baseline else None
    out_dir = _out_dir(Path(args.out)) if args.out else None
    json_file: str | None = args.json
    _json_target(json_file)
    with open_session(settings) as session:
        if out_dir is None:  # where the TUI's runs go, so its past runs list this one too
            out_dir = _out_dir(session.results_root / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
        if not config.models:
            config = dataclasses.replace(config, models=session.bench_models())
            config.validate()
        # The runner writes the three files to out_dir after each model and at the end (partial when stopped),
        # and every finished request to out_dir/journal.jsonl as it ends.
        runner = session.bench(
            config,
            on_event=Progress(),
            out_dir=out_dir,
            baseline=baseline,
            baseline_label=str(args.baseline),
            resume_from=prior,
        )
        session.sampler.start()  # 4 Hz memory samples for the timeline, 20 Hz while a model loads
        runner.start()
        try:
            while not runner.join(0.2):
                pass
        except (KeyboardInterrupt, Terminated) as exc:
            reason = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
            return _interrupted(runner, reason, out_dir, json_file, html=args.html)
        results = runner.snapshot()
        _write_copy(results, json_file)
        if runner.error is not None:
            raise runner.error  # a FoundryTuiError becomes its one-line message and exit code in cli.main
        if runner.write_error is not None:
            raise BackendError(runner.write_error, kind="io")
    _print_results(results, config, json_file)
    files = "results.json, results.csv, benchmark_report.md, journal.jsonl" + (", report.html" if args.html else "")
    if args.html:
        _write_html(out_dir, results)
    print(f"results: {out_dir}/{files}", file=sys.stderr)
    not_ok = [m for m in results.models if m.status != "ok"]
    for model in not_ok:
        print(f"{PROG}: {safe_line(model.model)}: {model_status_text(results, model.model)}", file=sys.stderr)
    return 1 if not_ok else 0


def _interrupted(runner: BenchRunner, reason: str, out_dir: Path, json_file: str | None, *, html: bool) -> int:
    """Stop, write what was measured (the runner's final write, or ours if it does not get there), exit 130/143."""
    print(f"{PROG}: {reason}: stopping and writing what was measured …", file=sys.stderr, flush=True)
    runner.stop(reason)
    with contextlib.suppress(KeyboardInterrupt, Terminated):  # a second signal: write what we have now
        runner.join(30)
    results = runner.snapshot()
    if not runner.finished:  # the runner did not get to its final write
        _write_files(out_dir, results)
    _write_copy(results, json_file)
    if html:
        try:  # the data files are written: a page that fails only says so
            _write_html(out_dir, results)
        except FoundryTuiError as exc:
            print(f"{PROG}: {safe_line(str(exc), 300)} (the data files are written)", file=sys.stderr)
        except (KeyboardInterrupt, Terminated):
            pass  # a second signal: the page is the one thing left out
    done = sum(1 for r in results.requests if r.ok)
    print(
        f"{PROG}: {reason}: partial results ({units.count(done, 'request')}) in {out_dir}; "
        f"finish them with: {PROG} bench --resume {out_dir}",
        file=sys.stderr,
    )
    return EXIT_SIGNAL[reason]


def _print_results(results: BenchResults, config: BenchConfig, json_file: str | None) -> None:
    if json_file == "-":
        print_json(results.to_json())
        return
    print(table(with_goodput(results, SUMMARY_HEADERS), summary_rows(results)))
    if len(config.concurrency) > 1 or config.non_streamed or config.slo:
        print()
        print(table(with_goodput(results, THROUGHPUT_HEADERS), throughput_rows(results)))
    if results.sweep:
        print()
        print(table(SWEEP_HEADERS, sweep_rows(results)))
    if results.cold_starts:
        print()
        print(table(COLD_HEADERS, cold_rows(results)))
        for note in cold_notes(results):
            print(f"cold starts: {note}")
    for line in context_lines(results):
        print(f"usable context: {line}")
    for warning in results.warnings:
        print(f"{PROG}: warning: {safe_line(warning, 300)}", file=sys.stderr)
    if results.comparison is not None:
        print()
        for warning in results.comparison.warnings or []:
            print(f"{PROG}: warning: {safe_line(str(warning), 300)}", file=sys.stderr)
        print(table(COMPARE_HEADERS, comparison_rows(results.comparison)))


def _write_html(out_dir: Path, results: BenchResults) -> None:
    """report.html next to results.json (matplotlib is imported only here: a run without --html never pays)."""
    from foundry_tui.engine.bench.html_report import write_html

    try:
        write_html(out_dir, results)
    except OSError as exc:
        raise BackendError(f"cannot write the report to {out_dir}: {exc.strerror or exc}", kind="io") from None


def _write_files(out_dir: Path, results: BenchResults) -> None:
    try:
        write_results(out_dir, results)
    except OSError as exc:
        raise BackendError(f"cannot write the results to {out_dir}: {exc.strerror or exc}", kind="io") from None

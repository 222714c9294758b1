"""`report DIR`: a benchmark run's report from its results.json (a run directory, or the file itself).

`--html` writes the self-contained HTML page (engine.bench.html_report: tables, inline SVG figures, the
reproducibility block; it opens offline) to DIR/report.html, or to `--out FILE`, atomically, and prints where it
went on stderr. Without `--html` the Markdown report (benchmark_report.md's text) goes to stdout. `--baseline
FILE` adds a comparison against an earlier run, in either format, unless the run already holds one. Exit codes: 0
written, 1 the file could not be written, 2 bad input (no such directory or file, not a results file, an --out
that is a directory or in a directory that does not exist), each a one-line error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from foundry_tui.config import Settings
from foundry_tui.errors import BackendError, BadInputError

PROG = "foundry-tui"


def _html_target(out: str | None, run_dir: Path) -> Path:
    """Where the page goes: --out FILE, else report.html in the run's directory; bad input (exit 2) before any
    work when it cannot go there."""
    from foundry_tui.engine.bench.html_report import REPORT_HTML

    if not out:
        return run_dir / REPORT_HTML
    target = Path(out)
    if target.is_dir():
        raise BadInputError(f"--out {out} is a directory; give a file name")
    if not target.parent.is_dir():
        raise BadInputError(f"--out {out}: directory {target.parent} does not exist")
    return target


def run_report(settings: Settings, args: argparse.Namespace) -> int:
    """`settings` is unused today (a report needs no backend); taken like every other command's."""
    from foundry_tui.engine.bench.report import RESULTS_JSON, load_results

    source = Path(args.dir)
    if not source.exists():
        raise BadInputError(f"{source} does not exist (give a benchmark run directory or its {RESULTS_JSON})")
    run_dir = source if source.is_dir() else source.parent
    html = bool(getattr(args, "html", False))
    out = getattr(args, "out", None)
    if out and not html:
        raise BadInputError("--out names where the HTML goes: add --html (the Markdown report goes to stdout)")
    target = _html_target(out, run_dir) if html else None
    results = load_results(source)  # one-line BadInputError when it is not a results file
    baseline_file = getattr(args, "baseline", None)
    if baseline_file:
        from foundry_tui.engine.bench.compare import with_baseline

        results = with_baseline(results, load_results(Path(baseline_file)))
    if target is None:
        from foundry_tui.engine.bench.report import markdown_report

        sys.stdout.write(markdown_report(results))
        return 0
    from foundry_tui.engine.bench.html_report import html_report
    from foundry_tui.files import write_atomic

    page = html_report(results)
    try:
        write_atomic(target, page)
    except OSError as exc:
        raise BackendError(f"cannot write the report to {target}: {exc.strerror or exc}", kind="io") from None
    print(f"report: {target}", file=sys.stderr)
    return 0


__all__ = ["run_report"]

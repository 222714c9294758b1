"""`compare A B`: two benchmark results.json files, metric by metric, with verdicts (engine.bench.compare).

The runs must have measured the same workload (max tokens, temperature, prompt set): otherwise the command refuses
with one line listing the differences and exit 2, unless --allow-different. Any other difference (backend, models,
machine, concurrency levels, modes, …) is a warning line on stderr and in the JSON. The table goes to stdout (or
the comparison as JSON with --json); warnings and the method line go to stderr. Exit codes: 0 compared (whatever
the verdicts), 2 bad input. Method: docs/metrics.md, "Comparing runs".
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from foundry_tui.errors import BadInputError
from foundry_tui.text import safe_line

PROG = "foundry-tui"


def check_flags(alpha: float, min_effect: float) -> None:
    """BadInputError (exit 2) for an alpha outside (0, 1) or a min effect that is not a finite number >= 0."""
    if not 0 < alpha < 1:  # also false for nan
        raise BadInputError(f"--alpha must be between 0 and 1 (exclusive), got {alpha:g}")
    if not math.isfinite(min_effect) or min_effect < 0:
        raise BadInputError(f"--min-effect must be a finite percentage >= 0, got {min_effect:g}")


def run_compare(args: argparse.Namespace) -> int:
    check_flags(args.alpha, args.min_effect)
    from foundry_tui.commands.output import print_json, table
    from foundry_tui.engine.bench.compare import compare_results, settings_differences
    from foundry_tui.engine.bench.compare_table import COMPARE_HEADERS, comparison_notes, comparison_rows
    from foundry_tui.engine.bench.report import load_results

    a = load_results(Path(args.baseline))
    b = load_results(Path(args.new))
    differences = settings_differences(a, b)
    if differences.workload and not args.allow_different:
        raise BadInputError(
            f"settings differ: {'; '.join(differences.workload)} — compare runs of the same workload, "
            "or pass --allow-different"
        )
    comparison = compare_results(
        a, b, alpha=args.alpha, min_effect_pct=args.min_effect, baseline_label=args.baseline, new_label=args.new
    )
    *warnings, method = comparison_notes(comparison)
    for line in warnings:
        print(f"{PROG}: {line}", file=sys.stderr)
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
    print(method, file=sys.stderr)
    return 0

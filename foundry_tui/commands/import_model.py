"""`import`: convert a GGUF file or a Hugging Face model dir to ONNX and register it with the in-process runtime.

Progress lines (with elapsed time) go to stderr; the summary line, or with --json one object, goes to stdout.
"""

from __future__ import annotations

import argparse
import sys

from foundry_tui.commands.output import entry_dict, print_json
from foundry_tui.engine import units
from foundry_tui.engine.session import Session
from foundry_tui.importer import ImportResult, Stage
from foundry_tui.text import safe_line


def print_stage(stage: Stage) -> None:
    if stage.name == "done":
        return
    text = f"  · {safe_line(stage.detail, 200)}" if stage.detail else f"{safe_line(stage.label, 200)}…"
    print(f"[{stage.elapsed_s:6.1f} s] {text}", file=sys.stderr, flush=True)


def result_json(result: ImportResult) -> dict[str, object]:
    return {
        "id": result.model_id,
        "alias": result.alias,
        "display_name": result.entry.display_name,
        "path": str(result.path),
        "size_bytes": result.size_bytes,
        "size_mb": round(units.mb_of(result.size_bytes), 1),
        "precision": result.precision,
        "source": str(result.source),
        "elapsed_s": round(result.elapsed_s, 3),
        "skipped": result.skipped,
        "log": str(result.log_path) if result.log_path else None,
        "stages_s": result.stage_s,
        "model": entry_dict(result.entry),
    }


def summary_line(result: ImportResult) -> str:
    head = "already imported" if result.skipped else "imported"
    parts = [
        f"{head} {result.model_id} (alias {result.alias})",
        units.size(units.mb_of(result.size_bytes)),
        f"{result.elapsed_s:.1f} s",
        str(result.path),
    ]
    line = " · ".join(safe_line(p) for p in parts)
    return line + (" (same source and precision; --force converts again)" if result.skipped else "")


def run_import(session: Session, args: argparse.Namespace) -> int:
    result = session.import_model(
        args.source,
        demo=args.demo,
        precision=args.precision,
        model_id=args.model_id,
        display_name=args.display_name,
        force=args.force,
        progress=print_stage,
    )
    if args.json:
        print_json(result_json(result))
    else:
        print(summary_line(result))
    return 0

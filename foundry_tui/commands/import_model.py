"""`import`: convert a GGUF file or a Hugging Face model dir to ONNX and register it with the in-process runtime.

Progress lines (with elapsed time) go to stderr; the summary line, or with --json one object, goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from foundry_tui.commands.output import entry_dict, print_json, size_text
from foundry_tui.config import Settings
from foundry_tui.errors import BadInputError
from foundry_tui.importer import DEMO_DISPLAY_NAME, ImportResult, Stage, demo_gguf, import_model
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
        "size_mb": round(result.size_bytes / 1_048_576, 1),
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
        size_text(max(1, round(result.size_bytes / 1_048_576))),
        f"{result.elapsed_s:.1f} s",
        str(result.path),
    ]
    line = " · ".join(safe_line(p) for p in parts)
    return line + (" (same source and precision; --force converts again)" if result.skipped else "")


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    if settings.endpoint:
        raise BadInputError(
            "import registers models with the in-process Foundry Local runtime; it cannot use an endpoint "
            f"(--endpoint / FOUNDRY_LOCAL_ENDPOINT is set to {settings.endpoint})"
        )
    display_name = args.display_name
    if args.demo:
        if args.source:
            raise BadInputError("give SOURCE or --demo, not both")
        source: Path = demo_gguf()
        display_name = display_name or f"{DEMO_DISPLAY_NAME} ({args.precision})"
    elif not args.source:
        raise BadInputError("give SOURCE (a .gguf file or a Hugging Face model directory), or --demo")
    else:
        source = Path(args.source)

    from foundry_tui.commands import backend_session

    with backend_session(settings) as backend:
        result = import_model(
            source,
            model_id=args.model_id,
            precision=args.precision,
            display_name=display_name,
            force=args.force,
            settings=settings,
            backend=backend,
            progress=print_stage,
        )
    if args.json:
        print_json(result_json(result))
    else:
        print(summary_line(result))
    return 0

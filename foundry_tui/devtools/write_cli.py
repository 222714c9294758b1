"""The command line of a devtool that writes one thing to a path and prints where (tiny_model, fake_tokenizer)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def write_main(
    argv: Sequence[str] | None, usage: str, write: Callable[[str], Path], errors: tuple[type[Exception], ...]
) -> int:
    """`write(OUT)` and print the path it wrote: exit 0; `errors` → one line, exit 1; bad arguments → exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(f"usage: {usage}", file=sys.stderr)
        return 2
    try:
        path = write(args[0])
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path.resolve())
    return 0


__all__ = ["write_main"]

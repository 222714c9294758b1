"""House rule: backends/ and engine/ never import Textual (the core must run without the TUI)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import foundry_tui

PACKAGE = Path(foundry_tui.__file__).parent


def test_core_modules_have_no_textual_import_statement() -> None:
    offenders = []
    for layer in ("backends", "engine"):
        for path in (PACKAGE / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(name == "textual" or name.startswith(("textual.", "rich")) for name in names):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_importing_the_core_loads_no_textual() -> None:
    modules = [
        f"foundry_tui.{layer}.{path.stem}"
        for layer in ("backends", "engine")
        for path in sorted((PACKAGE / layer).glob("*.py"))
        if path.stem != "__init__"
    ]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        + "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

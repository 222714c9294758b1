"""The rules of the house (../shared/DESIGN.md), checked on the source:

- `backends/`, `engine/` and `commands/` never import Textual (the core runs without the TUI);
- panes never import `backends/`, the session or the app: they render data messages and post intents;
- no module is longer than ~500 lines unless its docstring says why (a line starting with "Size:").
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import foundry_tui

PACKAGE = Path(foundry_tui.__file__).parent
MAX_LINES = 500


def imports(path: Path) -> list[tuple[str, int]]:
    """Every module name an import statement in `path` names, with its line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.lineno))
    return found


def offenders(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for layer in layers:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for name, line in imports(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    out.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    return out


def test_the_core_and_the_cli_have_no_textual_import_statement() -> None:
    assert offenders(("backends", "engine", "commands"), ("textual", "rich")) == []


def test_panes_are_views() -> None:
    forbidden = ("foundry_tui.backends", "foundry_tui.engine.session", "foundry_tui.tui.app", "foundry_tui.tui.routes")
    assert offenders(("tui/panes",), forbidden) == []
    casts = [p.name for p in (PACKAGE / "tui" / "panes").glob("*.py") if "FoundryTuiApp" in p.read_text("utf-8")]
    assert casts == []


def test_importing_the_core_loads_no_textual() -> None:
    modules = [
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for layer in ("backends", "engine", "commands")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
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


def test_long_modules_say_why() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.startswith("Size:") for line in docstring.splitlines()):
            long.append(f"{path.relative_to(PACKAGE)} ({text.count(chr(10))} lines)")
    assert long == []

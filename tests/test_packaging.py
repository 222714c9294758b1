"""styles/ and prompts/ ship inside the wheel and are found by an installed (non-editable) package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_wheel_contains_resources_and_installed_package_finds_them(tmp_path: Path) -> None:
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wheel = next(dist.glob("foundry_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "foundry_tui/prompts/default.json" in names
    assert any(n.startswith("foundry_tui/styles/") and n.endswith(".tcss") for n in names)

    # Install into a fresh venv that borrows the dependencies of this one but has no editable foundry_tui.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "deps.pth").write_text("\n".join(deps) + "\n")
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (site / "0-foundry-tui.pth").write_text(str(target) + "\n")
    code = (
        "import foundry_tui, foundry_tui.paths as p\n"
        "print(foundry_tui.__file__)\n"
        "print(p.styles_dir()); print(p.prompts_dir())\n"
        "print(sorted(x.name for x in p.prompts_dir().iterdir()))\n"
    )
    python = venv / "bin" / "python"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    module_file, styles, prompts, listing = result.stdout.strip().splitlines()
    assert module_file.startswith(str(target))
    assert styles == str(target / "foundry_tui" / "styles")
    assert prompts == str(target / "foundry_tui" / "prompts")
    assert "default.json" in listing
    console = subprocess.run(
        [str(python), "-m", "foundry_tui", "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert console.stdout.startswith("foundry-tui ")

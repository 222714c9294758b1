"""Import GGUF files and Hugging Face model dirs as registered ONNX Runtime GenAI models (no Textual here).

The conversion dependencies (torch, transformers, the GenAI builder, …) come with `pip install
'foundry-tui[import]'` and are never imported by this package: the slow steps run as subprocesses.
"""

from __future__ import annotations

from foundry_tui.importer.convert import PRECISIONS, ImportResult, Stage, estimate_bytes, import_model
from foundry_tui.importer.deps import INSTALL_HINT, demo_gguf, missing_modules, require_conversion_modules

DEMO_DISPLAY_NAME = "SmolLM2 135M Instruct"
DEMO_ID = "smollm2-135m-instruct-int8-generic-cpu:1"

__all__ = [
    "DEMO_DISPLAY_NAME",
    "DEMO_ID",
    "INSTALL_HINT",
    "PRECISIONS",
    "ImportResult",
    "Stage",
    "demo_gguf",
    "estimate_bytes",
    "import_model",
    "missing_modules",
    "require_conversion_modules",
]

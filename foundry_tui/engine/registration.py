"""Bring-your-own model directories: an id suggested from the path, and each input's problem in one line.

Pure checks, cheap enough to run as a person types (a stat and one small JSON read); the session runs the same
checks again before it registers anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from foundry_tui.backends.local_models import validate_model_dir, validate_model_id
from foundry_tui.errors import BadInputError

_DEVICE_SUFFIX = re.compile(r"-(cpu|gpu|npu|cuda|dml|webgpu|trt-rtx|qnn|openvino)$")


def suggest_model_id(path: str) -> str | None:
    """An id from the directory name: `…/phi-mini` → `phi-mini-generic-cpu:1` (None when nothing usable)."""
    text = path.strip().rstrip("/\\")
    if not text:
        return None
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text).name).strip("-._").lower()
    if not slug:
        return None
    if not _DEVICE_SUFFIX.search(slug):
        slug += "-generic-cpu"
    return None if model_id_problem(f"{slug}:1") else f"{slug}:1"


def _problem(check: Callable[[str], object], value: str) -> str | None:
    try:
        check(value)
    except BadInputError as exc:
        return str(exc)
    return None


def model_id_problem(model_id: str) -> str | None:
    """Why `model_id` cannot be registered (None when it can)."""
    return _problem(validate_model_id, model_id)


def model_dir_problem(path: str) -> str | None:
    """Why `path` is not an ONNX Runtime GenAI model directory (None when it is)."""
    return _problem(validate_model_dir, path)


__all__ = ["model_dir_problem", "model_id_problem", "suggest_model_id"]

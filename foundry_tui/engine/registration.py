"""Bring-your-own model directories: an id suggested from the path, and each input's problem in one line.

Pure checks, cheap enough to run as a person types (a stat and one small JSON read): the register form runs
`check_form` on every change and refuses Enter while it finds a problem. The session runs the same checks again
before it registers anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
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


def model_id_problem(model_id: str, taken: Collection[str] = ()) -> str | None:
    """Why `model_id` cannot be registered (None when it can); `taken`: the ids registered already."""
    if model_id in taken:
        return f"model id {model_id} is already registered; unregister it first or choose another"
    return _problem(validate_model_id, model_id)


def model_dir_problem(path: str) -> str | None:
    """Why `path` is not an ONNX Runtime GenAI model directory (None when it is)."""
    return _problem(validate_model_dir, path)


@dataclass(frozen=True)
class FormCheck:
    """The register form judged as a whole: the id it would use and the first problem, naming its field."""

    model_id: str | None
    problem: str | None = None
    field: str | None = None  # "path" | "id": where the person should type next

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_form(path: str, model_id: str, taken: Collection[str] = ()) -> FormCheck:
    """The form's inputs (the id may be empty: the suggestion from the path is used), path first."""
    path, model_id = path.strip(), model_id.strip()
    if not path:
        return FormCheck(None, "Enter the model directory: the folder that holds genai_config.json.", "path")
    chosen = model_id or suggest_model_id(path)
    problem = model_dir_problem(path)
    if problem:
        return FormCheck(chosen, problem, "path")
    if not chosen:
        return FormCheck(None, "Enter a model id like my-model-generic-cpu:1.", "id")
    problem = model_id_problem(chosen, taken)
    return FormCheck(chosen, problem, "id" if problem else None)


__all__ = ["FormCheck", "check_form", "model_dir_problem", "model_id_problem", "suggest_model_id"]

"""Checks for bring-your-own model directories and ids, done before the runtime sees them.

The runtime's own messages for these cases are terse or come late (at load time); these name the exact problem.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from foundry_tui.errors import BadInputError

CHAT_TASKS = ("chat-completion", "coding", "vision-language-chat")
TASKS = (*CHAT_TASKS, "embeddings", "automatic-speech-recognition")

_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*:\d+$")


def validate_model_id(model_id: str) -> str:
    if not _MODEL_ID.match(model_id):
        raise BadInputError(
            f"model id {model_id!r} must look like NAME:VERSION, e.g. my-model-generic-cpu:1 "
            "(letters, digits, '.', '_', '-' then ':' and a whole number)"
        )
    return model_id


def validate_task(task: str) -> str:
    if task not in TASKS:
        raise BadInputError(f"task {task!r} is not one of: {', '.join(TASKS)}")
    return task


def validate_model_dir(path: str | Path) -> Path:
    """An ONNX-GenAI model dir: genai_config.json (valid JSON) naming a decoder file that exists, plus a tokenizer."""
    directory = Path(path).expanduser()
    if not directory.exists():
        raise BadInputError(f"model directory {directory} does not exist")
    if not directory.is_dir():
        raise BadInputError(f"{directory} is a file; give the directory that holds genai_config.json")
    config_path = directory / "genai_config.json"
    if not config_path.is_file():
        raise BadInputError(f"{directory} has no genai_config.json: it is not an ONNX Runtime GenAI model directory")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{config_path} is not valid JSON: {exc}") from None
    decoder = config.get("model", {}).get("decoder", {}) if isinstance(config, dict) else {}
    filename = decoder.get("filename") if isinstance(decoder, dict) else None
    if not isinstance(filename, str) or not filename:
        raise BadInputError(f"{config_path} names no model.decoder.filename")
    if not (directory / filename).is_file():
        raise BadInputError(f"{config_path} names decoder file {filename!r}, which is missing from {directory}")
    if not any((directory / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        raise BadInputError(f"{directory} has no tokenizer.json (or tokenizer.model)")
    return directory.resolve()

"""Prompt sets and model-tag files for benchmarks: parsing with one-line errors (docs/benchmarks.md).

A prompt set is a JSON list whose items are strings or objects
`{"prompt": str, "expect"?: [aspect, …], "max_tokens"?: int, "system"?: str, "name"?: str}`.
An aspect is a phrase (`"privacy"`), a list of alternative phrases (`["privacy", "private"]`), or an object
`{"name": str, "any": [phrase, …]}`.

A models file is a JSON object `{alias or id: {"capabilities"?: [str], "size_mb"?: number, "license"?: str,
"notes"?: str, "endpoint"?: "http(s)://host:port/v1"}}`; its tags are shown in reports. An entry naming an
endpoint is that endpoint's model (benchmarked as `URL#name`, through backends.routing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundry_tui import paths
from foundry_tui.backends.routing import endpoint_url, split_model_id
from foundry_tui.errors import BadInputError


@dataclass(frozen=True)
class Aspect:
    """One thing a good answer mentions: satisfied when any of the phrases matches (quality.py)."""

    name: str
    any_of: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "any": list(self.any_of)}


@dataclass(frozen=True)
class PromptSpec:
    prompt: str
    expect: tuple[Aspect, ...] = ()
    max_tokens: int | None = None
    system: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "name": self.name,
            "system": self.system,
            "max_tokens": self.max_tokens,
            "expect": [a.to_dict() for a in self.expect],
        }


@dataclass(frozen=True)
class ModelTags:
    capabilities: tuple[str, ...] = ()
    size_mb: float | None = None
    license: str | None = None
    notes: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    endpoint: str | None = None  # the OpenAI-compatible endpoint serving it (None: the session's backend)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "capabilities": list(self.capabilities),
            "size_mb": self.size_mb,
            "license": self.license,
            "notes": self.notes,
        }
        if self.endpoint is not None:
            out["endpoint"] = self.endpoint
        return out


def shipped_prompt_sets() -> list[tuple[str, str]]:
    """(name, path) of the prompt sets that ship with foundry-tui, `default` first."""
    files = sorted(paths.prompts_dir().glob("*.json"), key=lambda f: (f.stem != "default", f.stem))
    return [(f.stem, str(f)) for f in files] or [("default", str(default_prompt_file()))]


def default_prompt_file() -> Path:
    return paths.prompts_dir() / "default.json"


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise BadInputError(f"{what} {path} is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise BadInputError(f"{what} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None


def _phrase(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{where}: a phrase must be a non-empty string, got {json.dumps(value)[:60]}")
    return " ".join(value.split())


def _aspect(value: Any, where: str) -> Aspect:
    if isinstance(value, str):
        phrase = _phrase(value, where)
        return Aspect(phrase, (phrase,))
    if isinstance(value, list):
        if not value:
            raise BadInputError(f"{where}: an any-of group must list at least one phrase")
        phrases = tuple(_phrase(v, where) for v in value)
        return Aspect(" / ".join(phrases), phrases)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"name", "any"})
        if unknown:
            raise BadInputError(f"{where}: unknown key {unknown[0]!r} (known: any, name)")
        group = value.get("any")
        if not isinstance(group, list) or not group:
            raise BadInputError(f"{where}: 'any' must be a non-empty list of phrases")
        phrases = tuple(_phrase(v, where) for v in group)
        name = value.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise BadInputError(f"{where}: 'name' must be a non-empty string")
        return Aspect(name.strip() if isinstance(name, str) else " / ".join(phrases), phrases)
    raise BadInputError(f"{where}: an aspect must be a phrase, a list of phrases or {{name, any}}")


_PROMPT_KEYS = {"prompt", "expect", "max_tokens", "system", "name"}


def _prompt_item(item: Any, where: str) -> PromptSpec:
    if isinstance(item, str):
        if not item.strip():
            raise BadInputError(f"{where}: the prompt is empty")
        return PromptSpec(item)
    if not isinstance(item, dict):
        raise BadInputError(f"{where}: expected a string or an object with 'prompt'")
    unknown = sorted(set(item) - _PROMPT_KEYS)
    if unknown:
        raise BadInputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_PROMPT_KEYS))})")
    prompt = item.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInputError(f"{where}: 'prompt' must be a non-empty string")
    max_tokens = item.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise BadInputError(f"{where}: 'max_tokens' must be a whole number greater than 0")
    system = item.get("system")
    if system is not None and not isinstance(system, str):
        raise BadInputError(f"{where}: 'system' must be a string")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise BadInputError(f"{where}: 'name' must be a string")
    expect = item.get("expect", [])
    if not isinstance(expect, list):
        raise BadInputError(f"{where}: 'expect' must be a list of aspects")
    aspects = tuple(_aspect(a, f"{where}: expect[{i}]") for i, a in enumerate(expect))
    return PromptSpec(prompt, aspects, max_tokens, system or None, name or None)


def parse_prompt_set(data: Any, source: str = "prompt set") -> list[PromptSpec]:
    if not isinstance(data, list):
        raise BadInputError(f"{source}: expected a JSON list of prompts")
    if not data:
        raise BadInputError(f"{source}: the list of prompts is empty")
    return [_prompt_item(item, f"{source}: item {i + 1}") for i, item in enumerate(data)]


def load_prompt_set(path: Path) -> list[PromptSpec]:
    """Read and validate a prompt file; every problem is a one-line BadInputError (exit 2)."""
    return parse_prompt_set(_read_json(path, "prompt file"), f"prompt file {path}")


_TAG_KEYS = {"capabilities", "size_mb", "license", "notes", "endpoint"}


def parse_models_file(data: Any, source: str = "models file") -> dict[str, ModelTags]:
    if not isinstance(data, dict):
        raise BadInputError(f"{source}: expected a JSON object {{alias: {{capabilities, size_mb}}}}")
    tags: dict[str, ModelTags] = {}
    for name, value in data.items():
        where = f"{source}: {name!r}"
        if not name.strip():
            raise BadInputError(f"{source}: a model name is empty")
        if not isinstance(value, dict):
            raise BadInputError(f"{where}: expected an object with capabilities / size_mb")
        unknown = sorted(set(value) - _TAG_KEYS)
        if unknown:
            raise BadInputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_TAG_KEYS))})")
        caps = value.get("capabilities", [])
        if not isinstance(caps, list) or not all(isinstance(c, str) and c.strip() for c in caps):
            raise BadInputError(f"{where}: 'capabilities' must be a list of non-empty strings")
        size = value.get("size_mb")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int | float) or size < 0):
            raise BadInputError(f"{where}: 'size_mb' must be a number ≥ 0")
        for key in ("license", "notes"):
            if value.get(key) is not None and not isinstance(value[key], str):
                raise BadInputError(f"{where}: {key!r} must be a string")
        tags[name.strip()] = ModelTags(
            tuple(c.strip() for c in caps),
            float(size) if size is not None else None,
            value.get("license"),
            value.get("notes"),
            endpoint=_endpoint(value.get("endpoint"), where),
        )
    return tags


def _endpoint(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{where}: 'endpoint' must be a URL such as http://127.0.0.1:5273/v1")
    try:
        return endpoint_url(value)
    except BadInputError as exc:
        raise BadInputError(f"{where}: {exc}") from None


def load_models_file(path: Path) -> dict[str, ModelTags]:
    return parse_models_file(_read_json(path, "models file"), f"models file {path}")


def tags_for(tags: Mapping[str, ModelTags], model_id: str, alias: str | None) -> ModelTags | None:
    """Tags by exact id first, then by alias, then by the id without its ':version'. An endpoint's model
    (`URL#MODEL`) also finds them under its bare name, unless they name another endpoint."""
    endpoint, bare_id = split_model_id(model_id)
    if endpoint is None:
        return _first(tags, (model_id, alias, model_id.split(":", 1)[0]))
    found = _first(tags, (model_id, alias))
    if found is not None:
        return found
    bare_alias = split_model_id(alias)[1] if alias else None
    for key in (bare_id, bare_alias, bare_id.split(":", 1)[0]):
        found = tags.get(key) if key else None
        if found is not None and found.endpoint in (None, endpoint):
            return found
    return None


def _first(tags: Mapping[str, ModelTags], keys: tuple[str | None, ...]) -> ModelTags | None:
    for key in keys:
        if key and key in tags:
            return tags[key]
    return None

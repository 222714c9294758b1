"""Where things live: XDG config/data dirs and the resources shipped with the package."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP_NAME = "foundry-tui"


def config_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def data_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_config_file(env: Mapping[str, str] | None = None) -> Path:
    return config_home(env) / APP_NAME / "config.toml"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    return data_home(env) / APP_NAME


def _resource_dir(name: str) -> Path:
    # In a wheel, styles/ and prompts/ are force-included inside the package; in a source checkout
    # (editable install or PYTHONPATH) they stay at the repository root.
    package_dir = Path(__file__).resolve().parent
    inside = package_dir / name
    return inside if inside.is_dir() else package_dir.parent / name


def styles_dir() -> Path:
    return _resource_dir("styles")


def prompts_dir() -> Path:
    return _resource_dir("prompts")

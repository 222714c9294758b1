"""Shared fixtures: the tiny deterministic model, the real in-process runtime, a real local SSE server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundry_tui.devtools.tiny_model import build_tiny_model

TINY_ID = "tiny-generic-cpu:1"
ENDLESS_ID = "tiny-endless-generic-cpu:1"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def endless_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "endless", context_length=32768, endless=True)


@pytest.fixture(scope="session")
def runtime(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, endless_model_dir: Path
) -> Iterator[object]:
    """One real Foundry Local runtime for the whole test session (the SDK allows one per process)."""
    from foundry_tui.backends.foundry import FoundryBackend
    from foundry_tui.config import Settings

    backend = FoundryBackend(Settings(data_dir=tmp_path_factory.mktemp("runtime-data")))
    backend.register_model(str(tiny_model_dir), TINY_ID)
    backend.register_model(str(endless_model_dir), ENDLESS_ID)
    yield backend
    backend.close()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for `foundry-tui` subprocesses: private data/config dirs, no endpoint from the outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDRY_TUI_", "FOUNDRY_LOCAL_ENDPOINT"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark by what a test uses, so the fast lane (`-m "not runtime and not slow"`) cannot silently grow slow:
    the real runtime → `runtime`; a `foundry-tui` subprocess or an SVG snapshot (the whole app rendered and
    compared, 1–3 s each) → `slow`."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "runtime" in names:
            item.add_marker(pytest.mark.runtime)
        if "cli_env" in names or "snap_compare" in names:
            item.add_marker(pytest.mark.slow)

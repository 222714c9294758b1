"""Fixtures for the TUI tests: one app factory over any backend (the in-memory one by default), a small catalog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from foundry_tui.backends.base import Backend
from foundry_tui.config import Settings
from foundry_tui.devtools.memory_backend import MemoryBackend, entry
from foundry_tui.tui.app import FoundryTuiApp
from tests.tui.fixed_sampler import FixedSampler

LOADED = "alpha-mini-generic-cpu:1"  # cached and loaded
CACHED = "beta-small-generic-cpu:2"  # cached
REMOTE = "gamma-large-cuda-gpu:1"  # in the catalog only
MakeApp = Callable[..., FoundryTuiApp]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def memory_catalog() -> MemoryBackend:
    """Three public models (loaded / cached / catalog only), the sizes and devices a user would see."""
    return MemoryBackend(
        catalog=[
            entry(LOADED, size_mb=300, context_length=4096),
            entry(CACHED, size_mb=1200, display_name="Beta Small"),
            entry(REMOTE, size_mb=5000, execution_provider="CUDAExecutionProvider"),
        ],
        cached={LOADED, CACHED},
        loaded={LOADED},
        label="memory backend (test)",
    )


@pytest.fixture
def memory() -> MemoryBackend:
    return memory_catalog()


@pytest.fixture
def make_app(tmp_path: Path, memory: MemoryBackend) -> MakeApp:
    """`make_app()` → the app on the in-memory backend; `make_app(backend)` on another (runtime, endpoint)."""

    def make(backend: Backend | None = None, *, settings: Settings | None = None) -> FoundryTuiApp:
        app = FoundryTuiApp(
            settings or Settings(data_dir=tmp_path / "app"),
            backend=backend if backend is not None else memory,
            sampler=FixedSampler(),
        )
        app.animation_level = "none"  # a tab switch would otherwise wait for the underline's slide (~0.3 s)
        return app

    return make

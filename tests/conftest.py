"""Shared fixtures: the tiny deterministic model, the real in-process runtime, a real local SSE server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_tui.devtools.fake_cloud import FakeCloud
from foundry_tui.devtools.tiny_model import build_tiny_model

TINY_ID = "tiny-generic-cpu:1"
ENDLESS_ID = "tiny-endless-generic-cpu:1"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def endless_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "endless", context_length=32768, endless=True)


_open_runtimes: list[Any] = []  # the SDK allows one runtime per process: a cloud runtime closes the offline one


@pytest.fixture(scope="session")
def runtime(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, endless_model_dir: Path, cloud: FakeCloud
) -> Iterator[object]:
    """One real Foundry Local runtime for the whole test session, offline (no catalog URL: the public catalog is
    unreachable here, as on an air-gapped machine)."""
    from foundry_tui.backends.foundry import FoundryBackend
    from foundry_tui.config import Settings

    # The runtime's TLS client reads SSL_CERT_FILE once per process, when the first runtime starts: trust the fake
    # cloud's CA from the start, for the cloud runtime that replaces this one at the end (`cloud_runtime`).
    os.environ["SSL_CERT_FILE"] = str(cloud.ca_file)

    backend = FoundryBackend(Settings(data_dir=tmp_path_factory.mktemp("runtime-data")))
    _open_runtimes.append(backend)
    backend.register_model(str(tiny_model_dir), TINY_ID)
    backend.register_model(str(endless_model_dir), ENDLESS_ID)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCloud]:
    """A fake Foundry cloud (catalog, TLS model registry, blob store) on 127.0.0.1 for the whole session."""
    with FakeCloud(tmp_path_factory.mktemp("cloud")) as fake:
        yield fake


@pytest.fixture(scope="session")
def cloud_runtime(tmp_path_factory: pytest.TempPathFactory, cloud: FakeCloud) -> Iterator[object]:
    """The real runtime pointed at the fake cloud. It replaces the offline `runtime` (one per process), so the
    tests that use it run after every other test (see pytest_collection_modifyitems)."""
    from foundry_tui.backends.foundry import FoundryBackend
    from foundry_tui.config import Settings

    for backend in _open_runtimes:
        backend.close()
    os.environ["SSL_CERT_FILE"] = str(cloud.ca_file)  # read by the runtime's TLS client when the first one starts
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("cloud-runtime-data"),
        catalog_url=cloud.catalog_url,
        catalog_region=cloud.region,
    )
    backend = FoundryBackend(settings)
    _open_runtimes.append(backend)
    yield backend
    backend.close()


@pytest.fixture
def cloud_env(cli_env: dict[str, str], cloud: FakeCloud) -> dict[str, str]:
    """`cli_env` pointed at the fake cloud: catalog URL, region and its CA."""
    return {**cli_env, **cloud.env()}


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
        if "runtime" in names or "cloud_runtime" in names:
            item.add_marker(pytest.mark.runtime)
        if "cli_env" in names or "snap_compare" in names or "cloud_runtime" in names:
            item.add_marker(pytest.mark.slow)
    # The cloud runtime closes the offline one for good: every test that needs it runs last.
    items.sort(key=lambda item: "cloud_runtime" in getattr(item, "fixturenames", ()))

"""The catalog path's pieces without the runtime: settings, the reachability probe, the stored catalog, the cache
read from disk, variant grouping and its reason, and download errors a user can act on."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from foundry_tui.backends.base import ExecutionProvider, ModelEntry
from foundry_tui.backends.cache_scan import remove_empty_dirs, scan_cache
from foundry_tui.backends.catalog_reach import DEFAULT_CATALOG_URL, probe_catalog
from foundry_tui.backends.foundry_errors import download_error
from foundry_tui.config import load_settings
from foundry_tui.devtools.tiny_model import build_tiny_model
from foundry_tui.engine import units
from foundry_tui.engine.cache_report import cache_report
from foundry_tui.engine.catalog_store import load_catalog, save_catalog
from foundry_tui.engine.variants import group_by_alias, pick_reason, upgrade_available
from foundry_tui.errors import BadInputError

# -- settings -----------------------------------------------------------------------------------------------------


def test_catalog_settings_from_env_and_flags(tmp_path: Path) -> None:
    env = {
        "FOUNDRY_TUI_CATALOG_URL": "https://mirror.example/asset-gallery/v1.0/models",
        "FOUNDRY_TUI_CATALOG_REGION": "eastus",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    settings = load_settings(environ=env)
    assert settings.catalog_url == "https://mirror.example/asset-gallery/v1.0/models"
    assert settings.catalog_region == "eastus"
    assert settings.sources["catalog_url"] == "env FOUNDRY_TUI_CATALOG_URL"
    flagged = load_settings({"catalog_region": "westus2"}, environ=env)
    assert flagged.catalog_region == "westus2"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/asset-gallery/v1.0/models"),
        ("https://m.example/", "https://m.example/asset-gallery/v1.0/models"),
        ("https://m.example/x/asset-gallery/v1.0/models/", "https://m.example/x/asset-gallery/v1.0/models"),
    ],
)
def test_catalog_url_is_completed(tmp_path: Path, given: str, expected: str) -> None:
    env = {"FOUNDRY_TUI_CATALOG_URL": given, "XDG_CONFIG_HOME": str(tmp_path)}
    assert load_settings(environ=env).catalog_url == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("ftp://x", "must start with http:// or https://"),
        ("https://x/ux/v1.0/models", "legacy /ux/v1.0"),
        ("https://x/models", "must end in /asset-gallery/v1.0/models"),
    ],
)
def test_bad_catalog_url_says_why(tmp_path: Path, given: str, message: str) -> None:
    env = {"FOUNDRY_TUI_CATALOG_URL": given, "XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(BadInputError, match=message) as caught:
        load_settings(environ=env)
    assert "FOUNDRY_TUI_CATALOG_URL" in str(caught.value)


def test_region_must_be_one_word(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="catalog_region"):
        load_settings({"catalog_region": "east us"}, environ={"XDG_CONFIG_HOME": str(tmp_path)})


# -- reachability ---------------------------------------------------------------------------------------------------


def test_probe_answers_fast_for_an_unresolvable_host() -> None:
    started = time.perf_counter()
    reason = probe_catalog("https://no-such-host.invalid/asset-gallery/v1.0/models", environ={})
    assert time.perf_counter() - started < 1.0
    assert reason is not None and "no-such-host.invalid does not resolve" in reason and "HTTPS_PROXY" in reason


def test_probe_refused_port_and_open_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        # Not listening yet: refused.
        refused = probe_catalog(f"http://127.0.0.1:{port}/asset-gallery/v1.0/models", environ={})
        assert refused is not None and f"cannot reach 127.0.0.1:{port}: " in refused
        listener.listen()
        assert probe_catalog(f"http://127.0.0.1:{port}/asset-gallery/v1.0/models", environ={}) is None


def test_probe_checks_the_proxy_when_one_applies() -> None:
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        port = proxy.getsockname()[1]
        env = {"HTTPS_PROXY": f"http://127.0.0.1:{port}"}
        # The catalog host does not resolve here, but the proxy is what libcurl would talk to.
        assert probe_catalog(DEFAULT_CATALOG_URL, environ=env) is None
        assert probe_catalog(DEFAULT_CATALOG_URL, environ={**env, "NO_PROXY": "azureml.ms"}) is not None


# -- the stored catalog ---------------------------------------------------------------------------------------------


def entry(model_id: str, **fields: object) -> ModelEntry:
    alias = model_id.split("-generic")[0].split("-cuda")[0].split("-npu")[0]
    values: dict[str, object] = {"id": model_id, "alias": alias, "source": "public"}
    values.update(fields)
    return ModelEntry(**values)  # type: ignore[arg-type]


def test_stored_catalog_round_trip_keeps_catalog_facts_not_live_state(tmp_path: Path) -> None:
    path = tmp_path / "catalog" / "public.json"
    models = [
        entry("phi-generic-cpu:2", device="CPU", license="MIT", cached=True, loaded=True, path="/x", selected=True),
        entry("mine-generic-cpu:1", source="local"),
    ]
    save_catalog(path, "https://c.example/asset-gallery/v1.0/models", models)
    stored = load_catalog(path, "https://c.example/asset-gallery/v1.0/models")
    assert stored is not None and time.time() - stored.fetched_at < 60
    assert [m.id for m in stored.models] == ["phi-generic-cpu:2"]  # a local model is not the catalog's
    kept = stored.models[0]
    assert (kept.license, kept.selected, kept.cached, kept.loaded, kept.path) == ("MIT", True, False, False, None)
    assert load_catalog(path, "https://other.example/asset-gallery/v1.0/models") is None


@pytest.mark.parametrize("text", ["", "{", "[]", '{"schema": 1, "url": "u", "fetched_at": "x", "models": []}'])
def test_a_broken_stored_catalog_is_ignored(tmp_path: Path, text: str) -> None:
    path = tmp_path / "public.json"
    path.write_text(text, encoding="utf-8")
    assert load_catalog(path, "u") is None


# -- the cache on disk ----------------------------------------------------------------------------------------------


def _cached_model(cache: Path, tiny: Path, publisher: str, model_id: str, *, partial: bool = False) -> Path:
    name, version = model_id.split(":")
    directory = cache / publisher / f"{name}-{version}"
    directory.mkdir(parents=True)
    for item in tiny.iterdir():
        (directory / item.name).write_bytes(item.read_bytes())
    (directory / "inference_model.json").write_text(json.dumps({"Name": model_id, "PromptTemplate": None}))
    if partial:
        (directory / "download.tmp").write_text("")
    return directory


def test_scan_and_report_count_bytes_on_disk(tmp_path: Path) -> None:
    tiny = build_tiny_model(tmp_path / "tiny")
    cache = tmp_path / "cache"
    done = _cached_model(cache, tiny, "Microsoft", "qwen-generic-cpu:3")
    _cached_model(cache, tiny, "Microsoft", "phi-generic-cpu:1", partial=True)
    (cache / "foundry.modelinfo.json").write_text("{}")
    found = scan_cache(cache)
    assert [(e.id, e.version, e.device, e.cached) for e in found] == [("qwen-generic-cpu:3", 3, "CPU", True)]
    report = cache_report(cache, found)
    size = sum(f.stat().st_size for f in done.rglob("*") if f.is_file())
    assert report.models[0].bytes_on_disk == size and report.models[0].in_cache
    assert [p.model_id for p in report.partial] == ["phi-generic-cpu:1"]
    assert report.cache_bytes == size + report.partial[0].bytes_on_disk


def test_remove_empty_dirs_stops_at_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    model = cache / "Microsoft" / "m-1"
    model.mkdir(parents=True)
    other = cache / "Other" / "o-1"
    other.mkdir(parents=True)
    (other / "f").write_text("x")
    remove_empty_dirs(model, cache)
    assert not (cache / "Microsoft").exists() and cache.is_dir()
    remove_empty_dirs(other, cache)
    assert other.is_dir()  # not empty: kept


# -- variants -------------------------------------------------------------------------------------------------------


def test_group_puts_the_pick_first_and_explains_a_cpu_fallback() -> None:
    rows = [
        entry("phi-cuda-gpu:2", device="GPU", execution_provider="CUDAExecutionProvider"),
        entry("phi-generic-cpu:2", device="CPU", execution_provider="CPUExecutionProvider", selected=True),
        entry("phi-npu:2", device="NPU", execution_provider="QNNExecutionProvider"),
        entry("qwen-generic-cpu:1", device="CPU", execution_provider="CPUExecutionProvider", selected=True),
    ]
    groups = group_by_alias(rows)
    assert [g.alias for g in groups] == ["phi", "qwen"]
    phi = groups[0]
    assert [v.id for v in phi.variants] == ["phi-generic-cpu:2", "phi-npu:2", "phi-cuda-gpu:2"]
    assert phi.cpu_fallback and not groups[1].cpu_fallback
    eps = [ExecutionProvider("CUDAExecutionProvider", registered=False)]
    reason = pick_reason(phi, eps)
    assert reason.startswith("runs phi-generic-cpu:2 (CPU · CPUExecutionProvider): this machine offers only CPU")
    assert "the GPU variant needs CUDAExecutionProvider (discoverable" in reason
    assert "the NPU variant needs QNNExecutionProvider" in reason


def test_upgrade_available_only_for_a_cached_older_version() -> None:
    assert upgrade_available(entry("a-generic-cpu:1", version=1, latest_version=3, cached=True))
    assert not upgrade_available(entry("a-generic-cpu:3", version=3, latest_version=3, cached=True))
    assert not upgrade_available(entry("a-generic-cpu:1", version=1, latest_version=3, cached=False))


def test_ages() -> None:
    assert [units.age(s) for s in (5, 600, 3 * 3600, 5 * 86400)] == ["5 s", "10 min", "3 h", "5 days"]


# -- download errors ------------------------------------------------------------------------------------------------


class _Sdk(Exception):
    error_code = 2


def test_403_with_a_body_names_status_url_and_what_to_do() -> None:
    exc = _Sdk("downloader.cc:12 void f() failed to download blob 'genai_config.json': 403 Forbidden / denied")
    logged = "[2026-12-01 10:00:00] GET https://acct.blob.core.windows.net/c/genai_config.json?sv=secret 403"
    message = str(download_error(exc, "phi-generic-cpu:2", logged))
    assert "download phi-generic-cpu:2 failed: HTTP 403 Forbidden" in message
    assert "https://acct.blob.core.windows.net/c/genai_config.json" in message and "secret" not in message
    assert "proxy" in message and "FOUNDRY_TUI_CATALOG_REGION" in message
    assert "\n" not in message


def test_certificate_errors_point_at_ssl_cert_file() -> None:
    exc = _Sdk("SSL peer certificate or SSH remote key was not OK: unable to get local issuer certificate")
    assert "SSL_CERT_FILE" in str(download_error(exc, "m:1"))

"""`doctor`: is everything needed here, and what state is it in? Exit 1 when a required check fails."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from foundry_tui import __version__
from foundry_tui.backends.catalog_reach import DEFAULT_CATALOG_URL
from foundry_tui.commands.output import print_json
from foundry_tui.config import Settings
from foundry_tui.engine import units
from foundry_tui.engine.monitor.gpu import probe_nvml
from foundry_tui.engine.variants import CPU_EP
from foundry_tui.errors import FoundryTuiError
from foundry_tui.native_logs import redirect_native_stderr
from foundry_tui.text import safe_line

REQUIRED_PACKAGES = ("foundry-local-sdk", "textual", "openai", "numpy", "psutil", "nvidia-ml-py")
RUNTIME_PACKAGES = ("onnxruntime", "onnxruntime-genai-core")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


def _package_checks() -> list[Check]:
    checks = [Check("foundry-tui", "ok", __version__), Check("python", "ok", sys.version.split()[0])]
    for name in REQUIRED_PACKAGES + RUNTIME_PACKAGES:
        try:
            checks.append(Check(name, "ok", importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(name, "fail", f"not installed (pip install {name})"))
    return checks


def _dir_size(path: Path) -> tuple[int, int]:
    total = files = 0
    for item in path.rglob("*"):
        try:
            if item.is_file():
                total += item.stat().st_size
                files += 1
        except OSError:
            continue
    return total, files


def _cache_check(settings: Settings) -> Check:
    cache = settings.model_cache_dir
    if not cache.exists():
        return Check("model cache", "ok", f"{cache} (not created yet)")
    size, files = _dir_size(cache)
    free = shutil.disk_usage(cache).free
    return Check(
        "model cache",
        "ok",
        f"{cache}: {units.size(size / units.MB)} in {units.count(files, 'file')}; "
        f"{units.size(free / units.MB)} free on disk",
    )


def _runtime_checks(settings: Settings) -> list[Check]:
    try:
        from foundry_local_sdk._native.lib_loader import find_library

        library = find_library()
    except Exception as exc:  # a broken install fails here, with its own message
        return [Check("runtime library", "fail", safe_line(f"{type(exc).__name__}: {exc}"))]
    checks = [Check("runtime library", "ok", str(library) if library else "resolved from the system library path")]
    redirect_native_stderr(settings.logs_dir / "native.log")
    from foundry_tui.backends.foundry import FoundryBackend

    started = time.perf_counter()
    try:
        backend = FoundryBackend(settings)
    except FoundryTuiError as exc:
        return [*checks, Check("runtime start", "fail", str(exc))]
    try:
        checks.append(Check("runtime start", "ok", f"{time.perf_counter() - started:.2f} s"))
        local = backend.list_local()
        checks.append(
            Check(
                "local models",
                "ok",
                f"{len(local)} registered" + (f": {', '.join(e.id for e in local)}" if local else ""),
            )
        )
        checks.append(_catalog_settings_check(settings))
        listing = backend.start_catalog_fetch().result()
        if listing.state == "ok":
            checks.append(Check("public catalog", "ok", f"{len(listing.models)} model variants from {listing.url}"))
        else:
            checks.append(Check("public catalog", "warn", f"unreachable: {listing.reason}; local models still work"))
        eps = backend.execution_providers()
        names = ", ".join(f"{ep.name} ({'registered' if ep.registered else 'discoverable'})" for ep in eps)
        checks.append(Check("execution providers", "ok", f"{CPU_EP} (built in)" + (f"; {names}" if names else "")))
    finally:
        backend.close()
    checks.append(Check("native logs", "ok", str(settings.logs_dir)))
    return checks


def _catalog_settings_check(settings: Settings) -> Check:
    """Where the catalog and the downloads come from, and which layer said so (env, config file, flag)."""

    def said(name: str) -> str:
        source = settings.sources.get(name)
        return f" ({source})" if source else ""

    url = f"{settings.catalog_url}{said('catalog_url')}" if settings.catalog_url else f"{DEFAULT_CATALOG_URL} (default)"
    region = settings.catalog_region
    parts = [f"url {url}", f"region {region}{said('catalog_region')}" if region else "region: from the catalog"]
    cert_file = os.environ.get("SSL_CERT_FILE")
    if cert_file:
        exists = Path(cert_file).is_file()
        parts.append(f"SSL_CERT_FILE {cert_file}" + ("" if exists else " (missing!)"))
        if not exists:
            return Check("catalog settings", "warn", "; ".join(parts))
    return Check("catalog settings", "ok", "; ".join(parts))


def _endpoint_checks(settings: Settings) -> list[Check]:
    from foundry_tui.backends.openai_compat import EndpointBackend

    backend = EndpointBackend(settings)
    try:
        listing = backend.list_catalog()
        if listing.state != "ok":
            return [Check("endpoint", "fail", listing.reason or f"cannot reach {backend.root}")]
        info = backend.info()
        routes = info.details.get("routes", "none")
        return [
            Check("endpoint", "ok", f"{backend.root}: {units.count(len(listing.models), 'model')}"),
            Check(
                "management routes",
                "ok" if info.management else "warn",
                routes if info.management else "none: load/unload/download are not available",
            ),
        ]
    finally:
        backend.close()


def _gpu_check() -> Check:
    status = probe_nvml()
    if not status.available:
        return Check("NVIDIA GPU", "warn", status.reason or "not available")
    devices = "; ".join(f"{d.index}: {d.name} {d.memory_total_mb} MB" for d in status.devices)
    if status.reason:  # a GPU that could not be read, next to those that could
        return Check("NVIDIA GPU", "warn", f"driver {status.driver_version}; {devices}; {status.reason}")
    return Check("NVIDIA GPU", "ok", f"driver {status.driver_version}; {devices}")


def run_doctor(settings: Settings, *, as_json: bool) -> int:
    checks = _package_checks()
    checks.append(Check("config file", "ok", str(settings.config_file) if settings.config_file else "none (defaults)"))
    checks.append(_cache_check(settings))
    if settings.endpoint:
        checks += _endpoint_checks(settings)
    else:
        checks += _runtime_checks(settings)
    checks.append(_gpu_check())
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        print_json({"ok": not failed, "settings": settings.public_dict(), "checks": [asdict(c) for c in checks]})
    else:
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        width = max(len(c.name) for c in checks)
        for check in checks:
            print(f"[{marks[check.status]}] {check.name.ljust(width)}  {safe_line(check.detail, 300)}")
        print(f"{len(failed)} problem(s) found" if failed else "all required checks passed")
    return 1 if failed else 0

"""Can the catalog host be reached at all? Asked before the runtime fetches the catalog.

Offline, the runtime spends ~4 s in four back-off attempts before it gives up on the catalog, and it does so
inside the first public call of a process, whichever it is (listing, cached, loaded). A name lookup and a TCP
connect answer the same question in milliseconds, so an offline start can say "unreachable" at once and never
make the public calls that would wait. When a proxy applies (libcurl honours HTTPS_PROXY / HTTP_PROXY / ALL_PROXY
and NO_PROXY), the proxy is what has to be reachable, not the catalog host.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

DEFAULT_CATALOG_URL = "https://api.catalog.azureml.ms/asset-gallery/v1.0/models"
PROBE_TIMEOUT_S = 0.8


def _proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    for suffix in (s.strip().lower().lstrip(".") for s in no_proxy.split(",")):
        if suffix == "*" or (suffix and (host == suffix or host.endswith("." + suffix))):
            return None
    names = ("https_proxy", "HTTPS_PROXY") if parts.scheme == "https" else ("http_proxy", "HTTP_PROXY")
    for name in (*names, "all_proxy", "ALL_PROXY"):
        if environ.get(name):
            proxy = environ[name]
            return proxy if "://" in proxy else f"http://{proxy}"
    return None


def _resolve(host: str, port: int, timeout: float) -> list[tuple[object, ...]]:
    """getaddrinfo with a deadline: a broken resolver can block for many seconds."""
    box: dict[str, object] = {}

    def lookup() -> None:
        try:
            box["result"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=lookup, name="catalog-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"looking up {host} took over {timeout:.1f} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def probe_catalog(
    url: str | None, *, timeout_s: float = PROBE_TIMEOUT_S, environ: Mapping[str, str] | None = None
) -> str | None:
    """None when a TCP connection to the catalog (or its proxy) opens within `timeout_s`; else why not, one line."""
    env = os.environ if environ is None else environ
    target = url or DEFAULT_CATALOG_URL
    proxy = _proxy_for(target, env)
    parts = urlsplit(proxy or target)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"{proxy or target} has a bad port"
    # Short enough for a three-line banner at 80 columns: the host, not the whole URL (doctor shows that).
    what = f"{urlsplit(target).hostname} through the proxy {host}:{port}" if proxy else f"{host}:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        addresses = _resolve(host, port, timeout_s)
    except (OSError, TimeoutError) as exc:
        hint = "" if proxy else " — offline, or is a proxy needed (HTTPS_PROXY)?"
        return f"cannot reach {what}: {host} does not resolve ({_reason(exc)}){hint}"
    last: OSError | None = None
    for family, kind, proto, _, address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            with socket.socket(family, kind, proto) as sock:  # type: ignore[arg-type]
                sock.settimeout(left)
                sock.connect(address)  # type: ignore[arg-type]
            return None
        except OSError as exc:
            last = exc
    why = _reason(last) if last else f"no answer within {timeout_s:.1f} s"
    return f"cannot reach {what}: {why}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if isinstance(exc, TimeoutError):
        return str(exc) or "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


__all__ = ["DEFAULT_CATALOG_URL", "probe_catalog"]

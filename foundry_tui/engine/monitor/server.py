"""Which process holds the model, and how we find it: this process, a pid, or the endpoint's server on this machine.

Kept apart from the sampler because finding a server is a lookup (sockets, addresses) done now and then, not a
per-sample read. An endpoint on another machine is "remote — not measurable": there is no DNS lookup and no
connection here, only an address check.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import psutil

ServerKind = Literal["in-process", "pid", "local", "remote"]

REMOTE = "remote — not measurable"  # an endpoint on another machine: its memory cannot be read


@dataclass(frozen=True)
class ServerTarget:
    """Which process holds the model, and how we know."""

    kind: ServerKind
    pid: int | None = None
    label: str = ""
    endpoint: str | None = None

    @property
    def measurable(self) -> bool:
        return self.pid is not None


def in_process_server() -> ServerTarget:
    return ServerTarget("in-process", os.getpid(), "this process (in-process runtime)")


def pid_server(pid: int) -> ServerTarget:
    try:
        name = psutil.Process(pid).name()
    except psutil.Error:
        return ServerTarget("pid", None, f"pid {pid} — not running")
    return ServerTarget("pid", pid, f"pid {pid} ({name})")


def _local_addresses() -> set[str]:
    out = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", socket.gethostname().lower()}
    with contextlib.suppress(Exception):
        for addresses in psutil.net_if_addrs().values():
            out.update(a.address.split("%")[0].lower() for a in addresses)
    return out


def is_local_host(host: str) -> bool:
    """True when `host` names this machine (loopback, one of its addresses, its hostname). No DNS lookups."""
    host = host.strip("[]").lower()
    if not host:
        return False
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return True
    return host in _local_addresses()


def is_local_endpoint(url: str) -> bool:
    return is_local_host(urlsplit(url).hostname or "")


def _endpoint_port(url: str) -> int:
    parts = urlsplit(url)
    if parts.port is not None:
        return parts.port
    return 443 if parts.scheme == "https" else 80


def listening_pid(port: int) -> tuple[int | None, str | None]:
    """The pid listening on TCP `port` here (None, why) when it cannot be seen."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None, "listening sockets not readable (no permission)"
    except Exception as exc:
        return None, f"listening sockets not readable ({type(exc).__name__})"
    listening = [c for c in connections if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]
    for connection in listening:
        if connection.pid is not None:
            return connection.pid, None
    if listening:
        return None, f"port {port} is open but its process is not visible (another user's?)"
    return None, f"nothing listens on port {port}"


def server_for_endpoint(url: str) -> ServerTarget:
    """The endpoint's server process when it runs on this machine (scans sockets: ~10 ms; not on the UI thread)."""
    host = urlsplit(url).hostname or ""
    if not is_local_host(host):
        return ServerTarget("remote", None, REMOTE, url)
    port = _endpoint_port(url)
    pid, why = listening_pid(port)
    if pid is None:
        return ServerTarget("local", None, f"local server on :{port} — {why}", url)
    try:
        name = psutil.Process(pid).name()
    except psutil.Error:
        name = "?"
    return ServerTarget("local", pid, f"pid {pid} ({name}) on :{port}", url)

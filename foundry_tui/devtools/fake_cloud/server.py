"""The three fake services (catalog, model registry over TLS, blob store), their fault knobs and request log."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from foundry_tui.devtools.fake_cloud.blobs import (
    ERROR_CODES,
    LAST_MODIFIED,
    Blob,
    container_name,
    error_xml,
    list_xml,
    model_blobs,
    parse_range,
)
from foundry_tui.devtools.fake_cloud.catalog_data import (
    CloudModel,
    FilterError,
    catalog_entry,
    default_catalog,
    latest_versions,
    matches,
)
from foundry_tui.devtools.fake_cloud.tls import make_tls_files

CATALOG_PATH = "/asset-gallery/v1.0/models"
REGISTRY_PATH = "modelregistry/v1.0/registry/models/nonazureaccount"
_X_MS_VERSION = "2023-11-03"


@dataclasses.dataclass
class CloudKnobs:
    """Faults and pacing; change them at any time from the test thread (each request reads them afresh)."""

    blob_delay_s: float = 0.0  # sleep before answering each ranged blob GET
    fail_after_chunks: int | None = None  # after this many ranged GETs were answered, the rest answer fail_status
    # 500/503 are retried by the runtime with back-off (~2.5 s, ~5 s, …; it gave up after ~210 s); 403/404 fail the
    # download at once.
    fail_status: int = 500
    blob_status: int | None = None  # blob requests in blob_status_methods (not the container listing) answer this
    # With HEAD included (as Azure does) the runtime fails on the HEAD, whose error has no body: its message is then
    # "failed to download blob 'x': 403 Forbidden |  | Request ID: …" either way. ("GET",) lets the HEAD pass, so
    # the body matters: with it the Azure message is shown, without it the runtime says "Failed to parse xml".
    blob_status_methods: tuple[str, ...] = ("GET", "HEAD")
    blob_error_body: bool = True  # error answers carry the Azure <Error> XML body (False: an empty body)
    catalog_dead: bool = False  # catalog POSTs get the connection dropped without an answer:
    # "reset": a TCP reset; the runtime tries 4 times in ~4 s. "close": a clean close (FIN); the runtime's first
    # attempt then hangs until its 30 s request deadline and the rest are cancelled (~30 s per catalog fetch).
    catalog_dead_mode: str = "reset"
    catalog_status: int | None = None  # the catalog answers this status with a JSON error body
    registry_status: int | None = None  # the registry answers this status with a JSON error body
    page_size: int | None = None  # cap on catalog page size (None: the request's pageSize)
    catalog_repeat_token: bool = False  # every page carries the first page's token: the runtime rejects the fetch
    served_by_region: str = "eastus"  # for the azureml-served-by-cluster header


@dataclasses.dataclass(frozen=True)
class RequestLog:
    service: str  # "catalog" | "registry" | "blob"
    method: str
    path: str  # as received, query included
    headers: dict[str, str]  # lower-cased names
    body: bytes | None
    t: float = 0.0  # time.monotonic() at arrival


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, cloud: FakeCloud, service: str, tls: ssl.SSLContext | None = None) -> None:
        self.cloud = cloud
        self.service = service
        self.tls = tls
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that cancels a download drops its connections mid-answer: expected, not worth a traceback.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.tls is not None:
            # Handshake in the handler thread (first read), so one stuck client cannot block accept().
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30

    def do_GET(self) -> None:
        self.server.cloud._handle(self, "GET")

    def do_HEAD(self) -> None:
        self.server.cloud._handle(self, "HEAD")

    def do_POST(self) -> None:
        self.server.cloud._handle(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        self.reply(status, json.dumps(obj).encode(), "application/json; charset=utf-8", headers)


def _json_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": {404: "NotFound", 400: "BadRequest"}.get(status, "ServiceError"), "message": message}}


class FakeCloud:
    """Catalog (http), model registry (https, throwaway CA) and blob store (http) on 127.0.0.1, in threads."""

    def __init__(
        self,
        workdir: Path,
        models: list[CloudModel] | None = None,
        *,
        catalog_port: int = 0,
        registry_port: int = 0,
        blob_port: int = 0,
        use_openssl: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.models: list[CloudModel] = list(default_catalog(self.workdir) if models is None else models)
        self.knobs = CloudKnobs()
        self._ports = (catalog_port, registry_port, blob_port)
        self._use_openssl = use_openssl  # mint the CA with the openssl command even when trustme is installed
        self._lock = threading.Lock()
        self._requests: list[RequestLog] = []
        self._chunks_served = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._stopping = threading.Event()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._by_asset = {m.asset_id.lower(): m for m in self.models}
        self._by_container = {container_name(m): m for m in self.models}
        self._blob_cache: dict[str, dict[str, Blob]] = {}
        self._latest = latest_versions(self.models)
        self.ca_file = self.workdir / "tls" / "fake-cloud-ca.pem"

    # --- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> FakeCloud:
        tls_files = make_tls_files(self.workdir / "tls", use_openssl=self._use_openssl)
        self.ca_file = tls_files.ca_file
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls_files.cert_file), str(tls_files.key_file))
        self._stopping.clear()
        self._servers = [
            _Server(self._ports[0], self, "catalog"),
            _Server(self._ports[1], self, "registry", context),
            _Server(self._ports[2], self, "blob"),
        ]
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, name=f"fake-cloud-{server.service}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> FakeCloud:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------------------------------

    def _port(self, index: int) -> int:
        if not self._servers:
            raise RuntimeError("the fake cloud is not started")
        return int(self._servers[index].server_address[1])

    @property
    def catalog_url(self) -> str:
        return f"http://127.0.0.1:{self._port(0)}{CATALOG_PATH}"

    @property
    def region(self) -> str:
        """For ``Configuration.catalog_region``: the runtime splices it into ``https://{region}.api.azureml.ms/...``,
        so this aims the registry request at the local TLS server (the rest of the host lands in the query)."""
        return f"127.0.0.1:{self._port(1)}/r?region="

    @property
    def registry_url(self) -> str:
        return f"https://127.0.0.1:{self._port(1)}"

    @property
    def blob_url(self) -> str:
        return f"http://127.0.0.1:{self._port(2)}"

    def env(self) -> dict[str, str]:
        return {
            "FOUNDRY_TUI_CATALOG_URL": self.catalog_url,
            "FOUNDRY_TUI_CATALOG_REGION": self.region,
            "SSL_CERT_FILE": str(self.ca_file),
        }

    def container_url(self, model: CloudModel) -> str:
        return f"{self.blob_url}/{container_name(model)}"

    # --- observation ----------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestLog]:
        """A snapshot of every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def chunks_served(self) -> int:
        with self._lock:
            return self._chunks_served

    @property
    def peak_chunks_in_flight(self) -> int:
        """Most ranged GETs being answered at once (the runtime fetches chunks in parallel)."""
        with self._lock:
            return self._peak_in_flight

    def reset_counters(self) -> None:
        with self._lock:
            self._requests.clear()
            self._chunks_served = 0
            self._peak_in_flight = self._in_flight

    def blobs(self, model: CloudModel) -> dict[str, Blob]:
        """The blobs served for ``model`` (computed once; empty for a placeholder)."""
        key = container_name(model)
        with self._lock:
            cached = self._blob_cache.get(key)
        if cached is None:
            cached = model_blobs(model)
            with self._lock:
                self._blob_cache[key] = cached
        return cached

    # --- dispatch -------------------------------------------------------------------------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        service = handler.server.service
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self._requests.append(RequestLog(service, method, handler.path, headers, body, time.monotonic()))
        if service == "catalog":
            self._catalog(handler, method, body)
        elif service == "registry":
            self._registry(handler, method)
        else:
            self._blob(handler, method, headers)

    # --- catalog --------------------------------------------------------------------------------------------------

    def _catalog(self, h: _Handler, method: str, body: bytes | None) -> None:
        knobs = self.knobs
        if knobs.catalog_dead:
            h.close_connection = True
            with contextlib.suppress(OSError):
                if knobs.catalog_dead_mode == "close":
                    h.connection.shutdown(socket.SHUT_RDWR)
                else:  # a reset (RST), as a dead service or a refusing proxy gives
                    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    h.connection.close()
            return
        cluster = {"azureml-served-by-cluster": f"vienna-{knobs.served_by_region}-01"}
        if knobs.catalog_status is not None:
            h.reply_json(knobs.catalog_status, _json_error(knobs.catalog_status, "injected failure"), cluster)
            return
        if method != "POST" or urllib.parse.urlsplit(h.path).path != CATALOG_PATH:
            h.reply_json(404, _json_error(404, f"no route {method} {h.path}"), cluster)
            return
        try:
            request = json.loads(body or b"{}")
            page, token = self.catalog_page(request)
        except (ValueError, TypeError, AttributeError) as exc:
            h.reply_json(400, _json_error(400, str(exc)), cluster)
            return
        h.reply_json(200, {"value": page, "continuationToken": token}, cluster)

    def catalog_page(self, request: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """Answer one catalog query: (entries of this page, continuation token or "")."""
        filters = request.get("filters") or []
        if not isinstance(filters, list):
            raise FilterError("filters must be a list")
        page_size = int(request.get("pageSize") or 50)
        if self.knobs.page_size is not None:
            page_size = min(page_size, self.knobs.page_size)
        if page_size < 1:
            raise FilterError("pageSize must be positive")
        query_key = hashlib.sha1(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:10]
        offset = _decode_token(request.get("continuationToken"), query_key)
        hits = [m for m in self.models if matches(m, filters, latest=self._latest[m.name] == m.version)]
        page = hits[offset : offset + page_size]
        more = offset + page_size < len(hits)
        if self.knobs.catalog_repeat_token:
            more, offset = True, 0  # "catalog response repeated continuation token" in the runtime
        token = _encode_token(offset + page_size, query_key) if more else ""
        return [catalog_entry(m, latest=self._latest[m.name] == m.version) for m in page], token

    # --- registry -------------------------------------------------------------------------------------------------

    def _registry(self, h: _Handler, method: str) -> None:
        knobs = self.knobs
        if knobs.registry_status is not None:
            h.reply_json(knobs.registry_status, _json_error(knobs.registry_status, "injected failure"))
            return
        # The whole region trick lands in the query: /r?region=.api.azureml.ms/modelregistry/...?assetId=<enc>
        path = h.path
        if method != "GET" or REGISTRY_PATH not in path or "assetId=" not in path:
            h.reply_json(404, _json_error(404, f"no route {method} {path}"))
            return
        asset = urllib.parse.unquote(path.split("assetId=", 1)[1].split("&", 1)[0])
        model = self._by_asset.get(asset.lower())
        if model is None:
            h.reply_json(404, _json_error(404, f"Model asset {asset} was not found."))
            return
        h.reply_json(200, {"blobSasUri": self.container_url(model)})

    # --- blob store -----------------------------------------------------------------------------------------------

    def _blob(self, h: _Handler, method: str, headers: dict[str, str]) -> None:
        request_id = str(uuid.uuid4())
        base = {"x-ms-request-id": request_id, "x-ms-version": _X_MS_VERSION, "Date": formatdate(usegmt=True)}
        split = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        container, _, blob_name = urllib.parse.unquote(split.path).lstrip("/").partition("/")
        model = self._by_container.get(container)

        def fail(status: int, with_body: bool = True, extra: dict[str, str] | None = None) -> None:
            code, message = ERROR_CODES.get(status, ("Error", "Injected failure."))
            headers = {**base, "x-ms-error-code": code, **(extra or {})}
            if method == "HEAD":  # as Azure: no body, so no content type the client would try to parse
                h.reply(status, b"", "", headers)
                return
            # Without a body the content type stays: the runtime then fails on "Failed to parse xml" (code 2), the
            # unhelpful message a body-less 403 from a proxy gives.
            body = error_xml(code, message, request_id) if with_body else b""
            h.reply(status, body, "application/xml", headers)

        if model is None or not model.downloadable:
            code_404 = ("ContainerNotFound", "The specified container does not exist.")
            h.reply(404, error_xml(*code_404, request_id), "application/xml", {**base, "x-ms-error-code": code_404[0]})
            return
        blobs = self.blobs(model)
        if not blob_name:
            if method == "GET" and query.get("restype") == "container" and query.get("comp") == "list":
                self._list(h, container, blobs, query, base)
            else:
                fail(400)
            return
        knobs = self.knobs
        if knobs.blob_status is not None and method in knobs.blob_status_methods:
            fail(knobs.blob_status, knobs.blob_error_body)
            return
        blob = blobs.get(blob_name)
        if blob is None:
            fail(404)
            return
        props = {
            **base,
            "ETag": blob.etag,
            "Last-Modified": LAST_MODIFIED,
            "Accept-Ranges": "bytes",
            "x-ms-blob-type": "BlockBlob",
            "x-ms-creation-time": LAST_MODIFIED,
            "x-ms-lease-state": "available",
            "x-ms-lease-status": "unlocked",
            "x-ms-server-encrypted": "true",
        }
        range_header = headers.get("x-ms-range") or headers.get("range")
        if method == "HEAD" or (method == "GET" and not range_header):
            data = b"" if method == "HEAD" else blob.read(0, blob.size)
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(blob.size))
            h.send_header("Content-MD5", blob.content_md5)
            for name, value in props.items():
                h.send_header(name, value)
            h.end_headers()
            if data:
                h.wfile.write(data)
            return
        if method != "GET":
            fail(400)
            return
        span = parse_range(range_header or "", blob.size)
        if span is None:
            fail(416, extra={"Content-Range": f"bytes */{blob.size}"})
            return
        with self._lock:
            refused = knobs.fail_after_chunks is not None and self._chunks_served >= knobs.fail_after_chunks
            if not refused:
                self._chunks_served += 1
        if refused:
            fail(knobs.fail_status)
            return
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            if knobs.blob_delay_s > 0 and self._stopping.wait(knobs.blob_delay_s):
                return  # shutting down
            first, last = span
            h.reply(206, blob.read(first, last - first + 1), "application/octet-stream",
                    {**props, "Content-Range": f"bytes {first}-{last}/{blob.size}"})  # fmt: skip
        finally:
            with self._lock:
                self._in_flight -= 1

    def _list(
        self, h: _Handler, container: str, blobs: dict[str, Blob], query: dict[str, str], base: dict[str, str]
    ) -> None:
        prefix = query.get("prefix", "")
        names = sorted(n for n in blobs if n.startswith(prefix))
        marker = query.get("marker", "")
        if marker:
            names = [n for n in names if n >= marker]
        limit = int(query.get("maxresults") or 5000)
        page, rest = names[:limit], names[limit:]
        body = list_xml(self.blob_url, container, [blobs[n] for n in page], prefix=prefix,
                        next_marker=rest[0] if rest else "")  # fmt: skip
        h.reply(200, body, "application/xml", base)


def _encode_token(offset: int, query_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": query_key}).encode()).decode()


def _decode_token(token: object, query_key: str) -> int:
    """Offset of a continuation token (0 for none); a token from another query or a forged one is an error."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset, key = int(data["o"]), str(data["q"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FilterError(f"invalid continuationToken {token!r}") from exc
    if key != query_key:
        raise FilterError("continuationToken belongs to another query")
    return offset

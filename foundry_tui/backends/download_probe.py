"""After a download fails with a message that names no URL and no status, retrace the runtime's first steps.

The runtime resolves a model's asset id to a blob container through the model registry, lists the container and
fetches the blobs. Some failures reach us as "Failed to parse xml." (a 403 answered to a HEAD, whose body is empty)
or a JSON parse error — nothing a user can act on. The same three requests, made here once and only after such a
failure, tell which URL answered which status. SAS tokens are never printed (the query is cut).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

REGISTRY = "https://{region}.api.azureml.ms/modelregistry/v1.0/registry/models/nonazureaccount?assetId={asset}"
DEFAULT_REGION = "centralus"  # the runtime's choice when neither the settings nor the catalog name one
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ProbeFinding:
    service: str  # "registry" (asset → container) or "blob store" (listing, files)
    url: str  # without its query (a SAS token)
    status: int | None  # None: no HTTP answer (connection, TLS)
    detail: str  # one line: the reason phrase, the Azure error code, or the transport error


def _public(url: str) -> str:
    return url.split("?", 1)[0]


def _request(url: str, method: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers={"x-ms-version": "2023-11-03"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            return response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096) if exc.fp else b""


def _azure_code(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    start, end = text.find("<Code>"), text.find("</Code>")
    return text[start + 6 : end] if 0 <= start < end else ""


def probe_download(asset_id: str, region: str | None) -> ProbeFinding | None:
    """The first request of the download path that fails, or None when all three succeed (or asset_id is not
    an azureml asset)."""
    if not asset_id.startswith("azureml://"):
        return None
    context = ssl.create_default_context()  # honours SSL_CERT_FILE, as the runtime's libcurl does
    registry = REGISTRY.format(region=region or DEFAULT_REGION, asset=urllib.parse.quote(asset_id, safe=""))
    steps: list[tuple[str, str]] = [(registry, "GET")]
    try:
        status, body = _request(registry, "GET", context)
        if status >= 400:
            return ProbeFinding("registry", _public(registry), status, "the model registry refused the asset")
        container = json.loads(body).get("blobSasUri")
        if not isinstance(container, str):
            return ProbeFinding("registry", _public(registry), status, "the model registry's answer has no blobSasUri")
        base, _, query = container.partition("?")
        listing = f"{base}?{query + '&' if query else ''}restype=container&comp=list"
        steps.append((listing, "GET"))
        status, body = _request(listing, "GET", context)
        if status >= 400:
            return ProbeFinding(
                "blob store", _public(listing), status, _azure_code(body) or "the blob store refused the listing"
            )
        text = body.decode("utf-8", "replace")
        first = text.find("<Name>")
        if first >= 0:
            name = text[first + 6 : text.find("</Name>", first)]
            blob = f"{base}/{urllib.parse.quote(name)}{'?' + query if query else ''}"
            steps.append((blob, "HEAD"))
            status, body = _request(blob, "HEAD", context)
            if status >= 400:
                return ProbeFinding(
                    "blob store", _public(blob), status, _azure_code(body) or "the blob store refused the file"
                )
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return ProbeFinding("registry" if len(steps) == 1 else "blob store", _public(steps[-1][0]), None, str(reason))
    return None


__all__ = ["ProbeFinding", "probe_download"]

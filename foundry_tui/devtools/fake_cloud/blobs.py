"""The fake blob store's content: a model's files as Azure block blobs, the container listing XML, error bodies.

A container holds the files of one :class:`CloudModel` directory plus, when the model asks for it, a generated
``padding.bin`` whose bytes are computed from the offset (nothing that size is written to disk).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Callable, Sequence
from email.utils import formatdate
from pathlib import Path
from xml.sax.saxutils import escape

from foundry_tui.devtools.fake_cloud.catalog_data import PADDING_BLOB, CloudModel

_PATTERN_LEN = 4096
# Deterministic filler: a hash chain, repeated. Not compressible by accident, cheap to slice at any offset.
_PATTERN = b"".join(hashlib.sha256(b"fake-cloud-%d" % i).digest() for i in range(_PATTERN_LEN // 32))
LAST_MODIFIED = formatdate(1748764800, usegmt=True)  # 2025-06-01, fixed so ETags and listings are stable


def padding_bytes(offset: int, length: int) -> bytes:
    """``length`` bytes of the padding blob starting at ``offset``."""
    if length <= 0:
        return b""
    start = offset % _PATTERN_LEN
    reps = (start + length) // _PATTERN_LEN + 1
    return (_PATTERN * reps)[start : start + length]


@dataclasses.dataclass(frozen=True)
class Blob:
    """One served file: its size, a stable ETag, its MD5 (as Azure stores it: base64) and a range reader."""

    name: str
    size: int
    etag: str
    content_md5: str
    read: Callable[[int, int], bytes]  # (offset, length) → bytes


def _file_reader(path: Path) -> Callable[[int, int], bytes]:
    def read(offset: int, length: int) -> bytes:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    return read


def _etag(seed: str) -> str:
    return '"0x8DD' + hashlib.sha1(seed.encode()).hexdigest()[:11].upper() + '"'


def _md5_b64(read: Callable[[int, int], bytes], size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for offset in range(0, size, 4 * 1024 * 1024):
        digest.update(read(offset, min(4 * 1024 * 1024, size - offset)))
    return base64.b64encode(digest.digest()).decode()


def model_blobs(model: CloudModel) -> dict[str, Blob]:
    """The blobs of a downloadable model, by name (empty for a placeholder)."""
    if model.files is None:
        return {}
    blobs: dict[str, Blob] = {}
    for path in sorted(model.files.iterdir()):
        if path.is_file():
            read = _file_reader(path)
            size = path.stat().st_size
            seed = f"{model.id}/{path.name}/{size}"
            blobs[path.name] = Blob(path.name, size, _etag(seed), _md5_b64(read, size), read)
    if model.padding_bytes:
        size = model.padding_bytes
        blobs[PADDING_BLOB] = Blob(
            PADDING_BLOB, size, _etag(f"{model.id}/padding/{size}"), _md5_b64(padding_bytes, size), padding_bytes
        )
    return blobs


def container_name(model: CloudModel) -> str:
    """An Azure-valid container name (3–63 chars of lower-case letters, digits, single dashes) for the model."""
    base = re.sub(r"[^a-z0-9]+", "-", f"{model.name}-v{model.version}".lower()).strip("-")
    if len(base) > 63:
        base = base[:50].rstrip("-") + "-" + hashlib.sha1(model.id.encode()).hexdigest()[:12]
    return base


def list_xml(base_url: str, container: str, blobs: Sequence[Blob], *, prefix: str = "", next_marker: str = "") -> bytes:
    """The ``List Blobs`` answer (``restype=container&comp=list``) as the Azure service writes it."""
    items = []
    for blob in blobs:
        items.append(
            "<Blob>"
            f"<Name>{escape(blob.name)}</Name>"
            "<Properties>"
            f"<Creation-Time>{LAST_MODIFIED}</Creation-Time>"
            f"<Last-Modified>{LAST_MODIFIED}</Last-Modified>"
            f"<Etag>{escape(blob.etag.strip(chr(34)))}</Etag>"
            f"<Content-Length>{blob.size}</Content-Length>"
            "<Content-Type>application/octet-stream</Content-Type>"
            "<Content-Encoding /><Content-Language /><Content-CRC64 />"
            f"<Content-MD5>{blob.content_md5}</Content-MD5>"
            "<Cache-Control /><Content-Disposition />"
            "<BlobType>BlockBlob</BlobType>"
            "<AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
            "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
            "<ServerEncrypted>true</ServerEncrypted>"
            "</Properties>"
            "<OrMetadata />"
            "</Blob>"
        )
    prefix_xml = f"<Prefix>{escape(prefix)}</Prefix>" if prefix else ""
    marker_xml = f"<NextMarker>{escape(next_marker)}</NextMarker>" if next_marker else "<NextMarker />"
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EnumerationResults ServiceEndpoint="{escape(base_url)}/" ContainerName="{escape(container)}">'
        f"{prefix_xml}<Blobs>{''.join(items)}</Blobs>{marker_xml}</EnumerationResults>"
    )
    return xml.encode()


def error_xml(code: str, message: str, request_id: str) -> bytes:
    """An Azure Storage error body."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}\n"
        f"RequestId:{request_id}\nTime:2025-06-01T00:00:00.0000000Z</Message></Error>"
    ).encode()


ERROR_CODES: dict[int, tuple[str, str]] = {
    400: (
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
    ),
    403: (
        "AuthorizationFailure",
        "This request is not authorized to perform this operation.",
    ),
    404: ("BlobNotFound", "The specified blob does not exist."),
    416: ("InvalidRange", "The range specified is invalid for the current size of the resource."),
    500: ("InternalError", "Server encountered an internal error. Please try again after some time."),
    503: ("ServerBusy", "The server is currently unable to receive requests. Please retry your request."),
}


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``a-`` / ``-n`` → (first, last) inclusive, clamped; None if unsatisfiable or malformed."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    if not match.group(1):  # suffix range: the last N bytes
        n = int(match.group(2))
        return (max(0, size - n), size - 1) if n and size else None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)

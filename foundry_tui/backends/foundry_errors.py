"""Turn the SDK's FoundryLocalException into our error types with clean one-line messages.

Native messages start with a C++ `file.cc:123 <function signature>` prefix that means nothing to a user.
"""

from __future__ import annotations

import http
import re

from foundry_tui.backends.download_probe import ProbeFinding
from foundry_tui.errors import BackendError, BadInputError, CancelledError, FoundryTuiError, one_line

# Codes of FoundryLocalException.error_code (see the SDK's native API).
INTERNAL, INVALID_ARGUMENT, INVALID_USAGE, CANCELLED, NETWORK = 2, 3, 4, 5, 6

_LOCATION = re.compile(r"^\s*[\w./\\-]+\.(?:cc|cpp|cxx|c|h|hpp):\d+\s+")


def strip_native_prefix(message: str) -> str:
    """'local_model_catalog.cc:90 fl::X fl::Y(const std::string&) model_id must …' → 'model_id must …'."""
    match = _LOCATION.match(message)
    if not match:
        return message.strip()
    rest = message[match.end() :]
    paren = rest.find("(")
    # A signature is "<return type> <qualified name>(<params>)[ const]" before the human text; without a "("
    # early on there is no signature to drop.
    if paren < 0 or paren > 300:
        return rest.strip()
    depth = 0
    for index in range(paren, len(rest)):
        if rest[index] == "(":
            depth += 1
        elif rest[index] == ")":
            depth -= 1
            if depth == 0:
                tail = rest[index + 1 :].lstrip()
                for qualifier in ("const", "noexcept", "override"):
                    if tail.startswith(qualifier + " "):
                        tail = tail[len(qualifier) :].lstrip()
                return tail.strip() or rest.strip()
    return rest.strip()


def map_sdk_error(exc: BaseException, action: str) -> FoundryTuiError:
    """Our error for an SDK exception; `action` names what we were doing ("load tiny", "register …")."""
    code = getattr(exc, "error_code", 0)
    text = one_line(strip_native_prefix(str(exc)))
    message = f"{action}: {text}" if text else f"{action} failed"
    if code == CANCELLED:
        return CancelledError(f"{action}: cancelled")
    if code == INVALID_ARGUMENT:
        return BadInputError(message)
    if code == NETWORK:
        return BackendError(f"{message} (no network?)", kind="network")
    if code == INVALID_USAGE:
        return BackendError(message, kind="invalid_usage")
    return BackendError(message, kind="runtime")


_STATUS = re.compile(r"\b(?:HTTP[ /]?)?(?P<code>[1-5]\d\d)\s+(?P<text>[A-Z][a-z]+)")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


_URL = re.compile(r"https?://[^\s'\"<>]+")


def _hint(text: str, status: int | None) -> str:
    lowered = text.lower()
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return (
            "the server's TLS certificate is not trusted here: behind an inspecting proxy, point SSL_CERT_FILE at "
            "its CA bundle"
        )
    if status in (401, 403):
        return (
            "the storage refused the request: a proxy or firewall may block it, or the download link expired — "
            "try again, or pin a region with FOUNDRY_TUI_CATALOG_REGION (e.g. eastus)"
        )
    if status == 404:
        return "the catalog points at files that are not there: the model may have been withdrawn"
    if status is not None and status >= 500:
        return "the server failed: try again later (the download resumes where it stopped)"
    if "region" in lowered:
        return "every region failed: pin one with FOUNDRY_TUI_CATALOG_REGION (e.g. eastus)"
    if "resolve" in lowered or "connect" in lowered or "timed out" in lowered or "timeout" in lowered:
        return "cannot connect: offline, or a proxy is needed (HTTPS_PROXY)"
    return "run the same download again to resume it; the native log has the details"


def needs_probe(exc: BaseException, logged: str = "") -> bool:
    """The runtime's message and log name no URL: retrace the requests to find which one failed, and how."""
    text = strip_native_prefix(str(exc))
    return not (_URL.search(text) or _URL.search(logged))


def download_error(
    exc: BaseException, model_id: str, logged: str = "", finding: ProbeFinding | None = None
) -> BackendError:
    """One line a user can act on: what failed, which URL, the HTTP status, and what to try.

    The runtime's message often lacks the URL (and a 403 to a HEAD surfaces as "Failed to parse xml."), so
    `logged` — the runtime's log lines written during the download — is searched too, and `finding` (what
    retracing the download's requests found) wins over both.
    """
    text = one_line(strip_native_prefix(str(exc)))
    match = _STATUS.search(text) or _STATUS.search(logged)
    status = finding.status if finding and finding.status else int(match.group("code")) if match else None
    urls = _URL.findall(text) or _URL.findall(logged)
    url = finding.url if finding else urls[-1].rstrip(".,;:)") if urls else None
    what = " ".join(
        part
        for part in (
            f"HTTP {status} {_phrase(status)}".rstrip() if status is not None else "",
            f"from {url.split('?')[0]}" if url else "",  # never print a SAS token
        )
        if part
    )
    details = "; ".join(d for d in (finding.detail if finding else "", f"runtime: {text}" if text else "") if d)
    hint = _hint(f"{text}\n{logged}\n{finding.detail if finding else ''}", status)
    if finding is not None and finding.service == "registry" and status is not None:
        hint = "the model registry refused the model: pin a region with FOUNDRY_TUI_CATALOG_REGION (e.g. eastus)"
    head = f"download {model_id} failed" + (f": {what}" if what else "")
    message = f"{head} — {hint}" + (f" ({details})" if details else "")
    return BackendError(one_line(message, 700), kind="network" if status is None else "http")

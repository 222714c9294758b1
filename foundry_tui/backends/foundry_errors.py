"""Turn the SDK's FoundryLocalException into our error types with clean one-line messages.

Native messages start with a C++ `file.cc:123 <function signature>` prefix that means nothing to a user.
"""

from __future__ import annotations

import re

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

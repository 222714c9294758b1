"""How foundry-tui talks to a runtime. No Textual here."""

from __future__ import annotations

from foundry_tui.backends.base import Backend
from foundry_tui.config import Settings


def open_backend(settings: Settings) -> Backend:
    """The endpoint backend when an endpoint is configured, else the in-process Foundry Local runtime."""
    if settings.endpoint:
        from foundry_tui.backends.openai_compat import EndpointBackend

        return EndpointBackend(settings)
    from foundry_tui.backends.foundry import FoundryBackend

    return FoundryBackend(settings)

"""Before a load or a download: warn, with the numbers, when the model may not fit (engine.fit decides)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from foundry_tui.backends.base import ModelEntry
from foundry_tui.engine.fit import FitCheck, check_fit
from foundry_tui.text import safe_line

if TYPE_CHECKING:
    from foundry_tui.tui.app import FoundryTuiApp


def warn_if_unfit(app: FoundryTuiApp, model: str | ModelEntry, action: str) -> FitCheck | None:
    """Check against the sampler's latest figures; notify a warning when it may not fit. Safe from any thread
    (`App.notify` is thread-safe) and never blocks: no backend call, no DNS."""
    entry = model if isinstance(model, ModelEntry) else app.snapshot.find(model)
    if entry is None:
        return None
    sampler = app.sampler
    check = check_fit(entry, sampler.latest(), endpoint=app.settings.endpoint, gpu_reason=sampler.gpu_reason)
    if check.warn:
        app.notify(
            safe_line(check.message),
            title=f"Before {action}: may not fit",
            severity="warning",
            markup=False,
            timeout=12,
        )
    return check


__all__ = ["warn_if_unfit"]

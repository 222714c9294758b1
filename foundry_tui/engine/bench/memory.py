"""Memory a benchmark can attribute to one model: the model's own figure, never this process's whole RSS (with an
endpoint, the client's) under a model's name. Definition: docs/metrics.md#model-memory.

Where the models live decides what can be measured (`placement`, once per run):
- the in-process runtime: the largest RSS during the model's run − the RSS right before its load. When the run
  loaded it, "before" is the run's own sample; when it was already loaded, the lifecycle's `rss_before_load`
  (the RSS right before that earlier load). That earlier load may not have been seen ("unknown — loaded before
  the run"), and any load or unload since (another model's memory, or what its unload left) would be counted as
  its memory: then no figure.
  A model loaded after an earlier one that stays loaded is not charged for it (its "before" already holds it).
- an endpoint on this machine: the largest RSS of the server process (the sampler watches it) during the
  model's run — the whole server process, with whatever else it holds.
- an endpoint elsewhere: no figure, "remote — not measurable".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from foundry_tui.backends.base import BackendInfo
from foundry_tui.engine.fit import MIN_COMPARABLE_MB
from foundry_tui.engine.monitor import ServerTarget, is_local_endpoint
from foundry_tui.engine.monitor.server import REMOTE

Placement = Literal["in-process", "server", "remote", "unwatched"]

IN_PROCESS = "RSS peak during its run − RSS right before its load (in-process runtime)"
IN_PROCESS_EARLIER = "RSS peak during its run − RSS right before its load, before the run (in-process runtime)"
LOADED_BEFORE = "unknown — loaded before the run"
UNWATCHED = "not measured — the sampler watches this process, not the endpoint's server"
NOT_LOADED = "not measured — the model was not loaded"


def placement(info: BackendInfo, server: ServerTarget) -> Placement:
    """Where the benchmarked models live, from the backend and the process the sampler watches."""
    if info.kind == "foundry-local":
        return "in-process"
    if not info.endpoint or not is_local_endpoint(info.endpoint):
        return "remote"
    return "unwatched" if server.kind == "in-process" else "server"


@dataclass(frozen=True)
class Attribution:
    """How one model's memory is counted, decided when its run loads it (`how`: "rss" = peak RSS − `base_mb`;
    "server" = the server process's peak RSS; "none" = no figure, `note` says why)."""

    how: Literal["rss", "server", "none"]
    note: str
    base_mb: float | None = None

    def figure(self, rss_peak_mb: float | None, server_rss_peak_mb: float | None) -> float | None:
        """The model's memory (MB) from the peaks of its memory timeline so far."""
        if self.how == "rss":
            if self.base_mb is None or rss_peak_mb is None:
                return None
            own = rss_peak_mb - self.base_mb
            if own < -MIN_COMPARABLE_MB:
                return None  # the process holds less than before the load: the base is stale, not a measurement
            return max(0.0, own)  # within RSS noise of the base
        if self.how == "server":
            return server_rss_peak_mb
        return None

    def note_for(self, figure: float | None, server_label: str) -> str:
        """The note to keep beside the figure: how it was counted, or why there is none."""
        if self.how == "server" and figure is None:
            return f"not measured — {server_label}"
        return self.note


def in_process(*, loaded_by_run: bool, rss_before_mb: float | None, earlier_base_mb: float | None) -> Attribution:
    """The in-process runtime. `rss_before_mb`: the run's sample right before it loaded the model;
    `earlier_base_mb`: the lifecycle's pre-load RSS of a model loaded before the run (None when its load was not
    seen or anything was loaded or unloaded since: `ModelLifecycle.rss_before_load`)."""
    if loaded_by_run:
        return Attribution("rss", IN_PROCESS, rss_before_mb)
    if earlier_base_mb is None:
        return Attribution("none", LOADED_BEFORE)
    return Attribution("rss", IN_PROCESS_EARLIER, earlier_base_mb)


@dataclass(frozen=True)
class ModelPlace:
    """Where one model of a run lives. In a run over several backends each endpoint model has its own server,
    whose RSS `server_rss` reads (engine.monitor.server_watch); None: the sampler's watched process is the one."""

    place: Placement
    server: Callable[[], ServerTarget]  # the process a "server" figure is of, as last seen (its label says why not)
    server_rss: Callable[[], float | None] | None = None


def for_placement(place: Placement, server: ServerTarget) -> Attribution:
    """The attribution for a model outside this process (`place` other than "in-process")."""
    if place == "server":
        return Attribution("server", f"RSS peak of the server process ({server.label})")
    if place == "remote":
        return Attribution("none", REMOTE)
    return Attribution("none", UNWATCHED)


__all__ = [
    "IN_PROCESS",
    "LOADED_BEFORE",
    "NOT_LOADED",
    "REMOTE",
    "Attribution",
    "ModelPlace",
    "Placement",
    "for_placement",
    "in_process",
    "placement",
]

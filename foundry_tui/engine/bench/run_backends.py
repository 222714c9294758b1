"""What a benchmark run asks of its backend, per model: a run over several backends (backends.routing: the
in-process runtime next to `URL#MODEL` endpoints) has a different backend, endpoint and server process for each
model, so whether it can be loaded, which endpoint it is on and whose memory is its own are asked per model.
"""

from __future__ import annotations

from foundry_tui.backends.base import Backend, BackendInfo
from foundry_tui.backends.routing import RoutingBackend
from foundry_tui.engine.bench.memory import ModelPlace, Placement, placement
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.engine.monitor.server_watch import server_rss_reader
from foundry_tui.errors import FoundryTuiError


class RunBackends:
    def __init__(self, backend: Backend, sampler: MemorySampler) -> None:
        self.backend = backend
        self._sampler = sampler
        self._info: BackendInfo | None = None
        self._places: dict[str, ModelPlace] = {}
        self.run_place: Placement = "in-process"  # where the main backend's models live, set by `start`

    def info(self) -> BackendInfo | None:
        """The main backend's info (None: it could not say)."""
        if self._info is None:
            try:
                self._info = self.backend.info()
            except FoundryTuiError:
                return None
        return self._info

    def start(self, *, own_sampler: bool) -> None:
        """Decide where the main backend's models live; a sampler of the run's own watches the endpoint's server."""
        info = self.info()
        if own_sampler and info is not None and info.kind == "endpoint":
            self._sampler.watch_server(endpoint=info.endpoint)  # its server, when it runs on this machine
        if info is not None:
            self.run_place = placement(info, self._sampler.server)

    def info_for(self, model: str) -> BackendInfo | None:
        """The info of the backend serving `model`."""
        if not isinstance(self.backend, RoutingBackend):
            return self.info()
        try:
            return self.backend.info_for(model)
        except FoundryTuiError:
            return None

    def management(self, model: str | None = None) -> bool:
        """Whether the backend serving `model` (None: the main one) loads and unloads models."""
        info = self.info_for(model) if model is not None else self.info()
        return bool(info and info.management)

    def endpoint_of(self, model: str) -> str | None:
        """The endpoint URL serving `model`, as the run's `URL#MODEL` names it (None: the in-process runtime)."""
        if isinstance(self.backend, RoutingBackend) and self.backend.endpoint_of(model) is not None:
            return self.backend.endpoint_of(model)
        info = self.info_for(model)
        return info.endpoint if info is not None and info.kind == "endpoint" else None

    def place_of(self, model: str) -> ModelPlace:
        """Where `model` lives. A routed endpoint model's server is found by its port and read on each sample."""
        if model in self._places:
            return self._places[model]
        endpoint = self.backend.endpoint_of(model) if isinstance(self.backend, RoutingBackend) else None
        info = self.info_for(model)
        if endpoint is None or info is None:
            place = ModelPlace(self.run_place, lambda: self._sampler.server)
        else:
            reader = server_rss_reader(endpoint)
            place = ModelPlace(placement(info, reader.target), lambda: reader.target, reader)
        self._places[model] = place
        return place

    def server_label(self, model: str) -> str:
        """Whose memory a "server" figure of `model` is, as last seen (why there is none, when there is none)."""
        place = self._places.get(model)
        return place.server().label if place is not None else self._sampler.server.label


__all__ = ["RunBackends"]

"""Several backends behind one: the session's main backend plus OpenAI-compatible endpoints named per model.

A model id `URL#MODEL` ("http://127.0.0.1:11434/v1#llama3.2") names a model of the endpoint at URL; any other id is
the main backend's (usually the in-process runtime). A benchmark over models of several backends then runs through
one Backend: resolve, load, unload, stream_chat and complete_chat go to the backend the id names, with the prefix
stripped; what has no model (catalog, cached, local, register, download, execution providers…) is the main's.

Endpoint models keep the prefix in every id that comes back (entry id, alias, variants, the stream's and the
completion's model id), so results name the endpoint each figure came from. An endpoint backend is opened on
first use and closed by `close()`; the main backend belongs to whoever opened it (the session) and stays open.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeGuard

from foundry_tui.backends.base import (
    Backend,
    BackendInfo,
    CatalogListing,
    ChatMessage,
    ChatOptions,
    ChatStream,
    Completion,
    EpProgressCallback,
    EpRegistration,
    ExecutionProvider,
    ModelEntry,
    ProgressCallback,
    StreamEvent,
    SupportsCompletion,
    SupportsExecutionProviders,
    SupportsVersions,
    WrappedStream,
)
from foundry_tui.config import Settings, endpoint_url
from foundry_tui.errors import BackendError, FoundryTuiError, NotSupportedError, one_line

if TYPE_CHECKING:  # the HTTP client is imported when an endpoint is used, not by every importer of the ids
    from foundry_tui.backends.endpoint_tokenize import ServerTokenCounter

EndpointOpener = Callable[[str], Backend]  # endpoint URL → a backend for it


def split_model_id(model_id: str) -> tuple[str | None, str]:
    """'http://h:5273/v1#phi-4-mini' → ('http://h:5273/v1', 'phi-4-mini'); any other id → (None, id). The URL is
    returned without a trailing slash, so two spellings of one endpoint name one backend."""
    head, sep, model = model_id.partition("#")
    if sep and "://" in head:
        return head.rstrip("/"), model
    return None, model_id


def endpoint_model_id(endpoint: str, model: str) -> str:
    """The id of `model` served at `endpoint`, as the routing backend gives it back."""
    return f"{endpoint.rstrip('/')}#{model}"


def server_counter(settings: Settings, model_id: str) -> ServerTokenCounter | None:
    """The tokenize route of the server serving `model_id` (probed now): its endpoint's for `URL#MODEL`, else
    the configured endpoint's; None for the in-process runtime or a server without one."""
    from foundry_tui.backends.endpoint_tokenize import server_tokenizer

    endpoint, served = split_model_id(model_id)
    endpoint = endpoint or settings.endpoint
    return server_tokenizer(endpoint, served, api_key=settings.api_key) if endpoint else None


def endpoint_opener(settings: Settings) -> EndpointOpener:
    """Opens an EndpointBackend with `settings` (timeouts, API key…) pointed at the given URL."""

    def open_endpoint(url: str) -> Backend:
        from foundry_tui.backends.openai_compat import EndpointBackend

        return EndpointBackend(dataclasses.replace(settings, endpoint=url))

    return open_endpoint


def _prefixed(endpoint: str, entry: ModelEntry) -> ModelEntry:
    return dataclasses.replace(
        entry,
        id=endpoint_model_id(endpoint, entry.id),
        alias=endpoint_model_id(endpoint, entry.alias),
        variants=tuple(endpoint_model_id(endpoint, v) for v in entry.variants),
    )


class _RoutedStream(WrappedStream):
    """An endpoint's stream under the prefixed model id (records are keyed by `model_id`). Iterating it is
    iterating the inner stream itself: no extra step between a piece's arrival stamp and its consumer."""

    def __iter__(self) -> Iterator[StreamEvent]:
        return iter(self.inner)

    def cancel(self) -> None:
        self.inner.cancel()


class RoutingBackend:
    """The main backend plus the endpoints that `URL#MODEL` ids name, opened on demand (thread-safe)."""

    def __init__(self, main: Backend, settings: Settings, *, open_endpoint: EndpointOpener | None = None) -> None:
        self.main = main
        self._open_endpoint = open_endpoint or endpoint_opener(settings)
        self._endpoints: dict[str, Backend] = {}
        self._lock = threading.Lock()

    # -- which backend -------------------------------------------------------------------------------------

    def endpoint_of(self, model_id: str) -> str | None:
        """The endpoint URL a `URL#MODEL` id names; None for the main backend's models."""
        return split_model_id(model_id)[0]

    def route(self, model_id: str) -> tuple[Backend, str]:
        """(the backend serving `model_id`, the id that backend knows it by). Opens the endpoint's backend on first
        use; a URL that is not one, or a backend that fails to open, raises a one-line FoundryTuiError naming it."""
        endpoint, model = split_model_id(model_id)
        if endpoint is None:
            return self.main, model_id
        return self._endpoint(endpoint), model

    def _endpoint(self, endpoint: str) -> Backend:
        backend = self._endpoints.get(endpoint)  # the common case, without the lock (a dict read is atomic)
        if backend is not None:
            return backend
        with self._lock:
            backend = self._endpoints.get(endpoint)
            if backend is not None:
                return backend
            url = endpoint_url(endpoint)
            try:
                backend = self._open_endpoint(url)
            except FoundryTuiError:
                raise
            except Exception as exc:  # a client that cannot be built (bad settings, missing library)
                why = one_line(str(exc), 200) or type(exc).__name__
                raise BackendError(f"cannot open endpoint {url}: {why}") from exc
            self._endpoints[endpoint] = backend
            return backend

    def backends(self) -> dict[str | None, Backend]:
        """The main backend (key None) and every endpoint backend opened so far (key: its URL)."""
        with self._lock:
            found: dict[str | None, Backend] = {None: self.main}
            found.update(self._endpoints)
            return found

    def info_for(self, model_id: str) -> BackendInfo:
        """The info of the backend serving `model_id` (its endpoint's for `URL#MODEL`, else the main's)."""
        return self.route(model_id)[0].info()

    def completes(self, model_id: str) -> bool:
        """Whether `model_id`'s backend sends non-streamed requests itself (SupportsCompletion)."""
        return isinstance(self.route(model_id)[0], SupportsCompletion)

    # -- routed by the model id ----------------------------------------------------------------------------

    def resolve(self, model: str) -> ModelEntry:
        backend, name = self.route(model)
        entry = backend.resolve(name)
        endpoint = self.endpoint_of(model)
        return entry if endpoint is None else _prefixed(endpoint, entry)

    def load(self, model: str) -> ModelEntry:
        backend, name = self.route(model)
        entry = backend.load(name)
        endpoint = self.endpoint_of(model)
        return entry if endpoint is None else _prefixed(endpoint, entry)

    def unload(self, model: str) -> None:
        backend, name = self.route(model)
        backend.unload(name)

    def stream_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> ChatStream:
        backend, name = self.route(model)
        stream = backend.stream_chat(name, messages, options)
        return stream if name == model else _RoutedStream(stream, model)

    def complete_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> Completion:
        """A non-streamed request on the model's backend; NotSupportedError when that backend only streams (ask
        `completes(model)` first, or use `completes(backend, model)` of this module)."""
        backend, name = self.route(model)
        if not isinstance(backend, SupportsCompletion):
            raise NotSupportedError(f"{model}: its backend sends streamed requests only")
        reply = backend.complete_chat(name, messages, options)
        return reply if name == model else dataclasses.replace(reply, model_id=model)

    def model_versions(self, model: str) -> list[ModelEntry]:
        backend, name = self.route(model)
        if name != model or not isinstance(backend, SupportsVersions):
            return [self.resolve(model)]
        return backend.model_versions(name)

    # -- the main backend's ----------------------------------------------------------------------------------

    def info(self) -> BackendInfo:
        return self.main.info()

    def list_catalog(self, *, refresh: bool = False) -> CatalogListing:
        return self.main.list_catalog(refresh=refresh)

    def list_local(self) -> list[ModelEntry]:
        return self.main.list_local()

    def list_cached(self) -> list[ModelEntry]:
        return self.main.list_cached()

    def list_loaded(self) -> list[ModelEntry]:
        return self.main.list_loaded()

    def register_model(
        self, path: str, model_id: str, *, task: str = "chat-completion", display_name: str | None = None
    ) -> ModelEntry:
        return self.main.register_model(path, model_id, task=task, display_name=display_name)

    def unregister_model(self, model_id: str) -> None:
        self.main.unregister_model(model_id)

    def download(
        self, model: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> ModelEntry:
        return self.main.download(model, progress, cancel)

    def remove_from_cache(self, model: str) -> None:
        self.main.remove_from_cache(model)

    def execution_providers(self) -> list[ExecutionProvider]:
        return self._providers().execution_providers()

    def register_execution_providers(
        self, names: list[str] | None, progress: EpProgressCallback | None = None
    ) -> EpRegistration:
        return self._providers().register_execution_providers(names, progress)

    def _providers(self) -> SupportsExecutionProviders:
        if not isinstance(self.main, SupportsExecutionProviders):
            raise NotSupportedError("only the in-process runtime can list or register execution providers")
        return self.main

    def close(self) -> None:
        """Close the endpoint backends opened here (a later use opens them again); the main one stays open."""
        with self._lock:
            opened, self._endpoints = list(self._endpoints.values()), {}
        for backend in opened:
            backend.close()


def completes(backend: Backend, model_id: str) -> TypeGuard[SupportsCompletion]:
    """Whether a non-streamed request for `model_id` can go to `backend.complete_chat` (for a RoutingBackend: the
    backend `model_id` routes to sends them itself). False also when that backend cannot be opened."""
    if isinstance(backend, RoutingBackend):
        try:
            return backend.completes(model_id)
        except FoundryTuiError:
            return False
    return isinstance(backend, SupportsCompletion)


__all__ = [
    "EndpointOpener",
    "RoutingBackend",
    "completes",
    "endpoint_model_id",
    "endpoint_opener",
    "endpoint_url",
    "server_counter",
    "split_model_id",
]

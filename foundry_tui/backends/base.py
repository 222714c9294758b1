"""The Backend protocol and the plain data that crosses it. No Textual, no SDK types.

Two backends implement it: the in-process Foundry Local runtime and any OpenAI-compatible endpoint.
Everything above (engine, CLI, TUI) speaks only these types.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
CatalogState = Literal["ok", "unreachable", "unsupported", "pending"]
Source = Literal["public", "local", "endpoint"]


@dataclass(frozen=True)
class ModelEntry:
    """One model variant as a backend knows it."""

    id: str  # exact variant id, e.g. "qwen2.5-0.5b-instruct-generic-cpu:4"
    alias: str  # what people type, e.g. "qwen2.5-0.5b"
    source: Source
    display_name: str | None = None
    variants: tuple[str, ...] = ()  # ids of every variant of the same alias (this one included)
    device: str | None = None  # "CPU" / "GPU" / "NPU"
    execution_provider: str | None = None
    size_mb: int | None = None
    license: str | None = None
    task: str | None = None
    context_length: int | None = None
    max_output_tokens: int | None = None
    supports_tool_calling: bool | None = None
    publisher: str | None = None
    version: int | None = None
    cached: bool = False
    loaded: bool = False
    path: str | None = None  # on-disk location when cached / registered
    selected: bool = False  # the variant the runtime picks for this alias on this machine (its default)
    latest_version: int | None = None  # newest catalog version of this variant; > version → an upgrade exists
    license_description: str | None = None
    capabilities: str | None = None  # as the catalog says, e.g. "tool-calling,reasoning"
    input_modalities: str | None = None
    output_modalities: str | None = None


@dataclass(frozen=True)
class CatalogListing:
    """The catalog as fetched. An empty public catalog is `unreachable`, never "no models"."""

    models: tuple[ModelEntry, ...]
    state: CatalogState  # "pending": still fetching; `models` are then the stored ones, if any
    reason: str | None = None  # why it is unreachable/unsupported, one line
    stored_at: float | None = None  # set when `models` come from the catalog stored on disk: when it was fetched
    url: str | None = None  # where the public catalog is fetched from


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatOptions:
    max_tokens: int  # always sent
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    stall_timeout_s: float = 60.0  # no data between two pieces for this long → error event "stalled"
    first_token_timeout_s: float = 300.0  # no first piece this long after sending (prefill of a long prompt) → error


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class TokenEvent:
    """Text that arrived, stamped with `time.perf_counter_ns()` where it arrived, before any rendering."""

    text: str
    t_ns: int
    tokens: int | None = 1  # tokens in this piece: 1 in-process; None when a server chunk may carry several
    reasoning: bool = False  # "thinking" text, not part of the answer


@dataclass(frozen=True)
class DoneEvent:
    """The stream ended normally (or was cancelled: finish_reason "cancelled")."""

    t_ns: int
    finish_reason: str  # "stop" | "length" | "cancelled" | "tool_calls" | "unknown"
    usage: Usage | None = None  # None when the backend did not report usage


@dataclass(frozen=True)
class ErrorEvent:
    """The stream failed. `kind`: http, malformed, dropped, stalled, runtime, network."""

    t_ns: int
    message: str
    kind: str


StreamEvent = TokenEvent | DoneEvent | ErrorEvent


class ChatStream(Protocol):
    """An in-flight streamed chat. Iterate once; the last event is a DoneEvent or an ErrorEvent."""

    model_id: str
    t_sent_ns: int  # perf_counter_ns() right before the request left

    def __iter__(self) -> Iterator[StreamEvent]: ...

    def cancel(self) -> None:
        """Stop the stream from any thread; iteration then ends with DoneEvent(finish_reason="cancelled")."""
        ...


class WrappedStream:
    """The base of a ChatStream that wraps another: the send stamp is the inner stream's (an endpoint's is taken
    at the wire, after the wrapper was made), read and written through."""

    def __init__(self, inner: ChatStream, model_id: str) -> None:
        self.inner = inner
        self.model_id = model_id

    @property
    def t_sent_ns(self) -> int:
        return self.inner.t_sent_ns

    @t_sent_ns.setter
    def t_sent_ns(self, value: int) -> None:  # the protocol's attribute is writable
        self.inner.t_sent_ns = value


@dataclass(frozen=True)
class DownloadProgress:
    percent: float  # 0..100; the runtime sends 0.0 heartbeats while it connects, before any byte arrives
    total_mb: int | None = None  # model size when known, for MB/s and ETA


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class ExecutionProvider:
    """An execution provider the runtime can use here: registered (usable now) or discoverable (downloadable)."""

    name: str  # e.g. "CUDAExecutionProvider"
    registered: bool


@dataclass(frozen=True)
class BackendInfo:
    kind: Literal["foundry-local", "endpoint"]
    label: str  # short human description for headers
    endpoint: str | None = None
    runtime_version: str | None = None
    management: bool = False  # can list cached/loaded, load, unload, download
    details: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """How foundry-tui talks to a runtime. Every method may block: call it off the UI thread."""

    def info(self) -> BackendInfo: ...

    def list_catalog(self, *, refresh: bool = False) -> CatalogListing:
        """Models one could use: the public catalog (or the endpoint's /v1/models) plus local ones."""
        ...

    def list_local(self) -> list[ModelEntry]:
        """Registered local (bring-your-own) models."""
        ...

    def list_cached(self) -> list[ModelEntry]: ...

    def list_loaded(self) -> list[ModelEntry]: ...

    def resolve(self, model: str) -> ModelEntry:
        """Alias or exact id → entry; raises ModelNotFoundError naming close matches."""
        ...

    def register_model(
        self, path: str, model_id: str, *, task: str = "chat-completion", display_name: str | None = None
    ) -> ModelEntry: ...

    def unregister_model(self, model_id: str) -> None: ...

    def download(
        self, model: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> ModelEntry: ...

    def remove_from_cache(self, model: str) -> None: ...

    def load(self, model: str) -> ModelEntry: ...

    def unload(self, model: str) -> None: ...

    def stream_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> ChatStream: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Completion:
    """A non-streamed chat reply; stamps are `time.perf_counter_ns()` around the whole request."""

    model_id: str
    text: str
    finish_reason: str
    usage: Usage | None
    t_sent_ns: int
    t_done_ns: int


@runtime_checkable
class SupportsCompletion(Protocol):
    """Optional: a backend that can send a non-streamed request (benchmarks time it separately)."""

    def complete_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> Completion:
        """Send one non-streamed request; raises BackendError (kind http/stalled/network/malformed) on failure."""
        ...


EpProgressCallback = Callable[[str, float], None]  # (execution provider name, percent 0..100)


@dataclass(frozen=True)
class EpRegistration:
    registered: tuple[str, ...]  # newly registered by this call
    failed: tuple[str, ...]  # asked for, still not registered


@runtime_checkable
class SupportsExecutionProviders(Protocol):
    """Optional: a backend that can list the execution providers it discovers and download/register them."""

    def execution_providers(self) -> list[ExecutionProvider]: ...

    def register_execution_providers(
        self, names: list[str] | None, progress: EpProgressCallback | None = None
    ) -> EpRegistration:
        """Download and register `names` (None: every discoverable one); blocks until done."""
        ...


@runtime_checkable
class SupportsVersions(Protocol):
    """Optional: a backend whose catalog keeps several versions of a model."""

    def model_versions(self, model: str) -> list[ModelEntry]:
        """Every version of the variant `model` names (an alias: its pick on this machine), newest first."""
        ...

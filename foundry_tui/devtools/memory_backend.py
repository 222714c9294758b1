"""A Backend held in memory: a catalog, registrations, a cache, loads and scripted chat streams, with no runtime.

The TUI's pane tests run on it in milliseconds (the real runtime and real servers stay in the integration tests).
It keeps the protocol's contracts: every stamp is `perf_counter_ns()` taken where a piece is produced, cancel works
from any thread and also before the first token, an offline catalog is `unreachable` (never "no models"),
registrations are validated like the runtime's (same one-line errors), and a download reports rising percentages
and honours its cancel event. Gates (`threading.Event`) let a test hold a stream or a download at a known point.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from foundry_tui.backends import base
from foundry_tui.backends.local_models import CHAT_TASKS, validate_model_dir, validate_model_id, validate_task
from foundry_tui.errors import BackendError, BadInputError, CancelledError, ModelNotFoundError, NotSupportedError

ANSWER_TOKENS: tuple[str, ...] = ("Hello", " from", " memory", ".")
ANSWER = "".join(ANSWER_TOKENS)


def entry(model_id: str, **fields: object) -> base.ModelEntry:
    """A catalog entry: alias from the id (`phi-4-mini-generic-cpu:1` → `phi-4-mini`), chat task, 100 MB."""
    name = model_id.split(":", 1)[0]
    alias = name
    for suffix in ("-generic-cpu", "-generic-gpu", "-cuda-gpu", "-npu"):
        alias = alias.removesuffix(suffix)
    default = base.ModelEntry(
        id=model_id,
        alias=alias,
        source="public",
        variants=(model_id,),
        device="GPU" if "gpu" in name else "CPU",
        size_mb=100,
        task="chat-completion",
        license="MIT",
    )
    return dataclasses.replace(default, **fields)  # type: ignore[arg-type]


@dataclass
class Script:
    """How the next chat streams behave (change it between requests)."""

    tokens: tuple[str, ...] = ANSWER_TOKENS
    first_token_s: float = 0.0  # wait before the first piece
    gap_s: float = 0.0  # wait between pieces
    endless: bool = False  # repeat the tokens until max_tokens (for stop tests)
    error: str | None = None  # fail after the tokens with this message (base.ErrorEvent kind "runtime")
    gate: threading.Event | None = None  # when set: the stream waits for it before the first piece


@dataclass
class MemoryBackend:
    catalog: list[base.ModelEntry] = field(default_factory=list)
    catalog_state: base.CatalogState = "ok"
    catalog_reason: str | None = None
    local: dict[str, base.ModelEntry] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    loaded: set[str] = field(default_factory=set)
    script: Script = field(default_factory=Script)
    management: bool = True
    label: str = "memory backend"
    kind: str = "foundry-local"
    endpoint: str | None = None
    cache_dir: str | None = "/tmp/memory-backend/cache"
    load_s: float = 0.0
    download_steps: int = 4
    download_gate: threading.Event | None = None  # when set: a download waits for it after its first step
    catalog_gate: threading.Event | None = None  # when set: the catalog fetch waits for it (an offline fetch: ~4 s)
    fail: dict[str, str] = field(default_factory=dict)  # operation ("load", "download", …) → error message
    calls: list[str] = field(default_factory=list)  # operations in order, "load tiny:1" (for assertions)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- description -------------------------------------------------------------------------------------------

    def info(self) -> base.BackendInfo:
        details = {"cache_dir": self.cache_dir} if self.cache_dir else {}
        return base.BackendInfo(
            kind="endpoint" if self.kind == "endpoint" else "foundry-local",
            label=self.label,
            endpoint=self.endpoint,
            management=self.management,
            details=details,
        )

    def _check(self, operation: str, model: str = "") -> None:
        with self._lock:
            self.calls.append(f"{operation} {model}".strip())
        message = self.fail.get(operation)
        if message is not None:
            raise BackendError(message, kind="runtime")

    # -- listings ----------------------------------------------------------------------------------------------

    def _entry(self, found: base.ModelEntry) -> base.ModelEntry:
        local = found.source == "local"
        return dataclasses.replace(found, cached=local or found.id in self.cached, loaded=found.id in self.loaded)

    def list_catalog(self, *, refresh: bool = False) -> base.CatalogListing:
        if self.catalog_gate is not None:
            self.catalog_gate.wait(30)
        self._check("catalog")
        public = tuple(self._entry(e) for e in self.catalog) if self.catalog_state == "ok" else ()
        return base.CatalogListing(self.list_local_tuple() + public, self.catalog_state, self.catalog_reason)

    def list_local_tuple(self) -> tuple[base.ModelEntry, ...]:
        return tuple(self._entry(e) for e in self.local.values())

    def list_local(self) -> list[base.ModelEntry]:
        return list(self.list_local_tuple())

    def list_cached(self) -> list[base.ModelEntry]:
        if not self.management:
            raise NotSupportedError("listing cached models is not supported by this endpoint")
        return [self._entry(e) for e in self.catalog if e.id in self.cached] + self.list_local()

    def list_loaded(self) -> list[base.ModelEntry]:
        if not self.management:
            raise NotSupportedError("listing loaded models is not supported by this endpoint")
        return [self._entry(e) for e in (*self.local.values(), *self.catalog) if e.id in self.loaded]

    def resolve(self, model: str) -> base.ModelEntry:
        name = model.strip()
        if not name:
            raise BadInputError("model name is empty")
        known = [*self.local.values(), *self.catalog]
        for found in known:
            if name == found.id:
                return self._entry(found)
        for found in known:
            if name == found.alias:
                return self._entry(found)
        raise ModelNotFoundError(f"no model {name!r} (known: {', '.join(sorted(e.id for e in known)) or 'none'})")

    # -- local models and the cache ----------------------------------------------------------------------------

    def register_model(
        self, path: str, model_id: str, *, task: str = "chat-completion", display_name: str | None = None
    ) -> base.ModelEntry:
        self._check("register", model_id)
        validate_model_id(model_id)
        validate_task(task)
        directory = validate_model_dir(path)
        if model_id in self.local:
            raise BadInputError(f"model id {model_id} is already registered; unregister it first")
        self.local[model_id] = dataclasses.replace(
            entry(model_id, source="local", task=task, display_name=display_name, license=None),
            path=str(directory),
            size_mb=1,
        )
        return self._entry(self.local[model_id])

    def unregister_model(self, model_id: str) -> None:
        self._check("unregister", model_id)
        if model_id not in self.local:
            raise ModelNotFoundError(f"no registered local model {model_id!r}")
        self.loaded.discard(model_id)
        del self.local[model_id]

    def download(
        self, model: str, progress: base.ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> base.ModelEntry:
        found = self.resolve(model)
        self._check("download", found.id)
        for step in range(self.download_steps + 1):
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"download {found.id}: cancelled")
            if progress is not None:
                progress(base.DownloadProgress(100.0 * step / self.download_steps, found.size_mb))
            if step == 0 and self.download_gate is not None:
                while not self.download_gate.wait(0.01):
                    if cancel is not None and cancel.is_set():
                        raise CancelledError(f"download {found.id}: cancelled")
        self.cached.add(found.id)
        return self._entry(found)

    def remove_from_cache(self, model: str) -> None:
        found = self.resolve(model)
        self._check("remove", found.id)
        if found.source == "local":
            raise BadInputError(f"{found.id} is a registered local model: unregister it instead")
        self.loaded.discard(found.id)
        self.cached.discard(found.id)

    # -- load / unload -----------------------------------------------------------------------------------------

    def load(self, model: str) -> base.ModelEntry:
        found = self.resolve(model)
        self._check("load", found.id)
        if not self._entry(found).cached:
            raise BadInputError(f"{found.id} is not downloaded yet: download it first")
        if self.load_s:
            time.sleep(self.load_s)
        self.loaded.add(found.id)
        return self._entry(found)

    def unload(self, model: str) -> None:
        found = self.resolve(model)
        self._check("unload", found.id)
        self.loaded.discard(found.id)

    # -- chat --------------------------------------------------------------------------------------------------

    def stream_chat(self, model: str, messages: list[base.ChatMessage], options: base.ChatOptions) -> MemoryStream:
        found = self.resolve(model)
        self._check("chat", found.id)
        if found.task is not None and found.task not in CHAT_TASKS:
            raise BadInputError(f"{found.id} is a {found.task} model, not a chat model")
        if not messages:
            raise BadInputError("a chat needs at least one message")
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        return MemoryStream(found.id, dataclasses.replace(self.script), options, prompt_tokens)

    def close(self) -> None:
        self.calls.append("close")


class MemoryStream:
    def __init__(self, model_id: str, script: Script, options: base.ChatOptions, prompt_tokens: int) -> None:
        self.model_id = model_id
        self.t_sent_ns = 0
        self._script = script
        self._options = options
        self._prompt_tokens = prompt_tokens
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def _wait(self, seconds: float) -> bool:
        """Sleep that a cancel cuts short; True when cancelled."""
        return self._cancelled.wait(seconds) if seconds > 0 else self._cancelled.is_set()

    def __iter__(self) -> Iterator[base.StreamEvent]:
        script = self._script
        self.t_sent_ns = time.perf_counter_ns()
        if script.gate is not None:
            while not script.gate.wait(0.01):
                if self._cancelled.is_set():
                    break
        sent = 0
        cancelled = self._wait(script.first_token_s)
        while not cancelled and sent < self._options.max_tokens:
            token = script.tokens[sent % len(script.tokens)]
            if not script.endless and sent >= len(script.tokens):
                break
            yield base.TokenEvent(token, time.perf_counter_ns(), 1)
            sent += 1
            cancelled = self._wait(script.gap_s)
        usage = base.Usage(self._prompt_tokens, sent, self._prompt_tokens + sent)
        if cancelled:
            yield base.DoneEvent(time.perf_counter_ns(), "cancelled", usage)
        elif script.error is not None:
            yield base.ErrorEvent(time.perf_counter_ns(), script.error, "runtime")
        else:
            finish = "length" if sent >= self._options.max_tokens and sent < len(script.tokens) else "stop"
            yield base.DoneEvent(time.perf_counter_ns(), "length" if script.endless else finish, usage)


__all__ = ["ANSWER", "ANSWER_TOKENS", "MemoryBackend", "MemoryStream", "Script", "entry"]

"""A Backend held in memory: a catalog, registrations, a cache, loads and scripted chat streams, with no runtime.

The TUI's pane tests run on it in milliseconds (the real runtime and real servers stay in the integration tests).
It keeps the protocol's contracts: every stamp is `perf_counter_ns()` taken where a piece is produced, cancel works
from any thread and also before the first token, an offline catalog is `unreachable` (never "no models"),
registrations are validated like the runtime's (same one-line errors), and a download reports rising percentages
and honours its cancel event. Gates (`threading.Event`) let a test hold a stream, a download, the catalog or an
execution provider's registration at a known point.

`realistic_catalog()` builds a catalog at the public one's scale (about 30 aliases with CPU / GPU / NPU variants,
versions, licences, the runtime's pick on the CPU variant, two cached models with a newer version out, one
loaded); `execution_providers` and `stored` / `stored_at` play the runtime's EPs and the catalog kept on disk.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from foundry_tui.backends import base
from foundry_tui.backends.local_models import CHAT_TASKS, validate_model_dir, validate_model_id, validate_task
from foundry_tui.engine.variants import usable_providers
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
    # Execution providers the runtime discovers here (CPU is built in and never listed); [] on a CPU-only machine.
    execution_provider_list: list[base.ExecutionProvider] = field(default_factory=list)
    ep_fail: set[str] = field(default_factory=set)  # these fail to register (they end up in `failed`)
    ep_gate: threading.Event | None = None  # when set: a registration waits for it after its second progress step
    ep_steps: int = 4
    # The catalog stored on disk by an earlier run: an unreachable fetch lists it, with its age.
    stored: list[base.ModelEntry] = field(default_factory=list)
    stored_at: float | None = None
    catalog_url: str | None = None

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
        if self.catalog_state == "ok":
            public = tuple(self._entry(e) for e in self.catalog)
            return base.CatalogListing(
                self.list_local_tuple() + public, "ok", self.catalog_reason, url=self.catalog_url
            )
        stored = tuple(self._entry(e) for e in self.stored) if self.stored_at is not None else ()
        return base.CatalogListing(
            self.list_local_tuple() + stored,
            self.catalog_state,
            self.catalog_reason,
            stored_at=self.stored_at if stored else None,
            url=self.catalog_url,
        )

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

    # -- execution providers ---------------------------------------------------------------------------------

    def execution_providers(self) -> list[base.ExecutionProvider]:
        with self._lock:
            return list(self.execution_provider_list)

    def register_execution_providers(
        self, names: list[str] | None, progress: base.EpProgressCallback | None = None
    ) -> base.EpRegistration:
        self._check("register_eps", ",".join(names or []))
        wanted = [
            ep.name for ep in self.execution_providers() if not ep.registered and (names is None or ep.name in names)
        ]
        registered: list[str] = []
        failed: list[str] = []
        for name in wanted:
            for step in range(self.ep_steps + 1):
                if progress is not None:
                    progress(name, 100.0 * step / self.ep_steps)
                if step == 1 and self.ep_gate is not None:
                    self.ep_gate.wait(30)
                if name in self.ep_fail and step == self.ep_steps // 2:
                    break
            if name in self.ep_fail:
                failed.append(name)
                continue
            with self._lock:
                self.execution_provider_list = [
                    base.ExecutionProvider(ep.name, True) if ep.name == name else ep
                    for ep in self.execution_provider_list
                ]
            registered.append(name)
        if registered:
            self._repick()
        return base.EpRegistration(tuple(registered), tuple(failed))

    def _repick(self) -> None:
        """Like the runtime: each alias' default becomes its best variant whose EP is usable now (NPU, GPU, CPU)."""
        usable = set(usable_providers(self.execution_provider_list))
        rank = {"NPU": 0, "GPU": 1, "CPU": 2}
        best: dict[str, base.ModelEntry] = {}
        for found in self.catalog:
            if found.execution_provider not in usable or found.version != found.latest_version:
                continue
            known = best.get(found.alias)
            if known is None or rank.get(found.device or "", 3) < rank.get(known.device or "", 3):
                best[found.alias] = found
        with self._lock:
            self.catalog = [
                dataclasses.replace(e, selected=best.get(e.alias) is e) if e.alias in best else e for e in self.catalog
            ]

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


# -- a catalog at the public one's scale --------------------------------------------------------------------------

# (alias, model name stem, publisher, licence, context, parameters in billions, devices besides CPU)
_FAMILIES: tuple[tuple[str, str, str, str, int, float, str], ...] = (
    ("phi-4-mini", "Phi-4-mini-instruct", "Microsoft", "MIT", 128_000, 3.8, "GPU NPU"),
    ("phi-4", "Phi-4", "Microsoft", "MIT", 16_384, 14.0, "GPU"),
    ("phi-4-mini-reasoning", "Phi-4-mini-reasoning", "Microsoft", "MIT", 128_000, 3.8, "GPU NPU"),
    ("phi-4-reasoning", "Phi-4-reasoning", "Microsoft", "MIT", 32_768, 14.0, "GPU"),
    ("phi-3.5-mini", "Phi-3.5-mini-instruct", "Microsoft", "MIT", 128_000, 3.8, "GPU NPU"),
    ("phi-3-mini-4k", "Phi-3-mini-4k-instruct", "Microsoft", "MIT", 4_096, 3.8, "GPU NPU"),
    ("phi-3-mini-128k", "Phi-3-mini-128k-instruct", "Microsoft", "MIT", 128_000, 3.8, "GPU NPU"),
    ("phi-3-medium", "Phi-3-medium-4k-instruct", "Microsoft", "MIT", 4_096, 14.0, "GPU"),
    ("qwen2.5-0.5b", "qwen2.5-0.5b-instruct", "Alibaba", "apache-2.0", 32_768, 0.5, "GPU NPU"),
    ("qwen2.5-1.5b", "qwen2.5-1.5b-instruct", "Alibaba", "apache-2.0", 32_768, 1.5, "GPU NPU"),
    ("qwen2.5-3b", "qwen2.5-3b-instruct", "Alibaba", "qwen-research", 32_768, 3.0, "GPU"),
    ("qwen2.5-7b", "qwen2.5-7b-instruct", "Alibaba", "apache-2.0", 32_768, 7.0, "GPU NPU"),
    ("qwen2.5-14b", "qwen2.5-14b-instruct", "Alibaba", "apache-2.0", 32_768, 14.0, "GPU"),
    ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct", "Alibaba", "apache-2.0", 32_768, 0.5, "GPU"),
    ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct", "Alibaba", "apache-2.0", 32_768, 1.5, "GPU NPU"),
    ("qwen2.5-coder-7b", "qwen2.5-coder-7b-instruct", "Alibaba", "apache-2.0", 32_768, 7.0, "GPU NPU"),
    ("qwen2.5-coder-14b", "qwen2.5-coder-14b-instruct", "Alibaba", "apache-2.0", 32_768, 14.0, "GPU"),
    ("qwen3-0.6b", "qwen3-0.6b", "Alibaba", "apache-2.0", 40_960, 0.6, "GPU"),
    ("qwen3-4b", "qwen3-4b", "Alibaba", "apache-2.0", 40_960, 4.0, "GPU"),
    ("qwen3-8b", "qwen3-8b", "Alibaba", "apache-2.0", 40_960, 8.0, "GPU"),
    ("deepseek-r1-1.5b", "deepseek-r1-distill-qwen-1.5b", "DeepSeek", "MIT", 131_072, 1.5, "GPU NPU"),
    ("deepseek-r1-7b", "deepseek-r1-distill-qwen-7b", "DeepSeek", "MIT", 131_072, 7.0, "GPU NPU"),
    ("deepseek-r1-14b", "deepseek-r1-distill-qwen-14b", "DeepSeek", "MIT", 131_072, 14.0, "GPU NPU"),
    ("mistral-7b-v0.2", "mistralai-Mistral-7B-Instruct-v0-2", "Mistral AI", "apache-2.0", 32_768, 7.0, "GPU NPU"),
    ("gpt-oss-20b", "gpt-oss-20b", "OpenAI", "apache-2.0", 131_072, 20.0, "GPU"),
    ("llama-3.2-1b", "Llama-3.2-1B-Instruct", "Meta", "llama3.2", 131_072, 1.2, "GPU"),
    ("llama-3.2-3b", "Llama-3.2-3B-Instruct", "Meta", "llama3.2", 131_072, 3.2, "GPU"),
    ("gemma-3-1b", "gemma-3-1b-it", "Google", "gemma", 32_768, 1.0, "GPU"),
    ("gemma-3-4b", "gemma-3-4b-it", "Google", "gemma", 131_072, 4.0, "GPU"),
    ("whisper-tiny", "openai-whisper-tiny", "OpenAI", "MIT", 448, 0.04, "GPU"),
)
_DEVICE_SUFFIX = {"CPU": "generic-cpu", "GPU": "cuda-gpu", "NPU": "qnn-npu"}
_DEVICE_EP = {"CPU": "CPUExecutionProvider", "GPU": "CUDAExecutionProvider", "NPU": "QNNExecutionProvider"}
_LICENCE_TEXT = {
    "MIT": "Permission is hereby granted, free of charge, to any person obtaining a copy of this software…",
    "apache-2.0": "Licensed under the Apache License, Version 2.0; you may not use this file except in compliance…",
}
UPGRADABLE = ("qwen2.5-0.5b", "qwen2.5-coder-1.5b")  # cached at an older version than the catalog's latest
LOADED_ALIAS = "phi-4-mini"  # its CPU variant is cached and loaded


def realistic_catalog(
    execution_providers: list[base.ExecutionProvider] | None = None, **fields: object
) -> MemoryBackend:
    """A MemoryBackend at the public catalog's scale: 30 aliases, each with a CPU variant (the runtime's pick here)
    and GPU / NPU ones, versions 1–6, licences and context lengths; `qwen2.5-0.5b` and `qwen2.5-coder-1.5b` cached
    one version behind the latest (both versions listed), `phi-4-mini`'s CPU variant cached and loaded. Default
    execution providers: CUDA discoverable, not registered (so the CPU pick is a CPU fallback)."""
    models: list[base.ModelEntry] = []
    cached: set[str] = set()
    loaded: set[str] = set()
    for index, (alias, stem, publisher, licence, context, params, extra) in enumerate(_FAMILIES):
        latest = 1 + index % 6
        whisper = alias.startswith("whisper")
        devices = ("CPU", *extra.split())
        ids = [f"{stem}-{_DEVICE_SUFFIX[d]}:{latest}" for d in devices]
        old = f"{stem}-generic-cpu:{latest - 1}" if alias in UPGRADABLE and latest > 1 else None
        variants = tuple(ids + ([old] if old else []))
        for device, model_id in zip(devices, ids, strict=True):
            size = round(params * (700 if device == "CPU" else 560 if device == "GPU" else 520)) + 12
            models.append(
                base.ModelEntry(
                    id=model_id,
                    alias=alias,
                    source="public",
                    variants=variants,
                    device=device,
                    execution_provider=_DEVICE_EP[device],
                    size_mb=size,
                    task="automatic-speech-recognition" if whisper else "chat-completion",
                    license=licence,
                    display_name=f"{stem} ({device})",
                    context_length=context,
                    max_output_tokens=min(context, 4096 if context <= 32_768 else 16_384),
                    supports_tool_calling=None if whisper else index % 3 != 2,
                    publisher=publisher,
                    version=latest,
                    latest_version=latest,
                    selected=device == "CPU",
                    license_description=_LICENCE_TEXT.get(licence),
                    capabilities="audio" if whisper else "chat,tool-calling" if index % 3 != 2 else "chat,reasoning",
                    input_modalities="audio" if whisper else "text",
                    output_modalities="text",
                )
            )
        if old is not None:
            cpu = models[-len(devices)]
            models.append(dataclasses.replace(cpu, id=old, version=latest - 1, selected=False, size_mb=cpu.size_mb))
            cached.add(old)
        if alias == LOADED_ALIAS:
            cached.add(ids[0])
            loaded.add(ids[0])
    eps = (
        [base.ExecutionProvider("CUDAExecutionProvider", False)] if execution_providers is None else execution_providers
    )
    backend = MemoryBackend(
        catalog=models, cached=cached, loaded=loaded, execution_provider_list=list(eps), label="memory backend (scale)"
    )
    for name, value in fields.items():
        setattr(backend, name, value)
    return backend


__all__ = [
    "ANSWER",
    "ANSWER_TOKENS",
    "LOADED_ALIAS",
    "UPGRADABLE",
    "MemoryBackend",
    "MemoryStream",
    "Script",
    "entry",
    "realistic_catalog",
]

"""The one service both front ends use: `foundry-tui <command>` and the TUI call these methods, nothing below them.

A `Session` holds the backend (opened on first use, or early by `start()`: it can take seconds), the memory
sampler, the model lifecycle (loads and unloads bracketed by monitor markers and fast sampling) and the download
queue. It keeps the last catalog it fetched, so a models snapshot is always whole. Every method may block (SDK
calls, HTTP): a TUI calls them from worker threads. Nothing here imports Textual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections.abc import Callable
from pathlib import Path

from foundry_tui.backends import open_backend
from foundry_tui.backends.base import (
    Backend,
    BackendInfo,
    CatalogListing,
    ChatMessage,
    ChatOptions,
    EpProgressCallback,
    EpRegistration,
    ExecutionProvider,
    ModelEntry,
    SupportsExecutionProviders,
    SupportsVersions,
)
from foundry_tui.backends.catalog_reach import DEFAULT_CATALOG_URL
from foundry_tui.backends.routing import RoutingBackend, server_counter, split_model_id
from foundry_tui.config import Settings
from foundry_tui.engine.bench import BenchConfig, BenchEvent, BenchFinished, BenchResults, BenchRunner, EventCallback
from foundry_tui.engine.bench.token_counting import CounterFor
from foundry_tui.engine.bench.tokens import TokenCounter, load_tokenizer
from foundry_tui.engine.cache_report import CacheReport, cache_report
from foundry_tui.engine.catalog_store import StoredCatalog, load_catalog, save_catalog, store_path
from foundry_tui.engine.chat import Cancel, ChatEvent, ChatResult, TokenCallback, run_chat
from foundry_tui.engine.downloads import DownloadJob, DownloadQueue
from foundry_tui.engine.fit import FitCheck, check_fit, estimate_for
from foundry_tui.engine.lifecycle import LoadReport, ModelLifecycle, ModelMemory, UnloadReport
from foundry_tui.engine.models import ModelsSnapshot
from foundry_tui.engine.monitor import MemorySampler, is_local_endpoint
from foundry_tui.engine.monitor.server_watch import watched_sampler
from foundry_tui.engine.registration import suggest_model_id
from foundry_tui.errors import BadInputError, FoundryTuiError, NotSupportedError
from foundry_tui.importer import DEMO_DISPLAY_NAME, ImportResult, Stage, demo_gguf, import_model

DownloadsCallback = Callable[[list[DownloadJob]], None]


class Session:
    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend | None = None,
        backend_factory: Callable[[Settings], Backend] = open_backend,
        sampler: MemorySampler | None = None,
        on_downloads: DownloadsCallback | None = None,
    ) -> None:
        self.settings = settings
        self.sampler = sampler if sampler is not None else watched_sampler(settings)
        self._backend = backend
        self._owns_backend = backend is None
        self._factory = backend_factory
        self.on_downloads = on_downloads  # called on the queue's thread whenever a download changes
        self._lifecycle: ModelLifecycle | None = None
        self._downloads: DownloadQueue | None = None
        self._info: BackendInfo | None = None
        self._catalog: CatalogListing | None = None
        self._lock = threading.Lock()
        self._runs = contextlib.ExitStack()  # what each benchmark run opened (closed when the run ends)

    # -- the backend -------------------------------------------------------------------------------------------

    def start(self) -> BackendInfo:
        """Open the backend (the in-process runtime takes about a second); every method below calls it first, so
        a caller only needs it to open the backend early. Raises FoundryTuiError (again on the next call)."""
        with self._lock:
            if self._info is not None:
                return self._info
            backend = self._backend or self._factory(self.settings)
            self._backend = backend
            self._lifecycle = ModelLifecycle(backend, self.sampler)
            self._downloads = DownloadQueue(backend, self._downloads_changed, on_event=self.sampler.mark)
            self._info = backend.info()
            return self._info

    @property
    def ready(self) -> bool:
        return self._info is not None

    @property
    def backend(self) -> Backend:
        self.start()
        assert self._backend is not None
        return self._backend

    @property
    def lifecycle(self) -> ModelLifecycle:
        self.start()
        assert self._lifecycle is not None
        return self._lifecycle

    def info(self) -> BackendInfo:
        return self.start()

    def close(self, *, release_runtime: bool = True) -> None:
        """Stop the sampler and the download queue; close the backend when this session opened it.

        `release_runtime=False` leaves the backend open for a process that is about to exit: the in-process
        runtime's orderly shutdown takes a fixed second, which a read-only command need not wait for."""
        self.sampler.stop()
        self._runs.close()
        if self._downloads is not None:
            self._downloads.close()
        if self._owns_backend and self._backend is not None and release_runtime:
            self._backend.close()
            self._backend = None

    # -- models ------------------------------------------------------------------------------------------------

    def snapshot(self) -> ModelsSnapshot:
        """Local, cached and loaded models now (fast: no catalog fetch), with the last catalog fetched — or,
        while the first fetch is pending, the catalog stored by an earlier run (state "pending")."""
        backend = self.backend
        local = tuple(backend.list_local())
        cached = _optional(backend.list_cached)
        loaded = _optional(backend.list_loaded)
        eps = self.execution_providers()
        catalog = self._catalog or self._pending_catalog()
        return ModelsSnapshot(catalog, local, cached, loaded, self.info(), None if eps is None else tuple(eps))

    def execution_providers(self) -> list[ExecutionProvider] | None:
        """The execution providers the runtime discovers here, registered or not; None when the backend cannot
        tell (an endpoint). The CPU provider is built in and not listed."""
        backend = self.backend
        if not isinstance(backend, SupportsExecutionProviders):
            return None
        return backend.execution_providers()

    def register_execution_providers(
        self, names: list[str] | None = None, progress: EpProgressCallback | None = None
    ) -> EpRegistration:
        """Download and register execution providers (None: every discoverable one), with per-EP progress."""
        backend = self.backend
        if not isinstance(backend, SupportsExecutionProviders):
            raise NotSupportedError("only the in-process runtime can register execution providers")
        if names:
            known = {ep.name for ep in backend.execution_providers()}
            unknown = [n for n in names if n not in known]
            if unknown:
                listed = ", ".join(sorted(known)) or "none on this machine"
                raise BadInputError(f"unknown execution provider {unknown[0]!r} (discoverable here: {listed})")
        return backend.register_execution_providers(names, progress)

    def fetch_catalog(self, *, refresh: bool = False) -> CatalogListing:
        """The catalog (offline: `unreachable` within a second, never "no models"). A good public catalog is
        stored on disk; an unreachable one is completed with the stored one, marked with its age."""
        try:
            listing = self.backend.list_catalog(refresh=refresh)
        except FoundryTuiError as exc:
            listing = CatalogListing((), "unreachable", str(exc))
        if self._stores_catalog():
            if listing.state == "ok":
                # A read-only data dir costs the offline fallback, nothing else.
                with contextlib.suppress(OSError):
                    save_catalog(store_path(self.settings.data_dir), self._catalog_url(), listing.models)
            elif listing.state == "unreachable":
                listing = self._with_stored(listing)
        self._catalog = listing
        return listing

    def _catalog_url(self) -> str:
        return self.settings.catalog_url or DEFAULT_CATALOG_URL

    def _stores_catalog(self) -> bool:
        return not self.settings.endpoint

    @functools.cached_property
    def _stored(self) -> StoredCatalog | None:
        """The catalog an earlier run stored, read once (the live one replaces it for this session)."""
        if not self._stores_catalog():
            return None
        return load_catalog(store_path(self.settings.data_dir), self._catalog_url())

    def _pending_catalog(self) -> CatalogListing | None:
        stored = self._stored
        if stored is None or not stored.models:
            return None
        return CatalogListing(stored.models, "pending", stored_at=stored.fetched_at, url=stored.url)

    def _with_stored(self, listing: CatalogListing) -> CatalogListing:
        stored = self._stored
        if stored is None or not stored.models:
            return listing
        live = {m.id for m in listing.models}
        models = listing.models + tuple(m for m in stored.models if m.id not in live)
        return dataclasses.replace(listing, models=models, stored_at=stored.fetched_at, url=stored.url)

    def models(self, *, refresh: bool = False) -> ModelsSnapshot:
        """Everything at once, the catalog included (what `foundry-tui models` prints)."""
        self.fetch_catalog(refresh=refresh)
        return self.snapshot()

    def resolve(self, model: str) -> ModelEntry:
        """Alias or exact id → entry; ModelNotFoundError (exit 2) names close matches."""
        return self.backend.resolve(model)

    def fit(self, model: str | ModelEntry) -> FitCheck:
        """Will it fit in RAM / VRAM now? A warning with the numbers, never a refusal (engine.fit): files + KV
        cache + runtime from the model's genai_config.json when it is on disk, else the size rule."""
        entry = model if isinstance(model, ModelEntry) else self.resolve(model)
        endpoint = self.settings.endpoint
        if endpoint and not is_local_endpoint(endpoint):
            return check_fit(entry, None, endpoint=endpoint)
        sample = self.sampler.latest()
        if sample is None:  # nobody runs the sampler's thread (the CLI): read the machine once, GPUs included
            self.sampler.open_gpus()
            sample = self.sampler.sample_now()
        # In-process, the runtime's own set-up is paid by the first load in the process.
        warm = not endpoint and self._lifecycle is not None and self._lifecycle.loaded_before
        estimate = estimate_for(entry, runtime_warm=warm)
        return check_fit(entry, sample, endpoint=endpoint, gpu_reason=self.sampler.gpu_reason, estimate=estimate)

    def model_memory(self, model: str) -> ModelMemory | None:
        """The model's own memory since its latest load through this session (before, after load, after its
        requests, after unload); None when no load of it was seen."""
        return self.lifecycle.memory(model)

    def load(self, model: str) -> tuple[ModelEntry, LoadReport]:
        """Load through the lifecycle: markers around the call, 20 Hz sampling while it runs."""
        return self.lifecycle.load(model)

    def unload(self, model: str) -> UnloadReport:
        entry = self.resolve(model)
        return self.lifecycle.unload(entry.id)

    # -- chat --------------------------------------------------------------------------------------------------

    def chat(
        self,
        model: str,
        messages: list[ChatMessage],
        options: ChatOptions,
        *,
        on_event: Callable[[ChatEvent], None] | None = None,
        on_token: TokenCallback | None = None,
        cancel: Cancel | None = None,
    ) -> ChatResult:
        """Resolve → fit → load if needed → stream (markers on the monitor's clock) → the timed record."""
        return run_chat(
            self.backend,
            self.lifecycle,
            model,
            messages,
            options,
            fit=self.fit,
            on_event=on_event,
            on_token=on_token,
            cancel=cancel,
        )

    def chat_options(self, *, max_tokens: int | None = None, temperature: float | None = None) -> ChatOptions:
        """Options from the settings, with what the user changed for this request."""
        return ChatOptions(
            max_tokens=self.settings.max_tokens if max_tokens is None else max_tokens,
            temperature=self.settings.temperature if temperature is None else temperature,
            stall_timeout_s=self.settings.stall_timeout_s,
            first_token_timeout_s=self.settings.first_token_timeout_s,
        )

    # -- local models and the cache ----------------------------------------------------------------------------

    def register(
        self,
        path: str,
        model_id: str | None = None,
        *,
        display_name: str | None = None,
        task: str = "chat-completion",
    ) -> ModelEntry:
        """Register an ONNX Runtime GenAI directory; without an id, one is suggested from the directory name."""
        chosen = model_id or suggest_model_id(path)
        if not chosen:
            raise BadInputError(f"cannot derive a model id from {path!r}: give one like my-model-generic-cpu:1")
        return self.backend.register_model(path, chosen, task=task, display_name=display_name)

    def unregister(self, model_id: str) -> None:
        self.backend.unregister_model(model_id)

    def remove(self, model: str) -> ModelEntry:
        """Free the disk: a registered local model is unregistered (its files stay), a cached one is deleted."""
        entry = self.resolve(model)
        if entry.source == "local":
            self.backend.unregister_model(entry.id)
        else:
            self.backend.remove_from_cache(entry.id)
        return entry

    def model_versions(self, model: str) -> list[ModelEntry]:
        """Every catalog version of the variant `model` names (an alias: its pick here), newest first."""
        backend = self.backend
        if not isinstance(backend, SupportsVersions):
            return [self.resolve(model)]
        return backend.model_versions(model)

    def resolve_version(self, model: str, version: int | None) -> ModelEntry:
        """`model` at catalog version `version` (None: what `resolve` gives); BadInputError names the versions."""
        if version is None:
            return self.resolve(model)
        if version < 1:
            raise BadInputError(f"--version must be 1 or more, got {version}")
        versions = self.model_versions(model)
        found = next((e for e in versions if e.version == version), None)
        if found is None:
            known = ", ".join(str(e.version) for e in versions if e.version is not None) or "none"
            name = versions[0].id.split(":")[0] if versions else model
            raise BadInputError(f"{name} has no version {version} in the catalog (versions: {known})")
        return found

    def cache_report(self) -> CacheReport:
        """What the model cache holds on disk: complete models (bytes counted on disk), partial downloads that
        can resume, registered local models elsewhere, and the total."""
        snapshot = self.models()  # the runtime lists its public cache only once it has the catalog
        return cache_report(self.settings.model_cache_dir, snapshot.on_disk())

    # -- downloads ---------------------------------------------------------------------------------------------

    @property
    def downloads(self) -> DownloadQueue:
        """The queue (one download at a time: the runtime allows one per process); `fit` first to warn."""
        self.start()
        assert self._downloads is not None
        return self._downloads

    def _downloads_changed(self, jobs: list[DownloadJob]) -> None:
        if self.on_downloads is not None:
            self.on_downloads(jobs)

    # -- benchmarks --------------------------------------------------------------------------------------------

    @property
    def results_root(self) -> Path:
        """Where the TUI's benchmark runs go: `<data_dir>/bench/<time>/`."""
        return self.settings.data_dir / "bench"

    def bench(
        self,
        config: BenchConfig,
        *,
        on_event: EventCallback | None = None,
        out_dir: Path | None = None,
        baseline: BenchResults | None = None,
        baseline_label: str = "baseline",
        resume_from: BenchResults | None = None,
    ) -> BenchRunner:
        """A benchmark runner (not started) on this session's backend, with its lifecycle and sampler, so a
        benchmark's loads get the same markers and bookkeeping as any other load. Unknown model names are bad
        input (exit 2), found here before anything is measured. `resume_from`: an interrupted run to finish. The
        endpoints it opens are closed when it finishes or the session closes; its counters are the runner's."""
        run = self._runs.enter_context(contextlib.ExitStack())
        try:
            given = load_tokenizer(config.tokenizer) if config.tokenizer else None  # parsed once for the run
            backend = self._run_backend(config, run)
            for name in config.models:
                backend.resolve(name)
            return BenchRunner(
                backend,
                config,
                on_event=_closing_after(run, on_event),
                lifecycle=self.lifecycle,
                out_dir=out_dir,
                baseline=baseline,
                baseline_label=baseline_label,
                token_counter=self._token_counter(config, given),
                resume_from=resume_from,
                prompt_counter=functools.partial(self.prompt_counter_for, tokenizer=given),
            )
        except BaseException:
            run.close()
            raise

    def _run_backend(self, config: BenchConfig, run: contextlib.ExitStack) -> Backend:
        """This session's backend, or with `URL#MODEL` names a RoutingBackend, which the lifecycle loads through
        while the run lasts (it hands every other id on unchanged)."""
        if not any(split_model_id(name)[0] for name in config.models):
            return self.backend
        routing = RoutingBackend(self.backend, self.settings)
        self.lifecycle.backend = routing
        run.callback(routing.close)
        run.callback(setattr, self.lifecycle, "backend", self.backend)  # first (last in, first out)
        return routing

    def _token_counter(self, config: BenchConfig, given: TokenCounter | None) -> CounterFor | None:
        """What counts answer tokens when a server sends no usage: --tokenizer (`given`), else the tokenize route of
        the model's server (probed once per model, when the first answer without usage arrives). In-process counts
        are exact."""
        if given is not None:
            return lambda model: given
        if not self.settings.endpoint and not any(split_model_id(name)[0] for name in config.models):
            return None
        return functools.partial(server_counter, self.settings)

    def prompt_counter_for(
        self, model_id: str, entry: ModelEntry | None = None, *, tokenizer: str | TokenCounter | None = None
    ) -> TokenCounter | None:
        """What counts prompt tokens as `model_id` does, for generated prompts of exact length (None: approximate).
        In-process: the tokenizer.json in the model's directory (`entry.path`), else `tokenizer`. An endpoint's
        model (`URL#MODEL`, or any with --endpoint): `tokenizer` (--tokenizer: a path, or loaded once for a run),
        else its server's tokenize route."""
        if not self.settings.endpoint and split_model_id(model_id)[0] is None:
            with contextlib.suppress(FoundryTuiError):  # not found, or no tokenizer.json there: the fallback
                entry = entry or self.resolve(model_id)
                if entry.path:
                    return load_tokenizer(entry.path)
        if isinstance(tokenizer, str):
            tokenizer = load_tokenizer(tokenizer)
        return tokenizer if tokenizer is not None else server_counter(self.settings, model_id)

    def bench_models(self) -> tuple[str, ...]:
        """What to benchmark when nobody said: every cached chat model (in-process), every served one (endpoint)."""
        snapshot = self.snapshot()
        if snapshot.cached is None:  # an endpoint without management routes: what it serves
            entries = [m for m in self.models().all_models() if m.cached]
        else:
            entries = list(snapshot.cached)
        ids = tuple(dict.fromkeys(e.id for e in entries if (e.task or "chat-completion") == "chat-completion"))
        if not ids:
            raise BadInputError("no models to benchmark: pass --models a,b (or set BENCH_MODELS)")
        return ids

    # -- import ------------------------------------------------------------------------------------------------

    def import_model(
        self,
        source: str | Path | None,
        *,
        demo: bool = False,
        precision: str = "int8",
        model_id: str | None = None,
        display_name: str | None = None,
        force: bool = False,
        progress: Callable[[Stage], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ImportResult:
        """Convert a GGUF file or a Hugging Face dir (or the bundled demo) and register it with the in-process
        runtime. Raises BadInputError for an endpoint session or a missing source."""
        if self.settings.endpoint:
            raise BadInputError(
                "import registers models with the in-process Foundry Local runtime; it cannot use an endpoint "
                f"(--endpoint / FOUNDRY_LOCAL_ENDPOINT is set to {self.settings.endpoint})"
            )
        if demo:
            if source:
                raise BadInputError("give SOURCE or --demo, not both")
            source = demo_gguf()
            display_name = display_name or f"{DEMO_DISPLAY_NAME} ({precision})"
        elif not source or not str(source).strip():
            raise BadInputError("give SOURCE (a .gguf file or a Hugging Face model directory), or --demo")
        return import_model(
            Path(str(source).strip()),
            model_id=model_id,
            precision=precision,
            display_name=display_name,
            force=force,
            settings=self.settings,
            backend=self.backend,
            progress=progress or (lambda stage: None),
            cancel=cancel,
        )


def _closing_after(run: contextlib.ExitStack, on_event: EventCallback | None) -> EventCallback:
    """`on_event`, then `run` closed once the runner finished (BenchFinished is its last event)."""

    def relay(event: BenchEvent) -> None:
        try:
            if on_event is not None:
                on_event(event)
        finally:
            if isinstance(event, BenchFinished):
                run.close()

    return relay


def _optional(fn: Callable[[], list[ModelEntry]]) -> tuple[ModelEntry, ...] | None:
    """A listing the backend may not support (a plain endpoint has no cache): None instead of an error."""
    try:
        return tuple(fn())
    except NotSupportedError:
        return None


__all__ = ["Session", "watched_sampler"]

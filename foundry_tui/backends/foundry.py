"""The in-process Foundry Local runtime (foundry-local-sdk v2) behind the Backend protocol.

Facts this code relies on (measured, see the project notes): one manager per process; the PUBLIC catalog needs
the network and, offline, returns [] after ~4 s of retries without raising; the LOCAL catalog holds registered
model dirs; every chat request must carry max_output_tokens; a session that has streamed must not be used for
a non-streamed request (it hangs), so every request here gets its own streaming session.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import difflib
import threading
import time
from pathlib import Path
from typing import Any

from foundry_tui.backends.base import (
    BackendInfo,
    CatalogListing,
    ChatMessage,
    ChatOptions,
    DownloadProgress,
    EpProgressCallback,
    EpRegistration,
    ExecutionProvider,
    ModelEntry,
    ProgressCallback,
    Source,
)
from foundry_tui.backends.cache_scan import remove_empty_dirs, scan_cache
from foundry_tui.backends.catalog_reach import DEFAULT_CATALOG_URL, probe_catalog
from foundry_tui.backends.download_probe import probe_download
from foundry_tui.backends.foundry_chat import FoundryChatStream
from foundry_tui.backends.foundry_errors import (
    CANCELLED,
    download_error,
    map_sdk_error,
    needs_probe,
    strip_native_prefix,
)
from foundry_tui.backends.foundry_logs import catalog_failure_from_logs, log_lines_since
from foundry_tui.backends.genai_config import read_genai_config
from foundry_tui.backends.local_models import (
    CHAT_TASKS,
    validate_model_dir,
    validate_model_id,
    validate_task,
)
from foundry_tui.config import Settings
from foundry_tui.errors import BackendError, BadInputError, ModelNotFoundError, one_line
from foundry_tui.files import dir_size_bytes

APP_NAME = "foundry-tui"


class FoundryBackend:
    """One per process: the SDK's manager is a process-wide singleton."""

    def __init__(self, settings: Settings) -> None:
        import foundry_local_sdk as fl

        self._fl = fl
        self._settings = settings
        for directory in (settings.foundry_app_dir, settings.model_cache_dir, settings.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        if fl.FoundryLocalManager.instance is not None:
            raise BackendError("the Foundry Local runtime is already open in this process", kind="invalid_usage")
        config = fl.Configuration(
            app_name=APP_NAME,
            app_data_dir=str(settings.foundry_app_dir),
            model_cache_dir=str(settings.model_cache_dir),
            logs_dir=str(settings.logs_dir),
            log_level=fl.LogLevel.WARNING,
            catalog_urls=[(settings.catalog_url, None)] if settings.catalog_url else None,
            catalog_region=settings.catalog_region,
        )
        try:
            fl.FoundryLocalManager.initialize(config)
        except Exception as exc:
            raise map_sdk_error(exc, "start the Foundry Local runtime") from None
        manager = fl.FoundryLocalManager.instance
        assert manager is not None
        self._manager: Any = manager
        self._public: Any = manager.get_catalog(fl.CatalogType.PUBLIC)
        self._local: Any = manager.get_catalog(fl.CatalogType.LOCAL)
        self._catalog_lock: threading.Lock = threading.Lock()
        self._catalog_future: concurrent.futures.Future[CatalogListing] | None = None
        # Offline, the runtime's first public call of the process waits ~4 s for the catalog; after that every
        # public call is quick. Until then an unreachable catalog means: answer from the disk, not the runtime.
        self._catalog_host_down: bool = False
        self._runtime_tried_catalog: bool = False

    # -- description ---------------------------------------------------------------------------------------

    def info(self) -> BackendInfo:
        return BackendInfo(
            kind="foundry-local",
            label=f"Foundry Local {self._fl.__version__} (in-process)",
            runtime_version=self._fl.__version__,
            management=True,
            details={
                "cache_dir": str(self._settings.model_cache_dir),
                "import_dir": str(self._settings.data_dir / "models"),
                "logs_dir": str(self._settings.logs_dir),
            },
        )

    # -- catalog -------------------------------------------------------------------------------------------

    def start_catalog_fetch(self, *, refresh: bool = False) -> concurrent.futures.Future[CatalogListing]:
        """Fetch the public catalog on a background thread (it can take seconds, ~4 s offline)."""
        with self._catalog_lock:
            if self._catalog_future is None or (refresh and self._catalog_future.done()):
                future: concurrent.futures.Future[CatalogListing] = concurrent.futures.Future()
                thread = threading.Thread(
                    target=self._fetch_public, args=(future,), name="foundry-catalog", daemon=True
                )
                self._catalog_future = future
                thread.start()
            return self._catalog_future

    @property
    def _cache_dir(self) -> Path:
        return self._settings.model_cache_dir

    @property
    def catalog_url(self) -> str:
        return self._settings.catalog_url or DEFAULT_CATALOG_URL

    def _fetch_public(self, future: concurrent.futures.Future[CatalogListing]) -> None:
        url = self.catalog_url
        down = probe_catalog(url)
        if down is not None:
            self._catalog_host_down = True
            future.set_result(CatalogListing((), "unreachable", down, url=url))
            return
        self._catalog_host_down = False
        started = time.time()
        try:
            models = self._public.list_models()
            self._runtime_tried_catalog = True
            entries = tuple(entry for model in models for entry in self._variant_entries(model, "public"))
        except Exception as exc:
            reason = one_line(strip_native_prefix(str(exc)))
            future.set_result(CatalogListing((), "unreachable", reason, url=url))
            return
        if all(e.cached for e in entries):
            # A failed fetch is logged and answered with the models already on disk: "unreachable", not "empty".
            failure = self._catalog_failure_reason(started, required=not entries)
            if failure is not None:
                future.set_result(CatalogListing(entries, "unreachable", failure, url=url))
                return
        future.set_result(CatalogListing(entries, "ok", url=url))

    def _catalog_failure_reason(self, since: float, *, required: bool) -> str | None:
        """The runtime's logged reason for a failed fetch; without one, a generic reason when `required`."""
        fallback = "the public catalog returned no models (offline, or blocked by a proxy or firewall?)"
        # The native logger writes asynchronously; give the line a moment to reach the file.
        for _ in range(5):
            reason = catalog_failure_from_logs(self._settings.logs_dir, since)
            if reason:
                return reason
            time.sleep(0.1)
        return fallback if required else None

    def list_catalog(self, *, refresh: bool = False) -> CatalogListing:
        public = self.start_catalog_fetch(refresh=refresh).result()
        local = tuple(self.list_local())
        return dataclasses.replace(public, models=local + public.models)

    def list_local(self) -> list[ModelEntry]:
        return [
            entry
            for model in self._call(self._local.list_models, "list local models")
            for entry in self._variant_entries(model, "local")
        ]

    def list_cached(self) -> list[ModelEntry]:
        if self._answer_from_disk():
            return scan_cache(self._cache_dir) + self.list_local()
        public = self._public_models(self._public.get_cached_models, "list cached models")
        return [self._cached_entry(m) for m in public] + self.list_local()

    def _cached_entry(self, model: Any) -> ModelEntry:
        entry = self._entry(model, "public")
        if self._catalog_host_down:
            return entry
        try:
            latest = self._public.get_latest_version(model).info.version
        except (self._fl.FoundryLocalException, RuntimeError):
            return entry  # not in the catalog (any more): nothing to compare with
        return dataclasses.replace(entry, latest_version=int(latest))

    def _answer_from_disk(self) -> bool:
        """The catalog host is down and the runtime has not made (and waited through) its own attempt yet."""
        future = self._catalog_future
        return future is not None and future.done() and self._catalog_host_down and not self._runtime_tried_catalog

    def list_loaded(self) -> list[ModelEntry]:
        # Nothing public can be loaded before the runtime has tried the catalog once.
        public = (
            []
            if self._answer_from_disk()
            else self._public_models(self._public.get_loaded_models, "list loaded models")
        )
        local = self._call(self._local.get_loaded_models, "list loaded models")
        return [self._entry(m, "public") for m in public] + [self._entry(m, "local") for m in local]

    def _public_models(self, call: Any, action: str) -> list[Any]:
        """Public cached / loaded models, or none while the catalog is still being fetched: the SDK fetches it
        inside these calls (~4 s offline), which would hold back the local models a first frame lists. Nothing
        public can be loaded before the catalog arrives, and the lists are asked again once it has."""
        future = self.start_catalog_fetch()
        if not future.done():
            return []
        return list(self._public_call(call, action))

    def _public_call(self, fn: Any, action: str) -> Any:
        """A call into the public catalog. The runtime fetches the catalog inside the first one of a process (~4 s
        of retries offline); after it returns, public calls are quick even offline."""
        result = self._call(fn, action)
        self._runtime_tried_catalog = True
        return result

    def resolve(self, model: str) -> ModelEntry:
        found, source = self._find(model)
        return self._entry(found, source)

    # -- local models --------------------------------------------------------------------------------------

    def register_model(
        self, path: str, model_id: str, *, task: str = "chat-completion", display_name: str | None = None
    ) -> ModelEntry:
        validate_model_id(model_id)
        validate_task(task)
        directory = validate_model_dir(path)
        fl = self._fl
        try:
            with fl.ModelInfoBuilder() as metadata:
                metadata.set_string_property("task", task)
                if display_name:
                    metadata.set_string_property("display_name", display_name)
                model = self._local.register_model(model_path=str(directory), model_id=model_id, metadata=metadata)
        except fl.FoundryLocalException as exc:
            if "already registered" in str(exc).lower():
                raise BadInputError(
                    f"model id {model_id} is already registered; unregister it first or pick another version"
                ) from None
            raise map_sdk_error(exc, f"register {directory}") from None
        return self._entry(model, "local")

    def unregister_model(self, model_id: str) -> None:
        model = self._local_model(model_id)
        if model is None:
            known = ", ".join(sorted(m.id for m in self._local.list_models())) or "none"
            raise ModelNotFoundError(f"no registered local model {model_id!r} (registered: {known})")
        if model.is_loaded:
            self._call(model.unload, f"unload {model.id}")
        self._call(lambda: self._local.unregister_model(model.id), f"unregister {model.id}")

    # -- cache ---------------------------------------------------------------------------------------------

    def download(
        self, model: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> ModelEntry:
        found, source = self._find(model)
        if source == "local":
            raise BadInputError(f"{found.id} is a registered local model: its files are already on disk")
        size = found.info.file_size_mb

        def on_progress(percent: float) -> None:
            if progress is not None:
                progress(DownloadProgress(percent=percent, total_mb=size))

        started = time.time()
        try:
            found.download(progress_callback=on_progress, cancel_event=cancel)
        except self._fl.FoundryLocalException as exc:
            if getattr(exc, "error_code", 0) == CANCELLED or (cancel is not None and cancel.is_set()):
                raise map_sdk_error(exc, f"download {found.id}") from None
            time.sleep(0.2)  # the native logger writes asynchronously
            logged = "\n".join(log_lines_since(self._settings.logs_dir, started))
            finding = (
                probe_download(found.info.uri, self._settings.catalog_region) if needs_probe(exc, logged) else None
            )
            raise download_error(exc, found.id, logged, finding) from None
        return self._entry(found, source)

    def model_versions(self, model: str) -> list[ModelEntry]:
        """Every catalog version of the variant `model` names (an alias: the variant it picks here), newest first."""
        found, source = self._find(model)
        if source == "local":
            return [self._entry(found, source)]
        name = found.info.name
        versions = self._public_call(
            lambda: self._public.get_model_versions(found.alias, name, 0), f"list versions of {name}"
        )
        entries = [self._entry(v, "public") for v in versions]
        return sorted(entries, key=lambda e: -(e.version or 0))

    def remove_from_cache(self, model: str) -> None:
        found, source = self._find(model)
        if source == "local":
            raise BadInputError(
                f"{found.id} is a registered local model: unregister it instead (its files are not in the cache)"
            )
        if found.is_loaded:
            self._call(found.unload, f"unload {found.id}")
        path = self._call(found.get_path, f"find {found.id} on disk") if found.is_cached else ""
        self._call(found.remove_from_cache, f"remove {found.id} from the cache")
        if path:
            remove_empty_dirs(Path(path), self._settings.model_cache_dir)

    # -- execution providers -------------------------------------------------------------------------------

    def execution_providers(self) -> list[ExecutionProvider]:
        eps = self._call(self._manager.discover_eps, "discover execution providers")
        return [ExecutionProvider(ep.name, bool(ep.is_registered)) for ep in eps]

    def register_execution_providers(
        self, names: list[str] | None, progress: EpProgressCallback | None = None
    ) -> EpRegistration:
        result = self._call(
            lambda: self._manager.download_and_register_eps(names or None, progress),
            "download and register execution providers",
        )
        return EpRegistration(tuple(result.registered_eps), tuple(result.failed_eps))

    # -- load / unload -------------------------------------------------------------------------------------

    def load(self, model: str) -> ModelEntry:
        found, source = self._find(model)
        if not found.is_cached:
            raise BadInputError(f"{found.id} is not downloaded yet: download it first")
        self._call(found.load, f"load {found.id}")
        return self._entry(found, source)

    def unload(self, model: str) -> None:
        found, _ = self._find(model)
        self._call(found.unload, f"unload {found.id}")

    # -- chat ----------------------------------------------------------------------------------------------

    def stream_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> FoundryChatStream:
        found, _ = self._find(model)
        task = found.info.task
        if task not in CHAT_TASKS:
            raise BadInputError(f"{found.id} is a {task or 'non-chat'} model, not a chat model")
        if not messages:
            raise BadInputError("a chat needs at least one message")
        return FoundryChatStream(self._fl, found, found.id, messages, options)

    def close(self) -> None:
        manager = self._manager
        if manager is not None:
            self._manager = None
            manager.close()

    # -- internals -----------------------------------------------------------------------------------------

    def _call(self, fn: Any, action: str) -> Any:
        try:
            return fn()
        except self._fl.FoundryLocalException as exc:
            raise map_sdk_error(exc, action) from None
        except RuntimeError as exc:  # the SDK raises RuntimeError once the manager is closed
            raise BackendError(f"{action}: {one_line(str(exc))}", kind="runtime") from None

    def _local_model(self, name: str) -> Any:
        model = self._call(lambda: self._local.get_model(name), f"look up {name}")
        if model is None and ":" in name:
            model = self._call(lambda: self._local.get_model_variant(name), f"look up {name}")
        return model

    def _find(self, name: str) -> tuple[Any, Source]:
        """Local registrations first, then the public cache (no network), then the public catalog."""
        name = name.strip()
        if not name:
            raise BadInputError("model name is empty")
        local = self._local_model(name)
        if local is not None:
            return local, "local"
        # Offline, the runtime's first public call waits ~4 s: only pay that for a model that is on disk.
        listing = self.start_catalog_fetch().result()
        if self._answer_from_disk() and not any(name in (e.id, e.alias) for e in scan_cache(self._cache_dir)):
            raise ModelNotFoundError(f"{self._not_found_message(name)}; the public catalog is unreachable")
        for cached in self._public_call(self._public.get_cached_models, "list cached models"):
            if name in (cached.id, cached.alias):
                return cached, "public"
        if listing.state != "unreachable":
            getter = self._public.get_model_variant if ":" in name else self._public.get_model
            found = self._call(lambda: getter(name), f"look up {name}")
            if found is not None:
                return found, "public"
        raise ModelNotFoundError(self._not_found_message(name))

    def _not_found_message(self, name: str) -> str:
        known: set[str] = set()
        for model in self._local.list_models():
            known.update((model.alias, model.id))
        cached = (
            scan_cache(self._cache_dir)
            if self._answer_from_disk()
            else self._public_call(self._public.get_cached_models, "list cached models")
        )
        for model in cached:
            known.update((model.alias, model.id))
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        listing = f" (local and cached models: {', '.join(sorted(known))})" if known and not close else ""
        return f"no model {name!r} in the local catalog or the model cache{hint}{listing}"

    def _variant_entries(self, model: Any, source: Source) -> list[ModelEntry]:
        """Every variant of an alias-level model; the one the runtime selected for this machine is `selected`."""
        variants = model.variants or [model]
        ids = tuple(v.id for v in variants)
        picked = model.id if source == "public" else None  # a registered model is its own only variant
        return [dataclasses.replace(self._entry(v, source, ids), selected=v.id == picked) for v in variants]

    def _entry(self, model: Any, source: Source, variant_ids: tuple[str, ...] | None = None) -> ModelEntry:
        info = model.info
        runtime = info.runtime
        cached = bool(model.is_cached)
        path = None
        if cached:
            try:
                path = model.get_path() or None
            except self._fl.FoundryLocalException:
                path = None
        if variant_ids is None:
            try:
                variant_ids = tuple(v.id for v in model.variants)
            except self._fl.FoundryLocalException:
                variant_ids = (info.id,)
        device = str(runtime.device_type) if runtime and runtime.device_type else None
        provider = (runtime.execution_provider or None) if runtime else None
        config = read_genai_config(path, scan_model=False) if path and not (device and provider) else None
        if config is not None:  # a registered (BYOM) model has no runtime info: its genai_config names the provider
            device, provider = device or config.device, provider or config.execution_provider
        return ModelEntry(
            id=info.id,
            alias=info.alias,
            source=source,
            display_name=info.display_name,
            variants=variant_ids,
            device=device,
            execution_provider=provider,
            size_mb=_size_mb(info.file_size_mb, path, source),
            license=info.license,
            task=info.task,
            context_length=info.context_length,
            max_output_tokens=info.max_output_tokens,
            supports_tool_calling=info.supports_tool_calling,
            publisher=info.publisher,
            version=info.version,
            cached=cached,
            loaded=bool(model.is_loaded),
            path=path,
            license_description=info.license_description or None,
            capabilities=info.capabilities or None,
            input_modalities=info.input_modalities or None,
            output_modalities=info.output_modalities or None,
        )


def _size_mb(catalog_mb: int | None, path: str | None, source: Source) -> int | None:
    """The catalog's size (whole MiB, rounded down: a small model says 0), else what is on disk; a cached model's
    files are measured when the catalog rounds them to 0."""
    if catalog_mb:
        return catalog_mb
    on_disk = _dir_size_mb(path) if path else None
    if on_disk is not None:
        return on_disk
    return catalog_mb if source == "public" else None


def _dir_size_mb(path: str) -> int | None:
    total = dir_size_bytes(path)
    return None if total is None else max(1, round(total / 1_048_576))


__all__ = ["FoundryBackend", "FoundryChatStream", "catalog_failure_from_logs"]

"""The in-process Foundry Local runtime (foundry-local-sdk v2) behind the Backend protocol.

Facts this code relies on (measured, see the project notes): one manager per process; the PUBLIC catalog needs
the network and, offline, returns [] after ~4 s of retries without raising; the LOCAL catalog holds registered
model dirs; every chat request must carry max_output_tokens; a session that has streamed must not be used for
a non-streamed request (it hangs), so every request here gets its own streaming session.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import difflib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from foundry_tui.backends.base import (
    BackendInfo,
    CatalogListing,
    ChatMessage,
    ChatOptions,
    DoneEvent,
    DownloadProgress,
    ErrorEvent,
    ModelEntry,
    ProgressCallback,
    Source,
    StreamEvent,
    TokenEvent,
    Usage,
)
from foundry_tui.backends.foundry_errors import CANCELLED, map_sdk_error, strip_native_prefix
from foundry_tui.backends.genai_config import read_genai_config
from foundry_tui.backends.local_models import (
    CHAT_TASKS,
    validate_model_dir,
    validate_model_id,
    validate_task,
)
from foundry_tui.config import Settings
from foundry_tui.errors import BackendError, BadInputError, ModelNotFoundError, one_line

APP_NAME = "foundry-tui"
_FINISH = {0: "unknown", 1: "error", 2: "stop", 3: "length", 4: "tool_calls"}


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

    def _fetch_public(self, future: concurrent.futures.Future[CatalogListing]) -> None:
        started = time.time()
        try:
            models = self._public.list_models()
            entries = tuple(entry for model in models for entry in self._variant_entries(model, "public"))
        except Exception as exc:
            future.set_result(CatalogListing((), "unreachable", one_line(strip_native_prefix(str(exc)))))
            return
        if not entries:
            # Offline the runtime logs the failure and returns an empty list: that is "unreachable", not "empty".
            future.set_result(CatalogListing((), "unreachable", self._catalog_failure_reason(started)))
            return
        future.set_result(CatalogListing(entries, "ok"))

    def _catalog_failure_reason(self, since: float) -> str:
        fallback = "the public catalog returned no models (offline, or blocked by a proxy or firewall?)"
        # The native logger writes asynchronously; give the line a moment to reach the file.
        for _ in range(5):
            reason = catalog_failure_from_logs(self._settings.logs_dir, since)
            if reason:
                return reason
            time.sleep(0.1)
        return fallback

    def list_catalog(self, *, refresh: bool = False) -> CatalogListing:
        public = self.start_catalog_fetch(refresh=refresh).result()
        local = tuple(self.list_local())
        return CatalogListing(local + public.models, public.state, public.reason)

    def list_local(self) -> list[ModelEntry]:
        return [
            entry
            for model in self._call(self._local.list_models, "list local models")
            for entry in self._variant_entries(model, "local")
        ]

    def list_cached(self) -> list[ModelEntry]:
        public = self._public_models(self._public.get_cached_models, "list cached models")
        return [self._entry(m, "public") for m in public] + self.list_local()

    def list_loaded(self) -> list[ModelEntry]:
        public = self._public_models(self._public.get_loaded_models, "list loaded models")
        local = self._call(self._local.get_loaded_models, "list loaded models")
        return [self._entry(m, "public") for m in public] + [self._entry(m, "local") for m in local]

    def _public_models(self, call: Any, action: str) -> list[Any]:
        """Public cached / loaded models, or none while the catalog is still being fetched: the SDK fetches it
        inside these calls (~4 s offline), which would hold back the local models a first frame lists. Nothing
        public can be loaded before the catalog arrives, and the lists are asked again once it has."""
        future = self.start_catalog_fetch()
        if not future.done():
            return []
        return list(self._call(call, action))

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

        self._call(lambda: found.download(progress_callback=on_progress, cancel_event=cancel), f"download {found.id}")
        return self._entry(found, source)

    def remove_from_cache(self, model: str) -> None:
        found, source = self._find(model)
        if source == "local":
            raise BadInputError(
                f"{found.id} is a registered local model: unregister it instead (its files are not in the cache)"
            )
        if found.is_loaded:
            self._call(found.unload, f"unload {found.id}")
        self._call(found.remove_from_cache, f"remove {found.id} from the cache")

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
        for cached in self._call(self._public.get_cached_models, "list cached models"):
            if name in (cached.id, cached.alias):
                return cached, "public"
        public_state = None
        future = self._catalog_future
        if future is not None and future.done():
            public_state = future.result().state
        if public_state != "unreachable":
            getter = self._public.get_model_variant if ":" in name else self._public.get_model
            found = self._call(lambda: getter(name), f"look up {name}")
            if found is not None:
                return found, "public"
        raise ModelNotFoundError(self._not_found_message(name))

    def _not_found_message(self, name: str) -> str:
        known: set[str] = set()
        for model in self._local.list_models():
            known.update((model.alias, model.id))
        for model in self._public.get_cached_models():
            known.update((model.alias, model.id))
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        listing = f" (local and cached models: {', '.join(sorted(known))})" if known and not close else ""
        return f"no model {name!r} in the local catalog or the model cache{hint}{listing}"

    def _variant_entries(self, model: Any, source: Source) -> list[ModelEntry]:
        variants = model.variants or [model]
        ids = tuple(v.id for v in variants)
        return [self._entry(v, source, ids) for v in variants]

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
            size_mb=info.file_size_mb if info.file_size_mb else _dir_size_mb(path) if source == "local" else None,
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
        )


class FoundryChatStream:
    """One streamed request on its own ChatSession; the full message list goes into one Request."""

    def __init__(self, fl: Any, model: Any, model_id: str, messages: list[ChatMessage], options: ChatOptions) -> None:
        self._fl = fl
        self._model = model
        self.model_id = model_id
        self._messages = messages
        self._options = options
        self._cancelled = threading.Event()
        self._request: Any = None
        self.t_sent_ns = 0
        self.max_tokens_used = options.max_tokens  # lower when the context cannot hold prompt + max tokens

    def cancel(self) -> None:
        self._cancelled.set()
        request = self._request
        if request is not None:
            # The request may be closing right now; the flag still ends the stream.
            with contextlib.suppress(Exception):
                request.cancel()

    def __iter__(self) -> Iterator[StreamEvent]:
        fl = self._fl
        self.t_sent_ns = time.perf_counter_ns()  # restamped right before the request is processed
        roles = {"system": fl.MessageRole.SYSTEM, "user": fl.MessageRole.USER, "assistant": fl.MessageRole.ASSISTANT}
        search = fl.SearchOptions(
            temperature=self._options.temperature,
            max_output_tokens=self._options.max_tokens,
            top_p=self._options.top_p,
            seed=self._options.seed,
        )
        try:
            session = fl.ChatSession(self._model)
        except (fl.FoundryLocalException, RuntimeError, ValueError) as exc:
            yield ErrorEvent(time.perf_counter_ns(), one_line(strip_native_prefix(str(exc))), "runtime")
            return
        with session, fl.Request() as request:
            try:
                session.set_options(fl.RequestOptions(search=search))
                session.set_streaming(True)
                for message in self._messages:
                    request.add_item(fl.MessageItem(roles[message.role], message.content))
                problem = self._fit_output_budget(session, request, search)
            except fl.FoundryLocalException as exc:
                yield ErrorEvent(time.perf_counter_ns(), str(map_sdk_error(exc, "prepare request")), "runtime")
                return
            if problem:
                yield ErrorEvent(time.perf_counter_ns(), problem, "runtime")
                return
            self._request = request
            if self._cancelled.is_set():
                yield DoneEvent(time.perf_counter_ns(), "cancelled")
                return
            yield from self._run(session, request)
            self._request = None

    def _fit_output_budget(self, session: Any, request: Any, search: Any) -> str | None:
        """Clamp max tokens to the room the context leaves; the runtime rejects prompt + max > context outright.

        Returns a message when even one output token does not fit.
        """
        budget = session.preflight_request(request)
        self.max_tokens_used = search.max_output_tokens
        if budget.fits:
            return None
        room = budget.context_limit_tokens - budget.prompt_tokens
        if room < 1:
            return (
                f"the prompt is {budget.prompt_tokens} tokens, which fills the model's context of "
                f"{budget.context_limit_tokens} tokens"
            )
        search.max_output_tokens = room
        self.max_tokens_used = room
        session.set_options(self._fl.RequestOptions(search=search))
        return None

    def _run(self, session: Any, request: Any) -> Iterator[StreamEvent]:
        fl = self._fl
        reasoning = fl.TextItemType.REASONING
        self.t_sent_ns = time.perf_counter_ns()
        try:
            stream = session.process_streaming_request(request)
            for item in stream:
                t_ns = time.perf_counter_ns()
                if isinstance(item, fl.TextItem) and item.text:
                    yield TokenEvent(item.text, t_ns, 1, reasoning=item.type == reasoning)
            with stream.final_response as final:
                finish = _FINISH.get(int(final.finish_reason), "unknown")
                raw = final.get_usage()
            usage = Usage(raw.prompt_tokens, raw.completion_tokens, raw.total_tokens)
            if self._cancelled.is_set():
                yield DoneEvent(time.perf_counter_ns(), "cancelled", usage)
            elif finish == "error":
                yield ErrorEvent(time.perf_counter_ns(), "the runtime ended the response with an error", "runtime")
            else:
                yield DoneEvent(time.perf_counter_ns(), finish, usage)
        except fl.FoundryLocalException as exc:
            if self._cancelled.is_set() or getattr(exc, "error_code", 0) == CANCELLED:
                yield DoneEvent(time.perf_counter_ns(), "cancelled")
            else:
                yield ErrorEvent(time.perf_counter_ns(), str(map_sdk_error(exc, "chat")), "runtime")


_CATALOG_FAILURE = re.compile(r"failed to fetch catalog from (?P<url>\S+?):\s(?P<rest>.*)")
_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def catalog_failure_from_logs(logs_dir: Path, since: float) -> str | None:
    """The runtime's last 'failed to fetch catalog' log line written after `since`, as a short reason."""
    try:
        files = sorted(logs_dir.glob("foundry_local_*.log"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    if not files:
        return None
    try:
        with files[-1].open("rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 65536))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    cutoff = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since - 1))
    for line in reversed(lines):
        match = _CATALOG_FAILURE.search(line)
        if not match:
            continue
        stamp = _LOG_TIME.match(line)
        if stamp and stamp.group(1) < cutoff:
            return None
        rest = strip_native_prefix(match.group("rest"))
        # "… operation failed after 4 attempts: transport failure: transport error: <the actual cause>"
        cause = rest.rsplit("transport error: ", 1)[-1] if "transport error: " in rest else rest
        return one_line(f"cannot reach {match.group('url')}: {cause}", 300)
    return None


def _dir_size_mb(path: str | None) -> int | None:
    if not path:
        return None
    root = Path(path)
    try:
        total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    except OSError:
        return None
    return max(1, round(total / 1_048_576))

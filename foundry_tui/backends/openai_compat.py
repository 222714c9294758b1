"""Any OpenAI-compatible endpoint (a Foundry Local service, Ollama, llama.cpp, vLLM) behind the Backend protocol.

Non-streamed chat goes through the `openai` client. Streamed chat is one plain POST on the same HTTP client, read
and parsed by endpoint_stream: the openai client's request building and response wrapping (~1.5 ms before the send
and ~0.1 ms, more on a process's first request, between the response headers and the first piece) are not needed
for a stream whose SSE lines we parse ourselves, and the second would sit inside TTFT.

Foundry Local services also expose management routes; two families exist (`/openai/*` on older services,
`/models/*` on newer ones) and whichever answers is used. Servers without them report management actions as
"not supported by this endpoint".
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
import time
from contextlib import ExitStack
from typing import Any, Literal
from urllib.parse import quote

import httpx2 as httpx
import openai

from foundry_tui.backends.base import (
    BackendInfo,
    CatalogListing,
    ChatMessage,
    ChatOptions,
    Completion,
    DownloadProgress,
    ModelEntry,
    ProgressCallback,
    Usage,
)
from foundry_tui.backends.endpoint_stream import (
    CannedNetwork,
    EndpointChatStream,
    StreamRejected,
    Wire,
    api_error_text,
    cause,
    read_backstop_s,
    wire_http_client,
)
from foundry_tui.config import Settings
from foundry_tui.errors import BackendError, CancelledError, ModelNotFoundError, NotSupportedError, one_line

Family = Literal["openai", "models"]
PRIME_ROUNDS = 10  # CPython specializes a code object's bytecode after it ran a few times
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def api_root(endpoint: str) -> str:
    """'http://h:5273/v1/' → 'http://h:5273': management routes live beside /v1, not under it."""
    root = endpoint.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


class EndpointBackend:
    def __init__(self, settings: Settings) -> None:
        if not settings.endpoint:
            raise ValueError("EndpointBackend needs settings.endpoint")
        self._settings = settings
        self.root = api_root(settings.endpoint)
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._http = httpx.Client(
            base_url=self.root, headers=headers, timeout=httpx.Timeout(settings.request_timeout_s, connect=5.0)
        )
        backstop = read_backstop_s(settings.first_token_timeout_s, settings.stall_timeout_s)
        timeout = httpx.Timeout(settings.request_timeout_s, connect=5.0, read=backstop)
        # Chat requests, streamed or not: stamps the send where the bytes go out (endpoint_stream.Wire).
        self._chat_http = wire_http_client(timeout)
        self._chat_url = self.root + "/v1/chat/completions"
        self._chat_headers = {"Authorization": f"Bearer {settings.api_key or 'not-needed'}"}
        self._client = openai.OpenAI(
            base_url=self.root + "/v1",
            api_key=settings.api_key or "not-needed",
            max_retries=0,  # a retry would hide the failure and skew timings
            timeout=timeout,
            http_client=self._chat_http,
        )
        self._completions: Any = None
        self._family: Family | None = None
        self._family_probed = False
        self._probe_lock = threading.Lock()
        self.include_usage = True  # switched off for servers that reject stream_options
        self._prime_streams(timeout)

    # -- description ---------------------------------------------------------------------------------------

    def info(self) -> BackendInfo:
        family = self._management_family()
        label = "Foundry Local service" if family else "OpenAI-compatible endpoint"
        return BackendInfo(
            kind="endpoint",
            label=f"{label} at {self.root}",
            endpoint=self.root,
            management=family is not None,
            details={"routes": f"/{family}/*" if family else "none"},
        )

    def _management_family(self) -> Family | None:
        with self._probe_lock:
            if not self._family_probed:
                self._family = self._probe_family()
                self._family_probed = True
            return self._family

    def _probe_family(self) -> Family | None:
        for family, path in (("openai", "/openai/loadedmodels"), ("models", "/models/loaded")):
            try:
                response = self._http.get(path, timeout=5.0)
                if response.status_code == 200 and isinstance(response.json(), list | dict):
                    return family  # type: ignore[return-value]
            except (httpx.HTTPError, ValueError):
                continue
        return None

    def _require_management(self, action: str) -> Family:
        family = self._management_family()
        if family is None:
            raise NotSupportedError(
                f"{action} is not supported by this endpoint ({self.root} has no management routes)"
            )
        return family

    # -- HTTP helpers --------------------------------------------------------------------------------------

    def _get_json(self, path: str, action: str) -> Any:
        try:
            response = self._http.get(path)
        except httpx.HTTPError as exc:
            raise BackendError(
                f"{action}: cannot reach {self.root}: {one_line(str(exc)) or type(exc).__name__}", kind="network"
            ) from None
        if response.status_code >= 400:
            raise BackendError(
                f"{action}: HTTP {response.status_code} from {self.root}{path}: {_error_text(response)}", kind="http"
            )
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"{action}: {self.root}{path} did not answer with JSON", kind="malformed") from None

    # -- catalog -------------------------------------------------------------------------------------------

    def _served(self) -> dict[str, int | None]:
        """`/v1/models`: id → the context the server lists for it (None when it lists none)."""
        data = self._get_json("/v1/models", "list models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BackendError(f"list models: {self.root}/v1/models answered without a 'data' list", kind="malformed")
        return {str(item["id"]): _listed_context(item) for item in items if isinstance(item, dict) and "id" in item}

    def list_catalog(self, *, refresh: bool = False) -> CatalogListing:
        try:
            served = self._served()
        except BackendError as exc:
            return CatalogListing((), "unreachable", str(exc))
        loaded = set(self._ids_or_empty("/openai/loadedmodels", "/models/loaded"))
        cached = set(self._ids_or_empty("/openai/models", None))
        entries: dict[str, ModelEntry] = {}
        if self._management_family() is not None:
            with contextlib.suppress(BackendError):
                for item in self._get_json("/foundry/list", "list catalog"):
                    entry = _catalog_entry(item, cached, loaded)
                    if entry is not None:
                        entries[entry.id] = entry
        for model_id, context in served.items():
            if model_id not in entries:
                entries[model_id] = ModelEntry(
                    id=model_id,
                    alias=model_id,
                    source="endpoint",
                    variants=(model_id,),
                    cached=True,
                    loaded=model_id in loaded or not loaded,
                    context_length=context,
                )
            elif entries[model_id].context_length is None and context is not None:
                entries[model_id] = dataclasses.replace(entries[model_id], context_length=context)
        return CatalogListing(tuple(entries.values()), "ok")

    def _ids_or_empty(self, openai_path: str, models_path: str | None) -> list[str]:
        family = self._management_family()
        path = openai_path if family == "openai" else models_path if family == "models" else None
        if path is None:
            return []
        try:
            data = self._get_json(path, "list models")
        except BackendError:
            return []
        return [str(x) for x in data] if isinstance(data, list) else []

    def list_local(self) -> list[ModelEntry]:
        return []  # registration of local dirs happens in the service's own process, not over HTTP

    def list_cached(self) -> list[ModelEntry]:
        family = self._require_management("listing cached models")
        if family == "models":
            raise NotSupportedError(f"listing cached models is not supported by this endpoint ({self.root})")
        return self._entries_for(self._ids_or_empty("/openai/models", None))

    def list_loaded(self) -> list[ModelEntry]:
        self._require_management("listing loaded models")
        ids = self._ids_or_empty("/openai/loadedmodels", "/models/loaded")
        return [ModelEntry(id=i, alias=i, source="endpoint", variants=(i,), cached=True, loaded=True) for i in ids]

    def _entries_for(self, ids: list[str]) -> list[ModelEntry]:
        loaded = set(self._ids_or_empty("/openai/loadedmodels", "/models/loaded"))
        return [
            ModelEntry(id=i, alias=i, source="endpoint", variants=(i,), cached=True, loaded=i in loaded) for i in ids
        ]

    def resolve(self, model: str) -> ModelEntry:
        listing = self.list_catalog()
        if listing.state != "ok":
            raise BackendError(listing.reason or f"cannot reach {self.root}", kind="network")
        for entry in listing.models:
            if model == entry.id:
                return entry
        for entry in listing.models:
            if model == entry.alias:
                return entry
        known = ", ".join(sorted(e.id for e in listing.models)) or "none"
        raise ModelNotFoundError(f"no model {model!r} at {self.root} (it serves: {known})")

    # -- actions the in-process runtime does locally -------------------------------------------------------

    def register_model(
        self, path: str, model_id: str, *, task: str = "chat-completion", display_name: str | None = None
    ) -> ModelEntry:
        raise NotSupportedError(
            "registering a local model directory is not supported by an endpoint; drop --endpoint to register it "
            "with the in-process runtime"
        )

    def unregister_model(self, model_id: str) -> None:
        raise NotSupportedError("unregistering local models is not supported by an endpoint; drop --endpoint")

    def remove_from_cache(self, model: str) -> None:
        raise NotSupportedError(f"removing models from the cache is not supported by this endpoint ({self.root})")

    # -- management ----------------------------------------------------------------------------------------

    def download(
        self, model: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> ModelEntry:
        family = self._require_management("downloading models")
        if family != "openai":
            raise NotSupportedError(f"downloading models is not supported by this endpoint ({self.root})")
        entry = self.resolve(model)
        body = {
            "model": {"Name": entry.id, "Uri": entry.path or "", "ProviderType": "AzureFoundry"},
            "ignorePipeReport": True,
        }
        result: dict[str, Any] | None = None
        try:
            with self._http.stream(
                "POST", "/openai/download", json=body, timeout=httpx.Timeout(None, connect=5.0)
            ) as r:
                if r.status_code >= 400:
                    r.read()
                    raise BackendError(f"download {entry.id}: HTTP {r.status_code}: {_error_text(r)}", kind="http")
                for line in r.iter_lines():
                    if cancel is not None and cancel.is_set():
                        raise CancelledError(f"download {entry.id}: cancelled")
                    result = _download_line(line, entry, progress) or result
        except httpx.HTTPError as exc:
            raise BackendError(
                f"download {entry.id}: {one_line(str(exc)) or type(exc).__name__}", kind="network"
            ) from None
        if result is None:
            raise BackendError(f"download {entry.id}: the service ended without a result line", kind="malformed")
        if not result.get("success"):
            raise BackendError(
                f"download {entry.id}: {one_line(str(result.get('errorMessage') or 'failed'))}", kind="http"
            )
        return entry

    def load(self, model: str) -> ModelEntry:
        entry = self._manage("load", model)
        return dataclasses.replace(entry, loaded=True)

    def unload(self, model: str) -> None:
        self._manage("unload", model)

    def _manage(self, verb: Literal["load", "unload"], model: str) -> ModelEntry:
        """`/openai/<verb>/<id>` (older services) or `/models/<verb>/<alias>` (newer ones)."""
        family = self._require_management(f"{verb}ing models")
        entry = self.resolve(model)
        name = entry.id if family == "openai" else entry.alias
        self._get_json(f"/{family}/{verb}/{quote(name, safe='')}", f"{verb} {entry.id}")
        return entry

    # -- chat ----------------------------------------------------------------------------------------------

    def _chat_api(self) -> Any:
        """`client.chat.completions`, resolved once (the first use imports openai.resources.chat, tens of ms)
        before the non-streamed request is stamped."""
        if self._completions is None:
            self._completions = self._client.chat.completions
        return self._completions

    def _prime_streams(self, timeout: httpx.Timeout) -> None:
        """Run the whole streamed-chat path a few times on canned bytes (no network, ~2 ms): Python runs code
        slower its first few times through (about 0.2 ms more on this path), which would otherwise land in the
        TTFT of a process's first request, between the response's arrival and its first piece."""
        real, self._chat_http = self._chat_http, wire_http_client(timeout, network=CannedNetwork())
        try:
            for _ in range(PRIME_ROUNDS):
                for _event in EndpointChatStream(self, "prime", [ChatMessage("user", "hi")], ChatOptions(max_tokens=1)):
                    pass
        finally:
            self._chat_http.close()
            self._chat_http = real
            self.include_usage = True

    def stream_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> EndpointChatStream:
        return EndpointChatStream(self, model, messages, options)

    def open_stream(
        self, model: str, messages: list[ChatMessage], options: ChatOptions
    ) -> tuple[ExitStack, httpx.Response]:
        """Send the request and return (closer, streaming response) once a 2xx status and its headers are in;
        raises StreamRejected for an error status and httpx errors for transport failures.

        Retries once without stream_options if the server rejects that field.
        """
        body = self._request(model, messages, options, stream=True)
        timeout = body.pop("timeout")
        if self.include_usage:
            try:
                return self._enter_stream({**body, "stream_options": {"include_usage": True}}, timeout)
            except StreamRejected as exc:
                if exc.status not in (400, 422) or (
                    "stream_options" not in exc.body and "include_usage" not in exc.body
                ):
                    raise
                self.include_usage = False
        return self._enter_stream(body, timeout)

    def _request(
        self, model: str, messages: list[ChatMessage], options: ChatOptions, *, stream: bool
    ) -> dict[str, Any]:
        """The chat request's arguments. A stream's read timeout is only a backstop (the longer of its first-token
        and stall timeouts, plus a margin): engine.stream_watch enforces each one where it applies."""
        timeout = self._settings.request_timeout_s
        read = read_backstop_s(options.first_token_timeout_s, options.stall_timeout_s) if stream else timeout
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "timeout": httpx.Timeout(timeout, connect=5.0, read=read),
        }
        if stream:
            kwargs["stream"] = True
        if options.top_p is not None:
            kwargs["top_p"] = options.top_p
        if options.seed is not None:
            kwargs["seed"] = options.seed
        return kwargs

    def _enter_stream(self, body: dict[str, Any], timeout: httpx.Timeout) -> tuple[ExitStack, httpx.Response]:
        stack = ExitStack()
        try:
            # The raw response: we parse the SSE lines ourselves (see backends/sse.py for why).
            response = stack.enter_context(
                self._chat_http.stream("POST", self._chat_url, json=body, headers=self._chat_headers, timeout=timeout)
            )
            if response.status_code >= 400:
                response.read()
                raise StreamRejected(response.status_code, _error_text(response), response.text[:4000])
        except BaseException:
            stack.close()
            raise
        return stack, response

    def complete_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> Completion:
        """One non-streamed request (`stream: false`), timed from when its bytes go out to the parsed reply."""
        kwargs = self._request(model, messages, options, stream=False)
        completions = self._chat_api()
        wire = Wire()
        t_sent = time.perf_counter_ns()  # kept only if the wire stamp did not fire
        try:
            with wire.sending():
                reply = completions.create(**kwargs)
        except openai.APIStatusError as exc:
            raise BackendError(f"HTTP {exc.status_code} from {self.root}: {api_error_text(exc)}", kind="http") from None
        except openai.APITimeoutError:
            raise BackendError(f"{self.root} sent no response within the timeout", kind="stalled") from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"cannot connect to {self.root}: {cause(exc)}", kind="network") from None
        except (openai.APIError, ValueError) as exc:
            raise BackendError(
                f"{self.root} sent a malformed reply: {one_line(str(exc), 120)}", kind="malformed"
            ) from None
        t_done = time.perf_counter_ns()
        t_sent = wire.sent_ns or t_sent
        choice = reply.choices[0] if reply.choices else None
        u = reply.usage
        return Completion(
            model_id=model,
            text=(choice.message.content or "") if choice is not None else "",
            finish_reason=str(choice.finish_reason) if choice is not None and choice.finish_reason else "unknown",
            usage=Usage(u.prompt_tokens or 0, u.completion_tokens or 0, u.total_tokens or 0) if u else None,
            t_sent_ns=t_sent,
            t_done_ns=t_done,
        )

    def close(self) -> None:
        self._http.close()
        self._client.close()


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return one_line(response.text, 300) or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return one_line(str(error["message"]), 300)
        if data.get("message"):
            return one_line(str(data["message"]), 300)
    return one_line(json.dumps(data), 300)


def _download_line(line: str, entry: ModelEntry, progress: ProgressCallback | None) -> dict[str, Any] | None:
    """Progress lines carry `NN.N%`; the last line is JSON `{"success": …, "errorMessage": …}`."""
    text = line.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) and "success" in data else None
    match = _PERCENT.search(text)
    if match and progress is not None:
        progress(DownloadProgress(percent=min(100.0, float(match.group(1))), total_mb=entry.size_mb))
    return None


def _listed_context(item: dict[str, Any]) -> int | None:
    """The context length a `/v1/models` entry advertises: vLLM's `max_model_len`, llama.cpp's `meta.n_ctx_train`
    (the context the model was trained for; the server may run a smaller one), LM Studio's `max_context_length`."""
    meta = item.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    for value in (item.get("max_model_len"), meta.get("n_ctx_train"), item.get("max_context_length")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _catalog_entry(item: Any, cached: set[str], loaded: set[str]) -> ModelEntry | None:
    if not isinstance(item, dict) or not item.get("name"):
        return None
    runtime: dict[str, Any] = item["runtime"] if isinstance(item.get("runtime"), dict) else {}
    model_id = str(item["name"])
    size = item.get("fileSizeMb")
    return ModelEntry(
        id=model_id,
        alias=str(item.get("alias") or model_id),
        source="endpoint",
        display_name=item.get("displayName"),
        variants=(model_id,),
        device=runtime.get("deviceType"),
        execution_provider=runtime.get("executionProvider"),
        size_mb=int(size) if isinstance(size, int | float) else None,
        license=item.get("license"),
        task=item.get("task"),
        publisher=item.get("publisher"),
        cached=model_id in cached,
        loaded=model_id in loaded,
        path=item.get("uri"),
    )

"""Import a GGUF file or a Hugging Face model dir as a registered ONNX Runtime GenAI model.

check inputs → (GGUF) dequantize to an fp32 checkpoint → ONNX Runtime GenAI builder → verify → atomic move into
`<data_dir>/models/<name>-v<version>` → register (last). The slow steps run as subprocesses (torch never enters
this process; a cancel is a kill). Everything is staged in a temp dir under the models dir (same filesystem, so
the final move is a rename) that is removed on success, failure and Ctrl-C alike; a failure after the move undoes
the move and the registration, so no half-imported model is left behind. A manifest beside the model dir
records the source (resolved path, size, mtime) and precision: importing the same source again is a no-op.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from foundry_tui.backends.base import Backend, ModelEntry
from foundry_tui.backends.local_models import validate_model_dir, validate_model_id
from foundry_tui.config import Settings
from foundry_tui.errors import BackendError, BadInputError, FoundryTuiError, one_line
from foundry_tui.files import dir_size_bytes, write_atomic
from foundry_tui.importer.deps import builder_architectures, require_conversion_modules
from foundry_tui.importer.runner import StepResult, run_step
from foundry_tui.importer.sources import (
    Source,
    check_gguf_architecture,
    default_model_id,
    inspect_hf_dir,
    inspect_source,
    source_stem,
    unsupported_architecture,
)

PRECISIONS = ("int8", "int4", "fp32")
MANIFEST_FORMAT = 1
_TMP_PREFIX = ".import-"
# Output bytes per parameter, rounded up from measured builds (SmolLM2-135M: int8 1.9, int4 0.64, fp32 3.9).
_OUTPUT_BYTES_PER_PARAM = {"fp32": 4.0, "int8": 2.0, "int4": 1.0}
_MARGIN_BYTES = 64 * 1024 * 1024
_DETAIL_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Stage:
    """One progress report: a stage starting (detail None) or progress inside it."""

    name: str  # check | dequantize | convert | verify | install | register | done
    label: str
    elapsed_s: float  # since the import started
    detail: str | None = None


@dataclass(frozen=True)
class ImportResult:
    entry: ModelEntry
    model_id: str
    path: Path
    size_bytes: int
    elapsed_s: float
    skipped: bool  # True: this source was imported before with the same precision; nothing was converted
    precision: str
    source: Path
    log_path: Path | None
    stage_s: dict[str, float] = field(default_factory=dict)

    @property
    def alias(self) -> str:
        return self.entry.alias


ProgressFn = Callable[[Stage], None]


class _Progress:
    def __init__(self, callback: ProgressFn) -> None:
        self._callback = callback
        self._t0 = time.perf_counter()
        self._name = ""
        self._label = ""
        self._stage_t0 = self._t0
        self._last_detail: tuple[str, float] | None = None
        self.durations: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def stage(self, name: str, label: str) -> None:
        self.close()
        self._name, self._label = name, label
        self._stage_t0 = time.perf_counter()
        self._last_detail = None
        self._callback(Stage(name, label, self.elapsed()))

    def detail(self, text: str) -> None:
        now = time.perf_counter()
        last = self._last_detail
        if last is not None and (last[0] == text or now - last[1] < _DETAIL_INTERVAL_S):
            return
        self._last_detail = (text, now)
        self._callback(Stage(self._name, self._label, self.elapsed(), text))

    def close(self) -> None:
        if self._name and self._name != "done":
            self.durations[self._name] = round(time.perf_counter() - self._stage_t0, 3)
        self._name = ""


def _ignore(_: Stage) -> None:
    pass


def import_model(
    source: str | Path,
    *,
    model_id: str | None = None,
    precision: str = "int8",
    display_name: str | None = None,
    force: bool = False,
    settings: Settings,
    backend: Backend,
    progress: ProgressFn = _ignore,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Convert and register SOURCE; see the module docstring. Raises BadInputError / BackendError (one line)."""
    clock = _Progress(progress)
    clock.stage("check", "checking inputs")
    if precision not in PRECISIONS:
        raise BadInputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    src = inspect_source(source)
    if src.gguf is not None:
        check_gguf_architecture(src.gguf)
    else:
        assert src.hf is not None
        _check_builder_architecture(src.hf.architecture)
    model_id = validate_model_id(model_id or default_model_id(src, precision))
    display_name = display_name or f"{source_stem(src)} ({precision})"
    name, version = model_id.rsplit(":", 1)
    models_dir = settings.data_dir / "models"
    target = models_dir / f"{name}-v{version}"
    manifest_path = models_dir / f"{target.name}.import.json"
    wanted = _manifest_key(src, precision, model_id)
    registered = _registered(backend, model_id)

    if not force:
        if _read_manifest(manifest_path) == wanted and _is_model_dir(target):
            return _reuse(backend, clock, src, target, model_id, display_name, registered, precision)
        if registered is not None:
            raise BadInputError(
                f"model id {model_id} is already registered (from {registered.path or 'elsewhere'}); "
                "pass --force to replace it or --id to choose another"
            )
        if target.exists():
            raise BadInputError(f"{target} already exists from a different import; pass --force to replace it")

    require_conversion_modules()
    models_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_dirs(models_dir)
    _check_disk_space(src, precision, models_dir)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / f"import-{target.name}.log"
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=models_dir))
    undo: list[Callable[[], None]] = []
    try:
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"foundry-tui import {src.path} → {model_id} ({precision}) at {time.ctime()}\n")
            env = _step_env(tmp)
            out = _convert(src, precision, tmp, env, log, log_path, clock, cancel)

        clock.stage("verify", "checking the converted model")
        try:
            validate_model_dir(out)
        except BadInputError as exc:
            raise BackendError(f"the converter's output is incomplete: {exc} (log: {log_path})") from None
        size = _dir_size(out)

        clock.stage("install", f"moving the model into {target}")
        if registered is not None:  # force: the old registration goes; restored if anything below fails
            backend.unregister_model(model_id)
            old = registered
            undo.append(lambda: _restore_registration(backend, old, model_id))
        if target.exists():
            previous = tmp / "previous"
            os.rename(target, previous)
            undo.append(lambda: os.rename(previous, target))
        os.rename(out, target)
        undo.append(lambda: shutil.rmtree(target, ignore_errors=True))

        clock.stage("register", f"registering {model_id}")
        entry = backend.register_model(str(target), model_id, task="chat-completion", display_name=display_name)
        undo.append(lambda: backend.unregister_model(model_id))
        _write_manifest(manifest_path, wanted, src, target, display_name, clock.elapsed())
        undo.clear()
    except BaseException:
        for step in reversed(undo):
            with contextlib.suppress(Exception):
                step()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    clock.stage("done", f"imported {model_id}")
    clock.close()
    return ImportResult(
        entry=entry,
        model_id=model_id,
        path=target,
        size_bytes=size,
        elapsed_s=clock.elapsed(),
        skipped=False,
        precision=precision,
        source=src.path,
        log_path=log_path,
        stage_s=dict(clock.durations),
    )


# -- the conversion steps ------------------------------------------------------------------------------------


def _convert(
    src: Source,
    precision: str,
    tmp: Path,
    env: dict[str, str],
    log: IO[str],
    log_path: Path,
    clock: _Progress,
    cancel: threading.Event | None,
) -> Path:
    hf_dir = src.path
    if src.gguf is not None:
        clock.stage("dequantize", "dequantizing the GGUF to an fp32 checkpoint")
        hf_dir = tmp / "hf"

        def on_gguf_line(line: str) -> None:
            if line.startswith("@@ "):
                clock.detail(line[3:])

        cmd = [sys.executable, "-m", "foundry_tui.importer.gguf_to_hf", str(src.path), str(hf_dir)]
        result = run_step(cmd, env=env, log=log, on_line=on_gguf_line, cancel=cancel)
        if result.returncode != 0:
            raise _step_error("dequantizing the GGUF", result, src.gguf.architecture, log_path)
        try:
            hf = inspect_hf_dir(hf_dir)
        except BadInputError as exc:
            raise BackendError(f"dequantizing the GGUF produced an unusable checkpoint: {exc}") from None
        _check_builder_architecture(hf.architecture)
        architecture, layers = hf.architecture, hf.num_layers
    else:
        assert src.hf is not None
        architecture, layers = src.hf.architecture, src.hf.num_layers

    clock.stage("convert", f"converting to ONNX ({precision})")
    out = tmp / "out"
    cmd = [
        sys.executable, "-m", "onnxruntime_genai.models.builder",
        "-i", str(hf_dir), "-o", str(out), "-p", precision, "-e", "cpu", "-c", str(tmp / "cache"),
    ]  # fmt: skip
    result = run_step(cmd, env=env, log=log, on_line=_builder_progress(clock, layers), cancel=cancel)
    if result.returncode != 0:
        raise _step_error("converting to ONNX", result, architecture, log_path)
    if src.gguf is not None:
        shutil.rmtree(hf_dir, ignore_errors=True)  # the fp32 staging copy is the biggest thing on disk
    return out


_LAYER = re.compile(r"^Reading (?:decoder )?layer (\d+)")
_QUANTIZE = re.compile(r"start to quantize /model/layers\.(\d+)/")
_BUILDER_PHASES = (
    ("Reading embedding", "reading embeddings"),
    ("Reading LM head", "reading the LM head"),
    ("Saving ONNX model", "saving the ONNX model"),
    ("Saving GenAI config", "writing genai_config.json"),
    ("Saving processing files", "copying tokenizer files"),
)


def _builder_progress(clock: _Progress, layers: int | None) -> Callable[[str], None]:
    of = f"/{layers}" if layers else ""

    def on_line(line: str) -> None:
        match = _LAYER.match(line)
        if match:
            clock.detail(f"reading layer {int(match.group(1)) + 1}{of}")
            return
        match = _QUANTIZE.search(line)
        if match:
            clock.detail(f"quantizing layer {int(match.group(1)) + 1}{of}")
            return
        for prefix, text in _BUILDER_PHASES:
            if line.startswith(prefix):
                clock.detail(text)
                return

    return on_line


_GGUF_ARCH_ERROR = re.compile(r"GGUF model with architecture (\S+?)\.? is not supported")
_BUILDER_ARCH_ERROR = re.compile(r"model is not currently supported")


def _step_error(step: str, result: StepResult, architecture: str, log_path: Path) -> FoundryTuiError:
    line = result.error_line or ""
    match = _GGUF_ARCH_ERROR.search(line)
    if match:
        return unsupported_architecture(match.group(1))
    if _BUILDER_ARCH_ERROR.search(line):
        return unsupported_architecture(architecture)
    if result.returncode in (-9, 137) or "MemoryError" in line:
        return BackendError(f"{step} was killed (out of memory?); log: {log_path}", kind="conversion")
    reason = one_line(line, 300) if line else f"exit code {result.returncode}"
    return BackendError(f"{step} failed: {reason} (log: {log_path})", kind="conversion")


def _check_builder_architecture(architecture: str) -> None:
    supported = builder_architectures()
    if supported is not None and architecture not in supported:
        raise unsupported_architecture(architecture)


def _step_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONUNBUFFERED="1",
        TQDM_DISABLE="1",  # progress bars would fill the log with carriage-return frames
        HF_HUB_OFFLINE="1",  # every input is local; never reach for the network
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(tmp / "hf-home"),
        TOKENIZERS_PARALLELISM="false",
    )
    return env


# -- disk, temp dirs, manifest -------------------------------------------------------------------------------


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def estimate_bytes(src: Source, precision: str) -> dict[str, int]:
    """What the import writes at its peak, by part."""
    params = src.n_params
    parts: dict[str, int] = {}
    if src.kind == "gguf":
        parts["fp32 staging"] = params * 4
    parts[f"{precision} output"] = int(params * _OUTPUT_BYTES_PER_PARAM[precision])
    parts["margin"] = _MARGIN_BYTES
    return parts


def _check_disk_space(src: Source, precision: str, models_dir: Path) -> None:
    parts = estimate_bytes(src, precision)
    need = sum(parts.values())
    free = free_bytes(models_dir)
    if free < need:
        detail = " + ".join(f"{name} {_mb(size)}" for name, size in parts.items())
        raise BackendError(
            f"not enough free disk space in {models_dir}: the import needs about {_mb(need)} ({detail}), "
            f"{_mb(free)} is free",
            kind="disk_full",
        )


def _mb(size: int) -> str:
    return f"{size / 1_048_576:,.0f} MB"


def _remove_stale_temp_dirs(models_dir: Path) -> None:
    """Temp dirs of imports whose process is gone (killed hard): Ctrl-C and errors clean up after themselves."""
    for path in models_dir.glob(f"{_TMP_PREFIX}*"):
        try:
            pid = int(path.name[len(_TMP_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dir_size(path: Path) -> int:
    return dir_size_bytes(path) or 0


def _is_model_dir(path: Path) -> bool:
    try:
        validate_model_dir(path)
    except BadInputError:
        return False
    return True


def _manifest_key(src: Source, precision: str, model_id: str) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "id": model_id,
        "source": str(src.path),
        "source_kind": src.kind,
        "source_size": src.size,
        "source_mtime_ns": src.mtime_ns,
        "precision": precision,
    }


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("key"), dict):
        return None
    key: dict[str, Any] = data["key"]
    return key


def _write_manifest(
    path: Path, key: dict[str, Any], src: Source, target: Path, display_name: str, elapsed_s: float
) -> None:
    versions = {}
    for package in ("transformers", "torch", "onnxruntime-genai", "gguf"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    data = {
        "key": key,
        "model_dir": str(target),
        "display_name": display_name,
        "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": round(elapsed_s, 2),
        "versions": versions,
    }
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def _registered(backend: Backend, model_id: str) -> ModelEntry | None:
    return next((e for e in backend.list_local() if e.id == model_id), None)


def _restore_registration(backend: Backend, old: ModelEntry, model_id: str) -> None:
    if old.path:
        backend.register_model(old.path, model_id, task=old.task or "chat-completion", display_name=old.display_name)


def _reuse(
    backend: Backend,
    clock: _Progress,
    src: Source,
    target: Path,
    model_id: str,
    display_name: str,
    registered: ModelEntry | None,
    precision: str,
) -> ImportResult:
    """The same source was imported before: register the existing conversion if needed, convert nothing."""
    entry = registered
    if entry is not None and entry.path and Path(entry.path).resolve() != target.resolve():
        raise BadInputError(
            f"model id {model_id} is registered to {entry.path}, not to the earlier import at {target}; "
            "pass --force to replace it"
        )
    if entry is None:
        clock.stage("register", f"registering the earlier conversion as {model_id}")
        entry = backend.register_model(str(target), model_id, task="chat-completion", display_name=display_name)
    clock.stage("done", f"{model_id} is already imported from this source")
    clock.close()
    return ImportResult(
        entry=entry,
        model_id=model_id,
        path=target,
        size_bytes=_dir_size(target),
        elapsed_s=clock.elapsed(),
        skipped=True,
        precision=precision,
        source=src.path,
        log_path=None,
        stage_s=dict(clock.durations),
    )

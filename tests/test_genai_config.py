"""genai_config.json → the KV cache's dimensions, its value type (from the ONNX graph) and the execution provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper  # the test extra: it builds the graphs the scan reads

from foundry_tui.backends.genai_config import config_dir, onnx_input_dtype, read_genai_config
from foundry_tui.devtools.tiny_model import build_tiny_model

SMOLLM2_KV_BYTES = 377_487_360  # 2 × 30 layers × 3 KV heads × 64 × 8192 tokens × 4 bytes


def smollm2_like(directory: Path, **decoder: Any) -> Path:
    """SmolLM2-135M's genai_config.json (the numbers of the converted model), without its weights."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "model": {
            "context_length": 8192,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": "model.onnx",
                "head_size": 64,
                "hidden_size": 576,
                "inputs": {"past_key_names": "past_key_values.%d.key"},
                "num_attention_heads": 9,
                "num_hidden_layers": 30,
                "num_key_value_heads": 3,
                **decoder,
            },
            "type": "llama",
        },
        "search": {"max_length": 8192, "past_present_share_buffer": True},
    }
    (directory / "genai_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def graph_file(path: Path, kv_type: int, *, weights: int = 0) -> Path:
    """A decoder graph whose `past_key_values.0.key` input has `kv_type`; `weights` floats of initializer data
    sit before the inputs in the file (the scan must seek over them)."""
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("past_key_values.0.key", kv_type, ["batch", 3, "past", 64]),
    ]
    outputs = [helper.make_tensor_value_info("present.0.key", kv_type, ["batch", 3, "total", 64])]
    initializers = [numpy_helper.from_array(np.ones(max(weights, 1), dtype=np.float32), "w")]
    node = helper.make_node("Identity", ["past_key_values.0.key"], ["present.0.key"])
    graph = helper.make_graph([node], "g", inputs, outputs, initializers)
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


# -- the tiny model and a SmolLM2-like config ----------------------------------------------------------------


def test_the_tiny_models_known_dimensions(tmp_path: Path) -> None:
    config = read_genai_config(build_tiny_model(tmp_path / "tiny"))
    assert config is not None
    assert (config.layers, config.kv_heads, config.head_size) == (1, 1, 1)
    assert (config.context_length, config.max_length, config.kv_tokens) == (512, 512, 512)
    assert config.share_buffer is False  # its cache grows with the sequence
    assert (config.kv_dtype, config.kv_bytes, config.kv_dtype_source) == ("fp32", 4, "model")  # read from its graph
    assert config.kv_cache_bytes == 2 * 1 * 1 * 1 * 512 * 4
    assert (config.provider, config.device, config.execution_provider) == (None, "CPU", "CPUExecutionProvider")


def test_smollm2_like_kv_cache_is_360_mb(tmp_path: Path) -> None:
    directory = smollm2_like(tmp_path / "smol")
    config = read_genai_config(directory)
    assert config is not None and config.share_buffer
    assert (config.layers, config.kv_heads, config.head_size, config.kv_tokens) == (30, 3, 64, 8192)
    assert (config.kv_dtype, config.kv_dtype_source) == ("fp32", "assumed")  # no model.onnx to read it from
    assert config.kv_cache_bytes == SMOLLM2_KV_BYTES
    assert SMOLLM2_KV_BYTES / 2**20 == 360.0
    graph_file(directory / "model.onnx", TensorProto.FLOAT)
    scanned = read_genai_config(directory)
    assert scanned is not None and (scanned.kv_dtype, scanned.kv_dtype_source) == ("fp32", "model")


def test_dimensions_fall_back_to_the_attention_heads(tmp_path: Path) -> None:
    directory = smollm2_like(tmp_path / "m", head_size=None, num_key_value_heads=None)
    config = read_genai_config(directory)
    assert config is not None and (config.kv_heads, config.head_size) == (9, 64)  # 576 / 9
    broken = smollm2_like(tmp_path / "b", num_hidden_layers="thirty")
    unknown = read_genai_config(broken)
    assert unknown is not None and unknown.layers is None and unknown.kv_cache_bytes is None


# -- the value type from the ONNX graph ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kv_type", "expected"),
    [(1, ("fp32", 4)), (10, ("fp16", 2)), (16, ("bf16", 2)), (3, ("int8", 1))],
    ids=["float", "float16", "bfloat16", "int8"],
)
def test_the_scan_reads_the_past_input_type(tmp_path: Path, kv_type: int, expected: tuple[str, float]) -> None:
    path = graph_file(tmp_path / "model.onnx", kv_type, weights=500_000)  # 2 MB of weights before the inputs
    assert onnx_input_dtype(path, "past_key_values.0.key") == expected
    assert onnx_input_dtype(path, "past_key_values.7.key") is None  # no such input


def test_fp16_graph_sets_the_kv_bytes(tmp_path: Path) -> None:
    directory = smollm2_like(tmp_path / "m")
    graph_file(directory / "model.onnx", TensorProto.FLOAT16)
    config = read_genai_config(directory)
    assert config is not None and (config.kv_dtype, config.kv_dtype_source) == ("fp16", "model")
    assert config.kv_cache_bytes == SMOLLM2_KV_BYTES // 2


@pytest.mark.parametrize(
    "content",
    [b"", b"\x3a\xff\xff\xff\xff\x0f", b"\x0b\x00\x00", bytes(range(256)) * 4, b"\x3a\x05\x5a\x03\x0a"],
    ids=["empty", "length-past-end", "group-wire-type", "noise", "truncated-input"],
)
def test_a_file_that_is_not_a_graph_gives_no_type(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    assert onnx_input_dtype(path, "past_key_values.0.key") is None
    assert onnx_input_dtype(tmp_path / "missing.onnx", "past_key_values.0.key") is None


def test_without_a_readable_graph_the_provider_hints_the_type(tmp_path: Path) -> None:
    directory = smollm2_like(tmp_path / "m", session_options={"provider_options": [{"cuda": {}}]})
    (directory / "model.onnx").write_bytes(b"\x00not onnx")
    config = read_genai_config(directory)
    assert config is not None and (config.kv_dtype, config.kv_dtype_source) == ("fp16", "provider hint")
    assert read_genai_config(directory, scan_model=False) == config  # no scan: the same hint


# -- provider → device / EP -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], (None, "CPU", "CPUExecutionProvider")),
        ([{"cuda": {"enable_cuda_graph": "0"}}], ("cuda", "GPU", "CUDAExecutionProvider")),
        ([{"dml": {}}], ("dml", "GPU", "DmlExecutionProvider")),
        ([{"qnn": {"backend_path": "QnnHtp.dll"}}], ("qnn", "NPU", "QNNExecutionProvider")),
        ([{"webgpu": {}}], ("webgpu", "GPU", "WebGpuExecutionProvider")),
        ([{"OpenVINO": {"device_type": "GPU.0"}}], ("openvino", "GPU", "OpenVINOExecutionProvider")),
        ([{"SomeNewEP": {}}], ("somenewep", None, "SomeNewEPExecutionProvider")),  # named, device not guessed
    ],
    ids=["none", "cuda", "dml", "qnn", "webgpu", "openvino", "unknown"],
)
def test_provider_options_name_the_device(tmp_path: Path, options: list[Any], expected: tuple[Any, ...]) -> None:
    directory = smollm2_like(tmp_path / "m", session_options={"provider_options": options})
    config = read_genai_config(directory, scan_model=False)
    assert config is not None and (config.provider, config.device, config.execution_provider) == expected


def test_missing_or_broken_configs_are_none(tmp_path: Path) -> None:
    assert read_genai_config(None) is None
    assert read_genai_config(tmp_path / "nowhere") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "genai_config.json").write_text("{not json", encoding="utf-8")
    assert read_genai_config(tmp_path / "bad") is None
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "genai_config.json").write_text("[1, 2]", encoding="utf-8")
    assert read_genai_config(tmp_path / "list") is None


def test_a_variant_folder_below_the_model_dir_is_found(tmp_path: Path) -> None:
    smollm2_like(tmp_path / "model" / "v1" / "cpu-int4")
    assert config_dir(tmp_path / "model") == tmp_path / "model" / "v1" / "cpu-int4"
    config = read_genai_config(tmp_path / "model")
    assert config is not None and config.layers == 30

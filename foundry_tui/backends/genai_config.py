"""What a model directory's `genai_config.json` says about memory and hardware: the KV cache's dimensions and the
execution provider.

The fit estimate needs the KV cache's size: 2 (K and V) × layers × KV heads × head size × tokens × bytes per value.
Layers, KV heads, head size and context come from the config (`model.decoder.*`, `model.context_length`,
`search.max_length`); whether the runtime allocates the cache for the whole context at once comes from
`search.past_present_share_buffer`. The value type is read from the decoder's ONNX graph (the type of its first
`past_key_values` input) with a small protobuf scan that seeks over everything else (weights included), so it costs
a few reads even for a multi-GB file; when that fails the provider hints it (GPU builds keep fp16 caches), else fp32.
Which one was used is part of the result (`kv_dtype_source`).

The provider: `model.decoder.session_options.provider_options` is a list of `{name: options}`; the first names the
execution provider (`cuda`, `dml`, `qnn`, `webgpu`, …), none means the CPU. Nothing here raises for a bad file: a
missing or unreadable config is None, a missing field is None.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

CONFIG_NAME = "genai_config.json"

KvDtypeSource = Literal["model", "provider hint", "assumed"]

# Execution provider names as genai_config writes them → (device, ONNX Runtime's provider name).
PROVIDERS: dict[str, tuple[str | None, str]] = {
    "cpu": ("CPU", "CPUExecutionProvider"),
    "cuda": ("GPU", "CUDAExecutionProvider"),
    "rocm": ("GPU", "ROCMExecutionProvider"),
    "dml": ("GPU", "DmlExecutionProvider"),
    "webgpu": ("GPU", "WebGpuExecutionProvider"),
    "nvtensorrtrtx": ("GPU", "NvTensorRTRTXExecutionProvider"),
    "migraphx": ("GPU", "MIGraphXExecutionProvider"),
    "qnn": ("NPU", "QNNExecutionProvider"),
    "vitisai": ("NPU", "VitisAIExecutionProvider"),
    "openvino": ("CPU", "OpenVINOExecutionProvider"),  # its `device_type` option says which device
    "coreml": ("NPU", "CoreMLExecutionProvider"),
}
GPU_PROVIDERS = frozenset(name for name, (device, _) in PROVIDERS.items() if device == "GPU")

# ONNX TensorProto.DataType → (short name, bytes per value).
ONNX_DTYPES: dict[int, tuple[str, float]] = {
    1: ("fp32", 4),
    2: ("uint8", 1),
    3: ("int8", 1),
    10: ("fp16", 2),
    11: ("fp64", 8),
    16: ("bf16", 2),
    17: ("fp8", 1),
    18: ("fp8", 1),
    19: ("fp8", 1),
    20: ("fp8", 1),
}
FP32 = ("fp32", 4.0)
FP16 = ("fp16", 2.0)


@dataclass(frozen=True)
class GenaiConfig:
    directory: Path
    layers: int | None  # model.decoder.num_hidden_layers
    kv_heads: int | None  # num_key_value_heads (num_attention_heads without it)
    head_size: int | None  # head_size (hidden_size / num_attention_heads without it)
    context_length: int | None  # model.context_length
    max_length: int | None  # search.max_length: the most tokens one sequence may hold
    share_buffer: bool  # search.past_present_share_buffer: the whole KV cache is allocated at once
    kv_dtype: str  # "fp32", "fp16", …
    kv_bytes: float  # bytes per value
    kv_dtype_source: KvDtypeSource
    provider: str | None  # "cuda", "dml", … (None: no provider options → the CPU)
    device: str | None  # "CPU", "GPU", "NPU" (None: a provider this code does not know)
    execution_provider: str  # "CPUExecutionProvider", …
    decoder_file: str | None  # model.decoder.filename

    @property
    def kv_tokens(self) -> int | None:
        """Tokens the KV cache is sized for: the search's max length, else the context length."""
        return self.max_length or self.context_length

    @property
    def kv_cache_bytes(self) -> int | None:
        """2 × layers × KV heads × head size × tokens × bytes per value, for one sequence (batch 1); None when the
        config lacks a dimension. With a shared buffer the runtime allocates all of it; without, the cache grows
        with the sequence and this is its size at `kv_tokens`."""
        dims = (self.layers, self.kv_heads, self.head_size, self.kv_tokens)
        if any(d is None or d <= 0 for d in dims):
            return None
        layers, heads, size, tokens = (int(d) for d in dims if d is not None)
        return int(2 * layers * heads * size * tokens * self.kv_bytes)


# -- reading the config ------------------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def provider_of(decoder: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """(provider name, device, execution provider) from `decoder.session_options.provider_options`."""
    options = _dict(decoder.get("session_options")).get("provider_options")
    if isinstance(options, list):
        for item in options:
            if isinstance(item, dict) and item:
                name = str(next(iter(item)))
                key = name.casefold()
                device, ep = PROVIDERS.get(key, (None, f"{name}ExecutionProvider"))  # unknown: no guess
                if key == "openvino":
                    wanted = str(_dict(item[name]).get("device_type", "CPU")).upper()
                    device = next((d for d in ("GPU", "NPU", "CPU") if wanted.startswith(d)), "CPU")
                return key, device, ep
    return None, "CPU", "CPUExecutionProvider"


def config_dir(directory: str | Path | None) -> Path | None:
    """The directory holding `genai_config.json`: `directory` itself, else the first one up to two levels below
    it (a cache entry may keep its variant's files in a subfolder)."""
    if not directory:
        return None
    root = Path(directory)
    if (root / CONFIG_NAME).is_file():
        return root
    try:
        nested = sorted(root.glob(f"*/{CONFIG_NAME}")) or sorted(root.glob(f"*/*/{CONFIG_NAME}"))
    except OSError:
        return None
    return nested[0].parent if nested else None


def read_genai_config(directory: str | Path | None, *, scan_model: bool = True) -> GenaiConfig | None:
    """The model directory's config (None: no readable `genai_config.json`). `scan_model`: read the KV cache's
    value type from the decoder's ONNX file (a few small reads); without, the provider hint or fp32."""
    root = config_dir(directory)
    if root is None:
        return None
    try:
        data = json.loads((root / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    model = _dict(data.get("model"))
    decoder = _dict(model.get("decoder"))
    search = _dict(data.get("search"))
    heads = _int(decoder.get("num_attention_heads"))
    hidden = _int(decoder.get("hidden_size"))
    derived = hidden // heads if hidden and heads and hidden % heads == 0 else None
    head_size = _int(decoder.get("head_size")) or derived
    provider, device, ep = provider_of(decoder)
    filename = decoder.get("filename") if isinstance(decoder.get("filename"), str) else None
    dtype: tuple[str, float] | None = None
    source: KvDtypeSource = "model"
    if scan_model and filename:
        past = _dict(decoder.get("inputs")).get("past_key_names", "past_key_values.%d.key")
        name = past.replace("%d", "0") if isinstance(past, str) else "past_key_values.0.key"
        dtype = onnx_input_dtype(root / filename, name)
    if dtype is None:
        gpu = provider in GPU_PROVIDERS
        dtype, source = (FP16, "provider hint") if gpu else (FP32, "assumed")
    return GenaiConfig(
        directory=root,
        layers=_int(decoder.get("num_hidden_layers")),
        kv_heads=_int(decoder.get("num_key_value_heads")) or heads,
        head_size=head_size,
        context_length=_int(model.get("context_length")),
        max_length=_int(search.get("max_length")),
        share_buffer=search.get("past_present_share_buffer") is True,
        kv_dtype=dtype[0],
        kv_bytes=dtype[1],
        kv_dtype_source=source,
        provider=provider,
        device=device,
        execution_provider=ep,
        decoder_file=filename,
    )


# -- the ONNX scan -----------------------------------------------------------------------------------------------
# ModelProto.graph = 7; GraphProto.input = 11; ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1;
# TypeProto.Tensor.elem_type = 1. Everything else is skipped by its length, never read.

MAX_FIELDS = 1_000_000  # a graph with more top-level entries than this is not worth scanning
MAX_VALUE_INFO = 1 << 20  # an input's description is a few hundred bytes


class _ScanError(Exception):
    pass


def _varint(fh: BinaryIO) -> int:
    shift = result = 0
    while True:
        byte = fh.read(1)
        if not byte:
            raise _ScanError("truncated")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise _ScanError("varint too long")


def _fields(fh: BinaryIO, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, wire type, varint value or LEN payload size) for each field up to `end`; the caller must
    consume or skip a LEN payload (it is left unread at the file position)."""
    count = 0
    while fh.tell() < end:
        count += 1
        if count > MAX_FIELDS:
            raise _ScanError("too many fields")
        key = _varint(fh)
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, _varint(fh)
        elif wire == 1:
            fh.seek(8, 1)
        elif wire == 5:
            fh.seek(4, 1)
        elif wire == 2:
            size = _varint(fh)
            if fh.tell() + size > end:
                raise _ScanError("length past the end")
            start = fh.tell()
            yield number, wire, size
            if fh.tell() == start:
                fh.seek(size, 1)  # not consumed: skip it
        else:
            raise _ScanError(f"wire type {wire}")


def _message(data: bytes) -> dict[int, list[bytes | int]]:
    """A small message already in memory → {field: [values]} (LEN fields as bytes)."""
    import io

    fh = io.BytesIO(data)
    out: dict[int, list[bytes | int]] = {}
    for number, wire, value in _fields(fh, len(data)):
        out.setdefault(number, []).append(fh.read(value) if wire == 2 else value)
    return out


def _elem_type(value_info: bytes) -> tuple[str, int | None]:
    fields = _message(value_info)
    name = fields.get(1, [b""])[0]
    type_proto = fields.get(2, [b""])[0]
    if not isinstance(name, bytes) or not isinstance(type_proto, bytes):
        return "", None
    tensor = _message(type_proto).get(1, [b""])[0]
    elem = _message(tensor).get(1, [None])[0] if isinstance(tensor, bytes) else None
    return name.decode("utf-8", "replace"), elem if isinstance(elem, int) else None


def onnx_input_dtype(path: Path, input_name: str) -> tuple[str, float] | None:
    """(dtype name, bytes) of the graph input called `input_name`; None when the file cannot be scanned or the
    input or its type is not there."""
    try:
        with path.open("rb") as fh:
            end = fh.seek(0, 2)
            fh.seek(0)
            for number, wire, size in _fields(fh, end):
                if number != 7 or wire != 2:
                    continue
                graph_end = fh.tell() + size
                for g_number, g_wire, g_size in _fields(fh, graph_end):
                    if g_number != 11 or g_wire != 2 or g_size > MAX_VALUE_INFO:
                        continue
                    name, elem = _elem_type(fh.read(g_size))
                    if name == input_name:
                        return ONNX_DTYPES.get(elem) if elem is not None else None
                return None
    except (OSError, _ScanError):
        return None
    return None


__all__ = [
    "CONFIG_NAME",
    "PROVIDERS",
    "GenaiConfig",
    "KvDtypeSource",
    "config_dir",
    "onnx_input_dtype",
    "provider_of",
    "read_genai_config",
]

"""What an import source is, checked before anything expensive runs: GGUF files and Hugging Face model dirs.

The GGUF header is read here with the standard library only (magic, version, metadata, tensor table), so a
truncated download, a file that is not GGUF at all, or an architecture the converter cannot handle fails in
milliseconds with a precise message instead of after a minute of dequantizing.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from foundry_tui.errors import BadInputError

SourceKind = Literal["gguf", "hf"]

GGUF_MAGIC = b"GGUF"

# GGUF architectures that transformers can dequantize AND the ONNX Runtime GenAI builder can convert, with the
# Hugging Face architecture transformers gives them. Anything else fails here, before the slow dequantize step.
GGUF_ARCHITECTURES: dict[str, str] = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "phi3": "Phi3ForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
    "gemma3": "Gemma3ForCausalLM",
    "nemotron": "NemotronForCausalLM",
}

# ggml tensor type → (elements per block, bytes per block), from ggml's type traits. Used only to check that
# the tensor data the header promises is really in the file; an unknown type skips that check.
_GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 40),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
    40: (64, 36),  # NVFP4
    41: (128, 18),  # Q1_0
}

# GGUF metadata value types: fixed-size scalars by struct code; 8 is a string, 9 an array.
_SCALARS: dict[int, str] = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    version: int
    architecture: str
    model_name: str | None
    n_tensors: int
    n_elements: int  # parameters: what the fp32 staging checkpoint will hold, × 4 bytes
    data_end: int | None  # bytes the file must have for all tensor data (None: a tensor type we don't know)
    file_size: int


@dataclass(frozen=True)
class HfInfo:
    path: Path
    architecture: str
    num_layers: int | None
    weights_bytes: int
    bytes_per_param: int  # of the stored weights (2 for fp16/bf16, 4 for fp32)
    name_or_path: str | None


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    path: Path  # resolved
    size: int  # file size, or the weight files' total for a directory
    mtime_ns: int  # newest of the files that matter
    gguf: GgufInfo | None = None
    hf: HfInfo | None = None

    @property
    def n_params(self) -> int:
        if self.gguf is not None:
            return self.gguf.n_elements
        assert self.hf is not None
        return self.hf.weights_bytes // max(1, self.hf.bytes_per_param)


class _Truncated(Exception):
    pass


class _Reader:
    """Bounded reads: every length read from the file is checked against what the file can still hold."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.pos = 0

    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise _Truncated
        data = self.fh.read(n)
        if len(data) != n:
            raise _Truncated
        self.pos += n
        return data

    def unpack(self, code: str) -> Any:
        fmt = "<" + code
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.read(self.unpack("Q")).decode("utf-8", "replace")

    def value(self, vtype: int, keep: bool) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, count = self.unpack("I"), self.unpack("Q")
            if item_type in _SCALARS:  # skip fixed-size arrays in one seek-like read
                self.skip(count * struct.calcsize("<" + _SCALARS[item_type]))
                return None
            for _ in range(count):
                self.value(item_type, keep=False)
            return None
        raise ValueError(f"unknown metadata value type {vtype}")

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _Truncated
        self.fh.seek(n, 1)
        self.pos += n


def read_gguf_header(path: Path) -> GgufInfo:
    """Parse the GGUF header and tensor table; raise BadInputError for a non-GGUF, truncated or corrupt file."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        magic = fh.read(4)
        if len(magic) < 4:
            raise BadInputError(f"{path} is truncated: {size} bytes, too short even for a GGUF header")
        if magic != GGUF_MAGIC:
            raise BadInputError(f"{path} is not a GGUF file (bad magic {magic!r}, expected {GGUF_MAGIC!r})")
        fh.seek(0)
        reader = _Reader(fh, size)
        try:
            reader.read(4)
            version = reader.unpack("I")
            if version not in (2, 3):
                raise BadInputError(f"{path} is GGUF version {version}; only versions 2 and 3 can be imported")
            n_tensors, n_kv = reader.unpack("Q"), reader.unpack("Q")
            if n_tensors > size or n_kv > size:
                raise BadInputError(f"{path} is corrupt: its header claims {n_tensors} tensors and {n_kv} keys")
            meta: dict[str, Any] = {}
            for _ in range(n_kv):
                key = reader.string()
                meta[key] = reader.value(reader.unpack("I"), keep=True)
            n_elements = 0
            data_size: int | None = 0
            for _ in range(n_tensors):
                reader.string()  # name
                n_dims = reader.unpack("I")
                if n_dims > 8:
                    raise BadInputError(f"{path} is corrupt: a tensor with {n_dims} dimensions")
                dims = [reader.unpack("Q") for _ in range(n_dims)]
                ggml_type, offset = reader.unpack("I"), reader.unpack("Q")
                count = math.prod(dims)
                n_elements += count
                block = _GGML_BLOCKS.get(ggml_type)
                if block is None or data_size is None:
                    data_size = None
                else:
                    data_size = max(data_size, offset + count // block[0] * block[1])
        except _Truncated:
            raise BadInputError(
                f"{path} is truncated: the GGUF header ends early (file is {size} bytes); download it again"
            ) from None
        except (ValueError, UnicodeDecodeError, struct.error) as exc:
            raise BadInputError(f"{path} is a corrupt GGUF file: {exc}") from None
    alignment = meta.get("general.alignment") or 32
    data_start = -(-reader.pos // int(alignment)) * int(alignment)
    data_end = None if data_size is None else data_start + data_size
    if data_end is not None and data_end > size:
        raise BadInputError(
            f"{path} is truncated: its tensors need {data_end} bytes but the file has {size}; download it again"
        )
    architecture = meta.get("general.architecture")
    if not isinstance(architecture, str) or not architecture:
        raise BadInputError(f"{path} has no general.architecture in its GGUF metadata")
    name = meta.get("general.name")
    return GgufInfo(
        path=path,
        version=version,
        architecture=architecture,
        model_name=name if isinstance(name, str) else None,
        n_tensors=n_tensors,
        n_elements=n_elements,
        data_end=data_end,
        file_size=size,
    )


_TOKENIZER_SETS = (("tokenizer.json",), ("tokenizer.model",), ("vocab.json", "merges.txt"))


def inspect_hf_dir(path: Path) -> HfInfo:
    """A Hugging Face model dir: config.json with an architecture, weight files and tokenizer files."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise BadInputError(f"{path} has no config.json: it is not a Hugging Face model directory")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{config_path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise BadInputError(f"{config_path} does not hold a JSON object")
    architectures = config.get("architectures")
    if not isinstance(architectures, list) or not architectures or not isinstance(architectures[0], str):
        raise BadInputError(f'{config_path} names no model architecture ("architectures" is missing)')
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    weights = [w for w in weights if w.is_file() and not w.name.startswith("training_args")]
    if not weights:
        raise BadInputError(f"{path} has no weight files (*.safetensors or *.bin)")
    if not any(all((path / name).is_file() for name in names) for names in _TOKENIZER_SETS):
        raise BadInputError(f"{path} has no tokenizer (tokenizer.json, tokenizer.model or vocab.json + merges.txt)")
    text_config = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    layers = text_config.get("num_hidden_layers") if isinstance(text_config, dict) else None
    dtype = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    name = config.get("_name_or_path")
    return HfInfo(
        path=path,
        architecture=architectures[0],
        num_layers=layers if isinstance(layers, int) else None,
        weights_bytes=sum(w.stat().st_size for w in weights),
        bytes_per_param=2 if dtype in ("float16", "bfloat16") else 4,
        name_or_path=name if isinstance(name, str) and name else None,
    )


def inspect_source(source: str | Path) -> Source:
    path = Path(source).expanduser()
    if not path.exists():
        raise BadInputError(f"{path} does not exist")
    path = path.resolve()
    if path.is_dir():
        hf = inspect_hf_dir(path)
        files = [p for p in path.iterdir() if p.is_file()]
        mtime = max(p.stat().st_mtime_ns for p in files)
        return Source("hf", path, hf.weights_bytes, mtime, hf=hf)
    if path.suffix.lower() != ".gguf":
        with path.open("rb") as fh:
            if fh.read(4) != GGUF_MAGIC:
                raise BadInputError(
                    f"{path} is neither a .gguf file nor a Hugging Face model directory (config.json + weights)"
                )
    info = read_gguf_header(path)
    stat = path.stat()
    return Source("gguf", path, stat.st_size, stat.st_mtime_ns, gguf=info)


def unsupported_architecture(architecture: str) -> BadInputError:
    return BadInputError(f"architecture {architecture} is not supported by the ONNX Runtime GenAI builder")


def check_gguf_architecture(info: GgufInfo) -> str:
    """The Hugging Face architecture the GGUF will load as; BadInputError when the route cannot convert it."""
    hf_arch = GGUF_ARCHITECTURES.get(info.architecture)
    if hf_arch is None:
        raise BadInputError(
            f"architecture {info.architecture} is not supported by the ONNX Runtime GenAI builder "
            f"(GGUF import handles: {', '.join(sorted(GGUF_ARCHITECTURES))})"
        )
    return hf_arch


# -- names ---------------------------------------------------------------------------------------------------

_QUANT_SUFFIX = re.compile(r"[._-](?:i?q\d[\w]*|f16|f32|bf16|fp16|fp32|gguf)$", re.IGNORECASE)
_HASH = re.compile(r"^[0-9a-f]{40}$")


def source_stem(source: Source) -> str:
    """A human name for the source: file name without quantization suffixes, or the model dir's name.

    A Hugging Face cache snapshot (…/models--org--name/snapshots/<hash>) is named after the repository.
    """
    if source.kind == "gguf":
        stem = source.path.stem
        while True:
            shorter = _QUANT_SUFFIX.sub("", stem)
            if shorter == stem or not shorter:
                break
            stem = shorter
        return stem
    name = source.path.name
    if _HASH.match(name) and source.path.parent.name == "snapshots":
        repo = source.path.parent.parent.name
        if repo.startswith("models--"):
            return repo.split("--")[-1]
    return name


def slug(text: str) -> str:
    out = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    out = re.sub(r"-{2,}", "-", out).strip("-._")
    return out or "model"


def default_model_id(source: Source, precision: str) -> str:
    """e.g. SmolLM2-135M-Instruct.Q4_1.gguf, int8 → smollm2-135m-instruct-int8-generic-cpu:1"""
    return f"{slug(source_stem(source))}-{precision}-generic-cpu:1"

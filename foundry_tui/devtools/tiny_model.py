"""Build a tiny, deterministic ONNX-GenAI chat model for tests and demos.

Real models are hundreds of megabytes and need a network download; this one is
written in well under a second with ``onnx`` + ``numpy`` alone (~340 KB) and is
accepted by the in-process Foundry Local runtime as a local (BYOM) model.

How it works:

* The graph is ``logits = Gather(W, input_ids)``: row ``t`` of ``W`` is a scaled
  one-hot of ``next_token[t]``, so greedy decoding follows a fixed chain
  (any token -> first answer token -> ... -> last answer token -> EOS).
  Whatever the prompt, the model answers :data:`TINY_ANSWER`.
* The runtime insists on a KV cache, so the graph has one layer with one KV head
  of size 1 whose ``present`` outputs just grow the ``past`` inputs by zeros.
* The tokenizer is GPT-2-style byte-level BPE: 256 byte tokens plus merges that
  make each answer word (with its leading space) a single token, plus the ChatML
  special tokens. EOS is ``<|im_end|>``; the ChatML chat template lives in
  ``tokenizer_config.json`` and the runtime applies it.

Through the SDK the answer streams as ``len(TINY_ANSWER_TOKENS)`` text items,
finishes with ``STOP``, and the usage reports :data:`TINY_COMPLETION_TOKENS`
completion tokens (the EOS token is not counted).

``onnx`` is a dev/test extra, not a runtime dependency, so it is imported lazily.

Usage: ``python -m foundry_tui.devtools.tiny_model OUT_DIR``
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

from foundry_tui.devtools.write_cli import write_main

TINY_ANSWER: str = "Hello from the tiny model."
"""The one sentence the tiny model always answers."""

TINY_ANSWER_TOKENS: tuple[str, ...] = ("Hello", " from", " the", " tiny", " model", ".")
"""The answer's tokens as decoded text, in streaming order (one item per token)."""

TINY_COMPLETION_TOKENS: int = len(TINY_ANSWER_TOKENS)
"""Completion tokens the runtime reports for a full answer (EOS is not counted)."""

MODEL_FILES: tuple[str, ...] = (
    "genai_config.json",
    "model.onnx",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
"""Files :func:`build_tiny_model` writes into the model directory."""

# ChatML specials, in the same order (and so ids) as SmolLM2 uses them.
_ENDOFTEXT = "<|endoftext|>"
_IM_START = "<|im_start|>"
_IM_END = "<|im_end|>"
_SPECIALS: tuple[str, ...] = (_ENDOFTEXT, _IM_START, _IM_END)

_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Scale of the one-hot logits: large enough that greedy and temperature-0 pick it.
_LOGIT_SCALE = 20.0
_OPSET = 17
_IR_VERSION = 8  # conservative, so older onnxruntime builds load it too


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character map (space becomes 'Ġ')."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}


def _tokenizer_parts() -> tuple[dict[str, int], list[str], dict[str, int]]:
    """Return (BPE vocab, merges, special token ids).

    Ids 0..255 are the byte tokens; then one token per merge; then the specials.
    Each answer piece is built by left-to-right prefix merges so byte-level BPE
    encodes it as exactly one token.
    """
    byte_map = _bytes_to_unicode()
    vocab: dict[str, int] = {byte_map[b]: b for b in range(256)}
    merges: list[str] = []
    for piece in TINY_ANSWER_TOKENS:
        chars = "".join(byte_map[b] for b in piece.encode("utf-8"))
        prefix = chars[0]
        for char in chars[1:]:
            merged = prefix + char
            if merged not in vocab:
                merges.append(f"{prefix} {char}")
                vocab[merged] = len(vocab)
            prefix = merged
    specials: dict[str, int] = {}
    for name in _SPECIALS:
        specials[name] = len(vocab) + len(specials)
    return vocab, merges, specials


def _piece_id(vocab: dict[str, int], piece: str) -> int:
    byte_map = _bytes_to_unicode()
    return vocab["".join(byte_map[b] for b in piece.encode("utf-8"))]


def _tokenizer_json(vocab: dict[str, int], merges: list[str], specials: dict[str, int]) -> dict[str, Any]:
    byte_level: dict[str, Any] = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": True,
    }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": token_id,
                "content": name,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for name, token_id in specials.items()
        ],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def _tokenizer_config(specials: dict[str, int], context_length: int) -> dict[str, Any]:
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(token_id): {
                "content": name,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for name, token_id in specials.items()
        },
        "additional_special_tokens": [_IM_START, _IM_END],
        "bos_token": _IM_START,
        "chat_template": _CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": _IM_END,
        "model_max_length": context_length,
        "pad_token": _IM_END,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": _ENDOFTEXT,
    }


def _genai_config(vocab_size: int, specials: dict[str, int], context_length: int) -> dict[str, Any]:
    return {
        "model": {
            "bos_token_id": specials[_IM_START],
            "context_length": context_length,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": "model.onnx",
                "head_size": 1,
                "hidden_size": 1,
                "inputs": {
                    "input_ids": "input_ids",
                    "attention_mask": "attention_mask",
                    "past_key_names": "past_key_values.%d.key",
                    "past_value_names": "past_key_values.%d.value",
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": "present.%d.key",
                    "present_value_names": "present.%d.value",
                },
                "num_attention_heads": 1,
                "num_hidden_layers": 1,
                "num_key_value_heads": 1,
            },
            "eos_token_id": specials[_IM_END],
            "pad_token_id": specials[_IM_END],
            "type": "llama",
            "vocab_size": vocab_size,
        },
        "search": {
            "diversity_penalty": 0.0,
            "do_sample": False,
            "early_stopping": True,
            "length_penalty": 1.0,
            "max_length": context_length,
            "min_length": 0,
            "no_repeat_ngram_size": 0,
            "num_beams": 1,
            "num_return_sequences": 1,
            "past_present_share_buffer": False,
            "repetition_penalty": 1.0,
            "temperature": 1.0,
            "top_k": 1,
            "top_p": 1.0,
        },
    }


def _onnx_model_bytes(next_token: list[int]) -> bytes:
    """Serialize the Gather-over-one-hot decoder with its pass-through KV cache."""
    try:
        import numpy as np
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("building the tiny test model needs the 'onnx' package: pip install onnx") from exc

    vocab_size = len(next_token)
    weights = np.zeros((vocab_size, vocab_size), dtype=np.float32)
    weights[np.arange(vocab_size), np.asarray(next_token)] = _LOGIT_SCALE

    kv_shape_past: list[str | int] = ["batch_size", 1, "past_sequence_length", 1]
    kv_shape_present: list[str | int] = ["batch_size", 1, "total_sequence_length", 1]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]),
        helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, kv_shape_past),
        helper.make_tensor_value_info("past_key_values.0.value", TensorProto.FLOAT, kv_shape_past),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", vocab_size]),
        helper.make_tensor_value_info("present.0.key", TensorProto.FLOAT, kv_shape_present),
        helper.make_tensor_value_info("present.0.value", TensorProto.FLOAT, kv_shape_present),
    ]
    initializers = [
        numpy_helper.from_array(weights, "next_token_logits"),
        numpy_helper.from_array(np.asarray([1, 3], dtype=np.int64), "kv_axes"),
    ]
    nodes = [
        helper.make_node("Gather", ["next_token_logits", "input_ids"], ["logits"], axis=0),
        # zeros[B, 1, S, 1]: one new (empty) cache entry per input token.
        helper.make_node("Unsqueeze", ["input_ids", "kv_axes"], ["ids_4d"]),
        helper.make_node("Shape", ["ids_4d"], ["kv_new_shape"]),
        helper.make_node(
            "ConstantOfShape",
            ["kv_new_shape"],
            ["kv_zeros"],
            value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]),
        ),
        helper.make_node("Concat", ["past_key_values.0.key", "kv_zeros"], ["present.0.key"], axis=2),
        helper.make_node("Concat", ["past_key_values.0.value", "kv_zeros"], ["present.0.value"], axis=2),
    ]
    graph = helper.make_graph(nodes, "tiny_chain", inputs, outputs, initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="foundry_tui.devtools.tiny_model",
    )
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def _write_json(path: pathlib.Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build_tiny_model(
    out_dir: str | os.PathLike[str], *, context_length: int = 512, endless: bool = False
) -> pathlib.Path:
    """Write the tiny model directory and return its path.

    ``endless=True`` loops the answer instead of ending it (last token → first token), so a reply runs until
    max tokens or the context is used up: long enough to cancel mid-stream.

    Writes genai_config.json, model.onnx, tokenizer.json, tokenizer_config.json and
    special_tokens_map.json. Creates ``out_dir`` if needed; refuses a non-empty one
    so a stale or foreign directory is never mixed with a fresh build.
    """
    if context_length < 16:
        raise ValueError(f"context_length must be at least 16, got {context_length}")
    path = pathlib.Path(out_dir)
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"tiny model output path is not a directory: {path}")
        if any(path.iterdir()):
            raise FileExistsError(f"tiny model output directory is not empty: {path}")

    vocab, merges, specials = _tokenizer_parts()
    vocab_size = len(vocab) + len(specials)
    answer_ids = [_piece_id(vocab, piece) for piece in TINY_ANSWER_TOKENS]
    # Any token starts the answer; each answer token leads to the next; the last to EOS.
    next_token = [answer_ids[0]] * vocab_size
    last = answer_ids[0] if endless else specials[_IM_END]
    for current, following in zip(answer_ids, [*answer_ids[1:], last], strict=True):
        next_token[current] = following
    model_bytes = _onnx_model_bytes(next_token)  # before mkdir: a missing onnx leaves no debris

    path.mkdir(parents=True, exist_ok=True)
    (path / "model.onnx").write_bytes(model_bytes)
    _write_json(path / "genai_config.json", _genai_config(vocab_size, specials, context_length))
    _write_json(path / "tokenizer.json", _tokenizer_json(vocab, merges, specials))
    _write_json(path / "tokenizer_config.json", _tokenizer_config(specials, context_length))
    _write_json(
        path / "special_tokens_map.json",
        {"bos_token": _IM_START, "eos_token": _IM_END, "pad_token": _IM_END, "unk_token": _ENDOFTEXT},
    )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m foundry_tui.devtools.tiny_model OUT_DIR`` builds and prints the path."""
    return write_main(argv, "python -m foundry_tui.devtools.tiny_model OUT_DIR", build_tiny_model,
                      (ImportError, OSError, ValueError))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

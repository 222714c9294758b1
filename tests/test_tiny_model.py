"""Fast checks of the tiny deterministic test model (no Foundry Local runtime needed)."""

from __future__ import annotations

import itertools
import json
import pathlib
import re
from typing import Any

import numpy as np
import pytest

from foundry_tui.devtools import tiny_model
from foundry_tui.devtools.tiny_model import (
    MODEL_FILES,
    TINY_ANSWER,
    TINY_ANSWER_TOKENS,
    TINY_COMPLETION_TOKENS,
    build_tiny_model,
)

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402


def _load_json(path: pathlib.Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _weights(model_dir: pathlib.Path) -> np.ndarray[Any, Any]:
    model = onnx.load(str(model_dir / "model.onnx"))
    (init,) = [t for t in model.graph.initializer if t.name == "next_token_logits"]
    return numpy_helper.to_array(init)


def _bpe_encode(word: str, merges: list[str], vocab: dict[str, int]) -> list[int]:
    """Minimal GPT-2 BPE over one pre-token (already byte-mapped)."""
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), len(ranks)), i) for i, (a, b) in enumerate(itertools.pairwise(parts))]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return [vocab[p] for p in parts]


def test_constants_are_consistent() -> None:
    assert "".join(TINY_ANSWER_TOKENS) == TINY_ANSWER
    assert TINY_ANSWER.isascii()
    assert 6 <= len(TINY_ANSWER_TOKENS) <= 10
    assert len(TINY_ANSWER_TOKENS) == TINY_COMPLETION_TOKENS


def test_build_writes_all_files(model_dir: pathlib.Path) -> None:
    for name in MODEL_FILES:
        assert (model_dir / name).is_file(), name
    size = sum(p.stat().st_size for p in model_dir.iterdir())
    assert size < 1_000_000


def test_genai_config_matches_model_and_tokenizer(model_dir: pathlib.Path) -> None:
    config = _load_json(model_dir / "genai_config.json")
    tok = _load_json(model_dir / "tokenizer.json")
    tok_config = _load_json(model_dir / "tokenizer_config.json")
    m = config["model"]
    dec = m["decoder"]
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}

    assert m["type"] == "llama"
    assert (model_dir / dec["filename"]).is_file()
    assert (dec["num_hidden_layers"], dec["num_key_value_heads"], dec["head_size"]) == (1, 1, 1)
    assert m["vocab_size"] == len(tok["model"]["vocab"]) + len(specials)
    assert sorted([*tok["model"]["vocab"].values(), *specials.values()]) == list(range(m["vocab_size"]))
    assert _weights(model_dir).shape == (m["vocab_size"], m["vocab_size"])
    assert m["eos_token_id"] == specials["<|im_end|>"] == m["pad_token_id"]
    assert m["bos_token_id"] == specials["<|im_start|>"]
    assert m["context_length"] == config["search"]["max_length"] == 512
    assert config["search"]["do_sample"] is False
    assert config["search"]["past_present_share_buffer"] is False
    assert tok_config["eos_token"] == "<|im_end|>"
    assert "<|im_start|>assistant" in tok_config["chat_template"]

    # The ONNX graph's names must match the config's name templates.
    graph = onnx.load(str(model_dir / "model.onnx")).graph
    inputs = {i.name for i in graph.input}
    outputs = {o.name for o in graph.output}
    assert {dec["inputs"]["input_ids"], dec["inputs"]["attention_mask"]} <= inputs
    assert dec["inputs"]["past_key_names"] % 0 in inputs
    assert dec["inputs"]["past_value_names"] % 0 in inputs
    assert {dec["outputs"]["logits"], dec["outputs"]["present_key_names"] % 0} <= outputs
    assert dec["outputs"]["present_value_names"] % 0 in outputs


def test_answer_pieces_are_single_tokens(model_dir: pathlib.Path) -> None:
    tok = _load_json(model_dir / "tokenizer.json")
    vocab, merges = tok["model"]["vocab"], tok["model"]["merges"]
    byte_map = tiny_model._bytes_to_unicode()
    # GPT-2 pre-tokenization (ASCII subset) must split the answer into exactly these pieces.
    assert tuple(re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", TINY_ANSWER)) == TINY_ANSWER_TOKENS
    for piece in TINY_ANSWER_TOKENS:
        mapped = "".join(byte_map[b] for b in piece.encode())
        assert _bpe_encode(mapped, merges, vocab) == [vocab[mapped]], piece


def test_greedy_chain_ends_in_eos(model_dir: pathlib.Path) -> None:
    config = _load_json(model_dir / "genai_config.json")
    vocab = _load_json(model_dir / "tokenizer.json")["model"]["vocab"]
    byte_map = tiny_model._bytes_to_unicode()
    weights = _weights(model_dir)
    expected = [vocab["".join(byte_map[b] for b in p.encode())] for p in TINY_ANSWER_TOKENS]
    expected.append(config["model"]["eos_token_id"])
    token = vocab[byte_map[ord("\n")]]  # the generation prompt ends with a newline
    generated = []
    for _ in expected:
        token = int(np.argmax(weights[token]))
        generated.append(token)
    assert generated == expected


def test_onnx_graph_runs(model_dir: pathlib.Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    ids = np.array([[5, 6, 7]], dtype=np.int64)
    past = np.zeros((1, 1, 2, 1), dtype=np.float32)
    logits, key, value = session.run(
        ["logits", "present.0.key", "present.0.value"],
        {
            "input_ids": ids,
            "attention_mask": np.ones((1, 5), dtype=np.int64),
            "past_key_values.0.key": past,
            "past_key_values.0.value": past,
        },
    )
    assert logits.shape == (1, 3, _weights(model_dir).shape[0])
    assert key.shape == value.shape == (1, 1, 5, 1)


def test_build_is_deterministic(model_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    other = build_tiny_model(tmp_path / "again")
    for name in MODEL_FILES:
        assert (other / name).read_bytes() == (model_dir / name).read_bytes(), name


def test_refuses_non_empty_dir(tmp_path: pathlib.Path) -> None:
    (tmp_path / "stray.txt").write_text("x")
    with pytest.raises(FileExistsError):
        build_tiny_model(tmp_path)


def test_accepts_existing_empty_dir_and_context_length(tmp_path: pathlib.Path) -> None:
    path = build_tiny_model(tmp_path, context_length=128)
    config = _load_json(path / "genai_config.json")
    assert config["model"]["context_length"] == config["search"]["max_length"] == 128


def test_cli(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli" / "model"
    assert tiny_model.main([str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    assert tiny_model.main([str(out)]) == 1  # now non-empty
    assert "not empty" in capsys.readouterr().err
    assert tiny_model.main([]) == 2

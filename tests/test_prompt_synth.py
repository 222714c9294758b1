"""Prompts of exactly N tokens (engine.bench.prompt_synth), checked against real tokenizers.

Counters: the tiny model's byte-level BPE (about a character per token), the fake server's tokenizer (a word per
token), a byte-level BPE trained here on a few sentences (words split into sub-words, the worst case for the
search) and, when FOUNDRY_TUI_BPE_TOKENIZER names one, a real model's tokenizer.json. Every count is the
tokenizer's own, so "exact" means exact for that model.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from foundry_tui.devtools.fake_tokenizer import write_fake_tokenizer
from foundry_tui.engine.bench.prompt_synth import (
    CHARS_PER_TOKEN,
    INSTRUCTION,
    SHORT_INSTRUCTION,
    SynthPrompt,
    filler_words,
    synth_prompt,
)
from foundry_tui.engine.bench.tokens import TokenCounter, load_tokenizer

LENGTHS = (16, 100, 128, 512, 2048, 8192)
REAL_BPE = os.environ.get("FOUNDRY_TUI_BPE_TOKENIZER")


class Calls:
    """A counter that counts its calls (each may be a server round-trip)."""

    def __init__(self, counter: Callable[[str], int]) -> None:
        self.counter = counter
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return self.counter(text)


def _trained_bpe(path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = [
        "the quick brown fox jumps over the lazy dog and then some other words appear here in sentences. " * 3,
        "tokenizers learn merges from ordinary text; summarize this above in one sentence please.",
        "river valley mountain street garden",
    ]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=alphabet, show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def counters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TokenCounter]:
    here = tmp_path_factory.mktemp("synth")
    found = {
        "tiny": load_tokenizer(tiny_model_dir),
        "fake": load_tokenizer(write_fake_tokenizer(here / "fake")),
        "trained-bpe": load_tokenizer(_trained_bpe(here / "trained.json")),
    }
    if REAL_BPE:
        found["real-bpe"] = load_tokenizer(REAL_BPE)
    return found


NAMES = ["tiny", "fake", "trained-bpe"] + (["real-bpe"] if REAL_BPE else [])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("target", LENGTHS)
def test_exact_lengths(counters: dict[str, TokenCounter], name: str, target: int) -> None:
    counter = counters[name]
    for variant in (0, 1, 7):
        calls = Calls(counter.count)
        prompt = synth_prompt(target, calls, variant=variant)
        assert prompt == SynthPrompt(prompt.text, target, target, True)
        assert counter.count(prompt.text) == target  # the counter's own figure for the text handed back
        assert prompt.text.endswith((INSTRUCTION, SHORT_INSTRUCTION))
        # O(log N) round-trips: the instruction, a few interpolation steps, a few characters of the last word.
        assert calls.calls <= 2 * math.log2(target) + 4, calls.calls


def test_the_full_instruction_whenever_it_leaves_room(counters: dict[str, TokenCounter]) -> None:
    for name in NAMES:
        assert synth_prompt(100, counters[name].count).text.endswith(INSTRUCTION)
    # The tiny model's tokenizer counts ~1 token per character: 16 tokens only fit the short instruction.
    short = synth_prompt(16, counters["tiny"].count)
    assert short.text.endswith(SHORT_INSTRUCTION) and short.exact


def test_many_lengths_stay_exact_within_few_calls(counters: dict[str, TokenCounter]) -> None:
    for name in NAMES:
        most = 0
        for target in range(16, 3000, 37):
            calls = Calls(counters[name].count)
            prompt = synth_prompt(target, calls, variant=target % 5)
            assert prompt.exact and prompt.tokens == target, (name, target)
            most = max(most, calls.calls)
        assert most <= 12, (name, most)


def test_variants_differ_from_the_first_words_and_are_deterministic(counters: dict[str, TokenCounter]) -> None:
    count = counters["fake"].count
    prompts = [synth_prompt(512, count, variant=v) for v in range(300)]
    openings = {tuple(p.text.split()[:2]) for p in prompts}
    assert len(openings) == 300  # no two rounds share even their first two words: no shared cache prefix
    assert len({p.text.split()[0] for p in prompts[:200]}) == 200
    assert synth_prompt(512, count, variant=3) == prompts[3]
    assert synth_prompt(512, counters["tiny"].count, variant=3) == synth_prompt(512, counters["tiny"].count, variant=3)
    # A longer prompt of a variant starts with the shorter one's words: lengths are prefixes of one stream.
    longer = synth_prompt(2048, count, variant=3)
    assert longer.text.startswith(prompts[3].text.removesuffix(INSTRUCTION).rsplit(" ", 1)[0])


def test_filler_is_plain_lower_case_prose() -> None:
    words = filler_words(4, 5000)
    assert words == filler_words(4, 6000)[:5000]  # prefix-stable, whatever length is asked for
    text = " ".join(words)
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz .")
    sentences = [s.split() for s in text.split(".") if s.strip()]
    assert all(len(s) <= 15 for s in sentences) and sum(len(s) for s in sentences) / len(sentences) >= 7


def test_large_prompts_are_fast(counters: dict[str, TokenCounter]) -> None:
    for name in ("tiny", "fake"):
        calls = Calls(counters[name].count)
        started = time.perf_counter()
        prompt = synth_prompt(131_072, calls, variant=2)
        elapsed = time.perf_counter() - started
        assert prompt.exact and prompt.tokens == 131_072
        assert calls.calls <= 25 and elapsed < 5.0, (name, calls.calls, elapsed)


def test_too_short_a_target_is_a_one_line_value_error(counters: dict[str, TokenCounter]) -> None:
    with pytest.raises(ValueError, match=r"^a prompt of 12 tokens is too short") as err:
        synth_prompt(12, counters["tiny"].count)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="too short"):
        synth_prompt(8, None)


def test_without_a_counter_the_length_is_an_estimate(counters: dict[str, TokenCounter]) -> None:
    for target in (128, 2048, 32768):
        prompt = synth_prompt(target, None, variant=1)
        assert (prompt.target, prompt.tokens, prompt.exact) == (target, None, False)
        assert prompt.text.endswith(INSTRUCTION)
        assert abs(len(prompt.text) / target - CHARS_PER_TOKEN) < 0.1 * CHARS_PER_TOKEN
        assert synth_prompt(target, None, variant=1) == prompt
        assert synth_prompt(target, None, variant=2).text.split()[0] != prompt.text.split()[0]
    if REAL_BPE:  # the ratio is a BPE vocabulary's: within a few percent of a real one
        counted = counters["real-bpe"].count(synth_prompt(8192, None).text)
        assert abs(counted - 8192) < 0.05 * 8192


def test_a_counter_that_hardly_counts_ends_the_search() -> None:
    """A broken counter (every text one token) must not make the filler grow without end."""
    calls = Calls(lambda text: 1 if text else 0)
    prompt = synth_prompt(64, calls)
    assert prompt.tokens == 1 and not prompt.exact and calls.calls < 20


def test_a_noisy_non_monotone_counter_still_ends_close() -> None:
    """Counts that wobble (±1 by the text's hash, as BPE merges can) still end within a token or so, quickly."""

    def wobbly(text: str) -> int:
        return len(text) // 4 + (len(text) * 7919) % 3 - 1

    for target in (100, 1000, 10_000):
        calls = Calls(wobbly)
        prompt = synth_prompt(target, calls)
        assert prompt.tokens == wobbly(prompt.text) and prompt.tokens is not None
        assert target - 2 <= prompt.tokens <= target and calls.calls <= 30

"""Prompts of exactly N tokens, as one model's tokenizer counts them, for the prompt-length sweep and context search.

A prompt is filler prose (ordinary lower-case English words, a period every few words) followed by a short fixed
instruction, so a model has something sensible to answer. The filler is a deterministic stream per `variant`
and differs between variants from its first two words on; callers give every request its own variant (the
longer prompts of one variant start with its shorter ones), so a server's prefix cache cannot reuse an earlier
request's prompt and each first token waits for a whole prefill.

With a counter (engine.bench.tokens.TokenCounter.count or the server's tokenize route: no special tokens) the
length is searched, not guessed: a counter may be a server round-trip, so the search makes O(log N) calls (a
safeguarded interpolation over whole words, then a bisection over the characters of the next word; ~5-12 calls
for any N up to 128k in practice, never more than ~2·log2 of the filler's words). BPE counts grow only roughly
monotonically with the text, so the returned count is the counter's own for the returned text, and `exact` says
whether it hit the target. Without a counter the length is an estimate (`CHARS_PER_TOKEN`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CHARS_PER_TOKEN", "INSTRUCTION", "SHORT_INSTRUCTION", "SynthPrompt", "filler_words", "synth_prompt"]

INSTRUCTION = "\n\nSummarize the text above in one sentence."
SHORT_INSTRUCTION = "\n\nSummarize."  # for targets too short for the full one (byte-level tokenizers)
MIN_FILLER_TOKENS = 4  # the least filler a prompt carries: a prompt must differ from the other variants' at all

CHARS_PER_TOKEN = 5.6
"""Characters per token of this filler under a typical BPE vocabulary, for prompts generated without a counter.

Measured: 5.6 (1.09 tokens per word) with a 65k-entry byte-level BPE vocabulary (the tokenizer.json that the
anthropic 0.30.0 wheel ships) over fillers of 20 to 100,000 words, for several variants: these common words are
one token each with their leading space in any large BPE vocabulary, so others should be close. Byte-level
tokenizers without word merges (the test model's) count ~1 character per token, so there the estimate is far off:
a counter is what makes it exact.
"""

# Common words that are whole tokens in typical BPE vocabularies: lower-case ASCII letters only, so no tokenizer
# merges them with their neighbours in unusual ways. 274 of them: the variant picks the first two words.
_WORD_TEXT = """
    able about above across after again against along also always among animal answer apple area around
    autumn back ball bank basket beach bean bear before began behind bell below best better between bird black
    blue board boat body bold book both bottle bread bridge bright bring brother brown build busy cake call calm
    came candle card care carry castle catch cause center chair change cheese child circle city class clean clear
    clock close cloud coast cold color common corner cotton country course cover cream cross crowd dance dark
    dawn deep desk door down dream dress drive during early earth east easy edge eight empty energy evening every
    face fair family farm fast father feather field final finger fire first fish five floor flower follow food
    forest form four fresh friend front fruit full garden gate gentle gift glass gold good grass great green
    ground group grow half hand happy harbor heart heavy hill history hold home honey horse house idea island
    kind kitchen lake lamp land large last late leaf learn letter light line little long lunch market meadow
    metal middle milk mind minute moon morning mother mountain music name narrow near never night noise north
    number ocean open orange order other paper park path pencil people piano picture place plain plant pocket
    quiet rain read river road rock room round salt sand school season second shadow ship shore silver simple
    sister small snow soft song south spring square stone story street strong summer table tall teacher thread
    tiny today together town train travel tree under valley village wall warm water weather west wheel white
    wide wind window winter wood word world yellow young
"""
_WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())
_SENTENCE_WORDS = (7, 15)  # a period after every 7 to 15 words: prose, not one endless run-on
_WORDS_PER_TOKEN_PRIOR = 0.8  # words per token before the first measurement (BPE ~0.9, byte-level ~0.15)
_MAX_WORDS_PER_TOKEN = 4  # no tokenizer packs more of these words into a token: the search's ceiling


@dataclass(frozen=True)
class SynthPrompt:
    text: str  # the user message
    target: int  # tokens asked for
    tokens: int | None  # tokens of `text` as the counter counts them (None: no counter)
    exact: bool  # tokens == target


def filler_words(variant: int, count: int) -> list[str]:
    """The first `count` words of variant `variant`'s filler (a period ends some of them).

    The first two words are picked by the variant itself (unique pairs for variants 0 … 75075), the rest shuffled
    pages of the word list, seeded by the variant.
    """
    n = len(_WORDS)
    # Two generators, so that a longer filler starts with the same words and periods as a shorter one.
    shuffles = random.Random(f"foundry-tui prompt words {variant}")
    stops = random.Random(f"foundry-tui prompt periods {variant}")
    words = [_WORDS[variant % n], _WORDS[(variant + 1 + variant // n) % n]]
    while len(words) < count:
        page = list(_WORDS)
        shuffles.shuffle(page)
        words.extend(page)
    del words[count:]
    stop = -1
    while (stop := stop + stops.randint(*_SENTENCE_WORDS)) < len(words):
        words[stop] += "."
    return words


def synth_prompt(target: int, count: Callable[[str], int] | None, *, variant: int = 0) -> SynthPrompt:
    """A user message of `target` tokens as `count` counts them (see the module docstring).

    `count(text)`: tokens of `text` without special tokens; None → an estimate (`exact` False, `tokens` None).
    ValueError (one line) when `target` leaves no room for the instruction and a few words of filler.
    """
    if count is None:
        return _estimated(target, variant)
    return _Search(target, count, variant).run()


def _estimated(target: int, variant: int) -> SynthPrompt:
    instruction_tokens = math.ceil(len(INSTRUCTION) / CHARS_PER_TOKEN)
    if target < instruction_tokens + MIN_FILLER_TOKENS:
        least = instruction_tokens + MIN_FILLER_TOKENS
        raise ValueError(f"a prompt of {target} tokens is too short: it needs at least {least}")
    chars = round((target - instruction_tokens) * CHARS_PER_TOKEN)
    words = filler_words(variant, chars // 3 + 2)  # words are at least 3 characters with their space
    filler = " ".join(words)
    cut = filler.rfind(" ", 0, chars + 1)
    return SynthPrompt(filler[: cut if cut > 0 else chars] + INSTRUCTION, target, None, False)


class _Search:
    """One prompt's search: the filler's length in words, then in characters of the next word."""

    def __init__(self, target: int, count: Callable[[str], int], variant: int) -> None:
        self.target = target
        self.variant = variant
        self._count = count
        self._counts: dict[str, int] = {}
        self.instruction = INSTRUCTION
        self.filler = ""
        self.ends: list[int] = [0]  # ends[k]: characters of the filler's first k words (without the next space)

    def tokens(self, chars: int) -> int:
        text = self.text(chars)
        if text not in self._counts:
            self._counts[text] = self._count(text)
        return self._counts[text]

    def text(self, chars: int) -> str:
        return self.filler[:chars] + self.instruction

    def run(self) -> SynthPrompt:
        base = self._choose_instruction()
        words = self._words(base)
        chars = self.ends[words]
        if self.tokens(chars) < self.target and words + 1 < len(self.ends):
            chars = self._characters(chars, self.ends[words + 1])
        tokens = self.tokens(chars)
        return SynthPrompt(self.text(chars), self.target, tokens, tokens == self.target)

    def _choose_instruction(self) -> int:
        """The full instruction, or the short one when the full one leaves too little room; its token count."""
        for instruction in (INSTRUCTION, SHORT_INSTRUCTION):
            self.instruction = instruction
            base = self.tokens(0)
            if self.target >= base + MIN_FILLER_TOKENS:
                return base
        raise ValueError(
            f"a prompt of {self.target} tokens is too short: the instruction alone takes {base} "
            f"and a prompt needs {MIN_FILLER_TOKENS} more"
        )

    def _grow(self, words: int) -> None:
        """Make the filler at least `words` words long (the stream is regenerated: the same words, longer)."""
        if words < len(self.ends):
            return
        all_words = filler_words(self.variant, max(words, 2 * (len(self.ends) - 1)) + 16)
        self.filler = " ".join(all_words)
        self.ends = [0]
        for word in all_words:
            self.ends.append(self.ends[-1] + (len(word) if len(self.ends) == 1 else len(word) + 1))

    def _words(self, base: int) -> int:
        """The most whole words whose text counts at most the target (a safeguarded interpolation search)."""
        target = self.target
        lo, lo_tokens = 0, base
        hi: int | None = None
        hi_tokens = 0
        widths: list[int] = []  # bracket widths, to fall back to bisection when interpolation stalls
        most = _MAX_WORDS_PER_TOKEN * target + 16
        while hi is None or hi - lo > 1:
            if lo_tokens == target:
                return lo
            if hi is None:
                if lo >= most:
                    return lo  # a counter that hardly counts words: give up on exactness rather than grow forever
                per_word = (lo_tokens - base) / lo if lo > 0 else 1 / _WORDS_PER_TOKEN_PRIOR
                # Aim a little past the estimate so the first probes bracket the answer instead of creeping up.
                guess = lo + max(1, math.ceil((target - lo_tokens) / max(per_word, 1e-3) * 1.02) + 1)
                guess = min(guess, most)
            else:
                stalled = len(widths) >= 3 and widths[-1] > widths[-3] // 2
                if stalled:
                    guess = (lo + hi) // 2
                else:
                    share = (target - lo_tokens) / max(1, hi_tokens - lo_tokens)
                    guess = lo + round(share * (hi - lo))
                guess = min(max(guess, lo + 1), hi - 1)
            self._grow(guess)
            tokens = self.tokens(self.ends[guess])
            if tokens <= target:
                lo, lo_tokens = guess, tokens
            else:
                hi, hi_tokens = guess, tokens
            if hi is not None:
                widths.append(hi - lo)
        return lo

    def _characters(self, lo: int, hi: int) -> int:
        """The filler length between `lo` characters (counts under the target) and `hi` (counts over it) that
        counts the target: a bisection, as a character mostly adds no token or one; where a merge made the count
        step back (" b" one token more than " br") the few lengths it skipped are tried too. Else the longest
        length found under the target."""
        first, last = lo, hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            tokens = self.tokens(mid)
            if tokens == self.target:
                return mid
            if tokens < self.target:
                lo = mid
            else:
                hi = mid
        for chars in range(first + 1, last):  # a word's few characters: only when the bisection missed
            if self.tokens(chars) == self.target:
                return chars
        return lo

"""Answer quality: rubric coverage, a judge model's 1–5 score, manual 1–5 annotations (docs/benchmarks.md).

Here: matching and scoring, the judge's prompt and the parsing of its reply, and the typed quality of one answer
and of a summary. The judge's run over a benchmark's answers is `engine.bench.judge` (it needs the runner's
request execution).

Rubric matching: an aspect is covered when any of its phrases occurs in the answer, case-insensitively, with runs
of whitespace treated as one space, and not inside a longer word (a phrase that starts or ends with a letter or
digit must not touch another letter or digit there: "cat" does not match "concatenate"). The score is
covered aspects / aspects, from 0 to 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from foundry_tui.backends.base import ChatMessage
from foundry_tui.engine.prompts import Aspect, PromptSpec
from foundry_tui.text import safe_line


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in phrase.split()]
    body = r"\s+".join(words)
    head = r"(?<![^\W_])" if phrase[:1].isalnum() else ""
    tail = r"(?![^\W_])" if phrase[-1:].isalnum() else ""
    return re.compile(head + body + tail, re.IGNORECASE)


def phrase_matches(phrase: str, text: str) -> bool:
    return _phrase_pattern(" ".join(phrase.split())).search(text) is not None


@dataclass(frozen=True)
class RubricScore:
    score: float  # covered / total, 0..1
    covered: tuple[str, ...]
    missed: tuple[str, ...]


def score_rubric(text: str, aspects: Sequence[Aspect]) -> RubricScore | None:
    """None when the prompt has no expected aspects."""
    if not aspects:
        return None
    covered = tuple(a.name for a in aspects if any(phrase_matches(p, text) for p in a.any_of))
    missed = tuple(a.name for a in aspects if a.name not in covered)
    return RubricScore(len(covered) / len(aspects), covered, missed)


# -- judge model ---------------------------------------------------------------------------------------------

JUDGE_SYSTEM = (
    "You grade answers written by another AI model. Reply with the score only, as 'Score: N' where N is a whole "
    "number from 1 (useless) to 5 (excellent)."
)


def judge_messages(spec: PromptSpec, answer: str) -> list[ChatMessage]:
    rubric = "\n".join(f"- mentions {' or '.join(repr(p) for p in a.any_of)}" for a in spec.expect)
    parts = [
        f"Question:\n{spec.prompt}",
        f"Answer to grade:\n{answer}",
        f"A good answer is correct, relevant and clear.{' It also:' if rubric else ''}\n{rubric}".rstrip(),
        "Score the answer from 1 to 5. Reply with 'Score: N' and nothing else.",
    ]
    return [ChatMessage("system", JUDGE_SYSTEM), ChatMessage("user", "\n\n".join(parts))]


_SCORE_PATTERNS = (
    re.compile(r"\bscore\s*(?:is|of|=|:)?\s*\**\s*([1-5])(?:\.0+)?\s*\**(?:\s*/\s*5|\s+out\s+of\s+5)?(?!\.?\d)", re.I),
    re.compile(r"(?<![\d.])([1-5])(?:\.0+)?\s*(?:/\s*5|out\s+of\s+5)(?!\.?\d)", re.I),
    re.compile(r"^\W*([1-5])(?:\.0+)?\W*$"),
)
_LONE_DIGIT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.]|\.\d)")


def parse_judge_score(reply: str) -> tuple[int | None, str | None]:
    """(score 1..5, None) or (None, note). Tries, in order: 'Score: N' (also 'score is N', '**N**'), 'N/5' or
    'N out of 5', a reply that is just N; then a single number in the reply when it is the only one and in 1..5.
    Reasoning wrapped in <think>…</think> is ignored."""
    text = re.sub(r"<think>.*?(</think>|$)", " ", reply, flags=re.S | re.I).strip()
    if not text:
        return None, "judge reply was empty"
    for pattern in _SCORE_PATTERNS:
        found = {int(m.group(1)) for m in pattern.finditer(text)}
        if len(found) == 1:
            return found.pop(), None
        if len(found) > 1:
            return None, f"judge reply gives several scores: {safe_line(text, 80)!r}"
    numbers = [float(m.group(1)) for m in _LONE_DIGIT.finditer(text)]
    if len(numbers) == 1 and numbers[0] in (1.0, 2.0, 3.0, 4.0, 5.0):
        return int(numbers[0]), None
    return None, f"unparseable judge reply: {safe_line(text, 80)!r}"


# -- per answer and per summary -------------------------------------------------------------------------------


@dataclass
class AnswerQuality:
    """`quality` of one request in results.json: rubric coverage (0–1), judge and manual scores (1–5)."""

    rubric: float | None = None
    rubric_covered: list[str] = field(default_factory=list)
    rubric_missed: list[str] = field(default_factory=list)
    judge: int | None = None
    judge_note: str | None = None
    manual: int | None = None
    manual_note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer writer added, kept when a file is rewritten

    @classmethod
    def scored(cls, text: str, aspects: Sequence[Aspect]) -> AnswerQuality:
        """The rubric filled in for an answer (left empty when the prompt expects nothing)."""
        rubric = score_rubric(text, aspects)
        if rubric is None:
            return cls()
        return cls(rubric.score, list(rubric.covered), list(rubric.missed))

    def copy(self) -> AnswerQuality:
        return replace(
            self,
            rubric_covered=list(self.rubric_covered),
            rubric_missed=list(self.rubric_missed),
            extra=dict(self.extra),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rubric": self.rubric,
            "rubric_covered": list(self.rubric_covered),
            "rubric_missed": list(self.rubric_missed),
            "judge": self.judge,
            "judge_note": self.judge_note,
            "manual": self.manual,
            "manual_note": self.manual_note,
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


@dataclass(frozen=True)
class QualitySummary:
    """Means over the ok answers of one summary: rubric coverage (0..1), judge (1..5), manual annotations (1..5)."""

    rubric_mean: float | None = None
    rubric_n: int = 0
    judge_mean: float | None = None
    judge_n: int = 0
    judge_unparsed: int = 0  # answers the judge was asked about without a usable score
    manual_mean: float | None = None
    manual_n: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rubric_mean": self.rubric_mean,
            "rubric_n": self.rubric_n,
            "judge_mean": self.judge_mean,
            "judge_n": self.judge_n,
            "judge_unparsed": self.judge_unparsed,
            "manual_mean": self.manual_mean,
            "manual_n": self.manual_n,
        }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def quality_summary(answers: Iterable[AnswerQuality]) -> QualitySummary:
    rubric: list[float] = []
    judge: list[float] = []
    manual: list[float] = []
    judge_failed = 0
    for q in answers:
        if q.rubric is not None:
            rubric.append(q.rubric)
        if q.judge is not None:
            judge.append(q.judge)
        elif q.judge_note:
            judge_failed += 1
        if q.manual is not None:
            manual.append(q.manual)
    return QualitySummary(
        _mean(rubric), len(rubric), _mean(judge), len(judge), judge_failed, _mean(manual), len(manual)
    )

"""Service-level objectives and goodput: `--slo "ttft_ms<=500,decode_tps>=20,e2e_ms<=4000"`.

A request is *good* when it succeeded and every target holds for it; a target on a figure the request does not have
(a non-streamed request has no TTFT) is not met. Goodput is the share of good requests among those that were sent
and finished (ok or failed; cancelled ones never finished, and the cold first request of a process is reported
apart, as in the TTFT summary), and the rate of good requests over the level's duration. Definitions:
docs/metrics.md#goodput.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from foundry_tui.errors import BadInputError

if TYPE_CHECKING:
    from foundry_tui.engine.bench.results import RequestResult

# Per-request figures a target may name, with their unit for messages.
SLO_METRICS: dict[str, str] = {
    "ttft_ms": "ms",
    "itl_ms": "ms",  # the request's mean gap between pieces
    "e2e_ms": "ms",
    "decode_tps": "tok/s",
    "prefill_tps": "tok/s",
    "e2e_tps": "tok/s",
}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_TARGET = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>)\s*([^\s]+)\s*$")


@dataclass(frozen=True)
class SloTarget:
    metric: str
    op: str
    value: float

    def text(self) -> str:
        """As typed, exactly: the stored text is parsed again (summaries, resume, compare), so no rounding."""
        value = int(self.value) if self.value.is_integer() and abs(self.value) < 1e15 else repr(self.value)
        return f"{self.metric}{self.op}{value}"

    def met_by(self, request: RequestResult) -> bool:
        figure = request_figure(request, self.metric)
        return figure is not None and _OPS[self.op](figure, self.value)


def request_figure(request: RequestResult, metric: str) -> float | None:
    if metric == "itl_ms":
        return sum(request.itl_ms) / len(request.itl_ms) if request.itl_ms else None
    return request.value(metric)


def parse_slo(text: str | None, label: str = "--slo") -> tuple[SloTarget, ...]:
    """'ttft_ms<=500, decode_tps>=20' → targets; None or blank → none. One-line BadInputError naming `label`."""
    if text is None or not text.strip():
        return ()
    targets: list[SloTarget] = []
    for part in text.split(","):
        if not part.strip():
            raise BadInputError(f"{label} has an empty target (two commas, or one at an end): {text.strip()!r}")
        match = _TARGET.match(part)
        if match is None:
            raise BadInputError(f"{label} takes targets like ttft_ms<=500,decode_tps>=20; cannot read {part.strip()!r}")
        metric, op, raw = match.groups()
        if metric not in SLO_METRICS:
            known = ", ".join(SLO_METRICS)
            raise BadInputError(f"{label}: unknown figure {metric!r}; use one of {known}")
        try:
            value = float(raw)
        except ValueError:
            raise BadInputError(f"{label}: {metric}{op} needs a number, got {raw!r}") from None
        if not math.isfinite(value) or value < 0:
            raise BadInputError(f"{label}: {metric}{op}{raw} must be a finite number ≥ 0")
        if any(t.metric == metric and t.op == op for t in targets):
            raise BadInputError(f"{label}: {metric}{op} is given twice")
        targets.append(SloTarget(metric, op, value))
    return tuple(targets)


def slo_text(targets: Sequence[SloTarget]) -> str | None:
    """The normalized form kept in results.json (None without targets)."""
    return ",".join(t.text() for t in targets) or None


def is_good(request: RequestResult, targets: Sequence[SloTarget]) -> bool:
    return request.ok and all(t.met_by(request) for t in targets)


@dataclass(frozen=True)
class Goodput:
    good: int
    counted: int  # ok + failed, the cold request left out
    share: float | None
    rps: float | None


def goodput(
    requests: Sequence[RequestResult], targets: Sequence[SloTarget], duration_s: float | None
) -> Goodput | None:
    """None without targets. `duration_s`: the level's duration when every request was ok (else no rate)."""
    if not targets:
        return None
    counted = [r for r in requests if r.status in ("ok", "error") and not r.cold]
    good = sum(1 for r in counted if is_good(r, targets))
    share = good / len(counted) if counted else None
    rps = good / duration_s if duration_s else None
    return Goodput(good, len(counted), share, rps)


__all__ = ["SLO_METRICS", "Goodput", "SloTarget", "goodput", "is_good", "parse_slo", "request_figure", "slo_text"]

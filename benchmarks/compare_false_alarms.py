"""How often does `foundry-tui compare` cry wolf, and how often does it catch a real 10 % slowdown? Measured.

Each trial builds two runs with the real result types (RequestResult, Summary, BenchResults) and compares them
with engine.bench.compare.compare_results, the code `compare` and `bench --baseline` run. A run is the defaults:
4 prompts × 3 rounds, one model, stream mode, at each concurrency level asked for. Prompts differ in their base
values (TTFT 40–300 ms, 64–512 tokens, decode 170–200 tok/s), as real prompt sets do. Per request, TTFT and the
decode rate get independent multiplicative noise N(1, CV); ITL is 1000 / decode; E2E = TTFT + tokens × ITL; token
counts are fixed per prompt (temperature 0). `drift` multiplies every time of a whole run by N(1, drift): what
re-running an identical setup does (another boot, another thermal state).

Scenarios: the same distribution in A and B (false alarms), a real but tiny shift (0.2 %: the gate's job), and
every time 10 % longer in B (detection); "alike prompts" gives every prompt the same base values, like the paced
test server on which the previous method flagged 5 of 15 rows of two identical setups. For each: the share of
timing rows flagged (TTFT, ITL, E2E, decode; any verdict naming a change), the share of comparisons with any
row flagged, and for the slowdown the share where the E2E row reads "slower".
Four methods side by side: the shipped one (stratified test + Benjamini-Hochberg + 5 % effect gate), the same
with Holm, the same without the gate, and the previous one (pooled Mann-Whitney U, raw p < alpha, no gate).

Run: python benchmarks/compare_false_alarms.py [--pairs 2000] [--levels 1]     (about a minute per 1000 pairs)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from foundry_tui.engine.bench import BenchResults, RequestResult, Summary
from foundry_tui.engine.bench.compare import COMPARED, GOODPUT, compare_results
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.engine.stats import mann_whitney_u

MODEL = "sim-model"
TTFT_MS = (40.0, 80.0, 150.0, 300.0)
TOKENS = (64, 128, 256, 512)
DECODE_TPS = (200.0, 195.0, 185.0, 170.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    cv: float  # per-request noise
    drift: float = 0.0  # per-run multiplier noise on every time
    slowdown: float = 0.0  # B's times × (1 + slowdown)
    alike: bool = False  # every prompt with the same base values (a paced test server), not the varied set


SCENARIOS = (
    Scenario("same, CV 1%", 0.01),
    Scenario("same, CV 5%", 0.05),
    Scenario("same, CV 10%", 0.10),
    Scenario("same, CV 1% + run drift 0.5%", 0.01, drift=0.005),
    Scenario("real 0.2% shift, CV 0.05%", 0.0005, slowdown=0.002),
    Scenario("alike prompts: same, CV 1% + drift 0.5%", 0.01, drift=0.005, alike=True),
    Scenario("alike prompts: 0.2% shift, CV 0.05%", 0.0005, slowdown=0.002, alike=True),
    Scenario("10% slower, CV 1%", 0.01, slowdown=0.10),
    Scenario("10% slower, CV 5%", 0.05, slowdown=0.10),
    Scenario("10% slower, CV 10%", 0.10, slowdown=0.10),
)

# (name, correction, min effect %): the shipped method first
METHODS = (
    ("stratified + BH + 5% gate", "benjamini-hochberg", 5.0),
    ("stratified + Holm + 5% gate", "holm", 5.0),
    ("stratified + BH, no gate", "benjamini-hochberg", 0.0),
)


def simulated_run(rng: np.random.Generator, s: Scenario, levels: list[int], slower: bool, rounds: int) -> BenchResults:
    factor = (1 + s.slowdown if slower else 1.0) * max(0.5, 1 + s.drift * rng.standard_normal())
    requests = []
    for level in levels:
        for rnd in range(1, rounds + 1):
            for p, (ttft0, tokens, decode0) in enumerate(zip(TTFT_MS, TOKENS, DECODE_TPS, strict=True)):
                if s.alike:
                    ttft0, tokens, decode0 = TTFT_MS[1], TOKENS[1], DECODE_TPS[1]
                ttft = ttft0 * factor * max(0.1, 1 + s.cv * rng.standard_normal())
                decode = decode0 / factor * max(0.1, 1 + s.cv * rng.standard_normal())
                itl = 1000.0 / decode
                requests.append(
                    RequestResult(
                        model=MODEL,
                        prompt_index=p,
                        round=rnd,
                        concurrency=level,
                        mode="stream",
                        status="ok",
                        ttft_ms=ttft,
                        decode_tps=decode,
                        itl_ms=[itl],
                        completion_tokens=tokens,
                        e2e_ms=ttft + tokens * itl,
                    )
                )
    summaries = [Summary(model=MODEL, concurrency=level, mode="stream", status="ok") for level in levels]
    prompts = [PromptSpec(f"prompt {i}") for i in range(len(TTFT_MS))]
    return BenchResults(requests=requests, summaries=summaries, prompts=prompts)


def old_flags(a: BenchResults, b: BenchResults, alpha: float) -> dict[tuple[int, str], bool]:
    """The previous method: pooled per-request values, Mann-Whitney U, flagged at raw p < alpha."""

    def values(results: BenchResults, level: int, metric: str) -> list[float]:
        rs = [r for r in results.requests if r.concurrency == level]
        if metric == "itl_ms":
            return [float(np.median(r.itl_ms)) for r in rs]
        return [float(v) for r in rs if (v := r.value(metric)) is not None]

    levels = sorted({r.concurrency for r in a.requests})
    return {
        (level, m): mann_whitney_u(values(a, level, m), values(b, level, m)).p < alpha
        for level in levels
        for m in COMPARED
        if m != GOODPUT  # a share per level, not per request
    }


@dataclass
class Tally:
    rows: int = 0
    flagged_rows: int = 0
    comparisons: int = 0
    flagged_comparisons: int = 0
    e2e_slower: int = 0
    e2e_rows: int = 0

    def add(self, flags: dict[tuple[int, str], bool], verdicts: dict[tuple[int, str], str] | None = None) -> None:
        timing = [flagged for (_, metric), flagged in flags.items() if metric != "completion_tokens"]
        self.rows += len(timing)  # token counts never vary here (temperature 0): rows that can change only
        self.flagged_rows += sum(timing)
        self.comparisons += 1
        self.flagged_comparisons += any(flags.values())
        for (level, metric), flagged in flags.items():
            if metric == "e2e_ms":
                self.e2e_rows += 1
                # the old method named no direction in its flag here: a flag on a real slowdown counts as caught
                said_slower = verdicts is None or verdicts[(level, metric)].startswith("slower")
                self.e2e_slower += flagged and said_slower


def run(pairs: int, levels: list[int], rounds: int, alpha: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"{pairs} pairs per scenario · 4 prompts × {rounds} rounds · levels {levels} · alpha {alpha:g} · "
          f"min effect 5%")  # fmt: skip
    header = f"{'scenario':42} {'method':28} {'rows flagged':>13} {'any row flagged':>16} {'E2E caught':>11}"
    print(header)
    print("-" * len(header))
    for s in SCENARIOS:
        tallies = {name: Tally() for name, _, _ in METHODS} | {"old: pooled MWU, raw p": Tally()}
        for _ in range(pairs):
            a = simulated_run(rng, s, levels, slower=False, rounds=rounds)
            b = simulated_run(rng, s, levels, slower=True, rounds=rounds)
            for name, correction, min_effect in METHODS:
                comparison = compare_results(a, b, alpha=alpha, min_effect_pct=min_effect, correction=correction)
                flags = {(r.concurrency, r.metric): r.significant for r in comparison.rows}
                verdicts = {(r.concurrency, r.metric): r.verdict for r in comparison.rows}
                tallies[name].add(flags, verdicts)
            tallies["old: pooled MWU, raw p"].add(old_flags(a, b, alpha))
        for name, t in tallies.items():
            caught = f"{t.e2e_slower / t.e2e_rows:11.1%}" if s.slowdown >= 0.05 else f"{'':>11}"
            print(f"{s.name:42} {name:28} {t.flagged_rows / t.rows:13.2%} "
                  f"{t.flagged_comparisons / t.comparisons:16.2%} {caught}")  # fmt: skip
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--levels", default="1", help="concurrency levels per run, comma-separated (default 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    started = time.perf_counter()
    run(args.pairs, [int(x) for x in args.levels.split(",")], args.rounds, args.alpha, args.seed)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

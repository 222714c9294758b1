"""Typed benchmark results: what results.json holds (schema "foundry-tui.bench/1").

`BenchResults.to_json()` is the results.json object and `BenchResults.from_json(data, source)` reads one back:
files written by any version of schema 1 load, and a bad file is a one-line BadInputError naming `source` and the
place in it. Each JSON object is a dataclass whose fields carry the JSON names and types (engine.bench.jsonio
reads and writes them field by field); keys this version does not know are kept in `extra` and written back.
A missing figure is None (null), never 0. Shapes and definitions: docs/benchmarks.md, docs/metrics.md.

Size: the whole schema of results.json, one record a class; split, a reader would have to chase a field's type
across modules, and the phase records (sweep, context, cold) are read by the same `BenchResults.from_json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from foundry_tui.engine.bench.comparison import Comparison
from foundry_tui.engine.bench.jsonio import FormatError, Readers, fields_json, read_record
from foundry_tui.engine.bench.record import Record
from foundry_tui.engine.prompts import Aspect, ModelTags, PromptSpec
from foundry_tui.engine.quality import AnswerQuality, QualitySummary
from foundry_tui.engine.stats import summarize
from foundry_tui.errors import BadInputError
from foundry_tui.text import safe_line

SCHEMA = "foundry-tui.bench/1"
# Summarized per request, in results.json order (ITL pools every gap of every request).
METRICS = ("ttft_ms", "itl_ms", "e2e_ms", "decode_tps", "completion_tokens", "prompt_tokens", "e2e_tps", "prefill_tps")
# RequestResult.phase
LEVELS, SWEEP, CONTEXT, COLD = "levels", "sweep", "context", "cold"
PHASES = (LEVELS, SWEEP, CONTEXT, COLD)


# -- one request ---------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RequestResult(Record):
    """One measured request (warmups are not recorded). Times in ms, rates in tok/s, energy in J."""

    model: str
    prompt_index: int  # 0-based
    round: int  # 1-based
    concurrency: int
    mode: str  # stream | non-stream
    t_start_s: float | None = None  # request sent, seconds after the run started
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    decode_tps: float | None = None
    e2e_tps: float | None = None  # completion tokens / e2e
    itl_ms: list[float] = field(default_factory=list)  # every gap
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_estimated: bool = False  # completion tokens, and every figure made from them, are an estimate
    # where completion_tokens came from: usage (the backend's report) | runtime (in-process, one token per piece) |
    # tokenizer (--tokenizer counted the text) | server (the server's /tokenize) | chunks (pieces counted: estimate)
    tokens_source: str | None = None
    chunks: int | None = None  # answer pieces received (SSE events with text; in-process: tokens)
    cold: bool = False  # the first request to this model in this process: its TTFT is kept out of the summaries
    slot: int | None = None  # which of the level's concurrent streams ran it (0-based)
    session: int = 0  # 0: the first run; n: the n-th `bench --resume` of it
    finish_reason: str | None = None
    status: str  # ok | error | cancelled
    error: str | None = None
    error_kind: str | None = None
    text: str = ""
    gpu_energy_j: float | None = None
    cpu_energy_j: float | None = None
    gpu_j_per_token: float | None = None
    cpu_j_per_token: float | None = None
    quality: AnswerQuality = field(default_factory=AnswerQuality)
    # added later: new keys go last
    prefill_tps: float | None = None  # prompt_tokens / TTFT: an approximation that includes queueing and scheduling
    phase: str = "levels"  # levels (the prompt set) | sweep (--prompt-tokens) | context (--find-context) | cold
    prompt_tokens_target: int | None = None  # sweep / context: the generated user message's length, in tokens
    prompt_tokens_exact: bool | None = None  # that length was counted by the model's tokenizer (False: estimated)
    load_s: float | None = None  # cold: the reload right before this request
    load_index: int | None = None  # cold: which reload (0-based)
    memory_mb: float | None = None  # sweep / context / cold: the model's memory during or right after it
    # context: sent → the first piece of any kind, reasoning included (a thinking model's 16-token probe may
    # end before any answer text, yet the prompt was read)
    first_piece_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def measured_level(self) -> bool:
        """A request of the prompt-set levels (what summaries, throughput and compare are about)."""
        return self.phase == LEVELS

    def value(self, metric: str) -> float | None:
        """A per-request figure by its results.json name (not `itl_ms`: that one is a list of gaps)."""
        values: dict[str, float | None] = {
            "ttft_ms": self.ttft_ms,
            "e2e_ms": self.e2e_ms,
            "decode_tps": self.decode_tps,
            "e2e_tps": self.e2e_tps,
            "prefill_tps": self.prefill_tps,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
        return values[metric]

    def copy(self) -> RequestResult:
        """Independent of this one (the judge fills in scores later), without deepcopy's cost."""
        return replace(self, itl_ms=list(self.itl_ms), quality=self.quality.copy(), extra=dict(self.extra))


# -- one model -----------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class LevelResult(Record):
    """One concurrency level × mode of one model, as it ran (energy over its measured requests)."""

    concurrency: int
    mode: str
    status: str = "running"  # running | ok | partial | error | cancelled
    error: str | None = None
    planned: int | None = None  # measured requests it was to run (prompts × rounds, more for concurrency waves)
    # Per prompt, the TTFT of its first send when that was a warmup (None: not a warm ok one): with --warmup,
    # round 1 is already a repeat, so the prompt-cache check compares the rounds with this (phase_summaries).
    first_ttft_ms: list[float | None] | None = None
    gpu_energy_j: float | None = None
    cpu_energy_j: float | None = None


@dataclass(kw_only=True)
class LoadInfo(Record):
    load_s: float | None = None  # None: not loaded by the benchmark (already loaded, endpoint, failed)
    note: str | None = None
    unload_s: float | None = None


@dataclass(kw_only=True)
class MemoryInfo(Record):
    """MB: immediate samples around load and unload; peaks over the model's memory timeline. None: not measured.

    The `rss_*` figures are this process's whole RSS (raw data: with an endpoint, the client's). What a table
    shows under the model's name is `model_memory_mb`, the model's own (engine.bench.memory), with
    `model_memory_note` saying how it was counted or why it could not be."""

    rss_before_load_mb: float | None = None
    rss_after_load_mb: float | None = None
    ram_used_before_load_mb: float | None = None
    ram_used_after_load_mb: float | None = None
    rss_after_unload_mb: float | None = None
    rss_kept_after_unload_mb: float | None = None
    rss_peak_mb: float | None = None
    ram_used_peak_mb: float | None = None
    gpu_used_peak_mb: list[float] | None = None  # per GPU; None without NVML
    server_rss_peak_mb: float | None = None  # the endpoint's server process on this machine (None otherwise)
    model_memory_mb: float | None = None
    model_memory_note: str | None = None


@dataclass(kw_only=True)
class MemoryPoint(Record):
    t: float  # seconds since the run started
    rss_mb: float
    ram_used_mb: float
    gpu_used_mb: list[float] | None = None  # per GPU; the key is left out without GPUs
    server_rss_mb: float | None = None  # the endpoint's server process; the key is left out when not watched

    def to_json(self) -> dict[str, Any]:
        out = fields_json(self)
        for key in ("gpu_used_mb", "server_rss_mb"):
            if out[key] is None:
                del out[key]
        return out


@dataclass(kw_only=True)
class ModelResult(Record):
    model: str  # exact id (the name as given when it did not resolve)
    requested: str = ""
    alias: str | None = None
    status: str  # pending | running | ok | partial | error | cancelled | skipped
    error: str | None = None
    error_kind: str | None = None
    notes: list[str] = field(default_factory=list)
    device: str | None = None
    execution_provider: str | None = None
    source: str | None = None
    size_mb: float | None = None
    license: str | None = None
    capabilities: list[str] = field(default_factory=list)
    tags: ModelTags | None = None  # from the models file
    load: LoadInfo = field(default_factory=LoadInfo)
    memory: MemoryInfo = field(default_factory=MemoryInfo)
    memory_timeline: list[MemoryPoint] = field(default_factory=list)
    levels: list[LevelResult] = field(default_factory=list)
    # added later: new keys go last
    endpoint: str | None = None  # the OpenAI-compatible endpoint serving it (None: the in-process runtime)
    context_length: int | None = None  # the context the catalog / model config advertises, in tokens

    def level(self, concurrency: int, mode: str) -> LevelResult | None:
        return next((x for x in self.levels if x.concurrency == concurrency and x.mode == mode), None)


# -- summaries -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MetricSummary:
    """{mean, p50, p95, p99, min, max, stdev, n} over the ok requests (docs/metrics.md, "Summaries")."""

    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    stdev: float | None = None  # sample stdev (ddof 1); None below 2 values
    n: int = 0

    @classmethod
    def of(cls, values: Iterable[float | None]) -> MetricSummary:
        return cls(**summarize(values))

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)


@dataclass(frozen=True, kw_only=True)
class EnergySummary:
    gpu_j: float | None = None
    cpu_j: float | None = None
    gpu_j_per_token: float | None = None
    cpu_j_per_token: float | None = None

    def to_json(self) -> dict[str, Any]:
        return fields_json(self)


@dataclass(kw_only=True)
class Summary(Record):
    """One model × concurrency level × mode: metric summaries over its ok requests, throughput, memory, quality."""

    model: str
    alias: str | None = None
    concurrency: int
    mode: str
    status: str  # ok | partial | error | cancelled | skipped | pending
    error: str | None = None
    n_planned: int | None = None
    n_requests: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_cancelled: int = 0
    ttft_ms: MetricSummary = field(default_factory=MetricSummary)  # warm requests only: see ttft_cold_ms
    ttft_cold_ms: float | None = None  # the cold request's TTFT (first request to the model in its process)
    itl_ms: MetricSummary = field(default_factory=MetricSummary)  # every gap of every request
    e2e_ms: MetricSummary = field(default_factory=MetricSummary)
    decode_tps: MetricSummary = field(default_factory=MetricSummary)
    completion_tokens: MetricSummary = field(default_factory=MetricSummary)
    prompt_tokens: MetricSummary = field(default_factory=MetricSummary)
    e2e_tps: MetricSummary = field(default_factory=MetricSummary)
    tokens_estimated: bool = False
    tokens_source: str | None = None  # as RequestResult.tokens_source; "mixed" when the requests differ
    duration_s: float | None = None
    request_throughput_rps: float | None = None  # whole level: ok requests / duration_s
    output_throughput_tps: float | None = None
    # steady state: over the window in which every one of the level's streams was busy (docs/metrics.md)
    steady_window_s: float | None = None
    steady_request_throughput_rps: float | None = None
    steady_output_throughput_tps: float | None = None
    load_s: float | None = None
    rss_before_load_mb: float | None = None
    rss_after_load_mb: float | None = None
    rss_peak_mb: float | None = None
    rss_after_unload_mb: float | None = None
    rss_kept_after_unload_mb: float | None = None
    ram_used_peak_mb: float | None = None
    gpu_used_peak_mb: list[float] | None = None
    server_rss_peak_mb: float | None = None
    model_memory_mb: float | None = None  # the model's own (MemoryInfo), what tables show
    model_memory_note: str | None = None
    energy: EnergySummary = field(default_factory=EnergySummary)
    quality: QualitySummary = field(default_factory=QualitySummary)
    size_mb: float | None = None
    license: str | None = None
    capabilities: list[str] = field(default_factory=list)
    # added later: new keys go last
    prefill_tps: MetricSummary = field(default_factory=MetricSummary)  # warm requests only, like TTFT
    n_good: int | None = None  # requests meeting every --slo target (None: no SLO given)
    n_slo_counted: int | None = None  # the requests goodput is over: ok + failed, the cold one left out
    goodput_share: float | None = None  # n_good / (ok + failed requests, the cold one left out)
    goodput_rps: float | None = None  # n_good / duration_s (only for a level whose every request was ok)
    endpoint: str | None = None

    def metric(self, name: str) -> MetricSummary:
        """A metric summary by its results.json name (one of METRICS)."""
        summaries: dict[str, MetricSummary] = {
            "ttft_ms": self.ttft_ms,
            "itl_ms": self.itl_ms,
            "e2e_ms": self.e2e_ms,
            "decode_tps": self.decode_tps,
            "completion_tokens": self.completion_tokens,
            "prompt_tokens": self.prompt_tokens,
            "e2e_tps": self.e2e_tps,
            "prefill_tps": self.prefill_tps,
        }
        return summaries[name]


# -- sweeps, context search, cold starts (engine.bench.phase_summaries) ---------------------------------------


@dataclass(kw_only=True)
class SweepSummary(Record):
    """One model × prompt length of the --prompt-tokens sweep (concurrency 1, streamed, one fresh prompt a round)."""

    model: str
    alias: str | None = None
    endpoint: str | None = None
    prompt_tokens_target: int  # the generated user message's tokens
    exact: bool | None = None  # lengths counted by the model's tokenizer (False: estimated from characters)
    status: str  # ok | partial | error | cancelled | pending
    error: str | None = None
    n_planned: int | None = None
    n_ok: int = 0
    n_failed: int = 0
    prompt_tokens: MetricSummary = field(default_factory=MetricSummary)  # as the server counted (chat template in)
    ttft_ms: MetricSummary = field(default_factory=MetricSummary)
    prefill_tps: MetricSummary = field(default_factory=MetricSummary)
    decode_tps: MetricSummary = field(default_factory=MetricSummary)
    e2e_ms: MetricSummary = field(default_factory=MetricSummary)
    memory_mb: float | None = None  # the model's memory: the largest of its requests' figures
    tokens_estimated: bool = False


@dataclass(kw_only=True)
class ContextSummary(Record):
    """--find-context for one model: the longest prompt that worked, and where and why longer ones did not."""

    model: str
    alias: str | None = None
    endpoint: str | None = None
    status: str  # ok (searched to the end) | cancelled | error (not even the shortest probe worked) | skipped
    advertised: int | None = None  # the context the model says it has, in tokens
    works_up_to: int | None = None  # longest user message (tokens) answered within the TTFT limit
    works_up_to_prompt_tokens: int | None = None  # the same prompt as the server counted it (chat template in)
    failed_at: int | None = None  # shortest longer message that failed (None: none failed)
    # error | ttft_limit | the upper bound reached: max (--context-max), advertised (its context − the probe's
    # answer), default (nothing advertised: DEFAULT_CONTEXT_UPPER)
    stopped_because: str | None = None
    failure: str | None = None  # the failing probe's error or TTFT, one line
    ttft_ms_at_max: float | None = None  # TTFT of the works_up_to probe
    memory_mb_at_max: float | None = None  # the model's memory at the works_up_to probe
    exact: bool | None = None
    probes: int = 0
    verdict: str = ""  # "advertised 131072, works up to 8192 on this machine"


@dataclass(kw_only=True)
class ColdSummary(Record):
    """--cold N for one model: N reloads, each followed by one request (its TTFT is the cold TTFT)."""

    model: str
    alias: str | None = None
    endpoint: str | None = None
    status: str  # ok | partial | error | cancelled | skipped
    note: str | None = None  # why cold starts were not measured (an endpoint that cannot load models)
    n: int = 0
    load_s: MetricSummary = field(default_factory=MetricSummary)
    ttft_ms: MetricSummary = field(default_factory=MetricSummary)  # the first request after each reload
    e2e_ms: MetricSummary = field(default_factory=MetricSummary)
    warm_ttft_p50_ms: float | None = None  # warm TTFT p50 of the same prompt in the levels (concurrency 1)
    cold_over_warm: float | None = None  # ttft_ms.p50 / warm_ttft_p50_ms
    memory_mb: float | None = None  # the model's memory, largest over the cold requests


# -- the run -------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RunSettings(Record):
    """`settings`: the configuration the run used (BenchConfig.settings())."""

    models: list[str] = field(default_factory=list)
    rounds: int = 3
    warmup: int = 1
    max_tokens: int = 512
    max_tokens_override: bool = False
    temperature: float = 0.0
    concurrency: list[int] = field(default_factory=lambda: [1])
    modes: list[str] = field(default_factory=lambda: ["stream"])
    variants: bool = False
    non_streamed: bool = False
    judge: str | None = None
    request_timeout_s: float | None = None
    stall_timeout_s: float | None = None
    first_token_timeout_s: float | None = None
    min_waves: int | None = None
    tokenizer: str | None = None
    prompt_file: str | None = None
    models_file: str | None = None
    sample_interval_s: float | None = None
    # added later: new keys go last
    prompt_tokens: list[int] = field(default_factory=list)  # --prompt-tokens: the sweep's lengths
    sweep_max_tokens: int | None = None  # completion budget of sweep requests
    find_context: bool = False
    context_ttft_limit_s: float | None = None  # a context probe slower than this to its first token counts as failed
    context_max_tokens: int | None = None  # the longest prompt --find-context tries (None: the advertised context)
    cold: int = 0  # --cold N: reloads, each followed by one request
    slo: str | None = None  # --slo, normalized ("ttft_ms<=500,decode_tps>=20")
    endpoints: list[str] = field(default_factory=list)  # endpoints named in --models URL#MODEL entries


@dataclass(kw_only=True)
class JudgeState(Record):
    """`judge`: how the judge run went (it never fails the benchmark)."""

    model: str
    status: str = "running"  # running | ok | error | cancelled
    error: str | None = None
    scored: int = 0  # distinct answers with a score
    unparsed: int = 0  # distinct answers without a usable score


@dataclass(kw_only=True)
class RunSession(Record):
    """One process's part of a run: the first, then one per `bench --resume`."""

    started_at: str | None = None
    finished_at: str | None = None
    t_offset_s: float = 0.0  # its requests' t_start_s and its memory timeline start here
    ended: str | None = None  # completed | stop (the TUI's) | SIGINT | SIGTERM; None: still running, or it crashed


@dataclass(kw_only=True)
class BenchResults(Record):
    """Everything one run measured: the results.json object (`partial` while running or after a stop)."""

    schema: str = SCHEMA
    partial: bool = False
    started_at: str | None = None  # ISO 8601, UTC
    finished_at: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # free-form: engine.environment, energy states
    settings: RunSettings = field(default_factory=RunSettings)
    prompts: list[PromptSpec] = field(default_factory=list)
    models: list[ModelResult] = field(default_factory=list)
    requests: list[RequestResult] = field(default_factory=list)
    judge: JudgeState | None = None
    summaries: list[Summary] = field(default_factory=list)
    comparison: Comparison | None = None  # only with a baseline: the key is left out otherwise
    # added later: new keys go last, so a file's key order never changes
    sessions: list[RunSession] = field(default_factory=list)
    stopped_by: str | None = None  # why a partial run ended early: SIGINT | SIGTERM | stop (the TUI's) | None
    # derived from `requests` like `summaries` (engine.bench.phase_summaries), rebuilt on every snapshot
    sweep: list[SweepSummary] = field(default_factory=list)
    context: list[ContextSummary] = field(default_factory=list)
    cold_starts: list[ColdSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a likely prompt-cache effect

    def level_requests(self) -> list[RequestResult]:
        """The prompt-set levels' requests (not the sweep's, the context search's or the cold starts')."""
        return [r for r in self.requests if r.measured_level]

    def model(self, name: str) -> ModelResult | None:
        return next((m for m in self.models if m.model == name), None)

    def to_json(self) -> dict[str, Any]:
        out = fields_json(self)
        if self.comparison is None:
            del out["comparison"]
        return out

    @classmethod
    def from_json(cls, data: object, source: str = "results") -> BenchResults:
        """Typed results from a parsed results.json; BadInputError (one line, naming `source`) when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("requests"), list) or "summaries" not in data:
            raise BadInputError(f"{source} is not a foundry-tui benchmark results file (no 'requests' / 'summaries')")
        schema = data.get("schema")
        if schema is not None and schema != SCHEMA:
            newer = isinstance(schema, str) and schema.startswith(SCHEMA.rsplit("/", 1)[0] + "/")
            what = "a newer results format than this foundry-tui reads" if newer else "not a benchmark results schema"
            raise BadInputError(f"{source}: schema {safe_line(repr(schema), 60)} is {what} ({SCHEMA})")
        try:
            return read_record(cls, data, "", READERS)  # no schema key (early files): the same shape
        except FormatError as exc:
            raise BadInputError(f"{source} is not a valid benchmark results file: {safe_line(str(exc), 200)}") from None


def _prompt(data: dict[str, Any], where: str) -> PromptSpec:
    spec = read_record(_PromptJson, data, where, READERS)
    return PromptSpec(spec.prompt, tuple(Aspect(a.name, tuple(a.any)) for a in spec.expect), spec.max_tokens,
                      spec.system, spec.name)  # fmt: skip


def _tags(data: dict[str, Any], where: str) -> ModelTags:
    tags = read_record(_TagsJson, data, where)
    return ModelTags(tuple(tags.capabilities), tags.size_mb, tags.license, tags.notes, endpoint=tags.endpoint)


@dataclass(kw_only=True)
class _AspectJson:
    name: str
    any: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class _PromptJson:  # PromptSpec.to_dict's shape
    prompt: str
    name: str | None = None
    system: str | None = None
    max_tokens: int | None = None
    expect: list[_AspectJson] = field(default_factory=list)


@dataclass(kw_only=True)
class _TagsJson:  # ModelTags.to_dict's shape
    capabilities: list[str] = field(default_factory=list)
    size_mb: float | None = None
    license: str | None = None
    notes: str | None = None
    endpoint: str | None = None


READERS: Readers = {PromptSpec: _prompt, ModelTags: _tags}

"""What a benchmark runs: `BenchConfig`, and `build_config`, the one way a front end turns user input into one.

`build_config` takes what a person typed or passed (numbers as text or as numbers, comma lists, file paths),
reads the prompt set and the models file, and checks everything before any runtime starts: a problem is a
one-line BadInputError (the CLI's exit 2, the pane's status line) that names the input by the caller's label
(`--rounds` in the CLI, `rounds` in the pane). `BenchConfig.validate()` re-checks the invariants the runner
relies on when a config is built in code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from foundry_tui.backends.routing import endpoint_model_id, endpoint_url, split_model_id
from foundry_tui.engine.bench.results import RunSettings
from foundry_tui.engine.bench.slo import SloTarget, parse_slo, slo_text
from foundry_tui.engine.bench.tokens import load_tokenizer
from foundry_tui.engine.prompts import ModelTags, PromptSpec, default_prompt_file, load_models_file, load_prompt_set
from foundry_tui.errors import BadInputError

MODES = ("stream", "non-stream")
MAX_CONCURRENCY = 256
MAX_WAVES = 100
MAX_TIMEOUT_S = 86400.0  # a day: longer is a typo, and inf / nan would break the timers
MIN_PROMPT_TOKENS = 16  # the instruction that ends a generated prompt takes about this many
MAX_PROMPT_TOKENS = 4_194_304  # 4M: beyond any model's context
MAX_COLD = 100
DEFAULT_SWEEP_MAX_TOKENS = 64  # enough answer for a decode rate, short enough that prefill dominates a sweep
DEFAULT_CONTEXT_TTFT_LIMIT_S = 60.0


@dataclass(frozen=True)
class BenchConfig:
    models: tuple[str, ...]
    prompts: tuple[PromptSpec, ...]
    rounds: int = 3
    warmup: int = 1
    max_tokens: int = 512  # for prompts without their own max_tokens
    max_tokens_override: bool = False  # True: max_tokens applies to every prompt (the --max-tokens flag)
    temperature: float = 0.0
    concurrency: tuple[int, ...] = (1,)
    variants: bool = False
    non_streamed: bool = False  # also time non-streamed requests (BENCH_STREAM=0), reported separately
    judge: str | None = None
    judge_max_tokens: int = 256
    request_timeout_s: float | None = None  # whole request; None: only the first-token and stall timeouts apply
    stall_timeout_s: float = 60.0  # no piece for this long after the previous one → the request failed "stalled"
    first_token_timeout_s: float = 300.0  # no first piece this long after sending (prefill of a long prompt)
    min_waves: int = 3  # at concurrency c > 1, at least this many waves of c requests (engine.bench.throughput)
    tokenizer: str | None = None  # counts answer tokens when a server sends no usage (engine.bench.tokens)
    model_tags: Mapping[str, ModelTags] = field(default_factory=dict)
    prompt_file: str | None = None
    models_file: str | None = None
    sample_interval_s: float = 0.25
    prompt_tokens: tuple[int, ...] = ()  # --prompt-tokens: the sweep's lengths (empty: no sweep)
    sweep_max_tokens: int = DEFAULT_SWEEP_MAX_TOKENS
    find_context: bool = False
    context_ttft_limit_s: float = DEFAULT_CONTEXT_TTFT_LIMIT_S
    context_max_tokens: int | None = None  # None: the advertised context
    cold: int = 0  # reloads, each followed by one request
    slo: tuple[SloTarget, ...] = ()

    def validate(self) -> None:
        if not self.models:
            raise BadInputError("no models to benchmark")
        if not self.prompts:
            raise BadInputError("no prompts to send")
        if self.rounds < 1:
            raise BadInputError(f"rounds must be at least 1, got {self.rounds}")
        if self.warmup < 0:
            raise BadInputError(f"warmup must be 0 or more, got {self.warmup}")
        if self.max_tokens < 1:
            raise BadInputError(f"max_tokens must be greater than 0, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise BadInputError(f"temperature must be between 0.0 and 2.0, got {self.temperature}")
        if not self.concurrency or any(c < 1 for c in self.concurrency):
            raise BadInputError("concurrency levels must be whole numbers greater than 0")
        for name, value in (
            ("the request timeout", self.request_timeout_s),
            ("the stall timeout", self.stall_timeout_s),
            ("the first-token timeout", self.first_token_timeout_s),
        ):
            if value is not None and not 0 < value <= MAX_TIMEOUT_S:
                raise BadInputError(
                    f"{name} must be greater than 0 and at most {MAX_TIMEOUT_S:g} seconds, got {value:g}"
                )
        if not 1 <= self.min_waves <= MAX_WAVES:
            raise BadInputError(f"waves must be between 1 and {MAX_WAVES}, got {self.min_waves}")
        for n in self.prompt_tokens:
            if not MIN_PROMPT_TOKENS <= n <= MAX_PROMPT_TOKENS:
                raise BadInputError(
                    f"prompt lengths must be between {MIN_PROMPT_TOKENS} and {MAX_PROMPT_TOKENS} tokens, got {n}"
                )
        if self.sweep_max_tokens < 1:
            raise BadInputError(f"the sweep's max tokens must be greater than 0, got {self.sweep_max_tokens}")
        if not 0 < self.context_ttft_limit_s <= MAX_TIMEOUT_S:
            raise BadInputError(f"the context TTFT limit must be greater than 0, got {self.context_ttft_limit_s:g}")
        if (
            self.context_max_tokens is not None
            and not MIN_PROMPT_TOKENS <= self.context_max_tokens <= MAX_PROMPT_TOKENS
        ):
            raise BadInputError(
                f"the context search's maximum must be {MIN_PROMPT_TOKENS} to {MAX_PROMPT_TOKENS} tokens, "
                f"got {self.context_max_tokens}"
            )
        if not 0 <= self.cold <= MAX_COLD:
            raise BadInputError(f"cold starts must be between 0 and {MAX_COLD}, got {self.cold}")

    @property
    def modes(self) -> tuple[str, ...]:
        return MODES if self.non_streamed else MODES[:1]

    @property
    def generates_prompts(self) -> bool:
        """The sweep or the context search will generate prompts (and need their tokens counted)."""
        return bool(self.prompt_tokens) or self.find_context

    def max_tokens_for(self, spec: PromptSpec) -> int:
        if self.max_tokens_override or spec.max_tokens is None:
            return self.max_tokens
        return spec.max_tokens

    def settings(self) -> RunSettings:
        """The `settings` of results.json."""
        return RunSettings(
            models=list(self.models),
            rounds=self.rounds,
            warmup=self.warmup,
            max_tokens=self.max_tokens,
            max_tokens_override=self.max_tokens_override,
            temperature=self.temperature,
            concurrency=list(self.concurrency),
            modes=list(self.modes),
            variants=self.variants,
            non_streamed=self.non_streamed,
            judge=self.judge,
            request_timeout_s=self.request_timeout_s,
            stall_timeout_s=self.stall_timeout_s,
            first_token_timeout_s=self.first_token_timeout_s,
            min_waves=self.min_waves,
            tokenizer=self.tokenizer,
            prompt_file=self.prompt_file,
            models_file=self.models_file,
            sample_interval_s=self.sample_interval_s,
            prompt_tokens=list(self.prompt_tokens),
            sweep_max_tokens=self.sweep_max_tokens if self.prompt_tokens else None,
            find_context=self.find_context,
            context_ttft_limit_s=self.context_ttft_limit_s if self.find_context else None,
            context_max_tokens=self.context_max_tokens if self.find_context else None,
            cold=self.cold,
            slo=slo_text(self.slo),
            endpoints=list(dict.fromkeys(e for e in (split_model_id(m)[0] for m in self.models) if e)),
        )


# -- from user input -----------------------------------------------------------------------------------------


def routed_models(names: Sequence[str], tags: Mapping[str, ModelTags], label: str) -> tuple[str, ...]:
    """`names` with each endpoint checked: `URL#MODEL` entries keep their (normalized) URL, and a plain name whose
    models-file entry names an endpoint becomes that endpoint's `URL#name`. A bad URL is a one-line BadInputError."""
    routed = []
    for name in names:
        endpoint, model = split_model_id(name)
        if endpoint is None and name in tags and tags[name].endpoint:
            endpoint = tags[name].endpoint
        if endpoint is None:
            routed.append(name)
            continue
        try:
            url = endpoint_url(endpoint)
        except BadInputError as exc:
            raise BadInputError(f"{label}: {exc}") from None
        if not model:
            raise BadInputError(f"{label}: {name!r} names no model after the '#'")
        routed.append(endpoint_model_id(url, model))
    return tuple(routed)


def parse_lengths(text: str | Sequence[int], label: str) -> tuple[int, ...]:
    """'128,512,2k' (or numbers) → (128, 512, 2048), ascending, duplicates dropped; k = 1024."""
    items: Sequence[str | int] = parse_list(text, label) if isinstance(text, str) else text
    out: set[int] = set()
    for item in items:
        raw = str(item).strip().lower()
        scale = 1024 if raw.endswith("k") else 1
        try:
            n = int(raw.removesuffix("k")) * scale
        except ValueError:
            raise BadInputError(f"{label} takes token counts like 128,512,2k, got {item!r}") from None
        if not MIN_PROMPT_TOKENS <= n <= MAX_PROMPT_TOKENS:
            raise BadInputError(
                f"{label}: lengths must be between {MIN_PROMPT_TOKENS} and {MAX_PROMPT_TOKENS}, got {n}"
            )
        out.add(n)
    return tuple(sorted(out))


def parse_list(text: str, label: str) -> tuple[str, ...]:
    """'a, b' → ('a', 'b'); an empty list or item is bad input."""
    items = tuple(part.strip() for part in text.split(","))
    if not text.strip() or any(not item for item in items):
        raise BadInputError(f"{label} must be a comma-separated list without empty items, got {text!r}")
    return items


def parse_concurrency(levels: str | Sequence[int], label: str = "concurrency") -> tuple[int, ...]:
    """'1,2,4,8' (or numbers) → (1, 2, 4, 8): whole numbers from 1 to 256, duplicates dropped, order kept."""
    items: Sequence[str | int] = parse_list(levels, label) if isinstance(levels, str) else levels
    out: list[int] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            level = item
        else:
            try:
                level = int(str(item))
            except ValueError:
                raise BadInputError(f"{label} takes whole numbers like 1,2,4,8, got {item!r}") from None
        if not 1 <= level <= MAX_CONCURRENCY:
            raise BadInputError(f"concurrency levels must be between 1 and {MAX_CONCURRENCY}, got {level}")
        if level not in out:
            out.append(level)
    return tuple(out)


def _whole(value: int | str, label: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise BadInputError(f"{label} must be a whole number, got {value!r}") from None


def _number(value: float | str, label: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise BadInputError(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise BadInputError(f"{label} must be a finite number, got {value!r}")
    return number


def _seconds(value: float | str, label: str) -> float:
    number = _number(value, label)
    if not 0 < number <= MAX_TIMEOUT_S:
        raise BadInputError(f"{label} must be greater than 0 and at most {MAX_TIMEOUT_S:g} seconds, got {number:g}")
    return number


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def build_config(
    *,
    models: str | Sequence[str] | None,
    prompt_file: str | Path | None = None,
    rounds: int | str = 3,
    warmup: int | str = 1,
    max_tokens: int | str | None = None,
    default_max_tokens: int = 512,
    temperature: float | str = 0.0,
    concurrency: str | Sequence[int] = (1,),
    variants: bool = False,
    non_streamed: bool = False,
    judge: str | None = None,
    request_timeout_s: float | str | None = None,
    stall_timeout_s: float | str = 60.0,
    first_token_timeout_s: float | str = 300.0,
    waves: int | str = 3,
    tokenizer: str | Path | None = None,
    models_file: str | Path | None = None,
    require_models: bool = True,
    labels: Mapping[str, str] | None = None,
    prompt_tokens: str | Sequence[int] | None = None,
    sweep_max_tokens: int | str = DEFAULT_SWEEP_MAX_TOKENS,
    find_context: bool = False,
    context_ttft_limit_s: float | str = DEFAULT_CONTEXT_TTFT_LIMIT_S,
    context_max_tokens: int | str | None = None,
    cold: int | str = 0,
    slo: str | None = None,
) -> BenchConfig:
    """A validated BenchConfig from what a person gave; every problem is a one-line BadInputError.

    `models`: a comma list or names (None: not given). `max_tokens`: given (not None / blank) → that budget for
    every prompt; otherwise each prompt's own, else `default_max_tokens`. `prompt_file` None → the shipped set.
    `require_models=False` allows no models yet (the CLI then benchmarks every cached one, and validates again).
    `labels` names inputs in messages: {"rounds": "--rounds", …}; unnamed inputs are called by their parameter
    name."""

    def label(name: str) -> str:
        return (labels or {}).get(name, name)

    path = Path(prompt_file) if prompt_file is not None and not _blank(prompt_file) else default_prompt_file()
    prompts = tuple(load_prompt_set(path))
    tags = load_models_file(Path(models_file)) if models_file is not None and not _blank(models_file) else {}
    if models is None:
        names: tuple[str, ...] = ()
    else:
        names = parse_list(models, label("models")) if isinstance(models, str) else tuple(models)
        names = routed_models(names, tags, label("models"))
    rounds_n = _whole(rounds, label("rounds"))
    if rounds_n < 1:
        raise BadInputError(f"{label('rounds')} must be at least 1, got {rounds_n}")
    warmup_n = _whole(warmup, label("warmup"))
    if warmup_n < 0:
        raise BadInputError(f"{label('warmup')} must be 0 or more, got {warmup_n}")
    override = max_tokens is not None and not _blank(max_tokens)
    budget = _whole(max_tokens, label("max_tokens")) if max_tokens is not None and override else default_max_tokens
    if budget < 1:
        raise BadInputError(f"{label('max_tokens')} must be greater than 0, got {budget}")
    temp = _number(temperature, label("temperature"))
    if not 0.0 <= temp <= 2.0:
        raise BadInputError(f"{label('temperature')} must be between 0.0 and 2.0, got {temp:g}")
    timeout: float | None = None
    if request_timeout_s is not None and not _blank(request_timeout_s):
        timeout = _seconds(request_timeout_s, label("request_timeout_s"))
    waves_n = _whole(waves, label("waves"))
    if not 1 <= waves_n <= MAX_WAVES:
        raise BadInputError(f"{label('waves')} must be between 1 and {MAX_WAVES}, got {waves_n}")
    tokenizer_path = None if tokenizer is None or _blank(tokenizer) else str(tokenizer)
    if tokenizer_path is not None:
        load_tokenizer(tokenizer_path)  # a bad path is bad input now, not after the first model
    lengths = (
        () if prompt_tokens is None or _blank(prompt_tokens) else parse_lengths(prompt_tokens, label("prompt_tokens"))
    )
    sweep_budget = _whole(sweep_max_tokens, label("sweep_max_tokens"))
    if sweep_budget < 1:
        raise BadInputError(f"{label('sweep_max_tokens')} must be greater than 0, got {sweep_budget}")
    context_max = None
    if context_max_tokens is not None and not _blank(context_max_tokens):
        maxima = parse_lengths(str(context_max_tokens), label("context_max_tokens"))
        if len(maxima) > 1:
            raise BadInputError(f"{label('context_max_tokens')} takes one length, got {context_max_tokens}")
        context_max = maxima[0]
    cold_n = _whole(cold, label("cold"))
    if not 0 <= cold_n <= MAX_COLD:
        raise BadInputError(f"{label('cold')} must be between 0 and {MAX_COLD}, got {cold_n}")
    config = BenchConfig(
        models=names,
        prompts=prompts,
        rounds=rounds_n,
        warmup=warmup_n,
        max_tokens=budget,
        max_tokens_override=override,
        temperature=temp,
        concurrency=parse_concurrency(concurrency, label("concurrency")),
        variants=variants,
        non_streamed=non_streamed,
        judge=None if _blank(judge) else judge,
        request_timeout_s=timeout,
        stall_timeout_s=_seconds(stall_timeout_s, label("stall_timeout_s")),
        first_token_timeout_s=_seconds(first_token_timeout_s, label("first_token_timeout_s")),
        min_waves=waves_n,
        tokenizer=tokenizer_path,
        model_tags=tags,
        prompt_file=str(path),
        models_file=None if models_file is None or _blank(models_file) else str(models_file),
        prompt_tokens=lengths,
        sweep_max_tokens=sweep_budget,
        find_context=find_context,
        context_ttft_limit_s=_seconds(context_ttft_limit_s, label("context_ttft_limit_s")),
        context_max_tokens=context_max,
        cold=cold_n,
        slo=parse_slo(slo, label("slo")),
    )
    if names or require_models:
        config.validate()
    return config

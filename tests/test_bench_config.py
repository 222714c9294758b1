"""`build_config`: the one way the CLI and the Benchmark pane turn what a person typed into a BenchConfig."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foundry_tui import paths
from foundry_tui.engine.bench import BenchConfig, build_config, parse_concurrency
from foundry_tui.errors import BadInputError

CLI = {"rounds": "--rounds", "concurrency": "--concurrency", "request_timeout_s": "--timeout"}


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(["one", {"prompt": "two", "max_tokens": 7}]))
    return path


def test_form_text_and_cli_numbers_give_the_same_config(prompt_file: Path) -> None:
    form: dict[str, Any] = {"rounds": " 2 ", "warmup": "0", "max_tokens": "64", "temperature": "0.5",
                            "concurrency": "1, 4,4", "request_timeout_s": "30"}  # fmt: skip
    from_form = build_config(models=("a", "b"), prompt_file=str(prompt_file), **form)
    from_cli = build_config(models="a,b", prompt_file=prompt_file, rounds=2, warmup=0, max_tokens=64,
                            temperature=0.5, concurrency=(1, 4), request_timeout_s=30.0)  # fmt: skip
    assert from_form == from_cli
    assert from_form.models == ("a", "b") and from_form.concurrency == (1, 4) and from_form.rounds == 2
    assert from_form.max_tokens_override and [from_form.max_tokens_for(p) for p in from_form.prompts] == [64, 64]
    assert from_form.request_timeout_s == 30.0 and from_form.prompt_file == str(prompt_file)


def test_blank_max_tokens_keeps_each_prompts_own(prompt_file: Path) -> None:
    config = build_config(models=("a",), prompt_file=prompt_file, max_tokens="  ", default_max_tokens=99)
    assert not config.max_tokens_override and [config.max_tokens_for(p) for p in config.prompts] == [99, 7]
    assert config.settings().max_tokens == 99 and config.settings().modes == ["stream"]


def test_defaults_the_shipped_prompts_and_a_models_file(tmp_path: Path) -> None:
    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps({"a": {"license": "MIT"}}))
    config = build_config(models="a", prompt_file=None, models_file=str(models_file), non_streamed=True, judge=" ")
    assert config.prompt_file == str(paths.prompts_dir() / "default.json") and len(config.prompts) == 4
    assert config.model_tags["a"].license == "MIT" and config.models_file == str(models_file)
    assert config.modes == ("stream", "non-stream") and config.judge is None


def test_no_models_yet_only_when_allowed() -> None:
    assert build_config(models=None, require_models=False).models == ()
    with pytest.raises(BadInputError, match="no models to benchmark"):
        build_config(models=None)
    with pytest.raises(BadInputError, match="--models must be a comma-separated list"):
        build_config(models="a,,b", labels={"models": "--models"})


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        ({"rounds": "many"}, "rounds must be a whole number, got 'many'"),
        ({"rounds": 0}, "rounds must be at least 1, got 0"),
        ({"warmup": -1}, "warmup must be 0 or more"),
        ({"max_tokens": "0"}, "max_tokens must be greater than 0"),
        ({"max_tokens": "lots"}, "max_tokens must be a whole number"),
        ({"temperature": "3"}, "temperature must be between 0.0 and 2.0, got 3"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"concurrency": "1,x"}, "concurrency takes whole numbers like 1,2,4,8, got 'x'"),
        ({"concurrency": "0"}, "between 1 and 256"),
        ({"concurrency": ""}, "comma-separated list"),
        ({"request_timeout_s": "0"}, "request_timeout_s must be greater than 0"),
        ({"prompt_file": "/nonexistent/prompts.json"}, "does not exist"),
    ],
)
def test_bad_input_is_one_line(inputs: dict[str, Any], words: str) -> None:
    with pytest.raises(BadInputError) as info:
        build_config(models="a", **inputs)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_labels_name_the_flags() -> None:
    with pytest.raises(BadInputError, match=r"^--rounds must be at least 1"):
        build_config(models="a", rounds=0, labels=CLI)
    with pytest.raises(BadInputError, match=r"^--timeout must be greater than 0"):
        build_config(models="a", request_timeout_s=-1, labels=CLI)
    with pytest.raises(BadInputError, match=r"^--concurrency takes whole numbers"):
        parse_concurrency("2,two", "--concurrency")


def test_config_in_code_is_validated_by_the_runner_contract() -> None:
    config = build_config(models="a")
    with pytest.raises(BadInputError, match="rounds must be at least 1"):
        BenchConfig(models=("a",), prompts=config.prompts, rounds=0).validate()


def test_resume_knows_the_parser_defaults_of_every_workload_flag() -> None:
    """`bench --resume` names the workload flags it ignores by comparing with the parser's defaults: a copy that
    must not drift from cli.py."""
    from foundry_tui.cli import build_parser
    from foundry_tui.commands.bench import _WORKLOAD_DEFAULTS, _workload_flags_given

    args = build_parser().parse_args(["bench"])
    assert {name: getattr(args, name) for name in _WORKLOAD_DEFAULTS} == _WORKLOAD_DEFAULTS
    assert _workload_flags_given(args) == []
    given = build_parser().parse_args(["bench", "--rounds", "5", "--max-tokens", "9", "--concurrency", "1,2"])
    assert _workload_flags_given(given) == ["--rounds", "--concurrency", "--max-tokens"]


def test_sweep_lengths_and_the_context_maximum_are_kept_apart() -> None:
    config = build_config(models="m", prompt_tokens="128,512,1k", find_context=True, context_max_tokens="4k")
    assert config.prompt_tokens == (128, 512, 1024) and config.context_max_tokens == 4096
    with pytest.raises(BadInputError, match="--context-max takes one length, got 512,256"):
        build_config(models="m", context_max_tokens="512,256", labels={"context_max_tokens": "--context-max"})

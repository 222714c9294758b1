"""Prompt sets, models files, rubric scoring, judge parsing, manual annotations, energy counters."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from foundry_tui import paths
from foundry_tui.engine.bench import (
    BenchResults,
    ModelResult,
    RequestResult,
    RunSettings,
    build_summaries,
    set_annotation,
)
from foundry_tui.engine.bench.report import results_json_text
from foundry_tui.engine.energy import NOT_MEASURABLE, EnergyMeter, NvmlEnergy, RaplEnergy, energy_delta
from foundry_tui.engine.prompts import (
    load_models_file,
    load_prompt_set,
    parse_models_file,
    parse_prompt_set,
    tags_for,
)
from foundry_tui.engine.quality import AnswerQuality, judge_messages, parse_judge_score, phrase_matches, score_rubric
from foundry_tui.errors import BadInputError
from tests.fake_pynvml import FakeGpu, FakeNvml

# -- prompt sets and models files ----------------------------------------------------------------------------


def test_shipped_prompt_sets_parse() -> None:
    default = load_prompt_set(paths.prompts_dir() / "default.json")
    assert len(default) == 4 and all(p.max_tokens for p in default)
    rubric = load_prompt_set(paths.prompts_dir() / "rubric.json")
    assert rubric and all(p.expect for p in rubric)


def test_prompt_items_strings_and_objects() -> None:
    specs = parse_prompt_set(
        [
            "plain",
            {"prompt": "p", "system": "s", "max_tokens": 7, "name": "n",
             "expect": ["one", ["two", "deux"], {"name": "three", "any": ["3", "three"]}]},
        ]
    )  # fmt: skip
    assert specs[0].prompt == "plain" and specs[0].expect == () and specs[0].max_tokens is None
    p = specs[1]
    assert (p.system, p.max_tokens, p.name) == ("s", 7, "n")
    assert [(a.name, a.any_of) for a in p.expect] == [
        ("one", ("one",)),
        ("two / deux", ("two", "deux")),
        ("three", ("3", "three")),
    ]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"prompt": "x"}, "expected a JSON list"),
        ([], "empty"),
        ([""], "item 1: the prompt is empty"),
        ([3], "item 1: expected a string or an object"),
        ([{"prompt": "x", "max_tokens": 0}], "'max_tokens' must be a whole number"),
        ([{"prompt": "x", "max_tokens": True}], "'max_tokens'"),
        ([{"prompt": "x", "temperature": 1}], "unknown key 'temperature'"),
        ([{"prompt": "x", "expect": "word"}], "'expect' must be a list"),
        ([{"prompt": "x", "expect": [[]]}], "at least one phrase"),
        ([{"prompt": "x", "expect": [{"any": "x"}]}], "'any' must be a non-empty list"),
        (["ok", {"prompt": ""}], "item 2"),
    ],
)
def test_bad_prompt_sets(data: Any, words: str) -> None:
    with pytest.raises(BadInputError) as info:
        parse_prompt_set(data, "prompt file f.json")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_prompt_file_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        load_prompt_set(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2,")
    with pytest.raises(BadInputError, match=r"is not valid JSON: .* \(line 1"):
        load_prompt_set(bad)


def test_models_file(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"phi-4-mini": {"capabilities": ["chat", "tools"], "size_mb": 2400}, "tiny": {}}))
    tags = load_models_file(path)
    assert tags["phi-4-mini"].capabilities == ("chat", "tools") and tags["phi-4-mini"].size_mb == 2400
    assert tags_for(tags, "tiny-generic-cpu:1", "tiny") is tags["tiny"]
    assert tags_for(tags, "phi-4-mini:3", None) is tags["phi-4-mini"]  # id without its version
    assert tags_for(tags, "other:1", "other") is None
    for data, words in [
        ([], "expected a JSON object"),
        ({"m": []}, "expected an object"),
        ({"m": {"capabilities": "chat"}}, "'capabilities' must be a list"),
        ({"m": {"size_mb": -1}}, "'size_mb' must be a number"),
        ({"m": {"sizemb": 1}}, "unknown key 'sizemb'"),
    ]:
        with pytest.raises(BadInputError) as info:
            parse_models_file(data)
        assert words in str(info.value)


# -- rubric and judge ----------------------------------------------------------------------------------------


def test_phrase_matching_rules() -> None:
    assert phrase_matches("Canberra", "The capital is CANBERRA.")
    assert not phrase_matches("cat", "concatenate")  # not inside a longer word
    assert phrase_matches("large language", "a Large\n  language model")  # whitespace runs are one space
    assert phrase_matches("SUM(", "select sum(amount)")  # punctuation edges need no word boundary
    assert phrase_matches("391", "17 × 23 = 391.") and not phrase_matches("391", "3910")


def test_rubric_score() -> None:
    spec = parse_prompt_set([{"prompt": "p", "expect": ["water", ["oxygen", "O2"], "sugar", "light"]}])[0]
    score = score_rubric("Plants use light and water to make sugar.", spec.expect)
    assert score is not None
    assert score.score == 0.75 and score.missed == ("oxygen / O2",)
    assert score_rubric("anything", ()) is None


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 4", 4),
        ("**Score:** 5", 5),
        ("score = 2", 2),
        ("4/5", 4),
        ("I would give it 3 out of 5.", 3),
        ("4", 4),
        ("5.", 5),
        ("Rating: 4.0", 4),
        ("The answer is correct and clear. 4", 4),
        ("<think>maybe 2? or 3</think>Score: 5", 5),
        ("Score: 7", None),
        ("I think 3 or 4", None),
        ("Score: 3. Actually, score: 4", None),
        ("10/10", None),
        ("meh", None),
        ("", None),
    ],
)
def test_judge_parsing(reply: str, score: int | None) -> None:
    parsed, note = parse_judge_score(reply)
    assert parsed == score
    assert (note is None) == (score is not None)


def test_judge_prompt_carries_the_rubric() -> None:
    spec = parse_prompt_set([{"prompt": "Capital of Australia?", "expect": [["Canberra", "ACT"]]}])[0]
    messages = judge_messages(spec, "Sydney")
    assert messages[0].role == "system" and "1" in messages[0].content and "5" in messages[0].content
    assert "Capital of Australia?" in messages[1].content and "Sydney" in messages[1].content
    assert "'Canberra' or 'ACT'" in messages[1].content


# -- manual annotations --------------------------------------------------------------------------------------


def _results() -> BenchResults:
    def request(prompt_index: int, round_: int, rubric: float) -> RequestResult:
        return RequestResult(model="m", prompt_index=prompt_index, round=round_, concurrency=1, mode="stream",
                             status="ok", e2e_ms=10.0, t_start_s=0.0, completion_tokens=6,
                             quality=AnswerQuality(rubric=rubric))  # fmt: skip

    results = BenchResults(
        settings=RunSettings(concurrency=[1], modes=["stream"]),
        models=[ModelResult(model="m", status="ok")],
        requests=[request(0, 1, 0.5), request(0, 2, 0.5), request(1, 1, 1.0)],
    )
    results.summaries = build_summaries(results)
    return results


def test_set_annotation_rewrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(results_json_text(_results()))
    updated = set_annotation(path, "m", 0, 4, "good")
    on_disk = json.loads(path.read_text())
    assert on_disk == updated.to_json()
    assert [r.quality.manual for r in updated.requests] == [4, 4, None]
    assert [r["quality"]["manual"] for r in on_disk["requests"]] == [4, 4, None]
    assert updated.requests[0].quality.manual_note == "good"
    quality = updated.summaries[0].quality
    assert quality.manual_mean == 4 and quality.manual_n == 2 and quality.rubric_mean == pytest.approx(2 / 3)
    cleared = set_annotation(tmp_path, "m", 0, None, round_number=2)  # a directory works too; None clears
    assert [r.quality.manual for r in cleared.requests] == [4, None, None]
    assert [r["quality"]["manual"] for r in json.loads(path.read_text())["requests"]] == [4, None, None]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmark_report.md", "results.csv", "results.json"]
    with pytest.raises(BadInputError, match="1 to 5"):
        set_annotation(path, "m", 0, 6)
    with pytest.raises(BadInputError, match="no request"):
        set_annotation(path, "other", 0, 3)


# -- energy --------------------------------------------------------------------------------------------------


def test_nvml_energy_counter() -> None:
    fake = FakeNvml(
        [FakeGpu("NVIDIA H100", 81559, 1024, energy_mj=1_000_000), FakeGpu("NVIDIA H100", 81559, 0, energy_mj=500)]
    )
    meter = EnergyMeter(fake.module(), Path("/nonexistent"))
    assert meter.states()["gpu"]["state"] == "measured"
    assert meter.states()["cpu"] == {"state": NOT_MEASURABLE, "source": "rapl",
                                     "detail": "no RAPL powercap interface (/nonexistent is missing)"}  # fmt: skip
    before = meter.read()
    assert before.gpu_j == pytest.approx(1000.5) and before.cpu_j is None
    gpu0, gpu1 = fake.gpus
    assert gpu0.energy_mj is not None and gpu1.energy_mj is not None
    gpu0.energy_mj += 2500  # 2.5 J on GPU 0
    gpu1.energy_mj += 500
    gpu_j, cpu_j = energy_delta(before, meter.read())
    assert gpu_j == pytest.approx(3.0) and cpu_j is None
    meter.close()
    assert fake.shutdowns == 1


@pytest.mark.parametrize(
    ("fake", "what", "why"),
    [
        (FakeNvml([FakeGpu("Tesla K80", 11441, 0)]), "GPU energy counter unavailable", "Not Supported"),
        (FakeNvml(init_error="Driver Not Loaded"), "no NVIDIA GPU", "Driver Not Loaded"),
        (FakeNvml([]), "no NVIDIA GPU", "0 devices"),
    ],
)
def test_nvml_energy_not_measurable(fake: FakeNvml, what: str, why: str) -> None:
    # The reason's wording belongs to the NVML module (engine.monitor.gpu); here: what and why, on one line.
    counter = NvmlEnergy(fake.module())
    detail = counter.state.detail
    assert counter.state.state == NOT_MEASURABLE and detail.startswith(what) and why in detail and "\n" not in detail
    assert counter.read_j() is None


def test_nvml_module_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert NvmlEnergy().state.detail == "no NVIDIA GPU (pynvml not installed)"


def _rapl(root: Path, zone: str, name: str, energy: int, max_range: int = 1000) -> Path:
    path = root / zone
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy}\n")
    (path / "max_energy_range_uj").write_text(f"{max_range}\n")
    return path


def test_rapl_packages_wraparound_and_subzones(tmp_path: Path) -> None:
    pkg0 = _rapl(tmp_path, "intel-rapl:0", "package-0", 900)
    pkg1 = _rapl(tmp_path, "intel-rapl:1", "package-1", 100)
    sub = _rapl(tmp_path, "intel-rapl:0:0", "core", 50)  # inside package-0: not added again
    psys = _rapl(tmp_path, "intel-rapl:2", "psys", 10)  # the whole platform: overlaps the packages
    rapl = RaplEnergy(tmp_path)
    assert rapl.state.state == "measured" and rapl.state.detail == "package-0, package-1"
    assert rapl.read_j() == 0.0
    (pkg0 / "energy_uj").write_text("200\n")  # wrapped: 900 → 1000 → 0 → 200 = 300 µJ
    (pkg1 / "energy_uj").write_text("400\n")  # 300 µJ
    (sub / "energy_uj").write_text("999\n")
    (psys / "energy_uj").write_text("999\n")
    assert rapl.read_j() == pytest.approx(600e-6)


def test_rapl_not_measurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert RaplEnergy(tmp_path / "missing").state.state == NOT_MEASURABLE
    assert "no RAPL package zones" in RaplEnergy(tmp_path).state.detail
    _rapl(tmp_path, "intel-rapl:0", "package-0", 1)
    original = Path.read_text

    def deny(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", deny)  # tests run as root, where chmod cannot deny a read
    state = RaplEnergy(tmp_path).state
    assert state.state == NOT_MEASURABLE and "not readable" in state.detail
    assert RaplEnergy(tmp_path).read_j() is None

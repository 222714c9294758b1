"""`foundry-tui bench` and `compare` end to end, in subprocesses: the real runtime with the tiny model, and a real
local SSE server for the endpoint paths (baseline, Ctrl-C)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.devtools.tiny_model import TINY_ANSWER, TINY_COMPLETION_TOKENS
from foundry_tui.engine.bench.past_runs import find_runs, run_roots
from foundry_tui.engine.units import MB
from tests.test_cli import assert_clean, assert_one_line_error, run_cli

pytestmark = pytest.mark.runtime


@pytest.fixture
def tiny_env(cli_env: dict[str, str], tiny_model_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The tiny model, and a copy of it with a corrupt ONNX file (registers fine, fails to load)."""
    assert run_cli(cli_env, "register", str(tiny_model_dir), "--id", "tiny-generic-cpu:1").returncode == 0
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    for onnx in broken.glob("*.onnx"):
        onnx.write_bytes(b"not an onnx model")
    assert run_cli(cli_env, "register", str(broken), "--id", "broken-generic-cpu:1").returncode == 0
    return cli_env


def test_full_run_on_the_tiny_model(tiny_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps({"tiny": {"capabilities": ["chat"], "size_mb": 1}}))
    result = run_cli(tiny_env, "bench", "--models", "tiny", "--rounds", "3", "--out", str(out),
                     "--models-file", str(models_file),
                     "--judge", "tiny")  # fmt: skip  # the tiny model never answers with a score
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    data = json.loads((out / "results.json").read_text())
    assert data["partial"] is False
    requests = data["requests"]
    assert len(requests) == 4 * 3  # the 4 shipped prompts × 3 rounds; the warmup round is not recorded
    for request in requests:
        assert request["status"] == "ok" and request["text"] == TINY_ANSWER
        assert request["completion_tokens"] == TINY_COMPLETION_TOKENS and not request["tokens_estimated"]
        assert request["finish_reason"] == "stop" and request["prompt_tokens"] > 0
        assert request["ttft_ms"] > 0 and request["e2e_ms"] >= request["ttft_ms"] and request["decode_tps"] > 0
        assert len(request["itl_ms"]) == TINY_COMPLETION_TOKENS - 1
    assert sorted({(r["prompt_index"], r["round"]) for r in requests}) == [(p, r) for p in range(4) for r in (1, 2, 3)]
    summary = data["summaries"][0]
    assert summary["model"] == "tiny-generic-cpu:1" and summary["status"] == "ok" and summary["error"] is None
    assert summary["completion_tokens"]["mean"] == 6 and summary["completion_tokens"]["stdev"] == 0
    assert summary["e2e_ms"]["n"] == 12 and summary["itl_ms"]["n"] == 60
    assert summary["load_s"] > 0 and summary["rss_before_load_mb"] > 0 and summary["rss_after_unload_mb"] > 0
    assert summary["rss_peak_mb"] >= summary["rss_before_load_mb"] and summary["capabilities"] == ["chat"]
    assert summary["quality"]["rubric_n"] == 12  # the shipped prompts carry expected aspects
    model = data["models"][0]
    assert model["memory_timeline"] and model["status"] == "ok"
    assert data["environment"]["backend"]["kind"] == "foundry-local"
    assert data["environment"]["versions"]["foundry-local-sdk"] == "2.2.1"
    assert data["settings"]["rounds"] == 3 and data["settings"]["temperature"] == 0.0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 12 and {r["completion_tokens"] for r in rows} == {"6"}
    report = (out / "benchmark_report.md").read_text()
    assert "# Benchmark report" in report and "tiny-generic-cpu:1" in report
    assert "LATENCY AVG" in result.stdout and "tiny-generic-cpu:1" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("tiny-generic-cpu:1"))
    assert " ms " in row and " tok/s " in row and " MB " in row  # numbers carry their units (engine.metrics)
    assert "prompt 3 round 3" in result.stderr and "loaded in" in result.stderr and " MB → " in result.stderr
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files
    assert data["judge"]["status"] == "ok" and data["judge"]["unparsed"] == 4  # one distinct answer per prompt
    for request in requests:  # a reply without a score, or a judge prompt too long for its 512-token context
        assert request["quality"]["judge"] is None
        assert request["quality"]["judge_note"].startswith(("unparseable judge reply", "judge request failed"))


def test_one_bad_model_does_not_stop_the_good_one(tiny_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(tiny_env, "bench", "--models", "broken,tiny", "--rounds", "1", "--warmup", "0", "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert_clean(result)
    data = json.loads((out / "results.json").read_text())
    status = {m["model"]: m for m in data["models"]}
    assert status["broken-generic-cpu:1"]["status"] == "error"
    assert "load failed" in status["broken-generic-cpu:1"]["error"]
    assert status["tiny-generic-cpu:1"]["status"] == "ok"
    assert [r["completion_tokens"] for r in data["requests"]] == [6, 6, 6, 6]
    assert {s["model"]: s["status"] for s in data["summaries"]} == {
        "broken-generic-cpu:1": "error",
        "tiny-generic-cpu:1": "ok",
    }


@pytest.mark.parametrize(
    ("content", "args", "words"),
    [
        ("[1, 2", ("--prompts", "{file}"), ("prompt file", "is not valid JSON")),
        ('[{"prompt": "x", "max_tokens": -1}]', ("--prompts", "{file}"), ("item 1", "'max_tokens'")),
        ('{"tiny": {"size_mb": "big"}}', ("--models-file", "{file}"), ("models file", "'size_mb'")),
        ("", ("--prompts", "{missing}"), ("does not exist",)),
        ("", ("--concurrency", "1,x"), ("--concurrency",)),
        ("", ("--concurrency", "0"), ("between 1 and 256",)),
        ("", ("--rounds", "0"), ("--rounds must be at least 1",)),
        ("", ("--max-tokens", "0"), ("max_tokens must be greater than 0",)),
        ("", ("--baseline", "{missing}"), ("results file", "does not exist")),
    ],
)
def test_bad_input_is_one_line_exit_2(
    cli_env: dict[str, str], tmp_path: Path, content: str, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    file = tmp_path / "input.json"
    file.write_text(content)
    argv = [a.format(file=file, missing=tmp_path / "missing.json") for a in args]
    started = time.monotonic()
    result = run_cli(cli_env, "bench", "--models", "tiny", "--out", str(tmp_path / "out"), *argv)
    assert_one_line_error(result, 2, *words)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out" / "results.json").exists()


def test_unknown_model_is_bad_input(cli_env: dict[str, str], tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        args = ("--endpoint", server.url, "--models", "fake-model,nope", "--out", str(tmp_path / "out"))
        result = run_cli(cli_env, "bench", *args)
        chats = [r for r in server.requests if r["path"] == "/v1/chat/completions"]
    assert_one_line_error(result, 2, "no model 'nope'")
    assert chats == []  # found before anything was measured


def test_endpoint_run_with_baseline_json_and_env(cli_env: dict[str, str], tmp_path: Path) -> None:
    script = StreamScript(tokens=make_tokens(8), first_token_delay_s=0.01, gap_s=0.002)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(["one", "two", "three"]))
    with FakeOpenAIServer(script) as server:
        env = {**cli_env, "BENCH_MODELS": "fake-model", "BENCH_STREAM": "0"}
        common = ["--endpoint", server.url, "--rounds", "2", "--warmup", "0", "--concurrency", "1,2",
                  "--prompts", str(prompts)]  # fmt: skip
        first = run_cli(env, "bench", *common, "--out", str(tmp_path / "a"), "--json", "-")
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == json.loads((tmp_path / "a" / "results.json").read_text())
        server.script.gap_s = 0.01  # five times slower between tokens
        json_copy = tmp_path / "copy.json"
        second = run_cli(env, "bench", *common, "--out", str(tmp_path / "b"), "--json", str(json_copy),
                         "--baseline", str(tmp_path / "a" / "results.json"))  # fmt: skip
        assert second.returncode == 0, second.stderr
    data = json.loads((tmp_path / "b" / "results.json").read_text())
    assert json.loads(json_copy.read_text()) == data
    assert {(s["concurrency"], s["mode"]) for s in data["summaries"]} == {
        (1, "stream"), (1, "non-stream"), (2, "stream"), (2, "non-stream"),
    }  # fmt: skip
    assert data["settings"]["non_streamed"] is True and data["settings"]["models"] == ["fake-model"]
    rows = {(r["concurrency"], r["mode"], r["metric"]): r for r in data["comparison"]["rows"]}
    assert rows[(1, "stream", "decode_tps")]["verdict"].startswith("slower (")
    assert rows[(1, "stream", "e2e_ms")]["verdict"].startswith("slower (")
    assert rows[(1, "stream", "completion_tokens")]["verdict"].startswith("no significant change")
    assert "REQ/S" in second.stdout and "VERDICT" in second.stdout and "slower (" in second.stdout
    assert "Against the baseline" in (tmp_path / "b" / "benchmark_report.md").read_text()

    compared = run_cli(cli_env, "compare", str(tmp_path / "a"), str(tmp_path / "b" / "results.json"))
    assert compared.returncode == 0, compared.stderr
    assert "slower (" in compared.stdout and "e2e_ms" in compared.stdout
    same = run_cli(cli_env, "compare", str(tmp_path / "a"), str(tmp_path / "a"), "--json")
    verdicts = {r["verdict"].split(" (")[0] for r in json.loads(same.stdout)["rows"]}
    assert verdicts == {"no significant change"}
    bad = run_cli(cli_env, "compare", str(json_copy), str(tmp_path / "nothing.json"))
    assert_one_line_error(bad, 2, "does not exist")


def test_ctrl_c_writes_partial_results(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = StreamScript(tokens=make_tokens(5), first_token_delay_s=0.02, gap_s=0.05)  # ~0.25 s a request
    with FakeOpenAIServer(script) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "foundry_tui", "bench", "--endpoint", server.url, "--models", "fake-model",
             "--rounds", "50", "--warmup", "0", "--out", str(out)],
            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stderr is not None
        measured = 0
        deadline = time.monotonic() + 30
        while measured < 3 and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            measured += " round " in line and "TTFT" in line
        assert measured == 3
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "SIGINT: partial results" in stderr and "--resume" in stderr
    assert "no reason given" not in stderr
    assert "round 1: cancelled" not in stderr or "stopped (SIGINT)" in stderr  # a request in flight says why
    data = json.loads((out / "results.json").read_text())
    assert data["partial"] is True
    ok = [r for r in data["requests"] if r["status"] == "ok"]
    assert 3 <= len(ok) < 200 and all(r["completion_tokens"] == 5 for r in ok)
    assert data["models"][0]["status"] == "cancelled"
    assert (out / "results.csv").exists() and "Partial results" in (out / "benchmark_report.md").read_text()


def test_without_out_the_run_goes_where_the_tui_lists_runs(tiny_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(tiny_env, "bench", "--models", "tiny", "--rounds", "1", "--warmup", "0")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "data" / "foundry-tui" / "bench"  # the session's results_root: <data_dir>/bench
    (run_dir,) = [p.parent for p in root.glob("*/results.json")]
    assert f"results: {run_dir}/results.json" in result.stderr
    assert [r.path for r in find_runs(run_roots(root, cwd=tmp_path))] == [run_dir]  # the TUI's past runs
    model = json.loads((run_dir / "results.json").read_text())["models"][0]
    memory = model["memory"]
    # In-process: the tiny model's own memory (peak − before its load), a sliver of the process's RSS.
    assert memory["model_memory_mb"] == pytest.approx(memory["rss_peak_mb"] - memory["rss_before_load_mb"])
    assert memory["model_memory_mb"] < 0.25 * memory["rss_peak_mb"]
    assert "· model memory " in result.stderr and "MEMORY" in result.stdout


def test_an_endpoint_here_is_charged_its_server_process_not_the_client(cli_env: dict[str, str], tmp_path: Path) -> None:
    # The fake server runs in this (pytest) process and the CLI in a subprocess: a real client/server pair.
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(4))) as server:
        result = run_cli(cli_env, "bench", "--endpoint", server.url, "--models", "fake-model", "--rounds", "1",
                         "--warmup", "0", "--out", str(tmp_path / "out"))  # fmt: skip
        server_rss_mb = psutil.Process().memory_info().rss / MB
    assert result.returncode == 0, result.stderr
    memory = json.loads((tmp_path / "out" / "results.json").read_text())["models"][0]["memory"]
    assert memory["model_memory_note"].startswith(f"RSS peak of the server process (pid {os.getpid()} ")
    assert memory["model_memory_mb"] == memory["server_rss_peak_mb"]
    assert memory["model_memory_mb"] == pytest.approx(server_rss_mb, rel=0.5)  # this process, not the client
    assert memory["rss_peak_mb"] != memory["model_memory_mb"]  # the client's RSS: kept as data only

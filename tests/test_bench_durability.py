"""`foundry-tui bench` in subprocesses, at its ends: SIGTERM and kill -9 in the middle of a model, `--resume` that
finishes the run from its journal, and bad flags refused in one line before anything runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.engine.bench.journal import read_journal
from tests.test_cli import run_cli

ROUNDS = 12


def start_bench(env: dict[str, str], url: str, out: Path, prompts: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "foundry_tui", "bench", "--endpoint", url, "--models", "fake-model", "--prompts",
         str(prompts), "--rounds", str(ROUNDS), "--warmup", "0", "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_requests(process: subprocess.Popen[str], n: int) -> None:
    assert process.stderr is not None
    measured, deadline = 0, time.monotonic() + 30
    while measured < n and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        measured += " round " in line and "TTFT" in line
    assert measured == n


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([{"prompt": "count to five"}]), encoding="utf-8")
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_keeps_its_requests_and_resume_finishes_it(
    sig: signal.Signals, cli_env: dict[str, str], tmp_path: Path, prompts: Path
) -> None:
    out = tmp_path / "out"
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(5), gap_s=0.05)) as server:  # ~0.25 s a request
        process = start_bench(cli_env, server.url, out, prompts)
        wait_for_requests(process, 3)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
        journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
        kept = [line["request"] for line in journal if line["kind"] == "request"]
        assert len(kept) >= 3 and all(r["status"] in ("ok", "cancelled") for r in kept)
        if sig == signal.SIGTERM:
            # Handled like Ctrl-C: exit 143, valid partial results holding the model's finished requests.
            assert process.returncode == 143, stderr
            assert "Traceback" not in stderr and "SIGTERM: partial results" in stderr and "--resume" in stderr
            data = json.loads((out / "results.json").read_text())
            assert data["partial"] is True and data["stopped_by"] == "SIGTERM"
            assert sum(r["status"] == "ok" for r in data["requests"]) >= 3
            assert data["models"][0]["status"] == "cancelled"
        else:
            assert process.returncode == -signal.SIGKILL  # nothing could be written at the end: the journal has it
        server.script = StreamScript(tokens=make_tokens(5))
        resumed = run_cli(cli_env, "bench", "--endpoint", server.url, "--resume", str(out), "--rounds", "99",
                          timeout=120)  # fmt: skip
        again = run_cli(cli_env, "bench", "--endpoint", server.url, "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "recorded workload; ignored: --rounds" in resumed.stderr
    data = json.loads((out / "results.json").read_text())
    ok = [r for r in data["requests"] if r["status"] == "ok"]
    assert data["partial"] is False and len(ok) == ROUNDS
    assert sorted(r["round"] for r in ok) == list(range(1, ROUNDS + 1))  # each missing one ran once
    assert [r["session"] for r in ok].count(0) >= 3 and data["models"][0]["status"] == "ok"
    assert len(data["sessions"]) == 2 and data["sessions"][1]["ended"] == "completed"
    assert data["sessions"][0]["ended"] == ("SIGTERM" if sig == signal.SIGTERM else None)
    # The resumed session's memory samples continue the run's clock, after the old session's requests.
    offset = data["sessions"][1]["t_offset_s"]
    assert min(point["t"] for point in data["models"][0]["memory_timeline"]) >= offset
    assert all(r["t_start_s"] >= offset for r in ok if r["session"] == 1)
    assert again.returncode == 2 and "completed; nothing to resume" in again.stderr


def test_resume_from_results_json_alone_starts_a_journal_with_its_header(
    cli_env: dict[str, str], tmp_path: Path, prompts: Path
) -> None:
    out = tmp_path / "out"
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(5), gap_s=0.05)) as server:
        process = start_bench(cli_env, server.url, out, prompts)
        wait_for_requests(process, 2)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        (out / "journal.jsonl").unlink()  # a run from before journals: only results.json
        server.script = StreamScript(tokens=make_tokens(5))
        resumed = run_cli(cli_env, "bench", "--endpoint", server.url, "--resume", str(out), timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    lines = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert lines[0]["kind"] == "run" and lines[0]["settings"]["rounds"] == ROUNDS
    state = read_journal(out / "journal.jsonl")
    data = json.loads((out / "results.json").read_text())
    assert state.sessions and data["partial"] is False
    assert len([r for r in state.requests if r.status == "ok"]) == ROUNDS  # the old run's requests are in it too


def test_a_stop_during_the_sweep_leaves_the_model_cancelled_and_resume_finishes_the_sweep(
    cli_env: dict[str, str], tmp_path: Path, prompts: Path
) -> None:
    """The phases after the levels are part of the model: stopped there, it is not 'ok', and --resume sends only
    the sweep requests that are missing."""
    out = tmp_path / "out"
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(5), gap_s=0.1)) as server:  # ~0.5 s a request
        process = subprocess.Popen(
            [sys.executable, "-m", "foundry_tui", "bench", "--endpoint", server.url, "--models", "fake-model",
             "--prompts", str(prompts), "--rounds", "2", "--warmup", "0", "--prompt-tokens", "32,64,128",
             "--out", str(out)],
            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line or ("tokens round 1: TTFT" in line):
                break
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 143, stderr
        stopped = json.loads((out / "results.json").read_text())
        assert stopped["partial"] is True and stopped["models"][0]["status"] == "cancelled"
        sent_before = [(r["prompt_tokens_target"], r["round"]) for r in stopped["requests"] if r["phase"] == "sweep"
                       and r["status"] == "ok"]  # fmt: skip
        assert 1 <= len(sent_before) < 6
        server.script = StreamScript(tokens=make_tokens(5))
        resumed = run_cli(cli_env, "bench", "--endpoint", server.url, "--resume", str(out), timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads((out / "results.json").read_text())
    sweep = sorted((r["prompt_tokens_target"], r["round"]) for r in data["requests"] if r["phase"] == "sweep"
                   and r["status"] == "ok")  # fmt: skip
    assert sweep == [(n, k) for n in (32, 64, 128) for k in (1, 2)]  # each missing one ran once
    assert data["partial"] is False and data["models"][0]["status"] == "ok"
    assert [p["n_ok"] for p in data["sweep"]] == [2, 2, 2]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--timeout", "nan"], "--timeout must be a finite number"),
        (["--timeout", "inf"], "--timeout must be a finite number"),
        (["--timeout", "0"], "--timeout must be greater than 0"),
        (["--stall-timeout", "-1"], "--stall-timeout must be greater than 0"),
        (["--first-token-timeout", "1e9"], "--first-token-timeout must be greater than 0 and at most 86400"),
        (["--waves", "0"], "--waves must be between 1 and 100"),
        (["--json", "/proc/x.json"], "--json /proc/x.json: directory /proc is not writable"),
        (["--json", "/nonexistent/x.json"], "directory /nonexistent does not exist"),
        (["--tokenizer", "/nonexistent/tok"], "--tokenizer /nonexistent/tok"),
        (["--resume", "/nonexistent"], "--resume /nonexistent is not a directory"),
        (["--endpoint", "http://127.0.0.1:99999"], "bad port"),
    ],
)
def test_bad_flags_are_refused_before_anything_runs(
    flags: list[str], message: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    started = time.monotonic()
    result = run_cli(cli_env, "bench", "--endpoint", "http://127.0.0.1:9", "--models", "x", "--out",
                     str(tmp_path / "out"), *flags)  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out" / "journal.jsonl").exists()

"""The headless CLI end to end, in subprocesses, on the real runtime and against a real local server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foundry_tui.devtools.sse_server import DEFAULT_TOKENS, FakeOpenAIServer
from foundry_tui.devtools.tiny_model import TINY_ANSWER, TINY_COMPLETION_TOKENS

pytestmark = pytest.mark.runtime

NATIVE_LOG_MARKERS = ("[warning]", "[error]", "[info]", "failed to fetch catalog", "[foundry-local]")


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foundry_tui", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    """No native log line and no traceback on either stream."""
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
        for marker in NATIVE_LOG_MARKERS:
            assert marker not in stream, f"{marker!r} leaked: {stream[-500:]}"


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("foundry-tui: error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.stderr


@pytest.fixture
def registered_env(cli_env: dict[str, str], tiny_model_dir: Path) -> dict[str, str]:
    result = run_cli(cli_env, "register", str(tiny_model_dir), "--id", "tiny-generic-cpu:1")
    assert result.returncode == 0, result.stderr
    assert "registered tiny-generic-cpu:1 (alias tiny)" in result.stdout
    assert_clean(result)
    return cli_env


def test_models_json_offline(registered_env: dict[str, str]) -> None:
    started = time.monotonic()
    result = run_cli(registered_env, "models", "--json")
    assert time.monotonic() - started < 10
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    data = json.loads(result.stdout)
    assert data["backend"]["kind"] == "foundry-local"
    assert data["catalog"]["state"] == "unreachable"
    assert data["catalog"]["reason"]
    assert [m["id"] for m in data["local"]] == ["tiny-generic-cpu:1"]
    local = data["local"][0]
    assert local["alias"] == "tiny" and local["source"] == "local" and local["task"] == "chat-completion"
    assert data["loaded"] == []


def test_models_table_says_the_catalog_is_unreachable(registered_env: dict[str, str]) -> None:
    result = run_cli(registered_env, "models")
    assert result.returncode == 0
    assert_clean(result)
    assert "catalog: unreachable" in result.stdout
    assert "showing local and cached models" in result.stdout
    assert "tiny-generic-cpu:1" in result.stdout


def test_chat_json_through_the_runtime(registered_env: dict[str, str]) -> None:
    result = run_cli(registered_env, "chat", "tiny", "hi", "--json")
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["text"] == TINY_ANSWER
    assert data["model"] == "tiny-generic-cpu:1"
    assert data["finish_reason"] == "stop"
    assert data["completion_tokens"] == TINY_COMPLETION_TOKENS
    assert data["prompt_tokens"] == 21
    assert data["ttft_ms"] > 0 and data["e2e_ms"] >= data["ttft_ms"] and data["decode_tps"] > 0
    assert set(data) >= {
        "text",
        "ttft_ms",
        "e2e_ms",
        "decode_tps",
        "prompt_tokens",
        "completion_tokens",
        "finish_reason",
        "model",
    }


def test_chat_streams_text_then_a_summary(registered_env: dict[str, str]) -> None:
    result = run_cli(registered_env, "chat", "tiny", "hi", "--system", "be brief", "--max-tokens", "3")
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert result.stdout == "Hello from the\n"
    summary = result.stderr.strip().splitlines()
    assert len(summary) == 1
    assert "TTFT" in summary[0] and "tok/s" in summary[0] and "3 tokens" in summary[0]
    assert "finish length" in summary[0]


def test_chat_prompt_from_stdin(registered_env: dict[str, str]) -> None:
    result = run_cli(registered_env, "chat", "tiny", "-", "--json", stdin="hi\n")
    assert json.loads(result.stdout)["text"] == TINY_ANSWER


def test_unregister(registered_env: dict[str, str]) -> None:
    result = run_cli(registered_env, "unregister", "tiny-generic-cpu:1")
    assert result.returncode == 0, result.stderr
    data = json.loads(run_cli(registered_env, "models", "--json").stdout)
    assert data["local"] == []


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("chat", "nope", "hi"), 2, ("no model 'nope'",)),
        (("chat", "tiny", "  "), 2, ("prompt is empty",)),
        (("chat", "tiny", "hi", "--max-tokens", "0"), 2, ("max_tokens must be greater than 0",)),
        (("chat", "tiny", "hi", "--max-tokens", "ten"), 2, ("--max-tokens",)),
        (("chat", "tiny", "hi", "--temperature", "9"), 2, ("temperature must be between",)),
        (("chat",), 2, ("required",)),
        (("register", "/nonexistent/dir", "--id", "x-generic-cpu:1"), 2, ("does not exist",)),
        (("register", ".", "--id", "no-version"), 2, ("NAME:VERSION",)),
        (("unregister", "ghost:1"), 2, ("no registered local model",)),
        (("models", "--endpoint", "ftp://x"), 2, ("http://",)),
        (("bogus",), 2, ("invalid choice",)),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    registered_env: dict[str, str], args: tuple[str, ...], code: int, words: tuple[str, ...]
) -> None:
    result = run_cli(registered_env, *args)
    assert_one_line_error(result, code, *words)
    assert_clean(result)


def test_bad_register_dir(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(cli_env, "register", str(tmp_path), "--id", "x-generic-cpu:1")
    assert_one_line_error(result, 2, "no genai_config.json")


def test_bad_config_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config" / "foundry-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("max_tokens = 'many'\n")
    result = run_cli(cli_env, "chat", "tiny", "hi")
    assert_one_line_error(result, 2, "max_tokens must be a whole number", str(config))


def test_chat_against_an_endpoint(cli_env: dict[str, str]) -> None:
    with FakeOpenAIServer() as server:
        result = run_cli(cli_env, "chat", "fake-model", "hi", "--json", "--endpoint", server.base_url)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["text"] == "".join(DEFAULT_TOKENS)
        assert data["completion_tokens"] == len(DEFAULT_TOKENS)
        assert data["finish_reason"] == "stop"
        body = server.requests[-1]["body"]
        assert body["max_tokens"] == 512 and body["temperature"] == 0.0 and body["stream"] is True


def test_endpoint_from_environment_and_models(cli_env: dict[str, str]) -> None:
    with FakeOpenAIServer(models=["m1", "m2"]) as server:
        env = {**cli_env, "FOUNDRY_LOCAL_ENDPOINT": server.url}
        data = json.loads(run_cli(env, "models", "--json").stdout)
        assert data["backend"]["kind"] == "endpoint"
        assert data["catalog"]["state"] == "ok"
        assert [m["id"] for m in data["catalog"]["models"]] == ["m1", "m2"]
        assert data["cached"] is None and data["loaded"] is None  # a plain server has no management routes


def test_endpoint_server_error_is_one_line_exit_1(cli_env: dict[str, str]) -> None:
    with FakeOpenAIServer() as server:
        server.script.fault = "http500"
        result = run_cli(cli_env, "chat", "fake-model", "hi", "--endpoint", server.url)
        assert result.returncode == 1
        assert "HTTP 500" in result.stderr.strip().splitlines()[-1]
        assert "Traceback" not in result.stderr


def test_unreachable_endpoint(cli_env: dict[str, str]) -> None:
    result = run_cli(cli_env, "chat", "m", "hi", "--endpoint", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr


def test_chat_output_escapes_nothing_when_piped(cli_env: dict[str, str]) -> None:
    """Piped output is the model's exact text (scripts get the bytes); terminals get escapes (see test_text)."""
    with FakeOpenAIServer() as server:
        server.script.tokens = ["a", "\x1b[2J", "b"]
        result = run_cli(cli_env, "chat", "fake-model", "hi", "--endpoint", server.url)
        assert result.stdout == "a\x1b[2Jb\n"


def test_doctor(registered_env: dict[str, str]) -> None:
    result = run_cli(registered_env, "doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_clean(result)
    data = json.loads(result.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["runtime start"]["status"] == "ok"
    assert checks["public catalog"]["status"] == "warn"
    assert "tiny-generic-cpu:1" in checks["local models"]["detail"]
    assert checks["NVIDIA GPU"]["status"] in ("ok", "warn")
    assert data["ok"] is True


def test_doctor_fails_for_an_unreachable_endpoint(cli_env: dict[str, str]) -> None:
    result = run_cli(cli_env, "doctor", "--endpoint", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "[FAIL] endpoint" in result.stdout


def test_version_and_help(cli_env: dict[str, str]) -> None:
    assert run_cli(cli_env, "--version").stdout.startswith("foundry-tui ")
    assert "chat" in run_cli(cli_env, "--help").stdout

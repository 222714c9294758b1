"""The seed's first steps — `models`, `download`, `cache`, `chat` — in `foundry-tui` subprocesses on the real
runtime, against the fake Foundry cloud (catalog, TLS model registry, blob store) on 127.0.0.1."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundry_tui.devtools.fake_cloud import CloudKnobs, FakeCloud
from foundry_tui.devtools.fake_cloud.catalog_data import BIG_ALIAS, SMALL_ALIAS, TINY_CHAT_ALIAS
from foundry_tui.devtools.tiny_model import TINY_ANSWER
from foundry_tui.engine.catalog_store import save_catalog, store_path
from foundry_tui.engine.models import ModelEntry
from tests.test_cli import assert_clean, run_cli

pytestmark = pytest.mark.runtime


@pytest.fixture
def fresh_cloud(cloud: FakeCloud) -> Iterator[FakeCloud]:
    """The session's cloud with its knobs back to normal after the test."""
    yield cloud
    cloud.knobs = CloudKnobs()  # every request reads cloud.knobs afresh


def data_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "foundry-tui"


def cache_dir(env: dict[str, str]) -> Path:
    return data_dir(env) / "foundry" / "cache" / "models"


def test_models_json_lists_aliases_variants_and_the_pick(cloud_env: dict[str, str], fresh_cloud: FakeCloud) -> None:
    result = run_cli(cloud_env, "models", "--json")
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    catalog = json.loads(result.stdout)["catalog"]
    assert catalog["state"] == "ok" and catalog["url"] == fresh_cloud.catalog_url
    aliases = {a["alias"]: a for a in catalog["aliases"]}
    assert len(aliases) >= 25
    small = [m for m in catalog["models"] if m["alias"] == SMALL_ALIAS]
    # On this CPU-only machine the runtime asks for CPU variants only; the pick is the CPU one, and says why.
    assert {(m["device"], m["execution_provider"]) for m in small} == {("CPU", "CPUExecutionProvider")}
    picked = next(m for m in small if m["selected"])
    assert picked["license"] and picked["task"] == "chat-completion" and picked["context_length"] == 512
    assert picked["publisher"] and picked["version"] == 3 and picked["size_mb"] is not None
    assert aliases[SMALL_ALIAS]["picked"] == picked["id"]
    assert "CPUExecutionProvider" in aliases[SMALL_ALIAS]["why"]
    # The good catalog is stored for offline starts.
    stored = json.loads(store_path(data_dir(cloud_env)).read_text())
    assert stored["url"] == fresh_cloud.catalog_url and len(stored["models"]) == len(catalog["models"])


def test_download_cache_chat_remove(cloud_env: dict[str, str], fresh_cloud: FakeCloud) -> None:
    result = run_cli(cloud_env, "download", SMALL_ALIAS, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "100.0 %" in result.stderr and "downloaded" in result.stderr
    model_id = next(line for line in result.stderr.splitlines() if line.startswith("downloaded")).split()[1]
    assert model_id.endswith(":3")

    listed = run_cli(cloud_env, "cache", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    cached = next(m for m in report["models"] if m["id"] == model_id)
    on_disk = sum(f.stat().st_size for f in Path(cached["path"]).rglob("*") if f.is_file())
    assert cached["bytes_on_disk"] == on_disk and report["total_bytes"] == on_disk
    assert report["location"] == str(cache_dir(cloud_env))

    chat = run_cli(cloud_env, "chat", SMALL_ALIAS, "hi", "--json", timeout=120)
    assert chat.returncode == 0, chat.stderr
    answer = json.loads(chat.stdout)
    assert answer["text"] == TINY_ANSWER and answer["model"] == model_id

    removed = run_cli(cloud_env, "cache", "remove", SMALL_ALIAS)
    assert removed.returncode == 0, removed.stderr
    assert not Path(cached["path"]).exists() and not Path(cached["path"]).parent.exists()  # no empty dirs left
    after = json.loads(run_cli(cloud_env, "cache", "list", "--json").stdout)
    assert after["models"] == [] and after["total_bytes"] == 0


def test_an_older_version_and_the_upgrade_mark(cloud_env: dict[str, str], fresh_cloud: FakeCloud) -> None:
    result = run_cli(cloud_env, "download", SMALL_ALIAS, "--version", "2", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)
    assert entry["version"] == 2 and entry["id"].endswith(":2") and entry["cached"]
    listed = run_cli(cloud_env, "models", "--filter", f"{SMALL_ALIAS} cached")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if entry["id"] in line)
    assert "yes ↑v3" in row
    missing = run_cli(cloud_env, "download", SMALL_ALIAS, "--version", "9")
    assert missing.returncode == 2
    assert "no version 9" in missing.stderr and "versions: 3, 2" in missing.stderr


def _cancelled_at(stderr: str) -> float:
    match = re.search(r"cancelled at (\d+) %", stderr)
    assert match, stderr
    return float(match.group(1))


def _wait_for_progress(process: subprocess.Popen[str], timeout: float, percent: float) -> list[str]:
    """Read stderr until a progress line reaches `percent`."""
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r": +(\d+\.\d) %", line)
        if match and float(match.group(1)) >= percent:
            return lines
    raise AssertionError(f"no progress to {percent} % in {lines}")


def test_ctrl_c_cancels_and_the_next_run_resumes(cloud_env: dict[str, str], fresh_cloud: FakeCloud) -> None:
    fresh_cloud.knobs.blob_delay_s = 0.5  # seconds to interrupt in
    process = subprocess.Popen(
        [sys.executable, "-m", "foundry_tui", "download", BIG_ALIAS],
        env=cloud_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_progress(process, timeout=60, percent=20)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, rest
    assert "run the same command again to resume" in rest
    assert _cancelled_at(rest) >= 20

    partial = json.loads(run_cli(cloud_env, "cache", "list", "--json").stdout)["partial_downloads"]
    assert len(partial) == 1 and partial[0]["bytes_on_disk"] > 0
    assert list(Path(partial[0]["path"]).glob("*.dlstate"))  # the runtime's record of the chunks it has

    fresh_cloud.knobs.blob_delay_s = 0.0
    resumed = run_cli(cloud_env, "download", BIG_ALIAS, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(run_cli(cloud_env, "cache", "list", "--json").stdout)["partial_downloads"] == []


@pytest.mark.parametrize("body", [True, False])
def test_a_refused_download_is_one_line_with_status_url_and_a_hint(
    cloud_env: dict[str, str], fresh_cloud: FakeCloud, body: bool
) -> None:
    fresh_cloud.knobs.blob_status = 403
    fresh_cloud.knobs.blob_error_body = body
    result = run_cli(cloud_env, "download", TINY_CHAT_ALIAS, timeout=120)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("foundry-tui: error:")]
    assert len(errors) == 1, result.stderr
    assert "403" in errors[0] and "http://127.0.0.1:" in errors[0] and "proxy" in errors[0], errors[0]


def test_offline_models_is_quick_and_shows_the_stored_catalog(cli_env: dict[str, str], tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/asset-gallery/v1.0/models"  # the discard port: nothing listens
    stored = [ModelEntry(id="phi-4-mini-instruct-generic-cpu:2", alias="phi-4-mini", source="public", license="MIT")]
    save_catalog(store_path(data_dir(cli_env)), dead, stored)
    for env in (cli_env, {**cli_env, "FOUNDRY_TUI_CATALOG_URL": dead}):
        started = time.monotonic()
        result = run_cli(env, "models")
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert took <= 1.0 + 0.5, took  # ≤ 1.0 s on an idle machine; the margin is for a loaded CI box
        assert "catalog: unreachable — cannot reach" in result.stdout
    assert re.search(r"showing the catalog stored \d+ s ago \(stale\)", result.stdout), result.stdout
    assert "phi-4-mini-instruct-generic-cpu:2" in result.stdout


def test_models_filter_uses_the_panes_syntax(cloud_env: dict[str, str], fresh_cloud: FakeCloud) -> None:
    result = run_cli(cloud_env, "models", "--json", "--filter", "whisper task:speech")
    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)["catalog"]["models"]
    assert models and all("whisper" in m["alias"] and "speech" in m["task"] for m in models)


def test_eps_and_doctor_show_the_catalog_settings(cloud_env: dict[str, str], fresh_cloud: FakeCloud) -> None:
    eps = run_cli(cloud_env, "eps", "--json")
    assert eps.returncode == 0, eps.stderr
    assert json.loads(eps.stdout)["built_in"] == ["CPUExecutionProvider"]
    doctor = run_cli(cloud_env, "doctor", "--json", timeout=120)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    settings = checks["catalog settings"]["detail"]
    assert fresh_cloud.catalog_url in settings and "env FOUNDRY_TUI_CATALOG_URL" in settings
    assert "SSL_CERT_FILE" in settings and checks["public catalog"]["status"] == "ok"

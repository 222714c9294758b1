"""`foundry-tui monitor --record` / `--replay`: the file format, errors, Ctrl-C, and a round trip."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from foundry_tui.engine.metrics import GPU_SERIES, SAMPLE_SERIES, gpu_key
from foundry_tui.engine.monitor import MemorySampler
from foundry_tui.engine.recording import Recorder, read_recording, record, sample_record
from foundry_tui.errors import BadInputError
from tests.fake_pynvml import FakeGpu, FakeNvml
from tests.tui.monitor_fixture import EVENTS, write_fixture

# The file format as released: a recording written now must carry exactly these names, so older readers (and
# files already on disk, read by this version) keep working. The registry may grow; these may not change.
RELEASED_SAMPLE_FIELDS = {
    "ram_used_mb": "ram_used",
    "ram_total_mb": "ram_total",
    "ram_available_mb": "ram_available",
    "swap_used_mb": "swap_used",
    "swap_total_mb": "swap_total",
    "process_rss_mb": "process_rss",
    "process_uss_mb": "process_uss",
    "cpu_system_pct": "cpu_system",
    "cpu_process_pct": "cpu_process",
    "server_rss_mb": "server_rss",
    "server_uss_mb": "server_uss",
    "server_cpu_pct": "server_cpu",
}
RELEASED_GPU_FIELDS = {
    "used_mb": "used",
    "total_mb": "total",
    "util_pct": "util",
    "power_w": "power",
    "temp_c": "temp",
    "energy_j": "energy",
    "process_mb": "process",
    "server_mb": "server",
}


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foundry_tui", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_record_headless_for_one_second(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    started = time.monotonic()
    result = run_cli(cli_env, "monitor", "--record", str(path), "--duration", "1", "--interval", "0.1")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20
    assert result.stdout == ""
    assert result.stderr.startswith("recorded ") and f"to {path}" in result.stderr
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert 8 <= len(lines) <= 14  # ~11 samples at 10 Hz over 1 s
    assert all(line["kind"] == "sample" for line in lines)
    t = [line["t"] for line in lines]
    assert t == sorted(t) and t[-1] - t[0] == pytest.approx(1.0, abs=0.15)
    first = lines[-1]
    assert first["ram_total_mb"] > 0 and first["process_rss_mb"] > 5
    assert first["server"] == "this process (in-process runtime)"
    assert isinstance(first["gpus"], list)
    timeline = read_recording(path)
    assert len(timeline) == len(lines) and timeline.has("ram_used") and timeline.has("process_uss")


def test_record_watches_a_pid(cli_env: dict[str, str], tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = tmp_path / "pid.jsonl"
        result = run_cli(
            cli_env,
            "monitor",
            "--record",
            str(path),
            "--duration",
            "0.3",
            "--interval",
            "0.1",
            "--pid",
            str(sleeper.pid),
        )
        assert result.returncode == 0, result.stderr
        last = json.loads(path.read_text().splitlines()[-1])
        assert last["server_pid"] == sleeper.pid and last["server"].startswith(f"pid {sleeper.pid} (")
        assert last["server_rss_mb"] > 1
    finally:
        sleeper.kill()
        sleeper.wait()


def test_ctrl_c_keeps_every_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "interrupted.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "foundry_tui", "monitor", "--record", str(path), "--interval", "0.05"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while (not path.exists() or path.read_text().count("\n") < 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err  # Ctrl-C is how an open-ended recording ends
    text = path.read_text()
    assert text.endswith("\n")
    assert all(json.loads(line)["kind"] == "sample" for line in text.splitlines())
    assert "Traceback" not in err and err.startswith("recorded ")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("", "no samples"),
        ("not json\n", ":1: not JSON"),
        ("[1, 2]\n", ":1: not a JSON object"),
        ('{"kind": "sample"}\n', ":1: no 't'"),
        ('{"t": 1, "kind": "frame"}\n', ":1: 'kind' must be"),
        ('{"t": 1, "kind": "sample", "ram_used_mb": "lots"}\n', ":1: 'ram_used_mb' is not a number"),
        ('{"t": 1, "kind": "sample"}\n{"t": 2, "kind": "event"}\n', ":2: an event needs 'event'"),
        ('{"t": 1, "kind": "sample", "gpus": [{"name": "x"}]}\n', "integer 'index'"),
    ],
)
def test_bad_recordings_are_one_line_exit_2(cli_env: dict[str, str], tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    result = run_cli(cli_env, "monitor", "--replay", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("foundry-tui: error: ") and words in lines[0], lines
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--replay", "/nonexistent/run.jsonl"), "no such file"),
        (("--record", "/nonexistent/dir/run.jsonl", "--duration", "1"), "cannot write"),
        (("--record", "x.jsonl", "--interval", "0"), "--interval must be"),
        (("--record", "x.jsonl", "--duration", "-1"), "--duration must be"),
        ((), "one of the arguments --record --replay is required"),
        (("--record", "a", "--replay", "b"), "not allowed with"),
    ],
)
def test_bad_monitor_arguments(cli_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    result = run_cli(cli_env, "monitor", *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_round_trip_in_process(tmp_path: Path) -> None:
    """Samples and markers written by the recorder read back as the same series and events."""
    path = tmp_path / "rt.jsonl"
    sampler = MemorySampler(interval_s=0.02)
    recorder = Recorder(path)
    marks: list[float] = []

    def on_sample(sample: object) -> None:
        if len(marks) < 2:
            marks.append(sampler.mark("load_start" if not marks else "load_end", "m"))

    record(sampler, recorder, duration_s=0.2, interval_s=0.02, on_sample=on_sample)
    recorder.close()
    timeline = read_recording(path)
    assert [(e.kind, e.model) for e in timeline.events] == [("load_start", "m"), ("load_end", "m")]
    assert [e.t for e in timeline.events] == pytest.approx(marks, abs=1e-6)
    live = sampler.timeline()
    assert np.allclose(timeline.t, live.t, atol=1e-6)
    assert np.allclose(timeline.get("process_rss"), live.get("process_rss"), atol=1e-3)
    assert recorder.samples == len(timeline) and recorder.events == 2


def test_fixture_reads_back(tmp_path: Path) -> None:
    timeline = read_recording(write_fixture(tmp_path / "fx.jsonl"))
    assert len(timeline.events) == len(EVENTS)
    assert timeline.gpu_indices() == [0] and timeline.gpu_names == {0: "NVIDIA L4"}
    assert timeline.server == "this process (in-process runtime)" and timeline.gpu_reason is None
    assert math.isclose(timeline.stop - float(timeline.t[0]), 120.0, abs_tol=0.5)


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    path = tmp_path / "nan.jsonl"
    recorder = Recorder(path)
    sampler = MemorySampler()
    sampler.watch_server(endpoint="http://10.255.255.1:1/v1")
    record(sampler, recorder, duration_s=0.0, interval_s=0.1)
    recorder.close()
    line = json.loads(path.read_text())
    assert line["server_rss_mb"] is None and line["server"] == "remote — not measurable"
    with pytest.raises(BadInputError):
        read_recording(tmp_path / "missing.jsonl")


def test_a_record_has_the_released_shape() -> None:
    fake = FakeNvml([FakeGpu("NVIDIA L4", 23034, 512, energy_mj=1000, processes={os.getpid(): 64})])
    sampler = MemorySampler(nvml=fake.module())
    sampler.open_gpus()
    line = sample_record(sampler.sample_now(), server="s", gpu_reason=None)
    sampler.stop()
    assert set(line) == {"t", "kind", "server_pid", "server", "gpu_reason", "gpus", *RELEASED_SAMPLE_FIELDS}
    (gpu,) = line["gpus"]
    assert set(gpu) == {"index", "name", "processes_note", *RELEASED_GPU_FIELDS}
    assert gpu["used_mb"] == 512 and gpu["process_mb"] == 64 and gpu["energy_j"] == 1.0
    # The registry names the same fields and series: the recorder, the reader and the sampler all iterate it.
    assert {m.field: m.key for m in SAMPLE_SERIES} == RELEASED_SAMPLE_FIELDS
    assert {m.field: m.key for m in GPU_SERIES} == RELEASED_GPU_FIELDS


def test_round_trip_with_a_gpu_keeps_every_registry_series(tmp_path: Path) -> None:
    path = tmp_path / "gpu.jsonl"
    fake = FakeNvml([FakeGpu("NVIDIA L4", 23034, 512, energy_mj=1000, power_mw=70_000, processes={os.getpid(): 64})])
    sampler = MemorySampler(nvml=fake.module())
    sampler.open_gpus()
    recorder = Recorder(path)
    record(sampler, recorder, duration_s=0.0, interval_s=0.1)
    recorder.close()
    sampler.stop()
    replay, live = read_recording(path), sampler.timeline()
    keys = ["t", *(m.key for m in SAMPLE_SERIES), *(gpu_key(0, m) for m in GPU_SERIES)]
    assert sorted(live.series) == sorted(keys) == sorted(replay.series)
    for key in keys:
        assert np.allclose(replay.get(key), live.get(key), atol=1e-3, equal_nan=True), key
    assert replay.gpu_names == {0: "NVIDIA L4"} and replay.get("gpu0_power")[0] == 70.0

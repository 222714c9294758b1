"""The fit estimate against a real load of SmolLM2-135M (int8, 8192 context) through the in-process runtime.

Measured (2026-12-01, foundry-local-sdk 2.2.1, one fresh process per run, Linux x86_64 CPU): estimate 632 MB =
files 258 MB + KV cache 360 MB (fp32, 8192 tokens, shared buffer) + runtime 14 MB. The model's own memory was
248 MB after the load (estimate for that point, files + runtime = 272 MB: +10 %), 255 MB after the first request
(the KV cache is allocated but RSS shows only the pages touched so far: the estimate is +148 %), 497–623 MB after the
second (+1.5…+27 %). Later requests sometimes leave a second or third KV buffer resident (980, 1348 MB) — the
runtime's allocator, with one session or a new one per request alike — so the check stops after two requests.

It runs in a subprocess: one runtime per process, and a fresh one (the runtime's own set-up is part of the first
load's memory). Skipped when SmolLM2 is not registered in the default data dir (`foundry-tui import --demo`).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from foundry_tui.engine.fit import RUNTIME_BASELINE_MB

SMOLLM2 = "smollm2-135m-instruct-int8-generic-cpu:1"
LOAD_TOLERANCE = 0.15  # files + runtime vs after the load
KV_TOLERANCE = 0.10  # files + KV cache + runtime vs after the second request

MEASURE = """
import json, sys
from foundry_tui.backends.base import ChatMessage
from foundry_tui.config import Settings
from foundry_tui.engine.session import Session
from foundry_tui.errors import FoundryTuiError

session = Session(Settings())
try:
    entry = session.resolve(sys.argv[1])
    check = session.fit(entry)
except FoundryTuiError as exc:
    print(json.dumps({"skip": str(exc)}))
    raise SystemExit(0)
if entry.loaded:
    session.unload(entry.id)
    entry = session.resolve(entry.id)
    check = session.fit(entry)
est = check.estimate
_, load = session.load(entry.id)
figures = []
try:
    for prompt in ("Say hi.", "Why is the sky blue?"):
        session.chat(entry.id, [ChatMessage("user", prompt)], session.chat_options(max_tokens=32, temperature=0.0))
        memory = session.model_memory(entry.id)
        figures.append(memory.requests_mb)
finally:
    session.unload(entry.id)
    session.close()
print(json.dumps({
    "rule": est.rule, "kv_mb": est.kv_mb, "files_mb": est.files_mb, "load_mb": est.load_mb, "total_mb": est.total_mb,
    "after_load": load.model_mb, "after_requests": figures, "message": check.message,
}))
"""


@pytest.mark.slow
def test_smollm2_estimate_matches_a_real_load() -> None:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, SMOLLM2], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if "skip" in data:
        pytest.skip(f"SmolLM2 is not available here: {data['skip']}")
    assert data["rule"] == "genai_config" and data["kv_mb"] == 360.0  # 30 × 3 × 64 × 2 × 8192 × 4 bytes
    assert data["load_mb"] == pytest.approx(data["files_mb"] + RUNTIME_BASELINE_MB)
    after_load, (after_first, after_second) = data["after_load"], data["after_requests"]
    assert data["load_mb"] == pytest.approx(after_load, rel=LOAD_TOLERANCE), data
    # The first request allocates the KV cache but touches little of it; by the second most or all of it is
    # resident (measured 497–623 MB of an estimated 632: how much RSS shows depends on the pages touched). The
    # estimate must bound it — one KV buffer, never an under-estimate beyond the tolerance.
    assert after_first < after_load + 0.5 * data["kv_mb"], data
    assert after_load < after_second <= data["total_mb"] * (1 + KV_TOLERANCE), data

"""The metric registry: every figure is defined in docs/metrics.md (its anchor exists) and formats one way."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from foundry_tui.engine import metrics, units

DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"


def test_every_metric_has_its_definition_in_the_docs() -> None:
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', DOCS.read_text(encoding="utf-8")))
    missing = sorted({m.anchor for m in metrics.ALL} - anchors)
    assert missing == []


@pytest.mark.parametrize("metric", metrics.ALL, ids=lambda m: m.key)
def test_every_metric_formats_with_its_unit_and_a_missing_value(metric: metrics.Metric) -> None:
    assert metric.fmt(None) == units.MISSING
    assert metric.fmt(math.nan) == units.MISSING
    text = metric.fmt(12.5)
    assert text != units.MISSING and any(ch.isdigit() for ch in text)


def test_sample_series_name_their_recording_fields() -> None:
    assert [m.field for m in metrics.SAMPLE_SERIES][:3] == ["ram_used_mb", "ram_total_mb", "ram_available_mb"]
    assert metrics.gpu_key(1, metrics.GPU_USED) == "gpu1_used"
    assert metrics.metric("ttft_ms") is metrics.TTFT
    with pytest.raises(KeyError, match="no metric 'speed'"):
        metrics.metric("speed")


def test_the_chat_summary_uses_the_registry() -> None:
    assert metrics.TTFT.fmt(1.934) == "1.93 ms"
    assert metrics.E2E.fmt(1234.4) == "1234 ms"
    assert metrics.DECODE.fmt(43.71) == "43.7 tok/s"
    assert metrics.LOAD_TIME.fmt(0.0213) == "0.02 s"
    assert metrics.LOAD_TIME.fmt(0.0049) == "0.005 s"  # a few ms: not "0.00 s"
    assert metrics.REQUEST_THROUGHPUT.fmt(2.5) == "2.50 req/s"

"""engine.models: the snapshot's merged view and the one filter/sort syntax (the Catalog pane and `models --filter`)."""

from __future__ import annotations

from typing import Any

import pytest

from foundry_tui.engine import units
from foundry_tui.engine.models import (
    CatalogListing,
    ModelEntry,
    ModelFilter,
    ModelsSnapshot,
    select_models,
    sort_models,
)


def entry(model_id: str, **kw: Any) -> ModelEntry:
    kw.setdefault("alias", model_id.split("-")[0])
    kw.setdefault("source", "public")
    return ModelEntry(id=model_id, **kw)


def test_filter_tokens() -> None:
    cpu = entry("qwen-generic-cpu:1", device="CPU", task="chat-completion", cached=True, publisher="Alibaba")
    gpu = entry("phi-cuda-gpu:1", device="GPU", task="chat-completion", loaded=True, cached=True)
    asr = entry("whisper-generic-cpu:1", device="CPU", task="automatic-speech-recognition")
    local = entry("mine:1", source="local", cached=True)
    models = [cpu, gpu, asr, local]

    def ids(text: str) -> list[str]:
        return [m.id for m in models if ModelFilter.parse(text).matches(m)]

    assert ids("") == [m.id for m in models]
    assert ids("QWEN") == [cpu.id]
    assert ids("alibaba") == [cpu.id]  # publisher
    assert ids("device:cpu") == [cpu.id, asr.id]
    assert ids("device:gpu") == [gpu.id]
    assert ids("device:npu") == []
    assert ids("task:chat") == [cpu.id, gpu.id]
    assert ids("task:speech device:cpu") == [asr.id]
    assert ids("cached") == [cpu.id, gpu.id, local.id]
    assert ids("loaded") == [gpu.id]
    assert ids("local") == [local.id]
    assert ids("cached device:cpu") == [cpu.id]
    assert not ModelFilter.parse("  ").active


def test_sort_and_select() -> None:
    models = [entry("b:1", size_mb=100), entry("a:1", size_mb=None), entry("c:1", size_mb=3000)]
    assert [m.id for m in sort_models(models, "name")] == ["a:1", "b:1", "c:1"]
    assert [m.id for m in sort_models(models, "size-desc")] == ["c:1", "b:1", "a:1"]  # unknown size last
    assert [m.id for m in sort_models(models, "size-asc")] == ["b:1", "c:1", "a:1"]
    assert [m.id for m in select_models(models, "b", "size-desc")] == ["b:1"]
    with pytest.raises(ValueError, match="unknown sort"):
        sort_models(models, "fastest")


def test_one_size_unit() -> None:
    assert units.size(None) == units.MISSING
    assert units.size(0.5) == "512 KB"
    assert units.size(822) == "822 MB"
    assert units.size(4915) == "4.80 GB"  # 4915 / 1024: binary, like free -m and nvidia-smi
    assert units.size(30000) == "29.3 GB"
    assert units.size(-12, signed=True) == "−12 MB"
    assert units.size(1300, compact=True) == "1.3G"


def test_snapshot_merges_catalog_cache_and_loaded_lists() -> None:
    catalog = CatalogListing((entry("a:1", size_mb=1024, device="GPU"), entry("b:1")), "ok")
    snapshot = ModelsSnapshot(
        catalog=catalog,
        local=(entry("mine:1", source="local", size_mb=200),),
        cached=(entry("a:1"), entry("mine:1", source="local")),
        loaded=(entry("mine:1", source="local"),),
    )
    assert {m.id: (m.cached, m.loaded) for m in snapshot.all_models()} == {
        "mine:1": (True, True),
        "a:1": (True, False),
        "b:1": (False, False),
    }
    assert [(m.id, m.size_mb, m.device, m.loaded) for m in snapshot.on_disk()] == [
        ("a:1", 1024, "GPU", False),
        ("mine:1", 200, None, True),
    ]
    # No cache listing (a plain endpoint): registered local models still count as on disk.
    assert [m.id for m in ModelsSnapshot(local=snapshot.local, cached=None).on_disk()] == ["mine:1"]
    assert [m.id for m in snapshot.chat_models()] == ["mine:1", "a:1"]
    assert snapshot.find("mine:1") is not None and snapshot.loaded_ids == ["mine:1"]

"""Memory attributed to each benchmarked model (engine.bench.memory): the model's own figure, never the whole
process's RSS under a model's name.

A scripted backend moves a scripted sampler's RSS the way a runtime does (a load adds the model, a request adds
its KV cache for a while, an unload gives most of it back), so the expected figures are exact. The real runtime
with the tiny model checks the same on real numbers: its memory is a sliver of the process's RSS.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import pytest

from foundry_tui.backends.base import Backend, BackendInfo, ChatMessage, ChatOptions, ModelEntry
from foundry_tui.backends.foundry import FoundryBackend
from foundry_tui.engine import metrics
from foundry_tui.engine.bench import BenchResults, BenchRunner, ModelFinished, ModelLoaded
from foundry_tui.engine.bench import memory as attribution
from foundry_tui.engine.bench.report import markdown_report, results_csv_text
from foundry_tui.engine.bench.tables import summary_rows
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySample, MemorySampler, ServerTarget
from tests.conftest import ENDLESS_ID, TINY_ID
from tests.test_bench_engine import ScriptedBackend, ScriptedStream, config

SIZES = {"a": 500.0, "b": 50.0, "c": 200.0}  # MB each model adds when loaded
KV_MB = 20.0  # what a request adds while it runs


class ScriptedSampler(MemorySampler):
    """Every sample reads `rss` (and `server_rss`) now, on a clock that moves one second per sample."""

    def __init__(self, *, server: ServerTarget | None = None) -> None:
        super().__init__()
        self.rss = 100.0
        self.server_rss = math.nan
        self.polled = threading.Event()  # set by each poll of `latest()` (the bench's memory timeline)
        self._clock = 0.0
        self._target = server

    @property
    def server(self) -> ServerTarget:
        return self._target if self._target is not None else super().server

    def start(self) -> ScriptedSampler:
        return self

    def stop(self) -> None:
        pass

    def sample_now(self) -> MemorySample:
        self._clock += 1.0
        return MemorySample(t=self._clock, ram_used_mb=4096.0, ram_total_mb=16384.0, ram_available_mb=12288.0,
                            process_rss_mb=self.rss, server_rss_mb=self.server_rss)  # fmt: skip

    def latest(self) -> MemorySample | None:
        sample = self.sample_now()
        self.polled.set()
        return sample

    def history(self, last_s: float | None = None) -> dict[str, np.ndarray]:
        return {}


class MemoryEffects(ScriptedBackend):
    """A load adds the model's size to the sampler's RSS, a request its KV cache while it streams, an unload
    gives the model back but 10 MB. `info` says where the models live: with an endpoint the requests' KV cache
    grows the server's RSS (the client's stays put)."""

    def __init__(self, sampler: ScriptedSampler, info: BackendInfo | None = None) -> None:
        super().__init__({name: ["x", "y"] for name in SIZES})
        self.sampler = sampler
        self._info = info or BackendInfo(kind="foundry-local", label="scripted", management=True)

    def info(self) -> BackendInfo:
        return self._info

    def list_loaded(self) -> list[ModelEntry]:
        return [self.resolve(m) for m in sorted(self.loaded)]

    def load(self, model: str) -> ModelEntry:
        entry = super().load(model)
        self.sampler.rss += SIZES[model]
        return entry

    def unload(self, model: str) -> None:
        super().unload(model)
        self.sampler.rss -= SIZES[model] - 10.0

    def stream_chat(self, model: str, messages: list[ChatMessage], options: ChatOptions) -> ScriptedStream:
        sampler = self.sampler
        in_process = self._info.kind == "foundry-local"

        class WithKv(ScriptedStream):
            def __iter__(self) -> Iterator[Any]:
                which = "rss" if in_process else "server_rss"
                setattr(sampler, which, getattr(sampler, which) + KV_MB)
                sampler.polled.clear()
                assert sampler.polled.wait(5)  # the memory timeline sampled while the request held its KV cache
                try:
                    yield from super().__iter__()
                finally:
                    setattr(sampler, which, getattr(sampler, which) - KV_MB)

        return WithKv(model, self.answers[model])


def lifecycle_of(backend: MemoryEffects, sampler: ScriptedSampler) -> ModelLifecycle:
    return ModelLifecycle(cast(Backend, backend), sampler)  # a scripted backend: the calls a benchmark makes


def bench(backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle, *models: str,
          events: list[Any] | None = None) -> BenchResults:  # fmt: skip
    runner = BenchRunner(cast(Backend, backend), config(models=models, rounds=1, warmup=0, sample_interval_s=0.01),
                         sampler=sampler, lifecycle=lifecycle, collect_environment=False,
                         on_event=events.append if events is not None else None)  # fmt: skip
    return runner.run()


def memory_of(results: BenchResults, model: str) -> tuple[float | None, str | None, float | None]:
    found = results.model(model)
    assert found is not None
    m = found.memory
    return m.model_memory_mb, m.model_memory_note, m.rss_peak_mb


@pytest.fixture
def sampler() -> ScriptedSampler:
    return ScriptedSampler()


@pytest.fixture
def backend(sampler: ScriptedSampler) -> MemoryEffects:
    return MemoryEffects(sampler)


@pytest.fixture
def lifecycle(backend: MemoryEffects, sampler: ScriptedSampler) -> ModelLifecycle:
    return lifecycle_of(backend, sampler)


# -- in-process ----------------------------------------------------------------------------------------------


def test_a_model_is_charged_its_own_memory_not_the_process_rss(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    events: list[Any] = []
    results = bench(backend, sampler, lifecycle, "b", events=events)
    mb, note, rss_peak = memory_of(results, "b")
    assert rss_peak == 100 + 50 + KV_MB  # the whole process: kept in results.json as data
    assert mb == 50 + KV_MB and note == attribution.IN_PROCESS  # the model's own: peak − RSS right before its load
    loaded = next(e for e in events if isinstance(e, ModelLoaded))
    assert loaded.model_memory_mb == 50 and loaded.in_process
    finished = next(e for e in events if isinstance(e, ModelFinished))
    assert finished.model_memory_mb == mb and finished.model_memory_note == note


def test_a_model_loaded_after_one_that_stays_loaded_is_not_charged_for_it(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    lifecycle.load("a")  # 500 MB, and it stays loaded through the run
    results = bench(backend, sampler, lifecycle, "b")
    mb, _, rss_peak = memory_of(results, "b")
    assert rss_peak == 100 + 500 + 50 + KV_MB
    assert mb == 50 + KV_MB  # not 570: "a" was in the RSS before "b" loaded
    assert "a" in backend.loaded and "b" not in backend.loaded


def test_models_run_one_after_another_are_each_charged_their_own(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    results = bench(backend, sampler, lifecycle, "a", "b")
    assert memory_of(results, "a")[0] == 500 + KV_MB
    assert memory_of(results, "b")[0] == 50 + KV_MB  # "a" was unloaded; its 10 MB residue is not "b"'s either


def test_a_model_loaded_before_the_run_counts_from_its_earlier_load(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    lifecycle.load("a")  # the app loaded it: the lifecycle saw the RSS right before (100 MB)
    results = bench(backend, sampler, lifecycle, "a")
    mb, note, _ = memory_of(results, "a")
    assert mb == 500 + KV_MB and note == attribution.IN_PROCESS_EARLIER
    assert "a" in backend.loaded  # left loaded, as it was


def test_a_model_whose_load_was_not_seen_is_unknown(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    backend.loaded.add("a")  # loaded behind the lifecycle's back (another tool, an earlier session)
    sampler.rss += SIZES["a"]
    mb, note, rss_peak = memory_of(bench(backend, sampler, lifecycle, "a"), "a")
    assert mb is None and note == attribution.LOADED_BEFORE and rss_peak == 600 + KV_MB


def test_a_model_with_a_later_model_still_loaded_is_not_charged_for_both(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    lifecycle.load("a")
    lifecycle.load("c")  # loaded after "a": counting from "a"'s load would charge "c" to "a"
    mb, note, _ = memory_of(bench(backend, sampler, lifecycle, "a"), "a")
    assert mb is None and note == attribution.LOADED_BEFORE


def test_a_model_loaded_before_an_unload_of_another_is_not_measured(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    """a loaded, c loaded and unloaded (its residue stays in the process): counting from a's load would charge
    c's leftovers to a, or — once memory is given back — a figure below a's own."""
    lifecycle.load("a")
    lifecycle.load("c")
    lifecycle.unload("c")
    assert lifecycle.rss_before_load("a") is None
    mb, note, _ = memory_of(bench(backend, sampler, lifecycle, "a"), "a")
    assert mb is None and note == attribution.LOADED_BEFORE


def test_a_stale_base_is_no_figure() -> None:
    counted = attribution.Attribution("rss", attribution.IN_PROCESS, base_mb=400.0)
    assert counted.figure(470.0, None) == 70.0
    assert counted.figure(396.0, None) == 0.0  # RSS noise around the base
    assert counted.figure(300.0, None) is None  # less than before the load: the base is stale


def test_a_model_that_failed_to_load_has_no_memory(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    backend.answers["broken"] = []
    mb, note, _ = memory_of(bench(backend, sampler, lifecycle, "broken"), "broken")
    assert mb is None and note == attribution.NOT_LOADED


def test_tables_csv_and_report_show_the_models_own_memory(
    backend: MemoryEffects, sampler: ScriptedSampler, lifecycle: ModelLifecycle
) -> None:
    lifecycle.load("a")
    results = bench(backend, sampler, lifecycle, "b")
    shown = metrics.MODEL_MEMORY.fmt(50 + KV_MB)  # "70 MB"; the process's peak would read "670 MB"
    row = summary_rows(results)[0]
    assert row[0] == "b" and row[8] == shown and "670 MB" not in row
    csv_rows = results_csv_text(results).splitlines()
    memory_column = csv_rows[0].split(",").index("model_memory_mb")
    assert all(r.split(",")[memory_column] == "70" for r in csv_rows[1:])
    report = markdown_report(results)
    assert f"| b | {shown} | {attribution.IN_PROCESS} | 600 MB |" in report  # then the process's raw RSS figures
    again = BenchResults.from_json(results.to_json())
    assert again.models[0].memory.model_memory_mb == 50 + KV_MB and again == results


# -- endpoints -----------------------------------------------------------------------------------------------


def endpoint_info(url: str) -> BackendInfo:
    return BackendInfo(kind="endpoint", label=f"server at {url}", endpoint=url, management=False)


def test_a_remote_endpoint_is_not_measurable() -> None:
    sampler = ScriptedSampler(server=ServerTarget("remote", None, "remote — not measurable"))
    backend = MemoryEffects(sampler, endpoint_info("http://models.example.invalid:8080"))
    sampler.rss = 76.0  # the client
    results = bench(backend, sampler, lifecycle_of(backend, sampler), "b")
    mb, note, rss_peak = memory_of(results, "b")
    assert mb is None and note == "remote — not measurable"
    assert rss_peak == 76  # the client's RSS stays in the file as data, never under the model's name
    assert summary_rows(results)[0][8] == "remote"


def test_an_endpoint_on_this_machine_is_charged_its_server_process() -> None:
    server = ServerTarget("local", 4242, "pid 4242 (llama-server) on :8080", "http://127.0.0.1:8080")
    sampler = ScriptedSampler(server=server)
    sampler.rss, sampler.server_rss = 76.0, 3000.0
    backend = MemoryEffects(sampler, endpoint_info("http://127.0.0.1:8080"))
    results = bench(backend, sampler, lifecycle_of(backend, sampler), "b")
    mb, note, rss_peak = memory_of(results, "b")
    assert mb == 3000 + KV_MB and rss_peak == 76
    assert note == "RSS peak of the server process (pid 4242 (llama-server) on :8080)"
    model = results.models[0]
    assert model.memory.server_rss_peak_mb == 3000 + KV_MB
    assert {p.server_rss_mb for p in model.memory_timeline} == {3000, 3000 + KV_MB}


def test_a_local_server_not_found_says_why() -> None:
    server = ServerTarget("local", None, "local server on :8080 — nothing listens on port 8080")
    sampler = ScriptedSampler(server=server)
    backend = MemoryEffects(sampler, endpoint_info("http://localhost:8080"))
    mb, note, _ = memory_of(bench(backend, sampler, lifecycle_of(backend, sampler), "b"), "b")
    assert mb is None and note == "not measured — local server on :8080 — nothing listens on port 8080"


def test_a_sampler_watching_this_process_never_charges_the_client() -> None:
    sampler = ScriptedSampler()  # watches this process: with an endpoint, that is the client
    backend = MemoryEffects(sampler, endpoint_info("http://127.0.0.1:8080"))
    mb, note, _ = memory_of(bench(backend, sampler, lifecycle_of(backend, sampler), "b"), "b")
    assert mb is None and note == attribution.UNWATCHED


def test_placement() -> None:
    here, there = ServerTarget("local", 1, "pid 1"), ServerTarget("in-process", 2, "this process")
    assert attribution.placement(BackendInfo(kind="foundry-local", label="x"), there) == "in-process"
    assert attribution.placement(endpoint_info("http://10.0.0.0.invalid:1"), here) == "remote"
    assert attribution.placement(endpoint_info("http://[::1]:8080/v1"), here) == "server"
    assert attribution.placement(endpoint_info("http://127.0.0.1:8080"), there) == "unwatched"


# -- the real runtime ----------------------------------------------------------------------------------------


def test_tiny_model_memory_is_its_own_on_the_real_runtime(runtime: FoundryBackend) -> None:
    sampler = MemorySampler(interval_s=0.05)
    lifecycle = ModelLifecycle(runtime, sampler)
    lifecycle.load(ENDLESS_ID)  # another model, loaded before the run and kept loaded through it
    try:
        runner = BenchRunner(runtime, config(models=(TINY_ID,), rounds=1, warmup=0, sample_interval_s=0.05),
                             lifecycle=lifecycle, collect_environment=False)  # fmt: skip
        results = runner.run()
    finally:
        lifecycle.unload(ENDLESS_ID)
    model = results.models[0]
    assert model.status == "ok" and model.load.load_s is not None
    m = model.memory
    assert m.rss_before_load_mb is not None and m.rss_peak_mb is not None and m.model_memory_mb is not None
    assert m.model_memory_note == attribution.IN_PROCESS
    assert m.model_memory_mb == pytest.approx(m.rss_peak_mb - m.rss_before_load_mb)
    # The tiny model is a few hundred KB; the process (Python, the runtime, the other model) is ~100 MB or more.
    assert m.model_memory_mb < 0.25 * m.rss_peak_mb
    summary = results.summaries[0]
    assert summary.model_memory_mb == m.model_memory_mb and summary.rss_peak_mb == m.rss_peak_mb

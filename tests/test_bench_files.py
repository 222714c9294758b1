"""The runner's files, the app's lifecycle and a baseline, against a real local SSE server (with Foundry's
management routes where models are loaded): what both front ends rely on."""

from __future__ import annotations

from pathlib import Path

from foundry_tui.devtools.sse_server import FakeOpenAIServer, StreamScript, make_tokens
from foundry_tui.engine.bench import (
    BenchEvent,
    BenchFinished,
    BenchResults,
    BenchRunner,
    RequestFinished,
    RequestResult,
    ResultsWritten,
    load_results,
)
from foundry_tui.engine.lifecycle import ModelLifecycle
from foundry_tui.engine.monitor import MemorySampler
from tests.test_bench_engine import MODEL, config, endpoint, num, run


def test_runner_writes_the_files_after_each_model_and_at_the_end(tmp_path: Path) -> None:
    events: list[BenchEvent] = []
    on_disk: list[BenchResults] = []

    def on_event(event: BenchEvent) -> None:
        events.append(event)
        if isinstance(event, ResultsWritten):
            on_disk.append(load_results(event.out_dir))  # what a reader sees at that moment

    out = tmp_path / "out"
    script = StreamScript(tokens=make_tokens(4), gap_s=0.001)
    with FakeOpenAIServer(script, models=["m1", "m2"]) as srv:
        runner = BenchRunner(endpoint(srv, tmp_path), config(models=("m1", "m2"), rounds=1, warmup=0),
                             on_event=on_event, collect_environment=False, out_dir=out)  # fmt: skip
        results = runner.run()
    written = [e for e in events if isinstance(e, ResultsWritten)]
    assert [(e.final, e.partial, e.error) for e in written] == [(False, True, None), (False, True, None),
                                                                 (True, False, None)]  # fmt: skip
    assert [[m.status for m in r.models] for r in on_disk] == [["ok", "pending"], ["ok", "ok"], ["ok", "ok"]]
    assert [len(r.requests) for r in on_disk] == [1, 2, 2]
    assert events[-2:] == [written[-1], BenchFinished(False, results)] and runner.finished
    assert load_results(out) == results  # the final file is the returned results, field for field
    assert sorted(p.name for p in out.iterdir()) == [
        "benchmark_report.md",
        "journal.jsonl",
        "results.csv",
        "results.json",
    ]
    request = next(e for e in events if isinstance(e, RequestFinished)).request
    assert isinstance(request, RequestResult) and request == results.requests[0]


def test_a_failed_write_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    events: list[BenchEvent] = []
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(3))) as srv:
        runner = BenchRunner(endpoint(srv, tmp_path), config(rounds=2, warmup=0), on_event=events.append,
                             collect_environment=False, out_dir=blocker / "out")  # fmt: skip
        results = runner.run()
    written = [e for e in events if isinstance(e, ResultsWritten)]
    assert len(written) == 2 and all(e.error and "cannot write the results to" in e.error for e in written)
    assert runner.write_error == written[-1].error and "\n" not in (runner.write_error or "")
    assert results.models[0].status == "ok" and len(results.requests) == 2


def test_loads_share_the_given_lifecycle(tmp_path: Path) -> None:
    app_sampler = MemorySampler()  # the app's, never started: immediate samples only
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(3)), foundry_routes="openai") as srv:
        srv.loaded.clear()  # cached, not loaded: the benchmark loads it, times it, unloads it
        backend = endpoint(srv, tmp_path)
        lifecycle = ModelLifecycle(backend, app_sampler)
        runner = BenchRunner(backend, config(rounds=1, warmup=0), lifecycle=lifecycle, collect_environment=False)
        results = runner.run()
        loaded_after = list(srv.loaded)
    markers = [(e.kind, e.model) for e in app_sampler.events.events()]
    assert markers == [("load_start", MODEL), ("load_end", MODEL), ("unload_start", MODEL), ("unload_end", MODEL)]
    assert runner.sampler is app_sampler and loaded_after == []
    model = results.models[0]
    assert model.status == "ok" and num(model.load.load_s) > 0 and model.load.unload_s is not None
    assert model.memory.rss_kept_after_unload_mb is not None  # the lifecycle saw the load: it knows the residue


def test_a_baseline_gives_the_completed_run_a_comparison(tmp_path: Path) -> None:
    out = tmp_path / "b"
    with FakeOpenAIServer(StreamScript(tokens=make_tokens(5), gap_s=0.002)) as srv:
        _, first = run(endpoint(srv, tmp_path), config(rounds=4, warmup=0))  # 4 + 4 samples can reach p < 0.05
        srv.script.gap_s = 0.02  # ten times slower between tokens
        runner = BenchRunner(endpoint(srv, tmp_path), config(rounds=4, warmup=0), collect_environment=False,
                             out_dir=out, baseline=first, baseline_label="a/results.json")  # fmt: skip
        second = runner.run()
    comparison = second.comparison
    assert comparison is not None and (comparison.baseline, comparison.new) == ("a/results.json", str(out))
    verdicts = {row.metric: row.verdict for row in comparison.rows}
    assert verdicts["decode_tps"].startswith("slower (") and verdicts["e2e_ms"].startswith("slower (")
    assert load_results(out).comparison == comparison

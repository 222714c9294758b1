"""The benchmark journal (engine.bench.journal): what a run appends as it goes reads back as the same typed results,
whatever happened to the process (a torn last line, kill -9), and a journal that cannot be written never breaks
the run. The records are real ones: the v1 fixture's run (tests/fixtures/bench_results_v1.json), plus a resumed
session's requests at concurrency 2 with the cold / slot / session fields set.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from foundry_tui.engine.bench.journal import (
    JOURNAL,
    JournalWriter,
    done_keys,
    read_journal,
    results_from_journal,
)
from foundry_tui.engine.bench.report import load_results
from foundry_tui.engine.bench.results import BenchResults, LevelResult, RequestResult, RunSession
from foundry_tui.engine.bench.summaries import build_summaries
from foundry_tui.errors import BadInputError

V1 = Path(__file__).parent / "fixtures" / "bench_results_v1.json"
TINY = "tiny-generic-cpu:1"
SECOND = "qwen2.5-0.5b-instruct-generic-cpu:4"  # a model the second session ran and never finished


def v1() -> BenchResults:
    return load_results(V1)


def resumed_request(prompt_index: int, round_: int, slot: int, *, cold: bool = False) -> RequestResult:
    return RequestResult(
        model=SECOND,
        prompt_index=prompt_index,
        round=round_,
        concurrency=2,
        mode="stream",
        t_start_s=12.5 + prompt_index + round_ / 10,
        ttft_ms=41.25,
        e2e_ms=812.0,
        decode_tps=38.9,
        e2e_tps=36.9,
        itl_ms=[25.5, 26.0, 24.75] * 10,
        prompt_tokens=31,
        completion_tokens=30,
        tokens_source="usage",
        chunks=30,
        cold=cold,
        slot=slot,
        session=1,
        finish_reason="stop",
        status="ok",
        text='Canberra is the capital of Australia.\n\u2028 "quoted" \x1b[31m',
    )


def write_run(out_dir: Path) -> BenchResults:
    """The v1 run journaled as the runner does (session 0 ended by SIGTERM), then a resume that ran part of a
    model and died (session 1, no end). Returns what the journal must read back as."""
    run = v1()
    with JournalWriter.open(out_dir) as journal:
        assert journal.new and journal.ok
        journal.run(run)
        journal.session(0, RunSession(started_at=run.started_at))
        for model in run.models:
            for r in run.requests:
                if r.model == model.model:
                    journal.request(r)
            for level in model.levels:
                journal.level(model.model, level)
            journal.model(model)
        journal.end(0, "SIGTERM", "2026-12-01T00:35:09+00:00")
    resume = [resumed_request(0, 1, 0, cold=True), resumed_request(1, 1, 1), replace(resumed_request(0, 2, 0))]
    resume[2].status, resume[2].error, resume[2].error_kind = "error", "stream stalled for 60 s", "stall"
    with JournalWriter.open(out_dir) as journal:
        assert not journal.new
        journal.run(run)  # a resume's header call writes nothing: the file has one
        journal.session(1, RunSession(started_at="2026-12-01T01:00:00+00:00", t_offset_s=11.0))
        for r in resume:
            journal.request(r)
    run.requests += resume
    return run


# -- the round trip ------------------------------------------------------------------------------------------


def test_a_journaled_run_reads_back_as_the_same_results(tmp_path: Path) -> None:
    expected = write_run(tmp_path)
    state = read_journal(tmp_path)  # the directory or the file
    assert state.path == tmp_path / JOURNAL and state.torn_lines == 0 and state.skipped_lines == 0
    results = results_from_journal(state)
    assert results.partial and results.summaries == [] and results.judge is None
    assert results.started_at == expected.started_at and results.schema == expected.schema
    assert results.settings == expected.settings and results.prompts == expected.prompts
    assert results.environment == expected.environment
    assert results.requests == expected.requests  # every field, in the order they ended
    assert results.requests[-3].cold and results.requests[-2].slot == 1 and results.requests[-1].session == 1
    assert results.requests[-3].text == expected.requests[-3].text  # controls and U+2028 kept exactly
    broken, tiny, second = results.models
    assert [broken, tiny] == expected.models[:2]  # load, memory, the whole memory timeline, levels, notes
    assert len(tiny.memory_timeline) == len(expected.models[1].memory_timeline) > 0
    assert (second.model, second.status) == (SECOND, "running")  # no model record: the caller decides
    assert [(x.concurrency, x.mode, x.status) for x in second.levels] == [(2, "stream", "running")]
    assert [s.ended for s in results.sessions] == ["SIGTERM", None]  # session 1 died without an end
    assert results.sessions[0].finished_at == "2026-12-01T00:35:09+00:00" and results.sessions[1].t_offset_s == 11.0
    assert results.stopped_by is None  # the last session did not say
    # Summaries built from it are the original run's for the models it finished.
    rebuilt = [s for s in build_summaries(results) if s.model != SECOND]
    assert rebuilt == build_summaries(replace(expected, requests=expected.requests[:-3]))
    assert done_keys(results) == {
        (r.model, r.concurrency, r.mode, r.prompt_index, r.round) for r in expected.requests if r.ok
    }
    assert (SECOND, 2, "stream", 0, 2) not in done_keys(results)  # the failed one runs again
    json.dumps(results.to_json(), allow_nan=False)  # a results.json again


def test_a_phase_request_does_not_make_up_a_level(tmp_path: Path) -> None:
    """A model that died in its sweep: its sweep requests (concurrency 1, streamed) are no level of a run at
    concurrency 2, so the recovered model has only the level it ran."""
    write_run(tmp_path)
    sweep = replace(resumed_request(-1, 1, 0), concurrency=1, phase="sweep", prompt_tokens_target=128)
    with JournalWriter.open(tmp_path) as journal:
        journal.request(sweep)
    results = results_from_journal(read_journal(tmp_path))
    second = results.models[-1]
    assert [(x.concurrency, x.mode) for x in second.levels] == [(2, "stream")]
    assert results.requests[-1] == sweep


def test_the_latest_model_record_wins_and_later_levels_update_it(tmp_path: Path) -> None:
    run = v1()
    tiny = run.models[1]
    with JournalWriter.open(tmp_path) as journal:
        journal.run(run)
        journal.session(0, RunSession())
        journal.model(replace(tiny, status="running", levels=[]))  # at load: load and memory known, no levels
        journal.level(TINY, LevelResult(concurrency=1, mode="stream", status="ok", planned=2))
        journal.end(0, "stopped")
    results = results_from_journal(read_journal(tmp_path))
    (model,) = results.models
    assert model.status == "running" and model.load == tiny.load
    assert [(x.mode, x.status, x.planned) for x in model.levels] == [("stream", "ok", 2)]
    assert results.stopped_by == "stop"
    with JournalWriter.open(tmp_path) as journal:
        journal.model(tiny)  # the model ended: its record has every level
    (model,) = results_from_journal(read_journal(tmp_path)).models
    assert model == tiny


def test_a_fresh_journal_replaces_an_earlier_runs(tmp_path: Path) -> None:
    write_run(tmp_path)
    with JournalWriter.open(tmp_path, fresh=True) as journal:
        assert journal.new
        journal.run(v1())
        journal.session(0, RunSession())
    state = read_journal(tmp_path)
    assert state.requests == [] and len(state.sessions) == 1 and state.lines == 2


# -- damage --------------------------------------------------------------------------------------------------


def test_a_torn_last_line_is_ignored_and_cut_off_before_the_next_append(tmp_path: Path) -> None:
    expected = write_run(tmp_path)
    path = tmp_path / JOURNAL
    whole = path.read_bytes()
    line = json.dumps({"kind": "request", "request": resumed_request(2, 1, 0).to_json()}).encode()
    path.write_bytes(whole + line[: len(line) // 2])  # the process died mid-write
    state = read_journal(path)
    assert state.torn_lines == 1 and state.requests == expected.requests
    with JournalWriter.open(tmp_path) as journal:  # the resume appends after the last whole line
        journal.request(resumed_request(3, 1, 1))
    assert path.read_bytes().startswith(whole)
    state = read_journal(path)
    assert state.torn_lines == 0 and state.requests[-1].prompt_index == 3


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    write_run(tmp_path)
    path = tmp_path / JOURNAL
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert read_journal(path).torn_lines == 0
    with JournalWriter.open(tmp_path) as journal:
        journal.end(1, "completed")
    state = read_journal(path)
    assert len(state.requests) == 7 and state.sessions[1].ended == "completed"


def _one_line_error(path: Path, match: str) -> str:
    with pytest.raises(BadInputError, match=match) as info:
        read_journal(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    return message


def test_a_damaged_line_before_the_last_is_an_error_with_its_number(tmp_path: Path) -> None:
    write_run(tmp_path)
    path = tmp_path / JOURNAL
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2][:40]
    path.write_bytes(b"\n".join(lines))
    _one_line_error(path, r"journal\.jsonl line 3: not a JSON object")
    bad = {**resumed_request(0, 1, 0).to_json(), "e2e_ms": "x"}
    lines[2] = json.dumps({"kind": "request", "request": bad}).encode()
    path.write_bytes(b"\n".join(lines))
    _one_line_error(path, r"journal\.jsonl line 3: request\.e2e_ms: expected a number, got a string")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b'{"kind":"run","journal":"foundry-tui.bench.jour', "is empty"),  # died writing its header
        (b'{"schema": "foundry-tui.bench/1", "requests": []}\n', "is not a foundry-tui benchmark journal"),
        (b"model,concurrency\nx,1\n", "is not a foundry-tui benchmark journal"),
        (b'{"kind":"run","journal":"foundry-tui.bench.journal/9"}\n', "newer than this foundry-tui reads"),
        (b'{"kind":"run","journal":"foundry-tui.bench.journal/1","prompts":{}}\n', "line 1: prompts: expected a"),
    ],
)
def test_what_is_not_a_journal_is_a_one_line_error(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / JOURNAL
    path.write_bytes(content)
    _one_line_error(path, match)


def test_a_missing_journal_and_unknown_kinds(tmp_path: Path) -> None:
    _one_line_error(tmp_path / "nothing" / JOURNAL, "does not exist")
    write_run(tmp_path)
    with (tmp_path / JOURNAL).open("a", encoding="utf-8") as fh:
        fh.write('{"kind":"judge-score","model":"x"}\n')  # a newer writer's kind
    state = read_journal(tmp_path)
    assert state.skipped_lines == 1 and len(state.requests) == 7


# -- threads, kill -9, failures ------------------------------------------------------------------------------


def test_appends_from_eight_threads_never_interleave(tmp_path: Path) -> None:
    run = v1()
    journal = JournalWriter.open(tmp_path)
    journal.run(run)
    big = "x" * 70_000  # more than a pipe's atomic size and a page: a line written in pieces would show

    def worker(thread: int) -> None:
        for i in range(40):
            r = resumed_request(thread, i + 1, thread)
            r.text = f"{thread}:{i}:" + big
            journal.request(r)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    assert journal.error is None
    state = read_journal(tmp_path)
    assert state.torn_lines == 0 and len(state.requests) == 320
    assert {r.text.split(":", 2)[:2] == [str(r.prompt_index), str(r.round - 1)] for r in state.requests} == {True}
    assert {(r.prompt_index, r.round) for r in state.requests} == {(t, i + 1) for t in range(8) for i in range(40)}


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from foundry_tui.engine.bench.journal import JournalWriter
    from foundry_tui.engine.bench.report import load_results
    from foundry_tui.engine.bench.results import RunSession
    run = load_results(Path(sys.argv[2]))
    journal = JournalWriter.open(Path(sys.argv[1]))
    journal.run(run)
    journal.session(0, RunSession(started_at=run.started_at))
    for request in run.requests[:3]:
        journal.request(request)
    journal.model(run.models[0])
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush, no atexit
    """
)


@pytest.mark.slow
def test_kill_9_keeps_every_appended_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path), str(V1)],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode(errors="replace")
    run = v1()
    state = read_journal(tmp_path)
    assert state.torn_lines == 0 and state.requests == run.requests[:3]
    results = results_from_journal(state)
    assert results.model(run.models[0].model) == run.models[0] and results.sessions[0].ended is None


def test_an_unwritable_directory_is_an_error_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the directory should be", encoding="utf-8")  # root ignores chmod
    journal = JournalWriter.open(blocker)
    assert not journal.ok and journal.error is not None and "\n" not in journal.error
    assert str(blocker) in journal.error
    run = v1()
    journal.run(run)
    journal.request(run.requests[0])
    journal.end(0, "completed")
    journal.close()


def test_a_failed_write_stops_the_journal_and_keeps_the_error(tmp_path: Path) -> None:
    run = v1()
    journal = JournalWriter.open(tmp_path)
    journal.run(run)
    journal.request(run.requests[0])
    assert journal._fd is not None
    full = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC, as on a full disk
    try:
        os.dup2(full, journal._fd)
    finally:
        os.close(full)
    journal.request(run.requests[1])
    assert not journal.ok and journal.error is not None
    assert os.strerror(errno.ENOSPC) in journal.error
    journal.request(run.requests[2])  # skipped, no exception
    journal.close()
    assert read_journal(tmp_path).requests == run.requests[:1]


def test_a_record_that_cannot_be_encoded_is_left_out_and_the_journal_goes_on(tmp_path: Path) -> None:
    run = v1()
    with JournalWriter.open(tmp_path) as journal:
        journal.run(run)
        journal.request(replace(run.requests[0], e2e_ms=float("nan")))
        assert journal.ok and journal.error is not None and "request record was left out" in journal.error
        journal.request(run.requests[1])
    assert read_journal(tmp_path).requests == run.requests[1:2]


def test_text_that_utf8_cannot_encode_reads_back_as_it_was(tmp_path: Path) -> None:
    run = v1()
    odd = replace(run.requests[0], text="caf\udce9 \u00e9\U0001f600")  # a lone surrogate: undecodable bytes
    with JournalWriter.open(tmp_path) as journal:
        journal.run(run)
        journal.request(odd)
    assert journal.error is None and read_journal(tmp_path).requests == [odd]


def test_a_header_that_cannot_be_encoded_stops_the_journal(tmp_path: Path) -> None:
    run = v1()
    run.environment["bad"] = float("inf")
    journal = JournalWriter.open(tmp_path)
    journal.run(run)
    journal.request(run.requests[0])
    assert not journal.ok and journal.error is not None and "run record" in journal.error
    assert (tmp_path / JOURNAL).read_bytes() == b""

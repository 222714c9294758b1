"""The benchmark journal: journal.jsonl in the output directory, one JSON line appended per thing that ended.

results.json is rewritten after each model; the journal is what a crash cannot take away between two rewrites.
Every measured request is appended the moment it finishes (one write(2) on an O_APPEND descriptor: in the kernel
once it returns, so kill -9 loses only the requests still in flight), and so is each level and model as it ends.
`bench --resume DIR` reads it back (`read_journal` → `results_from_journal`) and runs only what `done_keys` lacks,
appending to the same file as a new session.

Line format (docs/benchmarks.md, "Journal"): a JSON object per line, its "kind" first —
  {"kind": "run", "journal": JOURNAL_SCHEMA, "schema": results schema, "started_at", "settings", "prompts",
   "environment"}                                        the header: the first line, once
  {"kind": "session", "index": n, "session": RunSession}  a process started (0: the run, n: the n-th resume)
  {"kind": "request", "request": RequestResult}           a measured request ended (warmups are not written)
  {"kind": "level", "model": id, "level": LevelResult}    a concurrency level × mode ended
  {"kind": "model", "model": ModelResult}                 a model's state (the latest one counts)
  {"kind": "end", "index": n, "ended": why, "finished_at"}  a session ended (completed | stop | SIGINT | SIGTERM)
Records have their results.json shapes. Kinds this version does not know are skipped (a newer writer's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from foundry_tui.engine.bench.jsonio import FormatError, convert, expect_object, json_default, read_record
from foundry_tui.engine.bench.results import (
    READERS,  # how results.json reads PromptSpec / ModelTags: the journal holds the same records
    BenchResults,
    LevelResult,
    ModelResult,
    RequestResult,
    RunSession,
    RunSettings,
)
from foundry_tui.engine.prompts import PromptSpec
from foundry_tui.errors import BadInputError
from foundry_tui.files import append_line, open_append
from foundry_tui.text import safe_line

JOURNAL = "journal.jsonl"
JOURNAL_SCHEMA = "foundry-tui.bench.journal/1"
_TAIL_CHUNK = 1 << 16
_T = TypeVar("_T")

# (model, concurrency, mode, prompt_index, round): one measured request of a run
RequestKey = tuple[str, int, str, int, int]


# -- writing -------------------------------------------------------------------------------------------------


def _line(kind: str, **fields: Any) -> str:
    # ASCII: a lone surrogate in a model's text (undecodable bytes) is written as \udcxx and reads back as it was,
    # where UTF-8 could not encode it at all.
    return json.dumps(
        {"kind": kind, **fields}, ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=json_default
    )


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class JournalWriter:
    """Appends the journal's lines; thread-safe, and it never raises into the runner.

    The first failure is kept in `error` (one line). An OSError (disk full, directory gone) stops the journal:
    later calls do nothing. A record that cannot be encoded (NaN, a stray type) is left out and the journal goes on
    (the header excepted: without it nothing after would read back, so the journal stops)."""

    def __init__(self, path: Path, fd: int | None, *, new: bool, error: str | None = None) -> None:
        """Use `JournalWriter.open`."""
        self.path = path
        self.new = new  # the file was empty or absent when opened: `run()` writes the header
        self.error = error
        self._fd = fd
        # Re-entrant: a signal handler that runs on the main thread while it is mid-write must not deadlock.
        self._lock = threading.RLock()
        self._header_written = not new

    @classmethod
    def open(cls, out_dir: Path, *, fresh: bool = False) -> JournalWriter:
        """The journal in `out_dir` (created), appended to when it exists: a resume continues the same file.
        `fresh`: a new run; a journal left in `out_dir` by an earlier run is replaced, not continued.
        A torn last line (a crash mid-write) is cut off first, so the next line starts on a line of its own."""
        path = out_dir / JOURNAL
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            if fresh:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                _end_at_a_line(path)
            fd = open_append(path)
            try:
                new = os.fstat(fd).st_size == 0
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            return cls(path, None, new=False, error=_error_text(path, exc))
        return cls(path, fd, new=new)

    @property
    def ok(self) -> bool:
        """Still writing (no OSError so far, not closed)."""
        return self._fd is not None

    def run(self, results: BenchResults) -> None:
        """The header (settings, prompts, environment, started_at): written once, when the file is new."""
        with self._lock:
            if self._header_written:
                return
            self._header_written = True
            self._write(
                "run",
                journal=JOURNAL_SCHEMA,
                schema=results.schema,
                started_at=results.started_at,
                settings=results.settings,
                prompts=[p.to_dict() for p in results.prompts],
                environment=results.environment,
            )

    def session(self, index: int, session: RunSession) -> None:
        self._write("session", index=index, session=session)

    def request(self, r: RequestResult) -> None:
        self._write("request", request=r)

    def level(self, model: str, level: LevelResult) -> None:
        self._write("level", model=model, level=level)

    def model(self, m: ModelResult) -> None:
        self._write("model", model=m)

    def end(self, session_index: int, ended: str, finished_at: str | None = None) -> None:
        self._write("end", index=session_index, ended=ended, finished_at=finished_at or _now_iso())

    def close(self) -> None:
        """fsync once (a finished run's journal then also survives a power cut) and close; idempotent."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(fd)
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, kind: str, **fields: Any) -> None:
        if self._fd is None:
            return
        try:
            text = _line(kind, **fields)  # outside the lock: a model record with its memory timeline is large
        except Exception as exc:  # NaN, a stray type: never into the runner
            with self._lock:
                if self.error is None:
                    self.error = safe_line(f"benchmark journal {self.path}: a {kind} record was left out: {exc}")
                if kind == "run":  # lines without their header would not read back as a journal
                    self._stop()
            return
        with self._lock:
            if self._fd is None:
                return
            try:
                append_line(self._fd, text)
            except OSError as exc:
                if self.error is None:
                    self.error = _error_text(self.path, exc)
                self._stop()

    def _stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _error_text(path: Path, exc: OSError) -> str:
    return safe_line(f"cannot write the benchmark journal {path}: {exc.strerror or exc}")


def _end_at_a_line(path: Path) -> None:
    """Make the file end with "\\n": a last line without one is kept when it is a whole record (the newline was all
    that was lost) and cut off when it is torn. Reads only the tail."""
    try:
        fh = open(path, "r+b")  # noqa: SIM115 - closed below, on every path
    except FileNotFoundError:
        return
    with fh:
        size = fh.seek(0, os.SEEK_END)
        end = size
        tail = b""
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            fh.seek(start)
            tail = fh.read(end - start) + tail
            cut = tail.rfind(b"\n")
            if cut >= 0:
                tail = tail[cut + 1 :]
                break
            end = start
        if not tail:
            return
        if _record(tail) is not None:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        else:
            fh.truncate(size - len(tail))


def _record(raw: bytes) -> dict[str, Any] | None:
    """A line as a JSON object with a string "kind"; None when it is not one."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


# -- reading -------------------------------------------------------------------------------------------------


class JournalLevel(NamedTuple):
    line: int  # 1-based line of the journal
    model: str
    level: LevelResult


@dataclass(kw_only=True)
class JournalState:
    """What a journal says, in its typed records (`results_from_journal` makes a BenchResults of it)."""

    path: Path
    schema: str  # the results schema the run wrote
    started_at: str | None = None
    settings: RunSettings = field(default_factory=RunSettings)
    prompts: list[PromptSpec] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    sessions: list[RunSession] = field(default_factory=list)  # by index; a session without a record: RunSession()
    requests: list[RequestResult] = field(default_factory=list)  # in the order they ended
    models: dict[str, ModelResult] = field(default_factory=dict)  # the latest record per model
    model_lines: dict[str, int] = field(default_factory=dict)  # the line of that record
    model_order: list[str] = field(default_factory=list)  # every model the journal names, first seen first
    levels: list[JournalLevel] = field(default_factory=list)
    lines: int = 0  # complete records read
    torn_lines: int = 0  # a torn last line (the process died mid-write): ignored
    skipped_lines: int = 0  # kinds this version does not know


def read_journal(path: Path) -> JournalState:
    """The journal at `path` (or in the directory `path`); BadInputError (one line, with the line number) when it
    cannot be read, is not a foundry-tui benchmark journal, or a line other than the last is damaged."""
    if path.is_dir():
        path = path / JOURNAL
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"benchmark journal {path} does not exist") from None
    except OSError as exc:
        raise BadInputError(f"cannot read benchmark journal {path}: {exc.strerror or exc}") from None
    numbered = [(n, line) for n, line in enumerate(raw.split(b"\n"), 1) if line.strip()]
    state: JournalState | None = None
    sessions: dict[int, RunSession] = {}
    torn = 0
    for i, (n, line) in enumerate(numbered):
        data = _record(line)
        if data is None:
            if i == len(numbered) - 1 and (state is not None or line.startswith(b'{"kind":"run"')):
                torn = 1  # the process died while writing it
                break
            if state is None:
                raise BadInputError(f"{path} is not a foundry-tui benchmark journal (line {n} is not a JSON record)")
            raise BadInputError(f'{path} line {n}: not a JSON object with a "kind" (a damaged line)')
        if state is None:
            state = _header(path, n, data)
            continue
        try:
            _apply(state, sessions, n, data)
        except FormatError as exc:
            raise BadInputError(f"{path} line {n}: {safe_line(str(exc), 200)}") from None
    if state is None:
        raise BadInputError(f"benchmark journal {path} is empty: the run ended before it wrote its first line")
    state.torn_lines = torn
    if sessions:
        state.sessions = [sessions.get(i, RunSession()) for i in range(max(sessions) + 1)]
    return state


def _header(path: Path, n: int, data: dict[str, Any]) -> JournalState:
    journal = data.get("journal")
    if data["kind"] != "run" or not isinstance(journal, str) or not journal.startswith("foundry-tui.bench.journal/"):
        raise BadInputError(f"{path} is not a foundry-tui benchmark journal (line {n} is not its header)")
    if journal != JOURNAL_SCHEMA:
        raise BadInputError(
            f"{path}: journal format {safe_line(journal, 60)} is newer than this foundry-tui reads ({JOURNAL_SCHEMA})"
        )
    try:
        state = JournalState(
            path=path,
            schema=_get(str, data, "schema", "") or "",
            started_at=_get(str | None, data, "started_at", None),
            settings=read_record(RunSettings, data.get("settings") or {}, "settings", READERS),
            prompts=_get(list[PromptSpec], data, "prompts", []),
            environment=_get(dict[str, Any], data, "environment", {}),
        )
    except FormatError as exc:
        raise BadInputError(f"{path} line {n}: {safe_line(str(exc), 200)}") from None
    state.lines = 1
    return state


def _get(tp: Any, data: dict[str, Any], key: str, default: _T) -> _T:
    value = data.get(key)
    if value is None:
        return default
    result: _T = convert(tp, value, key, READERS)
    return result


def _apply(state: JournalState, sessions: dict[int, RunSession], n: int, data: dict[str, Any]) -> None:
    kind = data["kind"]
    if kind == "request":
        state.requests.append(read_record(RequestResult, data.get("request"), "request", READERS))
        _seen(state, state.requests[-1].model)
    elif kind == "model":
        model = read_record(ModelResult, data.get("model"), "model", READERS)
        state.models[model.model] = model
        state.model_lines[model.model] = n
        _seen(state, model.model)
    elif kind == "level":
        name = _get(str, data, "model", "")
        if not name:
            raise FormatError("model", "missing")
        state.levels.append(JournalLevel(n, name, read_record(LevelResult, data.get("level"), "level", READERS)))
        _seen(state, name)
    elif kind == "session":
        index = _index(data)
        sessions[index] = read_record(RunSession, expect_object(data.get("session") or {}, "session"), "session")
    elif kind == "end":
        index = _index(data)
        session = sessions.setdefault(index, RunSession())
        session.ended = _get(str | None, data, "ended", None)
        session.finished_at = _get(str | None, data, "finished_at", None)
    elif kind == "run":
        raise FormatError("", "a second run header (two runs in one journal)")
    else:
        state.skipped_lines += 1
        return
    state.lines += 1


def _index(data: dict[str, Any]) -> int:
    index: int = _get(int, data, "index", -1)
    if not 0 <= index <= 10_000:
        raise FormatError("index", "expected a session number (0, 1, 2 …)")
    return index


def _seen(state: JournalState, model: str) -> None:
    if model not in state.model_order:
        state.model_order.append(model)


# -- back to results -----------------------------------------------------------------------------------------


def results_from_journal(state: JournalState) -> BenchResults:
    """The run as the journal has it: `partial` unless its last session completed, without summaries (the caller
    builds them: build_summaries).

    Each model is its latest model record with the levels that ended after it; a model without a record is rebuilt
    from its level records and requests with status "running", as is a level seen only in requests: the caller
    decides what they become (cancelled, to be resumed). `stopped_by` comes from the last session's end."""
    models = [_model(state, name) for name in state.model_order]
    last = state.sessions[-1] if state.sessions else None
    ended = last.ended if last is not None else None
    return BenchResults(
        schema=state.schema or BenchResults().schema,
        partial=ended != "completed",
        started_at=state.started_at,
        finished_at=last.finished_at if last is not None else None,
        environment=state.environment,
        settings=state.settings,
        prompts=list(state.prompts),
        models=models,
        requests=list(state.requests),
        sessions=list(state.sessions),
        stopped_by={"SIGINT": "SIGINT", "SIGTERM": "SIGTERM", "stop": "stop", "stopped": "stop"}.get(ended or ""),
    )


def _model(state: JournalState, name: str) -> ModelResult:
    record = state.models.get(name)
    since = state.model_lines.get(name, 0)
    levels = list(record.levels) if record is not None else []

    def put(level: LevelResult) -> None:
        for i, known in enumerate(levels):
            if (known.concurrency, known.mode) == (level.concurrency, level.mode):
                levels[i] = level
                return
        levels.append(level)

    for entry in state.levels:
        if entry.model == name and entry.line > since:
            put(entry.level)
    for r in state.requests:  # a level that ended with the process: its requests say it ran (not the phases')
        if r.model == name and r.measured_level and not any(
                (x.concurrency, x.mode) == (r.concurrency, r.mode) for x in levels):  # fmt: skip
            levels.append(LevelResult(concurrency=r.concurrency, mode=r.mode))
    if record is None:
        return ModelResult(model=name, status="running", levels=levels)
    return dataclasses.replace(record, levels=levels)


def done_keys(results: BenchResults) -> set[RequestKey]:
    """(model, concurrency, mode, prompt_index, round) of every ok measured request: what a resume need not run."""
    return {(r.model, r.concurrency, r.mode, r.prompt_index, r.round) for r in results.requests if r.ok}


__all__ = [
    "JOURNAL",
    "JOURNAL_SCHEMA",
    "JournalLevel",
    "JournalState",
    "JournalWriter",
    "RequestKey",
    "done_keys",
    "read_journal",
    "results_from_journal",
]

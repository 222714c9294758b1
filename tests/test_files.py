"""foundry_tui.files: atomic files get the permissions the umask asks for; appended lines are whole lines."""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from foundry_tui import files
from foundry_tui.files import append_line, current_umask, open_append, write_atomic


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_write_atomic_respects_the_umask(tmp_path: Path, mask: int, expected: int) -> None:
    with umask(mask):
        assert current_umask() == mask
        write_atomic(tmp_path / "results.json", "{}\n")
        write_atomic(tmp_path / "results.json", "[]\n")  # replacing: the new file's mode, no leftover temp
        fd = open_append(tmp_path / "journal.jsonl")
        os.close(fd)
    assert mode(tmp_path / "results.json") == expected and mode(tmp_path / "journal.jsonl") == expected
    assert (tmp_path / "results.json").read_text(encoding="utf-8") == "[]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.jsonl", "results.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_umask_fallback_reads_it_once_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")  # no /proc/self/status there
    monkeypatch.setattr(files, "_umask_cached", None)
    with umask(0o027):
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # left as it was
        os.umask(0o077)
        assert current_umask() == 0o027  # cached: read once per process


def test_append_line_writes_whole_lines_from_many_descriptors(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    line = "y" * 100_000  # many pages: only O_APPEND + one write keeps it whole

    def worker(n: int) -> None:
        fd = open_append(path)  # a descriptor each: no lock shared between them
        try:
            for i in range(10):
                append_line(fd, f"{n}-{i}-{line}")
        finally:
            os.close(fd)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 81
    assert {tuple(x.split("-", 2)[:2]) for x in lines[:-1]} == {(str(n), str(i)) for n in range(8) for i in range(10)}
    assert all(x.split("-", 2)[2] == line for x in lines[:-1])

"""`download` and `cache list|remove|location`: the seed's `foundry model download` / `foundry cache …`.

A download runs on the session's download queue (its own thread), so the main thread stays free for Ctrl-C: the
first one cancels once the ranges in flight finish and says how to resume (the runtime keeps the finished chunks),
a second one leaves at once. Progress goes to stderr — a live line on a terminal, one line per 10 % otherwise — so
stdout stays for `--json`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from foundry_tui.commands.output import entry_dict, print_json, table
from foundry_tui.engine import units
from foundry_tui.engine.cache_report import CacheReport
from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.session import Session
from foundry_tui.errors import BackendError, BadInputError
from foundry_tui.text import safe_line

REDRAW_S = 0.25


class _ProgressPrinter:
    """Renders one job's progress on stderr: a redrawn line on a TTY, else a line per 10 % step."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.tty = sys.stderr.isatty()
        self._last_draw = 0.0
        self._last_step = -1
        self._connecting_said = False
        self._lock = threading.Lock()

    def line(self, job: DownloadJob) -> str:
        if job.connecting:
            return f"{self.model}: connecting…"
        size = f" of {units.size(job.total_mb)}" if job.total_mb else ""
        return (
            f"{self.model}: {job.percent:5.1f} %{size} · {units.speed(job.mb_per_s)} · "
            f"ETA {units.eta(job.eta_s)} · {job.elapsed_s:.0f} s"
        )

    def show(self, job: DownloadJob) -> None:
        with self._lock:
            now = time.monotonic()
            if self.tty:
                if now - self._last_draw >= REDRAW_S or job.state != "running":
                    self._last_draw = now
                    sys.stderr.write("\r\033[K" + safe_line(self.line(job), 200))
                    sys.stderr.flush()
                return
            if job.connecting:
                if not self._connecting_said:
                    self._connecting_said = True
                    print(self.line(job), file=sys.stderr)
                return
            step = int(job.percent // 10)
            if step > self._last_step:
                self._last_step = step
                print(safe_line(self.line(job), 200), file=sys.stderr)

    def end(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run_download(session: Session, args: argparse.Namespace) -> int:
    entry = session.resolve_version(args.model, args.version)
    if entry.source == "local":
        raise BadInputError(f"{entry.id} is a registered local model: its files are already on disk")
    if entry.cached:
        print(f"{entry.id} is already downloaded: {entry.path}", file=sys.stderr)
        if args.json:
            print_json(entry_dict(entry))
        return 0
    fit = session.fit(entry)
    if fit.warn:
        print(f"warning: {safe_line(fit.message)}", file=sys.stderr)
    printer = _ProgressPrinter(entry.id)
    finished = threading.Event()
    final: list[DownloadJob] = []

    def changed(jobs: list[DownloadJob]) -> None:
        job = next((j for j in jobs if j.model == entry.id), None)
        if job is None or job.state == "queued":
            return
        printer.show(job)
        if job.state not in ("queued", "running"):
            final[:] = [job]
            finished.set()

    session.on_downloads = changed
    session.downloads.enqueue(entry.id)
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        printer.end()
        print(f"cancelling {entry.id}… (Ctrl-C again to leave now)", file=sys.stderr)
        session.downloads.cancel(entry.id)
        finished.wait()  # the runtime stops once the ranges in flight finish
        job = final[0]
        print(
            f"cancelled at {job.percent:.0f} %: run the same command again to resume (finished chunks are kept)",
            file=sys.stderr,
        )
        return 130
    printer.end()
    job = final[0]
    if job.state == "failed":
        raise BackendError(job.error or f"download {entry.id} failed")
    if job.state == "cancelled":
        print(f"{entry.id}: cancelled", file=sys.stderr)
        return 130
    done = session.resolve(entry.id)
    print(f"downloaded {done.id} in {job.elapsed_s:.1f} s → {done.path}", file=sys.stderr)
    if args.json:
        print_json(entry_dict(done))
    return 0


def _report_json(report: CacheReport) -> dict[str, object]:
    return {
        "location": report.location,
        "total_bytes": report.cache_bytes,
        "models": [
            {**entry_dict(m.entry), "bytes_on_disk": m.bytes_on_disk, "in_cache_dir": m.in_cache} for m in report.models
        ],
        "partial_downloads": [
            {"path": p.path, "model": p.model_id, "bytes_on_disk": p.bytes_on_disk} for p in report.partial
        ],
    }


def _print_report(report: CacheReport) -> None:
    print(f"cache: {safe_line(report.location)}")
    if report.models:
        rows = [
            [
                m.entry.id,
                m.entry.device or units.MISSING,
                units.size(None if m.bytes_on_disk is None else units.mb_of(m.bytes_on_disk)),
                "yes" if m.entry.loaded else "",
                "cache" if m.in_cache else f"registered: {m.entry.path or units.MISSING}",
            ]
            for m in report.models
        ]
        print(table(["MODEL", "DEVICE", "ON DISK", "LOADED", "WHERE"], rows))
    else:
        print("no models on disk: `foundry-tui download ALIAS` fetches one")
    for partial in report.partial:
        name = partial.model_id or partial.path
        print(
            f"partial download: {safe_line(name)} ({units.size(units.mb_of(partial.bytes_on_disk))}; "
            "`foundry-tui download` resumes it)"
        )
    print(f"total in the cache directory: {units.size(units.mb_of(report.cache_bytes))}")


def run_cache(session: Session, args: argparse.Namespace) -> int:
    if args.cache_command == "location":
        location = str(session.settings.model_cache_dir)
        if args.json:
            print_json({"location": location})
        else:
            print(location)
        return 0
    if args.cache_command == "remove":
        entry = session.remove(args.model)
        what = "unregistered (its files were left in place)" if entry.source == "local" else "removed from the cache"
        if args.json:
            print_json({"removed": entry.id, "source": entry.source})
        else:
            print(f"{entry.id} {what}")
        return 0
    report = session.cache_report()
    if args.json:
        print_json(_report_json(report))
    else:
        _print_report(report)
    return 0

"""Run one conversion step as a subprocess: output streamed to the import log, lines handed to a callback,
cancellable (an Event, or Ctrl-C in the parent), and the last error line kept for a one-line message.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from foundry_tui.errors import CancelledError

_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)\b(?::|$)")


@dataclass(frozen=True)
class StepResult:
    returncode: int
    error_line: str | None  # the traceback's last line, or the last line printed
    tail: tuple[str, ...]


def _reader(stream: IO[bytes], lines: queue.Queue[str | None], log: IO[str]) -> None:
    pending = b""
    try:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            pending += chunk
            *complete, pending = re.split(rb"[\r\n]", pending)
            for raw in complete:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    log.write(line + "\n")
                    lines.put(line)
            log.flush()
        if pending.strip():
            line = pending.decode("utf-8", "replace").rstrip()
            log.write(line + "\n")
            lines.put(line)
        log.flush()
    finally:
        lines.put(None)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the step's whole process group, then kill it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_step(
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    log: IO[str],
    on_line: Callable[[str], None],
    cancel: threading.Event | None = None,
    tick: Callable[[], None] | None = None,
) -> StepResult:
    """Run `cmd` to the end. On cancel or KeyboardInterrupt the process group is stopped before raising."""
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    # Its own session: a Ctrl-C in the terminal reaches only us, and we stop the step in order.
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    thread = threading.Thread(target=_reader, args=(proc.stdout, lines, log), name="import-step-output", daemon=True)
    thread.start()
    tail: collections.deque[str] = collections.deque(maxlen=40)
    error_line: str | None = None
    try:
        done = False
        while not done:
            if cancel is not None and cancel.is_set():
                raise CancelledError("import cancelled")
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if tick is not None:
                    tick()
                continue
            if line is None:
                done = True
                continue
            tail.append(line)
            if _ERROR_LINE.match(line.strip()):
                error_line = line.strip()
            on_line(line)
        returncode = proc.wait()
    except BaseException as exc:
        _stop(proc)
        with contextlib.suppress(Exception):
            log.write(f"[stopped: {type(exc).__name__} at {time.strftime('%H:%M:%S')}]\n")
        raise
    finally:
        thread.join(timeout=5)
        proc.stdout.close()
    log.write(f"[exit code {returncode} at {time.strftime('%H:%M:%S')}]\n")
    log.flush()
    if error_line is None and returncode != 0 and tail:
        error_line = tail[-1].strip()
    return StepResult(returncode, error_line, tuple(tail))

"""Counting answer tokens off the streams' path, for servers that send several tokens per chunk and no usage.

A count asks a tokenizer or the server's /tokenize route (engine.bench.tokens), which takes milliseconds. Done in
the worker that sent the request, it would hold that stream idle between two requests and make the steady-state
throughput read low (measured: −1.6 % at concurrency 8 with 300 ms requests). So the runner hands such requests
to this small pool, which counts and then records them, and drains it before a level's figures are taken.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from foundry_tui.engine.bench.execute import count_tokens, needs_count
from foundry_tui.engine.bench.tokens import TokenCounter
from foundry_tui.engine.timing import RequestRecord

CounterFor = Callable[[str], TokenCounter | None]  # model id → what counts its answers' tokens (None: nothing)


class TokenCounting:
    def __init__(self, counter_for: CounterFor | None) -> None:
        self._counter_for = counter_for
        self._counters: dict[str, TokenCounter | None] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def needed(self, record: RequestRecord) -> bool:
        """Whether `record` is one a counter would re-count (an ok answer without usage, pieces not one token)."""
        return self._counter_for is not None and needs_count(record)

    def counter(self, model: str) -> TokenCounter | None:
        """The model's counter, asked for once (a server's tokenize route is probed then)."""
        if self._counter_for is None:
            return None
        with self._lock:
            if model in self._counters:
                return self._counters[model]
        counter = self._counter_for(model)  # a probe takes HTTP round trips: not under the lock the streams take
        with self._lock:
            return self._counters.setdefault(model, counter)

    def count(self, model: str, record: RequestRecord) -> str | None:
        """Count now; why it failed (one line), else None."""
        return count_tokens(record, self.counter(model))

    def later(self, finish: Callable[[], None]) -> None:
        """Run `finish` (count, then record) on the counting thread."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-count")
            self._pending.append(self._pool.submit(finish))

    def drain(self) -> None:
        """Wait until every request handed over is recorded (its exception, if any, is raised here)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        self.drain()
        with self._lock:
            pool, self._pool = self._pool, None
            counters = [c for c in self._counters.values() if c is not None]
        if pool is not None:
            pool.shutdown(wait=True)
        for counter in {id(c): c for c in counters}.values():
            counter.close()


__all__ = ["CounterFor", "TokenCounting"]

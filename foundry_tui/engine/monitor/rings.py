"""Fixed-size numpy ring buffers for the sampler's series.

They live apart from the sampler because they know nothing about memory or GPUs: a reader (the TUI strip, the
Monitor pane, load reports) gets copies of the last n values and never sees a list that grows without bound.
"""

from __future__ import annotations

import numpy as np


class Ring:
    """A fixed-capacity float ring buffer; `values()` returns the samples oldest first."""

    def __init__(self, capacity: int, *, fill: int = 0) -> None:
        self._data = np.full(capacity, np.nan)
        self._next = fill % capacity
        self._count = min(fill, capacity)  # `fill` NaNs already pushed (a series that appeared late)

    def push(self, value: float) -> None:
        self._data[self._next] = value
        self._next = (self._next + 1) % len(self._data)
        self._count = min(self._count + 1, len(self._data))

    def values(self) -> np.ndarray:
        if self._count < len(self._data):
            return self._data[: self._count].copy()
        return np.concatenate((self._data[self._next :], self._data[: self._next]))

    def tail(self, n: int) -> np.ndarray:
        """The last `n` values (at most `len(self)`), oldest first."""
        n = max(0, min(n, self._count))
        if n == 0:
            return np.empty(0)
        start = self._next - n
        if start >= 0:
            return self._data[start : self._next].copy()
        return np.concatenate((self._data[start:], self._data[: self._next]))

    def __len__(self) -> int:
        return self._count


class RingSet:
    """Aligned series in one 2-D ring (a row per sample, a column per series name): one row write per push.

    A series that appears late is NaN for the samples before it; a row without a series gets NaN there.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys: list[str] = []
        self._column: dict[str, int] = {}
        self._data = np.empty((capacity, 0))
        self._same: tuple[str, ...] = ()  # the keys of a row that fills every column in order
        self._next = 0
        self.count = 0

    def push(self, row: dict[str, float]) -> None:
        if tuple(row) == self._same:  # the usual row: every series, in column order — one write
            self._data[self._next] = list(row.values())
        else:
            new = [key for key in row if key not in self._column]
            if new:
                for key in new:
                    self._column[key] = len(self.keys)
                    self.keys.append(key)
                self._data = np.hstack((self._data, np.full((self.capacity, len(new)), np.nan)))
            values = np.full(len(self.keys), np.nan)
            column = self._column
            for key, value in row.items():
                values[column[key]] = value
            self._data[self._next] = values
            self._same = tuple(self.keys)
        self._next = (self._next + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def column(self, key: str) -> np.ndarray | None:
        """One series, oldest first (a copy); None when it never appeared."""
        index = self._column.get(key)
        # Column first, then the rows: a full hour of rings is not copied to read one series.
        return None if index is None else np.array(self._last(self._data[:, index], self.count))

    def _last(self, data: np.ndarray, n: int) -> np.ndarray:
        """The last `n` rows of `data` (the ring's storage or one column of it), oldest first."""
        n = max(0, min(n, self.count))
        if self.count < self.capacity:
            return data[self.count - n : self.count]
        return np.take(data, np.arange(self._next - n, self._next) % self.capacity, axis=0)

    def tail(self, n: int) -> dict[str, np.ndarray]:
        """The last `n` samples of every series, oldest first (copies)."""
        block = np.array(self._last(self._data, n))
        return {key: block[:, index] for key, index in self._column.items()}

    def __len__(self) -> int:
        return self.count


__all__ = ["Ring", "RingSet"]

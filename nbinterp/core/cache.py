"""A least-recently-used cache bounded by the bytes of the arrays it holds."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return getattr(value, "nbytes", 0)


class ByteBudgetCache:
    """Maps keys to numpy arrays (or tuples of them), evicting the least recently
    used entries once the total size would exceed ``max_bytes``. An entry larger
    than the whole budget is not stored. Thread-safe."""

    def __init__(self, max_bytes=512 * 2**20):
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = int(max_bytes)
        self._data = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key, default=None):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key][0]
            self.misses += 1
            return default

    def __contains__(self, key):
        with self._lock:
            return key in self._data

    def put(self, key, value):
        size = _nbytes(value)
        with self._lock:
            if key in self._data:
                self.nbytes -= self._data.pop(key)[1]
            if size > self.max_bytes:
                return False
            while self._data and self.nbytes + size > self.max_bytes:
                _, (_, old) = self._data.popitem(last=False)
                self.nbytes -= old
                self.evictions += 1
            self._data[key] = (value, size)
            self.nbytes += size
            return True

    def discard(self, key):
        """Remove ``key`` if present."""
        with self._lock:
            if key in self._data:
                self.nbytes -= self._data.pop(key)[1]

    def clear(self):
        with self._lock:
            self._data.clear()
            self.nbytes = 0

    def __len__(self):
        return len(self._data)

    def keys(self):
        with self._lock:
            return list(self._data)

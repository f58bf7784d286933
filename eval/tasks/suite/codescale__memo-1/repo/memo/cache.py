"""An LRU cache whose entries also expire after a time-to-live."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

_MISSING = object()


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0


class LRUCache:
    def __init__(self, maxsize: int = 128, ttl: float | None = None, clock=time.monotonic):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize, self.ttl, self.clock = maxsize, ttl, clock
        self._entries: OrderedDict = OrderedDict()  # key -> (stored_at, value); most recently used last
        self.stats = Stats()

    def get(self, key, default=_MISSING):
        """The value for `key`, or `default` (a miss) when absent or expired."""
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and self.ttl is not None and now - entry[0] >= self.ttl:
            del self._entries[key]
            self.stats.expirations += 1
            entry = None
        if entry is None:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        self._entries[key] = (now, entry[1])
        self._entries.move_to_end(key)
        return entry[1]

    def set(self, key, value) -> None:
        self._entries[key] = (self.clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
            self.stats.evictions += 1

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key) -> bool:
        return key in self._entries


MISSING = _MISSING

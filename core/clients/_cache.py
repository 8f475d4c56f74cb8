"""A small bounded in-memory TTL cache with per-key request coalescing."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Least-recently-used eviction once ``max_entries`` is reached; entries expire after ``ttl``.

    ``ttl <= 0`` disables caching (every ``get`` misses). Not thread-safe: one event loop.
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max(1, max_entries)
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        # Per-key locks so that many concurrent misses for one key (a burst of scrobbles
        # of one show) make one upstream request, not one each.
        self._locks: dict[K, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        if self._ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        for key in [k for k in self._entries if predicate(k)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    @asynccontextmanager
    async def lock(self, key: K) -> AsyncIterator[None]:
        """Serialise fetches of one key; the lock is dropped once nobody holds or waits."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def get_or_fetch(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        """The cached value, else `fetch()` once for all concurrent callers, then cached."""
        cached = self.get(key)
        if cached is not None:
            return cached
        async with self.lock(key):
            cached = self.get(key)
            if cached is not None:
                return cached
            value = await fetch()
            self.set(key, value)
            return value

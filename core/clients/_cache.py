"""A small bounded in-memory TTL cache with per-key request coalescing."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def approx_size(value: object, _depth: int = 0) -> int:
    """Roughly how many bytes `value` holds: strings, bytes and the containers, dataclasses
    and JSON-like values made of them (enough to bound a cache, not an exact measure)."""
    if isinstance(value, str | bytes | bytearray):
        return 56 + len(value) * (1 if not isinstance(value, str) or value.isascii() else 4)
    if _depth > 32:
        return 64
    if isinstance(value, dict):
        return 64 + sum(
            approx_size(k, _depth + 1) + approx_size(v, _depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return 56 + sum(approx_size(v, _depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 56 + sum(
            approx_size(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value)
        )
    return sys.getsizeof(value)


class TtlCache(Generic[K, V]):
    """Least-recently-used eviction once ``max_entries`` or ``max_bytes`` is reached;
    entries expire after ``ttl``.

    Keys often hold text from a webhook (a show title, a rating key), so the cache is bounded
    in bytes too, and an entry bigger than ``max_bytes // 64`` is not cached at all (one
    huge key must not push out everything else). ``ttl <= 0`` disables caching (every
    ``get`` misses). Not thread-safe: one event loop.
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int = 1024,
        max_bytes: int = 16 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max(1, max_entries)
        self._max_bytes = max(1024, max_bytes)
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V, int]] = OrderedDict()
        self._bytes = 0
        # Per-key locks so that many concurrent misses for one key (a burst of scrobbles
        # of one show) make one upstream request, not one each.
        self._locks: dict[K, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The approximate bytes held by cached keys and values."""
        return self._bytes

    def get(self, key: K) -> V | None:
        if self._ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value, _size = entry
        if expires_at <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        self._drop(key)
        size = approx_size(key) + approx_size(value)
        if size > self._max_bytes // 64:
            return
        self._entries[key] = (self._clock() + self._ttl, value, size)
        self._bytes += size
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            _key, (_expires, _value, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        for key in [k for k in self._entries if predicate(k)]:
            self._drop(key)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

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

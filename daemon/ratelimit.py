"""Rate limits on the webhook, arranged so that nobody can lock out a real Plex server.

- Valid senders are limited per webhook secret (PLEX_RATE_LIMIT a minute): one user's
  server can't starve another's, and users behind one proxy don't share a bucket.
- Failed secrets are limited per client address, on their own. Once an address (or
  everyone together) is over its failure budget, a request from there is still let through
  when its secret is one we know to be valid, checked in memory (`KnownSecrets`); anything
  else is answered 429 without touching the database. So a flood of wrong secrets from the
  address a real server shares (a proxy, NAT, the same host) costs at most one small query
  a second and never turns the real server's webhooks away.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

# A Plex server with a stale secret sends a few webhooks a minute; a guesser sends many.
FAILURES_PER_MINUTE = 20
# Failures from all addresses together: rotating addresses doesn't buy a bigger budget.
ALL_FAILURES_PER_MINUTE = 600
KNOWN_SECRETS_REFRESH_SECONDS = 1.0


class RateLimiter:
    """Token buckets per key: `per_minute` requests a minute, bursts of as many."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        # key -> (tokens, last refill), least recently touched first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - last) * self._rate)

    def allows(self, key: str) -> bool:
        """Whether `check(key)` would pass now, without counting anything."""
        return self._tokens(key, self._clock()) >= 1.0

    def check(self, key: str) -> float | None:
        """None when allowed (and counted); else seconds until the next request may pass."""
        now = self._clock()
        tokens = self._tokens(key, now)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._forget(now)
        return None if allowed else (1.0 - tokens) / self._rate

    def wait(self, key: str) -> float:
        """Seconds until `key` may pass again (0 when it may now)."""
        tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def _forget(self, now: float) -> None:
        # A bucket that has refilled completely says nothing: drop those first; then, to
        # keep memory bounded whatever the traffic, the least recently seen.
        for key in [k for k in self._buckets if self._tokens(k, now) >= self._capacity]:
            del self._buckets[key]
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)


class KnownSecrets:
    """The hashes of every valid webhook secret, in memory, re-read at most once per
    `refresh` seconds and only when asked about one it doesn't hold (a secret just made
    or rotated is found within that second)."""

    def __init__(
        self,
        load: Callable[[], Awaitable[frozenset[str]]],
        *,
        refresh: float = KNOWN_SECRETS_REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._refresh = refresh
        self._clock = clock
        self._hashes: frozenset[str] = frozenset()
        self._loaded_at = -math.inf
        self._lock = asyncio.Lock()

    async def contains(self, secret_hash: str) -> bool:
        if secret_hash in self._hashes:
            return True
        if self._clock() - self._loaded_at < self._refresh:
            return False
        async with self._lock:  # one query for everyone asking at once
            if self._clock() - self._loaded_at >= self._refresh:
                self._hashes = await self._load()
                self._loaded_at = self._clock()
        return secret_hash in self._hashes


class WebhookLimits:
    """The webhook's limits, for daemon/webhook.py: see the module docstring."""

    def __init__(
        self,
        *,
        per_minute: int,
        known_secrets: KnownSecrets,
        failures_per_minute: int = FAILURES_PER_MINUTE,
        all_failures_per_minute: int = ALL_FAILURES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.senders = RateLimiter(per_minute, clock=clock)
        self.failures = RateLimiter(failures_per_minute, clock=clock)
        self.all_failures = RateLimiter(all_failures_per_minute, clock=clock)
        self.known_secrets = known_secrets

    def failing(self, address_key: str) -> bool:
        """The address (or everyone together) has used up its failure budget."""
        return not (self.failures.allows(address_key) and self.all_failures.allows("*"))

    def failure_wait(self, address_key: str) -> float:
        return max(self.failures.wait(address_key), self.all_failures.wait("*"))

    def failed(self, address_key: str) -> None:
        self.failures.check(address_key)
        self.all_failures.check("*")


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))

"""The request loop shared by the clients: timeouts, retries, error mapping, metrics.

Internal to ``core.clients``. Messages built here name the path only, never the query
string (TMDB's v3 key travels there) nor headers (Plex tokens travel there).
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.clients.errors import NotFound, RateLimited, Unauthorized, UpstreamError
from core.metrics import Metrics

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. ``max_retries`` counts attempts after the first one."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    # Longest Retry-After we are willing to sleep through; beyond it we raise RateLimited
    # at once and let the caller (a job, the webhook worker) come back later.
    max_retry_after: float = 10.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.backoff_max, self.backoff_base * (1 << min(attempt, 30)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def safe_target(url: str) -> str:
    """``host[:port]/path`` of a URL without scheme, credentials or query: safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{host}{parts.path}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def transport_reason(exc: httpx.TransportError) -> str:
    """Why no answer came, in a person's words (the socket error under httpx's), never the
    exceptions' text, which may hold the URL."""
    seen: BaseException | None = exc
    for _ in range(10):  # a short chain; bounded in case of a cycle
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host name not found"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(seen, OSError) and seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "no route to host"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "the connection broke off"
    return type(exc).__name__


class JsonRequester:
    """Sends GETs expecting JSON and turns every failure into an ``UpstreamError``."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        service: str,
        metrics: Metrics,
        timeout: float,
        policy: RetryPolicy,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = http
        self._service = service
        self._metrics = metrics
        self._timeout = httpx.Timeout(timeout)
        self._policy = policy
        self._sleep = sleep

    def _count(self, outcome: str) -> None:
        self._metrics.outbound_calls.labels(service=self._service, outcome=outcome).inc()

    async def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        service = self._service
        what = f"{service} GET {safe_target(url)}"
        policy = self._policy
        attempt = 0
        while True:
            failure: UpstreamError
            wait: float
            try:
                response = await self._http.get(
                    url, params=params, headers=headers, timeout=self._timeout
                )
            except httpx.TimeoutException:
                self._count("error")
                failure = UpstreamError(f"{what} timed out", service=service, retryable=True)
                wait = policy.backoff(attempt)
            except httpx.TransportError as exc:
                # The exception's text may hold the URL (and so a v3 key): keep only its type.
                self._count("error")
                failure = UpstreamError(
                    f"{what} failed: {transport_reason(exc)}", service=service, retryable=True
                )
                wait = policy.backoff(attempt)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        payload = response.json()
                    except ValueError:
                        self._count("error")
                        raise UpstreamError(
                            f"{what} returned a body that is not JSON (HTTP {status})",
                            service=service,
                            retryable=True,
                            status=status,
                        ) from None
                    self._count("ok")
                    return payload
                if status == 429:
                    self._count("rate_limited")
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    asked = retry_after if retry_after is not None else policy.backoff(attempt)
                    limited = RateLimited(
                        f"{what} was rate limited (HTTP 429, retry after {asked:.1f}s)",
                        service=service,
                        retry_after=asked,
                    )
                    if asked > policy.max_retry_after:
                        raise limited
                    failure, wait = limited, asked
                elif status >= 500 or status == 408:
                    self._count("error")
                    failure = UpstreamError(
                        f"{what} returned HTTP {status}",
                        service=service,
                        retryable=True,
                        status=status,
                    )
                    wait = policy.backoff(attempt)
                elif status in (401, 403):
                    self._count("unauthorized")
                    raise Unauthorized(
                        f"{what} rejected the credentials (HTTP {status})",
                        service=service,
                        status=status,
                    )
                elif status == 404:
                    self._count("not_found")
                    raise NotFound(f"{what} found nothing (HTTP 404)", service=service)
                else:
                    self._count("error")
                    raise UpstreamError(
                        f"{what} returned HTTP {status}", service=service, status=status
                    )

            if attempt >= policy.max_retries:
                raise failure
            log.warning(
                "%s; retrying in %.2fs (attempt %d of %d)",
                failure.message,
                wait,
                attempt + 1,
                policy.max_retries,
            )
            await self._sleep(wait)
            attempt += 1

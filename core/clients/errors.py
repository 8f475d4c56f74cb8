"""Errors raised by the outbound clients.

Every message is safe to log and to show: it names the service, the method, the path
(never the query string, which may carry TMDB's v3 key) and the HTTP status. Tokens and
keys never appear, and transport errors are re-raised without their httpx cause, whose
``request`` carries the full URL.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """A call to an outside service (TMDB, a Plex server, plex.tv) failed.

    ``retryable`` tells the caller whether trying again later may succeed (timeouts,
    connection errors, 5xx, 429) or not (bad credentials, unknown ids, bad requests).
    """

    def __init__(
        self,
        message: str,
        *,
        service: str,
        retryable: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.retryable = retryable
        self.status = status

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, service={self.service!r}, "
            f"retryable={self.retryable!r}, status={self.status!r})"
        )


class NotFound(UpstreamError):
    """The service does not know the requested item (HTTP 404)."""

    def __init__(self, message: str, *, service: str, status: int | None = 404) -> None:
        super().__init__(message, service=service, retryable=False, status=status)


class Unauthorized(UpstreamError):
    """The service rejected our credentials (HTTP 401/403): a bad key or token."""

    def __init__(self, message: str, *, service: str, status: int | None = 401) -> None:
        super().__init__(message, service=service, retryable=False, status=status)


class RateLimited(UpstreamError):
    """The service asked us to slow down (HTTP 429) for longer than we were willing to wait.

    ``retry_after`` is the number of seconds the service asked for (or our best guess).
    """

    def __init__(
        self, message: str, *, service: str, retry_after: float, status: int | None = 429
    ) -> None:
        super().__init__(message, service=service, retryable=True, status=status)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"RateLimited({self.message!r}, service={self.service!r}, "
            f"retry_after={self.retry_after!r})"
        )

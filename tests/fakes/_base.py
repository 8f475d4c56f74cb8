"""Common plumbing for the local fakes: an aiohttp.web server on 127.0.0.1, a free port,
a request log and programmable failures (errors, 429s, latency)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.typedefs import Handler


class Pause:
    """Holds the next request to one path until the test releases it: the way to stop the
    code under test at that await point and run something else meanwhile."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.arrived = asyncio.Event()
        self._go = asyncio.Event()
        self._status: int | None = None

    async def reached(self, within: float = 10) -> None:
        """Wait until the request is being held."""
        async with asyncio.timeout(within):
            await self.arrived.wait()

    def release(self, status: int | None = None) -> None:
        """Let it through, or answer it with `status` instead."""
        self._status = status
        self._go.set()

    async def hold_request(self) -> int | None:
        """(The server's side) wait for the release; the status to answer with, if any."""
        self.arrived.set()
        await self._go.wait()
        return self._status


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class FakeServer:
    """Subclasses add routes in ``_routes`` and format errors in ``_error_response``."""

    # Path prefix of the API (TMDB: "/3"), part of base_url.
    prefix = ""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay: float = 0.0
        self._fail: list[int] = []
        self._rate_limit: list[float] = []
        self._pauses: list[Pause] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._sock: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> Self:
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        # handler_cancellation: a client that gives up (timeout) cancels a delayed handler,
        # so close() does not wait for it.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            self._port = sock.getsockname()[1]
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()  # asyncio's server leaves a socket it was given open
            raise
        self._runner = runner
        self._sock = sock
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # -- programmable behaviour ------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """The next ``n`` requests get ``status`` (before auth is checked)."""
        self._fail.extend([status] * n)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """The next ``n`` requests get 429 with ``Retry-After: retry_after``."""
        self._rate_limit.extend([retry_after] * n)

    def pause(self, path: str) -> Pause:
        """The next request to ``path`` (without the prefix) waits until released."""
        held = Pause(path)
        self._pauses.append(held)
        return held

    def reset(self) -> None:
        """Forget failures, latency and the request log (registered data stays)."""
        self._fail.clear()
        self._rate_limit.clear()
        for held in self._pauses:
            held.release()
        self._pauses.clear()
        self.delay = 0.0
        self.requests.clear()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Logged requests whose path (without the prefix) equals ``path``."""
        return [r for r in self.requests if r.path == self.prefix + path]

    # -- for subclasses ---------------------------------------------------------------
    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _error_response(self, status: int) -> web.Response:
        return web.Response(status=status, text=f"{status}")

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
            )
        )
        held = next((p for p in self._pauses if self.prefix + p.path == request.path), None)
        if held is not None:
            self._pauses.remove(held)
            status = await held.hold_request()
            if status is not None:
                return self._error_response(status)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self._rate_limit:
            retry_after = self._rate_limit.pop(0)
            response = self._error_response(429)
            value = int(retry_after) if float(retry_after).is_integer() else retry_after
            response.headers["Retry-After"] = str(value)
            return response
        if self._fail:
            return self._error_response(self._fail.pop(0))
        return await handler(request)


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"

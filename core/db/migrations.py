"""Applies `sql/NNNN_*.sql` in order, each once, in a transaction, under an advisory lock."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from core.db.pool import Conn

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "sql"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same in every process sharing the database.
_LOCK_KEY = 0x706C6578  # "plex"


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise RuntimeError(f"migration file {path.name} does not match NNNN_name.sql")
        found.append(Migration(version=path.stem, path=path))
    versions = [m.version[:4] for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migrations share a number in {sql_dir}")
    return found


async def apply_migrations(conn: Conn, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply what is missing; returns the versions applied now (empty when up to date)."""
    migrations = discover(sql_dir)
    # Session-level lock: two processes starting together apply each file once between them.
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.path.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                )
            log.info("applied migration %s", migration.version)
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)

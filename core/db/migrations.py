"""Applies the numbered migrations in order, each once, in a transaction, under an advisory lock.

The files are the repository's `sql/NNNN_*.sql`. An installed package (wheel, `pip install .`,
pipx, the Docker image) carries them as the package data `core/db/sql/`; a checkout (an
editable install, the tests) reads `sql/` itself.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from core.db.pool import Conn

log = logging.getLogger(__name__)

_CHECKOUT_SQL = Path(__file__).resolve().parent.parent.parent / "sql"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same in every process sharing the database.
_LOCK_KEY = 0x706C6578  # "plex"


class MigrationsMissing(RuntimeError):
    """No migration files where they should be: a broken install, never "up to date"."""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Traversable

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def bundled_sql() -> Traversable:
    """Where this install keeps its migrations."""
    try:
        return importlib.resources.files("core.db.sql")
    except ModuleNotFoundError:
        return _CHECKOUT_SQL


def discover(sql_dir: Traversable | None = None) -> list[Migration]:
    where = sql_dir if sql_dir is not None else bundled_sql()
    found = []
    files = sorted(
        (p for p in where.iterdir() if p.name.endswith(".sql")) if where.is_dir() else (),
        key=lambda p: p.name,
    )
    for path in files:
        m = _NAME.match(path.name)
        if not m:
            raise RuntimeError(f"migration file {path.name} does not match NNNN_name.sql")
        found.append(Migration(version=path.name.removesuffix(".sql"), path=path))
    if not found:
        # Reporting "up to date" here would start a daemon on a database with no tables.
        raise MigrationsMissing(
            f"no migrations found in {where}: this installation of plex-tracker is "
            "incomplete; reinstall it (`pip install --force-reinstall plex-tracker`)"
        )
    versions = [m.version[:4] for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migrations share a number in {where}")
    return found


async def apply_migrations(conn: Conn, sql_dir: Traversable | None = None) -> list[str]:
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
                await conn.execute(migration.sql())
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                )
            log.info("applied migration %s", migration.version)
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def pending_migrations(conn: Conn) -> list[str]:
    """Versions this install has that the database has not applied (for `doctor`)."""
    known = [m.version for m in discover()]
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return known
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [v for v in known if v not in done]

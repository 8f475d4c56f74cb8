from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from core.db.migrations import MigrationsMissing, apply_migrations, discover
from tests.conftest import _with_database

EXPECTED_TABLES = {
    "users",
    "tvshows",
    "tvshow_episodes",
    "plex_config",
    "plex_show_mappings",
    "plex_webhook_logs",
    "plex_conflicts",
    "schema_migrations",
    "notification_outbox",
    "api_tokens",
}
EXPECTED_VIEWS = {"plex_sync_stats", "plex_webhook_activity", "plex_unmapped_shows"}


async def test_migrations_apply_on_empty_database_and_are_idempotent(pg_server_dsn: str) -> None:
    name = "plex_tracker_migration_test"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        dsn = _with_database(pg_server_dsn, name)
        conns = [await asyncpg.connect(dsn) for _ in range(2)]
        try:
            # Two processes starting together: the advisory lock makes one do the work.
            first, second = await asyncio.gather(*(apply_migrations(c) for c in conns))
            assert sorted(first + second) == [m.version for m in discover()]
            assert await apply_migrations(conns[0]) == []
            tables = {
                r["tablename"]
                for r in await conns[0].fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                )
            }
            views = {
                r["viewname"]
                for r in await conns[0].fetch(
                    "SELECT viewname FROM pg_views WHERE schemaname='public'"
                )
            }
            assert tables >= EXPECTED_TABLES
            assert views >= EXPECTED_VIEWS
            indexes = {
                r["indexname"]
                for r in await conns[0].fetch(
                    "SELECT indexname FROM pg_indexes WHERE schemaname='public'"
                )
            }
            for needed in (
                "plex_config_secret_hash",
                "plex_show_mappings_user_id_plex_rating_key_key",
                "tvshow_episodes_tvshow_id_season_episode_key",
                "plex_webhook_logs_user_created",
                "plex_webhook_logs_status",
            ):
                assert needed in indexes
        finally:
            for c in conns:
                await c.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def test_migration_files_are_numbered_and_explain_themselves() -> None:
    for migration in discover():
        first = migration.sql().splitlines()[0]
        assert first.startswith("--"), f"{migration.version} needs a header comment"


def test_an_install_without_migrations_refuses_instead_of_reporting_up_to_date(
    tmp_path: Path,
) -> None:
    with pytest.raises(MigrationsMissing, match="no migrations found"):
        discover(tmp_path)


async def test_commands_starting_together_both_find_the_embedded_database(
    pg_server_dsn: str,
) -> None:
    """`plex-tracker run &` then at once `connect`: both create the database on a fresh
    DATA_DIR; the one that loses the race uses the other's (it was a traceback)."""
    import os

    from core.db.embedded import EmbeddedPostgres

    name = f"plex_tracker_race_{os.getpid()}"
    server = _with_database(pg_server_dsn, "postgres")
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await asyncio.gather(*(EmbeddedPostgres._ensure_database(server, name) for _ in range(8)))
        assert await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

"""Shared fixtures: one real PostgreSQL per session, a migrated database, services per test.

The server is TEST_DATABASE_URL or DATABASE_URL when set, otherwise an embedded PostgreSQL
started for the session under a temporary directory.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from app.runtime import open_services
from core.db.migrations import apply_migrations
from core.db.pool import EmbeddedPostgres
from core.services.container import Services
from core.settings import Settings, load_settings

pytest_plugins = ["tests.harness", "tests.fakediscord.fixtures"]

TEST_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
_TABLES = (
    "users, tvshows, tvshow_episodes, plex_config, plex_show_mappings, plex_conflicts, "
    "plex_webhook_logs, plex_scrobbles_seen, notification_outbox, api_tokens, job_runs"
)


@pytest.fixture(scope="session")
async def pg_server_dsn() -> AsyncIterator[str]:
    dsn = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if dsn:
        yield dsn
        return
    with tempfile.TemporaryDirectory(prefix="plex-tracker-pg-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp))
        uri = await embedded.start()
        try:
            yield uri
        finally:
            await embedded.stop()


def _with_database(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
async def database_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    """A database of our own on that server, migrated once for the session."""
    name = f"plex_tracker_test_{os.getpid()}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = _with_database(pg_server_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    yield dsn
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def clean_db(database_dsn: str) -> str:
    """Each test starts from empty tables."""
    conn = await asyncpg.connect(database_dsn)
    try:
        await conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    return database_dsn


def make_settings(dsn: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "DATABASE_URL": dsn,
        "ENCRYPTION_KEY": TEST_KEY,
        "DATA_DIR": str(data_dir),
        "PUBLIC_WEBHOOK_URL": "http://127.0.0.1:8080/api/plex/webhook",
        "TMDB_API_KEY": "test-tmdb-key",
        "DISCORD_TOKEN": "",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(clean_db: str, tmp_path: Path) -> Settings:
    return make_settings(clean_db, tmp_path)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as built:
        yield built


@pytest.fixture
def cli_env(clean_db: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for running the real `plex-tracker` entry point in a subprocess."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "TMDB_", "PLEX_", "DATABASE_URL", "ENCRYPTION_KEY"))
    }
    env.update(
        DATABASE_URL=clean_db,
        ENCRYPTION_KEY=TEST_KEY,
        DATA_DIR=str(tmp_path / "data"),
        PUBLIC_WEBHOOK_URL="http://127.0.0.1:8080/api/plex/webhook",
    )
    yield env


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"

"""The whole daemon in-process over real loopback HTTP and real PostgreSQL, with the
outside services (TMDB, the Plex server, plex.tv) replaced by wire-accurate fakes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web

from app.runtime import open_services
from core.health import HealthState
from core.services.container import Services
from daemon.app import create_runner
from tests.conftest import make_settings
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.fakes.plex_server import FakePlexServer
from tests.fakes.plextv import FakePlexTv
from tests.fakes.tmdb import DEFAULT_API_KEY, FakeTmdb
from tests.plex_payloads import multipart
from tests.processes import free_port


@dataclass
class Daemon:
    services: Services
    health: HealthState
    base_url: str
    http: httpx.AsyncClient
    tmdb: FakeTmdb
    plex_server: FakePlexServer
    plextv: FakePlexTv
    dsn: str
    app: web.Application

    async def connect(
        self, user: str = "alice", *, accounts: list[str] | None = None, server: bool = True
    ) -> tuple[int, str]:
        """Connect a user the way the CLI does; returns (user id, webhook secret)."""
        self.plextv.add_account(PLEX_TOKEN, id=1, username=user)
        result = await self.services.accounts.connect(
            user_name=user,
            plex_token=PLEX_TOKEN,
            server_url=self.plex_server.base_url if server else None,
            accounts=accounts,
        )
        return result.user.id, result.webhook_url.rsplit("=", 1)[1]

    async def import_shows(self, user_id: int, shows: list[dict[str, Any]]) -> None:
        await self.services.library.import_shows(user_id, json.dumps(shows))

    async def post(
        self,
        payload: dict[str, Any] | str | bytes,
        secret: str | None,
        *,
        thumb: bytes | None = None,
        payload_as_file: bool = False,
    ) -> httpx.Response:
        body, ctype = multipart(payload, thumb=thumb, payload_as_file=payload_as_file)
        params = {"secret": secret} if secret is not None else {}
        return await self.http.post(
            self.base_url + "/api/plex/webhook",
            content=body,
            headers={"Content-Type": ctype},
            params=params,
        )

    async def log_row(self, log_id: int) -> asyncpg.Record:
        conn = await asyncpg.connect(self.dsn)
        try:
            row = await conn.fetchrow("SELECT * FROM plex_webhook_logs WHERE id = $1", log_id)
        finally:
            await conn.close()
        assert row is not None, f"no log row {log_id}"
        return row

    async def settled(self, log_id: int, within: float = 10) -> asyncpg.Record:
        """The row once the worker is done with it (final, or held behind a conflict)."""
        async with asyncio.timeout(within):
            while True:
                row = await self.log_row(log_id)
                if row["status"] != "pending" or row["held_by_conflict_id"] is not None:
                    return row
                await asyncio.sleep(0.02)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


@asynccontextmanager
async def running_daemon(dsn: str, tmp_path: Path, **overrides: object) -> AsyncIterator[Daemon]:
    """The daemon on a free loopback port, with settings overridden as given."""
    async with FakeTmdb() as tmdb, FakePlexServer() as plex_server, FakePlexTv() as plextv:
        values: dict[str, object] = {
            "TMDB_BASE_URL": tmdb.base_url,
            "TMDB_API_KEY": DEFAULT_API_KEY,
            "PLEX_TV_BASE_URL": plextv.base_url,
            "PLEX_RATE_LIMIT": 100_000,
            **overrides,
        }
        settings = make_settings(dsn, tmp_path, **values)
        async with open_services(settings) as services:
            health = HealthState()
            runner = create_runner(services, health)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            services.worker.start()
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    yield Daemon(
                        services,
                        health,
                        f"http://127.0.0.1:{port}",
                        http,
                        tmdb,
                        plex_server,
                        plextv,
                        dsn,
                        runner.app,
                    )
            finally:
                await services.worker.stop()
                await runner.cleanup()


@pytest.fixture
async def daemon(clean_db: str, tmp_path: Path) -> AsyncIterator[Daemon]:
    async with running_daemon(clean_db, tmp_path) as running:
        yield running

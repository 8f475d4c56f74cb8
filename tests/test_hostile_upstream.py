"""Failing neighbours: TMDB rate-limiting, erroring, slow or unreachable; the Plex server down.
The webhook is still accepted and logged at once; processing fails retryably; once the
neighbour recovers, the requeued row completes. Nothing is lost."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from app.runtime import open_services
from core.db import webhook_logs
from tests.conftest import make_settings
from tests.fakes._base import closed_port_url
from tests.fakes.tmdb import DEFAULT_API_KEY, FakeTmdb
from tests.harness import Daemon
from tests.plex_payloads import episode, legacy_episode, scrobble

OFFICE = {
    "title": "The Office",
    "year": 2005,
    "tmdb_id": 2316,
    "tvdb_id": 73244,
    "seasons": [{"season_number": 2, "episodes": [{"episode_number": n} for n in range(1, 8)]}],
}


async def _retry_now(daemon: Daemon) -> int:
    """What the retry job does once the backoff has passed (the backoff is shortened here)."""
    async with daemon.services.pool.acquire() as conn:
        await conn.execute(
            "UPDATE plex_webhook_logs SET next_attempt_at = now() - interval '1 second' "
            "WHERE status = 'failed' AND retryable"
        )
        count = await webhook_logs.requeue_retryable(conn, max_attempts=10)
    daemon.services.intake.queued.set()
    return count


async def _accepted_then_failed(
    daemon: Daemon, payload: dict[str, Any], secret: str, action: str = "upstream_error"
) -> int:
    started = time.monotonic()
    answer = await daemon.post(payload, secret)
    answered_in = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answered_in < 1.0, "the answer must not wait for a failing neighbour"
    log_id: int = answer.json()["id"]
    row = await daemon.settled(log_id, 30)
    assert (row["status"], row["action_taken"], row["retryable"]) == (
        "failed",
        action,
        True,
    ), row["error_message"]
    assert row["payload"] is not None and row["next_attempt_at"] is not None
    return log_id


async def _watched(daemon: Daemon, tmdb_id: int) -> list[tuple[int, int]]:
    rows = await daemon.fetch(
        """SELECT e.season, e.episode FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id
           WHERE t.tmdb_id = $1 AND e.watched ORDER BY 1, 2""",
        tmdb_id,
    )
    return [(r["season"], r["episode"]) for r in rows]


@pytest.mark.parametrize("how", ["503", "unreachable"])
async def test_plex_server_down_then_back(daemon: Daemon, how: str) -> None:
    user_id, secret = await daemon.connect()
    daemon.plex_server.add_show(
        "1936543", "The Office", 2005, guids=["tmdb://2316", "tvdb://73244"]
    )
    await daemon.import_shows(user_id, [OFFICE])
    if how == "503":
        daemon.plex_server.fail_next(100, 503)
    else:
        await daemon.services.accounts.update_settings(user_id, server_url=closed_port_url())
    action = "upstream_error" if how == "503" else "server_unreachable"
    log_id = await _accepted_then_failed(
        daemon, scrobble(episode(season=2, number=3)), secret, action
    )
    assert await _watched(daemon, 2316) == []
    # The server comes back.
    daemon.plex_server.reset()
    if how == "unreachable":
        await daemon.services.accounts.update_settings(
            user_id, server_url=daemon.plex_server.base_url
        )
    assert await _retry_now(daemon) == 1
    row = await daemon.settled(log_id, 30)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert row["attempts"] == 2
    assert await _watched(daemon, 2316) == [(2, 3)]


@pytest.mark.parametrize("how", ["429", "500", "503", "slow"])
async def test_tmdb_trouble_then_recovery(daemon: Daemon, how: str) -> None:
    _user_id, secret = await daemon.connect()
    # Not in the tracker: the tvdb id goes to TMDB /find, then the show is added from TMDB.
    daemon.tmdb.add_show(1396, "Breaking Bad", year=2008, tvdb_id=81189, seasons={1: 7})
    payload = scrobble(legacy_episode("thetvdb", "81189", 1, 4, show="Breaking Bad", show_key="9"))
    if how == "slow":
        daemon.tmdb.delay = 0.4
        started = time.monotonic()
        answer = await daemon.post(payload, secret)
        assert time.monotonic() - started < 0.4, "the answer must not wait for TMDB"
        row = await daemon.settled(answer.json()["id"], 30)
        assert (row["status"], row["action_taken"]) == ("success", "show_added")
        assert await _watched(daemon, 1396) == [(1, 4)]
        return
    if how == "429":
        daemon.tmdb.rate_limit_next(100, retry_after=60)  # longer than the client will wait
    else:
        daemon.tmdb.fail_next(100, int(how))
    log_id = await _accepted_then_failed(daemon, payload, secret)
    daemon.tmdb.reset()
    assert await _retry_now(daemon) == 1
    row = await daemon.settled(log_id, 30)
    assert (row["status"], row["action_taken"]) == ("success", "show_added")
    assert await _watched(daemon, 1396) == [(1, 4)]
    rows = await daemon.fetch("SELECT count(*) AS n FROM plex_webhook_logs")
    assert rows[0]["n"] == 1, "a retry reuses the row; it never duplicates the webhook"


async def test_tmdb_unreachable_then_reachable(clean_db: str, tmp_path: Path) -> None:
    """TMDB's address refuses connections (network down); after a restart with it reachable,
    the same queued row is retried and completes."""
    down = make_settings(
        clean_db, tmp_path, TMDB_BASE_URL=closed_port_url() + "/3", TMDB_API_KEY=DEFAULT_API_KEY
    )
    payload = scrobble(legacy_episode("thetvdb", "81189", 1, 2, show="Breaking Bad", show_key="9"))
    async with open_services(down) as services:
        connected = await services.accounts.connect(
            user_name="alice", plex_token="tok-123", verify=False
        )
        user_id = connected.user.id
        config = await services.accounts.config(user_id)
        accepted = await services.intake.accept(user_id, config, json.dumps(payload))
        assert accepted.http_status == 200
        assert await services.worker.drain() == 1
        async with services.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, action_taken, retryable FROM plex_webhook_logs WHERE id = $1",
                accepted.log_id,
            )
        assert row is not None
        assert (row["status"], row["action_taken"], row["retryable"]) == (
            "failed",
            "upstream_error",
            True,
        )
    async with FakeTmdb() as tmdb:
        tmdb.add_show(1396, "Breaking Bad", year=2008, tvdb_id=81189, seasons={1: 7})
        up = make_settings(
            clean_db, tmp_path, TMDB_BASE_URL=tmdb.base_url, TMDB_API_KEY=DEFAULT_API_KEY
        )
        async with open_services(up) as services:
            async with services.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE plex_webhook_logs SET next_attempt_at = now() WHERE id = $1",
                    accepted.log_id,
                )
                assert await webhook_logs.requeue_retryable(conn, max_attempts=10) == 1
            assert await services.worker.drain() == 1
            async with services.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT status, action_taken FROM plex_webhook_logs WHERE id = $1",
                    accepted.log_id,
                )
                watched = await conn.fetchval(
                    "SELECT count(*) FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id "
                    "WHERE t.tmdb_id = 1396 AND e.watched AND (e.season, e.episode) = (1, 2)"
                )
            assert row is not None
            assert (row["status"], row["action_taken"]) == ("success", "show_added")
            assert watched == 1

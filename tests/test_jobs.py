"""Scheduled jobs against real PostgreSQL: prune, retry, refresh airing shows, the gauges,
once-per-tick across processes, the scheduler firing, and the CLI commands around them."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.runtime import open_services
from app.scheduler import ANCHOR, Scheduler, tick_of
from core.db import job_runs
from core.services.container import Services
from core.services.jobs import JobService
from tests.cli import run_cli
from tests.conftest import make_settings
from tests.harness import Daemon
from tests.plex_payloads import episode, scrobble

DAY = timedelta(days=1)


async def _user(conn: asyncpg.Connection, name: str = "alice") -> int:
    user_id: int = await conn.fetchval("INSERT INTO users (name) VALUES ($1) RETURNING id", name)
    return user_id


async def _log(
    conn: asyncpg.Connection, user_id: int, *, age: timedelta, status: str = "success", **cols: Any
) -> int:
    names = ["user_id", "status", "event_type", "payload", "created_at", *cols]
    payload = {"event": "media.scrobble"}
    values = [user_id, status, "media.scrobble", payload, datetime.now(UTC) - age]
    values += list(cols.values())
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    log_id: int = await conn.fetchval(
        f"INSERT INTO plex_webhook_logs ({', '.join(names)}) VALUES ({placeholders}) RETURNING id",
        *values,
    )
    return log_id


async def _conflict(
    conn: asyncpg.Connection, user_id: int, key: str, *, resolved_age: timedelta | None
) -> int:
    conflict_id: int = await conn.fetchval(
        """INSERT INTO plex_conflicts (user_id, plex_rating_key, plex_title, conflict_type,
               resolved, resolved_at, resolution_action)
           VALUES ($1, $2, 'Show ' || $2, 'no_match', $3, now() - $4::interval,
                   CASE WHEN $3 THEN 'ignored' END)
           RETURNING id""",
        user_id,
        key,
        resolved_age is not None,
        resolved_age or timedelta(0),
    )
    return conflict_id


@pytest.fixture
async def conn(services: Services) -> Any:
    async with services.pool.acquire() as c:
        yield c


async def test_prune_removes_only_what_is_old_and_finished(
    services: Services, conn: asyncpg.Connection
) -> None:
    alice = await _user(conn)
    old = [await _log(conn, alice, age=100 * DAY, status=s) for s in ("success", "failed") * 12]
    recent = [await _log(conn, alice, age=10 * DAY) for _ in range(5)]
    old_pending = await _log(conn, alice, age=200 * DAY, status="pending")
    old_resolved = await _conflict(conn, alice, "1", resolved_age=120 * DAY)
    new_resolved = await _conflict(conn, alice, "2", resolved_age=5 * DAY)
    old_open = await _conflict(conn, alice, "3", resolved_age=None)
    await conn.execute("UPDATE plex_conflicts SET created_at = now() - interval '300 days'")
    # A held scrobble keeps its (old, resolved-looking) conflict: work not done yet.
    held_behind = await _conflict(conn, alice, "4", resolved_age=150 * DAY)
    await _log(conn, alice, age=1 * DAY, status="pending", held_by_conflict_id=held_behind)

    # Notifications: delivered or refused long ago go; one still to deliver stays.
    notes = {}
    for name, delivered, refused in (
        ("delivered", 100 * DAY, None),
        ("refused", None, 100 * DAY),
        ("refused_lately", None, 2 * DAY),
        ("waiting", None, None),
    ):
        notes[name] = await conn.fetchval(
            """INSERT INTO notification_outbox (user_id, kind, ref_id, delivered_at, refused_at)
               VALUES ($1, 'failure', $2, now() - $3::interval, now() - $4::interval)
               RETURNING id""",
            alice,
            len(notes) + 1,
            delivered,
            refused,
        )

    result = await services.jobs.prune(conn, batch_size=7)

    notes_left = {r["id"] for r in await conn.fetch("SELECT id FROM notification_outbox")}
    assert notes_left == {notes["refused_lately"], notes["waiting"]}
    assert result.logs == len(old) == 24
    assert result.batches >= 4  # 24 rows in batches of 7, then each other table
    assert result.conflicts == 1
    left = {r["id"] for r in await conn.fetch("SELECT id FROM plex_webhook_logs")}
    assert set(recent) <= left and old_pending in left and not set(old) & left
    conflicts_left = {r["id"] for r in await conn.fetch("SELECT id FROM plex_conflicts")}
    assert conflicts_left == {new_resolved, old_open, held_behind}
    assert old_resolved not in conflicts_left
    assert "removed 24 webhook logs, 1 resolved conflicts" in result.summary()


async def test_prune_job_is_recorded_and_counted(services: Services) -> None:
    async with services.pool.acquire() as conn:
        alice = await _user(conn)
        for _ in range(3):
            await _log(conn, alice, age=91 * DAY)
    result = await services.jobs.run("prune")
    assert result.outcome == "ok" and result.run_id is not None
    assert "removed 3 webhook logs" in result.detail
    async with services.pool.acquire() as conn:
        runs = await job_runs.recent(conn, "prune")
    assert [(r.outcome, r.tick is None, r.host) for r in runs] == [("ok", True, services.jobs.host)]
    assert runs[0].finished_at is not None and "3 webhook logs" in (runs[0].detail or "")
    sample = services.metrics.registry.get_sample_value(
        "plex_tracker_job_runs_total", {"job": "prune", "outcome": "ok"}
    )
    assert sample == 1.0


async def test_retry_requeues_due_rows_and_gives_up_on_exhausted(
    services: Services, conn: asyncpg.Connection
) -> None:
    alice = await _user(conn)
    max_attempts = services.settings.retry_max_attempts
    past = datetime.now(UTC) - timedelta(minutes=1)
    due = await _log(
        conn, alice, age=DAY, status="failed", retryable=True, attempts=2, next_attempt_at=past
    )
    later = await _log(
        conn,
        alice,
        age=DAY,
        status="failed",
        retryable=True,
        attempts=2,
        next_attempt_at=datetime.now(UTC) + timedelta(hours=1),
    )
    exhausted = await _log(
        conn,
        alice,
        age=DAY,
        status="failed",
        retryable=True,
        attempts=max_attempts,
        next_attempt_at=past,
        error_message="TMDB unavailable (503)",
    )
    permanent = await _log(conn, alice, age=DAY, status="failed", retryable=False, attempts=1)

    result = await services.jobs.run("retry")

    assert result.outcome == "ok" and result.detail == "requeued 1, gave up on 1"
    rows = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, status, retryable, error_message FROM plex_webhook_logs"
        )
    }
    assert rows[due]["status"] == "pending"
    assert rows[later]["status"] == "failed" and rows[permanent]["status"] == "failed"
    assert rows[exhausted]["status"] == "failed" and not rows[exhausted]["retryable"]
    assert rows[exhausted]["error_message"] == (
        f"TMDB unavailable (503) (gave up after {max_attempts} attempts)"
    )
    told = await conn.fetch("SELECT user_id, kind, ref_id FROM notification_outbox")
    assert [tuple(r) for r in told] == [(alice, "failure", exhausted)]
    # Running again changes nothing more: the given-up row is not retryable any more.
    again = await services.jobs.run("retry")
    assert again.detail == "requeued 0, gave up on 0"


async def test_retry_requeues_scrobbles_left_behind_a_resolved_conflict(daemon: Daemon) -> None:
    """The safety net: a scrobble still held behind a conflict that is already resolved (what
    the join/resolve race used to leave, and a database from before the fix may still hold)
    goes back to the queue at the next retry run, is marked through the new mapping, and is
    counted in plex_tracker_held_requeued_total."""
    from core.services.conflicts import UseShow
    from tests.test_conflicts import legacy, raise_conflict, show, show_id, watched

    services = daemon.services
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("The Flash", 1990), show("The Flash", 2014)])
    modern = await show_id(daemon, user_id, "The Flash", 2014)
    conflict_id, _ = await raise_conflict(
        daemon, secret, [legacy("The Flash", "1201", 1)], "multiple_matches"
    )
    await services.conflicts.resolve(
        conflict_id, user_id=user_id, choice=UseShow(modern), resolved_by="api"
    )
    await services.worker.stop()
    answer = await daemon.post(legacy("The Flash", "1201", 2), secret)
    stranded = answer.json()["id"]
    await daemon.fetch(
        """UPDATE plex_webhook_logs SET held_by_conflict_id = $2, action_taken = 'held_for_conflict'
           WHERE id = $1""",
        stranded,
        conflict_id,
    )
    services.worker.start()

    result = await services.jobs.run("retry")

    assert result.outcome == "ok"
    assert result.detail == "requeued 0, gave up on 0, 1 found held behind resolved conflicts"
    row = await daemon.settled(stranded)
    assert (row["status"], row["action_taken"], row["tvshow_id"]) == (
        "success",
        "marked_watched",
        modern,
    )
    assert await watched(daemon, modern) == [1, 2]
    sample = services.metrics.registry.get_sample_value("plex_tracker_held_requeued_total")
    assert sample == 1.0
    again = await services.jobs.run("retry")
    assert again.detail == "requeued 0, gave up on 0"


async def test_refresh_airing_adds_new_episodes(daemon: Daemon) -> None:
    services = daemon.services
    user_id, _ = await daemon.connect()
    airing = daemon.tmdb.add_show(
        1399, "Still Airing", year=2020, seasons={1: 3}, status="Returning Series"
    )
    daemon.tmdb.add_show(2000, "Long Over", year=1999, seasons={1: 2}, status="Ended")
    async with services.pool.acquire() as conn:
        await services.catalog.add_from_tmdb(conn, user_id, 1399)
        await services.catalog.add_from_tmdb(conn, user_id, 2000)
    # TMDB publishes two new episodes of the airing show.
    airing.seasons[1] = daemon.tmdb._episodes(airing, 1, 5)
    services.tmdb.clear_cache()

    result = await services.jobs.run("refresh_airing")

    assert result.outcome == "ok"
    assert result.detail == "refreshed 1 airing shows, 2 new episodes, 0 failed"
    totals = {
        r["title"]: r["total_episodes"]
        for r in await daemon.fetch("SELECT title, total_episodes FROM tvshows")
    }
    assert totals == {"Still Airing": 5, "Long Over": 2}


async def test_refresh_airing_survives_a_show_gone_from_tmdb(daemon: Daemon) -> None:
    services = daemon.services
    user_id, _ = await daemon.connect()
    daemon.tmdb.add_show(1399, "Airing", year=2020, seasons={1: 2}, status="Returning Series")
    daemon.tmdb.add_show(1400, "Vanishing", year=2020, seasons={1: 2}, status="Returning Series")
    async with services.pool.acquire() as conn:
        await services.catalog.add_from_tmdb(conn, user_id, 1399)
        await services.catalog.add_from_tmdb(conn, user_id, 1400)
    del daemon.tmdb.shows[1400]
    services.tmdb.clear_cache()
    result = await services.jobs.run("refresh_airing")
    assert result.outcome == "partial"
    assert result.detail == "refreshed 1 airing shows, 0 new episodes, 1 failed"


async def test_metrics_gauges_follow_the_database(
    services: Services, conn: asyncpg.Connection
) -> None:
    alice = await _user(conn)
    for _ in range(4):
        await _log(conn, alice, age=timedelta(0), status="pending")
    await _conflict(conn, alice, "9", resolved_age=None)
    await services.jobs.refresh_metrics()
    sample = services.metrics.registry.get_sample_value
    assert sample("plex_tracker_queue_depth", {}) == 4
    assert sample("plex_tracker_conflicts_open", {}) == 1


async def test_a_tick_runs_once_and_a_held_lock_skips(
    services: Services, settings: Any, tmp_path: Path
) -> None:
    tick = datetime(2030, 1, 1, tzinfo=UTC)
    first = await services.jobs.run("retry", tick=tick)
    # A second process (its own pool and JobService) at the same tick: skipped.
    other_settings = make_settings(settings.database_url.get_secret_value(), tmp_path / "other")
    async with open_services(other_settings, pool_size=2) as other:
        second = await other.jobs.run("retry", tick=tick)
        assert (first.outcome, second.outcome) == ("ok", "skipped")
        # While one process holds a job's lock, another skips even a fresh tick.
        async with services.pool.acquire() as holder:
            assert await job_runs.try_lock(holder, "retry")
            try:
                blocked = await other.jobs.run("retry", tick=tick + timedelta(minutes=1))
            finally:
                await job_runs.unlock(holder, "retry")
        assert blocked.outcome == "skipped" and "another process" in blocked.detail
        after = await other.jobs.run("retry", tick=tick + timedelta(minutes=1))
        assert after.outcome == "ok"
    async with services.pool.acquire() as conn:
        runs = await job_runs.recent(conn, "retry")
    assert sorted(r.tick for r in runs if r.tick) == [tick, tick + timedelta(minutes=1)]


def test_ticks_are_shared_wall_clock_instants() -> None:
    t = ANCHOR + timedelta(days=9000, seconds=120)
    assert tick_of(t, 60) == t
    assert tick_of(t + timedelta(seconds=59), 60) == t
    assert tick_of(t - timedelta(seconds=0.1), 60) == t  # a timer waking a hair early
    assert tick_of(t + timedelta(hours=5), 86400) == ANCHOR + timedelta(days=9000)


async def test_scheduler_fires_jobs_and_stops_cleanly(clean_db: str, tmp_path: Path) -> None:
    settings = make_settings(
        clean_db,
        tmp_path,
        JOB_RETRY_SECONDS=1,
        JOB_METRICS_SECONDS=1,
        JOB_PRUNE_SECONDS=3600,
        JOB_REFRESH_SECONDS=3600,
    )
    async with open_services(settings) as services:
        scheduler = Scheduler(services.jobs, services.metrics, settings)
        scheduler.start()
        assert scheduler.status() == "ok"
        try:
            async with asyncio.timeout(10):
                while True:
                    async with services.pool.acquire() as conn:
                        runs = await job_runs.recent(conn, "retry")
                    if len(runs) >= 2:
                        break
                    await asyncio.sleep(0.2)
        finally:
            await scheduler.stop()
        assert scheduler.status() == "stopped"
    ticks = [r.tick for r in runs]
    assert all(t is not None and t.microsecond == 0 for t in ticks)
    assert len(set(ticks)) == len(ticks)
    assert services.metrics.registry.get_sample_value(
        "plex_tracker_job_runs_total", {"job": "metrics", "outcome": "ok"}
    )


async def test_prune_stops_at_a_batch_boundary_when_asked(
    services: Services, conn: asyncpg.Connection
) -> None:
    alice = await _user(conn)
    await conn.execute(
        """INSERT INTO plex_webhook_logs (user_id, status, created_at)
           SELECT $1, 'success', now() - interval '100 days' FROM generate_series(1, 50)""",
        alice,
    )
    jobs: JobService = services.jobs
    jobs.stop()
    result = await jobs.prune(conn, batch_size=10)
    assert result.interrupted and result.logs == 0
    assert await conn.fetchval("SELECT count(*) FROM plex_webhook_logs") == 50


# -- the CLI ------------------------------------------------------------------------------


async def test_cli_prune_prints_what_it_removed(cli_env: dict[str, str]) -> None:
    conn = await asyncpg.connect(cli_env["DATABASE_URL"])
    try:
        alice = await _user(conn)
        await conn.execute(
            """INSERT INTO plex_webhook_logs (user_id, status, created_at)
               SELECT $1, 'ignored', now() - interval '91 days' FROM generate_series(1, 12)""",
            alice,
        )
    finally:
        await conn.close()
    done = await asyncio.to_thread(run_cli, "prune", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("removed 12 webhook logs, 0 resolved conflicts")


async def test_cli_replay_requeues_and_processes(cli_env: dict[str, str]) -> None:
    conn = await asyncpg.connect(cli_env["DATABASE_URL"])
    try:
        alice = await _user(conn)
        # Not connected to Plex any more: processing settles it as ignored, not failed.
        payload = scrobble(episode())
        log_id = await conn.fetchval(
            """INSERT INTO plex_webhook_logs (user_id, status, event_type, payload, retryable)
               VALUES ($1, 'failed', 'media.scrobble', $2::jsonb, false) RETURNING id""",
            alice,
            json.dumps(payload),
        )
    finally:
        await conn.close()
    done = await asyncio.to_thread(run_cli, "replay", env=cli_env)
    assert done.returncode == 0, done.stderr
    first, *table = done.stdout.strip().splitlines()
    assert first == (
        "requeued 1 failed scrobbles: 0 marked watched, 1 not marked; processed 1 queued rows"
    )
    # ... and why it was not marked.
    assert table[0].split() == ["log", "episode", "why", "it", "was", "not", "marked"]
    assert table[-1].split(maxsplit=2) == [str(log_id), "?", "ignored: Plex is no longer connected"]
    conn = await asyncpg.connect(cli_env["DATABASE_URL"])
    try:
        row = await conn.fetchrow(
            "SELECT status, action_taken FROM plex_webhook_logs WHERE id = $1", log_id
        )
    finally:
        await conn.close()
    assert tuple(row) == ("ignored", "not_connected")


async def test_cli_api_token_prints_it_last_and_stores_only_its_hash(
    cli_env: dict[str, str],
) -> None:
    conn = await asyncpg.connect(cli_env["DATABASE_URL"])
    try:
        await _user(conn, "bob")
    finally:
        await conn.close()
    done = await asyncio.to_thread(run_cli, "api-token", "--user", "bob", env=cli_env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("ptk_") and len(token) > 40
    conn = await asyncpg.connect(cli_env["DATABASE_URL"])
    try:
        stored = await conn.fetch("SELECT token_hash FROM api_tokens")
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM api_tokens t")
    finally:
        await conn.close()
    assert [r["token_hash"] for r in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in dump
    missing = await asyncio.to_thread(run_cli, "api-token", "--user", "nobody", env=cli_env)
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr

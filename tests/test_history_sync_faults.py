"""History sync when things go wrong: the server going down mid-run (and the next run
resuming where it stopped), a revoked token, webhooks and a second process syncing the
same user at the same moment. Real PostgreSQL, the fake Plex server over loopback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiohttp import web

from app.runtime import open_services
from app.scheduler import Scheduler
from core.db import sync_state
from tests.conftest import make_settings
from tests.fakes.plex_server import DEFAULT_TOKEN
from tests.harness import Daemon
from tests.history_support import (
    T0,
    history_requests,
    leaves_requests,
    plex_show,
    totals_consistent,
    tracker_show,
)
from tests.plex_payloads import episode, scrobble

BOB = 24680


async def many_shows(daemon: Daemon, user_id: int, shows: int, episodes: int) -> list[object]:
    """`shows` shows of `episodes` episodes each, in the tracker and on Plex, mapped by id."""
    await daemon.import_shows(
        user_id,
        [
            tracker_show(f"Show {i:03d}", 2000 + i % 20, 10_000 + i, {1: episodes})
            for i in range(shows)
        ],
    )
    return [
        plex_show(
            daemon.plex_server,
            1000 + i,
            f"Show {i:03d}",
            2000 + i % 20,
            {1: episodes},
            tmdb_id=10_000 + i,
        )
        for i in range(shows)
    ]


async def watched_count(daemon: Daemon, user_id: int) -> int:
    rows = await daemon.fetch(
        """SELECT count(*) AS n FROM tvshow_episodes e JOIN tvshows s ON s.id = e.tvshow_id
           WHERE s.user_id = $1 AND e.watched""",
        user_id,
    )
    return int(rows[0]["n"])


async def test_server_down_in_the_library_pass_then_the_next_run_resumes(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    shows = await many_shows(daemon, user_id, 60, 2)
    plex = daemon.plex_server
    for i, show in enumerate(shows):
        plex.watch(show.ep(1, 1).rating_key, viewed_at=T0 + i)
    fetched = 0

    def thirtieth_episode_list(request: web.Request) -> bool:
        nonlocal fetched
        fetched += request.path.endswith("/allLeaves")
        return fetched == 30  # the second batch of 25 shows is being read

    plex.goes_down = thirtieth_episode_list
    failed = await daemon.services.history.run_now(user_id, trigger="cli")
    assert failed is not None and failed.state == "failed"
    assert failed.error is not None and "HTTP 503" in failed.error, failed.error
    # The first batch was applied whole; the second not at all: no half-marked batch.
    assert failed.episodes_marked == 25 and await watched_count(daemon, user_id) == 25
    assert await totals_consistent(daemon, user_id) == []

    plex.down = False
    plex.requests.clear()
    resumed = await daemon.services.history.run_now(user_id, trigger="cli")
    assert resumed is not None and resumed.state == "succeeded", resumed.error
    assert resumed.episodes_marked == 35 and await watched_count(daemon, user_id) == 60
    # Only the 35 shows not done yet were read again.
    assert len(leaves_requests(plex)) == 35
    assert await totals_consistent(daemon, user_id) == []


async def test_server_down_in_the_history_then_the_next_run_continues_where_it_stopped(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice", accounts=["1", "bob"])
    shows = await many_shows(daemon, user_id, 25, 100)
    plex = daemon.plex_server
    plex.add_account(BOB, "bob")
    plays = [(show, n) for show in shows for n in range(1, 101)]
    for i, (show, n) in enumerate(plays):
        plex.watch(show.ep(1, n).rating_key, account_id=BOB, viewed_at=T0 + i)

    def second_page(request: web.Request) -> bool:
        return (
            request.path == "/status/sessions/history/all"
            and request.headers.get("X-Plex-Container-Start") == "1000"
        )

    plex.goes_down = second_page
    failed = await daemon.services.history.run_now(user_id, trigger="cli")
    assert failed is not None and failed.state == "failed" and "HTTP 503" in (failed.error or "")
    assert failed.episodes_marked == 1000 and await watched_count(daemon, user_id) == 1000
    async with daemon.services.pool.acquire() as conn:
        cursor = await sync_state.cursor(conn, user_id, plex.machine_identifier, str(BOB))
    assert cursor.resuming and cursor.resume_offset == 1000 and cursor.watermark is None
    assert cursor.resume_newest is not None
    assert int(cursor.resume_newest.timestamp()) == T0 + len(plays) - 1

    plex.down = False
    plex.requests.clear()
    resumed = await daemon.services.history.run_now(user_id, trigger="cli")
    assert resumed is not None and resumed.state == "succeeded", resumed.error
    assert resumed.episodes_marked == 1500 and await watched_count(daemon, user_id) == 2500
    bobs = [r for r in history_requests(plex) if r.query.get("accountID") == str(BOB)]
    assert [r.header("X-Plex-Container-Start") for r in bobs] == ["1000", "2000"]
    async with daemon.services.pool.acquire() as conn:
        cursor = await sync_state.cursor(conn, user_id, plex.machine_identifier, str(BOB))
    assert not cursor.resuming and cursor.watermark is not None
    assert int(cursor.watermark.timestamp()) == T0 + len(plays) - 1
    assert await totals_consistent(daemon, user_id) == []


async def test_a_revoked_token_fails_the_run_and_tells_the_owner_once(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    await many_shows(daemon, user_id, 1, 1)
    daemon.plex_server.tokens.clear()  # the owner signed out of every device

    first = await daemon.services.history.run_now(user_id, trigger="job")
    assert first is not None and first.state == "failed"
    assert first.error is not None and "refused" in first.error and DEFAULT_TOKEN not in first.error
    second = await daemon.services.history.run_now(user_id, trigger="job")
    assert second is not None and second.state == "failed"
    notices = await daemon.fetch("SELECT kind, ref_id FROM notification_outbox")
    assert [(n["kind"], n["ref_id"]) for n in notices] == [("sync_failed", first.id)]
    # The job leaves the user alone until they reconnect.
    async with daemon.services.pool.acquire() as conn:
        assert await sync_state.users_to_sync(conn) == []
    daemon.plex_server.add_token(DEFAULT_TOKEN)
    await daemon.connect("alice")
    async with daemon.services.pool.acquire() as conn:
        assert await sync_state.users_to_sync(conn) == [user_id]
    ok = await daemon.services.history.run_now(user_id, trigger="job")
    assert ok is not None and ok.state == "succeeded"


async def test_webhooks_and_two_processes_syncing_at_once_count_each_episode_once(
    daemon: Daemon, clean_db: str, tmp_path: Path
) -> None:
    user_id, secret = await daemon.connect("alice")
    (show,) = await many_shows(daemon, user_id, 1, 40)
    plex = daemon.plex_server
    for n in range(1, 41):
        plex.watch(show.ep(1, n).rating_key, viewed_at=T0 + n)
    # Map the show first (a webhook would too), so every path below marks at once.
    plex.watch(show.ep(1, 1).rating_key, viewed_at=T0)
    async with daemon.services.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO plex_show_mappings (user_id, plex_rating_key, plex_title,
                   tvshow_id, match_method)
               SELECT $1, '1000', 'Show 000', id, 'tmdb_id' FROM tvshows WHERE user_id = $1""",
            user_id,
        )
    tvshow_id = (await daemon.fetch("SELECT id FROM tvshows"))[0]["id"]
    settings = make_settings(
        clean_db,
        tmp_path / "second",
        TMDB_BASE_URL=daemon.tmdb.base_url,
        PLEX_TV_BASE_URL=daemon.plextv.base_url,
    )
    # Hold the show's row: every marker (webhooks, both syncs) gets as far as wanting it,
    # then all go at once when it is released.
    blocker = await asyncpg.connect(clean_db)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("SELECT 1 FROM tvshows WHERE id = $1 FOR UPDATE", tvshow_id)
        async with open_services(settings) as second:
            payloads = [
                scrobble(
                    episode(
                        show="Show 000",
                        show_key="1000",
                        season=1,
                        number=n,
                        item_key=show.ep(1, n).rating_key,
                    )
                )
                for n in range(1, 41, 3)
            ]
            answers = await asyncio.gather(*(daemon.post(p, secret) for p in payloads))
            runs = [
                asyncio.create_task(daemon.services.history.run_now(user_id, trigger="cli")),
                asyncio.create_task(second.history.run_now(user_id, trigger="cli")),
            ]
            await asyncio.sleep(1.0)
            await tx.rollback()
            finished = await asyncio.gather(*runs)
            rows = [await daemon.settled(a.json()["id"]) for a in answers]
    finally:
        await blocker.close()
    assert all(r is not None and r.state == "succeeded" for r in finished), finished
    by_webhook = sum(1 for r in rows if r["action_taken"] == "marked_watched")
    by_sync = sum(r.episodes_marked for r in finished if r is not None)
    assert {r["status"] for r in rows} == {"success"}
    assert by_webhook + by_sync == 40, (by_webhook, by_sync)
    assert await watched_count(daemon, user_id) == 40
    assert await totals_consistent(daemon, user_id) == []


async def test_the_sync_job_runs_once_per_tick_across_processes(
    daemon: Daemon, clean_db: str, tmp_path: Path
) -> None:
    user_id, _ = await daemon.connect("alice")
    (show,) = await many_shows(daemon, user_id, 1, 3)
    daemon.plex_server.watch(show.ep(1, 2).rating_key, viewed_at=T0)
    settings = make_settings(
        clean_db,
        tmp_path / "second",
        TMDB_BASE_URL=daemon.tmdb.base_url,
        PLEX_TV_BASE_URL=daemon.plextv.base_url,
    )
    tick = datetime(2030, 1, 1, tzinfo=UTC)
    async with open_services(settings) as second:
        results = await asyncio.gather(
            daemon.services.jobs.run("sync", tick=tick), second.jobs.run("sync", tick=tick)
        )
    assert sorted(r.outcome for r in results) == ["ok", "skipped"], results
    runs = await daemon.fetch("SELECT trigger, state, episodes_marked FROM plex_sync_runs")
    assert [(r["trigger"], r["state"], r["episodes_marked"]) for r in runs] == [
        ("job", "succeeded", 1)
    ]
    recorded = await daemon.fetch("SELECT tick, outcome FROM job_runs WHERE job = 'sync'")
    assert [(r["tick"], r["outcome"]) for r in recorded] == [(tick, "ok")]


async def test_job_sync_seconds_schedules_the_job_and_zero_turns_it_off(
    clean_db: str, tmp_path: Path
) -> None:
    for seconds, scheduled in ((3600, True), (0, False)):
        settings = make_settings(clean_db, tmp_path, JOB_SYNC_SECONDS=seconds)
        async with open_services(settings) as services:
            scheduler = Scheduler(services.jobs, services.metrics, settings)
            scheduler.start()
            try:
                jobs = {j.id: j for j in scheduler._scheduler.get_jobs()}  # type: ignore[union-attr]
                assert ("sync" in jobs) is scheduled and "retry" in jobs
                if scheduled:
                    assert jobs["sync"].trigger.interval.total_seconds() == 3600
            finally:
                await scheduler.stop()

"""The tracker's core services against real PostgreSQL, the real webhook path over loopback
HTTP and the TMDB fake: marking by hand under the webhook path's locks, history sources,
up next, browsing, new-episode notices once across processes, now watching, the chart."""

from __future__ import annotations

import asyncio
import io
import random
import struct
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from PIL import Image

from app.runtime import open_services
from core.db import tv_marks, tvshows
from core.errors import InvalidInputError, NotFoundError
from core.tracker import notices
from core.tracker.activity import activity_from
from core.tracker.chart import render_activity_png
from core.tracker.service import TrackerService
from tests.harness import Daemon
from tests.plex_payloads import OWNER, SHARED, event, legacy_episode, scrobble

TODAY = datetime.now(UTC).date()
SEVERANCE = 95396


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def add_severance(daemon: Daemon, *, s2_aired: int = 4) -> None:
    """Season 1 (9 episodes, 2022), season 2 with `s2_aired` episodes out (one a week, the
    latest yesterday) and the rest still to come."""
    season2 = []
    for n in range(1, 11):
        weeks = s2_aired - n
        season2.append(
            {"name": f"S2 episode {n}", "air_date": days_ago(7 * weeks + 1), "runtime": 50}
        )
    daemon.tmdb.add_show(
        SEVERANCE,
        "Severance",
        first_air_date="2022-02-18",
        status="Returning Series",
        tvdb_id=371980,
        seasons={
            0: [{"name": "Main Title", "air_date": "2022-02-01", "runtime": 3}],
            1: [
                {"name": f"S1 episode {n}", "air_date": "2022-03-01", "runtime": 55}
                for n in range(1, 10)
            ],
            2: season2,
        },
    )


async def totals_match_rows(daemon: Daemon, show_id: int) -> tuple[int, int]:
    [row] = await daemon.fetch(
        """SELECT t.watched_episodes, t.total_minutes,
                  (SELECT count(*) FROM tvshow_episodes WHERE tvshow_id = t.id AND watched) AS rows,
                  (SELECT COALESCE(sum(runtime), 0) FROM tvshow_episodes
                    WHERE tvshow_id = t.id AND watched) AS minutes
           FROM tvshows t WHERE t.id = $1""",
        show_id,
    )
    assert (row["watched_episodes"], row["total_minutes"]) == (row["rows"], row["minutes"]), dict(
        row
    )
    return row["rows"], row["minutes"]


async def test_add_mark_unmark_scopes_and_sources(daemon: Daemon) -> None:
    add_severance(daemon)
    user_id, secret = await daemon.connect()
    tracker = daemon.services.tracker
    added = await tracker.add_show(user_id, SEVERANCE)
    show = added.detail.show
    assert added.created and show.source == "tmdb"
    assert (show.total, show.aired, show.watched) == (19, 13, 0)  # specials not counted
    assert added.detail.poster_url == f"https://image.tmdb.org/t/p/w342/poster{SEVERANCE}.jpg"
    again = await tracker.add_show(user_id, SEVERANCE)
    assert not again.created and again.detail.show.id == show.id

    # A whole season, then "up to here" across seasons: unaired episodes are skipped.
    season = await tracker.mark(user_id, show.id, scope="season", season=1)
    assert (season.targeted, season.changed, season.what) == (9, 9, "season 1")
    upto = await tracker.mark(user_id, show.id, scope="up_to", season=2, episode=10)
    assert (upto.targeted, upto.changed) == (13, 4)  # 9 already watched, 6 not aired yet
    assert await totals_match_rows(daemon, show.id) == (13, 9 * 55 + 4 * 50)
    assert upto.detail.next is None and upto.detail.upcoming is not None
    assert upto.detail.upcoming.code == "S02E05"

    # Unmark the last one watched (no episode given), then the whole of season 2.
    undone = await tracker.mark(user_id, show.id, watched=False)
    assert (undone.season, undone.episode, undone.changed) == (2, 4, 1)
    assert undone.detail.next is not None and undone.detail.next.code == "S02E04"
    await tracker.mark(user_id, show.id, watched=False, scope="season", season=2)
    assert await totals_match_rows(daemon, show.id) == (9, 9 * 55)
    # Marking a single unaired episode by name is allowed (an early screening).
    early = await tracker.mark(user_id, show.id, season=2, episode=7)
    assert early.changed == 1

    # A scrobble from Plex (legacy TMDB agent) is recorded as 'webhook'.
    meta = legacy_episode("themoviedb", str(SEVERANCE), 2, 1, show="Severance", show_key="5001")
    answer = await daemon.post(scrobble(meta), secret)
    row = await daemon.settled(answer.json()["id"])
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    # And the history sync names itself with tv_marks.use_source.
    async with daemon.services.pool.acquire() as conn, conn.transaction():
        await tv_marks.use_source(conn, "history")
        await tvshows.mark_episode_watched(conn, show.id, 2, 2, datetime.now(UTC))
    history = await tracker.history(user_id, 1)
    sources = {w.code: w.source for w in history.watches}
    assert sources["S02E01"] == "webhook" and sources["S02E02"] == "history"
    assert sources["S02E07"] == "manual" and sources["S01E01"] == "manual"
    assert history.total == 12 and history.watches[0].watched_at >= history.watches[-1].watched_at
    await totals_match_rows(daemon, show.id)

    # Bad and unknown input: a clear error and nothing changed.
    with pytest.raises(NotFoundError, match="has no S02E40"):
        await tracker.mark(user_id, show.id, season=2, episode=40)
    with pytest.raises(InvalidInputError, match="both season and episode"):
        await tracker.mark(user_id, show.id, season=2)
    with pytest.raises(InvalidInputError, match="between 0 and"):
        await tracker.mark(user_id, show.id, season=-1, episode=1)
    other_id, _ = await daemon.connect("bob")
    with pytest.raises(NotFoundError):  # another user's show id is simply unknown
        await tracker.mark(other_id, show.id, season=2, episode=3)
    with pytest.raises(NotFoundError, match="No show called"):
        await tracker.resolve_show(user_id, "Succession")
    assert (await tracker.resolve_show(user_id, "severance")).id == show.id
    assert await totals_match_rows(daemon, show.id) == (12, 9 * 55 + 3 * 50)


async def _wait_until_blocked(daemon: Daemon, query_start: str) -> None:
    """Until a backend running `query_start…` waits for a lock."""
    async with asyncio.timeout(10):
        while True:
            rows = await daemon.fetch(
                """SELECT 1 FROM pg_stat_activity
                   WHERE wait_event_type = 'Lock' AND query LIKE $1 || '%'""",
                query_start,
            )
            if rows:
                return
            await asyncio.sleep(0.02)


async def test_manual_mark_recount_sees_a_scrobble_committed_while_it_waited(
    daemon: Daemon,
) -> None:
    """The unlucky interleaving, forced: a scrobble has marked an episode and holds the show
    row when the manual mark arrives. The recount must run after that scrobble commits and
    see its watch (a recount whose snapshot predates the wait would miss it and store one
    episode too few)."""
    add_severance(daemon)
    user_id, _ = await daemon.connect()
    tracker = daemon.services.tracker
    show = (await tracker.add_show(user_id, SEVERANCE)).detail.show
    scrobbler = await asyncpg.connect(daemon.dsn)
    try:
        webhook = scrobbler.transaction()
        await webhook.start()
        assert (
            await scrobbler.fetchval("SELECT plex_mark_episode($1, 1, 1, now())", show.id) is False
        )  # marked and counted, show row locked, not committed
        manual = asyncio.create_task(tracker.mark(user_id, show.id, season=1, episode=2))
        await _wait_until_blocked(daemon, "SELECT targeted, changed FROM tracker_set_watched")
        await webhook.commit()
        result = await manual
    finally:
        await scrobbler.close()
    assert result.changed == 1
    assert await totals_match_rows(daemon, show.id) == (2, 110)
    assert result.detail.show.watched == 2


async def test_manual_mark_takes_the_show_first_like_every_writer(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """A scrobble holds the show (and its episode) and goes on to mark S01E02 while a manual
    mark of S01E02 waits. Locking S01E02 before the show (as this function once did) makes
    the two wait for each other: PostgreSQL aborts one (a deadlock). Show first, never."""
    add_severance(daemon)
    user_id, _ = await daemon.connect()
    tracker = daemon.services.tracker
    show = (await tracker.add_show(user_id, SEVERANCE)).detail.show
    scrobbler = await asyncpg.connect(daemon.dsn)
    try:
        webhook = scrobbler.transaction()
        await webhook.start()
        await scrobbler.fetchval("SELECT plex_mark_episode($1, 1, 1, now())", show.id)
        manual = asyncio.create_task(tracker.mark(user_id, show.id, season=1, episode=2))
        await _wait_until_blocked(daemon, "SELECT targeted, changed FROM tracker_set_watched")
        # The scrobble's next mark must not find S01E02 held by the waiting manual mark.
        assert (
            await scrobbler.fetchval("SELECT plex_mark_episode($1, 1, 2, now())", show.id) is False
        )
        await webhook.commit()
        result = await manual
    finally:
        await scrobbler.close()
    assert "deadlock" not in caplog.text
    assert (result.targeted, result.changed) == (1, 0)  # the scrobble marked it first
    assert await totals_match_rows(daemon, show.id) == (2, 110)


async def test_totals_equal_watched_rows_under_concurrent_webhook_and_manual_marks(
    daemon: Daemon,
) -> None:
    add_severance(daemon, s2_aired=10)
    user_id, _ = await daemon.connect()
    tracker = daemon.services.tracker
    show = (await tracker.add_show(user_id, SEVERANCE)).detail.show
    pool = daemon.services.pool
    rng = random.Random(13)
    episodes = [(1, n) for n in range(1, 10)] + [(2, n) for n in range(1, 11)]

    async def scrobble_one(season: int, number: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await tvshows.mark_episode_watched(conn, show.id, season, number, datetime.now(UTC))

    async def by_hand() -> None:
        season, number = rng.choice(episodes)
        scope = rng.choice(["episode", "season", "up_to"])
        await tracker.mark(
            user_id, show.id, watched=rng.random() < 0.5, scope=scope, season=season, episode=number
        )

    for _ in range(6):
        work: list[Any] = [scrobble_one(*rng.choice(episodes)) for _ in range(25)]
        work += [by_hand() for _ in range(10)]
        rng.shuffle(work)
        await asyncio.gather(*work)
        await totals_match_rows(daemon, show.id)


async def test_up_next_browse_and_find(daemon: Daemon) -> None:
    add_severance(daemon)
    daemon.tmdb.add_show(
        2316,
        "The Office",
        first_air_date="2005-03-24",
        seasons={1: [{"air_date": "2005-03-24", "runtime": 22}] * 6},
    )
    daemon.tmdb.add_show(1399, "Game of Thrones", first_air_date="2011-04-17", seasons={1: 10})
    user_id, _ = await daemon.connect()
    tracker = daemon.services.tracker
    sev = (await tracker.add_show(user_id, SEVERANCE)).detail.show
    office = (await tracker.add_show(user_id, 2316)).detail.show
    got = (await tracker.add_show(user_id, 1399)).detail.show
    # Severance: watched up to S02E02 two weeks ago; S02E03 aired since (a week ago).
    await tracker.mark(user_id, sev.id, scope="up_to", season=2, episode=2)
    await daemon.fetch(
        "UPDATE tvshow_episodes SET date_watched = now() - interval '15 days' WHERE tvshow_id = $1",
        sev.id,
    )
    # The Office: started at episode 3 and watched just now: next is 4, not 1.
    await tracker.mark(user_id, office.id, season=1, episode=3)
    items = await tracker.up_next(user_id)
    assert [(i.show.title, i.next.code, i.new_since_last_watch) for i in items] == [
        ("Severance", "S02E03", True),
        ("The Office", "S01E04", False),
    ]
    # Finish The Office's later episodes: only the gap (1, 2) is left, so it comes back.
    await tracker.mark(user_id, office.id, scope="up_to", season=1, episode=6)
    await tracker.mark(user_id, office.id, watched=False, season=1, episode=2)
    office_next = (await tracker.up_next(user_id))[1]
    assert office_next.next.code == "S01E02"
    # Abandoned shows leave up next.
    await tracker.set_abandoned(user_id, sev.id, True)
    assert [i.show.title for i in await tracker.up_next(user_id)] == ["The Office"]

    page = await tracker.shows(user_id, show_filter="all", sort="title")
    assert [(s.title, s.state) for s in page.items] == [
        ("Game of Thrones", "not_started"),
        ("Severance", "abandoned"),
        ("The Office", "watching"),
    ]
    await tracker.mark(user_id, office.id, season=1, episode=2)
    await tracker.mark(user_id, office.id, season=1, episode=1)
    finished = await tracker.shows(user_id, show_filter="finished")
    assert [s.title for s in finished.items] == ["The Office"]
    watching = await tracker.shows(user_id, show_filter="watching")
    assert watching.items == [] and watching.pages == 1
    not_started = await tracker.shows(user_id, show_filter="not_started", page=99)
    assert [s.id for s in not_started.items] == [got.id] and not_started.page == 0
    assert [s.title for s in await tracker.find_shows(user_id, "th")] == [
        "The Office",  # prefix before substring
        "Game of Thrones",
    ]
    assert [s.title for s in await tracker.find_shows(user_id, "100%_")] == []


async def _user_with_discord(daemon: Daemon, name: str, discord_id: int | None) -> int:
    user_id, _ = await daemon.connect(name)
    if discord_id is not None:
        await daemon.fetch("UPDATE users SET discord_id = $2 WHERE id = $1", user_id, discord_id)
    return user_id


async def test_new_episode_notices_once_per_show_and_day_across_processes(daemon: Daemon) -> None:
    add_severance(daemon, s2_aired=3)
    # Episodes 3 and 4 of season 2 both air "yesterday" here: one notice, both episodes.
    daemon.tmdb.shows[SEVERANCE].seasons[2][3]["air_date"] = days_ago(1)
    daemon.tmdb.add_show(2316, "The Office", first_air_date="2005-03-24", seasons={1: 3})
    tracker = daemon.services.tracker
    alice = await _user_with_discord(daemon, "alice", 1001)
    bob = await _user_with_discord(daemon, "bob", 1002)  # hasn't started Severance
    carol = await _user_with_discord(daemon, "carol", None)  # CLI only: nobody to tell
    dave = await _user_with_discord(daemon, "dave", 1004)  # turned notices off
    erin = await _user_with_discord(daemon, "erin", 1005)  # muted this show
    frank = await _user_with_discord(daemon, "frank", 1006)  # abandoned it
    shows = {}
    for user in (alice, bob, carol, dave, erin, frank):
        shows[user] = (await tracker.add_show(user, SEVERANCE)).detail.show.id
        if user != bob:
            await tracker.mark(user, shows[user], scope="season", season=1)
    await tracker.set_notify(dave, new_episodes=False)
    await tracker.set_show_notify(erin, shows[erin], False)
    await tracker.set_abandoned(frank, shows[frank], True)

    # Two processes run the refresh job's tail at the same moment.
    async with open_services(daemon.services.settings) as other:
        now = datetime.now(UTC)

        async def run(pool: asyncpg.Pool) -> notices.Queued:
            async with pool.acquire() as conn:
                return await notices.queue_due(conn, now)

        first, second = await asyncio.gather(run(daemon.services.pool), run(other.pool))
    assert first.new_episodes + second.new_episodes == 1
    rows = await daemon.fetch(
        """SELECT n.user_id, n.tvshow_id, n.air_date, n.episodes, o.kind
           FROM tv_episode_notices n JOIN notification_outbox o ON o.ref_id = n.id"""
    )
    assert [(r["user_id"], r["air_date"], list(r["episodes"]), r["kind"]) for r in rows] == [
        (alice, TODAY - timedelta(days=1), ["S02E03", "S02E04"], "new_episode")
    ]
    # The next runs (later that day, the next day) add nothing more for that air date.
    async with daemon.services.pool.acquire() as conn:
        assert (await notices.queue_due(conn, now + timedelta(hours=6))).new_episodes == 0
        assert (await notices.queue_due(conn, now + timedelta(days=1))).new_episodes == 0


async def test_now_watching_from_playback_events(daemon: Daemon) -> None:
    user_id, secret = await daemon.connect()
    tracker = daemon.services.tracker
    meta = legacy_episode("thetvdb", "371980", 2, 3, show="Severance", show_key="5001")
    meta.update(duration=3_000_000, viewOffset=600_000, title="Who Is Alive?")
    # Alice plays then pauses; Bob (a shared account she doesn't follow) plays too.
    for name, who in (("media.play", OWNER), ("media.pause", OWNER), ("media.play", SHARED)):
        answer = await daemon.post(event(name, meta, account=who), secret)
        assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    [session] = await tracker.now_watching(user_id)
    assert (session.account, session.state, session.title) == ("alice", "paused", "Severance")
    assert (session.episode_code, session.episode_title) == ("S02E03", "Who Is Alive?")
    assert (session.position_ms, session.duration_ms) == (600_000, 3_000_000)
    assert session.player == "Plex Web (Chrome)"
    await daemon.post(event("media.resume", meta), secret)
    [session] = await tracker.now_watching(user_id)
    assert session.state == "playing" and session.position_ms is not None
    assert 600_000 <= session.position_ms < 700_000
    await daemon.post(event("media.stop", meta), secret)
    assert await tracker.now_watching(user_id) == []
    # Never tracker history: nothing was marked.
    assert await daemon.fetch("SELECT 1 FROM tvshow_episodes WHERE watched") == []
    # A play long past the item's end (a lost media.stop) no longer counts.
    await daemon.post(event("media.play", meta), secret)
    later = TrackerService(
        pool=daemon.services.pool,
        tmdb=daemon.services.tmdb,
        catalog=daemon.services.catalog,
        clock=lambda: datetime.now(UTC) + timedelta(hours=1),
    )
    assert await later.now_watching(user_id) == []


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:8]
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def test_activity_and_chart(daemon: Daemon) -> None:
    add_severance(daemon, s2_aired=10)
    daemon.tmdb.add_show(2316, "進撃の巨人 $pecial", first_air_date="2013-04-07", seasons={1: 25})
    user_id, _ = await daemon.connect()
    tracker = daemon.services.tracker
    sev = (await tracker.add_show(user_id, SEVERANCE)).detail.show
    other = (await tracker.add_show(user_id, 2316)).detail.show
    await tracker.mark(user_id, sev.id, scope="season", season=1)
    await tracker.mark(user_id, other.id, scope="up_to", season=1, episode=5)
    await daemon.fetch(
        """UPDATE tvshow_episodes SET date_watched = now() - interval '3 days'
           WHERE tvshow_id = $1 AND episode <= 3""",
        other.id,
    )
    activity = await tracker.activity(user_id, 30)
    assert (activity.episodes, activity.shows) == (14, 2)
    assert activity.minutes == 9 * 55 + 5 * 30
    assert [s.name for s in activity.series] == ["Severance", "進撃の巨人 $pecial"]
    assert sum(activity.series[1].episodes[-4:]) == 5 and activity.series[1].episodes[-4] == 3
    assert activity.days[-1] == TODAY and len(activity.days) == 30
    png = await asyncio.to_thread(render_activity_png, activity, title="alice · last 30 days")
    assert _png_size(png) == (800, 360)
    assert 5_000 < len(png) < 200_000
    with Image.open(io.BytesIO(png)) as image:
        image.load()  # decodes every pixel
        assert image.size == (800, 360)
    empty = activity_from([], TODAY, 7)
    assert empty.empty and _png_size(render_activity_png(empty, title="nothing")) == (800, 360)


async def test_weekly_recap_numbers(daemon: Daemon) -> None:
    add_severance(daemon, s2_aired=10)
    user_id, _ = await daemon.connect()
    tracker = daemon.services.tracker
    sev = (await tracker.add_show(user_id, SEVERANCE)).detail.show
    week = notices.last_week_start(TODAY)
    await tracker.mark(user_id, sev.id, scope="up_to", season=2, episode=10)
    # One episode a day on Monday-Wednesday, the rest (the finale included) on Saturday.
    for n, offset in ((1, 0), (2, 1), (3, 2)):
        await daemon.fetch(
            """UPDATE tvshow_episodes SET date_watched = $2 WHERE tvshow_id = $1
               AND season = 2 AND episode = $3""",
            sev.id,
            datetime.combine(week + timedelta(days=offset), datetime.min.time(), UTC)
            + timedelta(hours=20),
            n,
        )
    await daemon.fetch(
        """UPDATE tvshow_episodes SET date_watched = $2
           WHERE tvshow_id = $1 AND NOT (season = 2 AND episode <= 3)""",
        sev.id,
        datetime.combine(week + timedelta(days=5), datetime.min.time(), UTC),
    )
    stats = await tracker.recap(user_id, week)
    assert (stats.activity.episodes, stats.activity.shows) == (19, 1)
    assert stats.finished == ("Severance",) and stats.top_show == "Severance"
    assert (stats.streak, stats.longest_in_week) == (1, 3)


def test_streaks_and_activity_are_pure() -> None:
    start = date(2025, 1, 6)
    assert notices.last_week_start(date(2025, 1, 15)) == start  # a Wednesday
    assert notices.last_week_start(date(2025, 1, 13)) == start  # a Monday
    from core.tracker.activity import streak_ending

    days = [date(2025, 1, 12), date(2025, 1, 11), date(2025, 1, 10), date(2025, 1, 8)]
    assert streak_ending(days, date(2025, 1, 12)) == 3
    assert streak_ending(days, date(2025, 1, 9)) == 0


async def test_refresh_job_finds_a_new_episode_and_queues_its_notice(daemon: Daemon) -> None:
    add_severance(daemon, s2_aired=3)
    user_id = await _user_with_discord(daemon, "alice", 1001)
    tracker = daemon.services.tracker
    show = (await tracker.add_show(user_id, SEVERANCE)).detail.show
    await tracker.mark(user_id, show.id, scope="up_to", season=2, episode=3)
    # TMDB now lists episode 11, aired today (a surprise drop), unknown to the tracker.
    daemon.tmdb.shows[SEVERANCE].seasons[2].append(
        {
            **daemon.tmdb.shows[SEVERANCE].seasons[2][-1],
            "episode_number": 11,
            "air_date": days_ago(0),
        }
    )
    daemon.services.tmdb.clear_cache()
    result = await daemon.services.jobs.run("refresh_airing")
    assert result.outcome == "ok", result.detail
    assert "1 new episodes" in result.detail
    assert "queued 1 new-episode notices and 0 weekly recaps" in result.detail
    [notice] = await daemon.fetch("SELECT air_date, episodes FROM tv_episode_notices")
    assert (notice["air_date"], list(notice["episodes"])) == (TODAY, ["S02E11"])
    again = await daemon.services.jobs.run("refresh_airing")
    assert "notices" not in again.detail  # nothing new to say


async def test_add_twice_at_once_and_tmdb_down(daemon: Daemon) -> None:
    add_severance(daemon)
    user_id, _ = await daemon.connect()
    tracker = daemon.services.tracker
    # TMDB down (every retry answered 503): a clear error and nothing half-added.
    daemon.tmdb.fail_next(20, status=503)
    with pytest.raises(InvalidInputError, match=r"TMDB could not be read .* nothing was added"):
        await tracker.add_show(user_id, SEVERANCE)
    assert await daemon.fetch("SELECT 1 FROM tvshows") == []
    daemon.tmdb.reset()
    with pytest.raises(NotFoundError, match="TMDB has no TV show 999"):
        await tracker.add_show(user_id, 999)
    # A double click: both answer, one show.
    first, second = await asyncio.gather(
        tracker.add_show(user_id, SEVERANCE), tracker.add_show(user_id, SEVERANCE)
    )
    assert sorted([first.created, second.created]) == [False, True]
    assert first.detail.show.id == second.detail.show.id
    assert len(await daemon.fetch("SELECT 1 FROM tvshows")) == 1
    assert len(await daemon.fetch("SELECT 1 FROM tvshow_episodes")) == 20


async def test_a_typed_title_shared_by_two_shows_names_their_years(daemon: Daemon) -> None:
    """`/tv mark show: Doctor Who` typed, with the 1963 and the 2005 series in the tracker:
    the answer must tell them apart, not say “Doctor Who”, “Doctor Who”."""
    user_id, _ = await daemon.connect()
    await daemon.import_shows(
        user_id,
        [
            {"title": "Doctor Who", "year": 1963},
            {"title": "Doctor Who", "year": 2005},
            {"title": "Doctor Who Confidential"},
        ],
    )
    with pytest.raises(NotFoundError) as refused:
        await daemon.services.tracker.resolve_show(user_id, "doctor who")
    assert str(refused.value) == (
        "“doctor who” could be “Doctor Who” (1963), “Doctor Who” (2005), "
        "“Doctor Who Confidential”: pick one from the suggestions."
    )

"""History sync while TMDB is down: an episode of a season the tracker does not know yet
needs TMDB before it can be marked. TMDB being down must delay such an episode, never drop
it: the run fails and resumes (as with the Plex server down), and a conflict resolved
meanwhile keeps those held episodes for the retry job's safety net, which also applies any
history episode still held behind a resolved conflict. Real PostgreSQL, fakes over loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import retention
from core.services.conflicts import UseShow
from tests.harness import Daemon
from tests.history_support import T0, plex_show, totals_consistent, tracker_show, watched


def tmdb_down(daemon: Daemon) -> None:
    daemon.tmdb.fail_next(1000, 503)


def tmdb_up(daemon: Daemon) -> None:
    daemon.tmdb.reset()


async def test_a_season_tmdb_cannot_give_now_fails_the_run_and_the_next_run_marks_it(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice")
    # The tracker knows season 1; season 2 aired since, and TMDB knows it.
    await daemon.import_shows(user_id, [tracker_show("Severance", 2022, 95396, {1: 3})])
    daemon.tmdb.add_show(95396, "Severance", year=2022, seasons={1: 3, 2: 2})
    plex = daemon.plex_server
    show = plex_show(plex, 800, "Severance", 2022, {1: 3, 2: 2}, tmdb_id=95396)
    now = int(datetime.now(UTC).timestamp())
    plex.watch(show.ep(2, 1).rating_key, viewed_at=now - 3600)
    plex.watch(show.ep(1, 1).rating_key, viewed_at=now)  # newer: S2E1 is out of the overlap

    tmdb_down(daemon)
    run = await daemon.services.history.run_now(user_id, trigger="job")
    assert run is not None and run.state == "failed", run
    assert run.error is not None and "tmdb" in run.error.lower()
    tmdb_up(daemon)
    again = await daemon.services.history.run_now(user_id, trigger="job")
    assert again is not None and again.state == "succeeded", again
    assert await watched(daemon, user_id, "Severance") == [(1, 1), (2, 1)]
    assert again.episodes_marked == 2
    assert await totals_consistent(daemon, user_id) == []


async def test_held_episodes_tmdb_cannot_place_at_resolution_wait_for_the_retry_job(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice")
    await daemon.import_shows(
        user_id,
        [
            tracker_show("Doctor Who", 1963, None, {1: 6}),
            tracker_show("Doctor Who", 2005, 57243, {1: 6}),  # season 2 not known yet
        ],
    )
    daemon.tmdb.add_show(57243, "Doctor Who", year=2005, seasons={1: 6, 2: 4})
    plex = daemon.plex_server
    who = plex_show(plex, 700, "Doctor Who", None, {1: 6, 2: 4}, guids=[])
    plex.watch(who.ep(1, 1).rating_key, viewed_at=T0)
    plex.watch(who.ep(2, 1).rating_key, viewed_at=T0 + 1)
    plex.watch(who.ep(2, 2).rating_key, viewed_at=T0 + 2)
    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and (run.conflicts_raised, run.episodes_held) == (1, 3), run
    (conflict,) = await daemon.services.conflicts.list_open(user_id)
    modern = (await daemon.fetch("SELECT id FROM tvshows WHERE tmdb_id = 57243"))[0]["id"]

    tmdb_down(daemon)
    resolution = await daemon.services.conflicts.resolve(
        conflict.id, user_id=user_id, choice=UseShow(modern), resolved_by="test"
    )
    assert (resolution.held, resolution.episodes_marked) == (3, 1)
    # Season 2 could not be fetched: its episodes wait, behind the resolved conflict.
    held = await daemon.fetch("SELECT season, episode FROM plex_history_held ORDER BY 1, 2")
    assert [(r["season"], r["episode"]) for r in held] == [(2, 1), (2, 2)]
    # Still down: the retry job keeps them.
    await daemon.services.jobs.run("retry")
    assert len(await daemon.fetch("SELECT 1 FROM plex_history_held")) == 2

    tmdb_up(daemon)
    result = await daemon.services.jobs.run("retry")
    assert result.outcome == "ok"
    assert "2 found held behind resolved conflicts" in result.detail, result.detail
    assert await daemon.fetch("SELECT 1 FROM plex_history_held") == []
    rows = await daemon.fetch(
        "SELECT season, episode FROM tvshow_episodes WHERE tvshow_id = $1 AND watched "
        "ORDER BY 1, 2",
        modern,
    )
    assert [(r["season"], r["episode"]) for r in rows] == [(1, 1), (2, 1), (2, 2)]
    sample = daemon.services.metrics.registry.get_sample_value("plex_tracker_held_requeued_total")
    assert sample == 2.0
    assert await totals_consistent(daemon, user_id) == []
    again = await daemon.services.jobs.run("retry")
    assert again.detail == "requeued 0, gave up on 0"


async def test_the_retry_job_applies_history_episodes_left_behind_a_resolved_conflict(
    daemon: Daemon,
) -> None:
    """The safety net itself: a held history episode behind a conflict that is already
    resolved (nothing should leave one; a database from before this net might) is marked
    through the Plex show's mapping at the next retry run, and counted."""
    user_id, _ = await daemon.connect("alice")
    await daemon.import_shows(
        user_id,
        [
            tracker_show("Doctor Who", 1963, None, {1: 6}),
            tracker_show("Doctor Who", 2005, None, {1: 6}),
        ],
    )
    plex = daemon.plex_server
    who = plex_show(plex, 700, "Doctor Who", None, {1: 6}, guids=[])
    plex.watch(who.ep(1, 1).rating_key, viewed_at=T0)
    await daemon.services.history.run_now(user_id, trigger="cli")
    (conflict,) = await daemon.services.conflicts.list_open(user_id)
    modern = (await daemon.fetch("SELECT id FROM tvshows WHERE show_start_date = '2005-01-01'"))[0][
        "id"
    ]
    await daemon.services.conflicts.resolve(
        conflict.id, user_id=user_id, choice=UseShow(modern), resolved_by="test"
    )
    await daemon.fetch(
        """INSERT INTO plex_history_held (user_id, conflict_id, show_key, season, episode,
               watched_at) VALUES ($1, $2, '700', 1, 4, to_timestamp($3))""",
        user_id,
        conflict.id,
        T0 + 4,
    )
    # Pruning leaves a resolved conflict alone while history episodes wait behind it.
    later = datetime.now(UTC) + timedelta(days=1)
    async with daemon.services.pool.acquire() as conn:
        assert await retention.delete_conflicts_before(conn, later, 100) == 0
    result = await daemon.services.jobs.run("retry")
    assert result.detail == "requeued 0, gave up on 0, 1 found held behind resolved conflicts"
    rows = await daemon.fetch(
        "SELECT episode FROM tvshow_episodes WHERE tvshow_id = $1 AND watched ORDER BY 1", modern
    )
    assert [r["episode"] for r in rows] == [1, 4]
    assert await daemon.fetch("SELECT 1 FROM plex_history_held") == []
    assert await totals_consistent(daemon, user_id) == []
    sample = daemon.services.metrics.registry.get_sample_value("plex_tracker_held_requeued_total")
    assert sample == 1.0
    async with daemon.services.pool.acquire() as conn:
        assert await retention.delete_conflicts_before(conn, later, 100) == 1

"""History sync holding episodes behind a conflict while that conflict is being resolved
(issue 10 item 11 meets issue 12): each interleaving forced by pausing one side at an await
point (a fake's request held open) and letting the other run into the lock it must wait on.
After every order, nothing is left in `plex_history_held` behind a resolved conflict and
every episode is marked once. Real PostgreSQL, the fakes over loopback; nothing mocked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from core.services.conflicts import UseShow, UseTmdb
from tests.harness import Daemon
from tests.history_support import (
    T0,
    PlexShowFixture,
    plex_show,
    totals_consistent,
    tracker_show,
    watched,
)


async def waiting_on_a_lock(daemon: Daemon, within: float = 10) -> None:
    """Until some session of this database waits on a lock (row or advisory)."""
    async with asyncio.timeout(within):
        while True:
            rows = await daemon.fetch(
                """SELECT count(*) AS n FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'"""
            )
            if rows[0]["n"]:
                return
            await asyncio.sleep(0.02)


async def doctor_who_held(daemon: Daemon) -> tuple[int, PlexShowFixture, int, int]:
    """Two tracker shows called Doctor Who and a Plex one without ids: the first sync raises
    a conflict and holds E1 behind it. Returns (user, Plex show, conflict id, 2005 show id)."""
    user_id, _ = await daemon.connect("alice")
    await daemon.import_shows(
        user_id,
        [
            tracker_show("Doctor Who", 1963, None, {1: 6}),
            tracker_show("Doctor Who", 2005, None, {1: 6}),
            tracker_show("Severance", 2022, 95396, {1: 3}),
        ],
    )
    plex = daemon.plex_server
    who = plex_show(plex, 700, "Doctor Who", None, {1: 6}, guids=[])
    plex.watch(who.ep(1, 1).rating_key, viewed_at=T0)
    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and (run.conflicts_raised, run.episodes_held) == (1, 1), run
    (conflict,) = await daemon.services.conflicts.list_open(user_id)
    modern = await daemon.fetch("SELECT id FROM tvshows WHERE show_start_date = '2005-01-01'")
    return user_id, who, conflict.id, modern[0]["id"]


async def nothing_held_behind_resolved(daemon: Daemon) -> list[object]:
    return await daemon.fetch(
        """SELECT h.conflict_id, h.season, h.episode FROM plex_history_held h
           JOIN plex_conflicts c ON c.id = h.conflict_id WHERE c.resolved"""
    )


async def test_a_resolution_waits_for_a_sync_batch_that_is_holding_episodes(
    daemon: Daemon,
) -> None:
    """The sync has parked E2, E3 behind the open conflict and is still in its batch (asking
    TMDB for a season of another show) when the owner resolves: the resolution waits for the
    batch and then marks what it parked."""
    user_id, who, conflict_id, modern = await doctor_who_held(daemon)
    plex, tmdb = daemon.plex_server, daemon.tmdb
    now = int(datetime.now(UTC).timestamp())
    plex.watch(who.ep(1, 2).rating_key, viewed_at=now - 20)
    plex.watch(who.ep(1, 3).rating_key, viewed_at=now - 10)
    # Severance, in the same batch, has a season the tracker lacks: TMDB is asked inside it.
    tmdb.add_show(95396, "Severance", year=2022, seasons={1: 3, 2: 2})
    severance = plex_show(plex, 800, "Severance", 2022, {1: 3, 2: 2}, tmdb_id=95396)
    plex.watch(severance.ep(2, 1).rating_key, viewed_at=now - 5)
    season = tmdb.pause("/tv/95396/season/2")

    sync = asyncio.create_task(daemon.services.history.run_now(user_id, trigger="cli"))
    await season.reached()
    resolve = asyncio.create_task(
        daemon.services.conflicts.resolve(
            conflict_id, user_id=user_id, choice=UseShow(modern), resolved_by="test"
        )
    )
    await waiting_on_a_lock(daemon)
    assert not resolve.done()
    season.release()
    run, resolution = await asyncio.gather(sync, resolve)

    assert run is not None and run.state == "succeeded", run
    assert (resolution.held, resolution.episodes_marked) == (3, 3)
    assert await nothing_held_behind_resolved(daemon) == []
    rows = await daemon.fetch(
        "SELECT episode FROM tvshow_episodes WHERE tvshow_id = $1 AND watched ORDER BY 1", modern
    )
    assert [r["episode"] for r in rows] == [1, 2, 3]
    assert await watched(daemon, user_id, "Severance") == [(2, 1)]
    assert await totals_consistent(daemon, user_id) == []


async def test_a_sync_batch_waits_for_a_resolution_in_progress_then_marks_directly(
    daemon: Daemon,
) -> None:
    """The owner's resolution is part-way (adding the chosen show from TMDB) when a sync
    batch reaches the show: it waits, sees the resolution's mapping and marks through it;
    nothing is parked behind the resolved conflict and no second conflict is opened."""
    user_id, who, conflict_id, _ = await doctor_who_held(daemon)
    plex, tmdb = daemon.plex_server, daemon.tmdb
    now = int(datetime.now(UTC).timestamp())
    plex.watch(who.ep(1, 2).rating_key, viewed_at=now - 20)
    plex.watch(who.ep(1, 3).rating_key, viewed_at=now - 10)
    tmdb.add_show(57243, "Doctor Who", year=2005, seasons={1: 6})
    details = tmdb.pause("/tv/57243")

    resolve = asyncio.create_task(
        daemon.services.conflicts.resolve(
            conflict_id, user_id=user_id, choice=UseTmdb(57243), resolved_by="test"
        )
    )
    await details.reached()
    sync = asyncio.create_task(daemon.services.history.run_now(user_id, trigger="cli"))
    await waiting_on_a_lock(daemon)
    assert not sync.done()
    details.release()
    resolution, run = await asyncio.gather(resolve, sync)

    assert run is not None and run.state == "succeeded", run
    assert (resolution.held, resolution.episodes_marked) == (1, 1)
    assert (run.conflicts_raised, run.episodes_held, run.episodes_marked) == (0, 0, 2)
    assert await nothing_held_behind_resolved(daemon) == []
    assert await daemon.services.conflicts.list_open(user_id) == []
    rows = await daemon.fetch(
        """SELECT e.episode FROM tvshow_episodes e JOIN tvshows s ON s.id = e.tvshow_id
           WHERE s.tmdb_id = 57243 AND e.watched ORDER BY 1"""
    )
    assert [r["episode"] for r in rows] == [1, 2, 3]
    assert await totals_consistent(daemon, user_id) == []

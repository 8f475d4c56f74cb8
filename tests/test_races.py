"""Unlucky interleavings, forced: each test stops the code under test at an await point (a
fake TMDB or Plex server holding a request, or a row lock a test transaction holds) and
runs the other party meanwhile, then checks that nothing was lost, counted twice or
deadlocked. Real PostgreSQL, the real services and worker, the wire-level fakes.

Items 11-14 of issue 10: joining a conflict while it is resolved, show totals under a
recount, settle batches with two Plex keys for one show, duplicates of a failed attempt.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.db import mappings, tvshows, webhook_logs
from core.db.mappings import NewMapping
from core.db.tvshows import EpisodeInput, ShowInput
from core.db.webhook_logs import NewLog
from core.services.conflicts import UseShow, UseTmdb
from tests.harness import Daemon
from tests.plex_payloads import legacy_episode, scrobble
from tests.test_conflicts import legacy, show, show_id, watched

WINDOW = 600


# -- helpers ---------------------------------------------------------------------------------
async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 10) -> None:
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def lock_waiters(daemon: Daemon) -> int:
    """Sessions of this test's database waiting for a lock (a row, an advisory lock)."""
    rows = await daemon.fetch(
        """SELECT count(*) AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'"""
    )
    return int(rows[0]["n"])


def waiting(daemon: Daemon, n: int = 1) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await lock_waiters(daemon) >= n

    return check


async def post_id(daemon: Daemon, payload: dict[str, Any], secret: str) -> int:
    answer = await daemon.post(payload, secret)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["id"])


async def totals_agree(daemon: Daemon, tvshow_id: int) -> tuple[int, int]:
    """The show's counters equal what its episode rows say; returns (watched, minutes)."""
    rows = await daemon.fetch(
        """SELECT t.watched_episodes, t.total_minutes, t.total_episodes,
                  (SELECT count(*) FROM tvshow_episodes e
                    WHERE e.tvshow_id = t.id AND e.watched)::int AS rows_watched,
                  (SELECT COALESCE(sum(runtime), 0) FROM tvshow_episodes e
                    WHERE e.tvshow_id = t.id AND e.watched)::int AS rows_minutes,
                  (SELECT count(*) FROM tvshow_episodes e WHERE e.tvshow_id = t.id)::int AS rows
           FROM tvshows t WHERE t.id = $1""",
        tvshow_id,
    )
    r = rows[0]
    assert (r["watched_episodes"], r["total_minutes"], r["total_episodes"]) == (
        r["rows_watched"],
        r["rows_minutes"],
        r["rows"],
    ), dict(r)
    return r["watched_episodes"], r["total_minutes"]


# -- 11: joining a conflict while it is being resolved ---------------------------------------
async def _second_worker_searching_tmdb(daemon: Daemon, secret: str) -> tuple[int, int, int, Any]:
    """Two scrobbles of an uncertain show, on two workers: the first opens the conflict
    while the second, which found no conflict to queue behind yet, waits to match the show
    itself and is then stopped in its TMDB candidate search. Returns (first log id, second
    log id, conflict id, the held search)."""
    first_search = daemon.tmdb.pause("/search/tv")
    first = await post_id(daemon, legacy("The Flash", "1201", 1), secret)
    await first_search.reached()
    second_lookup = daemon.plex_server.pause("/library/metadata/1201")
    second = await post_id(daemon, legacy("The Flash", "1201", 2), secret)
    await until(waiting(daemon), "the second scrobble to wait for the show's matching lock")
    first_search.release()
    conflict_id = (await daemon.settled(first))["held_by_conflict_id"]
    assert conflict_id is not None
    await second_lookup.reached()
    daemon.services.tmdb.clear_cache()  # as if the first search's answer had expired
    second_search = daemon.tmdb.pause("/search/tv")
    second_lookup.release()
    await second_search.reached()
    return first, second, conflict_id, second_search


@pytest.mark.parametrize("choice", ["tracker_show", "tmdb_show"])
async def test_a_scrobble_joining_a_conflict_while_it_is_resolved_is_replayed(
    daemon: Daemon, choice: str
) -> None:
    """tracker_show: the resolution overlaps the second worker's TMDB search (it used to
    finish first, and the worker then opened a second conflict for a show already mapped).
    tmdb_show: the resolution is itself stopped fetching the picked show from TMDB while the
    second worker joins (its scrobble used to be parked behind the conflict after the
    replay had run: pending for ever)."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("The Flash", 1990), show("The Flash", 2014)])
    daemon.tmdb.add_show(60735, "The Flash", year=2014, seasons={1: 10})
    modern = await show_id(daemon, user_id, "The Flash", 2014)
    first, second, conflict_id, second_search = await _second_worker_searching_tmdb(daemon, secret)

    show_fetch = daemon.tmdb.pause("/tv/60735") if choice == "tmdb_show" else None
    resolving = asyncio.create_task(
        daemon.services.conflicts.resolve(
            conflict_id,
            user_id=user_id,
            choice=UseShow(modern) if show_fetch is None else UseTmdb(60735),
            resolved_by="api",
        )
    )
    try:

        async def resolver_stopped() -> bool:
            if resolving.done() or (show_fetch is not None and show_fetch.arrived.is_set()):
                return True
            return await lock_waiters(daemon) >= 1

        await until(resolver_stopped, "the resolution to finish, fetch or wait")
        second_search.release()

        async def second_parked_or_waiting() -> bool:
            row = await daemon.log_row(second)
            if row["held_by_conflict_id"] is not None or row["status"] != "pending":
                return True
            return await lock_waiters(daemon) >= 1

        await until(second_parked_or_waiting, "the second worker to join or wait")
    finally:
        second_search.release()
        if show_fetch is not None:
            show_fetch.release()
    result = await resolving
    await daemon.settled(second)

    assert (result.held, result.episodes_marked) == (2, 2)
    rows = await daemon.fetch(
        "SELECT id, status, action_taken, held_by_conflict_id FROM plex_webhook_logs ORDER BY id"
    )
    assert [(r["id"], r["status"], r["held_by_conflict_id"]) for r in rows] == [
        (first, "success", None),
        (second, "success", None),
    ]
    conflicts = await daemon.fetch("SELECT id, resolved FROM plex_conflicts")
    assert [(c["id"], c["resolved"]) for c in conflicts] == [(conflict_id, True)]
    outbox = await daemon.fetch("SELECT kind, ref_id FROM notification_outbox")
    assert [(r["kind"], r["ref_id"]) for r in outbox] == [("conflict", conflict_id)]
    assert await watched(daemon, modern) == [1, 2]
    await totals_agree(daemon, modern)


# -- 12: show totals under a recount --------------------------------------------------------
async def _show_with_episodes(daemon: Daemon, user_id: int, tmdb_id: int, count: int) -> int:
    await daemon.import_shows(
        user_id,
        [
            {
                "title": f"Show {tmdb_id}",
                "year": 2020,
                "tmdb_id": tmdb_id,
                "seasons": [
                    {
                        "season_number": 1,
                        "episodes": [
                            {"episode_number": n, "runtime": 40 + n} for n in range(1, count + 1)
                        ],
                    }
                ],
            }
        ],
    )
    return await show_id(daemon, user_id, f"Show {tmdb_id}")


async def test_a_season_refresh_counts_a_mark_still_in_flight(daemon: Daemon) -> None:
    """A worker has marked S01E02 and not committed yet when another worker's season
    refresh recounts the show: the recount must wait for it and count it."""
    user_id, _ = await daemon.connect()
    tvshow_id = await _show_with_episodes(daemon, user_id, 95396, 3)
    daemon.tmdb.add_show(95396, "Show 95396", year=2020, seasons={1: 3, 2: 4})
    async with daemon.services.pool.acquire() as a, daemon.services.pool.acquire() as b:
        show_row = await tvshows.get(b, user_id, tvshow_id)
        assert show_row is not None
        marking = a.transaction()
        await marking.start()
        mark = await tvshows.mark_episode_watched(a, tvshow_id, 1, 2, datetime.now(UTC))
        assert mark.newly_watched

        async def refresh() -> int:
            async with b.transaction():
                return await daemon.services.catalog.refresh_season(b, show_row, 2)

        refreshing = asyncio.create_task(refresh())
        try:
            await until(waiting(daemon), "the recount to wait for the uncommitted mark")
        finally:
            await marking.commit()
        assert await refreshing == 4
    assert await totals_agree(daemon, tvshow_id) == (1, 42)


async def test_a_mark_during_an_import_of_its_show_waits_and_is_counted(daemon: Daemon) -> None:
    """An import has updated the show (and holds it) and is about to write its episodes
    when a scrobble marks one of them: they used to wait for each other (deadlock, one of
    them failed); now the mark waits for the import and is counted on top of its recount."""
    user_id, _ = await daemon.connect()
    tvshow_id = await _show_with_episodes(daemon, user_id, 1399, 3)
    async with daemon.services.pool.acquire() as imp, daemon.services.pool.acquire() as a:
        importing = imp.transaction()
        await importing.start()
        await tvshows.upsert(imp, user_id, ShowInput(title="Show 1399", year=2020, tmdb_id=1399))

        async def mark() -> bool:
            async with a.transaction():
                done = await tvshows.mark_episode_watched(a, tvshow_id, 1, 2, datetime.now(UTC))
                return done.newly_watched

        marking = asyncio.create_task(mark())
        try:
            await until(waiting(daemon), "the mark to wait for the import")
            episodes = [EpisodeInput(1, n, runtime=50) for n in range(1, 5)]
            assert await tvshows.upsert_episodes(imp, tvshow_id, episodes) == 4
        finally:
            await importing.commit()
        assert await marking
    assert await totals_agree(daemon, tvshow_id) == (1, 50)


async def test_show_totals_hold_under_random_interleavings(daemon: Daemon) -> None:
    """Marks, season refreshes (runtimes change) and recounts in many transactions that
    pause between their statements at random: afterwards every show's counters equal its
    rows, and nothing deadlocked."""
    user_id, _ = await daemon.connect()
    shows = [await _show_with_episodes(daemon, user_id, 500 + i, 8) for i in range(2)]
    rng = random.Random(1210)

    async def pause() -> None:
        await asyncio.sleep(rng.choice((0, 0, 0.001, 0.005)))

    async def one(step: int) -> None:
        tvshow_id = rng.choice(shows)
        async with daemon.services.pool.acquire() as conn, conn.transaction():
            await pause()
            kind = rng.choice(("mark", "mark", "refresh", "recount"))
            if kind == "mark":
                for _ in range(rng.randint(1, 3)):
                    number = rng.randint(1, 8)
                    when = datetime.now(UTC)
                    await tvshows.mark_episode_watched(conn, tvshow_id, 1, number, when)
                    await pause()
            elif kind == "refresh":
                numbers = rng.sample(range(1, 9), 4)
                eps = [EpisodeInput(1, n, runtime=rng.randint(20, 60)) for n in numbers]
                await tvshows.upsert_episodes(conn, tvshow_id, eps)
            else:
                await tvshows.recompute_totals(conn, tvshow_id)
            await pause()

    for _ in range(4):
        results = await asyncio.gather(*(one(i) for i in range(12)), return_exceptions=True)
        assert [r for r in results if r is not None] == []
        for tvshow_id in shows:
            await totals_agree(daemon, tvshow_id)


# -- 13: settle batches with two Plex keys for one tracker show ------------------------------
async def _two_libraries(daemon: Daemon) -> tuple[int, str, int, int]:
    """Alice has Show X in an HD (key 100) and a 4K library (key 300) and Show Y (key 200),
    all mapped by their TVDB ids. Returns (user id, secret, X's id, Y's id)."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(
        user_id,
        [
            {
                "title": title,
                "year": 2020,
                "tvdb_id": tvdb,
                "seasons": [
                    {
                        "season_number": 1,
                        "episodes": [{"episode_number": n, "runtime": 30} for n in range(1, 6)],
                    }
                ],
            }
            for title, tvdb in (("Show X", 1001), ("Show Y", 1002))
        ],
    )
    x, y = await show_id(daemon, user_id, "Show X"), await show_id(daemon, user_id, "Show Y")
    assert x < y
    for key, tvdb, title in (
        ("100", 1001, "Show X"),
        ("300", 1001, "Show X"),
        ("200", 1002, "Show Y"),
    ):
        row = await daemon.settled(
            await post_id(daemon, _tvdb_scrobble(key, tvdb, title, 5), secret)
        )
        assert row["status"] == "success", dict(row)
    return user_id, secret, x, y


def _tvdb_scrobble(key: str, tvdb: int, title: str, number: int) -> dict[str, Any]:
    return scrobble(legacy_episode("thetvdb", str(tvdb), 1, number, show=title, show_key=key))


async def test_two_batches_with_both_libraries_of_a_show_do_not_deadlock(daemon: Daemon) -> None:
    """Batch A holds (X via HD key 100, Y), batch B holds (Y, X via 4K key 300). In Plex-key
    order A took X then Y and B took Y then X: a deadlock, one batch rolled back. In
    tracker-show order both take X first."""
    _, secret, x, y = await _two_libraries(daemon)
    await daemon.services.worker.stop()
    ids = [
        await post_id(daemon, _tvdb_scrobble(key, tvdb, title, number), secret)
        for key, tvdb, title, number in (
            ("100", 1001, "Show X", 1),
            ("200", 1002, "Show Y", 1),
            ("200", 1002, "Show Y", 2),
            ("300", 1001, "Show X", 2),
        )
    ]
    pool = daemon.services.pool
    async with pool.acquire() as hold, pool.acquire() as a, pool.acquire() as b:
        # Something else is busy with Y's S01E01 (the pause point): batch A stops there.
        holding = hold.transaction()
        await holding.start()
        await hold.execute(
            """SELECT 1 FROM tvshow_episodes WHERE tvshow_id = $1 AND season = 1
                 AND episode = 1 FOR UPDATE""",
            y,
        )
        batch_a = asyncio.create_task(webhook_logs.settle_queue(a, 2, WINDOW))
        try:
            await until(waiting(daemon, 1), "batch A to stop at Y's episode")
            batch_b = asyncio.create_task(webhook_logs.settle_queue(b, 2, WINDOW))
            await until(waiting(daemon, 2), "batch B to wait for batch A")
        finally:
            await holding.rollback()
        outcomes = await asyncio.gather(batch_a, batch_b, return_exceptions=True)
    batches = [o for o in outcomes if not isinstance(o, BaseException)]
    assert batches == outcomes  # neither failed (a deadlock rolls one back)
    settled = sorted((r.id, r.settled, r.status) for rows in batches for r in rows)
    assert settled == [(i, True, "success") for i in ids]
    assert await watched(daemon, x) == [1, 2, 5]
    assert await watched(daemon, y) == [1, 2, 5]
    for tvshow_id in (x, y):
        await totals_agree(daemon, tvshow_id)


async def test_an_import_and_a_batch_take_shows_in_the_same_order(daemon: Daemon) -> None:
    """An import listing Y before X, while a settle batch holds X and waits at Y: the import
    used to take Y, then wait for X, while the batch waited for Y (deadlock)."""
    user_id, secret, x, y = await _two_libraries(daemon)
    await daemon.services.worker.stop()
    for key, tvdb, title in (("100", 1001, "Show X"), ("200", 1002, "Show Y")):
        await post_id(daemon, _tvdb_scrobble(key, tvdb, title, 1), secret)
    pool = daemon.services.pool
    async with pool.acquire() as hold, pool.acquire() as a:
        holding = hold.transaction()
        await holding.start()
        await hold.execute(
            """SELECT 1 FROM tvshow_episodes WHERE tvshow_id = $1 AND season = 1
                 AND episode = 1 FOR UPDATE""",
            y,
        )
        batch = asyncio.create_task(webhook_logs.settle_queue(a, 2, WINDOW))
        importing: asyncio.Task[Any] | None = None
        try:
            await until(waiting(daemon, 1), "the batch to stop at Y's episode")
            entries = [
                {"title": "Show Y", "year": 2020, "tvdb_id": 1002},
                {"title": "Show X", "year": 2020, "tvdb_id": 1001},
            ]
            importing = asyncio.create_task(
                daemon.services.library.import_shows(user_id, json.dumps(entries))
            )
            await until(waiting(daemon, 2), "the import to wait for the batch")
        finally:
            await holding.rollback()
        outcomes = await asyncio.gather(
            batch, *([importing] if importing else []), return_exceptions=True
        )
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert await watched(daemon, x) == [1, 5]
    assert await watched(daemon, y) == [1, 5]
    for tvshow_id in (x, y):
        await totals_agree(daemon, tvshow_id)


# -- 14: a duplicate of an attempt that failed ------------------------------------------------
async def _severance(daemon: Daemon) -> tuple[int, str, int]:
    """Severance in the tracker with S01E01-03, mapped by its TMDB id (a legacy scrobble)."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(
        user_id,
        [
            {
                "title": "Severance",
                "year": 2022,
                "tmdb_id": 95396,
                "seasons": [
                    {
                        "season_number": 1,
                        "episodes": [{"episode_number": n, "runtime": 55} for n in (1, 2, 3)],
                    }
                ],
            }
        ],
    )
    daemon.tmdb.add_show(95396, "Severance", year=2022, seasons={1: 3})
    tvshow_id = await show_id(daemon, user_id, "Severance")
    row = await daemon.settled(await post_id(daemon, _sev(1), secret))
    assert (row["status"], row["tvshow_id"]) == ("success", tvshow_id)
    return user_id, secret, tvshow_id


def _sev(number: int) -> dict[str, Any]:
    return scrobble(
        legacy_episode("themoviedb", "95396", 1, number, show="Severance", show_key="4401")
    )


async def test_a_duplicate_of_a_failed_scrobble_is_processed(daemon: Daemon) -> None:
    """S01E04 is not in the tracker nor on TMDB yet: the scrobble fails (retryable). TMDB
    then lists it and Plex sends the scrobble again inside the duplicate window: it must be
    marked, not dropped as a duplicate of the attempt that failed. The failed attempt's own
    retry is then the duplicate."""
    _, secret, tvshow_id = await _severance(daemon)
    first = await daemon.settled(await post_id(daemon, _sev(4), secret))
    assert (first["status"], first["action_taken"], first["retryable"]) == (
        "failed",
        "episode_unknown",
        True,
    )
    daemon.tmdb.add_show(95396, "Severance", year=2022, seasons={1: 9})
    daemon.services.tmdb.clear_cache()
    again = await daemon.settled(await post_id(daemon, _sev(4), secret))
    assert (again["status"], again["action_taken"]) == ("success", "marked_watched")
    assert await watched(daemon, tvshow_id) == [1, 4]

    await daemon.fetch(
        "UPDATE plex_webhook_logs SET next_attempt_at = now() WHERE id = $1", first["id"]
    )
    assert (await daemon.services.jobs.run("retry")).outcome == "ok"
    retried = await daemon.settled(first["id"])
    assert (retried["status"], retried["action_taken"]) == ("duplicate", "duplicate_scrobble")
    assert (await totals_agree(daemon, tvshow_id))[0] == 2


async def test_a_duplicate_arriving_while_the_first_attempt_fails_is_processed(
    daemon: Daemon,
) -> None:
    """The first attempt at S01E04 is asking TMDB for the season when the second arrives and
    waits for it; the first then fails. The second must go on and mark the episode."""
    _, secret, tvshow_id = await _severance(daemon)
    season = daemon.tmdb.pause("/tv/95396/season/1")
    first = await post_id(daemon, _sev(4), secret)
    try:
        await season.reached()
        daemon.tmdb.add_show(95396, "Severance", year=2022, seasons={1: 9})
        again = await post_id(daemon, _sev(4), secret)
        await until(waiting(daemon), "the second attempt to wait for the first")
    finally:
        season.release(404)  # TMDB hiccups: the first attempt fails
    failed = await daemon.settled(first)
    assert (failed["status"], failed["action_taken"]) == ("failed", "upstream_error")
    done = await daemon.settled(again)
    assert (done["status"], done["action_taken"]) == ("success", "marked_watched")
    assert await watched(daemon, tvshow_id) == [1, 4]
    await totals_agree(daemon, tvshow_id)


# -- the fast path reads the log row's columns -----------------------------------------------
CORPUS = Path(__file__).parent / "corpus"


async def test_a_show_mapped_while_a_batch_runs_is_left_to_the_full_path(
    daemon: Daemon,
) -> None:
    """The batch chose rows for its duplicate check and for its marks with two queries, each
    under its own snapshot: a Plex show mapped by another worker in between had its scrobble
    marked with no duplicate check and no marker (seen as one kill -9 run in ten). Paused
    at the duplicate check, the mapping committed meanwhile: that row now stays pending."""
    user_id, secret, x, _ = await _two_libraries(daemon)
    await daemon.import_shows(
        user_id,
        [
            {
                "title": "Show Z",
                "year": 2020,
                "tvdb_id": 1003,
                "seasons": [{"season_number": 1, "episodes": [{"episode_number": 1}]}],
            }
        ],
    )
    z = await show_id(daemon, user_id, "Show Z")
    await daemon.services.worker.stop()
    mapped = await post_id(daemon, _tvdb_scrobble("100", 1001, "Show X", 1), secret)
    unmapped = await post_id(daemon, _tvdb_scrobble("400", 1003, "Show Z", 1), secret)
    pool = daemon.services.pool
    async with pool.acquire() as hold, pool.acquire() as a, pool.acquire() as other:
        # Another scrobble of X's S01E01 is being counted (the pause point): the batch's
        # duplicate check waits for it.
        row = (await daemon.fetch("SELECT * FROM plex_webhook_logs WHERE id = $1", mapped))[0]
        holding = hold.transaction()
        await holding.start()
        await hold.execute(
            """INSERT INTO plex_scrobbles_seen (user_id, account_id, item_key, seen_at, log_id)
               VALUES ($1, $2, $3, now(), 0)""",
            user_id,
            row["plex_account_id"],
            row["plex_item_key"],
        )
        batch = asyncio.create_task(webhook_logs.settle_queue(a, 16, WINDOW))
        try:
            await until(waiting(daemon, 1), "the batch to stop at the duplicate check")
            # Meanwhile the full path elsewhere maps Show Z and commits.
            await mappings.upsert(
                other,
                NewMapping(
                    user_id=user_id,
                    plex_rating_key="400",
                    plex_guid=None,
                    plex_title="Show Z",
                    plex_year=2020,
                    tvshow_id=z,
                    tmdb_id=None,
                    tvdb_id=1003,
                    imdb_id=None,
                    match_confidence=1.0,
                    match_method="tvdb_id",
                ),
            )
        finally:
            await holding.rollback()
        rows = await batch
    assert [(r.id, r.settled, r.status) for r in rows] == [
        (mapped, True, "success"),
        (unmapped, False, None),  # not checked for duplicates, so not marked
    ]
    daemon.services.worker.start()
    assert (await daemon.settled(unmapped))["status"] == "success"
    assert await watched(daemon, x) == [1, 5] and await watched(daemon, z) == [1]
    markers = await daemon.fetch(
        "SELECT log_id FROM plex_scrobbles_seen WHERE log_id = ANY ($1) ORDER BY log_id",
        [mapped, unmapped],
    )
    assert [m["log_id"] for m in markers] == [mapped, unmapped]
    # So Plex's repeat of it inside the window is a duplicate, not counted again.
    again = await daemon.settled(
        await post_id(daemon, _tvdb_scrobble("400", 1003, "Show Z", 1), secret)
    )
    assert (again["status"], again["action_taken"]) == ("duplicate", "duplicate_scrobble")


async def test_relayed_scrobbles_settle_in_the_batch(daemon: Daemon) -> None:
    """Relayed shapes (tests/corpus: n8n relaying Tautulli with `grandparentKey` only, numbers
    as strings, an Account with only a title) are settled by the SQL batch like Plex's own:
    it reads the keys intake normalised into the row, not the payload."""
    _, secret, x, _ = await _two_libraries(daemon)
    await daemon.services.worker.stop()
    relay = json.loads((CORPUS / "n8n-tautulli-relay-grandparentkey-only.json").read_text())
    relay["Metadata"].update(grandparentTitle="Show X", grandparentKey="/library/metadata/100")
    relay["Metadata"].update(parentIndex="1", index="3", lastViewedAt="1700000000")
    stringly = json.loads(json.dumps(relay))
    stringly["Metadata"].update(index="4", lastViewedAt="")
    ids = [await post_id(daemon, p, secret) for p in (relay, stringly)]
    async with daemon.services.pool.acquire() as conn:
        rows = await webhook_logs.settle_queue(conn, 16, WINDOW)
        dates = await conn.fetch(
            """SELECT e.episode, e.date_watched, l.created_at
               FROM tvshow_episodes e JOIN plex_webhook_logs l ON l.id = ANY ($2)
                 AND l.plex_episode = e.episode
               WHERE e.tvshow_id = $1 AND e.season = 1 ORDER BY e.episode""",
            x,
            ids,
        )
    assert [(r.id, r.settled, r.status, r.action, r.tvshow_id) for r in rows] == [
        (i, True, "success", "marked_watched", x) for i in ids
    ]
    assert [(d["episode"], d["date_watched"]) for d in dates] == [
        (3, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (4, dates[1]["created_at"]),  # no usable lastViewedAt: when it arrived
    ]


async def test_a_batch_never_fails_on_a_payload_it_does_not_read(daemon: Daemon) -> None:
    """Whatever the stored payload holds (values the old batch cast and failed on: "x" as a
    season, 1e30 or "soon" as lastViewedAt), the batch decides from the columns: every row
    of the call settles, and the watch date is plex_watched_at, else the arrival time."""
    user_id, _, x, y = await _two_libraries(daemon)
    await daemon.services.worker.stop()
    odd = {
        "event": "media.scrobble",
        "Metadata": {"parentIndex": "x", "index": 1.5e300, "lastViewedAt": "soon"},
    }
    huge = {"event": "media.scrobble", "Metadata": {"lastViewedAt": 1e30}}
    seen = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    async with daemon.services.pool.acquire() as conn:
        ids = await webhook_logs.insert_many(
            conn,
            [
                NewLog(
                    user_id=user_id,
                    event_type="media.scrobble",
                    status="pending",
                    payload_json=json.dumps(p),
                    plex_account_id="1",
                    plex_rating_key=key,
                    plex_item_key=item,
                    plex_title=title,
                    plex_season=1,
                    plex_episode=2,
                    plex_watched_at=when,
                )
                for p, key, item, title, when in (
                    (odd, "100", "9001", "Show X", seen),
                    (huge, "200", "9002", "Show Y", None),
                )
            ],
        )
        rows = await webhook_logs.settle_queue(conn, 16, WINDOW)
        dates = await conn.fetch(
            """SELECT e.tvshow_id, e.date_watched FROM tvshow_episodes e
               WHERE e.tvshow_id = ANY ($1) AND e.season = 1 AND e.episode = 2
               ORDER BY e.tvshow_id""",
            [x, y],
        )
        created = await conn.fetchval(
            "SELECT created_at FROM plex_webhook_logs WHERE id = $1", ids[1]
        )
    assert [(r.id, r.settled, r.status, r.tvshow_id) for r in rows] == [
        (ids[0], True, "success", x),
        (ids[1], True, "success", y),
    ]
    assert [(d["tvshow_id"], d["date_watched"]) for d in dates] == [(x, seen), (y, created)]


async def test_two_adds_of_one_tmdb_show_at_once_make_one_show(daemon: Daemon) -> None:
    """The 4K and HD libraries' first scrobbles auto-add the same TMDB show together: the
    second waits for the first and finds its show (before: a unique-index violation, the
    scrobble failed and was retried)."""
    user_id, _ = await daemon.connect()
    office = ShowInput(title="The Office", year=2005, tmdb_id=2316, source="plex")
    pool = daemon.services.pool
    async with pool.acquire() as first, pool.acquire() as second:
        tx = first.transaction()
        await tx.start()
        made, created = await tvshows.upsert(first, user_id, office)

        async def add_again() -> tuple[tvshows.Show, bool]:
            async with second.transaction():
                return await tvshows.upsert(second, user_id, office)

        racing = asyncio.create_task(add_again())
        await asyncio.sleep(0.3)
        assert not racing.done(), "the second add waits for the first"
        await tx.commit()
        found, created_again = await asyncio.wait_for(racing, 10)
    assert created and not created_again
    assert found.id == made.id
    rows = await daemon.fetch("SELECT id FROM tvshows WHERE user_id = $1", user_id)
    assert [r["id"] for r in rows] == [made.id]

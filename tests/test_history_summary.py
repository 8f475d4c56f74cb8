"""What a history sync run says it did, and that it skips only what it must: a show TMDB
does not know is skipped with that reason (asked once per run), TMDB refusing our key fails
the run instead of skipping shows past the watermarks, and a dry run predicts what the real
run then does. Real PostgreSQL, the fakes over loopback."""

from __future__ import annotations

from datetime import UTC, datetime

from core.history.plan import SHOW_NOT_ON_TMDB
from tests.harness import Daemon
from tests.history_support import DAY, T0, plex_show, totals_consistent, tracker_show, watched


async def test_a_show_tmdb_does_not_know_is_skipped_with_that_reason_asked_once(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice")
    plex = daemon.plex_server
    # Not in the tracker, and its TMDB id (auto-add) is unknown to TMDB.
    ghost = plex_show(plex, 900, "Ghost Show", 2011, {1: 3}, tmdb_id=99_999)
    plex.watch(ghost.ep(1, 1).rating_key, viewed_at=T0)
    plex.watch(ghost.ep(1, 2).rating_key, viewed_at=T0 + DAY)

    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded", run.error
    # Each episode once, under a reason that says what happened (both passes saw them).
    assert run.skipped == {SHOW_NOT_ON_TMDB: 2}, run.skipped
    assert len(daemon.tmdb.requests_to("/tv/99999")) == 1


async def test_tmdb_refusing_the_key_fails_the_run_and_loses_nothing(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    daemon.tmdb.add_show(1399, "Game of Thrones", year=2011, seasons={1: 3})
    plex = daemon.plex_server
    got = plex_show(plex, 901, "Game of Thrones", 2011, {1: 3}, tmdb_id=1399)
    now = int(datetime.now(UTC).timestamp())
    plex.watch(got.ep(1, 1).rating_key, viewed_at=now - 3600)
    # A newer play of a show the tracker has: the watermark moves past the first one.
    await daemon.import_shows(user_id, [tracker_show("The Office", 2005, 2316, {1: 2})])
    office = plex_show(plex, 100, "The Office", 2005, {1: 2}, tmdb_id=2316)
    plex.watch(office.ep(1, 1).rating_key, viewed_at=now)

    key = daemon.tmdb.api_key
    daemon.tmdb.api_key = "revoked"
    run = await daemon.services.history.run_now(user_id, trigger="job")
    assert run is not None and run.state == "failed", run
    assert run.error is not None and "tmdb" in run.error and "401" in run.error
    daemon.tmdb.api_key = key
    again = await daemon.services.history.run_now(user_id, trigger="job")
    assert again is not None and again.state == "succeeded", again.error
    assert await watched(daemon, user_id, "Game of Thrones") == [(1, 1)]
    assert await watched(daemon, user_id, "The Office") == [(1, 1)]
    assert await totals_consistent(daemon, user_id) == []


async def test_a_dry_run_counts_deleted_episodes_of_a_show_it_would_map(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    await daemon.import_shows(user_id, [tracker_show("The Office", 2005, 2316, {1: 6})])
    plex = daemon.plex_server
    office = plex_show(plex, 100, "The Office", 2005, {1: 6}, tmdb_id=2316)
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0)
    plex.watch(office.ep(1, 6).rating_key, viewed_at=T0 + DAY)
    plex.delete_episode(office.ep(1, 6).rating_key)  # its play keeps only the show's title

    dry = await daemon.services.history.run_now(user_id, trigger="cli", dry_run=True)
    real = await daemon.services.history.run_now(user_id, trigger="cli")
    assert dry is not None and real is not None
    assert (real.episodes_marked, real.skipped) == (2, {})
    assert (dry.episodes_marked, dry.skipped) == (real.episodes_marked, real.skipped)
    assert await watched(daemon, user_id, "The Office") == [(1, 1), (1, 6)]

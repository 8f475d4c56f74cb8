"""Plex watch history sync end to end: the real services against real PostgreSQL and the
fake Plex Media Server over loopback HTTP (its library, accounts and history as PMS serves
them). Nothing of ours is mocked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.db import sync_state
from core.history.plan import (
    GONE_UNMAPPED,
    NOT_EPISODE,
    NOT_IN_TRACKER,
    SECTION_EXCLUDED,
    SHOW_IGNORED,
)
from core.history.service import summary
from core.services.conflicts import Ignore, UseShow
from tests.fakes._base import closed_port_url
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.fakes.plex_server import OWNER_ID, FakePlexServer
from tests.harness import Daemon
from tests.history_support import (
    DAY,
    T0,
    PlexShowFixture,
    history_requests,
    leaves_requests,
    plex_show,
    totals_consistent,
    tracker_show,
    watch_dates,
    watched,
)
from tests.plex_payloads import episode, scrobble

BOB = 24680


async def office_and_severance(
    daemon: Daemon, user_id: int
) -> tuple[PlexShowFixture, PlexShowFixture]:
    await daemon.import_shows(
        user_id,
        [
            tracker_show("The Office", 2005, 2316, {1: 6, 2: 4}),
            tracker_show("Severance", 2022, None, {1: 9}, tvdb_id=371980),
        ],
    )
    office = plex_show(daemon.plex_server, 100, "The Office", 2005, {1: 6, 2: 4}, tmdb_id=2316)
    # A legacy-agent show: its ids are in its own guid, not in a Guid list.
    severance = plex_show(
        daemon.plex_server,
        200,
        "Severance",
        2022,
        {1: 9},
        guid="com.plexapp.agents.thetvdb://371980?lang=en",
        guids=[],
    )
    return office, severance


async def test_backfill_marks_history_and_library_state_then_a_second_run_changes_nothing(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice")
    office, severance = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    # Watched twice: the first play's date is the one kept.
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0)
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0 + 50 * DAY)
    plex.watch(office.ep(1, 2).rating_key, viewed_at=T0 + DAY)
    # "Mark as played" leaves no history row: only the library state has it.
    plex.mark_played(office.ep(2, 4).rating_key, T0 + 2 * DAY)
    plex.watch(severance.ep(1, 1).rating_key, viewed_at=T0 + 3 * DAY)
    plex.watch_movie("Blade Runner 2049", viewed_at=T0 + 4 * DAY)

    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded", run
    assert (run.episodes_marked, run.already_watched, run.shows_seen) == (4, 0, 2), summary(run)
    assert run.skipped == {NOT_EPISODE: 1}
    assert run.server_id == plex.machine_identifier
    assert await watched(daemon, user_id, "The Office") == [(1, 1), (1, 2), (2, 4)]
    assert await watched(daemon, user_id, "Severance") == [(1, 1)]
    dates = await watch_dates(daemon, user_id, "The Office")
    assert dates == {(1, 1): T0, (1, 2): T0 + DAY, (2, 4): T0 + 2 * DAY}
    sources = await daemon.fetch("SELECT DISTINCT watch_source FROM tvshow_episodes WHERE watched")
    assert [s["watch_source"] for s in sources] == ["history"]  # what /tv history shows
    assert await totals_consistent(daemon, user_id) == []
    methods = await daemon.fetch(
        "SELECT plex_rating_key, match_method FROM plex_show_mappings ORDER BY 1"
    )
    assert [(m["plex_rating_key"], m["match_method"]) for m in methods] == [
        ("100", "tmdb_id"),
        ("200", "tvdb_id"),
    ]

    plex.requests.clear()
    again = await daemon.services.history.run_now(user_id, trigger="cli")
    assert again is not None and again.state == "succeeded"
    assert (again.episodes_marked, again.shows_added, again.conflicts_raised) == (0, 0, 0)
    # Nothing moved: the shows listing and one history page say so; no episode list is read.
    assert leaves_requests(plex) == []
    paths = sorted(r.path for r in plex.requests)
    assert paths == sorted(
        [
            "/identity",
            "/accounts",
            "/library/sections",
            "/library/sections/2/all",
            "/status/sessions/history/all",
        ]
    )
    assert await totals_consistent(daemon, user_id) == []


async def test_the_scheduled_reconcile_lands_a_play_whose_webhook_was_lost(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice")
    office, _ = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0)
    first = await daemon.services.jobs.run("sync")
    assert first.outcome == "ok" and "1 synced" in first.detail, first
    # Watched while plex-tracker was down: Plex never retries the webhook.
    now = int(datetime.now(UTC).timestamp())
    plex.watch(office.ep(1, 3).rating_key, viewed_at=now - 60)
    plex.requests.clear()
    second = await daemon.services.jobs.run("sync")
    assert second.outcome == "ok" and "1 episodes marked" in second.detail, second
    assert await watched(daemon, user_id, "The Office") == [(1, 1), (1, 3)]
    # Incremental: only plays from the watermark (minus the overlap) were asked for.
    (history,) = history_requests(plex)
    assert int(history.query["viewedAt>"]) == T0 - 5 * 60
    assert len(leaves_requests(plex)) == 1  # the one show whose lastViewedAt moved


async def test_shared_accounts_count_only_when_followed(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    office, _ = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    plex.add_account(BOB, "bob")
    plex.watch(office.ep(1, 5).rating_key, account_id=BOB, viewed_at=T0)
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0)

    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded"
    assert await watched(daemon, user_id, "The Office") == [(1, 1)]
    # No request asked for bob's plays at all.
    assert {r.query.get("accountID") for r in history_requests(plex)} == {str(OWNER_ID)}

    await daemon.services.accounts.update_settings(user_id, followed_accounts=["1", "bob"])
    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded" and run.episodes_marked == 1
    assert await watched(daemon, user_id, "The Office") == [(1, 1), (1, 5)]


async def test_deleted_media_movies_and_excluded_sections(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    office, _ = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0)
    await daemon.services.history.run_now(user_id, trigger="cli")  # maps The Office

    # Gone from Plex since: the play keeps only the show's title and the numbers.
    plex.watch(office.ep(1, 6).rating_key, viewed_at=T0 + DAY)
    plex.delete_episode(office.ep(1, 6).rating_key)
    lost = plex_show(plex, 300, "Lost", 2004, {1: 3})
    plex.watch(lost.ep(1, 2).rating_key, viewed_at=T0 + DAY)
    plex.delete_show(300)
    # Still in the history with its keys, but the server no longer knows the show (404).
    vanished = plex_show(plex, 600, "Vanished", 2010, {1: 2})
    plex.watch(vanished.ep(1, 1).rating_key, viewed_at=T0 + DAY)
    del plex.items["600"]
    kids = plex.add_section(7, "show", "Kids TV")
    bluey = plex_show(plex, 400, "Bluey", 2018, {1: 2}, section_id=kids.key)
    plex.watch(bluey.ep(1, 1).rating_key, viewed_at=T0 + DAY)
    await daemon.services.history.set_excluded_sections(user_id, ["kids tv"])

    run = await daemon.services.history.run_now(user_id, trigger="cli", mode="full")
    assert run is not None and run.state == "succeeded", run.error
    assert await watched(daemon, user_id, "The Office") == [(1, 1), (1, 6)]
    assert run.skipped == {GONE_UNMAPPED: 2, SECTION_EXCLUDED: 1}, run.skipped
    assert plex.requests_to("/library/metadata/600") != []  # asked, then gave up on it
    # The excluded section's shows are not even listed.
    assert plex.requests_to("/library/sections/7/all") == []


@pytest.mark.parametrize("full", [False, True])
async def test_dry_run_changes_nothing_and_says_what_a_run_would_do(
    daemon: Daemon, full: bool
) -> None:
    user_id, _ = await daemon.connect("alice")
    office, severance = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    for n in (1, 2, 3):
        plex.watch(office.ep(1, n).rating_key, viewed_at=T0 + n)
    plex.watch(severance.ep(1, 1).rating_key, viewed_at=T0)
    unknown = plex_show(plex, 500, "Doctor Who", None, {1: 2}, guids=[])
    plex.watch(unknown.ep(1, 1).rating_key, viewed_at=T0)
    await daemon.import_shows(
        user_id,
        [
            tracker_show("Doctor Who", 1963, None, {1: 2}),
            tracker_show("Doctor Who", 2005, None, {1: 2}),
        ],
    )
    tables = (
        "tvshows",
        "tvshow_episodes",
        "plex_show_mappings",
        "plex_conflicts",
        "plex_history_held",
        "plex_sync_cursors",
        "plex_sync_shows",
        "notification_outbox",
    )

    async def snapshot() -> dict[str, list[object]]:
        out = {}
        for table in tables:
            rows = await daemon.fetch(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = [tuple(r.values()) for r in rows]
        return out

    before = await snapshot()
    dry = await daemon.services.history.run_now(
        user_id, trigger="cli", mode="full" if full else "incremental", dry_run=True
    )
    assert dry is not None and dry.state == "succeeded" and dry.dry_run
    assert await snapshot() == before
    assert (dry.episodes_marked, dry.conflicts_raised, dry.episodes_held) == (4, 1, 1)

    real = await daemon.services.history.run_now(user_id, trigger="cli")
    assert real is not None
    assert (real.episodes_marked, real.conflicts_raised, real.episodes_held) == (4, 1, 1)


async def test_watermarks_and_show_marks_are_stored_per_server(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    office, _ = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0 + 7)
    await daemon.services.history.run_now(user_id, trigger="cli")
    async with daemon.services.pool.acquire() as conn:
        cursor = await sync_state.cursor(conn, user_id, plex.machine_identifier, "1")
        marks = await sync_state.show_marks(conn, user_id, plex.machine_identifier, ["100"])
    assert cursor.watermark is not None and int(cursor.watermark.timestamp()) == T0 + 7
    assert not cursor.resuming
    assert {k: int(v.timestamp()) for k, v in marks.items()} == {"100": T0 + 7}


# --- multi-episode files ---------------------------------------------------------------------
def two_part_file(show: PlexShowFixture, season: int, first: int) -> None:
    """Plex lists both episodes of a two-episode file, each pointing at the same file."""
    name = f"{show.title} - S{season:02d}E{first:02d}-E{first + 1:02d}.mkv"
    path = f"/data/tv/{show.title}/Season {season:02d}/{name}"
    show.ep(season, first).file = path
    show.ep(season, first + 1).file = path


async def test_a_multi_episode_file_marks_every_episode_it_holds_in_a_sync(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice", accounts=["1", "bob"])
    office, _ = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    plex.add_account(BOB, "bob")
    two_part_file(office, 1, 4)  # the owner's play: the library pass reads the file
    two_part_file(office, 2, 1)  # bob's play: only the history has it
    plex.watch(office.ep(1, 4).rating_key, viewed_at=T0)
    plex.watch(office.ep(2, 1).rating_key, account_id=BOB, viewed_at=T0 + DAY)

    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded", run.error
    assert await watched(daemon, user_id, "The Office") == [(1, 4), (1, 5), (2, 1), (2, 2)]
    dates = await watch_dates(daemon, user_id, "The Office")
    assert dates[(1, 5)] == T0 and dates[(2, 2)] == T0 + DAY
    assert run.episodes_marked == 4
    assert await totals_consistent(daemon, user_id) == []


async def test_a_multi_episode_file_marks_every_episode_it_holds_from_a_webhook(
    daemon: Daemon,
) -> None:
    user_id, secret = await daemon.connect("alice")
    office, _ = await office_and_severance(daemon, user_id)
    two_part_file(office, 1, 4)
    # Plex scrobbles only the file's first episode, with the whole file's length.
    meta = episode(
        show="The Office",
        show_key="100",
        season=1,
        number=4,
        item_key=office.ep(1, 4).rating_key,
        grandparent_guid=daemon.plex_server.items["100"].guid,
    )
    meta["duration"] = 2 * 30 * 60_000  # two 30-minute episodes
    answer = await daemon.post(scrobble(meta), secret)
    assert answer.status_code == 200, answer.text
    row = await daemon.settled(answer.json()["id"])
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched"), dict(row)
    await daemon.services.multi_episode.drain()
    assert await watched(daemon, user_id, "The Office") == [(1, 4), (1, 5)]
    assert await totals_consistent(daemon, user_id) == []
    assert daemon.plex_server.requests_to(f"/library/metadata/{office.ep(1, 4).rating_key}")

    # One episode's length: a one-episode file, nothing to ask the server.
    requests = len(daemon.plex_server.requests)
    single = episode(
        show="The Office",
        show_key="100",
        season=1,
        number=1,
        item_key=office.ep(1, 1).rating_key,
        grandparent_guid=daemon.plex_server.items["100"].guid,
    )
    single["duration"] = 29 * 60_000
    answer = await daemon.post(scrobble(single), secret)
    await daemon.settled(answer.json()["id"])
    await daemon.services.multi_episode.drain()
    assert len(daemon.plex_server.requests) == requests
    # No length given (some relays): left to the scheduled sync.
    del single["duration"]
    single["index"], single["ratingKey"] = 2, office.ep(1, 2).rating_key
    answer = await daemon.post(scrobble(single), secret)
    await daemon.settled(answer.json()["id"])
    await daemon.services.multi_episode.drain()
    assert len(daemon.plex_server.requests) == requests
    # A long play of a one-episode file: asked once, then the answer is remembered.
    single["index"], single["ratingKey"] = 3, office.ep(1, 3).rating_key
    single["duration"] = 90 * 60_000  # an extended cut
    for _ in range(2):
        answer = await daemon.post(scrobble(single), secret)
        await daemon.settled(answer.json()["id"])
    await daemon.services.multi_episode.drain()
    assert len(daemon.plex_server.requests) == requests + 1
    watched_now = await watched(daemon, user_id, "The Office")
    assert watched_now == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]


async def test_the_webhook_is_marked_even_when_the_server_cannot_say_what_its_file_holds(
    daemon: Daemon,
) -> None:
    user_id, secret = await daemon.connect("alice")
    office, _ = await office_and_severance(daemon, user_id)
    two_part_file(office, 1, 4)
    daemon.plex_server.watch(office.ep(1, 1).rating_key, viewed_at=T0)
    await daemon.services.history.run_now(user_id, trigger="cli")  # maps the show
    daemon.plex_server.down = True
    meta = episode(
        show="The Office",
        show_key="100",
        season=1,
        number=4,
        item_key=office.ep(1, 4).rating_key,
    )
    meta["duration"] = 2 * 30 * 60_000
    answer = await daemon.post(scrobble(meta), secret)
    row = await daemon.settled(answer.json()["id"])
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    await daemon.services.multi_episode.drain()
    assert await watched(daemon, user_id, "The Office") == [(1, 1), (1, 4)]
    assert daemon.plex_server.requests[-1].path == "/identity"  # it asked; the server was down
    # Back up: the scheduled sync reads the file from the library and completes the range.
    daemon.plex_server.down = False
    office.ep(1, 4).view_count, office.ep(1, 4).last_viewed_at = (
        1,
        int(datetime.now(UTC).timestamp()),
    )
    run = await daemon.services.history.run_now(user_id, trigger="job")
    assert run is not None and run.state == "succeeded"
    assert await watched(daemon, user_id, "The Office") == [(1, 1), (1, 4), (1, 5)]


# --- conflicts -----------------------------------------------------------------------------------
async def test_an_uncertain_show_raises_one_conflict_holding_all_its_episodes(
    daemon: Daemon,
) -> None:
    user_id, secret = await daemon.connect("alice")
    await daemon.import_shows(
        user_id,
        [
            tracker_show("Doctor Who", 1963, None, {1: 6}),
            tracker_show("Doctor Who", 2005, None, {1: 6}),
        ],
    )
    plex = daemon.plex_server
    who = plex_show(plex, 700, "Doctor Who", None, {1: 6}, guids=[])
    for n in (1, 2, 3):
        plex.watch(who.ep(1, n).rating_key, viewed_at=T0 + n)
    plex.watch(who.ep(1, 1).rating_key, viewed_at=T0 + 99)  # a rewatch: still one episode

    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded"
    assert (run.conflicts_raised, run.episodes_held, run.episodes_marked) == (1, 3, 0)
    (conflict,) = await daemon.services.conflicts.list_open(user_id)
    assert conflict.conflict_type == "multiple_matches" and conflict.held_scrobbles == 3
    outbox = await daemon.fetch("SELECT kind, ref_id FROM notification_outbox")
    assert [(r["kind"], r["ref_id"]) for r in outbox] == [("conflict", conflict.id)]

    # Another run, with more plays, joins the same conflict; a webhook of the show too.
    plex.watch(who.ep(1, 4).rating_key, viewed_at=int(datetime.now(UTC).timestamp()))
    again = await daemon.services.history.run_now(user_id, trigger="cli", mode="full")
    assert again is not None and (again.conflicts_raised, again.episodes_held) == (0, 1)
    meta = episode(
        show="Doctor Who",
        show_key="700",
        season=1,
        number=5,
        item_key=who.ep(1, 5).rating_key,
        grandparent_guid=plex.items["700"].guid,
        year=None,
    )
    answer = await daemon.post(scrobble(meta), secret)
    row = await daemon.settled(answer.json()["id"])
    assert row["held_by_conflict_id"] == conflict.id
    assert len(await daemon.services.conflicts.list_open(user_id)) == 1
    assert (await daemon.services.conflicts.get(user_id, conflict.id)).held_scrobbles == 5

    modern = (await daemon.fetch("SELECT id FROM tvshows WHERE show_start_date = '2005-01-01'"))[0]
    resolution = await daemon.services.conflicts.resolve(
        conflict.id, user_id=user_id, choice=UseShow(modern["id"]), resolved_by="cli"
    )
    assert (resolution.held, resolution.episodes_marked) == (5, 5)
    rows = await daemon.fetch(
        """SELECT e.episode, EXTRACT(EPOCH FROM e.date_watched)::bigint AS at
           FROM tvshow_episodes e WHERE e.tvshow_id = $1 AND e.watched ORDER BY 1""",
        modern["id"],
    )
    assert [r["episode"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["at"] == T0 + 1  # the earliest play of E1
    sources = await daemon.fetch(
        "SELECT episode, watch_source FROM tvshow_episodes WHERE tvshow_id = $1 AND watched "
        "ORDER BY episode",
        modern["id"],
    )
    assert [s["watch_source"] for s in sources] == ["history"] * 4 + ["webhook"]
    assert await daemon.fetch("SELECT * FROM plex_history_held") == []
    assert await totals_consistent(daemon, user_id) == []
    # From now on the show is mapped: a later sync marks directly.
    plex.watch(who.ep(1, 6).rating_key, viewed_at=int(datetime.now(UTC).timestamp()))
    later = await daemon.services.history.run_now(user_id, trigger="cli")
    assert later is not None and (later.episodes_marked, later.episodes_held) == (1, 0)


async def test_ignoring_the_conflict_drops_its_held_history(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    await daemon.import_shows(user_id, [tracker_show("Doctor Who", 2005, None, {1: 6})])
    plex = daemon.plex_server
    who = plex_show(plex, 700, "Dr Who?", None, {1: 6}, guids=[])
    plex.watch(who.ep(1, 1).rating_key, viewed_at=T0)
    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.conflicts_raised == 1
    (conflict,) = await daemon.services.conflicts.list_open(user_id)
    resolution = await daemon.services.conflicts.resolve(
        conflict.id, user_id=user_id, choice=Ignore(), resolved_by="cli"
    )
    assert (resolution.held, resolution.episodes_marked) == (1, 0)
    assert await daemon.fetch("SELECT * FROM plex_history_held") == []
    again = await daemon.services.history.run_now(user_id, trigger="cli", mode="full")
    assert again is not None and again.skipped == {SHOW_IGNORED: 1}


async def test_without_a_server_url_the_first_address_plex_tv_lists_that_answers_is_used(
    daemon: Daemon,
) -> None:
    user_id, _ = await daemon.connect("alice", server=False)
    office, _ = await office_and_severance(daemon, user_id)
    plex = daemon.plex_server
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0)

    def connection(uri: str, *, local: bool, relay: bool = False) -> dict[str, object]:
        return {"protocol": "http", "uri": uri, "local": local, "relay": relay}

    async with FakePlexServer() as impostor:
        daemon.plextv.add_server(
            PLEX_TOKEN,
            name="Living Room",
            client_identifier=plex.machine_identifier,
            connections=[
                connection(closed_port_url(), local=True),  # a LAN address from elsewhere
                connection(impostor.base_url, local=True),  # another Plex server answers there
                connection(plex.base_url, local=False),
                connection(closed_port_url(), local=False, relay=True),
            ],
        )
        run = await daemon.services.history.run_now(user_id, trigger="cli")
        assert run is not None and run.state == "succeeded", run.error
        assert run.server_id == plex.machine_identifier and run.episodes_marked == 1
        # The other server was only asked who it is.
        assert [r.path for r in impostor.requests] == ["/identity"]
        # The address that worked is tried first next time; nothing was pinned in the config.
        again = await daemon.services.history.run_now(user_id, trigger="cli")
        assert again is not None and again.state == "succeeded"
        assert len(impostor.requests) == 1
    config = await daemon.services.accounts.config(user_id)
    assert config.server_url is None


async def test_no_address_answering_is_a_clear_failed_run(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice", server=False)
    daemon.plextv.add_server(
        PLEX_TOKEN,
        name="Living Room",
        client_identifier=daemon.plex_server.machine_identifier,
        uris=[closed_port_url()],
    )
    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "failed"
    assert run.error is not None and "'Living Room' did not answer at any of its" in run.error
    assert "set --server-url" in run.error
    # The shared locator recorded the outage: the owner is told once, not per run.
    notices = await daemon.fetch("SELECT kind FROM notification_outbox")
    assert [n["kind"] for n in notices] == ["server_problem"]
    again = await daemon.services.history.run_now(user_id, trigger="cli")
    assert again is not None and again.state == "failed"
    assert len(await daemon.fetch("SELECT kind FROM notification_outbox")) == 1


async def test_an_episode_the_tracker_lacks_is_asked_of_tmdb_once(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect("alice")
    # The tracker knows three episodes; TMDB knows six; Plex has a seventh (a special cut).
    await daemon.import_shows(user_id, [tracker_show("Severance", 2022, 95396, {1: 3})])
    daemon.tmdb.add_show(95396, "Severance", year=2022, seasons={1: 6})
    plex = daemon.plex_server
    show = plex_show(plex, 800, "Severance", 2022, {1: 7}, tmdb_id=95396)
    for n in (2, 5, 7):
        plex.watch(show.ep(1, n).rating_key, viewed_at=T0 + n)
    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded", run.error
    assert await watched(daemon, user_id, "Severance") == [(1, 2), (1, 5)]
    assert run.episodes_marked == 2 and run.skipped == {NOT_IN_TRACKER: 1}
    season_calls = [r for r in daemon.tmdb.requests if r.path.endswith("/season/1")]
    assert len(season_calls) == 1  # once per run, though both passes saw the episodes
    assert await totals_consistent(daemon, user_id) == []

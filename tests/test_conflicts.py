"""Uncertain matches end to end: a scrobble the daemon is not sure about becomes a conflict,
later scrobbles of that show queue behind it, and resolving it (service, CLI) records the
choice and replays them in order. Real HTTP, real PostgreSQL, the real console script;
TMDB and the Plex server are the wire-level fakes."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest

from core.errors import InvalidInputError, NotFoundError
from core.services.conflicts import (
    Choice,
    Ignore,
    Pick,
    Resolution,
    UseShow,
    UseTmdb,
    parse_choice,
)
from tests.cli import run_cli, table_rows
from tests.fakes.tmdb import DEFAULT_API_KEY
from tests.harness import Daemon
from tests.plex_payloads import episode, legacy_episode, scrobble


def show(title: str, year: int | None, episodes: int = 6, **extra: Any) -> dict[str, Any]:
    """A tracker show for `import_shows`: season 1 with `episodes` episodes."""
    data: dict[str, Any] = {
        "title": title,
        "seasons": [
            {
                "season_number": 1,
                "episodes": [{"episode_number": n, "runtime": 30} for n in range(1, episodes + 1)],
            }
        ],
        **extra,
    }
    if year is not None:
        data["year"] = year
    return data


def current_agent(
    daemon: Daemon, key: str, title: str, year: int | None, number: int
) -> dict[str, Any]:
    """A plex:// scrobble of S01E`number`; the show's title, year and ids (none by default)
    come from the fake Plex server, as with a real one."""
    guid = f"plex://show/{key:0>24}"
    daemon.plex_server.add_show(key, title, year, guid=guid)
    return scrobble(
        episode(show=title, show_key=key, season=1, number=number, grandparent_guid=guid)
    )


def legacy(title: str, key: str, number: int, tvdb_id: str = "999001") -> dict[str, Any]:
    """A legacy TheTVDB-agent scrobble whose id is in neither the tracker nor TMDB, and
    without a show year (the webhook's `year` is the episode's; the server has no entry)."""
    return scrobble(legacy_episode("thetvdb", tvdb_id, 1, number, show=title, show_key=key))


async def post(daemon: Daemon, payload: dict[str, Any], secret: str) -> Any:
    answer = await daemon.post(payload, secret)
    assert answer.status_code == 200, answer.text
    return await daemon.settled(answer.json()["id"])


async def show_id(daemon: Daemon, user_id: int, title: str, year: int | None = None) -> int:
    rows = await daemon.fetch(
        """SELECT id FROM tvshows WHERE user_id = $1 AND title = $2
             AND ($3::int IS NULL OR EXTRACT(YEAR FROM show_start_date) = $3)""",
        user_id,
        title,
        year,
    )
    assert len(rows) == 1, rows
    return int(rows[0]["id"])


async def watched(daemon: Daemon, tvshow_id: int) -> list[int]:
    rows = await daemon.fetch(
        "SELECT episode FROM tvshow_episodes WHERE tvshow_id = $1 AND watched ORDER BY episode",
        tvshow_id,
    )
    return [r["episode"] for r in rows]


async def log_rows(daemon: Daemon, ids: list[int]) -> list[Any]:
    return await daemon.fetch("SELECT * FROM plex_webhook_logs WHERE id = ANY($1) ORDER BY id", ids)


async def conflict_row(daemon: Daemon, conflict_id: int) -> Any:
    rows = await daemon.fetch("SELECT * FROM plex_conflicts WHERE id = $1", conflict_id)
    return rows[0]


async def mapping_row(daemon: Daemon, user_id: int, key: str) -> Any:
    rows = await daemon.fetch(
        "SELECT * FROM plex_show_mappings WHERE user_id = $1 AND plex_rating_key = $2",
        user_id,
        key,
    )
    return rows[0] if rows else None


async def raise_conflict(
    daemon: Daemon, secret: str, payloads: list[dict[str, Any]], conflict_type: str
) -> tuple[int, list[int]]:
    """Post the scrobbles one by one: the first raises a conflict, the rest queue behind it,
    still pending, none failed. Returns (conflict id, log ids)."""
    rows = [await post(daemon, p, secret) for p in payloads]
    conflict_id = rows[0]["held_by_conflict_id"]
    assert conflict_id is not None, dict(rows[0])
    assert [r["status"] for r in rows] == ["pending"] * len(rows)
    assert [r["action_taken"] for r in rows] == ["conflict_created"] + ["held_for_conflict"] * (
        len(rows) - 1
    )
    assert {r["held_by_conflict_id"] for r in rows} == {conflict_id}
    conflict = await conflict_row(daemon, conflict_id)
    assert conflict["conflict_type"] == conflict_type
    assert not conflict["resolved"]
    return conflict_id, [r["id"] for r in rows]


def number_of(candidates: list[dict[str, Any]], **match: Any) -> int:
    """The 1-based number of the candidate with these fields, as the CLI lists them."""
    for number, c in enumerate(candidates, start=1):
        if all(c.get(k) == v for k, v in match.items()):
            return number
    raise AssertionError(f"no candidate {match} in {candidates}")


async def assert_replayed_in_order(daemon: Daemon, log_ids: list[int], action: str) -> None:
    rows = await log_rows(daemon, log_ids)
    assert [(r["status"], r["action_taken"]) for r in rows] == [
        ("ignored" if action == "show_ignored" else "success", action)
    ] * len(log_ids)
    assert all(r["held_by_conflict_id"] is None for r in rows)
    # Oldest first: each replayed row finished after the one before it.
    finished = [r["processed_at"] for r in rows]
    assert finished == sorted(finished)


# --- conflicts and the routes out of them ---------------------------------------------------
async def test_no_match_offers_tmdb_and_picking_it_adds_the_show_and_replays(
    daemon: Daemon,
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("The Office", 2005)])
    daemon.tmdb.add_show(95396, "Severance", year=2022, seasons={1: 9}, tvdb_id=371980)
    daemon.tmdb.add_show(70000, "Severance Pay", year=2010, seasons={1: 3})

    payloads = [current_agent(daemon, "5001", "Severance", 2022, n) for n in (1, 2, 3)]
    conflict_id, log_ids = await raise_conflict(daemon, secret, payloads, "no_match")

    conflict = await daemon.services.conflicts.get(user_id, conflict_id)
    assert conflict.held_scrobbles == 3
    # No tracker show comes close; TMDB's search with Plex's year does.
    assert [c["source"] for c in conflict.potential_matches] == ["tmdb"]
    first = conflict.potential_matches[0]
    assert (first["tmdb_id"], first["title"], first["year"]) == (95396, "Severance", 2022)
    assert first["tvshow_id"] is None and first["confidence"] >= 0.9 and first["why"]
    # The owner is told once (the Discord bot reads the outbox).
    outbox = await daemon.fetch("SELECT kind, ref_id FROM notification_outbox")
    assert [(r["kind"], r["ref_id"]) for r in outbox] == [("conflict", conflict_id)]

    result = await daemon.services.conflicts.resolve(
        conflict_id, user_id=user_id, choice=Pick(1), resolved_by="api"
    )
    added = await show_id(daemon, user_id, "Severance")
    assert result == Resolution(
        conflict_id=conflict_id,
        user_id=user_id,
        plex_title="Severance",
        action="added",
        tvshow_id=added,
        tvshow_title="Severance",
        held=3,
        episodes_marked=3,
        already_resolved=False,
        resolved_by="api",
        resolved_at=result.resolved_at,
    )
    assert result.resolved_at is not None
    # Added from TMDB with all its episodes, the three held ones watched.
    assert await watched(daemon, added) == [1, 2, 3]
    rows = await daemon.fetch("SELECT total_episodes, tmdb_id FROM tvshows WHERE id = $1", added)
    assert (rows[0]["total_episodes"], rows[0]["tmdb_id"]) == (9, 95396)
    await assert_replayed_in_order(daemon, log_ids, "marked_watched")

    c = await conflict_row(daemon, conflict_id)
    assert (c["resolved"], c["resolved_tvshow_id"], c["resolution_action"], c["resolved_by"]) == (
        True,
        added,
        "added",
        "api",
    )
    m = await mapping_row(daemon, user_id, "5001")
    assert (m["tvshow_id"], m["match_method"], float(m["match_confidence"])) == (
        added,
        "manual",
        1.0,
    )
    assert m["manually_confirmed"] and m["sync_enabled"]

    # Later scrobbles of that show go straight through the mapping.
    later = await post(daemon, current_agent(daemon, "5001", "Severance", 2022, 4), secret)
    assert (later["status"], later["action_taken"], later["tvshow_id"]) == (
        "success",
        "marked_watched",
        added,
    )
    assert later["held_by_conflict_id"] is None
    assert await daemon.services.conflicts.list_open(user_id) == []


async def test_same_title_without_a_year_is_multiple_matches_and_picking_a_tracker_show_replays(
    daemon: Daemon,
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Doctor Who", 1963), show("Doctor Who", 2005)])
    classic = await show_id(daemon, user_id, "Doctor Who", 1963)
    modern = await show_id(daemon, user_id, "Doctor Who", 2005)

    payloads = [legacy("Doctor Who", "7001", n) for n in (2, 1, 5)]
    conflict_id, log_ids = await raise_conflict(daemon, secret, payloads, "multiple_matches")
    conflict = await daemon.services.conflicts.get(None, conflict_id)
    assert conflict.plex_year is None
    tracker = [c for c in conflict.potential_matches if c["source"] == "tracker"]
    assert {c["tvshow_id"] for c in tracker} == {classic, modern}
    assert tracker[0]["confidence"] == tracker[1]["confidence"]  # too close to call

    pick = number_of(conflict.potential_matches, tvshow_id=modern)
    result = await daemon.services.conflicts.resolve(
        conflict_id, user_id=user_id, choice=Pick(pick), resolved_by="discord:42"
    )
    assert (result.action, result.tvshow_id, result.tvshow_title) == (
        "picked",
        modern,
        "Doctor Who",
    )
    assert (result.held, result.episodes_marked, result.already_resolved) == (3, 3, False)
    assert await watched(daemon, modern) == [1, 2, 5]
    assert await watched(daemon, classic) == []
    await assert_replayed_in_order(daemon, log_ids, "marked_watched")
    assert (await conflict_row(daemon, conflict_id))["resolved_by"] == "discord:42"

    later = await post(daemon, legacy("Doctor Who", "7001", 6), secret)
    assert (later["status"], later["tvshow_id"]) == ("success", modern)
    assert await watched(daemon, modern) == [1, 2, 5, 6]


async def test_cli_lists_conflicts_and_resolves_with_show(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Star Trek: Deep Space Nine", 1993)])
    ds9 = await show_id(daemon, user_id, "Star Trek: Deep Space Nine")
    payloads = [current_agent(daemon, "6001", "Star Trek: Deep Space 9", 1993, n) for n in (1, 2)]
    conflict_id, log_ids = await raise_conflict(daemon, secret, payloads, "low_confidence")

    listed = await asyncio.to_thread(run_cli, "conflicts", "--user", "alice", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert f"conflict {conflict_id}: 'Star Trek: Deep Space 9' (1993)" in out
    assert "low_confidence" in out and "held scrobbles: 2" in out
    rows = table_rows(out)
    assert ["pick", "candidate", "confidence", "where", "why"] in rows, "a header row"
    assert any(
        r[:4] == ["1", "Star Trek: Deep Space Nine (1993)", "0.80", f"tracker show {ds9}"]
        for r in rows
    ), out
    assert "user alice" in out
    assert "plex-tracker resolve ID" in out

    done = await asyncio.to_thread(
        run_cli, "resolve", str(conflict_id), "--show", str(ds9), "--user", "alice", env=cli_env
    )
    assert done.returncode == 0, done.stderr
    assert f"-> Star Trek: Deep Space Nine [show {ds9}] (chose_show)" in done.stdout
    assert "replayed 2 held scrobbles, 2 episodes marked watched" in done.stdout
    assert await watched(daemon, ds9) == [1, 2]
    await assert_replayed_in_order(daemon, log_ids, "marked_watched")
    assert (await conflict_row(daemon, conflict_id))["resolved_by"] == "cli"

    # Again: harmless, says so, changes nothing.
    again = await asyncio.to_thread(run_cli, "resolve", str(conflict_id), "--ignore", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already resolved by cli at ")
    assert "replayed 2 held scrobbles, 2 episodes marked watched" in again.stdout
    assert (await mapping_row(daemon, user_id, "6001"))["sync_enabled"]

    empty = await asyncio.to_thread(run_cli, "conflicts", env=cli_env)
    assert empty.stdout.strip() == "no open conflicts"

    later = await post(
        daemon, current_agent(daemon, "6001", "Star Trek: Deep Space 9", 1993, 3), secret
    )
    assert (later["status"], later["tvshow_id"]) == ("success", ds9)


async def test_cli_resolves_with_a_tmdb_id_against_the_fake_tmdb(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Shameless", 2004), show("Shameless", 2011)])
    daemon.tmdb.add_show(34307, "Shameless", year=2011, seasons={1: 12}, tvdb_id=161511)
    payloads = [legacy("Shameless (US)", "8001", n) for n in (1, 2)]
    conflict_id, log_ids = await raise_conflict(daemon, secret, payloads, "multiple_matches")

    env = {**cli_env, "TMDB_BASE_URL": daemon.tmdb.base_url, "TMDB_API_KEY": DEFAULT_API_KEY}
    # A TMDB id TMDB does not know: a clear error, nothing changed.
    missing = await asyncio.to_thread(
        run_cli, "resolve", str(conflict_id), "--tmdb", "424242", env=env
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: TMDB has no TV show 424242"
    assert not (await conflict_row(daemon, conflict_id))["resolved"]

    done = await asyncio.to_thread(run_cli, "resolve", str(conflict_id), "--tmdb", "34307", env=env)
    assert done.returncode == 0, done.stderr
    assert "(added)" in done.stdout and "2 episodes marked watched" in done.stdout
    # The tracker's 2011 show had no TMDB id: same title and year, so TMDB's details and
    # twelve episodes went onto it rather than into a second copy.
    us = await show_id(daemon, user_id, "Shameless", 2011)
    rows = await daemon.fetch("SELECT tmdb_id, total_episodes FROM tvshows WHERE id = $1", us)
    assert (rows[0]["tmdb_id"], rows[0]["total_episodes"]) == (34307, 12)
    assert await watched(daemon, us) == [1, 2]
    assert await watched(daemon, await show_id(daemon, user_id, "Shameless", 2004)) == []
    await assert_replayed_in_order(daemon, log_ids, "marked_watched")


async def test_ignore_makes_held_and_later_scrobbles_ignored(daemon: Daemon) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Dark", 2017)])
    dark = await show_id(daemon, user_id, "Dark")
    payloads = [legacy("Dark", "9001", n) for n in (1, 2)]
    conflict_id, log_ids = await raise_conflict(daemon, secret, payloads, "low_confidence")

    result = await daemon.services.conflicts.resolve(
        conflict_id, user_id=user_id, choice=Ignore(), resolved_by="cli"
    )
    assert (result.action, result.tvshow_id, result.held, result.episodes_marked) == (
        "ignored",
        None,
        2,
        0,
    )
    await assert_replayed_in_order(daemon, log_ids, "show_ignored")
    rows = await log_rows(daemon, log_ids)
    assert {r["error_message"] for r in rows} == {"this Plex show is ignored"}
    m = await mapping_row(daemon, user_id, "9001")
    assert (m["tvshow_id"], m["match_method"], m["sync_enabled"], m["manually_confirmed"]) == (
        None,
        "ignored",
        False,
        True,
    )
    later = await post(daemon, legacy("Dark", "9001", 3), secret)
    assert (later["status"], later["action_taken"]) == ("ignored", "show_ignored")
    assert await watched(daemon, dark) == []
    assert (await conflict_row(daemon, conflict_id))["resolved_tvshow_id"] is None


async def test_resolving_twice_at_once_does_it_once(daemon: Daemon) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Knight Rider", 1982), show("Knight Rider", 2008)])
    first = await show_id(daemon, user_id, "Knight Rider", 1982)
    second = await show_id(daemon, user_id, "Knight Rider", 2008)
    payloads = [legacy("Knight Rider", "1101", n) for n in (1, 2, 3)]
    conflict_id, _ = await raise_conflict(daemon, secret, payloads, "multiple_matches")

    choices: list[Choice] = [UseShow(first), UseShow(second)]
    results = await asyncio.gather(
        *(
            daemon.services.conflicts.resolve(
                conflict_id, user_id=user_id, choice=c, resolved_by=f"discord:{i}"
            )
            for i, c in enumerate(choices)
        )
    )
    fresh = [r for r in results if not r.already_resolved]
    assert len(fresh) == 1
    winner = fresh[0]
    loser = next(r for r in results if r.already_resolved)
    # The second click reports the first outcome; it did nothing of its own.
    assert (loser.tvshow_id, loser.held, loser.episodes_marked, loser.resolved_by) == (
        winner.tvshow_id,
        3,
        3,
        winner.resolved_by,
    )
    other = second if winner.tvshow_id == first else first
    assert winner.tvshow_id is not None
    assert await watched(daemon, winner.tvshow_id) == [1, 2, 3]
    assert await watched(daemon, other) == []
    m = await mapping_row(daemon, user_id, "1101")
    assert m["tvshow_id"] == winner.tvshow_id


async def test_scrobbles_arriving_during_resolution_are_never_left_behind(
    daemon: Daemon,
) -> None:
    """A scrobble parked behind the conflict just as it is resolved must still be replayed,
    and one checked just after must go through the mapping: none stays pending."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("The Flash", 1990), show("The Flash", 2014, 20)])
    modern = await show_id(daemon, user_id, "The Flash", 2014)
    conflict_id, _ = await raise_conflict(
        daemon, secret, [legacy("The Flash", "1201", 1)], "multiple_matches"
    )
    burst = [daemon.post(legacy("The Flash", "1201", n), secret) for n in range(2, 16)]
    resolving = daemon.services.conflicts.resolve(
        conflict_id, user_id=user_id, choice=UseShow(modern), resolved_by="api"
    )
    answers = await asyncio.gather(*burst[:7], resolving, *burst[7:])
    ids = [a.json()["id"] for a in answers if not isinstance(a, Resolution)]
    for log_id in ids:
        await daemon.settled(log_id)
    stuck = await daemon.fetch(
        "SELECT id, action_taken FROM plex_webhook_logs WHERE status <> 'success'"
    )
    assert stuck == []
    assert await watched(daemon, modern) == list(range(1, 16))


async def test_another_users_conflict_is_refused_and_bad_choices_change_nothing(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    alice, secret = await daemon.connect("alice")
    bob, _ = await daemon.connect("bob")
    await daemon.import_shows(alice, [show("Gossip Girl", 2007), show("Gossip Girl", 2021)])
    await daemon.import_shows(bob, [show("Gossip Girl", 2007)])
    bobs_show = await show_id(daemon, bob, "Gossip Girl")
    conflict_id, _ = await raise_conflict(
        daemon, secret, [legacy("Gossip Girl", "1301", 1)], "multiple_matches"
    )
    conflicts = daemon.services.conflicts
    with pytest.raises(NotFoundError, match=f"no conflict {conflict_id}"):
        await conflicts.get(bob, conflict_id)
    with pytest.raises(NotFoundError, match=f"no conflict {conflict_id}"):
        await conflicts.resolve(conflict_id, user_id=bob, choice=Ignore(), resolved_by="api")
    assert await conflicts.list_open(bob) == []
    assert [c.id for c in await conflicts.list_open(alice)] == [conflict_id]
    # Bob's show is not Alice's to pick.
    with pytest.raises(NotFoundError, match=f"show {bobs_show} is not in"):
        await conflicts.resolve(
            conflict_id, user_id=alice, choice=UseShow(bobs_show), resolved_by="api"
        )
    with pytest.raises(InvalidInputError, match="no candidate 9"):
        await conflicts.resolve(conflict_id, user_id=alice, choice=Pick(9), resolved_by="api")

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run_cli, *args, env=cli_env)

    refused = await cli("resolve", str(conflict_id), "--ignore", "--user", "bob")
    # The CLI is the operator: it says whose conflict it is rather than "not found".
    assert (refused.returncode, refused.stderr.strip()) == (
        1,
        f"error: conflict {conflict_id} belongs to alice, not bob: "
        "leave out --user to resolve it as the operator",
    )
    unknown = await cli("resolve", "99999", "--ignore")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "error: no conflict 99999")
    bad = await cli("resolve", str(conflict_id), "--pick", "0")
    assert bad.returncode == 1 and "has no candidate 0" in bad.stderr
    both = await cli("resolve", str(conflict_id), "--pick", "1", "--ignore")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    nobody = await cli("conflicts", "--user", "carol")
    assert nobody.returncode == 1 and nobody.stderr.startswith("error: ")

    # Nothing of that changed anything.
    c = await conflict_row(daemon, conflict_id)
    assert not c["resolved"] and c["resolution_action"] is None
    assert await mapping_row(daemon, alice, "1301") is None
    held = await daemon.fetch(
        "SELECT status FROM plex_webhook_logs WHERE held_by_conflict_id = $1", conflict_id
    )
    assert [r["status"] for r in held] == ["pending"]


async def test_title_and_year_exact_and_unique_maps_by_fuzzy(daemon: Daemon) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Breaking Bad", 2008), show("Better Call Saul", 2015)])
    bb = await show_id(daemon, user_id, "Breaking Bad")
    row = await post(daemon, current_agent(daemon, "1401", "Breaking Bad", 2008, 3), secret)
    assert (row["status"], row["action_taken"], row["tvshow_id"]) == (
        "success",
        "marked_watched",
        bb,
    )
    m = await mapping_row(daemon, user_id, "1401")
    assert (m["tvshow_id"], m["match_method"], m["manually_confirmed"]) == (bb, "fuzzy", False)
    assert float(m["match_confidence"]) >= 0.9
    assert await daemon.fetch("SELECT id FROM plex_conflicts") == []


async def test_remap_makes_future_scrobbles_follow_the_new_show(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(
        user_id, [show("The Office", 2005), show("The Office", 2001, tmdb_id=2996)]
    )
    us = await show_id(daemon, user_id, "The Office", 2005)
    uk = await show_id(daemon, user_id, "The Office", 2001)
    # Plex says it is the 2005 show: the title step maps it there.
    first = await post(daemon, current_agent(daemon, "1501", "The Office", 2005, 1), secret)
    assert first["tvshow_id"] == us

    listed = await asyncio.to_thread(run_cli, "mappings", "--user", "alice", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    assert ["1501", "The Office (2005)", f"The Office [show {us}]", "fuzzy", "1.00"] in [
        r[1:] for r in table_rows(listed.stdout)
    ]

    moved = await asyncio.to_thread(
        run_cli, "remap", "--user", "alice", "--plex-key", "1501", "--show", str(uk), env=cli_env
    )
    assert moved.returncode == 0, moved.stderr
    assert f"-> show {uk}; future scrobbles follow this mapping" in moved.stdout
    m = await mapping_row(daemon, user_id, "1501")
    assert (m["tvshow_id"], m["match_method"], m["manually_confirmed"], m["tmdb_id"]) == (
        uk,
        "manual",
        True,
        2996,
    )

    later = await post(daemon, current_agent(daemon, "1501", "The Office", 2005, 2), secret)
    assert later["tvshow_id"] == uk
    assert await watched(daemon, uk) == [2]
    assert await watched(daemon, us) == [1]  # the past stays where it was

    wrong = await asyncio.to_thread(
        run_cli, "remap", "--user", "alice", "--plex-key", "nope", "--show", str(uk), env=cli_env
    )
    assert (wrong.returncode, wrong.stderr.strip()) == (1, "error: no mapping for Plex show 'nope'")


# --- pure ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("pick:2", Pick(2)),
        ("tmdb:1399", UseTmdb(1399)),
        ("show:7", UseShow(7)),
        ("ignore", Ignore()),
        (" Ignore ", Ignore()),
    ],
)
def test_parse_choice(text: str, choice: Choice) -> None:
    assert parse_choice(text) == choice


@pytest.mark.parametrize("text", ["", "pick", "pick:0", "pick:-1", "tmdb:x", "show:", "ignore:1"])
def test_parse_choice_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInputError, match="unknown choice"):
        parse_choice(text)

"""From a Plex webhook to a watched episode, end to end over real HTTP and PostgreSQL.

Each real-payload fixture and each class of bad input gets its answer and its log row checked.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.services.conflicts import UseShow
from tests.harness import Daemon
from tests.plex_payloads import (
    FAKE_JPEG,
    SHARED,
    episode,
    event,
    legacy_episode,
    movie,
    multipart,
    scrobble,
    track,
)
from tests.processes import free_port

OFFICE = {
    "title": "The Office",
    "year": 2005,
    "tmdb_id": 2316,
    "tvdb_id": 73244,
    "imdb_id": "tt0386676",
    "seasons": [
        {
            "season_number": s,
            "episodes": [{"episode_number": n, "runtime": 22} for n in range(1, 11)],
        }
        for s in (0, 1, 2)
    ],
}
# A trap: TMDB id 397575 is the id of the EPISODE in the webhook's Guid[] (see plex_payloads).
TRAP = {"title": "Some Other Show", "year": 2011, "tmdb_id": 397575}


async def _office(daemon: Daemon, **connect: Any) -> tuple[int, str]:
    user_id, secret = await daemon.connect(**connect)
    daemon.plex_server.add_show(
        "1936543",
        "The Office",
        2005,
        guids=["imdb://tt0386676", "tmdb://2316", "tvdb://73244"],
        guid="plex://show/5d9c086c46115600200aa2fe",
    )
    await daemon.import_shows(user_id, [OFFICE, TRAP])
    return user_id, secret


async def _watched(daemon: Daemon, title: str) -> list[tuple[int, int]]:
    rows = await daemon.fetch(
        """SELECT e.season, e.episode FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id
           WHERE t.title = $1 AND e.watched ORDER BY 1, 2""",
        title,
    )
    return [(r["season"], r["episode"]) for r in rows]


async def _accepted(daemon: Daemon, payload: Any, secret: str, **kw: Any) -> Any:
    answer = await daemon.post(payload, secret, **kw)
    assert answer.status_code == 200, answer.text
    return await daemon.settled(answer.json()["id"])


# --- real payloads ----------------------------------------------------------------------


async def test_current_agent_scrobble_reads_show_ids_from_the_server(daemon: Daemon) -> None:
    _user_id, secret = await _office(daemon)
    row = await _accepted(daemon, scrobble(episode(season=2, number=3)), secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert (row["plex_season"], row["plex_episode"]) == (2, 3)
    assert row["processing_duration_ms"] is not None and row["tvshow_id"] is not None
    assert await _watched(daemon, "The Office") == [(2, 3)]
    assert await _watched(daemon, "Some Other Show") == [], "episode Guid[] is not the show's"
    mapping = (await daemon.fetch("SELECT * FROM plex_show_mappings"))[0]
    assert (mapping["match_method"], float(mapping["match_confidence"])) == ("tmdb_id", 1.0)
    lookups = daemon.plex_server.requests_to("/library/metadata/1936543")
    assert len(lookups) == 1
    assert lookups[0].header("Accept") == "application/json"
    # The next episode of the same show goes straight through the mapping.
    row = await _accepted(daemon, scrobble(episode(season=2, number=4)), secret)
    assert row["action_taken"] == "marked_watched"
    assert len(daemon.plex_server.requests_to("/library/metadata/1936543")) == 1
    show = (await daemon.fetch("SELECT * FROM tvshows WHERE title = 'The Office'"))[0]
    assert (show["watched_episodes"], show["total_minutes"], show["plex_synced"]) == (2, 44, True)


@pytest.mark.parametrize(
    ("agent", "show_id", "method", "confidence"),
    [
        ("thetvdb", "73244", "tvdb_id", 0.95),
        ("themoviedb", "2316", "tmdb_id", 1.0),
        ("imdb", "tt0386676", "imdb_id", 0.95),
    ],
)
async def test_legacy_agents_carry_ids_in_the_guid(
    daemon: Daemon, agent: str, show_id: str, method: str, confidence: float
) -> None:
    _, secret = await _office(daemon)
    row = await _accepted(daemon, scrobble(legacy_episode(agent, show_id, 1, 2)), secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert await _watched(daemon, "The Office") == [(1, 2)]
    mapping = (await daemon.fetch("SELECT * FROM plex_show_mappings"))[0]
    assert (mapping["match_method"], float(mapping["match_confidence"])) == (method, confidence)
    assert daemon.plex_server.requests_to("/library/metadata/1936543") == []


async def test_hama_anime_guid_maps_by_tvdb(daemon: Daemon) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(
        user_id,
        [
            {
                "title": "Attack on Titan",
                "year": 2013,
                "tvdb_id": 267440,
                "seasons": [{"season_number": 1, "episodes": [{"episode_number": 3}]}],
            }
        ],
    )
    meta = episode(show="Shingeki no Kyojin", show_key="777", season=1, number=3, rich=False)
    meta["grandparentGuid"] = "com.plexapp.agents.hama://tvdb-267440?lang=en"
    meta["guid"] = "com.plexapp.agents.hama://tvdb-267440/1/3?lang=en"
    row = await _accepted(daemon, scrobble(meta), secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert await _watched(daemon, "Attack on Titan") == [(1, 3)]


async def test_season_zero_special_is_marked(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    row = await _accepted(daemon, scrobble(legacy_episode("thetvdb", "73244", 0, 1)), secret)
    assert row["action_taken"] == "marked_watched"
    assert await _watched(daemon, "The Office") == [(0, 1)]


@pytest.mark.parametrize(
    ("payload", "action", "reason"),
    [
        (scrobble(movie()), "ignored_media_type", "movie is not a TV episode"),
        (scrobble(track()), "ignored_media_type", "track is not a TV episode"),
        (event("media.play", episode()), "ignored_event", "media.play is not a scrobble"),
        (event("media.pause", episode()), "ignored_event", "media.pause is not a scrobble"),
        (event("media.resume", episode()), "ignored_event", "media.resume is not a scrobble"),
        (event("media.stop", episode()), "ignored_event", "media.stop is not a scrobble"),
        # Ratings are stored on tracker shows (tests/test_tracker_ratings.py); this Plex
        # show isn't mapped to one yet.
        (event("media.rate", episode(), rating=7.5), "rating_unmatched", "not in the tracker"),
        (event("media.rate", episode(), rating="6"), "rating_unmatched", "not in the tracker"),
        (event("library.new", episode()), "ignored_event", "library.new"),
        (event("library.on.deck", episode()), "ignored_event", "library.on.deck"),
        (event("admin.database.backup", None), "ignored_event", "admin.database.backup"),
        (event("device.new", None), "ignored_event", "device.new"),
        (event("playback.started", episode()), "ignored_event", "playback.started"),
    ],
)
async def test_other_events_and_media_are_ignored_with_a_reason(
    daemon: Daemon, payload: dict[str, Any], action: str, reason: str
) -> None:
    _, secret = await _office(daemon)
    answer = await daemon.post(payload, secret, thumb=FAKE_JPEG)
    assert answer.status_code == 200, answer.text
    row = await daemon.log_row(answer.json()["id"])
    assert (row["status"], row["action_taken"]) == ("ignored", action)
    assert reason in row["error_message"]
    assert row["event_type"] == payload["event"]
    assert await _watched(daemon, "The Office") == []


async def test_shared_account_is_ignored_unless_followed(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    answer = await daemon.post(scrobble(episode(), account=SHARED), secret)
    row = await daemon.log_row(answer.json()["id"])
    assert (row["status"], row["error_message"]) == ("ignored", "account not followed")
    # Following bob (by title) and the owner (by id) lets both count.
    _, secret = await daemon.connect(accounts=["1", "bob"])
    row = await _accepted(daemon, scrobble(episode(number=5), account=SHARED), secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")


async def test_pinned_server_ignores_other_servers(daemon: Daemon) -> None:
    user_id, secret = await _office(daemon)
    await daemon.services.accounts.update_settings(user_id, server_uuid="another-server")
    answer = await daemon.post(scrobble(), secret)
    row = await daemon.log_row(answer.json()["id"])
    assert (row["status"], row["error_message"]) == ("ignored", "server not followed")


async def test_local_item_without_ids_is_held_for_a_decision_not_failed(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    meta = episode(show="Home Videos", show_key="4242", season=1, number=1, rich=False)
    meta["grandparentGuid"] = "local://4242"
    meta["guid"] = "local://4243"
    meta.pop("Guid")
    row = await _accepted(daemon, scrobble(meta), secret)
    assert row["status"] == "pending"
    assert row["action_taken"] in ("conflict_created", "needs_match")
    assert row["held_by_conflict_id"] is not None


async def test_unknown_tmdb_show_is_added_with_its_episodes(daemon: Daemon) -> None:
    _user_id, secret = await daemon.connect()
    daemon.tmdb.add_show(
        1396,
        "Breaking Bad",
        year=2008,
        tvdb_id=81189,
        imdb_id="tt0903747",
        seasons={1: 7, 2: 13},
        status="Ended",
    )
    daemon.plex_server.add_show("555", "Breaking Bad", 2008, guids=["tmdb://1396", "tvdb://81189"])
    meta = episode(show="Breaking Bad", show_key="555", season=2, number=4)
    row = await _accepted(daemon, scrobble(meta), secret)
    assert (row["status"], row["action_taken"]) == ("success", "show_added")
    show = (await daemon.fetch("SELECT * FROM tvshows WHERE tmdb_id = 1396"))[0]
    assert (show["source"], show["total_episodes"], show["watched_episodes"]) == ("plex", 20, 1)
    assert await _watched(daemon, "Breaking Bad") == [(2, 4)]
    # Auto-add off: the same situation is not certain any more, and nothing is added.
    other_id, other_secret = await daemon.connect("carol")
    await daemon.services.accounts.update_settings(other_id, auto_add_shows=False)
    row = await _accepted(daemon, scrobble(meta), other_secret)
    assert row["status"] == "pending" and row["held_by_conflict_id"] is not None
    assert len(await daemon.fetch("SELECT 1 FROM tvshows WHERE user_id = $1", other_id)) == 0


async def test_tvdb_id_found_through_tmdb_find(daemon: Daemon) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(
        user_id,
        [
            {
                "title": "Breaking Bad",
                "year": 2008,
                "tmdb_id": 1396,
                "seasons": [{"season_number": 1, "episodes": [{"episode_number": 1}]}],
            }
        ],
    )
    daemon.tmdb.add_show(1396, "Breaking Bad", year=2008, tvdb_id=81189, seasons={1: 7})
    row = await _accepted(
        daemon,
        scrobble(legacy_episode("thetvdb", "81189", 1, 1, show="Breaking Bad", show_key="9")),
        secret,
    )
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    mapping = (await daemon.fetch("SELECT * FROM plex_show_mappings"))[0]
    assert (mapping["match_method"], float(mapping["match_confidence"])) == ("tvdb_id", 0.95)
    assert daemon.tmdb.requests_to("/find/81189")


async def test_unknown_episode_refreshes_the_season_once_then_fails_retryably(
    daemon: Daemon,
) -> None:
    _, secret = await _office(daemon)
    daemon.tmdb.add_show(2316, "The Office", year=2005, seasons={2: 12})
    row = await _accepted(daemon, scrobble(episode(season=2, number=12)), secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert len(daemon.tmdb.requests_to("/tv/2316/season/2")) == 1
    row = await _accepted(daemon, scrobble(episode(season=2, number=30)), secret)
    assert (row["status"], row["action_taken"], row["retryable"]) == (
        "failed",
        "episode_unknown",
        True,
    )
    assert "S02E30" in row["error_message"] and row["next_attempt_at"] is not None


async def test_duplicates_and_rewatches(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    first = scrobble(episode(season=1, number=1))
    first["Metadata"]["lastViewedAt"] = 1_600_000_000
    row = await _accepted(daemon, first, secret)
    assert row["action_taken"] == "marked_watched"
    row = await _accepted(daemon, scrobble(episode(season=1, number=1)), secret)
    assert (row["status"], row["action_taken"]) == ("duplicate", "duplicate_scrobble")
    # Outside the window the same item counts again, and the earlier watch date is kept.
    await daemon.fetch("UPDATE plex_scrobbles_seen SET seen_at = seen_at - interval '1 day'")
    row = await _accepted(daemon, scrobble(episode(season=1, number=1)), secret)
    assert (row["status"], row["action_taken"]) == ("success", "already_watched")
    watched = await daemon.fetch(
        "SELECT extract(epoch FROM date_watched)::bigint AS t FROM tvshow_episodes WHERE watched"
    )
    assert [r["t"] for r in watched] == [1_600_000_000]


async def test_fifty_concurrent_scrobbles_of_one_show_leave_exactly_fifty_watched(
    daemon: Daemon,
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(
        user_id,
        [
            {
                "title": "Long Show",
                "year": 2010,
                "tvdb_id": 1234,
                "seasons": [
                    {
                        "season_number": 1,
                        "episodes": [{"episode_number": n, "runtime": 40} for n in range(1, 61)],
                    }
                ],
            }
        ],
    )
    answers = await asyncio.gather(
        *(
            daemon.post(
                scrobble(legacy_episode("thetvdb", "1234", 1, n, show="Long Show", show_key="88")),
                secret,
            )
            for n in range(1, 51)
        )
    )
    assert [a.status_code for a in answers] == [200] * 50
    rows = [await daemon.settled(a.json()["id"]) for a in answers]
    assert sorted(r["status"] for r in rows) == ["success"] * 50
    show = (await daemon.fetch("SELECT * FROM tvshows WHERE title = 'Long Show'"))[0]
    assert (show["watched_episodes"], show["total_minutes"]) == (50, 2000)
    assert len(await _watched(daemon, "Long Show")) == 50
    assert len(await daemon.fetch("SELECT 1 FROM plex_show_mappings")) == 1


async def test_answer_does_not_wait_for_tmdb(daemon: Daemon) -> None:
    _user_id, secret = await daemon.connect()
    daemon.tmdb.add_show(1396, "Breaking Bad", year=2008, seasons={1: 3})
    daemon.plex_server.add_show("555", "Breaking Bad", 2008, guids=["tmdb://1396"])
    daemon.tmdb.delay = 1.5
    answer = await daemon.post(
        scrobble(episode(show="Breaking Bad", show_key="555", season=1, number=1)), secret
    )
    assert answer.status_code == 200
    row = await daemon.log_row(answer.json()["id"])
    assert row["status"] == "pending", "the answer came before TMDB did"
    done = await daemon.settled(answer.json()["id"])
    assert done["action_taken"] == "show_added"


async def test_relay_bodies_json_and_form_and_payload_as_file(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    url = daemon.base_url + "/api/plex/webhook"
    as_json = await daemon.http.post(
        url, params={"secret": secret}, json=scrobble(episode(season=1, number=6))
    )
    as_form = await daemon.http.post(
        url,
        params={"secret": secret},
        data={"payload": json.dumps(scrobble(episode(season=1, number=7)))},
    )
    as_file = await daemon.post(scrobble(episode(season=1, number=8)), secret, payload_as_file=True)
    for answer in (as_json, as_form, as_file):
        assert answer.status_code == 200, answer.text
        assert (await daemon.settled(answer.json()["id"]))["status"] == "success"
    assert await _watched(daemon, "The Office") == [(1, 6), (1, 7), (1, 8)]


async def test_rows_left_pending_are_processed_when_the_worker_starts(daemon: Daemon) -> None:
    _user_id, secret = await _office(daemon)
    await daemon.services.worker.stop()
    answers = [await daemon.post(scrobble(episode(season=1, number=n)), secret) for n in (1, 2, 3)]
    assert all(a.status_code == 200 for a in answers)
    pending = await daemon.fetch("SELECT id FROM plex_webhook_logs WHERE status = 'pending'")
    assert len(pending) == 3
    daemon.services.worker.start()  # as after a restart
    for a in answers:
        assert (await daemon.settled(a.json()["id"]))["status"] == "success"


# --- bad input ----------------------------------------------------------------------------


async def _log_count(daemon: Daemon) -> int:
    return len(await daemon.fetch("SELECT 1 FROM plex_webhook_logs"))


async def test_unknown_and_missing_secret_answer_alike_and_log_nothing(daemon: Daemon) -> None:
    await _office(daemon)
    wrong = await daemon.post(scrobble(), "0" * 64)
    missing = await daemon.post(scrobble(), None)
    empty = await daemon.post(scrobble(), "")
    assert wrong.status_code == missing.status_code == empty.status_code == 401
    assert wrong.content == missing.content == empty.content
    assert await _log_count(daemon) == 0


async def test_rotated_secret_stops_working(daemon: Daemon) -> None:
    user_id, secret = await _office(daemon)
    await daemon.services.accounts.rotate_secret(user_id)
    assert (await daemon.post(scrobble(), secret)).status_code == 401


async def test_over_size_bodies_are_refused_without_buffering(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    limit = daemon.services.settings.max_body_bytes
    big = await daemon.post(scrobble(), secret, thumb=b"\xff" * (limit + 1))
    assert big.status_code == 413
    # No Content-Length (chunked): the limit is enforced while streaming the parts.
    boundary_body, ctype = multipart(scrobble(), thumb=b"\x00" * (limit + 10))
    streamed = await daemon.http.post(
        daemon.base_url + "/api/plex/webhook",
        params={"secret": secret},
        content=_stream(boundary_body),
        headers={"Content-Type": ctype},
    )
    assert streamed.status_code == 413
    assert await _log_count(daemon) == 0


async def _stream(body: bytes) -> Any:
    for i in range(0, len(body), 65536):
        yield body[i : i + 65536]


@pytest.mark.parametrize(
    ("content", "ctype", "status", "message"),
    [
        (b"event=media.scrobble", "text/plain", 415, "unsupported content type text/plain"),
        (b"{not json", "application/json", 400, "payload is not valid JSON"),
        (b"[1, 2]", "application/json", 400, "payload must be a JSON object"),
        (b'{"event": 5}', "application/json", 400, "event: Input should be a valid string"),
        (b'{"Metadata": {}}', "application/json", 400, "event: Field required"),
        (b"title=x", "application/x-www-form-urlencoded", 400, "no 'payload' field"),
        (b'{"event": "x\\u0000"}', "application/json", 400, "NUL"),
    ],
)
async def test_bad_bodies_get_a_4xx_and_a_failed_row(
    daemon: Daemon, content: bytes, ctype: str, status: int, message: str
) -> None:
    _, secret = await _office(daemon)
    answer = await daemon.http.post(
        daemon.base_url + "/api/plex/webhook",
        params={"secret": secret},
        content=content,
        headers={"Content-Type": ctype},
    )
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    row = await daemon.log_row(answer.json()["id"])
    assert row["status"] == "failed" and message in row["error_message"]


async def test_multipart_without_payload_part_or_truncated(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    body, ctype = multipart(scrobble())
    no_payload = body.replace(b'name="payload"', b'name="other"')
    answer = await daemon.http.post(
        daemon.base_url + "/api/plex/webhook",
        params={"secret": secret},
        content=no_payload,
        headers={"Content-Type": ctype},
    )
    assert answer.status_code == 400 and "no 'payload' part" in answer.json()["error"]
    truncated = body[: len(body) // 2]
    answer = await daemon.http.post(
        daemon.base_url + "/api/plex/webhook",
        params={"secret": secret},
        content=truncated,
        headers={"Content-Type": ctype},
    )
    assert answer.status_code == 400, answer.text
    rows = await daemon.fetch("SELECT status FROM plex_webhook_logs ORDER BY id")
    assert [r["status"] for r in rows] == ["failed", "failed"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p["Metadata"].pop("grandparentTitle"), "lacks grandparentTitle"),
        (lambda p: p["Metadata"].pop("index"), "lacks index"),
        (lambda p: p["Metadata"].update(index="three"), "Metadata.index"),
        (lambda p: p.update(Account="alice"), "Account"),
        # Keys end up in unique indexes: a megabyte one is refused here, not in the worker.
        (lambda p: p["Metadata"].update(ratingKey="1" * 1_000_000), "Metadata.ratingKey"),
        (lambda p: p.update(Account={"id": "a" * 1_000_000, "title": "alice"}), "Account.id"),
        (lambda p: p["Metadata"].update(grandparentKey="/" * 1_000_000), "grandparentKey"),
    ],
)
async def test_missing_fields_and_wrong_types(daemon: Daemon, mutate: Any, message: str) -> None:
    _, secret = await _office(daemon)
    payload = scrobble()
    mutate(payload)
    answer = await daemon.post(payload, secret)
    assert answer.status_code == 400, answer.text
    row = await daemon.log_row(answer.json()["id"])
    assert row["status"] == "failed" and message in row["error_message"]
    assert len(row["error_message"]) < 400 and len(answer.text) < 600


async def test_fields_the_decision_does_not_need_are_dropped_not_refused(daemon: Daemon) -> None:
    """A watch date we can't read means "when it arrived"; the payload is kept as it came."""
    _, secret = await _office(daemon)
    payload = scrobble(episode(season=1, number=4))
    payload["Metadata"]["lastViewedAt"] = [1]
    payload["Metadata"]["year"] = "MMV"
    payload["Player"] = "Chrome"
    row = await _accepted(daemon, payload, secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert row["plex_watched_at"] is None
    assert json.loads(row["payload"])["Metadata"]["lastViewedAt"] == [1]


async def test_optional_fields_may_be_missing(daemon: Daemon) -> None:
    _, secret = await _office(daemon)
    payload = scrobble(episode(season=1, number=9))
    for key in ("duration", "viewOffset", "Guid", "year", "lastViewedAt"):
        payload["Metadata"].pop(key, None)
    payload["Account"].pop("title")
    payload.pop("Player")
    row = await _accepted(daemon, payload, secret)
    assert row["status"] == "success"


async def test_secret_never_reaches_the_log_output(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    _, secret = await _office(daemon)
    await _accepted(daemon, scrobble(), secret)
    await daemon.post(scrobble(), "f" * 64)
    # Our own loggers and aiohttp's (the test's HTTP client logs its own URLs; it isn't us).
    ours = ("core", "daemon", "app", "bot", "aiohttp", "asyncio")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in ours)
    assert secret not in text
    assert "fake-plex-server-token" not in text
    assert "webhook" in text  # the one-line-per-webhook log is there


# --- relays and offline set-ups (issue 10 items 1, 2, 7; issue 11) -------------------------


def _relay(show: str, season: int, number: int, **metadata: Any) -> dict[str, Any]:
    """What a Tautulli/n8n relay posts (Yamtrack #728): strings, a titled Account, no Server."""
    return {
        "event": "media.scrobble",
        "Account": {"title": "alice"},
        "Metadata": {
            "type": "episode",
            "title": f"Episode {number}",
            "grandparentTitle": show,
            "parentIndex": str(season),
            "index": str(number),
            **metadata,
        },
    }


async def test_keyless_relay_becomes_a_conflict_then_maps_by_its_stand_in_key(
    daemon: Daemon,
) -> None:
    """No key at all: never a guess on the title alone; once the owner decides, later relayed
    scrobbles of the show map directly (by the stand-in key) and are marked."""
    user_id, secret = await _office(daemon)
    url = daemon.base_url + "/api/plex/webhook"
    first = await daemon.http.post(url, params={"secret": secret}, json=_relay("The Office", 1, 1))
    assert first.status_code == 200, first.text
    row = await daemon.settled(first.json()["id"])
    assert row["status"] == "pending" and row["held_by_conflict_id"] is not None
    assert row["plex_rating_key"] == "relay:title:the office"
    show = (await daemon.fetch("SELECT id FROM tvshows WHERE title = 'The Office'"))[0]
    resolution = await daemon.services.conflicts.resolve(
        row["held_by_conflict_id"], user_id=user_id, choice=UseShow(show["id"]), resolved_by="cli"
    )
    assert resolution.episodes_marked == 1
    second = await daemon.http.post(
        url,
        params={"secret": secret},
        data={"payload": json.dumps(_relay("The Office", 1, 2))},
    )
    row = await daemon.settled(second.json()["id"])
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert await _watched(daemon, "The Office") == [(1, 1), (1, 2)]
    # A relay sending the show's year is matched on title + year like any other.
    third = await daemon.http.post(
        url, params={"secret": secret}, json=_relay("The Office", 1, 3, grandparentYear="2005")
    )
    row = await daemon.settled(third.json()["id"])
    assert row["action_taken"] == "marked_watched"


async def test_keyless_relays_of_two_shows_of_one_title_and_different_years_stay_apart(
    daemon: Daemon,
) -> None:
    """The US (2005) and UK (2001) Office relayed with only title + grandparentYear: each is
    an exact title + year match of its own show. The first used to map the stand-in key
    `relay:title:the office`, and every later scrobble of the other show then went through
    that mapping and silently marked the wrong show."""
    user_id, secret = await daemon.connect()
    uk = {**OFFICE, "year": 2001, "tmdb_id": 2996, "tvdb_id": 78107, "imdb_id": "tt0290978"}
    await daemon.import_shows(user_id, [OFFICE, uk])
    url = daemon.base_url + "/api/plex/webhook"
    ids = {}
    for year, number in (("2005", 1), ("2001", 2)):
        answer = await daemon.http.post(
            url,
            params={"secret": secret},
            json=_relay("The Office", 1, number, grandparentYear=year),
        )
        row = await daemon.settled(answer.json()["id"])
        assert (row["status"], row["action_taken"]) == ("success", "marked_watched"), dict(row)
        ids[year] = row["tvshow_id"]
    shows = await daemon.fetch("SELECT id, show_start_date FROM tvshows WHERE title = 'The Office'")
    by_year = {str(r["show_start_date"].year): r["id"] for r in shows}
    assert ids == by_year
    keys = await daemon.fetch("SELECT plex_rating_key FROM plex_show_mappings ORDER BY id")
    assert [k["plex_rating_key"] for k in keys] == [
        "relay:title:the office (2005)",
        "relay:title:the office (2001)",
    ]


async def test_relay_with_grandparent_key_reads_the_show_from_the_server(daemon: Daemon) -> None:
    """grandparentKey is the show's rating key: the same mapping as Plex's own scrobbles."""
    _, secret = await _office(daemon)
    direct = await _accepted(daemon, scrobble(episode(season=1, number=1)), secret)
    assert direct["plex_rating_key"] == "1936543"
    relayed = await daemon.http.post(
        daemon.base_url + "/api/plex/webhook",
        params={"secret": secret},
        json=_relay("The Office", 1, 2, grandparentKey="/library/metadata/1936543"),
    )
    row = await daemon.settled(relayed.json()["id"])
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert row["plex_rating_key"] == "1936543"
    assert len(await daemon.fetch("SELECT 1 FROM plex_show_mappings")) == 1


async def test_show_with_legacy_guid_on_the_server_is_matched_by_it(daemon: Daemon) -> None:
    """Item 7: a legacy-agent show as the server returns it has no Guid list; its own guid
    carries the TVDB id, which beats falling back to the title."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [OFFICE])
    item = daemon.plex_server.add_show(
        "4401", "The Office (US)", 2005, guid="com.plexapp.agents.thetvdb://73244?lang=en"
    )
    assert item.guids == []
    meta = episode(show="The Office (US)", show_key="4401", season=2, number=2, rich=False)
    for key in ("grandparentGuid", "guid", "parentGuid", "Guid"):
        meta.pop(key)
    row = await _accepted(daemon, scrobble(meta), secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    mapping = (await daemon.fetch("SELECT * FROM plex_show_mappings"))[0]
    assert (mapping["match_method"], mapping["tvdb_id"]) == ("tvdb_id", 73244)
    assert mapping["plex_guid"] == "com.plexapp.agents.thetvdb://73244?lang=en"


async def test_legacy_agents_match_with_the_plex_server_unreachable(daemon: Daemon) -> None:
    """Issue 11: the ids are in the payload; the server is only asked for a year, and when
    it can't answer the title step uses what the payload has. Never a failed scrobble."""
    user_id, secret = await _office(daemon)
    await daemon.services.accounts.update_settings(
        user_id, server_url=f"http://127.0.0.1:{free_port()}"
    )
    meta = legacy_episode("thetvdb", "73244", 2, 5, show_key="4401")
    del meta["grandparentGuid"]  # an older server: the episode's guid names the show
    row = await _accepted(daemon, scrobble(meta), secret)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    # A legacy show the tracker doesn't have: the year lookup fails, the title step runs.
    unknown = legacy_episode("thetvdb", "70522", 1, 2, show="Farscape", show_key="70000")
    row = await _accepted(daemon, scrobble(unknown), secret)
    assert row["status"] == "pending" and row["held_by_conflict_id"] is not None
    assert row["retryable"] is False
    assert daemon.plex_server.requests == []


async def test_current_agent_still_needs_the_server_and_fails_retryably(daemon: Daemon) -> None:
    user_id, secret = await _office(daemon)
    await daemon.services.accounts.update_settings(
        user_id, server_url=f"http://127.0.0.1:{free_port()}"
    )
    row = await _accepted(daemon, scrobble(episode(season=1, number=3)), secret)
    assert (row["status"], row["action_taken"], row["retryable"]) == (
        "failed",
        "server_unreachable",  # with what to do (issue 11): tests/test_plex_servers.py
        True,
    )
    assert "set --server-url" in row["error_message"]


# --- what a log line may quote (issue 10 item 27) -------------------------------------------


async def test_log_lines_quote_payload_text_once_and_bounded(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """A fuzzer's megabyte event names and titles must not become megabytes of log: every
    line quotes at most a bounded excerpt of the payload, and the event only once."""
    caplog.set_level("INFO")
    _, secret = await _office(daemon)
    huge = "x" * 2_000_000
    sent = 0
    for payload in (
        event("e" * 100, episode()),  # the longest event accepted, ignored
        event("media.play" + "\\n" * 45, episode()),  # control characters
        {"event": huge},  # refused (400)
        scrobble(episode(show=huge)),  # refused: title too long
        scrobble(movie() | {"type": "m" * 500}),  # ignored: media type quoted in the reason
        scrobble(episode(show="t" * 500, season=1, number=9)),  # processed by the worker
        {"event": "media.scrobble", "unused": huge, "Metadata": {"title": huge}},
    ):
        answer = await daemon.post(payload, secret)
        sent += len(json.dumps(payload))
        await daemon.settled(answer.json()["id"])
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("core", "daemon", "app")]
    lines = [r.getMessage() for r in ours]
    assert lines, "each webhook leaves a log line"
    assert max(len(line) for line in lines) < 1500, max(lines, key=len)[:200]
    assert sum(len(line) for line in lines) < 20_000 < sent
    assert all("\n" not in line for line in lines)
    ignored_line = next(line for line in lines if "action=ignored_event" in line)
    assert ignored_line.count("e" * 50) == 1, ignored_line

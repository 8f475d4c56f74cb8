"""Plex `media.rate` webhooks, in the shapes real servers and relays send (top-level
`rating` as Movary and Notifiarr read it, `Metadata.userRating` as CrossWatch's tests send
it, -1 or nothing for a cleared rating), through the real edge into the tracker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import Daemon
from tests.plex_payloads import OWNER, SHARED, episode, event, movie, scrobble
from tests.test_tracker import SEVERANCE, add_severance

SHOW_KEY = "5001"


def rated_episode(
    rating: Any = None, *, season: int = 2, number: int = 1, **extra: Any
) -> dict[str, Any]:
    meta = episode(show="Severance", show_key=SHOW_KEY, season=season, number=number)
    body = event("media.rate", meta, **extra)
    if rating is not None:
        body["rating"] = rating
    return body


def rated_show(rating: Any, **meta_extra: Any) -> dict[str, Any]:
    """A show rated from its own page: the current agent's show, its own Guid list."""
    meta = {
        "librarySectionType": "show",
        "ratingKey": "6001",
        "key": "/library/metadata/6001/children",
        "guid": "plex://show/5d9c086c46115600200aa2fe",
        "type": "show",
        "title": "Severance",
        "year": 2022,
        "Guid": [
            {"id": "imdb://tt11280740"},
            {"id": f"tmdb://{SEVERANCE}"},
            {"id": "tvdb://371980"},
        ],
        **meta_extra,
    }
    return {**event("media.rate", meta), "rating": rating}


async def _ratings(daemon: Daemon) -> tuple[Any, dict[tuple[int, int], Any]]:
    [show] = await daemon.fetch("SELECT user_rating FROM tvshows")
    rows = await daemon.fetch(
        "SELECT season, episode, user_rating FROM tvshow_episodes WHERE user_rating IS NOT NULL"
    )
    return show["user_rating"], {(r["season"], r["episode"]): float(r["user_rating"]) for r in rows}


async def _row(daemon: Daemon, answer: Any) -> Any:
    return await daemon.log_row(answer.json()["id"])


async def test_media_rate_stores_and_clears_ratings(daemon: Daemon) -> None:
    add_severance(daemon)
    user_id, secret = await daemon.connect()
    await daemon.services.tracker.add_show(user_id, SEVERANCE)
    # Plex knows the show (current agent: its ids come from the server); a watch maps it.
    daemon.plex_server.add_show(SHOW_KEY, "Severance", 2022, guids=[f"tmdb://{SEVERANCE}"])
    watch = scrobble(episode(show="Severance", show_key=SHOW_KEY, season=1, number=1))
    row = await daemon.settled((await daemon.post(watch, secret)).json()["id"])
    assert row["action_taken"] == "marked_watched"

    answer = await daemon.post(rated_episode(8.0), secret)  # Plex: 4 stars
    assert answer.status_code == 200
    row = await _row(daemon, answer)
    assert (row["status"], row["action_taken"]) == ("success", "rating_saved")
    assert await _ratings(daemon) == (None, {(2, 1): 8.0})

    # Metadata.userRating when there is no top-level rating; half stars are kept.
    body = rated_episode(number=2)
    body["Metadata"]["userRating"] = 7
    assert (await daemon.post(body, secret)).status_code == 200
    body = rated_episode(9.5, number=3)
    assert (await daemon.post(body, secret)).status_code == 200
    assert (await _ratings(daemon))[1] == {(2, 1): 8.0, (2, 2): 7.0, (2, 3): 9.5}

    # Cleared: -1, and a rate event with no value at all.
    assert (await _row(daemon, await daemon.post(rated_episode(-1), secret)))["action_taken"] == (
        "rating_cleared"
    )
    await daemon.post(rated_episode(number=2), secret)
    assert (await _ratings(daemon))[1] == {(2, 3): 9.5}

    # The show itself, matched by its own Guid list (no mapping for this key).
    row = await _row(daemon, await daemon.post(rated_show(10), secret))
    assert (row["status"], row["action_taken"]) == ("success", "rating_saved")
    assert float((await _ratings(daemon))[0]) == 10.0
    [show] = await daemon.services.tracker.find_shows(user_id, "Severance")
    assert show.user_rating == 10.0

    # Someone else on the server rating it changes nothing of Alice's.
    row = await _row(daemon, await daemon.post(rated_episode(2.0, account=SHARED), secret))
    assert (row["status"], row["action_taken"]) == ("ignored", "ignored_account")
    # A season, a movie, a show the tracker doesn't have: ignored, with the reason.
    season = rated_episode(6.0)
    season["Metadata"]["type"] = "season"
    row = await _row(daemon, await daemon.post(season, secret))
    assert (row["action_taken"], row["error_message"]) == (
        "ignored_media_type",
        "season ratings are not tracked",
    )
    row = await _row(
        daemon, await daemon.post({**event("media.rate", movie()), "rating": 6}, secret)
    )
    assert row["action_taken"] == "ignored_media_type"
    unknown = rated_show(4, ratingKey="7001", Guid=[{"id": "tmdb://1"}])
    row = await _row(daemon, await daemon.post(unknown, secret))
    assert (row["status"], row["action_taken"]) == ("ignored", "rating_unmatched")
    assert float((await _ratings(daemon))[0]) == 10.0
    assert (await _ratings(daemon))[1] == {(2, 3): 9.5}
    # Never a watch: only the scrobble above marked anything.
    assert len(await daemon.fetch("SELECT 1 FROM tvshow_episodes WHERE watched")) == 1


@pytest.mark.parametrize(
    ("rating", "reason"),
    [
        (11, "rating 11 is outside 0-10"),
        (1e308, "outside 0-10"),
        ("lots", "rating: Input should be a valid number"),
        (True, "rating must be"),
    ],
)
async def test_bad_ratings_are_a_400_and_change_nothing(
    daemon: Daemon, rating: Any, reason: str
) -> None:
    add_severance(daemon)
    user_id, secret = await daemon.connect()
    await daemon.services.tracker.add_show(user_id, SEVERANCE)
    answer = await daemon.post(rated_show(rating), secret)
    assert answer.status_code == 400, answer.text
    row = await _row(daemon, answer)
    assert row["status"] == "failed" and reason in (row["error_message"] or ""), dict(row)
    assert (await _ratings(daemon)) == (None, {})


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN", "1e999"])
async def test_a_non_finite_rating_is_refused_not_taken_for_cleared(
    daemon: Daemon, constant: str
) -> None:
    """The payload parser drops numbers jsonb can't hold; a rating that was one must not
    read as "no rating" (which clears the stored one)."""
    add_severance(daemon)
    user_id, secret = await daemon.connect()
    await daemon.services.tracker.add_show(user_id, SEVERANCE)
    assert (await _row(daemon, await daemon.post(rated_show(7), secret)))["status"] == "success"
    for body in (
        json.dumps(rated_show(1)).replace('"rating": 1', f'"rating": {constant}'),
        json.dumps({**rated_show(None), "Metadata": {**rated_show(1)["Metadata"], "userRating": 1}})
        .replace('"rating": null, ', "")
        .replace('"userRating": 1', f'"userRating": {constant}'),
    ):
        assert constant in body
        answer = await daemon.post(body, secret)
        assert answer.status_code == 400, answer.text
        row = await _row(daemon, answer)
        assert row["status"] == "failed" and "finite number" in row["error_message"], dict(row)
    assert float((await _ratings(daemon))[0]) == 7.0  # unchanged, not cleared
    # A rating inside a scrobble is not a rating event: nothing stored.
    await daemon.post({**scrobble(), "rating": 3, "Account": OWNER}, secret)
    assert float((await _ratings(daemon))[0]) == 7.0


async def test_a_relays_blank_rating_is_no_rating_not_bad_input(daemon: Daemon) -> None:
    """Templated relays (Tautulli, n8n) render a value they don't have as "": for a rating
    that means "none" (a clearing, or Metadata.userRating when that has one), never a 400."""
    add_severance(daemon)
    user_id, secret = await daemon.connect()
    await daemon.services.tracker.add_show(user_id, SEVERANCE)
    assert (await _row(daemon, await daemon.post(rated_show(7), secret)))["status"] == "success"
    relayed = rated_show("", userRating=" ")
    answer = await daemon.post(relayed, secret)
    assert answer.status_code == 200, answer.text
    row = await _row(daemon, answer)
    assert (row["status"], row["action_taken"]) == ("success", "rating_cleared"), dict(row)
    assert (await _ratings(daemon)) == (None, {})
    # A blank top-level value leaves Metadata.userRating to say it.
    answer = await daemon.post(rated_show("", userRating="6.5"), secret)
    assert (await _row(daemon, answer))["action_taken"] == "rating_saved"
    assert float((await _ratings(daemon))[0]) == 6.5


async def test_history_sync_reads_the_owners_ratings(daemon: Daemon) -> None:
    """The library the history sync reads carries the owner's `userRating` on shows and
    episodes: stored on the tracker's show or episode (a dry run stores nothing, and a show
    Plex has no rating for keeps the one a media.rate gave it)."""
    from tests.history_support import T0, plex_show, tracker_show

    user_id, secret = await daemon.connect("alice")
    await daemon.import_shows(
        user_id,
        [
            tracker_show("The Office", 2005, 2316, {1: 3}),
            tracker_show("Severance", 2022, SEVERANCE, {1: 3}),
        ],
    )
    plex = daemon.plex_server
    office = plex_show(plex, 100, "The Office", 2005, {1: 3}, tmdb_id=2316)
    severance = plex_show(plex, 200, "Severance", 2022, {1: 3}, tmdb_id=SEVERANCE)
    plex.watch(office.ep(1, 1).rating_key, viewed_at=T0)
    plex.watch(office.ep(1, 2).rating_key, viewed_at=T0 + 60)
    plex.watch(severance.ep(1, 1).rating_key, viewed_at=T0 + 120)
    plex.items["100"].user_rating = 9.0
    plex.episodes[office.ep(1, 2).rating_key].user_rating = 7.5
    # Severance: rated through a webhook, and Plex's library says nothing about it.
    assert (await _row(daemon, await daemon.post(rated_show(6), secret)))["status"] == "success"

    dry = await daemon.services.history.run_now(user_id, trigger="cli", dry_run=True)
    assert dry is not None and dry.state == "succeeded", dry
    assert await _by_title(daemon) == {"The Office": (None, {}), "Severance": (6.0, {})}

    run = await daemon.services.history.run_now(user_id, trigger="cli")
    assert run is not None and run.state == "succeeded", run
    assert await _by_title(daemon) == {
        "The Office": (9.0, {(1, 2): 7.5}),
        "Severance": (6.0, {}),
    }
    [show] = await daemon.services.tracker.find_shows(user_id, "The Office")
    assert show.user_rating == 9.0


async def _by_title(daemon: Daemon) -> dict[str, tuple[float | None, dict[tuple[int, int], float]]]:
    shows = await daemon.fetch("SELECT id, title, user_rating FROM tvshows")
    found = {}
    for s in shows:
        rows = await daemon.fetch(
            """SELECT season, episode, user_rating FROM tvshow_episodes
               WHERE tvshow_id = $1 AND user_rating IS NOT NULL""",
            s["id"],
        )
        found[s["title"]] = (
            float(s["user_rating"]) if s["user_rating"] is not None else None,
            {(r["season"], r["episode"]): float(r["user_rating"]) for r in rows},
        )
    return found

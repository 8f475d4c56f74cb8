"""Payload validation and the edge's verdicts, as plain unit tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.db.plex_config import PlexConfig
from core.errors import InvalidInputError
from core.payload import (
    PlexWebhook,
    parse_payload,
    parse_payload_for_storage,
    scrobble_keys,
    scrobble_problem,
)
from core.services.intake import is_followed_account, judge
from tests.plex_payloads import SHARED, episode, event, legacy_episode, movie, scrobble


def _config(**changes: Any) -> PlexConfig:
    base: dict[str, Any] = {
        "user_id": 1,
        "plex_token": None,
        "plex_account_id": 987654,
        "plex_username": "alice",
        "server_url": None,
        "server_uuid": None,
        "webhook_secret": None,
        "webhook_secret_hash": None,
        "enabled": True,
        "auto_add_shows": True,
        "auto_mark_watched": True,
        "followed_accounts": (),
        "notify_channel_id": None,
    }
    base.update(changes)
    return PlexConfig(**base)


def test_real_scrobble_parses_with_ids_as_strings() -> None:
    raw, hook = parse_payload(json.dumps(scrobble(episode(season=2, number=3))))
    assert raw["event"] == hook.event == "media.scrobble"
    assert hook.metadata is not None
    assert (hook.metadata.parent_index, hook.metadata.index) == (2, 3)
    assert hook.account is not None and hook.account.id == "1"
    assert scrobble_problem(hook) is None
    assert hook.unreadable == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ('"just a string"', "must be a JSON object"),
        ('{"event": true}', "event"),
        ('{"event": ""}', "event"),
        ('{"event": "' + "e" * 101 + '"}', "event: String should have at most 100"),
        ('{"event": NaN}', "event: not a finite number"),
        ("NaN", "must be a JSON object"),
        ("[1e999]", "must be a JSON object"),
        ('{"event": "a\\u0000b"}', "NUL"),
        ('{"event": "\\ud800"}', "lone surrogate"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_payloads_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_payload(text)


def test_media_rate_rating_may_be_int_float_or_numeric_string() -> None:
    for rating in (7, 7.5, "6", -1):
        _, hook = parse_payload(json.dumps(event("media.rate", episode(), rating=rating)))
        assert hook.rating == float(rating)


def test_verdicts() -> None:
    def verdict(payload: dict[str, Any], **config: Any) -> tuple[str, str | None]:
        _, hook = parse_payload(json.dumps(payload))
        v = judge(hook, _config(**config))
        return v.status, v.action

    assert verdict(scrobble()) == ("pending", None)
    assert verdict(event("media.play", episode())) == ("ignored", "ignored_event")
    assert verdict(scrobble(movie())) == ("ignored", "ignored_media_type")
    assert verdict(scrobble(account=SHARED)) == ("ignored", "ignored_account")
    assert verdict(scrobble(), server_uuid="other") == ("ignored", "ignored_server")
    assert verdict(scrobble(), enabled=False) == ("ignored", "sync_disabled")
    assert verdict(scrobble(), auto_mark_watched=False) == ("ignored", "auto_mark_off")
    no_index = scrobble()
    del no_index["Metadata"]["index"]
    assert verdict(no_index) == ("failed", "invalid_payload")


@pytest.mark.parametrize(
    ("account", "followed", "owner_id", "username", "counts"),
    [
        ({"id": 1, "title": "alice"}, (), 987654, "alice", True),  # local admin id
        ({"id": 987654}, (), 987654, "alice", True),  # the owner's plex.tv id
        ({"id": 5, "title": "Alice"}, (), 987654, "alice", True),  # the owner's name
        ({"id": 5, "title": "bob"}, (), 987654, "alice", False),
        ({"id": 5, "title": "bob"}, ("bob",), 987654, "alice", True),
        ({"id": 5, "title": "bob"}, ("5",), 987654, "alice", True),
        ({"id": 1, "title": "alice"}, ("bob",), 987654, "alice", False),
        ({"id": 5, "title": "bob"}, (), None, None, True),  # owner unknown: all count
        ({"id": 0, "title": ""}, ("",), None, None, False),
    ],
)
def test_whose_watches_count(
    account: dict[str, Any],
    followed: tuple[str, ...],
    owner_id: int | None,
    username: str | None,
    counts: bool,
) -> None:
    _, hook = parse_payload(json.dumps(scrobble(account=account)))
    config = _config(followed_accounts=followed, plex_account_id=owner_id, plex_username=username)
    assert is_followed_account(hook, config) is counts


# --- senders we must accept (issue 10) ------------------------------------------------------


def _hook(payload: dict[str, Any] | str) -> PlexWebhook:
    return parse_payload(payload if isinstance(payload, str) else json.dumps(payload))[1]


def test_relay_with_grandparent_key_only_numbers_as_strings() -> None:
    """Issue 10 item 1: Tautulli/n8n relays (Yamtrack #728): grandparentKey, no
    grandparentRatingKey, numbers as strings, no Server, an Account with only a title."""
    hook = _hook(
        {
            "event": "media.scrobble",
            "Account": {"title": "alice"},
            "Metadata": {
                "type": "episode",
                "title": "Pilot",
                "grandparentTitle": "Breaking Bad",
                "grandparentKey": "/library/metadata/7888",
                "parentIndex": "1",
                "index": " 2 ",
                "ratingKey": "",
                "lastViewedAt": "1714557600",
            },
        }
    )
    assert scrobble_problem(hook) is None
    assert judge(hook, _config(plex_account_id=None)).status == "pending"
    assert scrobble_keys(hook) == _keys("7888", "7888/1/2", "title:alice", 1, 2, 1714557600)


def _keys(*values: Any) -> Any:
    from core.payload import ScrobbleKeys

    return ScrobbleKeys(*values)


@pytest.mark.parametrize(
    ("metadata", "show_key"),
    [
        # No key at all: a stand-in from the show's ids, else its title (never a Plex key).
        ({"guid": "com.plexapp.agents.thetvdb://73871/1/2?lang=en"}, "relay:tvdb:73871"),
        ({"grandparentGuid": "com.plexapp.agents.themoviedb://615"}, "relay:tmdb:615"),
        ({}, "relay:title:breaking bad"),
        # Templating artefacts are no key: one constant key would merge every show.
        ({"grandparentRatingKey": "undefined", "grandparentKey": ""}, "relay:title:breaking bad"),
        ({"grandparentRatingKey": "[object Object]"}, "relay:title:breaking bad"),
        ({"grandparentRatingKey": 7888}, "7888"),
        ({"grandparentKey": "/library/metadata/7888/children"}, "7888"),
        ({"grandparentKey": "/elsewhere/7888"}, "relay:title:breaking bad"),
    ],
)
def test_show_key_when_relays_send_no_rating_key(metadata: dict[str, Any], show_key: str) -> None:
    meta = {"type": "episode", "grandparentTitle": "Breaking  Bad", "parentIndex": 1, "index": 2}
    hook = _hook({"event": "media.scrobble", "Metadata": meta | metadata})
    keys = scrobble_keys(hook)
    assert keys is not None and keys.show_key == show_key
    assert keys.item_key == f"{show_key}/1/2"


def test_legacy_episode_guid_names_the_show_season_and_episode() -> None:
    """Issue 10 item 2: no grandparentGuid (older servers), the episode's own guid carries
    the show's TVDB id; Jellyfin's Plex-format payloads have no indexes either."""
    meta = legacy_episode("thetvdb", "73871", 2, 15, show="Futurama")
    del meta["grandparentGuid"], meta["parentIndex"], meta["index"]
    hook = _hook(scrobble(meta))
    assert hook.metadata is not None
    ids = hook.metadata.show_guid
    assert (ids.agent, ids.tvdb_id, ids.season, ids.episode) == ("thetvdb", 73871, None, None)
    assert (hook.metadata.season, hook.metadata.episode) == (2, 15)
    # Indexes win when sent; never one from the payload and one from the guid.
    meta["parentIndex"] = 3
    hook = _hook(scrobble(meta))
    assert hook.metadata is not None and (hook.metadata.season, hook.metadata.episode) == (3, None)
    assert scrobble_problem(hook) == "Metadata lacks index"


def test_fields_we_do_not_use_never_fail() -> None:
    """Issue 10 item 3: Guid entries without id, guid as a list, odd Player/Server types and
    unknown keys are recorded as they came and noted, never a 400."""
    payload = scrobble(episode())
    payload["Metadata"]["Guid"] = [{"Scheme": "tmdb", "Host": "397575"}, {"id": None}, "x"]
    payload["Metadata"]["guid"] = ["plex://episode/5d9c1275e98e47001eb84b7e"]
    payload["Metadata"]["year"] = "two thousand five"
    payload["Server"] = "Living Room"
    payload["Player"] = {"local": "sometimes", "title": 5, "uuid": {"a": 1}, "publicAddress": []}
    payload["user"], payload["rating"], payload["something"] = "maybe", "high", {"new": [1]}
    raw, hook = parse_payload(json.dumps(payload))
    assert raw == payload  # stored as it came
    assert scrobble_problem(hook) is None
    assert judge(hook, _config()).status == "pending"
    assert {"Metadata.guid", "Metadata.year", "Server", "Player.local", "user"} <= set(
        hook.unreadable
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(index="three"), "Metadata.index"),
        (lambda m: m.update(parentIndex=2**31), "Metadata.parentIndex"),
        (lambda m: m.update(grandparentTitle={"t": 1}), "Metadata.grandparentTitle"),
        (lambda m: m.update(ratingKey="1" * 129), "Metadata.ratingKey"),
        (lambda m: m.update(grandparentRatingKey="9" * 1_000_000), "grandparentRatingKey"),
    ],
)
def test_fields_a_scrobble_needs_are_validated(mutate: Any, message: str) -> None:
    payload = scrobble(episode())
    mutate(payload["Metadata"])
    hook = _hook(payload)
    verdict = judge(hook, _config())
    assert (verdict.status, verdict.action) == ("failed", "invalid_payload")
    assert verdict.reason is not None and message in verdict.reason
    # The same fields in an event we ignore are nobody's problem.
    payload["event"] = "media.play"
    assert judge(_hook(payload), _config()).status == "ignored"


@pytest.mark.parametrize(
    "account",
    [{"id": "7" * 1_000_000, "title": "alice"}, {"id": True}, "alice", {"title": ["alice"]}],
)
def test_unreadable_or_oversized_account_is_a_400(account: object) -> None:
    """Issue 10 item 26: a 1 MB Account.id would fail later on the index size limit."""
    verdict = judge(_hook(scrobble(episode(), account=account)), _config())
    assert (verdict.status, verdict.action) == ("failed", "invalid_payload")
    assert verdict.reason is not None and "Account" in verdict.reason


def test_scrobble_without_metadata_is_a_failure() -> None:
    """Issue 10 item 4: the README promises a 400 and a failed row, not `ignored`."""
    payload = scrobble()
    del payload["Metadata"]
    verdict = judge(_hook(payload), _config())
    assert (verdict.status, verdict.reason) == ("failed", "Metadata is missing")
    payload["Metadata"] = "an episode"
    verdict = judge(_hook(payload), _config())
    assert verdict.status == "failed" and "Metadata: Input should be a valid dictionary" in str(
        verdict.reason
    )


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, "-" + "9" * 4301]
)
def test_non_finite_and_huge_numbers_are_dropped_where_unused(number: str) -> None:
    """Issue 10 item 5: accepted with the field dropped (jsonb can't hold it), or a 400 when
    the decision needs that field; never an exception other than InvalidInputError."""
    text = json.dumps(scrobble(episode())).replace('"audienceRating": 8.1', f'"x": {number}')
    text = text.replace('"viewCount": 1', f'"viewCount": [{number}, 2]')
    parsed = parse_payload_for_storage(text)
    assert set(parsed.dropped) == {"Metadata.x", "Metadata.viewCount[]"}
    assert "x" not in parsed.raw["Metadata"] and parsed.raw["Metadata"]["viewCount"] == [2]
    json.loads(parsed.text)  # storable
    assert judge(parsed.hook, _config()).status == "pending"
    bad = parse_payload_for_storage(text.replace('"index": 3', f'"index": {number}'))
    assert "Metadata.index" in str(scrobble_problem(bad.hook))
    # The event itself: said as it is, not "Field required" as if it had not been sent.
    with pytest.raises(InvalidInputError, match=r"^payload fields are wrong: event: not a finite"):
        parse_payload_for_storage(f'{{"event": {number}}}')


def test_big_but_storable_numbers_are_kept_as_they_came() -> None:
    text = json.dumps(scrobble(episode())).replace('"viewCount": 1', '"viewCount": ' + "9" * 30)
    parsed = parse_payload_for_storage(text)
    assert parsed.dropped == () and parsed.raw["Metadata"]["viewCount"] == int("9" * 30)
    assert judge(parsed.hook, _config()).status == "pending"
    bad = parse_payload_for_storage(text.replace('"index": 3', '"index": ' + "9" * 30))
    assert "Metadata.index" in str(scrobble_problem(bad.hook))


def test_normalised_keys_are_what_the_sql_fast_path_read_for_plex_payloads() -> None:
    """For Plex's own payloads the columns hold what the SQL used to read from the payload."""
    payload = scrobble(episode(show_key="1936543", season=2, number=3, item_key="555"))
    payload["Metadata"]["lastViewedAt"] = 1_600_000_000
    keys = scrobble_keys(_hook(payload))
    assert keys == _keys("1936543", "555", "1", 2, 3, 1_600_000_000)
    payload["Metadata"].pop("ratingKey")
    payload["Metadata"]["lastViewedAt"] = 0
    keys = scrobble_keys(_hook(payload))
    assert keys is not None and (keys.item_key, keys.watched_at) == ("1936543/2/3", None)
    del payload["Account"]
    assert _hook(payload).account is None
    assert scrobble_keys(_hook(payload)) == _keys("1936543", "1936543/2/3", "?", 2, 3, None)


def test_javascript_relays_numbers_and_capitalised_types() -> None:
    hook = _hook(
        {
            "event": "media.scrobble",
            "Account": {"id": 1.0},
            "Metadata": {
                "type": "Episode",
                "grandparentRatingKey": 7888.0,
                "grandparentTitle": 24,
                "parentIndex": 1.0,
                "index": "2",
            },
        }
    )
    assert hook.unreadable == {}
    assert judge(hook, _config(plex_account_id=None)).status == "pending"
    assert scrobble_keys(hook) == _keys("7888", "7888/1/2", "1", 1, 2, None)
    assert hook.metadata is not None and hook.metadata.grandparent_title == "24"

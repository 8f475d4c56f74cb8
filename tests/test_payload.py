"""Payload validation and the edge's verdicts, as plain unit tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.db.plex_config import PlexConfig
from core.errors import InvalidInputError
from core.payload import parse_payload, scrobble_problem
from core.services.intake import is_followed_account, judge
from tests.plex_payloads import SHARED, episode, event, movie, scrobble


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
    assert hook.metadata.guids[0].id.startswith("imdb://")
    assert scrobble_problem(hook) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ('"just a string"', "must be a JSON object"),
        ('{"event": true}', "event"),
        ('{"event": "media.scrobble", "Metadata": {"index": "x"}}', "Metadata.index"),
        ('{"event": "media.scrobble", "Account": {"id": true}}', "Account.id"),
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
    no_key = scrobble()
    del no_key["Metadata"]["grandparentRatingKey"]
    assert verdict(no_key) == ("failed", "invalid_payload")


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

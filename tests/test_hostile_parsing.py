"""Hostile input to the pure parsers: whatever arrives, GUID parsing never raises and payload
validation raises nothing but InvalidInputError; what it accepts, PostgreSQL's jsonb can store."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db.plex_config import PlexConfig
from core.errors import InvalidInputError
from core.guid import AGENTS, parse_guid
from core.payload import MAX_KEY, parse_payload, scrobble_keys
from core.services.intake import judge
from tests.plex_payloads import event, legacy_episode, scrobble

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SCHEMES = st.sampled_from(
    [
        "plex://show/",
        "com.plexapp.agents.thetvdb://",
        "com.plexapp.agents.themoviedb://",
        "com.plexapp.agents.imdb://",
        "com.plexapp.agents.hama://",
        "tvdb://",
        "tmdb://",
        "imdb://",
        "local://",
        "",
    ]
)
_GUIDS = st.one_of(
    st.none(),
    st.text(),
    st.builds(lambda s, t: s + t, _SCHEMES, st.text()),
    st.builds(
        lambda s, n, q: f"{s}{n}{q}",
        _SCHEMES,
        st.one_of(st.integers(), st.text(alphabet="0123456789tt²٣ -/?", max_size=40)),
        st.sampled_from(["", "?lang=en", "/1/2?lang=en", "/", "//", "?", "\x00"]),
    ),
)


@FAST
@given(_GUIDS)
def test_parse_guid_never_raises(guid: str | None) -> None:
    info = parse_guid(guid)
    assert info.agent in AGENTS
    # Ids it reports are well-formed: what a SQL parameter of that type accepts.
    for value in (info.tmdb_id, info.tvdb_id, info.anidb_id):
        assert value is None or (isinstance(value, int) and 0 < value < 2**31)
    assert info.imdb_id is None or (info.imdb_id.startswith("tt") and info.imdb_id.isascii())


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**19, max_value=10**30)
    | st.floats()  # NaN and ±Infinity too: json.dumps writes them, jsonb can't hold them
    | st.text(),  # includes NULs and lone surrogates
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
_CONFIG = PlexConfig(
    user_id=1,
    plex_token=None,
    plex_account_id=None,
    plex_username=None,
    server_url=None,
    server_uuid=None,
    webhook_secret=None,
    webhook_secret_hash=None,
    enabled=True,
    auto_add_shows=True,
    auto_mark_watched=True,
    followed_accounts=(),
    notify_channel_id=None,
)
_FIELDS = [
    "event",
    "Account",
    "Server",
    "Player",
    "Metadata",
    "user",
    "owner",
    "rating",
]
_META_FIELDS = [
    "ratingKey",
    "grandparentRatingKey",
    "grandparentTitle",
    "grandparentGuid",
    "Guid",
    "index",
    "parentIndex",
    "year",
    "lastViewedAt",
    "type",
    "title",
    "grandparentKey",
    "guid",
    "librarySectionType",
]


def _valid() -> list[dict[str, Any]]:
    return [
        scrobble(),
        scrobble(legacy_episode("thetvdb", "73244", 2, 3)),
        event("media.play", legacy_episode("themoviedb", "2316", 1, 1)),
        event("library.new", None),
    ]


@st.composite
def _mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A real payload with some fields replaced by anything at all (wrong types, huge, odd)."""
    body = json.loads(json.dumps(draw(st.sampled_from(_valid()))))
    for _ in range(draw(st.integers(1, 4))):
        if "Metadata" in body and isinstance(body["Metadata"], dict) and draw(st.booleans()):
            body["Metadata"][draw(st.sampled_from(_META_FIELDS))] = draw(_JSON)
        else:
            body[draw(st.sampled_from(_FIELDS))] = draw(_JSON)
    return body


def _only_invalid_input(text: str | bytes) -> None:
    try:
        raw, model = parse_payload(text)
    except InvalidInputError as exc:
        assert str(exc)  # a reason to show the sender
        return
    # Accepted: the raw object must be storable as jsonb (no NUL, no lone surrogate, no NaN).
    stored = json.dumps(raw, ensure_ascii=False, allow_nan=False)
    stored.encode("utf-8")
    assert "\x00" not in stored and "\\u0000" not in stored
    assert model.event
    # Deciding never raises, and what a queued scrobble stores in indexed columns is bounded.
    judge(model, _CONFIG)
    keys = scrobble_keys(model)
    if keys is not None:
        for key in (keys.show_key, keys.item_key, keys.account_key):
            assert len(key) <= 2 * MAX_KEY + 30
        assert 0 <= keys.season < 2**31 and 0 <= keys.episode < 2**31


@FAST
@given(_mutated())
def test_parse_payload_mutated_real_payloads(body: dict[str, Any]) -> None:
    _only_invalid_input(json.dumps(body))


@FAST
@given(_JSON)
def test_parse_payload_any_json_value(value: object) -> None:
    _only_invalid_input(json.dumps(value))


@FAST
@given(st.binary(max_size=300))
def test_parse_payload_any_bytes(data: bytes) -> None:
    _only_invalid_input(data)


@FAST
@given(st.text(max_size=300))
def test_parse_payload_any_text(text: str) -> None:
    # Lone surrogates can't be encoded as a body; the parser gets text in that case.
    _only_invalid_input(text)


@FAST
@given(st.integers(0, 2000), st.sampled_from(_valid()))
def test_parse_payload_truncated(cut: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    _only_invalid_input(data[: cut % (len(data) + 1)])


def test_parse_payload_deep_nesting_and_escapes() -> None:
    for text in (
        "[" * 100_000 + "]" * 100_000,
        '{"event": "media.scrobble", "x": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"event": "media.scrobble\\u0000"}',
        '{"event": "media.scrobble", "Metadata": {"title": "\\ud800"}}',
        '{"event": "\\udfff\\ud800"}',
        '{"event": 1e999}',
        '{"event": "media.scrobble", "Metadata": {"index": 1e400}}',
        '{"event": "media.scrobble", "Metadata": {"index": 99999999999999999999999}}',
        '{"event": "media.scrobble", "Metadata": {"index": NaN, "x": [Infinity, -Infinity]}}',
        '{"event": "media.scrobble", "n": ' + "9" * 5000 + "}",
        '{"event": "media.scrobble", "n": [' + "[" * 500 + "NaN" + "]" * 500 + "]}",
        '{"event": "media.scrobble", "n": 1e999, "m": -1e999, "o": 1e-999}',
    ):
        _only_invalid_input(text)

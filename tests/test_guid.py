"""Plex GUID parsing: a table of real-looking GUIDs plus property tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.guid import AGENTS, GuidInfo, ids_from_guid_list, parse_guid

CASES: list[tuple[str | None, GuidInfo]] = [
    # Current Plex agent: no ids in the GUID, the show's ids come from the server.
    ("plex://show/5d9c086c46115600200aa2fe", GuidInfo("plex", kind="show")),
    ("plex://episode/5d9c1275e98e47001eb84029", GuidInfo("plex", kind="episode")),
    ("plex://season/602e67d31d3358002c411c39", GuidInfo("plex", kind="season")),
    ("plex://movie/5d7768ba96b655001fdc0408", GuidInfo("plex", kind="movie")),
    ("plex://artist/5d07bbfc403c6402904a5ec6", GuidInfo("plex", kind=None)),
    ("tv.plex.agents.series://5d9c086c46115600200aa2fe", GuidInfo("plex")),
    ("tv.plex.agents.movie://5d7768ba96b655001fdc0408", GuidInfo("plex")),
    ("tv.plex.agents.none://12345", GuidInfo("none")),
    # Legacy TheTVDB agent: show, show/season/episode.
    (
        "com.plexapp.agents.thetvdb://73244/2/3?lang=en",
        GuidInfo("thetvdb", tvdb_id=73244, season=2, episode=3),
    ),
    ("com.plexapp.agents.thetvdb://301376?lang=en", GuidInfo("thetvdb", tvdb_id=301376)),
    (
        "com.plexapp.agents.thetvdb://81189/0/1?lang=de",
        GuidInfo("thetvdb", tvdb_id=81189, season=0, episode=1),
    ),
    (
        "com.plexapp.agents.thetvdbdvdorder://73244/1/1?lang=en",
        GuidInfo("thetvdb", tvdb_id=73244, season=1, episode=1),
    ),
    ("com.plexapp.agents.thetvdb://abc/1/2?lang=en", GuidInfo("thetvdb", season=1, episode=2)),
    # Legacy TMDB and IMDb agents.
    (
        "com.plexapp.agents.themoviedb://1396/1/1?lang=en",
        GuidInfo("themoviedb", tmdb_id=1396, season=1, episode=1),
    ),
    ("com.plexapp.agents.themoviedb://1399?lang=en", GuidInfo("themoviedb", tmdb_id=1399)),
    ("com.plexapp.agents.imdb://tt0386676?lang=en", GuidInfo("imdb", imdb_id="tt0386676")),
    ("com.plexapp.agents.imdb://0386676?lang=en", GuidInfo("imdb")),
    # HAMA (anime): source prefix, numbering-mode digit, optional season/episode.
    (
        "com.plexapp.agents.hama://anidb-1234/1/3?lang=en",
        GuidInfo("hama", anidb_id=1234, season=1, episode=3),
    ),
    ("com.plexapp.agents.hama://anidb2-69?lang=en", GuidInfo("hama", anidb_id=69)),
    ("hama://tvdb-305074", GuidInfo("hama", tvdb_id=305074)),
    ("hama://tvdb3-305074/2/5", GuidInfo("hama", tvdb_id=305074, season=2, episode=5)),
    # HAMA's tmdb- ids are TMDB MOVIE ids (it looks them up under /movie/): no TV id. Its
    # TV shows on TMDB are tsdb-.
    ("hama://tmdb-603", GuidInfo("hama")),
    ("com.plexapp.agents.hama://tmdb-603/1/2?lang=en", GuidInfo("hama", season=1, episode=2)),
    ("hama://tsdb-46260", GuidInfo("hama", tmdb_id=46260)),
    ("hama://imdb-tt2560140", GuidInfo("hama", imdb_id="tt2560140")),
    ("hama://mal-5114", GuidInfo("hama")),
    # Local media and the "none" agent: Plex-internal numbers, not external ids.
    ("local://12345", GuidInfo("local")),
    ("com.plexapp.agents.localmedia://12345", GuidInfo("local")),
    ("com.plexapp.agents.none://d4f0a1b2c3?lang=xn", GuidInfo("none")),
    # Garbage never raises.
    (None, GuidInfo("unknown")),
    ("", GuidInfo("unknown")),
    ("   ", GuidInfo("unknown")),
    ("not a guid", GuidInfo("unknown")),
    ("://73244", GuidInfo("unknown")),
    ("com.example.agent://73244", GuidInfo("unknown")),
    ("com.plexapp.agents.thetvdb://", GuidInfo("thetvdb")),
    ("com.plexapp.agents.thetvdb://0", GuidInfo("thetvdb")),
    ("com.plexapp.agents.thetvdb://²³", GuidInfo("thetvdb")),
    # Ids beyond PostgreSQL's integer are no usable id (the title step takes over), not an
    # error on every retry.
    ("com.plexapp.agents.thetvdb://999999999999/1/3", GuidInfo("thetvdb", season=1, episode=3)),
    ("com.plexapp.agents.themoviedb://2147483648", GuidInfo("themoviedb")),
    ("com.plexapp.agents.themoviedb://2147483647", GuidInfo("themoviedb", tmdb_id=2147483647)),
    ("com.plexapp.agents.thetvdb://1/99999999999/1", GuidInfo("thetvdb", tvdb_id=1)),
    ("hama://anidb-100000000000", GuidInfo("hama")),
]


@pytest.mark.parametrize(("guid", "expected"), CASES, ids=[repr(c[0])[:60] for c in CASES])
def test_parse_guid(guid: str | None, expected: GuidInfo) -> None:
    assert parse_guid(guid) == expected


def test_needs_server_lookup_only_for_plex_agent() -> None:
    assert parse_guid("plex://show/5d9c086c46115600200aa2fe").needs_server_lookup
    assert parse_guid("tv.plex.agents.series://x").needs_server_lookup
    assert not parse_guid("com.plexapp.agents.thetvdb://73244?lang=en").needs_server_lookup
    assert not parse_guid("local://1").needs_server_lookup
    assert not parse_guid(None).needs_server_lookup


def test_has_ids() -> None:
    assert parse_guid("com.plexapp.agents.imdb://tt0386676").has_ids
    assert parse_guid("hama://anidb-1").has_ids
    assert not parse_guid("plex://show/5d9c086c46115600200aa2fe").has_ids
    assert not parse_guid("local://12345").has_ids


GUID_LISTS: list[tuple[list[str], GuidInfo]] = [
    (
        ["imdb://tt0903747", "tmdb://1396", "tvdb://81189"],
        GuidInfo("plex", tmdb_id=1396, tvdb_id=81189, imdb_id="tt0903747"),
    ),
    (["tmdb://1396"], GuidInfo("plex", tmdb_id=1396)),
    (["TVDB://81189"], GuidInfo("plex", tvdb_id=81189)),
    # First valid id of a kind wins; unknown schemes and malformed values are skipped.
    (["tmdb://abc", "tmdb://1396", "tmdb://1"], GuidInfo("plex", tmdb_id=1396)),
    (["anidb://1", "imdb://nm0000001", "plex://show/x"], GuidInfo("unknown")),
    (["tvdb:81189", "", "tvdb://"], GuidInfo("unknown")),
    (["tmdb://999999999999", "tvdb://81189"], GuidInfo("plex", tvdb_id=81189)),
    ([], GuidInfo("unknown")),
]


@pytest.mark.parametrize(("guids", "expected"), GUID_LISTS)
def test_ids_from_guid_list(guids: list[str], expected: GuidInfo) -> None:
    info = ids_from_guid_list(guids)
    assert info == expected
    assert not info.needs_server_lookup or not info.has_ids


def test_ids_from_guid_list_docstring_warns_about_episode_guids() -> None:
    doc = ids_from_guid_list.__doc__ or ""
    assert "EPISODE" in doc and "not the show's" in doc


@given(st.one_of(st.none(), st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_parse_guid_never_raises(text: str | None) -> None:
    info = parse_guid(text)
    assert info.agent in AGENTS


@given(st.text(alphabet=st.characters(), max_size=40).map(lambda s: "com.plexapp.agents." + s))
def test_parse_guid_never_raises_on_agent_like_text(text: str) -> None:
    assert parse_guid(text).agent in AGENTS


@given(st.lists(st.text(max_size=30)))
def test_ids_from_guid_list_never_raises(guids: list[str]) -> None:
    assert ids_from_guid_list(guids).agent in ("plex", "unknown")


_ids = st.integers(min_value=1, max_value=10**9)
_maybe_index = st.one_of(st.none(), st.integers(min_value=0, max_value=999))
_lang = st.sampled_from(["", "?lang=en", "?lang=de", "?lang=xn"])


@given(
    agent=st.sampled_from(["thetvdb", "themoviedb"]),
    show_id=_ids,
    season=_maybe_index,
    episode=st.integers(min_value=0, max_value=9999),
    lang=_lang,
)
def test_legacy_guid_round_trip(
    agent: str, show_id: int, season: int | None, episode: int, lang: str
) -> None:
    path = str(show_id) if season is None else f"{show_id}/{season}/{episode}"
    info = parse_guid(f"com.plexapp.agents.{agent}://{path}{lang}")
    assert info.agent == agent
    assert (info.tvdb_id if agent == "thetvdb" else info.tmdb_id) == show_id
    assert info.season == season
    assert info.episode == (None if season is None else episode)


@given(digits=st.integers(min_value=10**6, max_value=10**8 - 1), lang=_lang)
def test_imdb_guid_round_trip(digits: int, lang: str) -> None:
    imdb = f"tt{digits:07d}"
    assert parse_guid(f"com.plexapp.agents.imdb://{imdb}{lang}").imdb_id == imdb
    assert ids_from_guid_list([f"imdb://{imdb}"]).imdb_id == imdb


@given(
    source=st.sampled_from(["anidb", "anidb2", "tvdb", "tvdb3", "tvdb4", "tsdb", "tmdb"]),
    show_id=_ids,
    prefix=st.sampled_from(["hama://", "com.plexapp.agents.hama://"]),
)
def test_hama_guid_round_trip(source: str, show_id: int, prefix: str) -> None:
    info = parse_guid(f"{prefix}{source}-{show_id}?lang=en")
    found = {"anidb": info.anidb_id, "tvdb": info.tvdb_id, "tsdb": info.tmdb_id, "tmdb": None}
    assert found[source.rstrip("0123456789")] == (None if source == "tmdb" else show_id)
    assert source != "tmdb" or not info.has_ids  # a movie id is never a show's


@given(tmdb=_ids, tvdb=_ids)
def test_guid_list_round_trip(tmdb: int, tvdb: int) -> None:
    info = ids_from_guid_list([f"tvdb://{tvdb}", f"tmdb://{tmdb}"])
    assert (info.tmdb_id, info.tvdb_id) == (tmdb, tvdb)

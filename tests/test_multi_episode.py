"""Multi-episode file names, and reading Plex's JSON liberally: pure functions, no I/O."""

from __future__ import annotations

import pytest

from core.clients.plex_library import _episode, _play, _show
from core.history.multi_episode import also_watched, episodes_in_name
from core.history.plan import NOT_EPISODE, SECTION_EXCLUDED, history_watches


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Show - S01E04-E05.mkv", (1, (4, 5))),
        ("Show.S01E04E05.1080p.mkv", (1, (4, 5))),
        ("show s01e04-05 720p.mkv", (1, (4, 5))),
        ("Show - S01E04-S01E05 - Title.mkv", (1, (4, 5))),
        ("Show 1x04-1x05.avi", (1, (4, 5))),
        ("Show 1x04-05.avi", (1, (4, 5))),
        ("Show S01E04 E05.mkv", (1, (4, 5))),
        ("Show.S01E01E02E03.mkv", (1, (1, 2, 3))),
        (
            "/tv/Grey's Anatomy (2005)/Season 02/Grey's Anatomy (2005) - s02e01-e03.avi",
            (2, (1, 2, 3)),
        ),
        ("C:\\TV\\Show\\Show - S03E10-E11.mkv", (3, (10, 11))),
    ],
)
def test_names_that_hold_several_episodes(name: str, expected: tuple[int, tuple[int, ...]]) -> None:
    assert episodes_in_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "Show - S01E04.mkv",  # one episode
        "Show - S01E01-720p.mkv",  # a resolution, not episode 720
        "Show - S01E01-1080.mkv",  # a 1,080-episode span is not trusted
        "Show S01E01-S02E01.mkv",  # spans seasons
        "Show S01E01-E30.mkv",  # longer than MAX_SPAN
        "Show S01E05-E04.mkv",  # backwards
        "Show S01E04E04.mkv",  # the same episode twice
        "Show.2005.S01E04.1080p-E05.mkv",  # the second number is not next to the first
        "Show - Season 1 - Episode 4.mkv",
        "",
    ],
)
def test_names_that_do_not(name: str) -> None:
    assert episodes_in_name(name) is None


def test_also_watched_needs_plex_and_the_file_to_agree() -> None:
    files = ["/tv/Show/Season 01/Show - S01E04-E06.mkv"]
    assert also_watched(files, 1, 4) == (5, 6)
    assert also_watched(files, 1, 5) == (4, 6)  # played from the second item
    assert also_watched(files, 2, 4) == ()  # Plex says another season: don't guess
    assert also_watched(files, 1, 7) == ()  # not in the file's range
    assert also_watched([], 1, 4) == ()


def test_plex_json_is_read_liberally_and_bad_items_are_dropped() -> None:
    # As PMS sends history: librarySectionID as text, the rest as numbers (plexapi.dev sample).
    play = _play(
        {
            "historyKey": "/status/sessions/history/1",
            "key": "/library/metadata/32171",
            "ratingKey": "32171",
            "librarySectionID": "2",
            "parentKey": "/library/metadata/32170",
            "grandparentKey": "/library/metadata/32132",
            "title": "The Noise That Blue Makes",
            "grandparentTitle": "Taskmaster",
            "type": "episode",
            "index": 1,
            "parentIndex": 13,
            "originallyAvailableAt": "2022-04-14T00:00:00.000Z",
            "viewedAt": 1654139223,
            "accountID": 1,
            "deviceID": 5,
        }
    )
    assert play is not None
    assert (play.show_key, play.season, play.index, play.account_id, play.section_id) == (
        "32132",
        13,
        1,
        "1",
        "2",
    )
    # A deleted item: no keys, still a title and the numbers.
    gone = _play(
        {
            "title": "Pilot",
            "grandparentTitle": "Lost",
            "type": "episode",
            "index": "1",
            "parentIndex": "1",
            "viewedAt": "1419652401",
            "accountID": "24680",
        }
    )
    assert gone is not None and gone.show_key is None and gone.rating_key is None
    assert (gone.season, gone.index, gone.viewed_at) == (1, 1, 1419652401)
    assert _play({"type": "episode", "accountID": 1}) is None  # no viewedAt
    assert _play({"viewedAt": -5, "accountID": 1}) is None
    assert _play({"viewedAt": 2**40, "accountID": 1}) is None  # not a date
    assert _show({"title": "No key"}) is None
    show = _show(
        {"ratingKey": 5, "title": "X", "year": "2005", "Guid": [{"id": "tmdb://1"}, "junk", {}]}
    )
    assert show is not None and show.guids == ("tmdb://1",) and show.year == 2005
    ep = _episode(
        {
            "ratingKey": "9",
            "type": "episode",
            "parentIndex": 1,
            "index": -1,
            "viewCount": "2",
            "Media": [{"Part": [{"file": "/a/b.mkv"}, {"nofile": 1}]}, "junk"],
        }
    )
    assert ep is not None and ep.index is None and ep.view_count == 2 and ep.files == ("/a/b.mkv",)
    assert _episode({"ratingKey": "9", "type": "movie"}) is None


def test_history_plays_that_mark_nothing_say_why() -> None:
    movie = _play({"type": "movie", "title": "Heat", "viewedAt": 1, "accountID": 1})
    assert movie is not None
    assert history_watches(movie, excluded_sections=(), same_file={}) == NOT_EPISODE
    kids = _play(
        {
            "type": "episode",
            "grandparentKey": "/library/metadata/9",
            "grandparentTitle": "Bluey",
            "parentIndex": 1,
            "index": 1,
            "viewedAt": 1,
            "accountID": 1,
            "librarySectionID": "7",
        }
    )
    assert kids is not None
    assert history_watches(kids, excluded_sections={"7"}, same_file={}) == SECTION_EXCLUDED

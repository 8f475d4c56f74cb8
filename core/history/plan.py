"""From what Plex says to what to mark: pure functions, no I/O.

A `Watch` is one episode of one Plex show watched at an instant. The library pass turns
the owner's watched episodes into watches; the history pass turns plays into watches or a
reason to skip them. Both expand multi-episode files (see multi_episode.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from core.clients.plex_library import HistoryPlay, LibraryEpisode, LibraryShow
from core.guid import ids_from_guid_list, parse_guid
from core.history.multi_episode import also_watched
from core.services.matching import PlexShow

# Skip reasons, as the run summary shows them.
NOT_EPISODE = "not a TV episode (movie, music)"
SECTION_EXCLUDED = "in an excluded library section"
NO_NUMBERS = "no season/episode number"
GONE_UNMAPPED = "deleted from Plex and its show is not mapped"
SHOW_IGNORED = "show ignored (conflict resolved as ignore)"
SHOW_NOT_ON_TMDB = "show not found on TMDB (its id from Plex is unknown there)"
SHOW_TMDB_ERROR = "show could not be matched (TMDB answered with an error)"
NOT_IN_TRACKER = "episode not in the tracker"


@dataclass(frozen=True, slots=True)
class Watch:
    show_key: str | None  # None: the play's item is gone from Plex (only the title is left)
    show_title: str | None
    season: int
    episode: int
    watched_at: datetime


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def epoch(when: datetime) -> int:
    return int(when.timestamp())


def plex_show(show: LibraryShow) -> PlexShow:
    """The matcher's view of a show from the library listing: its ids from the legacy
    agent's guid when it has them, else from the show's own `Guid` list."""
    ids = parse_guid(show.guid)
    if not ids.has_ids:
        from_list = ids_from_guid_list(show.guids)
        ids = from_list if from_list.has_ids else ids
    return PlexShow(show.rating_key, show.title, show.year, show.guid, ids, show.thumb)


def same_file(episode: LibraryEpisode) -> tuple[int, ...]:
    """The other episodes in this episode's file (a multi-episode file), else ()."""
    if episode.season is None or episode.index is None:
        return ()
    return also_watched(episode.files, episode.season, episode.index)


def library_watches(
    show: LibraryShow, episode: LibraryEpisode, since: datetime | None
) -> list[Watch]:
    """The owner's watched episode (and the rest of its file), if watched since `since`."""
    if episode.view_count <= 0 or episode.last_viewed_at is None:
        return []
    if episode.season is None or episode.index is None:
        return []
    when = at(episode.last_viewed_at)
    if since is not None and when < since:
        return []
    numbers = (episode.index, *same_file(episode))
    return [Watch(show.rating_key, show.title, episode.season, n, when) for n in numbers]


def history_watches(
    play: HistoryPlay,
    *,
    excluded_sections: Collection[str],
    same_file: Mapping[str, tuple[int, ...]],
) -> list[Watch] | str:
    """The episode(s) a play marks, or why it marks nothing. `same_file` holds, by episode
    rating key, the other episodes of a multi-episode file."""
    if play.type != "episode":
        return NOT_EPISODE
    if play.section_id is not None and play.section_id in excluded_sections:
        return SECTION_EXCLUDED
    if play.season is None or play.index is None:
        return NO_NUMBERS
    if play.show_key is None and not play.show_title:
        return GONE_UNMAPPED
    when = at(play.viewed_at)
    extra = same_file.get(play.rating_key, ()) if play.rating_key else ()
    return [
        Watch(play.show_key, play.show_title, play.season, n, when) for n in (play.index, *extra)
    ]

"""Plex GUID parsing: which metadata agent a show came from and which external ids it has.

Pure functions, no I/O. Nothing here raises on bad input: a GUID we cannot read is
reported as agent "unknown" and the caller falls back to title matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AGENTS", "GuidInfo", "ids_from_guid_list", "parse_guid"]

AGENTS = frozenset({"plex", "thetvdb", "themoviedb", "imdb", "hama", "local", "none", "unknown"})
PLEX_KINDS = frozenset({"show", "season", "episode", "movie"})


@dataclass(frozen=True)
class GuidInfo:
    """What a Plex GUID tells us. Ids are None when the GUID does not carry them."""

    agent: str
    kind: str | None = None
    tmdb_id: int | None = None
    tvdb_id: int | None = None
    imdb_id: str | None = None
    anidb_id: int | None = None
    season: int | None = None
    episode: int | None = None

    @property
    def has_ids(self) -> bool:
        return any(
            value is not None for value in (self.tmdb_id, self.tvdb_id, self.imdb_id, self.anidb_id)
        )

    @property
    def needs_server_lookup(self) -> bool:
        """True for the current Plex agent: its GUID carries no ids, so the show's ids
        have to be read from the Plex server (`/library/metadata/{ratingKey}`)."""
        return self.agent == "plex" and not self.has_ids


UNKNOWN = GuidInfo(agent="unknown")

# ASCII digits only: str.isdigit() accepts "²" and other digits that int() refuses.
_NUMBER = re.compile(r"[0-9]{1,10}", re.ASCII)
# Ids are stored in PostgreSQL `integer` columns: a bigger number is no usable id (it would
# fail every query, and every retry of it, instead of falling back to the title).
MAX_ID = 2**31 - 1
_IMDB = re.compile(r"tt[0-9]{5,10}", re.ASCII)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.ASCII | re.DOTALL)
# Legacy agent identifiers -> our agent names.
_LEGACY_AGENTS = {
    "com.plexapp.agents.thetvdb": "thetvdb",
    "com.plexapp.agents.thetvdbdvdorder": "thetvdb",
    "com.plexapp.agents.themoviedb": "themoviedb",
    "com.plexapp.agents.imdb": "imdb",
    "com.plexapp.agents.hama": "hama",
    "hama": "hama",
    "com.plexapp.agents.localmedia": "local",
    "com.plexapp.agents.none": "none",
    "local": "local",
}
# HAMA prefixes: "tvdb3-" etc. are TVDB ids with a different episode numbering mode,
# "anidb2-" etc. likewise for AniDB; the id itself is the same. HAMA's "tmdb-" ids are TMDB
# MOVIE ids (HAMA looks them up under /movie/), its "tsdb-" ids TMDB TV ids.
_HAMA_ID = re.compile(r"^(anidb|tvdb|tmdb|tsdb|imdb)[0-9]?-(.+)$", re.ASCII)


def _positive_int(text: str) -> int | None:
    if _NUMBER.fullmatch(text) is None:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def _non_negative_int(text: str) -> int | None:
    # Season 0 (specials) and episode 0 are real.
    if _NUMBER.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _imdb_id(text: str) -> str | None:
    return text if _IMDB.fullmatch(text) else None


def _split_path(rest: str) -> tuple[str, int | None, int | None]:
    """ "73244/2/3?lang=en" -> ("73244", 2, 3)."""
    path = rest.split("?", 1)[0].split("#", 1)[0]
    parts = path.split("/")
    season = _non_negative_int(parts[1]) if len(parts) > 1 else None
    episode = _non_negative_int(parts[2]) if len(parts) > 2 and season is not None else None
    return parts[0], season, episode


def _parse_hama(ident: str, season: int | None, episode: int | None) -> GuidInfo:
    match = _HAMA_ID.match(ident)
    if match is None:
        return GuidInfo(agent="hama", season=season, episode=episode)
    source, value = match.group(1), match.group(2)
    if source == "anidb":
        return GuidInfo(agent="hama", anidb_id=_positive_int(value), season=season, episode=episode)
    if source == "tvdb":
        return GuidInfo(agent="hama", tvdb_id=_positive_int(value), season=season, episode=episode)
    if source == "tsdb":
        return GuidInfo(agent="hama", tmdb_id=_positive_int(value), season=season, episode=episode)
    if source == "tmdb":  # a movie id: never a TV show's
        return GuidInfo(agent="hama", season=season, episode=episode)
    return GuidInfo(agent="hama", imdb_id=_imdb_id(value), season=season, episode=episode)


def parse_guid(guid: str | None) -> GuidInfo:
    """Parse a Plex GUID (`guid`, `grandparentGuid`, `parentGuid` of webhook metadata).

    >>> parse_guid("com.plexapp.agents.thetvdb://73244/2/3?lang=en").tvdb_id
    73244
    >>> parse_guid("plex://show/5d9c086c46115600200aa2fe").needs_server_lookup
    True

    Never raises; unreadable input gives agent "unknown".
    """
    if not isinstance(guid, str):
        return UNKNOWN
    match = _SCHEME.match(guid.strip())
    if match is None:
        return UNKNOWN
    scheme, rest = match.group(1).lower(), match.group(2)

    if scheme == "plex":
        kind = rest.split("/", 1)[0].lower()
        return GuidInfo(agent="plex", kind=kind if kind in PLEX_KINDS else None)
    if scheme == "tv.plex.agents.none":
        return GuidInfo(agent="none")
    if scheme.startswith("tv.plex.agents."):
        # The current Plex agents (series, movie): ids only via the server.
        return GuidInfo(agent="plex")

    agent = _LEGACY_AGENTS.get(scheme)
    if agent is None:
        return UNKNOWN
    ident, season, episode = _split_path(rest)
    if agent == "thetvdb":
        return GuidInfo(agent, tvdb_id=_positive_int(ident), season=season, episode=episode)
    if agent == "themoviedb":
        return GuidInfo(agent, tmdb_id=_positive_int(ident), season=season, episode=episode)
    if agent == "imdb":
        return GuidInfo(agent, imdb_id=_imdb_id(ident), season=season, episode=episode)
    if agent == "hama":
        return _parse_hama(ident, season, episode)
    # "local" and "none": the number is a Plex-internal id, not an external one.
    return GuidInfo(agent)


def ids_from_guid_list(guids: Iterable[str]) -> GuidInfo:
    """Ids from a metadata item's `Guid[]` list: "tmdb://1396", "tvdb://81189",
    "imdb://tt0903747". Unknown or malformed entries are ignored; the first valid id of
    each kind wins.

    Only use this on the SHOW's own metadata, fetched from the Plex server
    (`/library/metadata/{grandparentRatingKey}`). In an EPISODE's webhook the `Guid[]`
    list holds the episode's ids, not the show's: feeding it here would look up the
    wrong TMDB/TVDB record.

    The result has agent "plex" when any id was found and "unknown" otherwise.
    """
    tmdb_id: int | None = None
    tvdb_id: int | None = None
    imdb_id: str | None = None
    for entry in guids:
        if not isinstance(entry, str):
            continue
        scheme, sep, value = entry.strip().partition("://")
        if not sep:
            continue
        scheme = scheme.lower()
        if scheme == "tmdb" and tmdb_id is None:
            tmdb_id = _positive_int(value)
        elif scheme == "tvdb" and tvdb_id is None:
            tvdb_id = _positive_int(value)
        elif scheme == "imdb" and imdb_id is None:
            imdb_id = _imdb_id(value)
    found = GuidInfo(agent="plex", tmdb_id=tmdb_id, tvdb_id=tvdb_id, imdb_id=imdb_id)
    return found if found.has_ids else UNKNOWN

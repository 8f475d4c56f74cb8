"""Which tracker show a Plex show is: the id-based steps of the design's matching cascade.

1. an existing mapping for (user, show key) wins, unless sync is disabled; the show key is
   `grandparentRatingKey`, else the number in `grandparentKey`, else (relays that send no
   key) a `relay:…` stand-in from the show's ids or title (`Metadata.show_key`);
2. external ids from a legacy `grandparentGuid` (or, when that is absent, the legacy
   episode `guid`, whose path starts with the show's id), or for the current agent
   (`plex://`) from the show's own metadata on the user's Plex server (its `Guid` list, else
   its legacy `guid`). The `Guid[]` inside an episode's webhook holds the EPISODE's ids, so
   it is never read as the show's;
3. a tracker show with that TMDB id (1.0), or TVDB/IMDb id directly or via TMDB /find (0.95);
4. auto-add from TMDB when a TMDB id is known and the user allows it (1.0, `show_added`).
Anything else is `Unmatched`, for the fuzzy step and conflicts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from core.clients.errors import NotFound, UpstreamError
from core.clients.plex_server import PlexServerClient, PlexShowMetadata
from core.clients.tmdb import TmdbClient
from core.db import mappings, tvshows
from core.db.mappings import NewMapping
from core.db.plex_config import PlexConfig
from core.db.pool import Conn
from core.db.tvshows import Show
from core.guid import GuidInfo, ids_from_guid_list, parse_guid
from core.metrics import Metrics
from core.payload import Metadata
from core.services.plex_servers import ServerLocator
from core.services.shows import ShowCatalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlexShow:
    """What we know of the Plex show a scrobble belongs to."""

    rating_key: str  # what mappings and conflicts are keyed by (`Metadata.show_key`)
    title: str
    year: int | None
    guid: str | None
    ids: GuidInfo
    thumb: str | None = None
    plex_key: str | None = None  # the rating key on the Plex server; None for `relay:` keys


@dataclass(frozen=True)
class Matched:
    show: Show
    method: str
    confidence: float
    added: bool = False


@dataclass(frozen=True)
class IgnoredShow:
    reason: str


@dataclass(frozen=True)
class Unmatched:
    plex: PlexShow
    reason: str


MatchResult = Matched | IgnoredShow | Unmatched


class Matcher:
    def __init__(
        self,
        *,
        tmdb: TmdbClient,
        plex_server: PlexServerClient,
        servers: ServerLocator,
        catalog: ShowCatalog,
        metrics: Metrics,
    ) -> None:
        self._tmdb = tmdb
        self._plex_server = plex_server
        self._servers = servers
        self._catalog = catalog
        self._metrics = metrics

    async def existing(self, conn: Conn, user_id: int, rating_key: str) -> MatchResult | None:
        """What an existing mapping says: the show, "ignored", or None (match afresh)."""
        mapped = await tvshows.for_plex_show(conn, user_id, rating_key)
        if mapped is None:
            return None
        if not mapped.sync_enabled:
            return IgnoredShow("this Plex show is ignored")
        if mapped.show is None:
            return None
        return Matched(mapped.show, "existing", mapped.match_confidence or 1.0)

    async def match(
        self, conn: Conn, user_id: int, config: PlexConfig, meta: Metadata, server_uuid: str | None
    ) -> MatchResult:
        rating_key = meta.show_key
        assert rating_key is not None and meta.grandparent_title is not None
        found = await self._mapped(conn, user_id, rating_key)
        if found is not None:
            return found
        plex = await self.plex_show(conn, user_id, config, meta, server_uuid)
        result = await self._by_ids_remembered(conn, user_id, config, plex)
        if (
            isinstance(result, Unmatched)
            and plex.year is None
            and plex.ids.agent != "plex"
            and plex.plex_key is not None
        ):
            # Legacy agents carry no show year in the webhook (Metadata.year is the episode's);
            # the title step needs it, so ask the server before giving up on certainty. Only
            # the year: a server that can't answer leaves the title step what the payload has.
            fetched = await self._server_year(conn, user_id, config, plex.plex_key, server_uuid)
            if fetched is not None and fetched.year is not None:
                plex = replace(plex, year=fetched.year, thumb=plex.thumb or fetched.thumb)
                result = Unmatched(plex, result.reason)
        return result

    async def match_known(
        self, conn: Conn, user_id: int, config: PlexConfig, plex: PlexShow
    ) -> MatchResult:
        """The same cascade for a Plex show whose ids are already known (history sync reads
        them from the library listing, once per run): mapping, ids, TMDB find, auto-add.
        `Unmatched` goes on to the fuzzy step and conflicts, as with `match`."""
        found = await self._mapped(conn, user_id, plex.rating_key)
        if found is not None:
            return found
        return await self._by_ids_remembered(conn, user_id, config, plex)

    async def _mapped(self, conn: Conn, user_id: int, rating_key: str) -> MatchResult | None:
        """What an existing mapping says; when there is none, the (user, show) lock is taken
        first, so that two scrobbles of a Plex show seen for the first time don't both add
        it: the second finds the first one's mapping once the lock is its."""
        found = await self.existing(conn, user_id, rating_key)
        if found is not None:
            self._metrics.matches.labels(method="existing").inc()
            return found
        await mappings.lock_plex_show(conn, user_id, rating_key)
        return await self.existing(conn, user_id, rating_key)

    async def _by_ids_remembered(
        self, conn: Conn, user_id: int, config: PlexConfig, plex: PlexShow
    ) -> MatchResult:
        result = await self._by_ids(conn, user_id, config, plex)
        if isinstance(result, Matched):
            await self.remember(conn, user_id, plex, result)
        return result

    async def plex_show(
        self, conn: Conn, user_id: int, config: PlexConfig, meta: Metadata, server_uuid: str | None
    ) -> PlexShow:
        rating_key, plex_key = meta.show_key, meta.plex_show_key
        assert rating_key is not None and meta.grandparent_title is not None
        ids = meta.show_guid
        # The show's GUID, or the legacy episode GUID its ids came from.
        guid = meta.grandparent_guid or (meta.guid if ids.has_ids else None)
        title, year, thumb = meta.grandparent_title, meta.grandparent_year, meta.grandparent_thumb
        if not ids.has_ids and ids.agent in ("plex", "unknown") and plex_key is not None:
            fetched = await self._server_metadata(conn, user_id, config, plex_key, server_uuid)
            if fetched is not None:
                ids = ids_from_guid_list(fetched.guids)
                if not ids.has_ids:  # a legacy agent's show: the ids are in its own guid
                    ids = replace(parse_guid(fetched.guid), season=None, episode=None)
                guid = fetched.guid or guid
                title, year = fetched.title or title, fetched.year or year
                thumb = fetched.thumb or thumb
        return PlexShow(rating_key, title, year, guid, ids, thumb, plex_key)

    async def _server_year(
        self,
        conn: Conn,
        user_id: int,
        config: PlexConfig,
        rating_key: str,
        server_uuid: str | None,
    ) -> PlexShowMetadata | None:
        """The show's metadata for its year, or None when the server (or plex.tv, finding it)
        can't answer: with the ids in the payload an unreachable server is no failure."""
        try:
            return await self._server_metadata(conn, user_id, config, rating_key, server_uuid)
        except UpstreamError as exc:
            log.info(
                "user %d: Plex show %s: no year from the Plex server (%s); matching on the title",
                user_id,
                rating_key,
                exc,
            )
            return None

    async def _server_metadata(
        self,
        conn: Conn,
        user_id: int,
        config: PlexConfig,
        rating_key: str,
        server_uuid: str | None,
    ) -> PlexShowMetadata | None:
        # Where the server answers (and with which token) is the locator's business: it
        # tries every address plex.tv knows and says what to do when none answers.
        try:
            return await self._servers.call(
                conn,
                user_id,
                config,
                server_uuid,
                lambda server: self._plex_server.show_metadata(
                    user_id=user_id,
                    server_url=server.url,
                    token=server.token,
                    rating_key=rating_key,
                ),
            )
        except NotFound:
            return None

    async def _by_ids(
        self, conn: Conn, user_id: int, config: PlexConfig, plex: PlexShow
    ) -> MatchResult:
        ids = plex.ids
        if ids.tmdb_id is not None:
            show = await tvshows.by_external_id(conn, user_id, tmdb_id=ids.tmdb_id)
            if show is not None:
                return Matched(show, "tmdb_id", 1.0)
        if ids.tvdb_id is not None:
            show = await tvshows.by_external_id(conn, user_id, tvdb_id=ids.tvdb_id)
            if show is not None:
                return Matched(show, "tvdb_id", 0.95)
        if ids.imdb_id is not None:
            show = await tvshows.by_external_id(conn, user_id, imdb_id=ids.imdb_id)
            if show is not None:
                return Matched(show, "imdb_id", 0.95)
        tmdb_id = ids.tmdb_id or await self._tmdb_id_via_find(ids)
        if tmdb_id is not None and tmdb_id != ids.tmdb_id:
            show = await tvshows.by_external_id(conn, user_id, tmdb_id=tmdb_id)
            if show is not None:
                method = "tvdb_id" if ids.tvdb_id is not None else "imdb_id"
                return Matched(show, method, 0.95)
        if tmdb_id is not None and config.auto_add_shows and self._tmdb.configured:
            show, added = await self._catalog.add_from_tmdb(conn, user_id, tmdb_id)
            return Matched(show, "auto_add", 1.0, added=added)
        why = "no external ids" if not ids.has_ids else "not in the tracker"
        return Unmatched(plex, why)

    async def _tmdb_id_via_find(self, ids: GuidInfo) -> int | None:
        if not self._tmdb.configured:
            return None
        for source, value in (("tvdb_id", ids.tvdb_id), ("imdb_id", ids.imdb_id)):
            if value is None:
                continue
            try:
                found = await self._tmdb.find_by_external_id(str(value), source)  # type: ignore[arg-type]
            except NotFound:
                continue
            if found:
                return found[0].id
        return None

    async def remember(
        self,
        conn: Conn,
        user_id: int,
        plex: PlexShow,
        result: Matched,
        *,
        manual: bool = False,
    ) -> None:
        await mappings.upsert(
            conn,
            NewMapping(
                user_id=user_id,
                plex_rating_key=plex.rating_key,
                plex_guid=plex.guid,
                plex_title=plex.title,
                plex_year=plex.year,
                tvshow_id=result.show.id,
                tmdb_id=result.show.tmdb_id or plex.ids.tmdb_id,
                tvdb_id=result.show.tvdb_id or plex.ids.tvdb_id,
                imdb_id=result.show.imdb_id or plex.ids.imdb_id,
                match_confidence=result.confidence,
                match_method=result.method,
                manually_confirmed=manual,
            ),
        )
        self._metrics.matches.labels(method=result.method).inc()
        log.info(
            "user %d: Plex show %s (%r) -> tracker show %d by %s (%.2f)",
            user_id,
            plex.rating_key,
            plex.title,
            result.show.id,
            result.method,
            result.confidence,
        )

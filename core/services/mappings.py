"""Which tracker show each Plex show goes to, as the owner sees and changes it later.

A mapping decides every future scrobble of its Plex show (the matcher's first step), so:
- `remap` points it at another tracker show (manually confirmed): future scrobbles follow;
- `unmap` deletes it: the next scrobble is matched afresh (ids, title, maybe a conflict);
- `set_sync(False)` turns it into an ignore rule: scrobbles of that show are ignored.
Past scrobbles are left as they were: a remap does not move episodes already marked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.db import conflicts, mappings, tvshows
from core.db.mappings import Mapping, NewMapping
from core.db.pool import Conn, Pool
from core.errors import ConflictStateError, InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

MAX_PAGE = 500


@dataclass(frozen=True)
class MappedShow:
    """A mapping with the title of the tracker show it points at (None: an ignore rule,
    or the show was deleted)."""

    mapping: Mapping
    tvshow_title: str | None


class MappingService:
    def __init__(self, *, pool: Pool) -> None:
        self._pool = pool

    async def list(self, user_id: int, limit: int = 100, offset: int = 0) -> list[MappedShow]:
        """The user's mappings by Plex title."""
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise InvalidInputError(f"limit must be 1 to {MAX_PAGE} and offset at least 0")
        async with self._pool.acquire() as conn:
            found = await mappings.list_for_user(conn, user_id, limit=limit, offset=offset)
            titles = {s.id: s.title for s in await tvshows.list_for_user(conn, user_id)}
        return [MappedShow(m, titles.get(m.tvshow_id) if m.tvshow_id else None) for m in found]

    async def get(self, user_id: int, mapping_id: int) -> Mapping:
        async with self._pool.acquire() as conn:
            return await self._mapping(conn, user_id, mapping_id)

    async def by_plex_key(self, user_id: int, plex_rating_key: str) -> Mapping:
        """The mapping of a Plex show by its rating key (the CLI's --plex-key)."""
        async with self._pool.acquire() as conn:
            found = await mappings.get(conn, user_id, plex_rating_key)
        if found is None:
            raise NotFoundError(f"no mapping for Plex show {plex_rating_key!r}")
        return found

    async def unmap(self, user_id: int, mapping_id: int) -> Mapping:
        """Forget the mapping; returns what it was."""
        async with self._pool.acquire() as conn, conn.transaction():
            found = await self._mapping(conn, user_id, mapping_id)
            await mappings.delete(conn, user_id, mapping_id)
        log.info("user %d: mapping %d (%r) removed", user_id, mapping_id, found.plex_title)
        return found

    async def remap(self, user_id: int, mapping_id: int, show_id: int) -> Mapping:
        """Point the Plex show at another tracker show of the same user, confirmed by hand."""
        async with self._pool.acquire() as conn, conn.transaction():
            found = await self._mapping(conn, user_id, mapping_id)
            await self._no_open_conflict(conn, found)
            show = await tvshows.get(conn, user_id, show_id)
            if show is None:
                raise NotFoundError(f"show {show_id} is not in this user's tracker")
            updated = await mappings.upsert(
                conn,
                NewMapping(
                    user_id=user_id,
                    plex_rating_key=found.plex_rating_key,
                    plex_guid=found.plex_guid,
                    plex_title=found.plex_title,
                    plex_year=found.plex_year,
                    tvshow_id=show.id,
                    tmdb_id=show.tmdb_id,
                    tvdb_id=show.tvdb_id,
                    imdb_id=show.imdb_id,
                    match_confidence=1.0,
                    match_method="manual",
                    manually_confirmed=True,
                    sync_enabled=True,
                ),
            )
        log.info(
            "user %d: mapping %d (%r) now -> show %d (was %s)",
            user_id,
            mapping_id,
            found.plex_title,
            show.id,
            found.tvshow_id,
        )
        return updated

    async def set_sync(self, user_id: int, mapping_id: int, enabled: bool) -> Mapping:
        """Pause (ignore) or resume syncing of one Plex show."""
        async with self._pool.acquire() as conn, conn.transaction():
            found = await self._mapping(conn, user_id, mapping_id)
            updated = await mappings.upsert(
                conn,
                NewMapping(
                    user_id=user_id,
                    plex_rating_key=found.plex_rating_key,
                    plex_guid=found.plex_guid,
                    plex_title=found.plex_title,
                    plex_year=found.plex_year,
                    tvshow_id=found.tvshow_id,
                    tmdb_id=found.tmdb_id,
                    tvdb_id=found.tvdb_id,
                    imdb_id=found.imdb_id,
                    match_confidence=found.match_confidence,
                    match_method=found.match_method,
                    manually_confirmed=found.manually_confirmed,
                    sync_enabled=enabled,
                ),
            )
        log.info("user %d: mapping %d sync %s", user_id, mapping_id, "on" if enabled else "off")
        return updated

    async def _mapping(self, conn: Conn, user_id: int, mapping_id: int) -> Mapping:
        # Another user's mapping is "not found", like a missing one. Edits are single
        # upserts keyed by (user, Plex show): two at once simply apply in turn.
        found = await mappings.get_by_id(conn, user_id, mapping_id)
        if found is None:
            raise NotFoundError(f"no mapping {mapping_id}")
        return found

    async def _no_open_conflict(self, conn: Conn, mapping: Mapping) -> None:
        """Scrobbles held behind an open conflict would stay held; resolving it is the way."""
        conflict = await conflicts.open_for_show(conn, mapping.user_id, mapping.plex_rating_key)
        if conflict is not None:
            raise ConflictStateError(
                f"Plex show {mapping.plex_title!r} has open conflict {conflict.id}: "
                "resolve it instead (it replays the scrobbles held behind it)"
            )

"""SQL for `plex_show_mappings`: which tracker show a Plex show is."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from core.db.pool import Conn


@dataclass(frozen=True)
class Mapping:
    id: int
    user_id: int
    plex_rating_key: str
    plex_guid: str | None
    plex_title: str | None
    plex_year: int | None
    tvshow_id: int | None
    tmdb_id: int | None
    tvdb_id: int | None
    imdb_id: str | None
    match_confidence: float | None
    match_method: str
    manually_confirmed: bool
    sync_enabled: bool


@dataclass(frozen=True)
class NewMapping:
    user_id: int
    plex_rating_key: str
    plex_guid: str | None
    plex_title: str | None
    plex_year: int | None
    tvshow_id: int | None
    tmdb_id: int | None
    tvdb_id: int | None
    imdb_id: str | None
    match_confidence: float | None
    match_method: str
    manually_confirmed: bool = False
    sync_enabled: bool = True


_COLS = """id, user_id, plex_rating_key, plex_guid, plex_title, plex_year, tvshow_id, tmdb_id,
           tvdb_id, imdb_id, match_confidence, match_method, manually_confirmed, sync_enabled"""


def _mapping(r: asyncpg.Record) -> Mapping:
    conf = r["match_confidence"]
    return Mapping(**{**dict(r), "match_confidence": float(conf) if conf is not None else None})


async def lock_plex_show(conn: Conn, user_id: int, plex_rating_key: str) -> None:
    """Hold the decision about what this Plex show is, for this transaction: matching it
    afresh (and joining or opening its conflict) and resolving its conflict take turns."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        f"match:{user_id}:{plex_rating_key}",
    )


async def get(conn: Conn, user_id: int, plex_rating_key: str) -> Mapping | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM plex_show_mappings WHERE user_id = $1 AND plex_rating_key = $2",
        user_id,
        plex_rating_key,
    )
    return _mapping(row) if row else None


async def get_by_id(conn: Conn, user_id: int, mapping_id: int) -> Mapping | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM plex_show_mappings WHERE user_id = $1 AND id = $2",
        user_id,
        mapping_id,
    )
    return _mapping(row) if row else None


async def upsert(conn: Conn, m: NewMapping) -> Mapping:
    """Create or replace the mapping of a Plex show (a manual decision replaces anything)."""
    row = await conn.fetchrow(
        f"""INSERT INTO plex_show_mappings (user_id, plex_rating_key, plex_guid, plex_title,
                plex_year, tvshow_id, tmdb_id, tvdb_id, imdb_id, match_confidence, match_method,
                manually_confirmed, sync_enabled)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (user_id, plex_rating_key) DO UPDATE SET
                plex_guid = COALESCE(EXCLUDED.plex_guid, plex_show_mappings.plex_guid),
                plex_title = COALESCE(EXCLUDED.plex_title, plex_show_mappings.plex_title),
                plex_year = COALESCE(EXCLUDED.plex_year, plex_show_mappings.plex_year),
                tvshow_id = EXCLUDED.tvshow_id, tmdb_id = EXCLUDED.tmdb_id,
                tvdb_id = EXCLUDED.tvdb_id, imdb_id = EXCLUDED.imdb_id,
                match_confidence = EXCLUDED.match_confidence,
                match_method = EXCLUDED.match_method,
                manually_confirmed = EXCLUDED.manually_confirmed,
                sync_enabled = EXCLUDED.sync_enabled, updated_at = now()
            RETURNING {_COLS}""",
        m.user_id,
        m.plex_rating_key,
        m.plex_guid,
        m.plex_title,
        m.plex_year,
        m.tvshow_id,
        m.tmdb_id,
        m.tvdb_id,
        m.imdb_id,
        Decimal(str(round(m.match_confidence, 3))) if m.match_confidence is not None else None,
        m.match_method,
        m.manually_confirmed,
        m.sync_enabled,
    )
    assert row is not None
    return _mapping(row)


async def list_for_user(
    conn: Conn, user_id: int, *, limit: int = 100, offset: int = 0
) -> list[Mapping]:
    rows = await conn.fetch(
        f"""SELECT {_COLS} FROM plex_show_mappings WHERE user_id = $1
            ORDER BY lower(plex_title), id LIMIT $2 OFFSET $3""",
        user_id,
        limit,
        offset,
    )
    return [_mapping(r) for r in rows]


async def delete(conn: Conn, user_id: int, mapping_id: int) -> bool:
    status: str = await conn.execute(
        "DELETE FROM plex_show_mappings WHERE user_id = $1 AND id = $2", user_id, mapping_id
    )
    return status == "DELETE 1"


async def owner(conn: Conn, mapping_id: int) -> int | None:
    """The user a mapping belongs to (the API answers 403 for another user's, 404 for none)."""
    user_id: int | None = await conn.fetchval(
        "SELECT user_id FROM plex_show_mappings WHERE id = $1", mapping_id
    )
    return user_id


async def targets(
    conn: Conn, user_id: int, plex_rating_keys: list[str]
) -> dict[str, tuple[int | None, bool]]:
    """(tracker show id, sync enabled) of these Plex shows' mappings, in one round trip
    (history sync settles a page of plays with it)."""
    rows = await conn.fetch(
        """SELECT plex_rating_key, tvshow_id, sync_enabled FROM plex_show_mappings
           WHERE user_id = $1 AND plex_rating_key = ANY($2::text[])""",
        user_id,
        plex_rating_keys,
    )
    return {r["plex_rating_key"]: (r["tvshow_id"], r["sync_enabled"]) for r in rows}


async def shows_by_title(conn: Conn, user_id: int, titles: list[str]) -> dict[str, int]:
    """casefolded Plex title -> tracker show, where exactly one synced mapping has that
    title (plays of media deleted from Plex carry only the show's title)."""
    rows = await conn.fetch(
        """SELECT lower(plex_title) AS title, min(tvshow_id) AS tvshow_id
           FROM plex_show_mappings
           WHERE user_id = $1 AND sync_enabled AND tvshow_id IS NOT NULL
             AND lower(plex_title) = ANY($2::text[])
           GROUP BY lower(plex_title) HAVING count(DISTINCT tvshow_id) = 1""",
        user_id,
        [t.lower() for t in titles],
    )
    return {r["title"]: r["tvshow_id"] for r in rows}

"""SQL for `plex_conflicts`: Plex shows we could not match with certainty."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.db.pool import Conn


@dataclass(frozen=True)
class Conflict:
    id: int
    user_id: int
    plex_rating_key: str
    plex_guid: str | None
    plex_title: str
    plex_year: int | None
    plex_thumb: str | None
    conflict_type: str
    potential_matches: list[dict[str, Any]]
    resolved: bool
    resolved_tvshow_id: int | None
    resolution_action: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime
    held_scrobbles: int = 0
    resolution_replayed: int | None = None  # held scrobbles replayed on resolution
    resolution_marked: int | None = None  # of those, episodes newly marked watched


_COLS = """c.id, c.user_id, c.plex_rating_key, c.plex_guid, c.plex_title, c.plex_year,
           c.plex_thumb, c.conflict_type, c.potential_matches, c.resolved, c.resolved_tvshow_id,
           c.resolution_action, c.resolved_by, c.resolved_at, c.created_at,
           c.resolution_replayed, c.resolution_marked,
           ((SELECT count(*) FROM plex_webhook_logs l
             WHERE l.held_by_conflict_id = c.id AND l.status = 'pending')
            + (SELECT count(*) FROM plex_history_held h WHERE h.conflict_id = c.id))::int
             AS held_scrobbles"""


def _conflict(r: asyncpg.Record) -> Conflict:
    return Conflict(**dict(r))


async def open_for_show(
    conn: Conn, user_id: int, plex_rating_key: str, *, for_share: bool = False
) -> Conflict | None:
    """`for_share`: wait for a resolution in progress and see its outcome, so a scrobble is
    never parked behind a conflict that is being resolved (it would stay held for ever)."""
    lock = " FOR SHARE OF c" if for_share else ""
    row = await conn.fetchrow(
        f"""SELECT {_COLS} FROM plex_conflicts c
            WHERE c.user_id = $1 AND c.plex_rating_key = $2 AND NOT c.resolved{lock}""",
        user_id,
        plex_rating_key,
    )
    return _conflict(row) if row else None


async def create_or_get_open(
    conn: Conn,
    *,
    user_id: int,
    plex_rating_key: str,
    plex_guid: str | None,
    plex_title: str,
    plex_year: int | None,
    plex_thumb: str | None,
    conflict_type: str,
    potential_matches: list[dict[str, Any]],
) -> tuple[Conflict, bool]:
    """The open conflict of this Plex show, created now if there is none (returns created)."""
    row = await conn.fetchrow(
        """INSERT INTO plex_conflicts (user_id, plex_rating_key, plex_guid, plex_title,
               plex_year, plex_thumb, conflict_type, potential_matches)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (user_id, plex_rating_key) WHERE NOT resolved DO NOTHING
           RETURNING id""",
        user_id,
        plex_rating_key,
        plex_guid,
        plex_title,
        plex_year,
        plex_thumb,
        conflict_type,
        potential_matches,
    )
    existing = await open_for_show(conn, user_id, plex_rating_key)
    assert existing is not None
    return existing, row is not None


async def get(conn: Conn, conflict_id: int, *, for_update: bool = False) -> Conflict | None:
    lock = " FOR UPDATE OF c" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM plex_conflicts c WHERE c.id = $1{lock}", conflict_id
    )
    return _conflict(row) if row else None


async def list_open(conn: Conn, user_id: int | None = None) -> list[Conflict]:
    rows = await conn.fetch(
        f"""SELECT {_COLS} FROM plex_conflicts c
            WHERE NOT c.resolved AND ($1::bigint IS NULL OR c.user_id = $1)
            ORDER BY c.created_at, c.id""",
        user_id,
    )
    return [_conflict(r) for r in rows]


async def mark_resolved(
    conn: Conn,
    conflict_id: int,
    *,
    tvshow_id: int | None,
    action: str,
    resolved_by: str,
) -> None:
    await conn.execute(
        """UPDATE plex_conflicts SET resolved = true, resolved_tvshow_id = $2,
               resolution_action = $3, resolved_by = $4, resolved_at = now()
           WHERE id = $1""",
        conflict_id,
        tvshow_id,
        action,
        resolved_by,
    )


async def record_replay(conn: Conn, conflict_id: int, *, replayed: int, marked: int) -> None:
    await conn.execute(
        """UPDATE plex_conflicts SET resolution_replayed = $2, resolution_marked = $3
           WHERE id = $1""",
        conflict_id,
        replayed,
        marked,
    )


async def count_open(conn: Conn) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM plex_conflicts WHERE NOT resolved")
    return n

"""SQL for `plex_history_held`: episodes from Plex's history waiting behind a conflict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn


@dataclass(frozen=True)
class HeldEpisode:
    season: int
    episode: int
    watched_at: datetime


async def hold(
    conn: Conn,
    *,
    user_id: int,
    conflict_id: int,
    show_key: str,
    episodes: Sequence[tuple[int, int, datetime]],
) -> int:
    """Park episodes behind an open conflict (one row each, the earliest play kept).
    Returns how many were not held before."""
    if not episodes:
        return 0
    rows = await conn.fetch(
        """INSERT INTO plex_history_held AS h (user_id, conflict_id, show_key, season, episode,
               watched_at)
           SELECT $1, $2, $3, s, e, min(w)
           FROM unnest($4::int[], $5::int[], $6::timestamptz[]) AS x(s, e, w)
           GROUP BY s, e
           ON CONFLICT (conflict_id, season, episode) DO UPDATE
               SET watched_at = LEAST(h.watched_at, EXCLUDED.watched_at)
           RETURNING (xmax = 0) AS inserted""",
        user_id,
        conflict_id,
        show_key,
        [s for s, _, _ in episodes],
        [e for _, e, _ in episodes],
        [w for _, _, w in episodes],
    )
    return sum(1 for r in rows if r["inserted"])


async def take(conn: Conn, conflict_id: int) -> list[HeldEpisode]:
    """Remove and return what waited behind a conflict (its resolution applies them)."""
    rows = await conn.fetch(
        """DELETE FROM plex_history_held WHERE conflict_id = $1
           RETURNING season, episode, watched_at""",
        conflict_id,
    )
    return sorted(
        (HeldEpisode(r["season"], r["episode"], r["watched_at"]) for r in rows),
        key=lambda h: (h.season, h.episode),
    )


async def behind_resolved(conn: Conn, limit: int) -> list[int]:
    """Resolved conflicts that still hold history episodes (the retry job's safety net:
    episodes TMDB could not place when the conflict was resolved wait here)."""
    rows = await conn.fetch(
        """SELECT c.id FROM plex_conflicts c
           WHERE c.resolved AND c.id IN (SELECT conflict_id FROM plex_history_held)
           ORDER BY c.id LIMIT $1""",
        limit,
    )
    return [r["id"] for r in rows]


async def count(conn: Conn, conflict_id: int) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM plex_history_held WHERE conflict_id = $1", conflict_id
    )
    return n

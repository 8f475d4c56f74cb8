"""Marking many episodes for history sync: calls `plex_mark_episodes` (sql/0014, where the
marking rules live, shared in spirit with the webhook's `plex_mark_episode`) and keeps, per
run, which episodes it has already reported, so an episode seen in both the library and
the history counts once in the run's summary.

The per-run set is a temporary table on the run's own connection: the run's memory stays
flat however large the library is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn

# (tracker show id, season, episode, watched at); a negative show id is a show a dry run
# would add (its episodes would all be marked).
Mark = tuple[int, int, int, datetime]


@dataclass(frozen=True, slots=True)
class Marked:
    tvshow_id: int
    season: int
    episode: int
    was_watched: bool | None  # None: the tracker doesn't know this episode
    first_time: bool  # not reported earlier in this run


async def start_run(conn: Conn) -> None:
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS plex_sync_seen (
               tvshow_id bigint, season int, episode int,
               PRIMARY KEY (tvshow_id, season, episode))"""
    )
    await conn.execute("TRUNCATE pg_temp.plex_sync_seen")


async def end_run(conn: Conn) -> None:
    await conn.execute("DROP TABLE IF EXISTS pg_temp.plex_sync_seen")


def _columns(marks: Sequence[Mark]) -> tuple[list[int], list[int], list[int], list[datetime]]:
    return (
        [m[0] for m in marks],
        [m[1] for m in marks],
        [m[2] for m in marks],
        [m[3] for m in marks],
    )


_REPORT = """
    fresh AS (
        INSERT INTO pg_temp.plex_sync_seen
        SELECT tvshow_id, season, episode FROM res WHERE was_watched IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING tvshow_id, season, episode)
    SELECT r.tvshow_id, r.season, r.episode, r.was_watched,
           (f.tvshow_id IS NOT NULL) AS first_time
    FROM res r LEFT JOIN fresh f USING (tvshow_id, season, episode)"""


async def say_history(conn: Conn) -> None:
    """Episodes marked in the rest of this transaction came from the Plex history sync
    (`tvshow_episodes.watch_source`, set by the trigger of sql/0016)."""
    await conn.execute("SELECT set_config('plex_tracker.watch_source', 'history', true)")


async def unknown_seasons(conn: Conn, marks: Sequence[Mark]) -> set[tuple[int, int]]:
    """(show, season) pairs with an episode to mark that the tracker doesn't know: read
    only, so the caller can ask TMDB before its batch locks any show."""
    if not marks:
        return set()
    rows = await conn.fetch(
        """SELECT DISTINCT x.sh, x.s
           FROM unnest($1::bigint[], $2::int[], $3::int[]) AS x(sh, s, e)
           WHERE x.sh > 0 AND NOT EXISTS (
               SELECT 1 FROM tvshow_episodes t
               WHERE t.tvshow_id = x.sh AND t.season = x.s AND t.episode = x.e)""",
        [m[0] for m in marks],
        [m[1] for m in marks],
        [m[2] for m in marks],
    )
    return {(r["sh"], r["s"]) for r in rows}


async def mark(conn: Conn, marks: Sequence[Mark]) -> list[Marked]:
    """Mark these episodes watched (earliest date wins); one statement for all of them."""
    if not marks:
        return []
    rows = await conn.fetch(
        """WITH res AS MATERIALIZED (
               SELECT * FROM plex_mark_episodes($1::bigint[], $2::int[], $3::int[],
                                                $4::timestamptz[])),"""
        + _REPORT,
        *_columns(marks),
    )
    return [Marked(**dict(r)) for r in rows]


async def peek(conn: Conn, marks: Sequence[Mark]) -> list[Marked]:
    """What `mark` would do, changing nothing in the tracker (a dry run)."""
    if not marks:
        return []
    rows = await conn.fetch(
        """WITH wanted AS (
               SELECT DISTINCT sh, s, e
               FROM unnest($1::bigint[], $2::int[], $3::int[], $4::timestamptz[])
                    AS x(sh, s, e, w)),
           res AS MATERIALIZED (
               SELECT w.sh AS tvshow_id, w.s AS season, w.e AS episode,
                      CASE WHEN w.sh < 0 THEN false ELSE t.watched END AS was_watched
               FROM wanted w
               LEFT JOIN tvshow_episodes t
                      ON t.tvshow_id = w.sh AND t.season = w.s AND t.episode = w.e),"""
        + _REPORT,
        *_columns(marks),
    )
    return [Marked(**dict(r)) for r in rows]


async def mark_once(conn: Conn, marks: Sequence[Mark]) -> list[Marked]:
    """`mark` outside a run (a conflict's held episodes): no per-run report to keep."""
    if not marks:
        return []
    rows = await conn.fetch(
        """SELECT tvshow_id, season, episode, was_watched, true AS first_time
           FROM plex_mark_episodes($1::bigint[], $2::int[], $3::int[], $4::timestamptz[])""",
        *_columns(marks),
    )
    return [Marked(**dict(r)) for r in rows]

"""SQL for `tvshows` and their `tvshow_episodes`.

Lock order (sql/0008_settle_in_show_order.sql): whatever writes a show's episodes or totals
locks the show row first, then episodes, and several shows in id order. A recount then
sees every committed mark and none is in flight; nothing waits for another in a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from core.db.pool import Conn


@dataclass(frozen=True)
class EpisodeInput:
    season: int
    episode: int
    title: str | None = None
    runtime: int | None = None
    air_date: date | None = None


@dataclass(frozen=True)
class ShowInput:
    title: str
    year: int | None = None
    first_air_date: date | None = None
    original_title: str | None = None
    aliases: tuple[str, ...] = ()
    tmdb_id: int | None = None
    tvdb_id: int | None = None
    imdb_id: str | None = None
    status: str | None = None
    in_production: bool = False
    poster_path: str | None = None
    source: str = "import"

    @property
    def start_date(self) -> date | None:
        if self.first_air_date is not None:
            return self.first_air_date
        return date(self.year, 1, 1) if self.year else None


@dataclass(frozen=True)
class Show:
    id: int
    user_id: int
    title: str
    original_title: str | None
    aliases: tuple[str, ...]
    year: int | None
    tmdb_id: int | None
    tvdb_id: int | None
    imdb_id: str | None
    total_episodes: int
    watched_episodes: int
    total_minutes: int
    source: str
    status: str | None
    in_production: bool


def _columns(alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    return (
        f"{p}id, {p}user_id, {p}title, {p}original_title, {p}aliases, "
        f"EXTRACT(YEAR FROM {p}show_start_date)::int AS year, {p}tmdb_id, {p}tvdb_id, "
        f"{p}imdb_id, {p}total_episodes, {p}watched_episodes, {p}total_minutes, {p}source, "
        f"{p}status, {p}in_production"
    )


_COLS = _columns()


def _show(r: asyncpg.Record) -> Show:
    return Show(**{**dict(r), "aliases": tuple(r["aliases"] or ())})


async def upsert(conn: Conn, user_id: int, show: ShowInput) -> tuple[Show, bool]:
    """Insert or update a show keyed by tmdb_id, else by title + year. Returns (show, created).

    One upsert per key at a time (until commit): two Plex libraries (4K and HD) auto-adding
    the same TMDB show at once would otherwise both find nothing, and the second insert
    would fail on the unique index (or, keyed by title, add the show twice)."""
    key = show.tmdb_id if show.tmdb_id is not None else f"{show.title.lower()}|{show.year}"
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"tvshow:{user_id}:{key}"
    )
    if show.tmdb_id is not None:
        existing = await conn.fetchval(
            "SELECT id FROM tvshows WHERE user_id = $1 AND tmdb_id = $2 FOR NO KEY UPDATE",
            user_id,
            show.tmdb_id,
        )
    else:
        existing = None
    if existing is None:
        existing = await conn.fetchval(
            """SELECT id FROM tvshows
               WHERE user_id = $1 AND lower(title) = lower($2)
                 AND EXTRACT(YEAR FROM show_start_date) IS NOT DISTINCT FROM $3::int
                 AND ($4::int IS NULL OR tmdb_id IS NULL OR tmdb_id = $4)
               ORDER BY id LIMIT 1 FOR NO KEY UPDATE""",
            user_id,
            show.title,
            show.start_date.year if show.start_date else None,
            show.tmdb_id,
        )
    args = (
        show.title,
        show.original_title,
        list(show.aliases),
        show.tmdb_id,
        show.tvdb_id,
        show.imdb_id,
        show.start_date,
        show.status,
        show.in_production,
        show.poster_path,
    )
    if existing is None:
        row = await conn.fetchrow(
            f"""INSERT INTO tvshows (user_id, title, original_title, aliases, tmdb_id, tvdb_id,
                   imdb_id, show_start_date, status, in_production, poster_path, source)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                RETURNING {_COLS}""",
            user_id,
            *args,
            show.source,
        )
        assert row is not None
        return _show(row), True
    row = await conn.fetchrow(
        f"""UPDATE tvshows SET title = $2, original_title = COALESCE($3, original_title),
               aliases = CASE WHEN cardinality($4::text[]) > 0 THEN $4 ELSE aliases END,
               tmdb_id = COALESCE($5, tmdb_id), tvdb_id = COALESCE($6, tvdb_id),
               imdb_id = COALESCE($7, imdb_id), show_start_date = COALESCE($8, show_start_date),
               status = COALESCE($9, status), in_production = $10,
               poster_path = COALESCE($11, poster_path), updated_at = now()
            WHERE id = $1 RETURNING {_COLS}""",
        existing,
        *args,
    )
    assert row is not None
    return _show(row), False


async def upsert_episodes(conn: Conn, show_id: int, episodes: Sequence[EpisodeInput]) -> int:
    """Add or update episodes (watched state is kept); returns the show's episode count."""
    await lock_show(conn, show_id)
    if episodes:
        await conn.execute(
            """INSERT INTO tvshow_episodes (tvshow_id, season, episode, title, runtime, air_date)
               SELECT $1, s, e, t, r, a
               FROM unnest($2::int[], $3::int[], $4::text[], $5::int[], $6::date[])
                    AS x(s, e, t, r, a)
               ON CONFLICT (tvshow_id, season, episode) DO UPDATE SET
                   title = COALESCE(EXCLUDED.title, tvshow_episodes.title),
                   runtime = COALESCE(EXCLUDED.runtime, tvshow_episodes.runtime),
                   air_date = COALESCE(EXCLUDED.air_date, tvshow_episodes.air_date)""",
            show_id,
            [e.season for e in episodes],
            [e.episode for e in episodes],
            [e.title for e in episodes],
            [e.runtime for e in episodes],
            [e.air_date for e in episodes],
        )
    return await recompute_totals(conn, show_id)


async def recompute_totals(conn: Conn, show_id: int) -> int:
    """Recount watched episodes and minutes from the rows; returns the episode count."""
    total: int = await conn.fetchval("SELECT plex_recount_show($1)", show_id)
    return total


async def lock_show(conn: Conn, show_id: int) -> None:
    """Hold the show for this transaction (before touching its episodes)."""
    await conn.execute("SELECT 1 FROM tvshows WHERE id = $1 FOR NO KEY UPDATE", show_id)


async def lock_user_shows(conn: Conn, user_id: int) -> None:
    """Hold all of a user's shows, in id order, for a transaction that writes many of them
    (an import): the order the worker takes them in, so neither waits for the other."""
    await conn.execute(
        "SELECT 1 FROM tvshows WHERE user_id = $1 ORDER BY id FOR NO KEY UPDATE", user_id
    )


async def get(conn: Conn, user_id: int, show_id: int) -> Show | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM tvshows WHERE user_id = $1 AND id = $2", user_id, show_id
    )
    return _show(row) if row else None


async def list_for_user(conn: Conn, user_id: int) -> list[Show]:
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM tvshows WHERE user_id = $1 ORDER BY lower(title), id", user_id
    )
    return [_show(r) for r in rows]


async def by_external_id(
    conn: Conn,
    user_id: int,
    *,
    tmdb_id: int | None = None,
    tvdb_id: int | None = None,
    imdb_id: str | None = None,
) -> Show | None:
    """The user's show with any of these ids, trying tmdb, then tvdb, then imdb."""
    for column, value in (("tmdb_id", tmdb_id), ("tvdb_id", tvdb_id), ("imdb_id", imdb_id)):
        if value is None:
            continue
        row = await conn.fetchrow(
            f"SELECT {_COLS} FROM tvshows WHERE user_id = $1 AND {column} = $2 ORDER BY id LIMIT 1",
            user_id,
            value,
        )
        if row:
            return _show(row)
    return None


@dataclass(frozen=True)
class MappedShow:
    sync_enabled: bool
    match_confidence: float | None
    show: Show | None


async def for_plex_show(conn: Conn, user_id: int, plex_rating_key: str) -> MappedShow | None:
    """The mapping of a Plex show and its tracker show in one round trip (the hot path)."""
    row = await conn.fetchrow(
        f"""SELECT m.sync_enabled, m.match_confidence, m.tvshow_id AS mapped_id, {_columns("t")}
            FROM plex_show_mappings m LEFT JOIN tvshows t ON t.id = m.tvshow_id
            WHERE m.user_id = $1 AND m.plex_rating_key = $2""",
        user_id,
        plex_rating_key,
    )
    if row is None:
        return None
    fields = dict(row)
    sync, conf = fields.pop("sync_enabled"), fields.pop("match_confidence")
    fields.pop("mapped_id")
    show = _show(fields) if fields["id"] is not None else None  # type: ignore[arg-type]
    return MappedShow(sync, float(conf) if conf is not None else None, show)


@dataclass(frozen=True)
class MarkResult:
    known: bool  # the tracker has this episode
    newly_watched: bool


async def mark_episode_watched(
    conn: Conn, show_id: int, season: int, episode: int, watched_at: datetime
) -> MarkResult:
    """Mark one episode and count it on the show, safe under concurrency; an earlier watch
    date is kept (`plex_mark_episode` in sql/0004_scrobble_functions.sql)."""
    was_watched: bool | None = await conn.fetchval(
        "SELECT plex_mark_episode($1, $2, $3, $4)", show_id, season, episode, watched_at
    )
    if was_watched is None:
        return MarkResult(known=False, newly_watched=False)
    return MarkResult(known=True, newly_watched=not was_watched)


async def fuzzy_candidates(conn: Conn, user_id: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT id, title, original_title, aliases, tmdb_id,
                      EXTRACT(YEAR FROM show_start_date)::int AS year
               FROM tvshows WHERE user_id = $1""",
            user_id,
        )
    )


async def airing(conn: Conn, limit: int = 100) -> list[tuple[int, int, int]]:
    """(user_id, show_id, tmdb_id) of shows still airing, least recently refreshed first."""
    rows = await conn.fetch(
        """SELECT user_id, id, tmdb_id FROM tvshows
           WHERE tmdb_id IS NOT NULL AND (in_production OR status = 'Returning Series')
           ORDER BY episodes_refreshed_at NULLS FIRST LIMIT $1""",
        limit,
    )
    return [(r["user_id"], r["id"], r["tmdb_id"]) for r in rows]


async def touch_refreshed(conn: Conn, show_id: int) -> None:
    await conn.execute("UPDATE tvshows SET episodes_refreshed_at = now() WHERE id = $1", show_id)


async def episode_runtime(conn: Conn, show_id: int, season: int, episode: int) -> int | None:
    """The episode's runtime in minutes, when the tracker knows it."""
    runtime: int | None = await conn.fetchval(
        """SELECT runtime FROM tvshow_episodes
           WHERE tvshow_id = $1 AND season = $2 AND episode = $3""",
        show_id,
        season,
        episode,
    )
    return runtime

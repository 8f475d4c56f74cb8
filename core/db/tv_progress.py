"""SQL behind the tracker views (/tv shows, show, upnext, history, the activity chart):
progress read from `tvshows` and `tvshow_episodes`.

Kept apart from core/db/tvshows.py, which holds the writes of the webhook path: these are
read-only aggregates. Progress counts the main seasons only (specials, season 0, are
listed but never hold a show back from "finished"); an episode without an air date counts
as aired, since imported lists often have none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import asyncpg

from core.db.pool import Conn

ShowFilter = Literal["watching", "finished", "not_started", "all"]
ShowSort = Literal["recent", "title", "progress", "added", "rating"]


def episode_code(season: int, episode: int) -> str:
    """'S02E03'."""
    return f"S{season:02d}E{episode:02d}"


@dataclass(frozen=True)
class ShowProgress:
    id: int
    title: str
    year: int | None
    tmdb_id: int | None
    poster_path: str | None
    status: str | None  # TMDB's: "Returning Series", "Ended", ...
    source: str
    state: str  # watching, finished, not_started, abandoned
    total: int  # main-season episodes
    aired: int
    watched: int
    minutes: int  # watched minutes, specials included (what the show's totals count)
    last_watched_at: datetime | None
    user_rating: float | None
    notify: bool
    abandoned: bool
    created_at: datetime


@dataclass(frozen=True)
class EpisodeRef:
    season: int
    episode: int
    title: str | None
    air_date: date | None
    runtime: int | None

    @property
    def code(self) -> str:
        return episode_code(self.season, self.episode)


@dataclass(frozen=True)
class SeasonProgress:
    season: int
    total: int
    aired: int
    watched: int


@dataclass(frozen=True)
class Watch:
    show_id: int
    show_title: str
    season: int
    episode: int
    title: str | None
    runtime: int | None
    watched_at: datetime
    source: str  # webhook, history, manual
    user_rating: float | None = None

    @property
    def code(self) -> str:
        return episode_code(self.season, self.episode)


@dataclass(frozen=True)
class UpNext:
    show: ShowProgress
    next: EpisodeRef
    new_since_last_watch: bool  # the next episode aired after the last watch


@dataclass(frozen=True)
class PlexLink:
    """A Plex show that marks this tracker show (its mapping)."""

    plex_title: str | None
    plex_year: int | None
    match_method: str
    match_confidence: float | None
    manually_confirmed: bool
    sync_enabled: bool


@dataclass(frozen=True)
class DayCount:
    day: date
    show_id: int
    show_title: str
    episodes: int
    minutes: int


def _num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


# The per-show aggregate every list starts from. $1 user, $2 today (UTC).
_PROGRESS = """
    SELECT t.id, t.title, EXTRACT(YEAR FROM t.show_start_date)::int AS year, t.tmdb_id,
           t.poster_path, t.status, t.source, t.user_rating, t.notify,
           t.abandoned_at IS NOT NULL AS abandoned, t.created_at,
           count(e.id) FILTER (WHERE e.season > 0)::int AS total,
           count(e.id) FILTER (WHERE e.season > 0
                               AND (e.air_date IS NULL OR e.air_date <= $2))::int AS aired,
           count(e.id) FILTER (WHERE e.season > 0 AND e.watched)::int AS watched,
           count(e.id) FILTER (WHERE e.season > 0 AND NOT e.watched
                               AND (e.air_date IS NULL OR e.air_date <= $2))::int
               AS unwatched_aired,
           COALESCE(sum(e.runtime) FILTER (WHERE e.watched), 0)::int AS minutes,
           max(e.date_watched) AS last_watched_at,
           max(ARRAY[e.season, e.episode]) FILTER (WHERE e.watched AND e.season > 0) AS highest
    FROM tvshows t LEFT JOIN tvshow_episodes e ON e.tvshow_id = t.id
    WHERE t.user_id = $1 {show_clause}
    GROUP BY t.id
"""

_STATE = """CASE WHEN p.abandoned THEN 'abandoned'
                 WHEN p.watched = 0 THEN 'not_started'
                 WHEN p.unwatched_aired = 0 THEN 'finished'
                 ELSE 'watching' END"""

_FILTERS: dict[str, str] = {
    "watching": "state = 'watching'",
    "finished": "state = 'finished'",
    "not_started": "state = 'not_started'",
    "all": "true",
}
_SORTS: dict[str, str] = {
    "recent": "last_watched_at DESC NULLS LAST, lower(title), id",
    "title": "lower(title), id",
    "progress": "(watched::float8 / GREATEST(aired, 1)) DESC, lower(title), id",
    "added": "created_at DESC, id DESC",
    "rating": "user_rating DESC NULLS LAST, lower(title), id",
}

_ALL = _PROGRESS.format(show_clause="")
_ONE = _PROGRESS.format(show_clause="AND t.id = $3")
_ACTIVE = _PROGRESS.format(show_clause="AND t.abandoned_at IS NULL")
_TITLED = _PROGRESS.format(show_clause="AND (t.title ILIKE '%' || $3 || '%')")

_SHOW_COLS = """id, title, year, tmdb_id, poster_path, status, source, state, total, aired,
                watched, minutes, last_watched_at, user_rating, notify, abandoned, created_at"""
_S_SHOW_COLS = ", ".join("s." + c.strip() for c in _SHOW_COLS.split(","))


def _progress(r: asyncpg.Record) -> ShowProgress:
    return ShowProgress(
        id=r["id"],
        title=r["title"],
        year=r["year"],
        tmdb_id=r["tmdb_id"],
        poster_path=r["poster_path"],
        status=r["status"],
        source=r["source"],
        state=r["state"],
        total=r["total"],
        aired=r["aired"],
        watched=r["watched"],
        minutes=r["minutes"],
        last_watched_at=r["last_watched_at"],
        user_rating=_num(r["user_rating"]),
        notify=r["notify"],
        abandoned=r["abandoned"],
        created_at=r["created_at"],
    )


def _episode(r: asyncpg.Record, prefix: str = "") -> EpisodeRef:
    return EpisodeRef(
        season=r[f"{prefix}season"],
        episode=r[f"{prefix}episode"],
        title=r[f"{prefix}title"],
        air_date=r[f"{prefix}air_date"],
        runtime=r[f"{prefix}runtime"],
    )


async def list_shows(
    conn: Conn,
    user_id: int,
    today: date,
    *,
    show_filter: ShowFilter,
    sort: ShowSort,
    limit: int,
    offset: int,
) -> tuple[list[ShowProgress], int]:
    """One page of the user's shows and how many match the filter in all."""
    where, order = _FILTERS[show_filter], _SORTS[sort]
    rows = await conn.fetch(
        f"""WITH p AS ({_ALL}),
                 s AS (SELECT p.*, {_STATE} AS state FROM p)
            SELECT {_SHOW_COLS}, count(*) OVER ()::int AS matching
            FROM s WHERE {where} ORDER BY {order} LIMIT $3 OFFSET $4""",
        user_id,
        today,
        limit,
        offset,
    )
    if not rows and offset > 0:
        # Past the end (the list shrank since the buttons were drawn): count separately.
        matching: int = await conn.fetchval(
            f"""WITH p AS ({_ALL}),
                     s AS (SELECT p.*, {_STATE} AS state FROM p)
                SELECT count(*)::int FROM s WHERE {where}""",
            user_id,
            today,
        )
        return [], matching
    return [_progress(r) for r in rows], (rows[0]["matching"] if rows else 0)


async def show(conn: Conn, user_id: int, show_id: int, today: date) -> ShowProgress | None:
    row = await conn.fetchrow(
        f"""WITH p AS ({_ONE})
            SELECT p.*, {_STATE} AS state FROM p""",
        user_id,
        today,
        show_id,
    )
    return _progress(row) if row else None


async def seasons(conn: Conn, show_id: int, today: date) -> list[SeasonProgress]:
    rows = await conn.fetch(
        """SELECT season, count(*)::int AS total,
                  count(*) FILTER (WHERE air_date IS NULL OR air_date <= $2)::int AS aired,
                  count(*) FILTER (WHERE watched)::int AS watched
           FROM tvshow_episodes WHERE tvshow_id = $1 GROUP BY season ORDER BY season""",
        show_id,
        today,
    )
    return [SeasonProgress(r["season"], r["total"], r["aired"], r["watched"]) for r in rows]


async def next_episode(conn: Conn, show_id: int, today: date) -> EpisodeRef | None:
    """The first unwatched aired main episode after the furthest one watched (someone who
    started at season 3 is not sent back to season 1); when there is none after it, the
    first unwatched aired one (a gap left behind). up_next picks the same way."""
    row = await conn.fetchrow(
        """SELECT e.season, e.episode, e.title, e.air_date, e.runtime FROM tvshow_episodes e
           WHERE e.tvshow_id = $1 AND NOT e.watched AND e.season > 0
             AND (e.air_date IS NULL OR e.air_date <= $2)
           ORDER BY (ARRAY[e.season, e.episode] > COALESCE(
                        (SELECT max(ARRAY[w.season, w.episode]) FROM tvshow_episodes w
                         WHERE w.tvshow_id = $1 AND w.watched AND w.season > 0),
                        ARRAY[0, 0])) DESC,
                    e.season, e.episode
           LIMIT 1""",
        show_id,
        today,
    )
    return _episode(row) if row else None


async def upcoming_episode(conn: Conn, show_id: int, today: date) -> EpisodeRef | None:
    """The next episode still to air, for "next: S03E01 on 2026-01-16"."""
    row = await conn.fetchrow(
        """SELECT season, episode, title, air_date, runtime FROM tvshow_episodes
           WHERE tvshow_id = $1 AND season > 0 AND air_date > $2
           ORDER BY air_date, season, episode LIMIT 1""",
        show_id,
        today,
    )
    return _episode(row) if row else None


async def last_watch(conn: Conn, user_id: int, show_id: int) -> Watch | None:
    rows = await _watches(
        conn,
        "AND t.id = $2 ORDER BY e.date_watched DESC, e.season DESC, e.episode DESC LIMIT 1",
        user_id,
        show_id,
    )
    return rows[0] if rows else None


async def unwatched_among(
    conn: Conn, show_id: int, keys: Sequence[tuple[int, int]]
) -> list[EpisodeRef]:
    """Of these (season, episode) pairs, the episodes the tracker has and are unwatched."""
    rows = await conn.fetch(
        """SELECT e.season, e.episode, e.title, e.air_date, e.runtime
           FROM tvshow_episodes e
           JOIN unnest($2::int[], $3::int[]) AS k(season, episode)
             ON k.season = e.season AND k.episode = e.episode
           WHERE e.tvshow_id = $1 AND NOT e.watched
           ORDER BY e.season, e.episode""",
        show_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return [_episode(r) for r in rows]


async def plex_links(conn: Conn, user_id: int, show_id: int) -> list[PlexLink]:
    rows = await conn.fetch(
        """SELECT plex_title, plex_year, match_method, match_confidence, manually_confirmed,
                  sync_enabled
           FROM plex_show_mappings WHERE user_id = $1 AND tvshow_id = $2
           ORDER BY updated_at DESC, id LIMIT 10""",
        user_id,
        show_id,
    )
    return [
        PlexLink(
            r["plex_title"],
            r["plex_year"],
            r["match_method"],
            _num(r["match_confidence"]),
            r["manually_confirmed"],
            r["sync_enabled"],
        )
        for r in rows
    ]


async def episode(conn: Conn, show_id: int, season: int, number: int) -> EpisodeRef | None:
    row = await conn.fetchrow(
        """SELECT season, episode, title, air_date, runtime FROM tvshow_episodes
           WHERE tvshow_id = $1 AND season = $2 AND episode = $3""",
        show_id,
        season,
        number,
    )
    return _episode(row) if row else None


async def up_next(conn: Conn, user_id: int, today: date, limit: int) -> list[UpNext]:
    """Each started, not abandoned show with an aired episode left: shows whose next
    episode aired after the last watch first, then the most recently watched."""
    rows = await conn.fetch(
        f"""WITH p AS ({_ACTIVE}),
                 s AS (SELECT p.*, {_STATE} AS state FROM p WHERE p.watched > 0)
            SELECT {_S_SHOW_COLS}, n.season AS n_season, n.episode AS n_episode,
                   n.title AS n_title, n.air_date AS n_air_date, n.runtime AS n_runtime,
                   COALESCE(n.air_date > (s.last_watched_at AT TIME ZONE 'UTC')::date, false)
                       AS is_new
            FROM s CROSS JOIN LATERAL (
                SELECT e.season, e.episode, e.title, e.air_date, e.runtime
                FROM tvshow_episodes e
                WHERE e.tvshow_id = s.id AND NOT e.watched AND e.season > 0
                  AND (e.air_date IS NULL OR e.air_date <= $2)
                ORDER BY (ARRAY[e.season, e.episode] > COALESCE(s.highest, ARRAY[0, 0])) DESC,
                         e.season, e.episode
                LIMIT 1) n
            ORDER BY is_new DESC, s.last_watched_at DESC NULLS LAST, lower(s.title), s.id
            LIMIT $3""",
        user_id,
        today,
        limit,
    )
    return [UpNext(_progress(r), _episode(r, "n_"), r["is_new"]) for r in rows]


async def _watches(conn: Conn, tail: str, *args: object) -> list[Watch]:
    rows = await conn.fetch(
        f"""SELECT t.id AS show_id, t.title AS show_title, e.season, e.episode, e.title,
                   e.runtime, e.date_watched, COALESCE(e.watch_source, 'webhook') AS source,
                   e.user_rating
            FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id
            WHERE t.user_id = $1 AND e.watched AND e.date_watched IS NOT NULL {tail}""",
        *args,
    )
    return [
        Watch(
            show_id=r["show_id"],
            show_title=r["show_title"],
            season=r["season"],
            episode=r["episode"],
            title=r["title"],
            runtime=r["runtime"],
            watched_at=r["date_watched"],
            source=r["source"],
            user_rating=_num(r["user_rating"]),
        )
        for r in rows
    ]


async def history(
    conn: Conn, user_id: int, since: datetime, *, limit: int
) -> tuple[list[Watch], int]:
    """Episodes watched since `since`, newest first (at most `limit`), and how many in all."""
    watches = await _watches(
        conn,
        "AND e.date_watched >= $2 ORDER BY e.date_watched DESC, t.id, e.season DESC, "
        "e.episode DESC LIMIT $3",
        user_id,
        since,
        limit,
    )
    total: int = await conn.fetchval(
        """SELECT count(*)::int FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id
           WHERE t.user_id = $1 AND e.watched AND e.date_watched >= $2""",
        user_id,
        since,
    )
    return watches, total


async def daily_counts(conn: Conn, user_id: int, start: datetime, end: datetime) -> list[DayCount]:
    """Episodes and minutes watched per UTC day and show in [start, end)."""
    rows = await conn.fetch(
        """SELECT (e.date_watched AT TIME ZONE 'UTC')::date AS day, t.id AS show_id,
                  t.title AS show_title, count(*)::int AS episodes,
                  COALESCE(sum(e.runtime), 0)::int AS minutes
           FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id
           WHERE t.user_id = $1 AND e.watched AND e.date_watched >= $2 AND e.date_watched < $3
           GROUP BY 1, 2, 3 ORDER BY 1, 2""",
        user_id,
        start,
        end,
    )
    return [
        DayCount(r["day"], r["show_id"], r["show_title"], r["episodes"], r["minutes"]) for r in rows
    ]


async def finished_between(
    conn: Conn, user_id: int, start: datetime, end: datetime, today: date
) -> list[str]:
    """Shows whose every aired main episode is watched, the last of them in [start, end)."""
    rows = await conn.fetch(
        f"""WITH p AS ({_ALL})
            SELECT title FROM p
            WHERE p.watched > 0 AND p.unwatched_aired = 0
              AND p.last_watched_at >= $3 AND p.last_watched_at < $4
            ORDER BY last_watched_at""",
        user_id,
        today,
        start,
        end,
    )
    return [r["title"] for r in rows]


async def watch_days(conn: Conn, user_id: int, until: datetime) -> list[date]:
    """Distinct UTC days with a watch before `until`, newest first (streaks)."""
    rows = await conn.fetch(
        """SELECT DISTINCT (e.date_watched AT TIME ZONE 'UTC')::date AS day
           FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id
           WHERE t.user_id = $1 AND e.watched AND e.date_watched < $2
           ORDER BY day DESC LIMIT 400""",
        user_id,
        until,
    )
    return [r["day"] for r in rows]


async def find_by_title(
    conn: Conn, user_id: int, text: str, today: date, limit: int = 25
) -> list[ShowProgress]:
    """Autocomplete and typed titles: exact (case-insensitive) first, then prefix, then
    substring; shows watched most recently first within each."""
    rows = await conn.fetch(
        f"""WITH p AS ({_TITLED}),
                 s AS (SELECT p.*, {_STATE} AS state FROM p)
            SELECT {_SHOW_COLS} FROM s
            ORDER BY (lower(title) = lower($4)) DESC, starts_with(lower(title), lower($4)) DESC,
                     last_watched_at DESC NULLS LAST, lower(title), id
            LIMIT $5""",
        user_id,
        today,
        _like_escape(text.strip()),
        text.strip(),
        limit,
    )
    return [_progress(r) for r in rows]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

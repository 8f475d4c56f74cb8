"""SQL for `tv_episode_notices` and `tv_recaps`: what the Discord outbox announces for the
tracker (kinds 'new_episode' and 'weekly_recap'), each written with its outbox row in one
statement, so a notice exists exactly when it is queued, once whoever finds it first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.db.pool import Conn

NEW_EPISODE = "new_episode"
WEEKLY_RECAP = "weekly_recap"


@dataclass(frozen=True)
class EpisodeNotice:
    id: int
    user_id: int
    tvshow_id: int
    show_title: str
    show_year: int | None
    poster_path: str | None
    tmdb_id: int | None
    air_date: date
    episodes: tuple[str, ...]  # 'S02E03', in order


@dataclass(frozen=True)
class Recap:
    id: int
    user_id: int
    week_start: date


async def queue_aired(conn: Conn, first_day: date, last_day: date) -> int:
    """Notices for episodes that aired in [first_day, last_day] of shows the user has
    watched at least one episode of, not abandoned, with notices on (show and user), for
    users the bot can reach; one per show and air date. Returns how many were queued."""
    queued: int = await conn.fetchval(
        """WITH due AS (
               SELECT t.user_id, t.id AS tvshow_id, e.air_date,
                      array_agg('S' || lpad(e.season::text, 2, '0')
                                || 'E' || lpad(e.episode::text, 2, '0')
                                ORDER BY e.season, e.episode) AS episodes
               FROM tvshow_episodes e
               JOIN tvshows t ON t.id = e.tvshow_id
               JOIN users u ON u.id = t.user_id
               LEFT JOIN tv_prefs p ON p.user_id = t.user_id
               WHERE NOT e.watched AND e.season > 0 AND e.air_date BETWEEN $1 AND $2
                 AND u.discord_id IS NOT NULL AND COALESCE(p.new_episodes, true)
                 AND t.notify AND t.abandoned_at IS NULL AND t.watched_episodes > 0
               GROUP BY t.user_id, t.id, e.air_date),
           added AS (
               INSERT INTO tv_episode_notices (user_id, tvshow_id, air_date, episodes)
               SELECT user_id, tvshow_id, air_date, episodes FROM due
               ON CONFLICT (tvshow_id, air_date) DO NOTHING
               RETURNING id, user_id),
           queued AS (
               INSERT INTO notification_outbox (user_id, kind, ref_id)
               SELECT user_id, $3, id FROM added
               ON CONFLICT (kind, ref_id) DO NOTHING
               RETURNING 1)
           SELECT count(*)::int FROM queued""",
        first_day,
        last_day,
        NEW_EPISODE,
    )
    return queued


async def queue_recaps(conn: Conn, week_start: date) -> int:
    """A recap of the week starting `week_start` for every user who opted in."""
    queued: int = await conn.fetchval(
        """WITH added AS (
               INSERT INTO tv_recaps (user_id, week_start)
               SELECT p.user_id, $1 FROM tv_prefs p JOIN users u ON u.id = p.user_id
               WHERE p.weekly_recap AND u.discord_id IS NOT NULL
               ON CONFLICT (user_id, week_start) DO NOTHING
               RETURNING id, user_id),
           queued AS (
               INSERT INTO notification_outbox (user_id, kind, ref_id)
               SELECT user_id, $2, id FROM added
               ON CONFLICT (kind, ref_id) DO NOTHING
               RETURNING 1)
           SELECT count(*)::int FROM queued""",
        week_start,
        WEEKLY_RECAP,
    )
    return queued


async def episode_notice(conn: Conn, notice_id: int) -> EpisodeNotice | None:
    row = await conn.fetchrow(
        """SELECT n.id, n.user_id, n.tvshow_id, t.title AS show_title,
                  EXTRACT(YEAR FROM t.show_start_date)::int AS show_year, t.poster_path,
                  t.tmdb_id, n.air_date, n.episodes
           FROM tv_episode_notices n JOIN tvshows t ON t.id = n.tvshow_id
           WHERE n.id = $1""",
        notice_id,
    )
    if row is None:
        return None
    return EpisodeNotice(**{**dict(row), "episodes": tuple(row["episodes"])})


async def recap(conn: Conn, recap_id: int) -> Recap | None:
    row = await conn.fetchrow(
        "SELECT id, user_id, week_start FROM tv_recaps WHERE id = $1", recap_id
    )
    return Recap(row["id"], row["user_id"], row["week_start"]) if row else None

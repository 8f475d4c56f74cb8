"""SQL for the user's ratings of shows and episodes (`user_rating`, 0-10, NULL = none)."""

from __future__ import annotations

from decimal import Decimal

from core.db.pool import Conn


def _value(rating: float | None) -> Decimal | None:
    return Decimal(str(round(rating, 1))) if rating is not None else None


async def set_show_rating(conn: Conn, user_id: int, show_id: int, rating: float | None) -> bool:
    """Set (or clear, with None) a show's rating; False when the user has no such show."""
    status: str = await conn.execute(
        """UPDATE tvshows SET user_rating = $3::numeric, rated_at = CASE WHEN $3 IS NULL THEN NULL
                                                                ELSE now() END
           WHERE user_id = $1 AND id = $2""",
        user_id,
        show_id,
        _value(rating),
    )
    return status == "UPDATE 1"


async def set_episode_rating(
    conn: Conn, user_id: int, show_id: int, season: int, episode: int, rating: float | None
) -> bool:
    """Set (or clear) an episode's rating; False when the tracker has no such episode."""
    status: str = await conn.execute(
        """UPDATE tvshow_episodes e SET user_rating = $5::numeric,
               rated_at = CASE WHEN $5 IS NULL THEN NULL ELSE now() END
           FROM tvshows t
           WHERE t.id = e.tvshow_id AND t.user_id = $1 AND e.tvshow_id = $2
             AND e.season = $3 AND e.episode = $4""",
        user_id,
        show_id,
        season,
        episode,
        _value(rating),
    )
    return status == "UPDATE 1"


async def episode_rating(conn: Conn, show_id: int, season: int, episode: int) -> float | None:
    value: Decimal | None = await conn.fetchval(
        """SELECT user_rating FROM tvshow_episodes
           WHERE tvshow_id = $1 AND season = $2 AND episode = $3""",
        show_id,
        season,
        episode,
    )
    return float(value) if value is not None else None


async def set_show_ratings(conn: Conn, user_id: int, ratings: dict[int, float]) -> int:
    """Set several shows' ratings at once (the history sync); returns how many changed."""
    if not ratings:
        return 0
    status: str = await conn.execute(
        """UPDATE tvshows t SET user_rating = r.rating, rated_at = now()
           FROM unnest($2::bigint[], $3::numeric[]) AS r(id, rating)
           WHERE t.user_id = $1 AND t.id = r.id AND t.user_rating IS DISTINCT FROM r.rating""",
        user_id,
        list(ratings),
        [_value(v) for v in ratings.values()],
    )
    return int(status.rsplit(" ", 1)[1])


async def set_episode_ratings(
    conn: Conn, user_id: int, ratings: dict[tuple[int, int, int], float]
) -> int:
    """Set episodes' ratings by (show, season, episode) at once; returns how many changed."""
    if not ratings:
        return 0
    keys = list(ratings)
    status: str = await conn.execute(
        """UPDATE tvshow_episodes e SET user_rating = r.rating, rated_at = now()
           FROM unnest($2::bigint[], $3::int[], $4::int[], $5::numeric[])
                    AS r(show_id, season, episode, rating),
                tvshows t
           WHERE t.id = r.show_id AND t.user_id = $1 AND e.tvshow_id = r.show_id
             AND e.season = r.season AND e.episode = r.episode
             AND e.user_rating IS DISTINCT FROM r.rating""",
        user_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [_value(v) for v in ratings.values()],
    )
    return int(status.rsplit(" ", 1)[1])

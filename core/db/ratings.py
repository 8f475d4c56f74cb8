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

"""SQL for `tv_prefs` (per-user /tv notify switches) and the per-show switches on `tvshows`
(`notify`, `abandoned_at`)."""

from __future__ import annotations

from dataclasses import dataclass

from core.db.pool import Conn


@dataclass(frozen=True)
class TvPrefs:
    new_episodes: bool = True
    weekly_recap: bool = False


async def get(conn: Conn, user_id: int) -> TvPrefs:
    row = await conn.fetchrow(
        "SELECT new_episodes, weekly_recap FROM tv_prefs WHERE user_id = $1", user_id
    )
    return TvPrefs(row["new_episodes"], row["weekly_recap"]) if row else TvPrefs()


async def update(
    conn: Conn, user_id: int, *, new_episodes: bool | None, weekly_recap: bool | None
) -> TvPrefs:
    """Change what is given (None keeps it); returns the result."""
    row = await conn.fetchrow(
        """INSERT INTO tv_prefs (user_id, new_episodes, weekly_recap)
           VALUES ($1, COALESCE($2, true), COALESCE($3, false))
           ON CONFLICT (user_id) DO UPDATE SET
               new_episodes = COALESCE($2, tv_prefs.new_episodes),
               weekly_recap = COALESCE($3, tv_prefs.weekly_recap), updated_at = now()
           RETURNING new_episodes, weekly_recap""",
        user_id,
        new_episodes,
        weekly_recap,
    )
    assert row is not None
    return TvPrefs(row["new_episodes"], row["weekly_recap"])


async def set_show_notify(conn: Conn, user_id: int, show_id: int, notify: bool) -> bool:
    status: str = await conn.execute(
        "UPDATE tvshows SET notify = $3 WHERE user_id = $1 AND id = $2", user_id, show_id, notify
    )
    return status == "UPDATE 1"


async def set_abandoned(conn: Conn, user_id: int, show_id: int, abandoned: bool) -> bool:
    status: str = await conn.execute(
        """UPDATE tvshows SET abandoned_at = CASE WHEN $3 THEN COALESCE(abandoned_at, now()) END
           WHERE user_id = $1 AND id = $2""",
        user_id,
        show_id,
        abandoned,
    )
    return status == "UPDATE 1"

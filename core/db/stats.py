"""SQL behind /plex status and `plex-tracker status`: one user's activity over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn


@dataclass(frozen=True)
class WebhookWindow:
    counts: dict[str, int]  # status -> webhooks in the window
    episodes_marked: int
    mean_ms: float | None  # processing only (arrival to outcome, less the wait)
    p95_ms: float | None
    queue_wait_mean_ms: float | None  # waiting in the queue before processing
    queue_wait_p95_ms: float | None
    held: int  # scrobbles that waited behind a conflict
    held_wait_mean_ms: float | None
    last_webhook_at: datetime | None  # ever, not just in the window
    retried: int = 0  # settled after a failed attempt: the wait includes the retry's backoff
    retried_wait_mean_ms: float | None = None


async def webhook_window(conn: Conn, user_id: int, days: int) -> WebhookWindow:
    rows = await conn.fetch(
        """SELECT status, count(*)::int AS n FROM plex_webhook_logs
           WHERE user_id = $1 AND created_at >= now() - make_interval(days => $2)
           GROUP BY status""",
        user_id,
        days,
    )
    agg = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE action_taken IN ('marked_watched', 'show_added'))::int
                      AS episodes_marked,
                  avg(processing_duration_ms - COALESCE(waited_ms, 0))::float8 AS mean_ms,
                  percentile_cont(0.95) WITHIN GROUP
                      (ORDER BY processing_duration_ms - COALESCE(waited_ms, 0))::float8
                      AS p95_ms,
                  avg(waited_ms) FILTER (WHERE NOT waited_behind_conflict AND attempts <= 1)
                      ::float8 AS queue_wait_mean_ms,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY waited_ms)
                      FILTER (WHERE NOT waited_behind_conflict AND attempts <= 1)::float8
                      AS queue_wait_p95_ms,
                  count(*) FILTER (WHERE waited_behind_conflict)::int AS held,
                  avg(waited_ms) FILTER (WHERE waited_behind_conflict)::float8
                      AS held_wait_mean_ms,
                  -- Settled more than once: waited from arrival through a failure and the
                  -- retry's backoff (up to hours), which is not time in the queue.
                  count(waited_ms) FILTER (WHERE NOT waited_behind_conflict AND attempts > 1)
                      ::int AS retried,
                  avg(waited_ms) FILTER (WHERE NOT waited_behind_conflict AND attempts > 1)
                      ::float8 AS retried_wait_mean_ms,
                  (SELECT max(created_at) FROM plex_webhook_logs WHERE user_id = $1)
                      AS last_webhook_at
           FROM plex_webhook_logs
           WHERE user_id = $1 AND created_at >= now() - make_interval(days => $2)""",
        user_id,
        days,
    )
    assert agg is not None
    return WebhookWindow(
        counts={r["status"]: r["n"] for r in rows},
        episodes_marked=agg["episodes_marked"],
        mean_ms=agg["mean_ms"],
        p95_ms=agg["p95_ms"],
        queue_wait_mean_ms=agg["queue_wait_mean_ms"],
        queue_wait_p95_ms=agg["queue_wait_p95_ms"],
        held=agg["held"],
        held_wait_mean_ms=agg["held_wait_mean_ms"],
        last_webhook_at=agg["last_webhook_at"],
        retried=agg["retried"],
        retried_wait_mean_ms=agg["retried_wait_mean_ms"],
    )


async def shows_added(conn: Conn, user_id: int, days: int) -> int:
    """Shows the Plex sync added to the tracker (auto-add or a resolved conflict)."""
    n: int = await conn.fetchval(
        """SELECT count(*) FROM tvshows WHERE user_id = $1 AND source = 'plex'
           AND created_at >= now() - make_interval(days => $2)""",
        user_id,
        days,
    )
    return n


async def mappings_by_band(conn: Conn, user_id: int) -> dict[str, int]:
    """Mappings grouped the way people read them: ignored and manual first, then by score."""
    rows = await conn.fetch(
        """SELECT CASE WHEN NOT sync_enabled THEN 'ignored'
                       WHEN manually_confirmed THEN 'manual'
                       WHEN match_confidence >= 0.999 THEN 'exact'
                       WHEN match_confidence >= 0.95 THEN 'high'
                       WHEN match_confidence >= 0.80 THEN 'medium'
                       ELSE 'low' END AS band,
                  count(*)::int AS n
           FROM plex_show_mappings WHERE user_id = $1 GROUP BY band""",
        user_id,
    )
    return {r["band"]: r["n"] for r in rows}


async def open_conflicts(conn: Conn, user_id: int) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM plex_conflicts WHERE user_id = $1 AND NOT resolved", user_id
    )
    return n


async def user_ids(conn: Conn) -> list[int]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]

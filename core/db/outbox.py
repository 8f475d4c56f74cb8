"""SQL for `notification_outbox`: what the Discord bot still has to tell people.

A row is delivered (`delivered_at`), waiting (`next_attempt_at` in the future after a
failure), or refused for good by Discord (`refused_at`: DMs closed, channel gone, no
access) until the user changes where notifications go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn


@dataclass(frozen=True)
class Notification:
    id: int
    user_id: int
    kind: str
    ref_id: int
    attempts: int
    transient_failures: int
    created_at: datetime


@dataclass(frozen=True)
class Refused:
    """Notifications Discord refused for a user: how many, and the latest reason."""

    count: int
    last_error: str
    last_at: datetime


_COLS = "o.id, o.user_id, o.kind, o.ref_id, o.attempts, o.transient_failures, o.created_at"


async def enqueue(conn: Conn, *, user_id: int, kind: str, ref_id: int) -> None:
    """Written in the same transaction as the thing it announces; once per (kind, ref)."""
    await conn.execute(
        """INSERT INTO notification_outbox (user_id, kind, ref_id) VALUES ($1, $2, $3)
           ON CONFLICT (kind, ref_id) DO NOTHING""",
        user_id,
        kind,
        ref_id,
    )


async def claim_undelivered(conn: Conn, limit: int = 20) -> list[Notification]:
    """Lock undelivered notifications for this transaction (other processes skip them)."""
    rows = await conn.fetch(
        f"""SELECT {_COLS} FROM notification_outbox o
            WHERE o.delivered_at IS NULL ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [Notification(**dict(r)) for r in rows]


async def claim_for_discord(
    conn: Conn, *, kinds: tuple[str, ...], max_attempts: int, limit: int = 20
) -> list[Notification]:
    """Like claim_undelivered, but only rows the Discord bot can deliver now: the user has a
    Discord account, Discord has not refused the row, it is not waiting out a backoff, and
    its (non-transient) attempts are not exhausted. Other rows, claimed first by id, would
    hold back every newer notification."""
    rows = await conn.fetch(
        f"""SELECT {_COLS}
            FROM notification_outbox o JOIN users u ON u.id = o.user_id
            WHERE o.delivered_at IS NULL AND o.refused_at IS NULL
              AND u.discord_id IS NOT NULL
              AND o.kind = ANY($1::text[]) AND o.attempts < $2
              AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
            ORDER BY o.id LIMIT $3 FOR UPDATE OF o SKIP LOCKED""",
        list(kinds),
        max_attempts,
        limit,
    )
    return [Notification(**dict(r)) for r in rows]


async def mark_delivered(
    conn: Conn, notification_id: int, *, channel_id: int | None, message_id: int | None
) -> None:
    await conn.execute(
        """UPDATE notification_outbox SET delivered_at = now(), attempts = attempts + 1,
               discord_channel_id = $2, discord_message_id = $3, last_error = NULL,
               next_attempt_at = NULL
           WHERE id = $1""",
        notification_id,
        channel_id,
        message_id,
    )


async def mark_failed(conn: Conn, notification_id: int, error: str, *, retry_in: float) -> None:
    """Discord turned this message down (not an outage, not for good): counts an attempt."""
    await conn.execute(
        """UPDATE notification_outbox SET attempts = attempts + 1, last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3)
           WHERE id = $1""",
        notification_id,
        error[:500],
        retry_in,
    )


async def postpone(conn: Conn, notification_id: int, error: str, *, retry_in: float) -> None:
    """Discord could not be reached (network, 5xx, 429): try later; counts no attempt."""
    await conn.execute(
        """UPDATE notification_outbox SET transient_failures = transient_failures + 1,
               last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
           WHERE id = $1""",
        notification_id,
        error[:500],
        retry_in,
    )


async def mark_refused(conn: Conn, notification_id: int, error: str) -> None:
    """Discord refused for good (403, 404): no more tries until the user changes where
    notifications go (rearm_refused)."""
    await conn.execute(
        """UPDATE notification_outbox SET attempts = attempts + 1, last_error = $2,
               refused_at = now(), next_attempt_at = NULL
           WHERE id = $1""",
        notification_id,
        error[:500],
    )


async def rearm_refused(conn: Conn, user_id: int) -> int:
    """Give a user's refused (or exhausted) notifications a fresh start: they chose a new
    destination. Returns how many."""
    status: str = await conn.execute(
        """UPDATE notification_outbox SET refused_at = NULL, attempts = 0,
               next_attempt_at = NULL
           WHERE user_id = $1 AND delivered_at IS NULL
             AND (refused_at IS NOT NULL OR attempts > 0)""",
        user_id,
    )
    return int(status.rsplit(" ", 1)[1])


async def refused(conn: Conn, user_id: int) -> Refused | None:
    """What Discord refused for this user and is still undelivered (for /plex status)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n, max(refused_at) AS last_at,
                  (array_agg(last_error ORDER BY refused_at DESC))[1] AS last_error
           FROM notification_outbox
           WHERE user_id = $1 AND refused_at IS NOT NULL AND delivered_at IS NULL""",
        user_id,
    )
    if row is None or not row["n"]:
        return None
    return Refused(count=row["n"], last_error=row["last_error"] or "", last_at=row["last_at"])


async def message_for(conn: Conn, kind: str, ref_id: int) -> tuple[int, int] | None:
    """(channel id, message id) of the delivered notification, to edit it later."""
    row = await conn.fetchrow(
        """SELECT discord_channel_id, discord_message_id FROM notification_outbox
           WHERE kind = $1 AND ref_id = $2 AND discord_message_id IS NOT NULL""",
        kind,
        ref_id,
    )
    return (row["discord_channel_id"], row["discord_message_id"]) if row else None

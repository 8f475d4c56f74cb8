"""SQL for `notification_outbox`: what the Discord bot still has to tell people."""

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
    created_at: datetime


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
        """SELECT id, user_id, kind, ref_id, attempts, created_at FROM notification_outbox
           WHERE delivered_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [Notification(**dict(r)) for r in rows]


async def claim_for_discord(
    conn: Conn, *, kinds: tuple[str, ...], max_attempts: int, limit: int = 20
) -> list[Notification]:
    """Like claim_undelivered, but only rows the Discord bot can deliver: the user has a
    Discord account and retries are not exhausted (otherwise such rows, claimed first by
    id, would hold back every newer notification)."""
    rows = await conn.fetch(
        """SELECT o.id, o.user_id, o.kind, o.ref_id, o.attempts, o.created_at
           FROM notification_outbox o JOIN users u ON u.id = o.user_id
           WHERE o.delivered_at IS NULL AND u.discord_id IS NOT NULL
             AND o.kind = ANY($1::text[]) AND o.attempts < $2
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
               discord_channel_id = $2, discord_message_id = $3, last_error = NULL
           WHERE id = $1""",
        notification_id,
        channel_id,
        message_id,
    )


async def mark_failed(conn: Conn, notification_id: int, error: str) -> None:
    await conn.execute(
        """UPDATE notification_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1""",
        notification_id,
        error[:500],
    )


async def message_for(conn: Conn, kind: str, ref_id: int) -> tuple[int, int] | None:
    """(channel id, message id) of the delivered notification, to edit it later."""
    row = await conn.fetchrow(
        """SELECT discord_channel_id, discord_message_id FROM notification_outbox
           WHERE kind = $1 AND ref_id = $2 AND discord_message_id IS NOT NULL""",
        kind,
        ref_id,
    )
    return (row["discord_channel_id"], row["discord_message_id"]) if row else None

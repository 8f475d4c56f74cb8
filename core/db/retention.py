"""SQL for pruning: old rows leave in small batches, each its own short transaction, so a
year of logs never holds a long lock or a long-running transaction over the webhook path."""

from __future__ import annotations

from datetime import datetime

from core.db.pool import Conn


def _count(status: str) -> int:
    return int(status.split()[-1])


async def delete_logs_before(conn: Conn, cutoff: datetime, limit: int) -> int:
    """Up to `limit` finished webhook logs older than `cutoff`. Pending rows (queued, or held
    behind a conflict) are never pruned: they are work not yet done. Rows a worker holds are
    skipped, not waited for."""
    status: str = await conn.execute(
        """DELETE FROM plex_webhook_logs WHERE id IN (
               SELECT id FROM plex_webhook_logs
               WHERE created_at < $1 AND status <> 'pending'
               ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        cutoff,
        limit,
    )
    return _count(status)


async def delete_conflicts_before(conn: Conn, cutoff: datetime, limit: int) -> int:
    """Resolved conflicts decided before `cutoff` that no pending scrobble or held history
    episode still waits on."""
    status: str = await conn.execute(
        """DELETE FROM plex_conflicts WHERE id IN (
               SELECT c.id FROM plex_conflicts c
               WHERE c.resolved AND c.resolved_at < $1
                 AND NOT EXISTS (SELECT 1 FROM plex_webhook_logs l
                                 WHERE l.held_by_conflict_id = c.id AND l.status = 'pending')
                 AND NOT EXISTS (SELECT 1 FROM plex_history_held h WHERE h.conflict_id = c.id)
               ORDER BY c.resolved_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        cutoff,
        limit,
    )
    return _count(status)


async def delete_outbox_before(conn: Conn, cutoff: datetime, limit: int) -> int:
    """Delivered notifications, and ones Discord refused (DMs closed, channel gone) that
    long ago; the rest still have somewhere to go. (What a refused conflict notice was
    about stays listed by `/plex conflicts` and `plex-tracker conflicts`.)"""
    status: str = await conn.execute(
        """DELETE FROM notification_outbox WHERE id IN (
               SELECT id FROM notification_outbox
               WHERE (delivered_at IS NOT NULL AND delivered_at < $1)
                  OR (delivered_at IS NULL AND refused_at < $1)
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        cutoff,
        limit,
    )
    return _count(status)


async def delete_job_runs_before(conn: Conn, cutoff: datetime, limit: int) -> int:
    status: str = await conn.execute(
        """DELETE FROM job_runs WHERE id IN (
               SELECT id FROM job_runs WHERE started_at < $1
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        cutoff,
        limit,
    )
    return _count(status)


async def delete_seen_before(conn: Conn, cutoff: datetime, limit: int) -> int:
    """The duplicate window is minutes long; last-seen markers older than the logs go too."""
    status: str = await conn.execute(
        """DELETE FROM plex_scrobbles_seen WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM plex_scrobbles_seen WHERE seen_at < $1
               LIMIT $2 FOR UPDATE SKIP LOCKED))""",
        cutoff,
        limit,
    )
    return _count(status)

"""SQL for `plex_webhook_logs`: the audit trail and, through `status = 'pending'`, the queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.db.pool import Conn


@dataclass(frozen=True)
class NewLog:
    user_id: int
    event_type: str | None
    status: str
    action_taken: str | None = None
    payload_json: str | None = None  # the payload as JSON text, validated for jsonb
    raw_body: str | None = None
    plex_account_id: str | None = None
    plex_rating_key: str | None = None
    plex_item_key: str | None = None
    plex_title: str | None = None
    plex_season: int | None = None
    plex_episode: int | None = None
    error_message: str | None = None
    processing_duration_ms: int | None = None
    plex_watched_at: datetime | None = None  # None: when it arrived (created_at)


@dataclass(frozen=True)
class QueuedLog:
    id: int
    user_id: int
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class LogEntry:
    id: int
    user_id: int
    event_type: str | None
    status: str
    action_taken: str | None
    plex_title: str | None
    plex_season: int | None
    plex_episode: int | None
    tvshow_id: int | None
    processing_duration_ms: int | None
    error_message: str | None
    attempts: int
    created_at: datetime


async def insert_many(conn: Conn, logs: list[NewLog]) -> list[int]:
    """Insert several rows in one statement; ids come back in the order given.

    Rows are fed to the INSERT sorted by their position, so the sequence hands out ids in
    that order; sorting the returned ids restores it whatever order RETURNING uses.
    """
    columns = list(zip(*(_values(log) for log in logs), strict=True))
    rows = await conn.fetch(
        """INSERT INTO plex_webhook_logs (user_id, event_type, status, action_taken, payload,
               raw_body, plex_account_id, plex_rating_key, plex_item_key, plex_title,
               plex_season, plex_episode, error_message, processing_duration_ms, plex_watched_at,
               processed_at)
           SELECT u, e, s, a, p::jsonb, rb, acc, rk, ik, t, sn, ep, err, ms, wa,
                  CASE WHEN s <> 'pending' THEN now() END
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], $12::int[],
                       $13::text[], $14::int[], $15::timestamptz[])
                WITH ORDINALITY AS x(u, e, s, a, p, rb, acc, rk, ik, t, sn, ep, err, ms, wa, ord)
           ORDER BY ord
           RETURNING id""",
        *(list(c) for c in columns),
    )
    return sorted(r["id"] for r in rows)


def _values(log: NewLog) -> tuple[object, ...]:
    return (
        log.user_id,
        log.event_type,
        log.status,
        log.action_taken,
        log.payload_json,
        log.raw_body,
        log.plex_account_id,
        log.plex_rating_key,
        log.plex_item_key,
        log.plex_title,
        log.plex_season,
        log.plex_episode,
        log.error_message,
        log.processing_duration_ms,
        log.plex_watched_at,
    )


def _queued(r: asyncpg.Record) -> QueuedLog:
    return QueuedLog(
        id=r["id"],
        user_id=r["user_id"],
        payload=r["payload"],
        attempts=r["attempts"],
        created_at=r["created_at"],
    )


async def claim(conn: Conn, limit: int) -> list[QueuedLog]:
    """Lock up to `limit` queued rows for this transaction; other workers skip them.

    A crash releases the locks with the connection, so the rows are simply claimed again.
    The transaction also commits without waiting for its WAL flush: what it does can be
    lost only together with its own status change, which leaves the row pending to be
    processed again, so it need not pay for an fsync. (Accepting a webhook does wait.)
    """
    rows = await conn.fetch(
        """WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
           SELECT l.id, l.user_id, l.payload, l.attempts, l.created_at
           FROM plex_webhook_logs l, relaxed
           WHERE l.status = 'pending' AND l.held_by_conflict_id IS NULL
           ORDER BY l.id LIMIT $1 FOR UPDATE OF l SKIP LOCKED""",
        limit,
    )
    return [_queued(r) for r in rows]


async def claim_held(conn: Conn, conflict_id: int) -> list[QueuedLog]:
    """The scrobbles held behind a conflict, oldest first, locked for replay."""
    rows = await conn.fetch(
        """SELECT id, user_id, payload, attempts, created_at FROM plex_webhook_logs
           WHERE held_by_conflict_id = $1 AND status = 'pending'
           ORDER BY id FOR UPDATE""",
        conflict_id,
    )
    return [_queued(r) for r in rows]


async def finish(
    conn: Conn,
    log_id: int,
    *,
    status: str,
    action_taken: str | None,
    tvshow_id: int | None = None,
    error_message: str | None = None,
    retryable: bool = False,
    retry_delay_seconds: float | None = None,
) -> None:
    await conn.execute(
        """UPDATE plex_webhook_logs SET status = $2, action_taken = $3, tvshow_id = $4,
               error_message = $5, retryable = $6, held_by_conflict_id = NULL,
               attempts = attempts + 1,
               next_attempt_at = CASE WHEN $7::float8 IS NULL THEN NULL
                                      ELSE now() + make_interval(secs => $7::float8) END,
               processing_duration_ms =
                   (EXTRACT(EPOCH FROM clock_timestamp() - created_at) * 1000)::int,
               processed_at = clock_timestamp()
           WHERE id = $1""",
        log_id,
        status,
        action_taken,
        tvshow_id,
        error_message,
        retryable,
        retry_delay_seconds,
    )


@dataclass(frozen=True)
class SettledRow:
    """A row `settle_queue` claimed: settled (with its outcome) or left for the full path."""

    id: int
    user_id: int
    created_at: datetime
    event: str | None
    show_title: str | None
    season: int | None
    episode: int | None
    settled: bool
    status: str | None
    action: str | None
    tvshow_id: int | None


async def settle_queue(conn: Conn, limit: int, window_seconds: int) -> list[SettledRow]:
    """Claim up to `limit` queued scrobbles and settle those of mapped shows, in one call and
    its own transaction (`plex_settle_queue`, sql/0008_settle_in_show_order.sql)."""
    rows = await conn.fetch(
        """SELECT log_id AS id, user_id, created_at, event, show_title, season, episode,
                  settled, status, action, tvshow_id
           FROM plex_settle_queue($1, $2)""",
        limit,
        float(window_seconds),
    )
    return [SettledRow(**dict(r)) for r in rows]


async def claim_one(conn: Conn, log_id: int) -> QueuedLog | None:
    """Lock one queued row by id (skipped when another worker has it or it is done)."""
    row = await conn.fetchrow(
        """SELECT id, user_id, payload, attempts, created_at FROM plex_webhook_logs
           WHERE id = $1 AND status = 'pending' AND held_by_conflict_id IS NULL
           FOR UPDATE SKIP LOCKED""",
        log_id,
    )
    return _queued(row) if row else None


async def hold(conn: Conn, log_id: int, conflict_id: int, action_taken: str) -> None:
    """Park a scrobble behind an open conflict: still pending, out of the worker's queue."""
    await conn.execute(
        """UPDATE plex_webhook_logs SET held_by_conflict_id = $2, action_taken = $3
           WHERE id = $1""",
        log_id,
        conflict_id,
        action_taken,
    )


async def requeue_retryable(conn: Conn, max_attempts: int, limit: int = 500) -> int:
    """Failed rows whose backoff has passed go back to the queue."""
    status: str = await conn.execute(
        """UPDATE plex_webhook_logs SET status = 'pending', next_attempt_at = NULL
           WHERE id IN (SELECT id FROM plex_webhook_logs
                        WHERE status = 'failed' AND retryable AND next_attempt_at <= now()
                          AND attempts < $1
                        ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        max_attempts,
        limit,
    )
    return int(status.split()[-1])


async def requeue_stranded(conn: Conn) -> list[tuple[int, int, int]]:
    """Scrobbles still held behind a conflict that is already resolved go back to the queue
    (a safety net: resolving replays what is held, and joining waits for a resolution).
    Returns (log id, user id, conflict id) of each."""
    rows = await conn.fetch(
        """UPDATE plex_webhook_logs l SET held_by_conflict_id = NULL
           FROM plex_conflicts c
           WHERE c.id = l.held_by_conflict_id AND c.resolved AND l.status = 'pending'
           RETURNING l.id, l.user_id, c.id AS conflict_id"""
    )
    return [(r["id"], r["user_id"], r["conflict_id"]) for r in rows]


async def requeue_unreachable(conn: Conn, user_id: int) -> int:
    """The user's scrobbles that failed because the Plex server couldn't be reached go back
    to the queue at once, whatever their backoff or attempts, once it answers again."""
    status: str = await conn.execute(
        """UPDATE plex_webhook_logs SET status = 'pending', next_attempt_at = NULL
           WHERE user_id = $1 AND status = 'failed' AND action_taken = 'server_unreachable'""",
        user_id,
    )
    return int(status.split()[-1])


async def requeue_failed(conn: Conn, user_id: int | None = None) -> int:
    """`plex-tracker replay`: every failed scrobble back in the queue, whatever its reason."""
    status: str = await conn.execute(
        """UPDATE plex_webhook_logs SET status = 'pending', next_attempt_at = NULL
           WHERE status = 'failed' AND payload IS NOT NULL
             AND event_type = 'media.scrobble'
             AND ($1::bigint IS NULL OR user_id = $1)""",
        user_id,
    )
    return int(status.split()[-1])


_ENTRY_COLS = """id, user_id, event_type, status, action_taken, plex_title, plex_season,
                 plex_episode, tvshow_id, processing_duration_ms, error_message, attempts,
                 created_at"""


async def recent(
    conn: Conn, user_id: int, *, status: str | None = None, limit: int = 20, offset: int = 0
) -> list[LogEntry]:
    rows = await conn.fetch(
        f"""SELECT {_ENTRY_COLS} FROM plex_webhook_logs
            WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)
            ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4""",
        user_id,
        status,
        limit,
        offset,
    )
    return [LogEntry(**dict(r)) for r in rows]


async def get(conn: Conn, log_id: int) -> LogEntry | None:
    row = await conn.fetchrow(f"SELECT {_ENTRY_COLS} FROM plex_webhook_logs WHERE id = $1", log_id)
    return LogEntry(**dict(row)) if row else None


async def queue_depth(conn: Conn) -> int:
    depth: int = await conn.fetchval(
        "SELECT count(*) FROM plex_webhook_logs WHERE status = 'pending'"
    )
    return depth


async def give_up_exhausted(conn: Conn, max_attempts: int) -> list[tuple[int, int]]:
    """Retryable failures that used all their attempts stay failed for good, saying so.
    Returns (log id, user id) of each, so the owner can be told once."""
    rows = await conn.fetch(
        """UPDATE plex_webhook_logs SET retryable = false, next_attempt_at = NULL,
               error_message = COALESCE(error_message, 'failed')
                               || ' (gave up after ' || attempts || ' attempts)'
           WHERE status = 'failed' AND retryable AND attempts >= $1
           RETURNING id, user_id""",
        max_attempts,
    )
    return [(r["id"], r["user_id"]) for r in rows]


# ------------------------------------------------ the command line: logs, replay, first contact


async def recent_for(
    conn: Conn, user_id: int | None, *, status: str | None = None, limit: int = 20
) -> list[tuple[str, LogEntry]]:
    """Newest first, with the owner's name; `user_id` None: everyone's."""
    cols = ", ".join(f"l.{c.strip()}" for c in _ENTRY_COLS.split(","))
    rows = await conn.fetch(
        f"""SELECT u.name AS user_name, {cols} FROM plex_webhook_logs l
            JOIN users u ON u.id = l.user_id
            WHERE ($1::bigint IS NULL OR l.user_id = $1) AND ($2::text IS NULL OR l.status = $2)
            ORDER BY l.id DESC LIMIT $3""",
        user_id,
        status,
        limit,
    )
    return [
        (r["user_name"], LogEntry(**{k: v for k, v in r.items() if k != "user_name"})) for r in rows
    ]


async def by_ids(conn: Conn, ids: list[int]) -> list[LogEntry]:
    rows = await conn.fetch(
        f"SELECT {_ENTRY_COLS} FROM plex_webhook_logs WHERE id = ANY($1::bigint[]) ORDER BY id",
        ids,
    )
    return [LogEntry(**dict(r)) for r in rows]


async def held_ids(conn: Conn, conflict_id: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM plex_webhook_logs
           WHERE held_by_conflict_id = $1 AND status = 'pending' ORDER BY id""",
        conflict_id,
    )
    return [r["id"] for r in rows]


async def requeue_failed_ids(conn: Conn, user_id: int | None = None) -> list[int]:
    """Like requeue_failed, returning the rows, so `replay` can say what became of each."""
    rows = await conn.fetch(
        """UPDATE plex_webhook_logs SET status = 'pending', next_attempt_at = NULL
           WHERE status = 'failed' AND payload IS NOT NULL
             AND event_type = 'media.scrobble'
             AND ($1::bigint IS NULL OR user_id = $1)
           RETURNING id""",
        user_id,
    )
    return sorted(r["id"] for r in rows)


async def latest_id(conn: Conn, user_id: int) -> int:
    found: int | None = await conn.fetchval(
        "SELECT max(id) FROM plex_webhook_logs WHERE user_id = $1", user_id
    )
    return found or 0


@dataclass(frozen=True)
class Arrival:
    """A webhook row, seen from `connect --wait`: proof that Plex reaches us."""

    id: int
    event_type: str | None
    player: str | None
    account: str | None
    status: str
    error_message: str | None


async def first_after(conn: Conn, user_id: int, after_id: int) -> Arrival | None:
    row = await conn.fetchrow(
        """SELECT id, event_type, payload -> 'Player' ->> 'title' AS player,
                  payload -> 'Account' ->> 'title' AS account, status, error_message
           FROM plex_webhook_logs WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT 1""",
        user_id,
        after_id,
    )
    return Arrival(**dict(row)) if row else None


@dataclass(frozen=True)
class ScrobbledItem:
    status: str
    item_key: str | None  # the episode's rating key
    season: int | None
    episode: int | None
    server_uuid: str | None
    duration_ms: int | None  # how long Plex says the item is (the whole file)
    watched_at: datetime  # Plex's lastViewedAt, else when the webhook arrived


async def scrobbled_item(conn: Conn, log_id: int) -> ScrobbledItem | None:
    """Which Plex item a processed scrobble was, on which server, how long, watched when
    (the multi-episode follow-up reads the item's file from the server)."""
    row = await conn.fetchrow(
        """SELECT status, plex_item_key AS item_key, plex_season AS season,
                  plex_episode AS episode, payload -> 'Server' ->> 'uuid' AS server_uuid,
                  CASE WHEN payload -> 'Metadata' ->> 'duration' ~ '^[0-9]{1,12}$'
                       THEN (payload -> 'Metadata' ->> 'duration')::bigint END AS duration_ms,
                  COALESCE(plex_watched_at, created_at) AS watched_at
           FROM plex_webhook_logs WHERE id = $1""",
        log_id,
    )
    return ScrobbledItem(**dict(row)) if row else None

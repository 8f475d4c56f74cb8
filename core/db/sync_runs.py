"""SQL for `plex_sync_runs`: one row per history sync run, its state and its counters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from core.db.pool import Conn


@dataclass
class RunCounts:
    """What a run did so far; written to its row as it goes."""

    shows_seen: int = 0
    episodes_marked: int = 0
    already_watched: int = 0
    shows_added: int = 0
    conflicts_raised: int = 0
    episodes_held: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    plex_requests: int = 0
    phase: str | None = None
    progress_done: int = 0
    progress_total: int | None = None

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True)
class SyncRun:
    id: int
    user_id: int
    trigger: str
    mode: str
    since: datetime | None
    dry_run: bool
    state: str
    server_id: str | None
    phase: str | None
    progress_done: int
    progress_total: int | None
    shows_seen: int
    episodes_marked: int
    already_watched: int
    shows_added: int
    conflicts_raised: int
    episodes_held: int
    skipped: dict[str, int]
    plex_requests: int
    error: str | None
    host: str | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def counts(self) -> RunCounts:
        return RunCounts(
            shows_seen=self.shows_seen,
            episodes_marked=self.episodes_marked,
            already_watched=self.already_watched,
            shows_added=self.shows_added,
            conflicts_raised=self.conflicts_raised,
            episodes_held=self.episodes_held,
            skipped=dict(self.skipped),
            plex_requests=self.plex_requests,
            phase=self.phase,
            progress_done=self.progress_done,
            progress_total=self.progress_total,
        )


_COLS = """id, user_id, trigger, mode, since, dry_run, state, server_id, phase, progress_done,
           progress_total, shows_seen, episodes_marked, already_watched, shows_added,
           conflicts_raised, episodes_held, skipped, plex_requests, error, host, created_at,
           started_at, heartbeat_at, finished_at"""


def _run(r: asyncpg.Record) -> SyncRun:
    data: dict[str, Any] = dict(r)
    skipped = data["skipped"]
    data["skipped"] = json.loads(skipped) if isinstance(skipped, str) else dict(skipped or {})
    return SyncRun(**data)


async def create(
    conn: Conn,
    *,
    user_id: int,
    trigger: str,
    mode: str,
    since: datetime | None,
    dry_run: bool,
    state: str = "queued",
    host: str | None = None,
) -> SyncRun:
    row = await conn.fetchrow(
        f"""INSERT INTO plex_sync_runs (user_id, trigger, mode, since, dry_run, state, host,
                started_at, heartbeat_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7,
                    CASE WHEN $6 = 'running' THEN now() END,
                    CASE WHEN $6 = 'running' THEN now() END)
            RETURNING {_COLS}""",
        user_id,
        trigger,
        mode,
        since,
        dry_run,
        state,
        host,
    )
    assert row is not None
    return _run(row)


async def get(conn: Conn, run_id: int) -> SyncRun | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM plex_sync_runs WHERE id = $1", run_id)
    return _run(row) if row else None


async def active_for_user(conn: Conn, user_id: int) -> SyncRun | None:
    """The user's queued or running run, if any (the oldest)."""
    row = await conn.fetchrow(
        f"""SELECT {_COLS} FROM plex_sync_runs
            WHERE user_id = $1 AND state IN ('queued', 'running') ORDER BY id LIMIT 1""",
        user_id,
    )
    return _run(row) if row else None


async def recent(conn: Conn, user_id: int, limit: int = 10) -> list[SyncRun]:
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM plex_sync_runs WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
        user_id,
        limit,
    )
    return [_run(r) for r in rows]


async def has_succeeded(conn: Conn, user_id: int) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM plex_sync_runs
                          WHERE user_id = $1 AND state = 'succeeded' AND NOT dry_run)""",
        user_id,
    )
    return found


async def claim_queued(conn: Conn, host: str, run_id: int | None = None) -> SyncRun | None:
    """Take the oldest queued run (or this one) for this process; others skip it."""
    row = await conn.fetchrow(
        f"""UPDATE plex_sync_runs SET state = 'running', host = $1, started_at = now(),
                   heartbeat_at = now()
            WHERE id = (SELECT id FROM plex_sync_runs
                        WHERE state = 'queued' AND ($2::bigint IS NULL OR id = $2)
                        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING {_COLS}""",
        host,
        run_id,
    )
    return _run(row) if row else None


async def requeue(conn: Conn, run_id: int) -> None:
    """Back in the queue (its user's sync was busy elsewhere)."""
    await conn.execute(
        "UPDATE plex_sync_runs SET state = 'queued', host = NULL WHERE id = $1", run_id
    )


async def progress(conn: Conn, run_id: int, counts: RunCounts, server_id: str | None) -> None:
    await conn.execute(
        """UPDATE plex_sync_runs SET server_id = COALESCE($2, server_id), phase = $3,
               progress_done = $4, progress_total = $5, shows_seen = $6, episodes_marked = $7,
               already_watched = $8, shows_added = $9, conflicts_raised = $10,
               episodes_held = $11, skipped = $12, plex_requests = $13, heartbeat_at = now()
           WHERE id = $1""",
        run_id,
        server_id,
        counts.phase,
        counts.progress_done,
        counts.progress_total,
        counts.shows_seen,
        counts.episodes_marked,
        counts.already_watched,
        counts.shows_added,
        counts.conflicts_raised,
        counts.episodes_held,
        counts.skipped,
        counts.plex_requests,
    )


async def finish(
    conn: Conn,
    run_id: int,
    *,
    state: str,
    counts: RunCounts,
    server_id: str | None,
    error: str | None,
) -> SyncRun:
    await progress(conn, run_id, counts, server_id)
    row = await conn.fetchrow(
        f"""UPDATE plex_sync_runs SET state = $2, error = $3, finished_at = now()
            WHERE id = $1 RETURNING {_COLS}""",
        run_id,
        state,
        error[:1000] if error else None,
    )
    assert row is not None
    return _run(row)


async def interrupt(conn: Conn, run_id: int, error: str) -> None:
    await conn.execute(
        """UPDATE plex_sync_runs SET state = 'interrupted', finished_at = now(), error = $2
           WHERE id = $1 AND state = 'running'""",
        run_id,
        error,
    )


async def interrupt_running(conn: Conn, user_id: int, error: str) -> int:
    """The user's runs still marked running, when the caller holds the user's sync lock:
    their processes died."""
    status: str = await conn.execute(
        """UPDATE plex_sync_runs SET state = 'interrupted', finished_at = now(), error = $2
           WHERE user_id = $1 AND state = 'running'""",
        user_id,
        error,
    )
    return int(status.split()[-1])


async def fail_stale(conn: Conn, older_than_seconds: float) -> list[SyncRun]:
    """Runs whose process stopped reporting (killed): failed, so the user's next run
    resumes where they stopped."""
    rows = await conn.fetch(
        f"""UPDATE plex_sync_runs SET state = 'interrupted', finished_at = now(),
                   error = 'the process running it stopped (the next run resumes where it got to)'
            WHERE state = 'running'
              AND heartbeat_at < now() - make_interval(secs => $1)
            RETURNING {_COLS}""",
        older_than_seconds,
    )
    return [_run(r) for r in rows]


async def delete_finished_before(conn: Conn, cutoff: datetime) -> int:
    status: str = await conn.execute(
        """DELETE FROM plex_sync_runs
           WHERE finished_at < $1 AND state NOT IN ('queued', 'running')""",
        cutoff,
    )
    return int(status.split()[-1])


# One sync per user at a time, across every process on the database: a session advisory
# lock held by the connection that runs it (PostgreSQL drops it if that process dies).
def _user_lock(user_id: int) -> str:
    return f"history-sync:{user_id}"


async def try_lock_user(conn: Conn, user_id: int) -> bool:
    locked: bool = await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", _user_lock(user_id)
    )
    return locked


async def lock_user(conn: Conn, user_id: int) -> None:
    """Wait for the user's sync lock."""
    await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", _user_lock(user_id))


async def unlock_user(conn: Conn, user_id: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", _user_lock(user_id))

"""SQL for `job_runs`: one row per scheduled (or manual) run of a job, and the job locks."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn

# First half of every job's advisory lock key: keeps job locks apart from the migration lock.
_LOCK_CLASS = 0x6A6F6273  # "jobs"


def _lock_key(job: str) -> int:
    # A stable int4 from the job's name; the same in every process sharing the database.
    return zlib.crc32(job.encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    tick: datetime | None
    host: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    detail: str | None


async def try_lock(conn: Conn, job: str) -> bool:
    """Session-level lock held by this connection until `unlock` (or the connection dies)."""
    locked: bool = await conn.fetchval(
        "SELECT pg_try_advisory_lock($1, $2)", _LOCK_CLASS, _lock_key(job)
    )
    return locked


async def unlock(conn: Conn, job: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", _LOCK_CLASS, _lock_key(job))


async def start(conn: Conn, job: str, *, tick: datetime | None, host: str) -> int | None:
    """Record a run; None when another process already ran (or is running) this tick."""
    run_id: int | None = await conn.fetchval(
        """INSERT INTO job_runs (job, tick, host) VALUES ($1, $2, $3)
           ON CONFLICT (job, tick) WHERE tick IS NOT NULL DO NOTHING
           RETURNING id""",
        job,
        tick,
        host,
    )
    return run_id


async def finish(conn: Conn, run_id: int, *, outcome: str, detail: str | None) -> None:
    await conn.execute(
        """UPDATE job_runs SET finished_at = clock_timestamp(), outcome = $2, detail = $3
           WHERE id = $1""",
        run_id,
        outcome,
        detail[:1000] if detail else None,
    )


async def recent(conn: Conn, job: str | None = None, limit: int = 50) -> list[JobRun]:
    rows = await conn.fetch(
        """SELECT id, job, tick, host, started_at, finished_at, outcome, detail FROM job_runs
           WHERE $1::text IS NULL OR job = $1
           ORDER BY started_at DESC, id DESC LIMIT $2""",
        job,
        limit,
    )
    return [JobRun(**dict(r)) for r in rows]

"""SQL for `plex_server_problems`: a user's Plex server not answering, one row per outage.

At most one open row per user (a partial unique index); it is what `plex-tracker status`,
`doctor` and `/plex status` show, and its id keys the single Discord notification about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.db.pool import Conn


@dataclass(frozen=True)
class ServerProblem:
    id: int
    user_id: int
    address: str | None
    message: str
    started_at: datetime
    last_seen_at: datetime
    occurrences: int
    resolved_at: datetime | None


_COLS = "id, user_id, address, message, started_at, last_seen_at, occurrences, resolved_at"


def _problem(row: asyncpg.Record) -> ServerProblem:
    return ServerProblem(**dict(row))


async def open_or_touch(
    conn: Conn, user_id: int, *, address: str | None, message: str
) -> tuple[ServerProblem, bool]:
    """Record that the server did not answer: a new outage (True) or one still going on."""
    row = await conn.fetchrow(
        f"""INSERT INTO plex_server_problems (user_id, address, message) VALUES ($1, $2, $3)
            ON CONFLICT (user_id) WHERE resolved_at IS NULL DO UPDATE SET
                address = EXCLUDED.address, message = EXCLUDED.message,
                last_seen_at = now(),
                occurrences = plex_server_problems.occurrences + 1
            RETURNING {_COLS}, (xmax = 0) AS inserted""",
        user_id,
        address,
        message[:1000],
    )
    assert row is not None
    values = dict(row)
    inserted = bool(values.pop("inserted"))
    return ServerProblem(**values), inserted


async def resolve(conn: Conn, user_id: int) -> bool:
    """The server answered again: close the open problem, if any."""
    status: str = await conn.execute(
        """UPDATE plex_server_problems SET resolved_at = now()
           WHERE user_id = $1 AND resolved_at IS NULL""",
        user_id,
    )
    return status != "UPDATE 0"


async def current(conn: Conn, user_id: int) -> ServerProblem | None:
    """The user's open server problem, if there is one."""
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM plex_server_problems WHERE user_id = $1 AND resolved_at IS NULL",
        user_id,
    )
    return _problem(row) if row else None


async def get(conn: Conn, problem_id: int) -> ServerProblem | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM plex_server_problems WHERE id = $1", problem_id)
    return _problem(row) if row else None

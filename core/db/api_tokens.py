"""SQL for `api_tokens`: per-user bearer tokens for the JSON API, stored as SHA-256 only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    token_hash: str
    created_at: datetime
    last_used_at: datetime | None


_COLS = "id, user_id, token_hash, created_at, last_used_at"


async def insert(conn: Conn, user_id: int, token_hash: str) -> ApiToken:
    row = await conn.fetchrow(
        f"INSERT INTO api_tokens (user_id, token_hash) VALUES ($1, $2) RETURNING {_COLS}",
        user_id,
        token_hash,
    )
    assert row is not None
    return ApiToken(**dict(row))


async def by_hash(conn: Conn, token_hash: str) -> ApiToken | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM api_tokens WHERE token_hash = $1", token_hash)
    return ApiToken(**dict(row)) if row else None


async def touch(conn: Conn, token_id: int) -> None:
    # At most once a minute per token: an API client polling shouldn't write every request.
    await conn.execute(
        """UPDATE api_tokens SET last_used_at = now()
           WHERE id = $1
             AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')""",
        token_id,
    )


async def list_for_user(conn: Conn, user_id: int) -> list[ApiToken]:
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM api_tokens WHERE user_id = $1 ORDER BY id", user_id
    )
    return [ApiToken(**dict(r)) for r in rows]


async def delete(conn: Conn, user_id: int, token_id: int) -> bool:
    status: str = await conn.execute(
        "DELETE FROM api_tokens WHERE user_id = $1 AND id = $2", user_id, token_id
    )
    return status == "DELETE 1"

"""SQL for `users`."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from core.db.pool import Conn


@dataclass(frozen=True)
class User:
    id: int
    name: str
    discord_id: int | None


_COLS = "id, name, discord_id"


def _user(r: asyncpg.Record) -> User:
    return User(id=r["id"], name=r["name"], discord_id=r["discord_id"])


async def get_or_create(conn: Conn, name: str) -> tuple[User, bool]:
    """Returns the user and whether it was created now."""
    row = await conn.fetchrow(
        f"INSERT INTO users (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING {_COLS}",
        name,
    )
    if row is not None:
        return _user(row), True
    row = await conn.fetchrow(f"SELECT {_COLS} FROM users WHERE name = $1", name)
    assert row is not None
    return _user(row), False


async def by_name(conn: Conn, name: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM users WHERE name = $1", name)
    return _user(row) if row else None


async def by_id(conn: Conn, user_id: int) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM users WHERE id = $1", user_id)
    return _user(row) if row else None


async def every(conn: Conn) -> list[User]:
    rows = await conn.fetch(f"SELECT {_COLS} FROM users ORDER BY id")
    return [_user(r) for r in rows]


async def by_discord_id(conn: Conn, discord_id: int) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM users WHERE discord_id = $1", discord_id)
    return _user(row) if row else None


async def get_or_create_for_discord(conn: Conn, discord_id: int, name: str) -> User:
    """A Discord user is a tracker user; the name gets the id appended if it is taken."""
    existing = await by_discord_id(conn, discord_id)
    if existing:
        return existing
    row = await conn.fetchrow(
        f"""INSERT INTO users (name, discord_id)
            VALUES (CASE WHEN EXISTS (SELECT 1 FROM users WHERE name = $1)
                         THEN $1 || '#' || $2::bigint::text ELSE $1 END, $2)
            ON CONFLICT (discord_id) DO UPDATE SET discord_id = EXCLUDED.discord_id
            RETURNING {_COLS}""",
        name,
        discord_id,
    )
    assert row is not None
    return _user(row)


async def link_discord(conn: Conn, user_id: int, discord_id: int | None) -> None:
    await conn.execute("UPDATE users SET discord_id = $2 WHERE id = $1", user_id, discord_id)

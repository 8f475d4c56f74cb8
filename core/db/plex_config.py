"""SQL for `plex_config`: one row per user, the Plex token and webhook secret encrypted."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from core.crypto import Slot
from core.db.pool import Conn


def token_slot(user_id: int) -> Slot:
    """Where a user's encrypted Plex token lives (its ciphertext is bound to it)."""
    return Slot("plex_config", "plex_token", user_id)


def secret_slot(user_id: int) -> Slot:
    """Where a user's encrypted webhook secret lives."""
    return Slot("plex_config", "webhook_secret", user_id)


@dataclass(frozen=True)
class PlexConfig:
    user_id: int
    plex_token: str | None  # encrypted form
    plex_account_id: int | None
    plex_username: str | None
    server_url: str | None
    server_uuid: str | None
    webhook_secret: str | None  # encrypted form
    webhook_secret_hash: str | None
    enabled: bool
    auto_add_shows: bool
    auto_mark_watched: bool
    followed_accounts: tuple[str, ...]
    notify_channel_id: int | None
    # Where plex.tv discovery last found the server answering (never the user's choice,
    # which is server_url); see core/services/plex_servers.py.
    discovered_server_url: str | None = None
    discovered_server_uuid: str | None = None


_COLS = """user_id, plex_token, plex_account_id, plex_username, server_url, server_uuid,
           webhook_secret, webhook_secret_hash, enabled, auto_add_shows, auto_mark_watched,
           followed_accounts, notify_channel_id, discovered_server_url, discovered_server_uuid"""


def _config(r: asyncpg.Record) -> PlexConfig:
    return PlexConfig(**{**dict(r), "followed_accounts": tuple(r["followed_accounts"] or ())})


async def get(conn: Conn, user_id: int) -> PlexConfig | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM plex_config WHERE user_id = $1", user_id)
    return _config(row) if row else None


async def by_secret_hash(conn: Conn, secret_hash: str) -> PlexConfig | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM plex_config WHERE webhook_secret_hash = $1", secret_hash
    )
    return _config(row) if row else None


async def ensure(conn: Conn, user_id: int) -> PlexConfig:
    row = await conn.fetchrow(
        f"""INSERT INTO plex_config (user_id) VALUES ($1)
            ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
            RETURNING {_COLS}""",
        user_id,
    )
    assert row is not None
    return _config(row)


async def set_token(
    conn: Conn,
    user_id: int,
    *,
    encrypted_token: str,
    account_id: int | None,
    username: str | None,
) -> None:
    await conn.execute(
        """UPDATE plex_config SET plex_token = $2,
                  plex_account_id = COALESCE($3, plex_account_id),
                  plex_username = COALESCE($4, plex_username), updated_at = now()
           WHERE user_id = $1""",
        user_id,
        encrypted_token,
        account_id,
        username,
    )


async def set_secret(conn: Conn, user_id: int, *, encrypted_secret: str, secret_hash: str) -> None:
    await conn.execute(
        """UPDATE plex_config SET webhook_secret = $2, webhook_secret_hash = $3, updated_at = now()
           WHERE user_id = $1""",
        user_id,
        encrypted_secret,
        secret_hash,
    )


async def update_settings(
    conn: Conn,
    user_id: int,
    *,
    server_url: str | None = None,
    server_uuid: str | None = None,
    enabled: bool | None = None,
    auto_add_shows: bool | None = None,
    auto_mark_watched: bool | None = None,
    followed_accounts: list[str] | None = None,
    notify_channel_id: int | None = None,
    clear_notify_channel: bool = False,
) -> PlexConfig:
    """Change what is given; None leaves a setting as it is."""
    row = await conn.fetchrow(
        f"""UPDATE plex_config SET
               server_url = COALESCE($2, server_url),
               server_uuid = COALESCE($3, server_uuid),
               enabled = COALESCE($4, enabled),
               auto_add_shows = COALESCE($5, auto_add_shows),
               auto_mark_watched = COALESCE($6, auto_mark_watched),
               followed_accounts = COALESCE($7, followed_accounts),
               notify_channel_id = CASE WHEN $9 THEN NULL
                                        ELSE COALESCE($8, notify_channel_id) END,
               updated_at = now()
            WHERE user_id = $1 RETURNING {_COLS}""",
        user_id,
        server_url,
        server_uuid,
        enabled,
        auto_add_shows,
        auto_mark_watched,
        followed_accounts,
        notify_channel_id,
        clear_notify_channel,
    )
    if row is None:
        raise LookupError(f"user {user_id} has no Plex configuration")
    return _config(row)


async def disconnect(conn: Conn, user_id: int) -> bool:
    status = await conn.execute(
        """UPDATE plex_config SET plex_token = NULL, webhook_secret = NULL,
                  webhook_secret_hash = NULL, plex_account_id = NULL, updated_at = now()
           WHERE user_id = $1""",
        user_id,
    )
    return bool(status != "UPDATE 0")


async def all_encrypted(
    conn: Conn, *, only_unbound: bool = False
) -> list[tuple[int, str | None, str | None]]:
    """Every row's encrypted values, locked for rewriting; `only_unbound`: just the rows
    still holding a value in the seed's unbound form (no `v2:` prefix)."""
    rows = await conn.fetch(
        """SELECT user_id, plex_token, webhook_secret FROM plex_config
           WHERE NOT $1 OR plex_token NOT LIKE 'v2:%' OR webhook_secret NOT LIKE 'v2:%'
           ORDER BY user_id FOR UPDATE""",
        only_unbound,
    )
    return [(r["user_id"], r["plex_token"], r["webhook_secret"]) for r in rows]


async def replace_encrypted(
    conn: Conn, user_id: int, token: str | None, secret: str | None
) -> None:
    await conn.execute(
        "UPDATE plex_config SET plex_token = $2, webhook_secret = $3 WHERE user_id = $1",
        user_id,
        token,
        secret,
    )


async def remember_discovered(conn: Conn, user_id: int, *, url: str, server_uuid: str) -> None:
    """An address of the server that just answered (never one that did not)."""
    await conn.execute(
        """UPDATE plex_config SET discovered_server_url = $2, discovered_server_uuid = $3,
                  discovered_at = now()
           WHERE user_id = $1""",
        user_id,
        url,
        server_uuid,
    )


async def forget_discovered(conn: Conn, user_id: int, url: str) -> None:
    """That address stopped answering: look again next time."""
    await conn.execute(
        """UPDATE plex_config SET discovered_server_url = NULL, discovered_at = NULL
           WHERE user_id = $1 AND discovered_server_url = $2""",
        user_id,
        url,
    )


async def secret_hashes(conn: Conn) -> frozenset[str]:
    """Every current webhook secret's hash (the edge keeps them in memory under a flood)."""
    rows = await conn.fetch(
        "SELECT webhook_secret_hash FROM plex_config WHERE webhook_secret_hash IS NOT NULL"
    )
    return frozenset(r["webhook_secret_hash"] for r in rows)

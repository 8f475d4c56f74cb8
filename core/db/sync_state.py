"""SQL for how far history sync has got: `plex_sync_cursors` (history per account),
`plex_sync_shows` (the owner's library state per show) and `plex_sync_settings`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn


@dataclass(frozen=True)
class Cursor:
    watermark: datetime | None
    resume_offset: int | None
    resume_since: datetime | None
    resume_newest: datetime | None

    @property
    def resuming(self) -> bool:
        return self.resume_offset is not None


NO_CURSOR = Cursor(None, None, None, None)


async def cursor(conn: Conn, user_id: int, server_id: str, account_id: str) -> Cursor:
    row = await conn.fetchrow(
        """SELECT watermark, resume_offset, resume_since, resume_newest FROM plex_sync_cursors
           WHERE user_id = $1 AND server_id = $2 AND account_id = $3""",
        user_id,
        server_id,
        account_id,
    )
    return Cursor(**dict(row)) if row else NO_CURSOR


async def save_resume(
    conn: Conn,
    user_id: int,
    server_id: str,
    account_id: str,
    *,
    offset: int,
    since: datetime | None,
    newest: datetime | None,
) -> None:
    """Where a run has got to: call in the transaction that applied the page."""
    await conn.execute(
        """INSERT INTO plex_sync_cursors AS c (user_id, server_id, account_id, resume_offset,
               resume_since, resume_newest)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (user_id, server_id, account_id) DO UPDATE SET
               resume_offset = EXCLUDED.resume_offset, resume_since = EXCLUDED.resume_since,
               resume_newest = EXCLUDED.resume_newest, updated_at = now()""",
        user_id,
        server_id,
        account_id,
        offset,
        since,
        newest,
    )


async def complete(
    conn: Conn, user_id: int, server_id: str, account_id: str, newest: datetime | None
) -> None:
    """Every play up to `newest` is applied: the watermark moves there (never back)."""
    await conn.execute(
        """INSERT INTO plex_sync_cursors AS c (user_id, server_id, account_id, watermark)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, server_id, account_id) DO UPDATE SET
               watermark = GREATEST(c.watermark, EXCLUDED.watermark),
               resume_offset = NULL, resume_since = NULL, resume_newest = NULL,
               updated_at = now()""",
        user_id,
        server_id,
        account_id,
        newest,
    )


async def show_marks(
    conn: Conn, user_id: int, server_id: str, show_keys: Sequence[str]
) -> dict[str, datetime]:
    rows = await conn.fetch(
        """SELECT show_key, last_viewed_at FROM plex_sync_shows
           WHERE user_id = $1 AND server_id = $2 AND show_key = ANY($3::text[])""",
        user_id,
        server_id,
        list(show_keys),
    )
    return {r["show_key"]: r["last_viewed_at"] for r in rows}


async def set_show_marks(
    conn: Conn, user_id: int, server_id: str, marks: Sequence[tuple[str, datetime]]
) -> None:
    """The shows' episodes are applied up to these instants: call in that transaction."""
    if not marks:
        return
    await conn.execute(
        """INSERT INTO plex_sync_shows (user_id, server_id, show_key, last_viewed_at)
           SELECT $1, $2, k, v FROM unnest($3::text[], $4::timestamptz[]) AS x(k, v)
           ON CONFLICT (user_id, server_id, show_key) DO UPDATE
               SET last_viewed_at = EXCLUDED.last_viewed_at""",
        user_id,
        server_id,
        [k for k, _ in marks],
        [v for _, v in marks],
    )


@dataclass(frozen=True)
class SyncSettings:
    excluded_sections: tuple[str, ...]
    token_rejected_at: datetime | None


async def settings(conn: Conn, user_id: int) -> SyncSettings:
    row = await conn.fetchrow(
        """SELECT excluded_sections, token_rejected_at FROM plex_sync_settings
           WHERE user_id = $1""",
        user_id,
    )
    if row is None:
        return SyncSettings((), None)
    return SyncSettings(tuple(row["excluded_sections"] or ()), row["token_rejected_at"])


async def set_excluded_sections(conn: Conn, user_id: int, sections: Sequence[str]) -> None:
    await conn.execute(
        """INSERT INTO plex_sync_settings (user_id, excluded_sections) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE
               SET excluded_sections = EXCLUDED.excluded_sections, updated_at = now()""",
        user_id,
        list(sections),
    )


async def mark_token_rejected(conn: Conn, user_id: int) -> bool:
    """Remember the server refused the token; True the first time (tell the owner once)."""
    async with conn.transaction():
        before = await conn.fetchrow(
            "SELECT token_rejected_at FROM plex_sync_settings WHERE user_id = $1 FOR UPDATE",
            user_id,
        )
        await conn.execute(
            """INSERT INTO plex_sync_settings (user_id, token_rejected_at) VALUES ($1, now())
               ON CONFLICT (user_id) DO UPDATE SET token_rejected_at = now(), updated_at = now()""",
            user_id,
        )
    return before is None or before["token_rejected_at"] is None


async def clear_token_rejected(conn: Conn, user_id: int) -> None:
    await conn.execute(
        """UPDATE plex_sync_settings SET token_rejected_at = NULL, updated_at = now()
           WHERE user_id = $1 AND token_rejected_at IS NOT NULL""",
        user_id,
    )


async def users_to_sync(conn: Conn) -> list[int]:
    """Connected users the scheduled sync should visit: a token, sync enabled, and not
    refused by their server since they last connected (a revoked token waits for a new one)."""
    rows = await conn.fetch(
        """SELECT c.user_id FROM plex_config c
           LEFT JOIN plex_sync_settings s ON s.user_id = c.user_id
           WHERE c.plex_token IS NOT NULL AND c.enabled AND c.auto_mark_watched
             AND (s.token_rejected_at IS NULL OR c.updated_at > s.token_rejected_at)
           ORDER BY c.user_id"""
    )
    return [r["user_id"] for r in rows]

"""SQL for `plex_scrobbles_seen`: the duplicate window, and settling a scrobble in one call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.db.pool import Conn


async def first_in_window(
    conn: Conn,
    *,
    user_id: int,
    account_id: str,
    item_key: str,
    seen_at: datetime,
    log_id: int,
    window_seconds: int,
) -> bool:
    """True when this scrobble is the first of its item by its account inside the window
    (the rule is `plex_first_in_window` in sql/0004_scrobble_functions.sql)."""
    first: bool = await conn.fetchval(
        "SELECT plex_first_in_window($1, $2, $3, $4, $5, $6)",
        user_id,
        account_id,
        item_key,
        seen_at,
        log_id,
        float(window_seconds),
    )
    return first


@dataclass(frozen=True)
class Settled:
    status: str
    action: str
    tvshow_id: int | None


async def settle_mapped(
    conn: Conn,
    *,
    log_id: int,
    user_id: int,
    account_id: str,
    item_key: str,
    show_key: str,
    season: int,
    episode: int,
    seen_at: datetime,
    watched_at: datetime,
    window_seconds: int,
) -> Settled | None:
    """Duplicate check, mapping and marking of one scrobble in one call; None when it needs
    the full path (`plex_settle_mapped` in sql/0004_scrobble_functions.sql)."""
    row = await conn.fetchrow(
        "SELECT status, action, tvshow_id FROM plex_settle_mapped($1, $2, $3, $4, $5, $6, $7, "
        "$8, $9, $10)",
        log_id,
        user_id,
        account_id,
        item_key,
        show_key,
        season,
        episode,
        seen_at,
        watched_at,
        float(window_seconds),
    )
    return Settled(row["status"], row["action"], row["tvshow_id"]) if row else None
